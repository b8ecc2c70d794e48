"""Classical methods "global" and "local": direction of the change, locality, untouched background, sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_scene
from PIL import Image

from harmonization import harmonize
from harmonization.image_io import load_image, load_rgb8
from harmonization.ops.color import masked_mean_std, rgb_to_lab
from harmonization.pipelines.classical import global_transfer, local_transfer

METHODS = ("global", "local")


def _lab_means(rgb8: np.ndarray, mask: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab means ``(3,)`` of the masked region and of the rest."""
    lab = rgb_to_lab(load_image(rgb8))
    weight = torch.from_numpy(mask.astype(np.float32))[None, None]
    fg, _ = masked_mean_std(lab, weight)
    bg, _ = masked_mean_std(lab, 1 - weight)
    return fg.flatten(), bg.flatten()


def _luma(rgb8: np.ndarray) -> np.ndarray:
    return rgb8.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("method", METHODS)
def test_foreground_lab_mean_moves_towards_the_background(method: str) -> None:
    image, mask = make_scene(48, 64)
    fg_before, bg = _lab_means(image, mask)
    out = np.asarray(harmonize(image, mask, method=method))
    fg_after, bg_after = _lab_means(out, mask)
    assert torch.equal(bg_after, bg)  # the background did not change at all
    before = float(torch.linalg.vector_norm(fg_before - bg))
    after = float(torch.linalg.vector_norm(fg_after - bg))
    assert after < 0.8 * before, f"{method}: Lab distance {before:.1f} -> {after:.1f}"
    # Every channel moves in the background's direction (none overshoots or moves away).
    for channel in range(3):
        assert abs(float(fg_after[channel] - bg[channel])) < abs(float(fg_before[channel] - bg[channel]))


@pytest.mark.parametrize("method", METHODS)
def test_stronger_transfer_moves_further(method: str) -> None:
    image, mask = make_scene(48, 64)
    _, bg = _lab_means(image, mask)
    distances = []
    for strength in (0.5, 1.0, 1.5):
        fg, _ = _lab_means(np.asarray(harmonize(image, mask, method=method, strength=strength)), mask)
        distances.append(float(torch.linalg.vector_norm(fg - bg)))
    assert distances[0] > distances[1] > distances[2]


@pytest.mark.parametrize("method", METHODS)
def test_strength_zero_leaves_the_image_unchanged(method: str) -> None:
    image, mask = make_scene(48, 64)
    np.testing.assert_array_equal(np.asarray(harmonize(image, mask, method=method, strength=0.0)), image)


