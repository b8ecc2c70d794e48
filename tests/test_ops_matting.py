"""ops.matting: foreground estimation against hand-made mattes with known F and B, soft alpha from binary masks."""

from __future__ import annotations

import math

import pytest
import torch
from kornia.filters import gaussian_blur2d, guided_blur

from harmonization.ops.mask import dilate, erode
from harmonization.ops.matting import estimate_foreground, foreground_in_band, is_soft_mask, soft_alpha

H, W = 24, 40
RED = (0.9, 0.3, 0.2)
BLUE = (0.1, 0.2, 0.8)


def _ramp_alpha(height: int = H, width: int = W, start: int = 12, length: int = 16) -> torch.Tensor:
    """0 left of column ``start``, rising linearly over ``length`` columns to 1: a soft vertical edge."""
    x = torch.arange(width, dtype=torch.float32)
    return ((x - start) / length).clamp(0, 1).view(1, 1, 1, width).expand(1, 1, height, width).contiguous()


def _constant(colour: tuple[float, float, float], height: int = H, width: int = W) -> torch.Tensor:
    return torch.tensor(colour).view(1, 3, 1, 1).expand(1, 3, height, width).contiguous()


def _textured_matte() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(image, alpha, F, B)``: F varies along the edge (rows), B across it (columns); ``image = aF + (1-a)B``."""
    y = torch.arange(H, dtype=torch.float32).view(1, 1, H, 1)
    x = torch.arange(W, dtype=torch.float32).view(1, 1, 1, W)
    fg = torch.cat([0.6 + 0.3 * torch.sin(y / 4), 0.3 + 0 * y, 0.2 + 0.1 * torch.cos(y / 3)], 1).expand(1, 3, H, W)
    bg = torch.cat([0.1 + 0 * x, 0.2 + 0.5 * x / W, 0.8 - 0.2 * x / W], 1).expand(1, 3, H, W)
    alpha = _ramp_alpha()
    return alpha * fg + (1 - alpha) * bg, alpha, fg, bg


# ------------------------------------------------------------------------------------------- estimate_foreground


def test_constant_colours_are_recovered_exactly() -> None:
    # With constant F and B the truth has zero cost (data term exact, no smoothness penalty), so the solver must land
    # on it: red F wherever the object shows (alpha >= 0.1), blue B wherever the background shows (alpha <= 0.9).
    alpha = _ramp_alpha()
    image = alpha * _constant(RED) + (1 - alpha) * _constant(BLUE)
    fg, bg = estimate_foreground(image, alpha)
    assert fg.shape == bg.shape == (1, 3, H, W)
    visible_fg = (alpha >= 0.1).expand_as(fg)
    visible_bg = (alpha <= 0.9).expand_as(bg)
    assert float((fg - _constant(RED))[visible_fg].abs().max()) < 1e-3
    assert float((bg - _constant(BLUE))[visible_bg].abs().max()) < 1e-3
    # Where alpha is 0 the object colour is the smooth continuation of the object's: still red, not blue.
    assert float((fg - _constant(RED)).abs().max()) < 1e-2


def test_textured_foreground_is_recovered_within_tolerance() -> None:
    image, alpha, fg_true, _ = _textured_matte()
    fg, _ = estimate_foreground(image, alpha)
    visible = (alpha >= 0.1).expand_as(fg)
    error = float((fg - fg_true)[visible].abs().mean())
    contaminated = float((image - fg_true)[visible].abs().mean())  # what the naive cut pastes: 0.095
    assert error < 0.03
    assert error < contaminated / 3


def test_batch_items_are_solved_independently() -> None:
    image, alpha, _, _ = _textured_matte()
    other = _constant(BLUE) * 0.5
    fg_batch, bg_batch = estimate_foreground(torch.cat([image, other]), torch.cat([alpha, alpha.flip(-1)]))
    fg_one, bg_one = estimate_foreground(image, alpha)
    torch.testing.assert_close(fg_batch[:1], fg_one)
    torch.testing.assert_close(bg_batch[:1], bg_one)


def test_out_of_range_alpha_says_what_to_do() -> None:
    image, alpha, _, _ = _textured_matte()
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*255"):
        estimate_foreground(image, alpha * 255)
    with pytest.raises(ValueError, match="shape"):
        estimate_foreground(image, alpha[..., :10])


def test_close_to_pymatting_reference() -> None:
    pymatting = pytest.importorskip("pymatting", reason="pymatting is only a test-time reference (pip install it)")
    image, alpha, fg_true, _ = _textured_matte()
    fg, _ = estimate_foreground(image, alpha)
    reference = pymatting.estimate_foreground_ml(image[0].permute(1, 2, 0).double().numpy(),
                                                 alpha[0, 0].double().numpy())
    reference = torch.from_numpy(reference).permute(2, 0, 1)[None].float()
    visible = (alpha >= 0.1).expand_as(fg)
    ours = float((fg - fg_true)[visible].abs().mean())
    theirs = float((reference - fg_true)[visible].abs().mean())
    assert ours <= 1.2 * theirs  # at least about as accurate as the reference implementation (0.020 vs 0.021)
    assert float((fg - reference)[visible].abs().mean()) < 0.02


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    image, alpha, _, _ = _textured_matte()
    fg_cpu, bg_cpu = estimate_foreground(image, alpha)
    fg_gpu, bg_gpu = estimate_foreground(image.cuda(), alpha.cuda())
    assert fg_gpu.device.type == "cuda"
    torch.testing.assert_close(fg_gpu.cpu(), fg_cpu, atol=1e-4, rtol=0)
    torch.testing.assert_close(bg_gpu.cpu(), bg_cpu, atol=1e-4, rtol=0)
    band_cpu = foreground_in_band(image, alpha, tile=8, margin=16)
    band_gpu = foreground_in_band(image.cuda(), alpha.cuda(), tile=8, margin=16)
    torch.testing.assert_close(band_gpu.cpu(), band_cpu, atol=1e-4, rtol=0)


# -------------------------------------------------------------------------------------------- foreground_in_band


def test_band_keeps_opaque_and_transparent_pixels_bit_identical() -> None:
    image, alpha, fg_true, _ = _textured_matte()
    out = foreground_in_band(image, alpha)
    opaque_or_clear = ((alpha == 0) | (alpha == 1)).expand_as(image)
    assert torch.equal(out[opaque_or_clear], image[opaque_or_clear])
    shown = ((alpha >= 0.1) & (alpha < 1)).expand_as(image)  # partial pixels where the object shows
    error = float((out - fg_true)[shown].abs().mean())
    contaminated = float((image - fg_true)[shown].abs().mean())
    assert error < 0.05 and error < contaminated / 3
    full, _ = estimate_foreground(image, alpha)
    assert error <= 1.1 * float((full - fg_true)[shown].abs().mean())  # tiles with context: as good as the whole


def test_band_on_many_small_tiles_recovers_the_foreground_and_skips_far_tiles() -> None:
    # A disc with a soft rim on a 96x96 image cut into 16x16 tiles: tiles away from the rim are never solved (their
    # pixels come back bit-identical even where they are random), the rim's colours are recovered across tile seams.
    size = 96
    axis = torch.arange(size, dtype=torch.float32) + 0.5 - size / 2
    radius = (axis.view(-1, 1) ** 2 + axis.view(1, -1) ** 2).sqrt()
    alpha = ((30 - radius) / 6).clamp(0, 1).view(1, 1, size, size)
    gen = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, size, size, generator=gen)
    image = alpha * _constant(RED, size, size) + (1 - alpha) * _constant(BLUE, size, size)
    far = (radius < 10) | (radius > 50)  # farther than a tile from any partial pixel
    image = torch.where(far.view(1, 1, size, size), noise, image)
    out = foreground_in_band(image, alpha, tile=16, margin=16)
    assert torch.equal(out[:, :, far], image[:, :, far])
    rim = ((alpha > 0.1) & (alpha < 1)).expand_as(image)
    assert float((out - _constant(RED, size, size))[rim].abs().max()) < 0.02


# ---------------------------------------------------------------------------------------------------- soft_alpha


def _blurred_edge_photo(width_px: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A photo whose object edge (column 20) is a colour ramp ``width_px`` wide, and its binary mask."""
    alpha = _ramp_alpha(start=20 - math.ceil(width_px / 2), length=width_px)
    image = alpha * _constant(RED) + (1 - alpha) * _constant(BLUE)
    mask = torch.zeros(1, 1, H, W)
    mask[..., 20:] = 1.0
    return image, mask


