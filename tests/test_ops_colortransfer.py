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
    with pytest.raises(ValueError, match=r"weight has h=4 but source has h=8"):
        fit_local_affine(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8), torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"coefficients must have shape \(B, 12, h, w\); got \(1, 9, 4, 4\)"):
        apply_local_affine(torch.rand(1, 3, 8, 8), torch.rand(1, 9, 4, 4))


def test_global_affine_fit_recovers_a_known_colour_map() -> None:
    from harmonization.ops.colortransfer import apply_global_affine, fit_global_affine

    torch.manual_seed(0)
    source = torch.rand(2, 3, 20, 30)
    a = torch.tensor([[0.8, 0.1, 0.0], [0.05, 0.7, 0.1], [0.0, 0.2, 0.9]])
    b = torch.tensor([0.05, -0.02, 0.1])
    target = torch.einsum("ij,bjhw->bihw", a, source) + b.view(1, 3, 1, 1)
    weight = torch.ones(2, 1, 20, 30)
    coefficients = fit_global_affine(source, target, weight, ridge=1e-8)
    torch.testing.assert_close(coefficients[0, :, :3], a, atol=1e-4, rtol=0)
    torch.testing.assert_close(coefficients[1, :, 3], b, atol=1e-4, rtol=0)
    torch.testing.assert_close(apply_global_affine(source, coefficients), target, atol=1e-4, rtol=0)
    # a flat region has no colour variance: the ridge keeps the gain at the identity and fits the offset
    flat = torch.full((1, 3, 8, 8), 0.4)
    flat_coefficients = fit_global_affine(flat, flat + 0.1, torch.ones(1, 1, 8, 8))
    torch.testing.assert_close(flat_coefficients[0, :, :3], torch.eye(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(flat_coefficients[0, :, 3], torch.full((3,), 0.1), atol=1e-5, rtol=0)


def test_anchor_to_background_undoes_a_global_colour_change_using_the_background_only() -> None:
    """A prediction that is right up to one global colour map (what an instance-normalised network can give) is
    mapped back onto the composite's levels; the object follows although it was not part of the fit."""
    from harmonization.ops.colortransfer import anchor_to_background

    torch.manual_seed(1)
    real = torch.rand(1, 3, 24, 24)
    mask = torch.zeros(1, 1, 24, 24)
    mask[..., 6:18, 6:18] = 1
    composite = real * (1 - mask) + 0.5 * real * mask  # the object is too dark in the composite
    prediction = 0.6 * real + 0.2  # the network's output: right structure, wrong global level
    anchored = anchor_to_background(prediction, composite, mask, ridge=1e-8)
    torch.testing.assert_close(anchored, real, atol=1e-4, rtol=0)


def test_pipeline_anchors_networks_that_were_trained_anchored() -> None:
    from torch import nn

    from harmonization.hub import LoadedNetwork
    from harmonization.pipelines.neural import run_loaded

    class Dimmer(nn.Module):
        """A whole-image 'network' that returns the image at a different global level."""

        def __init__(self) -> None:
            super().__init__()
            self.shift = nn.Parameter(torch.tensor([0.1, -0.05, 0.15]).view(1, 3, 1, 1))

        def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return x * 0.8 + self.shift

    torch.manual_seed(2)
    composite = torch.rand(1, 3, 32, 48)
    mask = torch.zeros(1, 1, 32, 48)
    mask[..., 8:24, 10:30] = 1
    plain = run_loaded(composite, mask, LoadedNetwork(Dimmer(), 48, "dimmer"))
    anchored = run_loaded(composite, mask, LoadedNetwork(Dimmer(), 48, "dimmer", True))
    shift = torch.tensor([0.1, -0.05, 0.15]).view(1, 3, 1, 1)
    torch.testing.assert_close(plain, 0.8 * composite + shift, atol=1e-5, rtol=0)
    # the default ridge (0.01) pulls the fitted gain slightly towards 1, so the match is close, not exact
    assert (anchored - composite).abs().mean() < 0.2 * (plain - composite).abs().mean()
    assert (anchored - composite).abs().max() < 0.05


def test_global_transfer_recolours_the_full_resolution_image_with_the_low_resolution_map() -> None:
    from harmonization.hub import LoadedNetwork
    from harmonization.ops.colortransfer import transfer_global_affine
    from harmonization.pipelines.neural import run_loaded

    torch.manual_seed(4)
    full = F.interpolate(torch.rand(1, 3, 8, 12), size=(64, 96), mode="bilinear", align_corners=False)  # smooth
    low = F.interpolate(full, size=(16, 24), mode="area")
    mask = torch.zeros(1, 1, 16, 24)
    mask[..., 4:12, 6:18] = 1
    a = torch.tensor([[0.9, 0.05, 0.0], [0.0, 0.8, 0.1], [0.05, 0.0, 0.7]])
    b = torch.tensor([0.05, 0.1, -0.02]).view(1, 3, 1, 1)
    prediction = torch.einsum("ij,bjhw->bihw", a, low) + b
    out = transfer_global_affine(low, prediction, mask, full, ridge=1e-8)
    torch.testing.assert_close(out, torch.einsum("ij,bjhw->bihw", a, full) + b, atol=1e-4, rtol=0)

    class Recolour(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = torch.nn.Parameter(a)

        def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return torch.einsum("ij,bjhw->bihw", self.a, x) + b

    big_mask = (F.interpolate(mask, size=(64, 96)) > 0.5).float()
    result = run_loaded(full, big_mask, LoadedNetwork(Recolour(), 24, "t", False, "global"))
    # the pipeline = the op on the working-size composite/prediction/mask, applied to the full-resolution composite
    low_pipeline = F.interpolate(full, size=(16, 24), mode="bilinear", align_corners=False, antialias=True)
    mask_pipeline = (F.interpolate(big_mask, size=(16, 24), mode="area") >= 0.5).float()
    prediction_pipeline = torch.einsum("ij,bjhw->bihw", a, low_pipeline) + b
    expected = transfer_global_affine(low_pipeline, prediction_pipeline, mask_pipeline, full).clamp(0, 1)
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)