def _half_lit_scene(height: int = 64, width: int = 128) -> tuple[np.ndarray, np.ndarray, slice, slice, slice]:
    """Dark left half, bright right half; a mid-grey object (left-right mirror symmetric) straddles the middle."""
    gen = np.random.default_rng(5)
    image = np.empty((height, width, 3), np.uint8)
    image[:, : width // 2] = gen.integers(15, 35, (height, width // 2, 1))
    image[:, width // 2 :] = gen.integers(215, 240, (height, width - width // 2, 1))
    mask = np.zeros((height, width), bool)
    top, bottom, left, right = height // 4, height - height // 4, width // 2 - 24, width // 2 + 24
    mask[top:bottom, left:right] = True
    half = gen.integers(110, 150, (bottom - top, (right - left) // 2, 3)).astype(np.uint8)
    image[top:bottom, left:right] = np.concatenate([half, half[:, ::-1]], axis=1)
    mid = (left + right) // 2
    return image, mask, slice(top, bottom), slice(left, mid), slice(mid, right)


def test_local_lights_each_side_of_the_object_from_its_own_side() -> None:
    image, mask, rows, left, right = _half_lit_scene()
    assert _luma(image[rows, left]).mean() == pytest.approx(_luma(image[rows, right]).mean())
    out = np.asarray(harmonize(image, mask, method="local"))
    dark_side, bright_side = _luma(out[rows, left]).mean(), _luma(out[rows, right]).mean()
    assert bright_side - dark_side > 20, f"local: left {dark_side:.1f} vs right {bright_side:.1f}"


def test_global_moves_both_sides_of_the_object_together() -> None:
    image, mask, rows, left, right = _half_lit_scene()
    out = np.asarray(harmonize(image, mask, method="global"))
    dark_side, bright_side = _luma(out[rows, left]).mean(), _luma(out[rows, right]).mean()
    assert abs(bright_side - dark_side) < 1.0
    assert abs(_luma(out[rows, left]).mean() - _luma(image[rows, left]).mean()) > 0.5  # it did change


def test_local_with_a_huge_radius_matches_global() -> None:
    image, mask = make_scene(40, 56)
    x = load_image(image)
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    assert torch.allclose(local_transfer(x, m, radius=1000.0), global_transfer(x, m), atol=3 / 255)


def _soft_mask(height: int, width: int) -> np.ndarray:
    """A float mask: 1 in an inner ellipse, a soft ramp around it and exact 0 further out."""
    y, x = np.mgrid[0:height, 0:width]
    r = np.sqrt(((y - height * 0.45) / (height * 0.3)) ** 2 + ((x - width * 0.55) / (width * 0.3)) ** 2)
    return np.clip((1.3 - r) / 0.6, 0.0, 1.0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["hard", "soft", "soft_feathered"])
@pytest.mark.parametrize(("height", "width"), [(37, 53), (61, 17)])
def test_pixels_outside_the_mask_are_bit_identical(method: str, kind: str, height: int, width: int) -> None:
    image, _ = make_scene(height, width, seed=height)
    soft = _soft_mask(height, width)
    mask = soft >= 0.5 if kind == "hard" else soft
    assert (soft == 0).any() and ((soft > 0) & (soft < 1)).any()
    options = {"feather_radius": 3.0} if kind == "soft_feathered" else {}
    out = harmonize(image, mask, method=method, **options)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (width, height)
    result = np.asarray(out)
    zero = (mask == 0) if kind != "hard" else ~mask
    np.testing.assert_array_equal(result[zero], image[zero])
    assert (result[~zero] != image[~zero]).any()  # and something did change inside


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK"])
def test_other_image_modes_keep_their_rgb8_background(method: str, mode: str) -> None:
    image, mask = make_scene(32, 40)
    pil = Image.fromarray(image).convert(mode)
    out = np.asarray(harmonize(pil, mask.astype(np.uint8) * 255, method=method))
    expected = load_rgb8(pil)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out[~mask], expected[~mask])


@pytest.mark.parametrize("method", METHODS)
def test_full_hd_sized_input_works(method: str) -> None:
    height, width = 1200, 1600
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 90)], axis=2).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[300:1100, 600:1000] = 255
    image[mask > 0] = (200, 60, 40)
    out = harmonize(image, mask, method=method)
    assert out.size == (width, height) and out.mode == "RGB"
    result = np.asarray(out)
    np.testing.assert_array_equal(result[mask == 0], image[mask == 0])
    assert not np.array_equal(result[mask > 0], image[mask > 0])


def test_transfer_functions_on_a_batch_and_their_errors() -> None:
    a, ma = make_scene(24, 32, seed=1)
    b, mb = make_scene(24, 32, seed=2)
    x = torch.cat([load_image(a), load_image(b)])
    m = torch.from_numpy(np.stack([ma, mb]).astype(np.float32))[:, None]
    for fn in (global_transfer, local_transfer):
        out = fn(x, m)
        assert out.shape == x.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        single = fn(x[1:], m[1:])
        assert torch.allclose(out[1:], single, atol=1e-5)  # images in a batch do not influence each other
        with pytest.raises(ValueError, match="strength"):
            fn(x, m, strength=3.0)
        with pytest.raises(ValueError, match=r"mask has H=23 but the image has H=24"):
            fn(x, m[:, :, :-1])
    with pytest.raises(ValueError, match="radius"):
        local_transfer(x, m, radius=0.0)
