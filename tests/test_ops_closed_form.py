"""ops.closed_form: the matrix-free matting Laplacian and closed-form matting in a band along a binary mask's edge."""

from __future__ import annotations

import pytest
import torch

from harmonization.ops.closed_form import matting_alpha, matting_laplacian
from harmonization.ops.mask import dilate, erode
from harmonization.ops.matting import soft_alpha

RED = (0.9, 0.3, 0.2)
BLUE = (0.1, 0.2, 0.8)


def _two_colour_ramp(height: int = 40, width: int = 64, start: int = 29, length: int = 6
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image, alpha)``: red over blue mixed by an alpha that rises linearly over ``length`` columns."""
    x = torch.arange(width, dtype=torch.float32)
    alpha = ((x - start + 0.5) / length).clamp(0, 1).view(1, 1, 1, width).expand(1, 1, height, width).contiguous()
    red = torch.tensor(RED).view(1, 3, 1, 1)
    blue = torch.tensor(BLUE).view(1, 3, 1, 1)
    return alpha * red + (1 - alpha) * blue, alpha


def _smooth_disc(size: int = 72) -> tuple[torch.Tensor, torch.Tensor]:
    """``(image, mask)``: a disc of a smoothly varying colour over another smoothly varying colour, edge ramped."""
    y, x = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    radius = ((y - size / 2 + 3) ** 2 + (x - size / 2) ** 2).sqrt()
    alpha = (22.0 - radius + 2.5).div(5.0).clamp(0, 1)[None, None]
    fg = torch.stack([0.7 + 0.2 * torch.sin(x / 9), 0.3 + 0.1 * torch.cos(y / 7), 0.2 + 0 * x])[None]
    bg = torch.stack([0.1 + 0 * x, 0.4 + 0.2 * torch.sin(y / 8), 0.8 - 0.2 * torch.cos(x / 10)])[None]
    return alpha * fg + (1 - alpha) * bg, (alpha >= 0.5).float()


def test_laplacian_is_symmetric_semidefinite_and_annihilates_constants() -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 14, 17, generator=generator, dtype=torch.float64)
    p, q = (torch.rand(2, 1, 14, 17, generator=generator, dtype=torch.float64) for _ in range(2))
    lp, lq = matting_laplacian(image, p), matting_laplacian(image, q)
    assert float((lp * q).sum()) == pytest.approx(float((lq * p).sum()), rel=1e-9, abs=1e-9)
    assert float((lp * p).sum()) > 0
    assert float(matting_laplacian(image, torch.ones_like(p)).abs().max()) < 1e-9


def test_laplacian_matches_the_explicit_matrix_of_one_window() -> None:
    """A 3x3 image holds exactly one 3x3 window: L = I - (1 + (I_i - mu)^T Delta^-1 (I_j - mu)) / 9."""
    generator = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 3, 3, generator=generator, dtype=torch.float64)
    eps = 1e-3
    colours = image[0].reshape(3, 9).T  # (9, 3)
    centred = colours - colours.mean(0)
    delta = centred.T @ centred / 9 + eps * torch.eye(3, dtype=torch.float64)
    matrix = torch.eye(9, dtype=torch.float64) - (1 + centred @ torch.linalg.inv(delta) @ centred.T) / 9
    p = torch.rand(1, 1, 3, 3, generator=generator, dtype=torch.float64)
    expected = (matrix @ p.reshape(9)).reshape(1, 1, 3, 3)
    assert torch.allclose(matting_laplacian(image, p, eps=eps), expected, atol=1e-10)


def test_two_flat_colours_recover_the_alpha_ramp() -> None:
    image, alpha = _two_colour_ramp()
    mask = (alpha >= 0.5).float()
    result = matting_alpha(image, mask, 5, iterations=100, tolerance=1e-6)
    assert float((result - alpha).abs().max()) < 0.01
    guided = soft_alpha(image, mask, 5)
    assert float((guided - alpha).abs().max()) > 0.05  # the guided filter of the hard mask does not get there


def test_smooth_colours_recover_a_soft_disc_edge_better_than_the_guided_filter() -> None:
    image, mask = _smooth_disc()
    y, x = torch.meshgrid(torch.arange(72).float(), torch.arange(72).float(), indexing="ij")
    truth = (22.0 - ((y - 33) ** 2 + (x - 36) ** 2).sqrt() + 2.5).div(5.0).clamp(0, 1)[None, None]
    band = (dilate(mask, 4) - erode(mask, 4)) > 0
    result = matting_alpha(image, mask, 4, iterations=100, tolerance=1e-6)
    error = float((result - truth)[band].abs().mean())
    assert error < 0.02
    assert error < 0.8 * float((soft_alpha(image, mask, 4) - truth)[band].abs().mean())


def test_alpha_is_exactly_binary_beyond_the_band() -> None:
    image, mask = _smooth_disc()
    result = matting_alpha(image, mask, 2)
    band = (dilate(mask, 2) - erode(mask, 2)) > 0
    assert torch.equal(result[~band], mask[~band])
    assert float(result.min()) >= 0.0 and float(result.max()) <= 1.0
    partial = (result > 0) & (result < 1)
    assert bool(partial.any()) and bool(band[partial].all())


def test_tiled_solve_matches_one_tile() -> None:
    image, mask = _smooth_disc()
    whole = matting_alpha(image, mask, 3, tile=72, iterations=100, tolerance=1e-6)
    tiled = matting_alpha(image, mask, 3, tile=16, chunk=3, iterations=100, tolerance=1e-6)
    assert float((whole - tiled).abs().max()) < 0.02


def test_bad_arguments_say_what_was_received() -> None:
    image, mask = _smooth_disc(16)
    with pytest.raises(ValueError, match="got 0"):
        matting_alpha(image, mask, 0)
    with pytest.raises(ValueError, match="eps=0"):
        matting_alpha(image, mask, 2, eps=0)
