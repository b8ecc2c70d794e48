"""Edge-aware upsampling of a small mask (fast guided filter): hand-made edges with known positions."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harmonization.ops.mask import dilate, erode
from harmonization.ops.upsample import guided_coefficients, guided_upsample


def _step(height: int, width: int, edge: int) -> torch.Tensor:
    """A dark-left / bright-right RGB image whose first bright column is ``edge``."""
    image = torch.full((1, 3, height, width), 0.2)
    image[..., edge:] = 0.8
    return image


def test_the_upsampled_edge_follows_the_full_resolution_photo() -> None:
    """The edge lies at column 82 of 160; the 40-px copy blurs it into one grey column (20), which the small mask
    calls background. Plain bilinear upsampling puts the edge near column 84; the guided one at 82 exactly."""
    image = _step(32, 160, 82)
    small = F.interpolate(image, size=(8, 40), mode="area")
    small_mask = (small[:, :1] > 0.6).float()  # columns >= 21
    assert float(small_mask[0, 0, 0, 20]) == 0.0 and float(small_mask[0, 0, 0, 21]) == 1.0
    plain = F.interpolate(small_mask, size=(32, 160), mode="bilinear", align_corners=False)
    assert float(plain[0, 0, 0, 82]) < 0.5, "plain bilinear misses the edge"
    out = guided_upsample(small_mask, small, image, radius=2, eps=1e-3)
    assert out.shape == (1, 1, 32, 160)
    assert bool((out[..., :82] < 0.5).all()) and bool((out[..., 82:] >= 0.5).all())
    # beyond the filter's reach (2r + 1 = 5 small pixels around small columns 20/21: full columns 64..103): exact
    assert bool((out[..., :64] == 0).all()) and bool((out[..., 104:] == 1).all())
    # a crisp photo edge stays crisp: all of the ramp lies above 0.75 (object_mask's stretch makes it a step at 82)
    assert bool((out[..., :82] == 0).all()) and bool((out[..., 82:] > 0.75).all())


def test_a_constant_mask_comes_back_exactly() -> None:
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 48, 64, generator=gen)
    small = F.interpolate(image, size=(12, 16), mode="area")
    for value in (0.0, 1.0, 0.25):
        out = guided_upsample(torch.full((1, 1, 12, 16), value), small, image)
        assert torch.equal(out, torch.full((1, 1, 48, 64), value))


def test_tiles_give_the_whole_image_formula() -> None:
    """A 2200x1000 image is processed in tiles near the edges; the result is the filter applied to the whole image
    at once (coefficients upsampled bilinearly, then ``a . I + b``) wherever the mask varies, and the mask's nearest
    value elsewhere."""
    gen = torch.Generator().manual_seed(1)
    small = torch.rand(1, 3, 22, 10, generator=gen)
    small_mask = torch.zeros(1, 1, 22, 10)
    small_mask[..., :11, :3] = 1.0  # a block in the top-left corner: the rest is far from its edge
    image = F.interpolate(small, size=(2200, 1000), mode="bilinear", align_corners=False)
    out = guided_upsample(small_mask, small, image, radius=1, eps=1e-2)
    coefficients = F.interpolate(guided_coefficients(small, small_mask, 1, 1e-2), size=(2200, 1000),
                                 mode="bilinear", align_corners=False)
    expected = ((coefficients[:, :3] * image).sum(1, keepdim=True) + coefficients[:, 3:]).clamp(0, 1)
    soft = (out > 0) & (out < 1)
    assert int(soft.sum()) > 10_000
    torch.testing.assert_close(out[soft], expected[soft], atol=1e-5, rtol=0)
    far = (dilate(small_mask, 3) == erode(small_mask, 3)).float()  # constant within the filter's reach
    far = F.interpolate(far, size=(2200, 1000), mode="nearest-exact") > 0
    nearest = F.interpolate(small_mask, size=(2200, 1000), mode="nearest-exact")
    assert int(far.sum()) > 0 and torch.equal(out[far], nearest[far])


def test_coefficients_of_a_mask_that_is_a_colour_channel() -> None:
    """If the mask is exactly the red channel, the fit is ``a = (1, 0, 0)``, ``b = 0`` (up to the regulariser)."""
    gen = torch.Generator().manual_seed(2)
    guide = torch.rand(1, 3, 20, 20, generator=gen)
    coefficients = guided_coefficients(guide, guide[:, :1], radius=2, eps=1e-6)
    inner = coefficients[..., 4:-4, 4:-4]
    torch.testing.assert_close(inner[:, 0], torch.ones_like(inner[:, 0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(inner[:, 1:], torch.zeros_like(inner[:, 1:]), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="radius must be at least 1 pixel; got 0"):
        guided_coefficients(guide, guide[:, :1], radius=0, eps=1e-3)
    with pytest.raises(ValueError, match="eps must be positive"):
        guided_coefficients(guide, guide[:, :1], radius=1, eps=0)
