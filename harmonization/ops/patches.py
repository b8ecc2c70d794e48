"""Vectorised statistics over a regular grid of image patches.

A ``grid`` of ``g`` cuts an image of size ``(H, W)`` into ``g x g`` patches. Patch row ``i`` covers the rows
``[i * (H // g), (i + 1) * (H // g))`` except the last patch row, which runs to ``H`` and so takes the remainder;
columns are cut the same way with ``W // g``. When ``H < g`` every patch row but the last is empty (this is what
slicing with a patch height of 0 gives). This is the layout used by PHNet's patch-based normalisation and its
colour-transfer feature extractor.

Every function here computes per-patch quantities for all patches at once, without Python loops over patches:
a pixel's patch index is ``min(y // (H // g), g - 1)``; segment sums are two small matrix products with
one-hot "row -> patch" and "column -> patch" matrices; patch statistics are mapped back to pixels with
``index_select``. The results equal the loop definition up to float rounding.

All functions are pure (no state, no I/O) and work on any device; shapes are ``(B, C, H, W)`` for images and
``(B, C, g, g)`` for per-patch statistics.
"""

from __future__ import annotations

import torch

__all__ = [
    "patch_bounds",
    "patch_index",
    "patch_counts",
    "patch_sum",
    "patch_mean",
    "patch_var",
    "patch_masked_mean",
    "patches_to_pixels",
]


def _check_grid(size: int, grid: int) -> None:
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be a positive integer, got {grid!r}.")
    if size < 1:
        raise ValueError(f"Cannot cut an image side of {size} pixels into patches; expected at least 1 pixel.")


def patch_bounds(size: int, grid: int) -> list[tuple[int, int]]:
    """Start and end (exclusive) of each of the ``grid`` patch intervals along one image side.

    Args:
        size: number of pixels along the side (H or W), >= 1.
        grid: number of patches along the side, >= 1.

    Returns:
        ``grid`` pairs ``(start, end)``; the last interval ends at ``size`` and takes the remainder.
    """
    _check_grid(size, grid)
    step = size // grid
    return [(i * step, (i + 1) * step if i < grid - 1 else size) for i in range(grid)]


def patch_index(size: int, grid: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Index of the patch interval that each pixel along one side belongs to.

    Args:
        size: number of pixels along the side (H or W), >= 1.
        grid: number of patches along the side, >= 1.
        device: device of the returned tensor.

    Returns:
        ``(size,)`` int64 tensor with values in ``[0, grid - 1]``: ``min(i // (size // grid), grid - 1)``
        (all ``grid - 1`` when ``size < grid``).
    """
    _check_grid(size, grid)
    step = size // grid
    if step == 0:
        return torch.full((size,), grid - 1, dtype=torch.long, device=device)
    return torch.arange(size, device=device).div(step, rounding_mode="floor").clamp_(max=grid - 1)


def _one_hot_segments(size: int, grid: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``(grid, size)`` matrix with 1 where pixel ``j`` lies in patch interval ``i``."""
    index = patch_index(size, grid, device)
    return (index.unsqueeze(0) == torch.arange(grid, device=device).unsqueeze(1)).to(dtype)


def patch_counts(height: int, width: int, grid: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Number of pixels in each patch.

    Args:
        height: image height H, >= 1.
        width: image width W, >= 1.
        grid: patches per side g, >= 1.
        device: device of the returned tensor.

    Returns:
        ``(g, g)`` float32 tensor of pixel counts (0 for empty patches when H or W < g).
    """
    rows = torch.bincount(patch_index(height, grid, device), minlength=grid)
    cols = torch.bincount(patch_index(width, grid, device), minlength=grid)
    return (rows.unsqueeze(1) * cols.unsqueeze(0)).to(torch.float32)


def patch_sum(x: torch.Tensor, grid: int) -> torch.Tensor:
    """Sum of ``x`` over each patch of a ``grid x grid`` patch grid.

    Args:
        x: ``(B, C, H, W)`` floating tensor.
        grid: patches per side g, >= 1.

    Returns:
        ``(B, C, g, g)`` tensor (same dtype as ``x``): entry ``[b, c, i, j]`` is the sum over patch row ``i`` and
        patch column ``j``.
    """
    if x.dim() != 4:
        raise ValueError(f"patch_sum expects a (B, C, H, W) tensor, got shape {tuple(x.shape)}.")
    height, width = x.shape[-2:]
    rows = _one_hot_segments(height, grid, x.device, x.dtype)  # (g, H)
    cols = _one_hot_segments(width, grid, x.device, x.dtype)  # (g, W)
    return rows @ (x @ cols.t())  # (g, H) @ (B, C, H, g) -> (B, C, g, g)


def patches_to_pixels(stat: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Broadcast per-patch values back to the pixels of each patch.

    Args:
        stat: ``(B, C, g, g)`` per-patch values.
        height: image height H.
        width: image width W.

    Returns:
        ``(B, C, H, W)`` tensor where every pixel holds the value of the patch it belongs to.
    """
    if stat.dim() != 4 or stat.shape[-1] != stat.shape[-2]:
        raise ValueError(f"patches_to_pixels expects (B, C, g, g) statistics, got shape {tuple(stat.shape)}.")
    grid = stat.shape[-1]
    rows = patch_index(height, grid, stat.device)
    cols = patch_index(width, grid, stat.device)
    return stat.index_select(2, rows).index_select(3, cols)


def patch_mean(x: torch.Tensor, grid: int) -> torch.Tensor:
    """Plain (unmasked) mean of ``x`` over each patch.

    Args:
        x: ``(B, C, H, W)`` floating tensor.
        grid: patches per side g.

    Returns:
        ``(B, C, g, g)`` patch means (NaN for empty patches, as a mean over nothing is).
    """
    counts = patch_counts(x.shape[-2], x.shape[-1], grid, x.device).to(x.dtype)
    return patch_sum(x, grid) / counts


def patch_var(x: torch.Tensor, grid: int, *, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-patch mean and variance of ``x`` (two-pass: the squared deviations from each patch's own mean).

    Args:
        x: ``(B, C, H, W)`` floating tensor.
        grid: patches per side g.
        unbiased: divide by ``n - 1`` (Bessel's correction, like ``torch.var``) instead of ``n``.

    Returns:
        ``(mean, var)``, each ``(B, C, g, g)``. A one-pixel patch has NaN unbiased variance, as ``torch.var``.
    """
    height, width = x.shape[-2:]
    counts = patch_counts(height, width, grid, x.device).to(x.dtype)
    mean = patch_sum(x, grid) / counts
    deviation = x - patches_to_pixels(mean, height, width)
    var = patch_sum(deviation * deviation, grid) / (counts - 1 if unbiased else counts)
    return mean, var


def patch_masked_mean(x: torch.Tensor, weight: torch.Tensor, grid: int, eps: float) -> torch.Tensor:
    """Weighted mean per patch: ``sum_p(x * weight) / (sum_p(weight) + eps)``.

    Args:
        x: ``(B, C, H, W)`` floating tensor.
        weight: ``(B, 1, H, W)`` or ``(B, C, H, W)`` region weights (for example a mask in [0, 1]).
        grid: patches per side g.
        eps: added to the weight sum, so a patch without weight gives 0.

    Returns:
        ``(B, C, g, g)`` weighted patch means.
    """
    return patch_sum(x * weight, grid) / (patch_sum(weight, grid) + eps)
