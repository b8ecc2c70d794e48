"""Matting at an object's edge, on tensors: a soft alpha from a hard mask and the object's own colour (foreground
estimation), both computed only in a narrow band around the edge.

- :func:`estimate_foreground`: multi-level foreground estimation (Germer, Uelwer, Conrad, Harmeling, "Fast
  multi-level foreground estimation", ICPR 2020; the algorithm of pymatting's ``estimate_foreground_ml``), written
  here in torch. Given an image ``I`` and its alpha, it finds the object colour ``F`` and the background colour ``B``
  with ``I = alpha F + (1 - alpha) B`` that vary smoothly except where alpha changes, coarse to fine.
- :func:`foreground_in_band`: the same, solved only on tiles that hold partially transparent pixels
  (``0 < alpha < 1``); every other pixel keeps the image's colour.
- :func:`soft_alpha`: a narrow soft edge for a binary mask, from a guided filter of the mask with the photo as guide
  (kornia's ``guided_blur``, as :func:`harmonization.ops.mask.refine_mask_edges` uses it), restricted to a band of
  ``radius`` pixels on each side of the edge; the solid interior stays exactly 1 and the far exterior exactly 0.
- :func:`is_soft_mask`: whether a mask already carries a soft edge (then it is used as the alpha as it is).

Why a torch op rather than pymatting: no numba/llvmlite dependency (and no JIT compile on first use), it runs on CUDA
like the rest of the package, and it is run on a batch of small tiles along the edge, so its memory is bounded by
the tile batch instead of growing with the photo (20 megapixels need a few hundred tiles, never a whole-image
pyramid).

Shapes: images ``(B, 3, H, W)`` float RGB in [0, 1]; masks and alphas ``(B, 1, H, W)`` float in [0, 1], 1 = object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from kornia.filters import guided_blur

from .mask import HARD_TOLERANCE, binarize, check_image, check_mask, edge_band, snap_hard

__all__ = ["estimate_foreground", "foreground_in_band", "soft_alpha", "is_soft_mask"]

# Pixels per batch of tiles (the memory bound of the tiled operations: a few hundred bytes per pixel).
BATCH_PIXELS = 1 << 19


def _check_alpha(alpha: torch.Tensor, image: torch.Tensor, name: str) -> None:
    check_mask(alpha, image, name)
    if bool((alpha < 0).any()) or bool((alpha > 1).any()):
        raise ValueError(
            f"{name} must lie in [0, 1]; got values from {float(alpha.min()):.4g} to {float(alpha.max()):.4g}. "
            "Clamp it (or divide an 8-bit mask by 255) first."
        )


def _relax(
    image: torch.Tensor,
    alpha: torch.Tensor,
    state: torch.Tensor,
    iterations: int,
    regularization: float,
    gradient_weight: float,
) -> torch.Tensor:
    """Red-black Gauss-Seidel sweeps of the per-pixel 2x2 systems for ``(F, B)`` at one pyramid level.

    For every pixel ``i`` with 4-neighbours ``j`` and weights ``w_ij = regularization + gradient_weight *
    |alpha_i - alpha_j|`` the cost ``(alpha_i F_i + (1 - alpha_i) B_i - I_i)^2 + sum_j w_ij ((F_i - F_j)^2 +
    (B_i - B_j)^2)`` is minimised over ``(F_i, B_i)`` with the neighbours fixed: ``[[a^2 + W, a(1-a)], [a(1-a),
    (1-a)^2 + W]] [F, B] = [a I + sum_j w_ij F_j, (1-a) I + sum_j w_ij B_j]`` with ``W = sum_j w_ij``. Pixels of one
    checkerboard colour only have neighbours of the other, so each half-sweep updates half the pixels at once.

    Args:
        image: ``(N, 3, h, w)``; alpha: ``(N, 1, h, w)``; state: ``(N, 6, h, w)``, ``F`` then ``B``.

    Returns:
        The updated ``(N, 6, h, w)`` state, clamped to [0, 1].
    """
    height, width = alpha.shape[-2:]
    padded = F.pad(alpha, (1, 1, 1, 1), mode="replicate")  # a border pixel is its own outside neighbour
    shifts = ((slice(None, -2), slice(1, -1)), (slice(2, None), slice(1, -1)),
              (slice(1, -1), slice(None, -2)), (slice(1, -1), slice(2, None)))
    weights = [regularization + gradient_weight * (alpha - padded[..., rows, cols]).abs() for rows, cols in shifts]
    total = sum(weights)
    a00 = alpha * alpha + total
    a11 = (1.0 - alpha) * (1.0 - alpha) + total
    a01 = alpha * (1.0 - alpha)
    inv_det = 1.0 / (a00 * a11 - a01 * a01)  # > 0: W > 0 makes the matrix positive definite
    c00, c01, c11 = a11 * inv_det, a01 * inv_det, a00 * inv_det  # the inverse matrix
    data = torch.cat([alpha * image, (1.0 - alpha) * image], dim=1)
    rows = torch.arange(height, device=alpha.device).view(-1, 1)
    cols = torch.arange(width, device=alpha.device).view(1, -1)
    red = (rows + cols) % 2 == 0
    new = torch.empty_like(state)
    for _ in range(iterations):
        for colour in (red, ~red):
            padded_state = F.pad(state, (1, 1, 1, 1), mode="replicate")
            rhs = data.addcmul(weights[0], padded_state[..., shifts[0][0], shifts[0][1]])
            for weight, (rows_, cols_) in zip(weights[1:], shifts[1:], strict=True):
                rhs.addcmul_(weight, padded_state[..., rows_, cols_])
            b0, b1 = rhs[:, :3], rhs[:, 3:]
            torch.addcmul(c00 * b0, c01, b1, value=-1.0, out=new[:, :3])
            torch.addcmul(c11 * b1, c01, b0, value=-1.0, out=new[:, 3:])
            state = torch.where(colour, new.clamp_(0.0, 1.0), state)
    return state


def estimate_foreground(
    image: torch.Tensor,
    alpha: torch.Tensor,
    *,
    regularization: float = 5e-3,
    gradient_weight: float = 0.1,
    coarse_iterations: int = 10,
    fine_iterations: int = 2,
    coarse_size: int = 32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multi-level foreground estimation: object colour ``F`` and background colour ``B`` with
    ``image = alpha F + (1 - alpha) B``.

    A pyramid of ``L + 1 = ceil(log2(max(H, W))) + 1`` levels grows from 1x1 to ``H x W`` (level ``l`` has
    ``round(H^(l/L)) x round(W^(l/L))`` pixels, image and alpha area-averaged to it). At 1x1, ``F`` and ``B`` start as
    the alpha- and ``(1 - alpha)``-weighted mean colours; each level starts from the previous one upsampled
    (bilinear) and runs red-black Gauss-Seidel sweeps of the per-pixel 2x2 systems (see :func:`_relax`):
    ``coarse_iterations`` while the level is at most ``coarse_size`` pixels on its long side, ``fine_iterations``
    above. Everything is vectorised over pixels and over the batch.

    Args:
        image: ``(N, 3, H, W)`` float RGB in [0, 1].
        alpha: ``(N, 1, H, W)`` float in [0, 1].
        regularization: smoothness weight between neighbours everywhere (``epsilon_r`` in the paper).
        gradient_weight: extra smoothness weight per unit of alpha difference between neighbours (``omega``).
        coarse_iterations: sweeps per coarse level.
        fine_iterations: sweeps per fine level.
        coarse_size: long side in pixels up to which a level counts as coarse.

    Returns:
        ``(F, B)``, each ``(N, 3, H, W)`` in [0, 1], in ``image``'s dtype and device. Where ``alpha`` is 0, ``F`` is
        the smooth continuation of the nearby object colours (and ``B`` likewise where ``alpha`` is 1).
    """
    check_image(image, "image")
    _check_alpha(alpha, image, "alpha")
    x = image
    a = alpha.to(x.dtype)
    height, width = x.shape[-2:]
    fg_weight = a.sum(dim=(-2, -1), keepdim=True)
    bg_weight = (1.0 - a).sum(dim=(-2, -1), keepdim=True)
    mean = x.mean(dim=(-2, -1), keepdim=True)
    fg = torch.where(fg_weight > 0, (x * a).sum(dim=(-2, -1), keepdim=True) / fg_weight.clamp_min(1e-12), mean)
    bg = torch.where(bg_weight > 0, (x * (1.0 - a)).sum(dim=(-2, -1), keepdim=True) / bg_weight.clamp_min(1e-12),
                     mean)
    state = torch.cat([fg, bg], dim=1)
    levels = max(1, math.ceil(math.log2(max(height, width))))
    for level in range(1, levels + 1):
        size = (max(1, round(height ** (level / levels))), max(1, round(width ** (level / levels))))
        if level == levels:
            size = (height, width)
        if size == (height, width):
            level_image, level_alpha = x, a
        else:
            level_image = F.interpolate(x, size=size, mode="area")
            level_alpha = F.interpolate(a, size=size, mode="area")
        state = F.interpolate(state, size=size, mode="bilinear", align_corners=False)
        iterations = coarse_iterations if max(size) <= coarse_size else fine_iterations
        state = _relax(level_image, level_alpha, state, iterations, regularization, gradient_weight)
    return state[:, :3], state[:, 3:]


