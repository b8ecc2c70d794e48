"""Compose: cut the masked object, scale it relative to the background, place, flip and clip it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from harmonization import compose
from harmonization.ops.mask import mask_bbox
from harmonization.pipelines.compose import place_foreground

BG_H, BG_W = 100, 200


def _foreground() -> tuple[torch.Tensor, torch.Tensor]:
    """A 40x30 foreground whose object (rows 10..30, cols 5..15) is red on its left half and green on its right."""
    image = torch.zeros(1, 3, 40, 30)
    image[:, 2] = 1.0  # blue surroundings must not leak into the composite
    image[:, :, 10:30, 5:10] = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    image[:, :, 10:30, 10:15] = torch.tensor([0.0, 1.0, 0.0]).view(1, 3, 1, 1)
    mask = torch.zeros(1, 1, 40, 30)
    mask[..., 10:30, 5:15] = 1.0
    return image, mask


def _background() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, BG_H, BG_W, generator=gen) * 0.5


@pytest.mark.parametrize("scale", [0.25, 0.5, 0.83, 1.0, 1.3])
def test_object_height_is_scale_times_background_height(scale: float) -> None:
    fg, mask = _foreground()
    composite, out_mask = place_foreground(fg, mask, _background(), scale=scale)
    assert composite.shape == (1, 3, BG_H, BG_W) and out_mask.shape == (1, 1, BG_H, BG_W)
    box = mask_bbox(out_mask)
    assert box is not None
    top, left, bottom, right = box
    if scale * BG_H <= BG_H:
        assert abs((bottom - top) - scale * BG_H) <= 1
    else:
        assert (top, bottom) == (0, BG_H)  # taller than the background: clipped at both ends
    assert abs((right - left) - scale * BG_H / 2) <= 1  # aspect ratio 1:2 is kept


@pytest.mark.parametrize("center", [(0.5, 0.5), (0.3, 0.6), (0.8, 0.25)])
def test_object_centre_is_placed_at_the_relative_position(center: tuple[float, float]) -> None:
    fg, mask = _foreground()
    _, out_mask = place_foreground(fg, mask, _background(), scale=0.4, center=center)
    top, left, bottom, right = mask_bbox(out_mask)  # type: ignore[misc]
    assert abs((top + bottom) / 2 - center[1] * BG_H) <= 1
    assert abs((left + right) / 2 - center[0] * BG_W) <= 1


def test_object_colours_and_untouched_background() -> None:
    fg, mask = _foreground()
    bg = _background()
    composite, out_mask = place_foreground(fg, mask, bg, scale=0.4)
    outside = (out_mask == 0).expand_as(bg)
    assert torch.equal(composite[outside], bg[outside])
    top, left, bottom, right = mask_bbox(out_mask)  # type: ignore[misc]
    mid = (top + bottom) // 2
    assert composite[0, :, mid, left + 1].tolist() == pytest.approx([1.0, 0.0, 0.0], abs=1e-4)  # red on the left
    assert composite[0, :, mid, right - 2].tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-4)  # green on the right
    assert float(composite[0, 2][out_mask[0, 0] >= 0.5].max()) < 0.5  # no blue surroundings were pasted


def test_flip_mirrors_the_object() -> None:
    fg, mask = _foreground()
    bg = _background()
    plain, plain_mask = place_foreground(fg, mask, bg, scale=0.4, center=(0.5, 0.5))
    flipped, flipped_mask = place_foreground(fg, mask, bg, scale=0.4, center=(0.5, 0.5), flip=True)
    top, left, bottom, right = mask_bbox(plain_mask)  # type: ignore[misc]
    assert mask_bbox(flipped_mask) == (top, left, bottom, right)
    assert torch.equal(flipped[..., top:bottom, left:right], plain[..., top:bottom, left:right].flip(-1))
    mid = (top + bottom) // 2
    assert flipped[0, :, mid, left + 1].tolist() == pytest.approx([0.0, 1.0, 0.0], abs=1e-4)  # green now left


@pytest.mark.parametrize(
    ("center", "expected_edges"),
    [((0.0, 0.0), ("top", "left")), ((1.0, 1.0), ("bottom", "right")), ((0.0, 0.95), ("bottom", "left"))],
)
def test_object_is_clipped_at_the_borders(center: tuple[float, float], expected_edges: tuple[str, str]) -> None:
    fg, mask = _foreground()
    composite, out_mask = place_foreground(fg, mask, _background(), scale=0.4, center=center)
    assert composite.shape == (1, 3, BG_H, BG_W)
    top, left, bottom, right = mask_bbox(out_mask)  # type: ignore[misc]
    edges = {"top": top == 0, "left": left == 0, "bottom": bottom == BG_H, "right": right == BG_W}
    assert all(edges[name] for name in expected_edges)
    assert (bottom - top) < 0.4 * BG_H or (right - left) < 0.2 * BG_H  # part of the object is cut off


@pytest.mark.parametrize("center", [(5.0, 5.0), (-1.0, 0.5), (0.5, 1.5), (2.0, -3.0)])
def test_fully_outside_raises(center: tuple[float, float]) -> None:
    fg, mask = _foreground()
    with pytest.raises(ValueError, match="entirely outside"):
        place_foreground(fg, mask, _background(), scale=0.4, center=center)


def test_empty_mask_raises() -> None:
    fg, _ = _foreground()
    with pytest.raises(ValueError, match="empty"):
        place_foreground(fg, torch.zeros(1, 1, 40, 30), _background())
    with pytest.raises(ValueError, match="empty"):
        place_foreground(fg, torch.full((1, 1, 40, 30), 0.4), _background())  # nothing reaches 0.5


@pytest.mark.parametrize("scale", [0.0, -0.5, 4.5])
def test_bad_scale_raises(scale: float) -> None:
    fg, mask = _foreground()
    with pytest.raises(ValueError, match="scale"):
        place_foreground(fg, mask, _background(), scale=scale)


def test_soft_mask_is_kept_as_opacity() -> None:
    fg, mask = _foreground()
    mask = mask * 0.6
    bg = _background()
    composite, out_mask = place_foreground(fg, mask, bg, scale=0.4)
    inside = out_mask[0, 0] > 0
    assert torch.allclose(out_mask[0, 0][inside], torch.full_like(out_mask[0, 0][inside], 0.6), atol=1e-5)


def test_public_compose_returns_pil_images_at_background_size() -> None:
    fg = (np.random.default_rng(0).random((50, 40, 3)) * 255).astype(np.uint8)
    fg_mask = np.zeros((50, 40), np.uint8)
    fg_mask[5:45, 10:30] = 255
    bg = np.full((61, 83, 3), (20, 90, 160), np.uint8)
    composite, mask = compose(Image.fromarray(fg), fg_mask, bg, scale=0.5, center=(0.25, 0.5), flip=True)
    assert isinstance(composite, Image.Image) and isinstance(mask, Image.Image)
    assert composite.mode == "RGB" and mask.mode == "L"
    assert composite.size == (83, 61) and mask.size == (83, 61)
    comp, m = np.asarray(composite), np.asarray(mask)
    np.testing.assert_array_equal(comp[m == 0], bg[m == 0])
    rows = np.nonzero(m.max(axis=1) >= 128)[0]
    cols = np.nonzero(m.max(axis=0) >= 128)[0]
    assert abs((rows[-1] + 1 - rows[0]) - 0.5 * 61) <= 1
    assert abs((cols[0] + cols[-1] + 1) / 2 - 0.25 * 83) <= 1


def test_public_compose_rejects_a_mask_of_another_size() -> None:
    with pytest.raises(ValueError, match="same size"):
        compose(np.zeros((20, 20, 3), np.uint8), np.ones((10, 20), bool), np.zeros((30, 30, 3), np.uint8))