def test_soft_alpha_is_exact_beyond_the_band_and_narrow() -> None:
    image, mask = _blurred_edge_photo(6)
    radius = 3
    alpha = soft_alpha(image, mask, radius)
    assert alpha.shape == mask.shape and alpha.dtype == torch.float32
    row = alpha[0, 0, H // 2]
    assert torch.equal(row[: 20 - radius], torch.zeros(20 - radius))  # far exterior exactly 0
    assert torch.equal(row[20 + radius :], torch.ones(W - 20 - radius))  # solid interior exactly 1
    partial = (alpha > 0) & (alpha < 1)
    assert bool(partial.any())
    band = (dilate(mask, radius) - erode(mask, radius)) > 0
    assert not bool((partial & ~band).any())  # partial values only within `radius` of the edge


def test_soft_alpha_follows_a_soft_photo_edge_monotonically() -> None:
    image, mask = _blurred_edge_photo(6)
    alpha = soft_alpha(image, mask, 3)
    row = alpha[0, 0, H // 2]
    assert bool((row[1:] >= row[:-1]).all())  # rises monotonically into the object
    assert int(((row > 0.05) & (row < 0.95)).sum()) >= 3  # and is soft where the photo is
    assert torch.equal(alpha, alpha[:, :, :1].expand_as(alpha))  # the same on every row of a straight edge


def test_soft_alpha_stays_crisp_on_a_crisp_photo_edge() -> None:
    image, mask = _blurred_edge_photo(1)  # a one-pixel step exactly at the mask's edge
    alpha = soft_alpha(image, mask, 3)
    assert float((alpha - mask).abs().max()) < 0.05


def test_soft_alpha_is_the_guided_filter_in_the_band_whatever_the_tiling() -> None:
    gen = torch.Generator().manual_seed(1)
    image = gaussian_blur2d(torch.rand(1, 3, 64, 80, generator=gen), (5, 5), (1.5, 1.5))
    mask = torch.zeros(1, 1, 64, 80)
    mask[..., 12:50, 20:61] = 1.0
    radius, eps = 2, 1e-2
    one_tile = soft_alpha(image, mask, radius, eps=eps, tile=1000)
    small_tiles = soft_alpha(image, mask, radius, eps=eps, tile=8, chunk=3)
    torch.testing.assert_close(small_tiles, one_tile, atol=1e-5, rtol=0)
    # Away from the image border (where the border rule differs) it is kornia's guided filter, clamped.
    expected = guided_blur(image, mask, 2 * radius + 1, eps).clamp(0, 1)
    band = (dilate(mask, radius) - erode(mask, radius)) > 0
    expected = torch.where(band, expected, mask)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    snapped = (one_tile[inner] == 0) | (one_tile[inner] == 1)
    torch.testing.assert_close(one_tile[inner][~snapped], expected[inner][~snapped], atol=1e-5, rtol=0)
    assert float((one_tile[inner] - expected[inner]).abs().max()) <= 0.5 / 255 + 1e-6


def test_soft_alpha_of_a_wide_band_is_subsampled_on_one_grid_whatever_the_tiling() -> None:
    # radius 12: the fast guided filter (subsample 3); tiles start on the subsampled grid, so cutting the image into
    # 18 px tiles gives the single-tile result.
    gen = torch.Generator().manual_seed(2)
    image = gaussian_blur2d(torch.rand(1, 3, 100, 130, generator=gen), (9, 9), (3.0, 3.0))
    mask = torch.zeros(1, 1, 100, 130)
    mask[..., 20:80, 30:101] = 1.0
    one_tile = soft_alpha(image, mask, 12, tile=1000)
    small_tiles = soft_alpha(image, mask, 12, tile=16, chunk=5)
    torch.testing.assert_close(small_tiles, one_tile, atol=1e-5, rtol=0)
    assert int(((one_tile > 0) & (one_tile < 1)).sum()) > 0


def test_soft_alpha_rejects_a_zero_radius() -> None:
    image, mask = _blurred_edge_photo(6)
    with pytest.raises(ValueError, match="radius must be at least 1"):
        soft_alpha(image, mask, 0)


# -------------------------------------------------------------------------------------------------- is_soft_mask


def test_is_soft_mask() -> None:
    mask = torch.zeros(1, 1, 40, 40)
    mask[..., 10:30, 10:30] = 1.0
    assert not is_soft_mask(mask)  # binary
    antialiased = mask.clone()
    antialiased[..., 9, 10:30] = antialiased[..., 30, 10:30] = 0.5
    antialiased[..., 10:30, 9] = antialiased[..., 10:30, 30] = 0.5
    assert not is_soft_mask(antialiased)  # a one-pixel anti-aliased brush edge is still hard
    sigma = 2.0
    size = 2 * math.ceil(3 * sigma) + 1
    assert is_soft_mask(gaussian_blur2d(mask, (size, size), (sigma, sigma)))  # a blurred (refined) edge
    assert is_soft_mask(mask * 0.6)  # partial opacity everywhere
    assert not is_soft_mask(torch.zeros(1, 1, 8, 8))