def _tile_grid_any(active: torch.Tensor, tile_h: int, tile_w: int) -> torch.Tensor:
    """``(ny, nx)`` bool: which tiles of a ``(H, W)`` bool map hold at least one True pixel."""
    height, width = active.shape
    ny, nx = math.ceil(height / tile_h), math.ceil(width / tile_w)
    padded = active.new_zeros(ny * tile_h, nx * tile_w)
    padded[:height, :width] = active
    return padded.view(ny, tile_h, nx, tile_w).any(dim=3).any(dim=1)


def _cut(x: torch.Tensor, top: int, left: int, size: tuple[int, int]) -> torch.Tensor:
    """The ``size`` window of ``x`` (``(1, C, H, W)``) at ``(top, left)``, edge pixels repeated where it leaves
    ``x``."""
    height, width = x.shape[-2:]
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(height, top + size[0]), min(width, left + size[1])
    window = x[..., y0:y1, x0:x1]
    pad = (x0 - left, left + size[1] - x1, y0 - top, top + size[0] - y1)
    return F.pad(window, pad, mode="replicate") if any(pad) else window


def _on_tiles(
    solve: Callable[..., torch.Tensor],
    inputs: Sequence[torch.Tensor],
    out: torch.Tensor,
    active: torch.Tensor,
    *,
    tile: int,
    margin: int,
    chunk: int | None,
    align: int = 1,
) -> None:
    """Run ``solve`` on the tiles of ``out`` that hold an ``active`` pixel and write the tiles' cores into ``out``.

    The image is divided into cores of ``tile x tile`` pixels (smaller where the image is, but a multiple of ``align``
    when ``tile`` is); each selected core is cut out of every tensor in ``inputs`` with ``margin`` pixels of context
    on each side (edge pixels repeated beyond the image), up to ``chunk`` tiles (default: as many as make
    ``BATCH_PIXELS``) are stacked into one batch, and ``solve(*batches)`` returns the ``(n, C, ...)`` result of which
    only the core is kept. Memory is bounded by one batch, whatever the image size.

    Args:
        solve: batched function of the cut-out inputs returning a tensor of the same height and width.
        inputs: ``(1, C_k, H, W)`` tensors.
        out: ``(1, C, H, W)`` tensor written in place.
        active: ``(H, W)`` bool, the pixels that need ``solve``.
    """
    height, width = active.shape
    tile_h, tile_w = (min(tile, align * math.ceil(extent / align)) for extent in (height, width))
    coords = torch.nonzero(_tile_grid_any(active, tile_h, tile_w)).tolist()
    size = (tile_h + 2 * margin, tile_w + 2 * margin)
    chunk = chunk or max(1, BATCH_PIXELS // (size[0] * size[1]))
    for start in range(0, len(coords), chunk):
        batch = coords[start : start + chunk]
        tiles = [torch.cat([_cut(x, iy * tile_h - margin, ix * tile_w - margin, size) for iy, ix in batch])
                 for x in inputs]
        result = solve(*tiles)
        for k, (iy, ix) in enumerate(batch):
            y0, x0 = iy * tile_h, ix * tile_w
            h, w = min(tile_h, height - y0), min(tile_w, width - x0)
            out[0, :, y0 : y0 + h, x0 : x0 + w] = result[k, :, margin : margin + h, margin : margin + w]


def foreground_in_band(
    image: torch.Tensor,
    alpha: torch.Tensor,
    *,
    tile: int | None = None,
    margin: int = 16,
    chunk: int | None = None,
    **options: float,
) -> torch.Tensor:
    """The object's own colour ``F`` where the alpha is partial (``0 < alpha < 1``), the image elsewhere.

    :func:`estimate_foreground` runs on ``tile x tile`` tiles that hold a partial pixel, each with ``margin`` pixels
    of context around it, in batches of ``chunk`` tiles; tiles without one are not touched. Where ``alpha`` is 1 the
    result is the image exactly (bit-identical); where it is 0 the image is returned too (a pasted pixel of
    opacity 0 shows nothing of it).

    Args:
        image: ``(B, 3, H, W)`` float RGB in [0, 1].
        alpha: ``(B, 1, H, W)`` float in [0, 1].
        tile: core size of a tile in pixels; default ``2 * margin`` (the least pixels solved per pixel of edge).
        margin: context pixels on each side of a tile: the partial band's width and some more.
        chunk: tiles per batch; default as many as make ``BATCH_PIXELS`` pixels (the memory bound: about 200 bytes
            per pixel of a batch in float32).
        **options: passed to :func:`estimate_foreground` (``regularization``, ``gradient_weight``, ...).

    Returns:
        ``(B, 3, H, W)`` in [0, 1], ``image``'s dtype and device.
    """
    check_image(image, "image")
    _check_alpha(alpha, image, "alpha")
    tile = max(16, 2 * margin) if tile is None else tile
    if tile < 1 or margin < 0 or (chunk is not None and chunk < 1):
        raise ValueError(f"tile and chunk must be >= 1 and margin >= 0; got tile={tile}, margin={margin}, "
                         f"chunk={chunk}.")
    a = alpha.to(image.dtype)
    out = image.clone()

    def solve(image_tiles: torch.Tensor, alpha_tiles: torch.Tensor) -> torch.Tensor:
        fg, _ = estimate_foreground(image_tiles, alpha_tiles, **options)
        partial = (alpha_tiles > 0) & (alpha_tiles < 1)
        return torch.where(partial, fg, image_tiles)

    for i in range(image.shape[0]):
        active = (a[i, 0] > 0) & (a[i, 0] < 1)
        _on_tiles(solve, [image[i : i + 1], a[i : i + 1]], out[i : i + 1], active, tile=tile, margin=margin,
                  chunk=chunk)
    return out


def soft_alpha(
    image: torch.Tensor,
    mask: torch.Tensor,
    radius: int,
    *,
    eps: float = 1e-2,
    tile: int | None = None,
    chunk: int | None = None,
) -> torch.Tensor:
    """A narrow soft edge for a binary mask, following the photo: guided filter of the mask with the photo as guide.

    Within ``radius`` pixels (square neighbourhood) of the mask's edge, on both sides, the alpha is kornia's
    ``guided_blur`` of the binarised mask with ``image`` as the colour guide (window ``2 * radius + 1``,
    regularisation ``eps``; from ``radius`` 8 on the fast guided filter with ``subsample = radius // 4``), clamped
    to [0, 1]: where the photo's edge is crisp the alpha stays crisp, where the photo is soft (hair, fur, motion or
    focus blur) the alpha follows it. Every pixel farther than ``radius`` from the edge keeps the binary value
    exactly (1 inside, 0 outside), and values within 0.5/255 of 0 or 1 are snapped to it. The filter runs only on
    tiles that hold a band pixel, with enough context (and, when subsampled, on the same pixel grid) that the result
    is that of the whole-image filter.

    Args:
        image: ``(B, 3, H, W)`` float RGB in [0, 1], the photo the mask was drawn on.
        mask: ``(B, 1, H, W)`` in [0, 1], binarised at 0.5.
        radius: half-width of the soft band in pixels (>= 1).
        eps: guided-filter regularisation in squared RGB units; larger gives a smoother, less colour-driven edge.
        tile: core size of a tile in pixels (default ``max(32, 4 * radius + 2)``; rounded up to a multiple of the
            subsampling); chunk: tiles per batch (default as many as make ``BATCH_PIXELS`` pixels).

    Returns:
        ``(B, 1, H, W)`` float alpha in [0, 1] in ``image``'s dtype and device.
    """
    check_image(image, "image")
    check_mask(mask, image, "mask")
    if radius < 1:
        raise ValueError(f"radius must be at least 1 pixel; got {radius}.")
    if eps <= 0:
        raise ValueError(f"eps must be positive; got {eps}.")
    hard = binarize(mask.to(image.dtype))
    band = edge_band(hard, radius)
    out = hard.clone()
    subsample = max(1, radius // 4)

    def multiple(pixels: int) -> int:  # tiles start on the subsampled grid, so every tile sees the same grid
        return subsample * math.ceil(pixels / subsample)

    def solve(image_tiles: torch.Tensor, hard_tiles: torch.Tensor, band_tiles: torch.Tensor) -> torch.Tensor:
        smooth = guided_blur(image_tiles, hard_tiles, 2 * radius + 1, eps, subsample=subsample, separable=True)
        smooth = smooth.clamp(0.0, 1.0)
        smooth = snap_hard(smooth)
        return torch.where(band_tiles > 0, smooth, hard_tiles)

    band_float = band.to(image.dtype)
    for i in range(image.shape[0]):
        _on_tiles(solve, [image[i : i + 1], hard[i : i + 1], band_float[i : i + 1]], out[i : i + 1], band[i, 0],
                  tile=multiple(max(32, 4 * radius + 2) if tile is None else tile),
                  margin=multiple(2 * radius + 1 + subsample), chunk=chunk, align=subsample)
    return out


def is_soft_mask(mask: torch.Tensor, min_width: float = 1.5) -> bool:
    """Whether a mask already has a soft edge: its partial pixels are at least ``min_width`` pixels wide on average.

    Partial pixels are those more than 0.5/255 away from 0 and 1; the edge length is the number of 4-neighbour pairs
    on either side of the 0.5 level. A binary mask, or a brush stroke with one pixel of anti-aliasing, is hard; a
    refined mask or a segmentation probability resized up is soft.

    Args:
        mask: ``(B, 1, H, W)`` float in [0, 1] (all images of the batch together).
        min_width: mean width in pixels from which the edge counts as soft.
    """
    check_mask(mask, None, "mask")
    partial = int(((mask > HARD_TOLERANCE) & (mask < 1.0 - HARD_TOLERANCE)).sum())
    if partial == 0:
        return False
    hard = mask >= 0.5
    edge = int((hard[..., 1:, :] != hard[..., :-1, :]).sum()) + int((hard[..., :, 1:] != hard[..., :, :-1]).sum())
    return partial >= min_width * max(edge, 1)
