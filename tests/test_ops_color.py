"""Colour statistics: masked mean/std (global and local), mean/std transfer and the Lab conversion."""

from __future__ import annotations

import math

import pytest
import torch

from harmonization.ops.color import lab_to_rgb, local_masked_mean_std, masked_mean_std, rgb_to_lab, transfer_mean_std


def test_masked_mean_std_hand_computed() -> None:
    x = torch.tensor([[1.0, 2.0], [3.0, 10.0]]).view(1, 1, 2, 2)
    weight = torch.tensor([[1.0, 1.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    mean, std = masked_mean_std(x, weight)
    assert mean.shape == (1, 1, 1, 1) and std.shape == (1, 1, 1, 1)
    assert float(mean) == pytest.approx(2.0, rel=1e-5)  # (1 + 2 + 3) / 3; the 10 is not selected
    assert float(std) == pytest.approx(math.sqrt(2.0 / 3.0), rel=1e-5)  # ((-1)^2 + 0 + 1^2) / 3


def test_masked_mean_std_soft_weights_and_channels() -> None:
    x = torch.tensor([[[0.0, 4.0]], [[1.0, 1.0]]]).view(1, 2, 1, 2)
    weight = torch.tensor([0.25, 0.75]).view(1, 1, 1, 2)
    mean, std = masked_mean_std(x, weight, eps=0.0)
    assert torch.allclose(mean.flatten(), torch.tensor([3.0, 1.0]))  # 0.25 * 0 + 0.75 * 4
    assert torch.allclose(std.flatten(), torch.tensor([math.sqrt(0.25 * 9 + 0.75 * 1), 0.0]))


def test_masked_mean_std_batch_is_per_image() -> None:
    x = torch.stack([torch.full((3, 4, 4), 0.2), torch.full((3, 4, 4), 0.7)])
    weight = torch.ones(2, 1, 4, 4)
    mean, std = masked_mean_std(x, weight)
    assert mean.shape == (2, 3, 1, 1)
    assert torch.allclose(mean[:, :, 0, 0], torch.tensor([[0.2] * 3, [0.7] * 3]), atol=1e-6)
    assert bool((std < 2e-3).all())  # sqrt(eps) for a constant image


def test_local_stats_with_huge_sigma_equal_the_global_stats() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 9, 12, generator=gen) * 50
    weight = (torch.rand(1, 1, 9, 12, generator=gen) > 0.4).float()
    g_mean, g_std = masked_mean_std(x, weight)
    mean, std, density = local_masked_mean_std(x, weight, sigma=1e4)
    assert mean.shape == (1, 3, 9, 12) and std.shape == (1, 3, 9, 12) and density.shape == (1, 1, 9, 12)
    assert torch.allclose(mean, g_mean.expand_as(mean), atol=1e-3)
    assert torch.allclose(std, g_std.expand_as(std), atol=1e-3)
    assert bool((density > 0).all())


def test_local_stats_of_a_constant_image() -> None:
    x = torch.full((1, 3, 16, 20), 0.3)
    x[:, 1] = 0.6
    weight = torch.ones(1, 1, 16, 20)
    mean, std, density = local_masked_mean_std(x, weight, sigma=2.0)
    assert torch.allclose(mean[:, 0], torch.full((1, 16, 20), 0.3), atol=1e-4)
    assert torch.allclose(mean[:, 1], torch.full((1, 16, 20), 0.6), atol=1e-4)
    assert bool((std < 5e-3).all())
    # Zero padding: the support is full in the middle; at a corner it is the kernel's (centre + one side) squared.
    assert float(density[0, 0, 8, 10]) == pytest.approx(1.0, abs=1e-4)
    taps = [math.exp(-(i * i) / (2 * 2.0**2)) for i in range(-6, 7)]  # radius ceil(3 sigma) = 6
    one_side = sum(taps[6:]) / sum(taps)
    assert float(density[0, 0, 0, 0]) == pytest.approx(one_side**2, abs=1e-4)


def test_local_stats_follow_the_local_side() -> None:
    x = torch.zeros(1, 1, 10, 40)
    x[..., 20:] = 1.0
    mean, _, _ = local_masked_mean_std(x, torch.ones(1, 1, 10, 40), sigma=2.0)
    assert float(mean[0, 0, 5, 2]) < 0.01 and float(mean[0, 0, 5, 37]) > 0.99


def test_local_stats_reject_non_positive_sigma() -> None:
    with pytest.raises(ValueError, match="sigma"):
        local_masked_mean_std(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), sigma=0.0)


def test_transfer_with_full_strength_is_the_classic_formula() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 5, 6, generator=gen)
    mu_s, mu_d = torch.rand(2, 3, 1, 1, generator=gen), torch.rand(2, 3, 1, 1, generator=gen)
    sd_s = 0.2 + torch.rand(2, 3, 1, 1, generator=gen) * 0.3
    sd_d = 0.2 + torch.rand(2, 3, 1, 1, generator=gen) * 0.3  # ratios stay inside [1/4, 4]
    out = transfer_mean_std(x, mu_s, sd_s, mu_d, sd_d)
    assert torch.allclose(out, (x - mu_s) / sd_s * sd_d + mu_d, atol=1e-6)


def test_transfer_with_zero_strength_is_identity_and_partial_strength_interpolates() -> None:
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1)
    src_m, src_s = torch.full((1, 3, 1, 1), 0.5), torch.full((1, 3, 1, 1), 0.1)
    dst_m, dst_s = torch.full((1, 3, 1, 1), 0.9), torch.full((1, 3, 1, 1), 0.4)
    same = transfer_mean_std(x, src_m, src_s, dst_m, dst_s, mean_strength=0.0, std_strength=0.0)
    assert torch.allclose(same, x, atol=1e-7)
    half = transfer_mean_std(x, src_m, src_s, dst_m, dst_s, mean_strength=0.5, std_strength=0.5)
    # ratio = (0.4 / 0.1) ** 0.5 = 2; mean moves half way: 0.5 + 0.5 * 0.4 = 0.7
    assert torch.allclose(half.flatten(), torch.tensor([-1.0 + 0.7, 0.7, 1.0 + 0.7]), atol=1e-6)
    per_channel = transfer_mean_std(x, src_m, src_s, dst_m, dst_s,
                                    mean_strength=torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1), std_strength=0.0)
    assert torch.allclose(per_channel.flatten(), torch.tensor([0.0, 0.9, 1.0]), atol=1e-6)


def test_transfer_clamps_the_std_ratio() -> None:
    x = torch.tensor([1.0]).view(1, 1, 1, 1)
    zero, small, big = torch.zeros(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.01), torch.full((1, 1, 1, 1), 1.0)
    up = transfer_mean_std(x, zero, small, zero, big)  # ratio 100 -> clamped to 4
    assert float(up) == pytest.approx(4.0)
    down = transfer_mean_std(x, zero, big, zero, small, max_std_ratio=2.0)  # ratio 0.01 -> clamped to 0.5
    assert float(down) == pytest.approx(0.5)


def test_lab_round_trip_and_reference_points() -> None:
    white = torch.ones(1, 3, 1, 1)
    lab = rgb_to_lab(white)
    assert lab[0, :, 0, 0].tolist() == pytest.approx([100.0, 0.0, 0.0], abs=1e-2)
    gen = torch.Generator().manual_seed(2)
    rgb = torch.rand(1, 3, 8, 8, generator=gen)
    assert torch.allclose(lab_to_rgb(rgb_to_lab(rgb)), rgb, atol=1e-4)
