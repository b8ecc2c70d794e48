"""Pure colour-statistics operations on tensors (Lab conversion, masked statistics, statistics transfer).

Images are ``(B, 3, H, W)`` float tensors; weights/masks ``(B, 1, H, W)`` in ``[0, 1]``.

Large images are processed a band of rows at a time (:func:`row_chunks`, about :data:`CHUNK_PIXELS` pixels each):
the Lab conversion and the statistics transfer work pixel by pixel once the statistics are known, statistics of
bands merge exactly (:func:`chunk_moments`, :func:`merge_moments`), and the coarse maps of the local method are
pooled (:func:`area_downsample_rows`) and upsampled (:func:`bilinear_rows`) band by band. An image that fits in one
band gets exactly the arithmetic of a whole-image computation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from kornia.color import lab_to_rgb, rgb_to_lab
from kornia.filters import gaussian_blur2d

__all__ = ["rgb_to_lab", "lab_to_rgb", "masked_mean_std", "local_masked_mean_std", "transfer_mean_std",
           "CHUNK_PIXELS", "row_chunks", "Moments", "chunk_moments", "merge_moments", "area_downsample_rows",
           "bilinear_rows"]

#: Pixels per band of rows in the full-resolution passes: about 2 megapixels, i.e. ~25 MB per float channel, so the
#: temporaries of a Lab conversion stay near 200 MB whatever the image size.
CHUNK_PIXELS = 1 << 21


def row_chunks(height: int, width: int, pixels: int | None = None) -> list[slice]:
    """Bands of whole rows covering ``height`` rows, each of at most ``pixels`` (default :data:`CHUNK_PIXELS`, read
    at call time) pixels, and at least one row."""
    rows = max(1, (CHUNK_PIXELS if pixels is None else pixels) // max(1, width))
    return [slice(top, min(height, top + rows)) for top in range(0, height, rows)]


class Moments(NamedTuple):
    """Weighted first and second moments of one band, per image and channel (each ``(B, C, 1, 1)``, float32).

    ``total``: sum of the weights; ``sum``: of ``x * w``; ``mean``: ``sum / (total + eps)``; ``m2``: sum of
    ``w * (x - mean) ** 2``.
    """

    total: torch.Tensor
    sum: torch.Tensor
    mean: torch.Tensor
    m2: torch.Tensor


def chunk_moments(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> Moments:
    """The :class:`Moments` of ``x`` ``(B, C, h, W)`` under ``weight`` ``(B, 1, h, W)`` (one band of rows)."""
    total = weight.sum(dim=(-2, -1), keepdim=True)
    summed = (x * weight).sum(dim=(-2, -1), keepdim=True)
    mean = summed / (total + eps)
    m2 = (((x - mean) ** 2) * weight).sum(dim=(-2, -1), keepdim=True)
    return Moments(total, summed, mean, m2)


def merge_moments(parts: Sequence[Moments], eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and standard deviation over all bands, as :func:`masked_mean_std` of the whole image.

    One band gives exactly :func:`masked_mean_std`'s arithmetic; several are merged in float64 (Chan et al.'s
    pairwise update, with the exact cross term), which agrees with it to float32 rounding.
    """
    if not parts:
        raise ValueError("merge_moments needs at least one band.")
    if len(parts) == 1:
        part = parts[0]
        return part.mean, (part.m2 / (part.total + eps) + eps).sqrt()
    total = sum(p.total.double() for p in parts)
    mean = sum(p.sum.double() for p in parts) / (total + eps)
    m2 = sum(p.m2.double() + 2.0 * (p.mean.double() - mean) * (p.sum.double() - p.total.double() * p.mean.double())
             + p.total.double() * (p.mean.double() - mean) ** 2 for p in parts)
    dtype = parts[0].mean.dtype
    return mean.to(dtype), (m2 / (total + eps) + eps).sqrt().to(dtype)


