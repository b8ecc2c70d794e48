"""Local affine colour models (harmonization.ops.colortransfer)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harmonization.ops.colortransfer import apply_local_affine, fit_local_affine

A = torch.tensor([[0.8, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.7]])
B = torch.tensor([0.05, -0.02, 0.1])


def _affine(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", A, x) + B.view(1, 3, 1, 1)


def _weight(h: int, w: int) -> torch.Tensor:
    weight = torch.zeros(1, 1, h, w)
    weight[..., h // 5 : 4 * h // 5, w // 5 : 4 * w // 5] = 1
    return weight


@pytest.mark.parametrize("stride", [1, 2, 4])
def test_recovers_a_global_affine_map_at_full_resolution(stride: int) -> None:
    torch.manual_seed(0)
    full = torch.rand(1, 3, 256, 320) * 0.8 + 0.1
    low = F.interpolate(full, size=(64, 80), mode="area")
    weight = _weight(64, 80)
    coefficients = fit_local_affine(low, _affine(low), weight, radius=3, eps=1e-6, stride=stride)
    assert coefficients.shape == (1, 12, -(-64 // stride), -(-80 // stride))
    out = apply_local_affine(full, coefficients)
    inside = F.interpolate(weight, size=(256, 320)).bool().expand(1, 3, -1, -1)
    err = (out - _affine(full).clamp(0, 1)).abs()[inside]
    assert err.max() < 2e-3


def test_identity_when_target_equals_source() -> None:
    torch.manual_seed(1)
    x = torch.rand(2, 3, 32, 40)
    coefficients = fit_local_affine(x, x, torch.ones(2, 1, 32, 40), radius=2, eps=1e-8)
    torch.testing.assert_close(apply_local_affine(x, coefficients), x, atol=1e-4, rtol=0)


def test_spatially_varying_change_is_followed() -> None:
    # Left half of the target is darkened, right half brightened: the fitted map must do the same.
    torch.manual_seed(2)
    x = torch.rand(1, 3, 64, 64) * 0.5 + 0.25
    target = x.clone()
    target[..., :32] *= 0.6
    target[..., 32:] = target[..., 32:] * 0.6 + 0.4
    out = apply_local_affine(x, fit_local_affine(x, target, torch.ones(1, 1, 64, 64), radius=3, stride=2))
    assert (out[..., :24] - target[..., :24]).abs().mean() < 0.02
    assert (out[..., 40:] - target[..., 40:]).abs().mean() < 0.02


def test_chunked_application_equals_single_chunk() -> None:
    torch.manual_seed(3)
    x = torch.rand(1, 3, 50, 70)
    coefficients = torch.randn(1, 12, 7, 9) * 0.1
    torch.testing.assert_close(apply_local_affine(x, coefficients, rows_per_chunk=8),
                               apply_local_affine(x, coefficients, rows_per_chunk=1000))


def test_upsampling_matches_bilinear_interpolate() -> None:
    # A pure offset map (A = 0) shows the upsampled coefficients directly.
    torch.manual_seed(4)
    b = torch.rand(1, 3, 6, 8)
    coefficients = torch.cat([torch.zeros(1, 9, 6, 8), b], dim=1)
    out = apply_local_affine(torch.rand(1, 3, 30, 40), coefficients)
    torch.testing.assert_close(out, F.interpolate(b, size=(30, 40), mode="bilinear", align_corners=False))


def test_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="weight must be"):
        fit_local_affine(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match="coefficients must be"):
        apply_local_affine(torch.rand(1, 3, 8, 8), torch.rand(1, 9, 4, 4))
