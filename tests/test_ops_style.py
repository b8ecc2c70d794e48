"""Style-transfer ops: Gram/content/TV losses, masks carried down VGG (harmonization.ops.style), histogram matching
(harmonization.ops.histogram) and chrominance denoising (harmonization.ops.denoise), against hand-computed values."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harmonization.ops.color import lab_to_rgb, rgb_to_lab
from harmonization.ops.denoise import denoise_chroma
from harmonization.ops.histogram import histogram_loss, histogram_quantiles, match_histograms
from harmonization.ops.style import carry_mask_down, content_loss, gram_loss, gram_matrix, resize_mask, tv_loss


# ------------------------------------------------------------------------------------------------------- losses
def test_gram_matrix_by_hand() -> None:
    f = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # channel 0: (1, 2), channel 1: (3, 4)
    g = gram_matrix(f)
    assert torch.allclose(g[0], torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 2)
    w = torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)  # only the first position counts
    assert torch.allclose(gram_matrix(f, w)[0], torch.tensor([[1.0, 3.0], [3.0, 9.0]]))
    assert float(gram_loss(f, g)) == 0.0
    # ||G - 2G||^2 / ||2G||^2 = 1/4
    assert abs(float(gram_loss(f, 2 * g)) - 0.25) < 1e-6


def test_content_losses_by_hand() -> None:
    p = torch.arange(1.0, 9.0).view(1, 2, 2, 2)
    assert float(content_loss(p, p)) == 0.0
    # relative MSE: sum (2p - p)^2 / sum p^2 = 1
    assert abs(float(content_loss(2 * p, p)) - 1.0) < 1e-6
    # NCC is invariant to gain and offset
    assert abs(float(content_loss(3 * p + 5, p, kind="ncc"))) < 1e-5
    assert abs(float(content_loss(-p, p, kind="ncc")) - 2.0) < 1e-5
    w = torch.tensor([[1.0, 0.0], [0.0, 0.0]]).view(1, 1, 2, 2)
    q = p.clone()
    q[..., 1, 1] += 100.0  # outside the weight: ignored
    assert float(content_loss(q, p, w)) == 0.0


def test_tv_loss_by_hand() -> None:
    img = torch.zeros(1, 1, 2, 3)
    img[..., :, 2] = 1.0  # one vertical edge: 2 horizontal differences of 1, 4 others of 0, 3 vertical of 0
    assert abs(float(tv_loss(img)) - 2.0 / 7.0) < 1e-6


def test_mask_carried_down_by_hand() -> None:
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1
    after_conv, after_relu, after_pool = carry_mask_down(mask, ["conv", "relu", "pool"])
    assert float(after_conv[0, 0, 1, 3]) == pytest.approx(1 / 3)  # 3 of the 9 neighbours are inside
    assert float(after_conv[0, 0, 0, 0]) == 0.0
    assert torch.equal(after_relu, after_conv) and after_pool.shape == (1, 1, 4, 4)
    assert float(after_pool[0, 0, 0, 0]) == pytest.approx(float(after_conv[0, 0, :2, :2].mean()))
    with pytest.raises(ValueError, match="kind"):
        carry_mask_down(mask, ["norm"])
    assert resize_mask(mask, (4, 4)).shape == (1, 1, 4, 4) and float(resize_mask(mask, (4, 4))[0, 0, 1, 1]) == 1.0


# ---------------------------------------------------------------------------------------------------- histogram
def test_histogram_quantiles_by_hand() -> None:
    target = torch.tensor([40.0, 10.0, 30.0, 20.0]).view(1, 1, 1, 4)
    assert torch.equal(histogram_quantiles(target, bins=4), torch.tensor([[10.0, 20.0, 30.0, 40.0]]))
    # fractions 0.25 and 0.75 sit at sorted positions 0.5 and 2.5
    assert torch.allclose(histogram_quantiles(target, bins=2), torch.tensor([[15.0, 35.0]]))
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 1, 4)
    assert torch.allclose(histogram_quantiles(target, mask, bins=2), torch.tensor([[10.0, 40.0]]))
    with pytest.raises(ValueError, match="no positions"):
        histogram_quantiles(target, torch.zeros_like(mask))


def test_histogram_matching_by_hand() -> None:
    quantiles = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    # one value per bin centre: exact rank mapping
    source = torch.tensor([3.0, 0.0, 2.0, 1.0]).view(1, 1, 1, 4)
    assert torch.allclose(match_histograms(source, quantiles), torch.tensor([40.0, 10.0, 30.0, 20.0]).view(1, 1, 1, 4))
    # counts per bin (2, 1, 0, 1): cumulative fractions 0.25, 0.25, 0.625, 0.875 -> 15, 15, 30, 40
    source = torch.tensor([0.0, 0.0, 1.0, 3.0]).view(1, 1, 1, 4)
    assert torch.allclose(match_histograms(source, quantiles), torch.tensor([15.0, 15.0, 30.0, 40.0]).view(1, 1, 1, 4))
    # positions outside the mask keep their value; the others are matched among themselves
    source = torch.tensor([5.0, 0.0, 7.0, 1.0, 9.0]).view(1, 1, 1, 5)
    mask = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0]).view(1, 1, 1, 5)
    two = torch.tensor([[-1.0, 1.0]])
    expected = torch.tensor([5.0, -1.0, 7.0, 1.0, 9.0]).view(1, 1, 1, 5)
    assert torch.allclose(match_histograms(source, two, mask), expected)


def test_histogram_matching_moves_a_distribution_onto_another() -> None:
    g = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 64, 64, generator=g)  # uniform
    target = torch.randn(1, 3, 64, 64, generator=g) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1) + 3.0
    quantiles = histogram_quantiles(target)
    matched = match_histograms(source, quantiles)
    # within the binning error, away from the extreme tails (the first and last 2 % of the mass)
    assert torch.allclose(histogram_quantiles(matched)[:, 5:-5], quantiles[:, 5:-5], atol=0.05)
    order_kept = torch.argsort(source[0, 0].flatten()) == torch.argsort(matched[0, 0].flatten())
    assert float(order_kept.float().mean()) > 0.99  # monotone per channel
    assert float(histogram_loss(target, quantiles)) < 1e-3
    x = source.clone().requires_grad_(True)
    loss = histogram_loss(x, quantiles)
    loss.backward()
    with torch.no_grad():
        assert float(histogram_loss(x - 0.25 * x.grad / x.grad.abs().max(), quantiles)) < float(loss)


# ------------------------------------------------------------------------------------------------- chroma filter
def _box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    padded = F.pad(x, (radius,) * 4, mode="reflect")
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)


def test_chroma_denoising_with_flat_luminance_is_a_twice_box_filtered_chroma() -> None:
    g = torch.Generator().manual_seed(1)
    lab = torch.zeros(1, 3, 24, 24)
    lab[:, 0] = 60.0
    lab[:, 1:] = 6.0 * torch.randn(1, 2, 24, 24, generator=g)  # small enough to stay inside the sRGB gamut
    image = lab_to_rgb(lab).clamp(0, 1)
    lab = rgb_to_lab(image)
    weight = torch.ones(1, 1, 24, 24)
    out = denoise_chroma(image, weight, radius=2, eps=1e-3, median_size=1)
    # with a constant guide the guided filter's coefficients are a = 0, b = box(p): its output is box(box(p))
    expected = lab_to_rgb(torch.cat([lab[:, :1], _box_mean(_box_mean(lab[:, 1:], 2), 2)], dim=1)).clamp(0, 1)
    assert torch.allclose(out, expected, atol=2e-3)
    assert float(rgb_to_lab(out)[:, 1:].std()) < 0.5 * float(lab[:, 1:].std())
    assert torch.allclose(rgb_to_lab(out)[:, 0], lab[:, 0], atol=0.5)  # luminance kept


def test_chroma_denoising_keeps_edges_and_leaves_outside_untouched() -> None:
    lab = torch.zeros(1, 3, 20, 20)
    lab[:, 0, :, :10], lab[:, 0, :, 10:] = 30.0, 80.0  # a luminance edge ...
    lab[:, 1, :, :10], lab[:, 1, :, 10:] = -30.0, 30.0  # ... with a chroma edge on it
    lab[:, 1, 5, 4] = 40.0  # one speckle
    image = lab_to_rgb(lab).clamp(0, 1)
    weight = torch.zeros(1, 1, 20, 20)
    weight[..., :, :16] = 1.0
    out = denoise_chroma(image, weight, radius=3, eps=1e-4, median_size=3)
    a = rgb_to_lab(out)[0, 1]
    assert abs(float(a[5, 4]) - float(rgb_to_lab(image)[0, 1, 5, 6])) < 2.0  # the speckle is gone
    assert float(a[10, 8]) < -20.0 and float(a[10, 11]) > 20.0  # the edge stays sharp
    assert torch.equal(out[..., 16:], image[..., 16:])  # weight 0: bit-identical
    with pytest.raises(ValueError, match="median_size"):
        denoise_chroma(image, weight, median_size=2)