def area_downsample_rows(make_rows: Callable[[int, int], torch.Tensor], height: int, size: tuple[int, int],
                         rows_per_chunk: int) -> torch.Tensor:
    """``F.interpolate(x, size, mode="area")`` of an image ``x`` that is made a band of rows at a time.

    Args:
        make_rows: ``make_rows(top, bottom)`` returns rows ``[top, bottom)`` of ``x`` as ``(B, C, bottom - top, W)``.
        height: the number of rows of ``x``.
        size: the output ``(height, width)``.
        rows_per_chunk: the most rows to ask for at once (more when one output row spans more input rows).

    Returns:
        ``(B, C, size[0], size[1])``: each output cell is the mean of its input cells (adaptive average pooling:
        output row ``i`` covers input rows ``floor(i H / h)`` to ``ceil((i + 1) H / h)``).
    """
    out_h, out_w = size
    if rows_per_chunk >= height:
        return F.interpolate(make_rows(0, height), size=size, mode="area")
    starts = [(i * height) // out_h for i in range(out_h)]
    ends = [-((-(i + 1) * height) // out_h) for i in range(out_h)]
    pieces = []
    first = 0
    while first < out_h:
        last = first + 1
        while last < out_h and ends[last] - starts[first] <= rows_per_chunk:
            last += 1
        top, bottom = starts[first], ends[last - 1]
        # Pool along the width only (the bins are those of the whole image), then average each output row's rows.
        columns = F.adaptive_avg_pool2d(make_rows(top, bottom), (bottom - top, out_w))
        pieces += [columns[:, :, starts[i] - top:ends[i] - top].mean(dim=-2, keepdim=True) for i in range(first, last)]
        first = last
    return torch.cat(pieces, dim=-2)


def bilinear_rows(wide: torch.Tensor, height: int, rows: slice) -> torch.Tensor:
    """Rows ``rows`` of a bilinear upsampling (``align_corners=False``) of a coarse map to ``height`` rows.

    Args:
        wide: the coarse map already upsampled along the width, ``(B, C, h, W)``
            (``F.interpolate(coarse, size=(h, W), mode="bilinear", align_corners=False)``).
        height: the full number of rows ``H``.
        rows: the output rows wanted.

    Returns:
        ``(B, C, len(rows), W)``, equal (to float rounding) to the same rows of
        ``F.interpolate(coarse, size=(H, W), mode="bilinear", align_corners=False)``.
    """
    coarse_h = wide.shape[-2]
    index = torch.arange(rows.start, rows.stop, device=wide.device, dtype=torch.float64)
    source = ((index + 0.5) * (coarse_h / height) - 0.5).clamp_min(0.0)
    low = source.floor().long().clamp_max(coarse_h - 1)
    high = (low + 1).clamp_max(coarse_h - 1)
    weight = (source - low.double()).to(wide.dtype).view(1, 1, -1, 1)
    return wide[:, :, low] * (1.0 - weight) + wide[:, :, high] * weight


def masked_mean_std(
    x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted per-channel mean and standard deviation over H and W.

    Args:
        x: ``(B, C, H, W)``.
        weight: ``(B, 1, H, W)`` non-negative weights (e.g. a mask or ``1 - mask``).
        eps: added to the weight sum and the variance.

    Returns:
        ``(mean, std)``, each ``(B, C, 1, 1)``; std is the biased (population) standard deviation.
    """
    return merge_moments([chunk_moments(x, weight, eps)], eps)


def local_masked_mean_std(
    x: torch.Tensor, weight: torch.Tensor, sigma: float, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian-weighted local mean and standard deviation of the pixels selected by ``weight`` (normalised
    convolution).

    For every pixel ``p``: ``mean(p) = G*(w x)(p) / G*(w)(p)`` and ``var(p) = G*(w x^2)(p) / G*(w)(p) - mean(p)^2``
    with a Gaussian ``G`` of standard deviation ``sigma`` pixels and zero padding, so statistics near the border come
    only from pixels inside the image.

    Args:
        x: ``(B, C, H, W)``.
        weight: ``(B, 1, H, W)`` non-negative.
        sigma: neighbourhood size in pixels (> 0).

    Returns:
        ``(mean, std, density)``: ``(B, C, H, W)``, ``(B, C, H, W)`` and ``(B, 1, H, W)``, where ``density = G*(w)``
        in [0, 1] tells how much selected area supports each pixel's statistics.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}.")
    radius = min(math.ceil(3 * sigma), max(x.shape[-2:]))
    size = 2 * radius + 1
    stacked = torch.cat([weight, x * weight, x * x * weight], dim=1)
    blurred = gaussian_blur2d(stacked, (size, size), (sigma, sigma), border_type="constant")
    c = x.shape[1]
    density = blurred[:, :1]
    denom = density + eps
    mean = blurred[:, 1 : 1 + c] / denom
    var = (blurred[:, 1 + c :] / denom - mean * mean).clamp_min(0.0)
    return mean, (var + eps).sqrt(), density


def transfer_mean_std(
    x: torch.Tensor,
    src_mean: torch.Tensor,
    src_std: torch.Tensor,
    dst_mean: torch.Tensor,
    dst_std: torch.Tensor,
    *,
    mean_strength: float | torch.Tensor = 1.0,
    std_strength: float | torch.Tensor = 1.0,
    max_std_ratio: float = 4.0,
) -> torch.Tensor:
    """Move ``x`` from statistics (src_mean, src_std) towards (dst_mean, dst_std), per channel.

    ``out = (x - src_mean) * ratio + src_mean + mean_strength * (dst_mean - src_mean)`` with
    ``ratio = (dst_std / src_std) ** std_strength`` clamped to ``[1 / max_std_ratio, max_std_ratio]``. With both
    strengths 1 this is the classic ``(x - mu_s) / sd_s * sd_d + mu_d`` (PHNet's eq. 5). Statistics broadcast against
    ``x`` (``(B, C, 1, 1)`` for global, ``(B, C, H, W)`` for local); strengths may be per-channel tensors.
    """
    ratio = (dst_std / src_std.clamp_min(1e-6)) ** std_strength
    ratio = ratio.clamp(1.0 / max_std_ratio, max_std_ratio)
    return (x - src_mean) * ratio + src_mean + mean_strength * (dst_mean - src_mean)


