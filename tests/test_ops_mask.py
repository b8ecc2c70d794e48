"""Pure mask operations: binarize, dilate, feather, blend, mask_bbox and the shape checks."""

from __future__ import annotations

import pytest
import torch

from harmonization.ops.mask import (
    binarize,
    blend,
    check_image,
    check_mask,
    dilate,
    erode,
    feather,
    mask_bbox,
    refine_mask_edges,
)


def _box_mask(height: int, width: int, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    mask = torch.zeros(1, 1, height, width)
    mask[..., top:bottom, left:right] = 1.0
    return mask


def test_binarize_threshold_is_inclusive_and_keeps_dtype() -> None:
    mask = torch.tensor([0.0, 0.49, 0.5, 0.51, 1.0], dtype=torch.float64).view(1, 1, 1, 5)
    out = binarize(mask)
    assert out.dtype == torch.float64 and out.shape == mask.shape
    assert out.flatten().tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert binarize(mask, threshold=0.9).flatten().tolist() == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_dilate_single_pixel_hand_computed() -> None:
    mask = torch.zeros(1, 1, 7, 7)
    mask[0, 0, 3, 3] = 1.0
    assert torch.equal(dilate(mask, 1), _box_mask(7, 7, 2, 2, 5, 5))
    assert torch.equal(dilate(mask, 2), _box_mask(7, 7, 1, 1, 6, 6))
    assert torch.equal(dilate(mask, 0), mask)


def test_dilate_clips_at_the_border_and_takes_the_max_of_soft_values() -> None:
    mask = torch.zeros(1, 1, 5, 6)
    mask[0, 0, 0, 0] = 1.0
    mask[0, 0, 4, 5] = 0.25
    out = dilate(mask, 2)
    expected = torch.zeros(1, 1, 5, 6)
    expected[..., 2:5, 3:6] = 0.25
    expected[..., 0:3, 0:3] = 1.0
    assert torch.equal(out, expected)


@pytest.mark.parametrize("radius", [1.0, 3.0, 6.5])
def test_feather_stays_inside_the_mask(radius: float) -> None:
    torch.manual_seed(0)
    mask = _box_mask(40, 50, 8, 10, 32, 41)
    mask[..., 15:20, 20:25] = 0.0  # a hole inside the object
    mask[..., 8:12, 10:14] = 0.3  # a soft corner
    out = feather(mask, radius)
    assert out.shape == mask.shape
    assert bool((out <= mask).all()), "feathering must never exceed the mask"
    assert bool((out[mask == 0] == 0).all()), "feathering must be exactly 0 where the mask is 0"
    assert bool((out >= 0).all())


def test_feather_fades_inwards_and_keeps_the_centre() -> None:
    mask = _box_mask(64, 64, 8, 8, 56, 56)
    out = feather(mask, 4.0)
    assert float(out[0, 0, 32, 32]) == pytest.approx(1.0, abs=1e-5)
    edge, inner = float(out[0, 0, 32, 8]), float(out[0, 0, 32, 14])
    assert 0.0 <= edge < 0.5 < inner <= 1.0
    row = out[0, 0, 32, 8:33]
    assert bool((row[1:] >= row[:-1] - 1e-6).all()), "the fade grows monotonically towards the centre"


def test_feather_radius_zero_is_identity() -> None:
    mask = _box_mask(10, 10, 2, 2, 8, 8)
    assert feather(mask, 0.0) is mask


def test_blend_is_exact_background_where_mask_is_zero() -> None:
    gen = torch.Generator().manual_seed(3)
    fg = torch.rand(2, 3, 9, 11, generator=gen)
    bg = torch.rand(2, 3, 9, 11, generator=gen)
    mask = torch.rand(2, 1, 9, 11, generator=gen)
    mask[mask < 0.4] = 0.0
    mask[mask > 0.9] = 1.0
    out = blend(fg, bg, mask)
    zero = (mask == 0).expand_as(bg)
    one = (mask == 1).expand_as(bg)
    assert bool(zero.any()) and bool(one.any())
    assert torch.equal(out[zero], bg[zero])
    assert torch.allclose(out[one], fg[one], atol=1e-7)
    assert torch.allclose(out, fg * mask + bg * (1 - mask), atol=1e-6)


def test_blend_half_mask_hand_computed() -> None:
    fg = torch.full((1, 3, 1, 1), 0.8)
    bg = torch.full((1, 3, 1, 1), 0.2)
    out = blend(fg, bg, torch.full((1, 1, 1, 1), 0.25))
    assert torch.allclose(out, torch.full((1, 3, 1, 1), 0.35))


def test_mask_bbox() -> None:
    mask = torch.zeros(1, 1, 10, 12)
    assert mask_bbox(mask) is None
    mask[..., 2:5, 3:9] = 1.0
    mask[..., 7, 1] = 0.4  # below the default threshold
    assert mask_bbox(mask) == (2, 3, 5, 9)
    assert mask_bbox(mask, threshold=0.3) == (2, 1, 8, 9)


def test_check_image_and_mask_messages() -> None:
    image = torch.zeros(1, 3, 8, 8)
    check_image(image)
    check_mask(torch.zeros(1, 1, 8, 8), image)
    with pytest.raises(TypeError, match="torch.Tensor"):
        check_image([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        check_image(torch.zeros(1, 4, 8, 8))
    with pytest.raises(ValueError, match="float"):
        check_image(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        check_mask(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"mask has W=9 but the image has W=8; the shapes \(B, 1, H, W\) must agree"):
        check_mask(torch.zeros(1, 1, 8, 9), image)
    with pytest.raises(ValueError, match=r"mask has B=2 but the image has B=1"):
        check_mask(torch.zeros(2, 1, 8, 8), image)
    with pytest.raises(TypeError):
        check_mask(None)  # type: ignore[arg-type]


def _painted_disk_scene(size: int = 96, radius: int = 26) -> tuple[torch.Tensor, torch.Tensor]:
    """A warm disk on a cool background with a little noise, and the disk's exact 0/1 mask."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disk = (((yy - size / 2) ** 2 + (xx - size / 2) ** 2) <= radius**2).float()[None, None]
    gen = torch.Generator().manual_seed(0)
    fg, bg = torch.tensor([0.85, 0.55, 0.3]).view(1, 3, 1, 1), torch.tensor([0.15, 0.35, 0.6]).view(1, 3, 1, 1)
    image = disk * fg + (1 - disk) * bg + 0.03 * torch.randn(1, 3, size, size, generator=gen)
    return image.clamp(0, 1), disk


@pytest.mark.parametrize("painted", ["exact", "too-wide", "too-narrow"])
def test_refine_keeps_a_solid_painted_region_solid(painted: str) -> None:
    """A solid painted region stays exactly 1 inside after refine; the soft values lie in a narrow band at the edge."""
    image, disk = _painted_disk_scene()
    rough = {"exact": disk, "too-wide": dilate(disk, 4), "too-narrow": erode(disk, 4)}[painted]
    band, soft_radius = 8, 1
    refined = refine_mask_edges(image, rough, band=band)
    hard = binarize(refined)
    assert bool((refined[erode(hard, soft_radius + 1) > 0] == 1).all()), "the interior must stay exactly 1"
    assert bool((refined[dilate(hard, soft_radius + 1) == 0] == 0).all()), "the exterior must stay exactly 0"
    soft = (refined > 0) & (refined < 1)
    near_edge = (dilate(hard, soft_radius + 1) - erode(hard, soft_radius + 1)) > 0
    assert bool(near_edge[soft].all()), "soft values only next to the refined edge"
    inter = float((hard * disk).sum())
    assert inter / float(((hard + disk) > 0).sum()) > 0.97


def test_refine_never_ghosts_a_stroke_thinner_than_the_band() -> None:
    """A 7 px brush stroke on a uniform object (no sure object within the band): refine used to blur it to about
    half transparency; its centre line must stay exactly 1 and its soft rim stay narrow."""
    gen = torch.Generator().manual_seed(1)
    image = (torch.tensor([0.8, 0.4, 0.3]).view(1, 3, 1, 1) + 0.02 * torch.randn(1, 3, 80, 120, generator=gen))
    image[..., :, :20] = 0.1  # some background so that the mask is not everything
    stroke = torch.zeros(1, 1, 80, 120)
    stroke[..., 37:44, 30:110] = 1.0
    refined = refine_mask_edges(image.clamp(0, 1), stroke, band=12)
    assert bool((refined[..., 38:43, 34:106] == 1).all())
    assert bool((refined[..., :34, :] == 0).all()) and bool((refined[..., 47:, :] == 0).all())


def test_refine_soft_radius_is_checked() -> None:
    image, disk = _painted_disk_scene(32, 8)
    with pytest.raises(ValueError, match="soft_radius must be at least 1 pixel; got 0"):
        refine_mask_edges(image, disk, band=4, soft_radius=0)
