"""Classical (weight-free) harmonization: colour-statistics transfer in Lab space.

- ``global``: the foreground's per-channel Lab mean and standard deviation are moved to the background's
  (PHNet's eq. 5 applied to pixels).
- ``local``: the same, but the background statistics come from a Gaussian neighbourhood around every pixel
  (normalised convolution over background pixels only, at a scale set by the object's size), so a subject next to
  a dark wall and a bright window takes the light of the side it stands on. Where little background is near, the
  statistics fall back to the global ones.

Both return a prediction of the whole image; the caller blends it with the mask.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ops.color import (
    area_downsample_rows,
    bilinear_rows,
    chunk_moments,
    lab_to_rgb,
    local_masked_mean_std,
    merge_moments,
    rgb_to_lab,
    row_chunks,
    transfer_mean_std,
)
from ..ops.mask import check_image, check_mask, mask_bbox
from .registry import check_strength

__all__ = ["global_transfer", "local_transfer", "DEFAULT_STRENGTH", "MAX_RADIUS", "MIN_WORK_SIZE",
           "MAX_WORK_SIZE"]

#: Default strengths (chosen by eye on portraits pasted into other scenes, see the README): the lightness mean moves
#: fully, the colour cast (a, b means) most of the way, while contrast moves only part of the way so a subject keeps
#: its own shading.
DEFAULT_STRENGTH = 1.0
_MEAN_WEIGHTS = (0.5, 0.5, 0.5)  # L, a, b
_STD_WEIGHTS = (0.3, 0.3, 0.3)
MAX_RADIUS = 1000.0
"""The widest neighbourhood of ``local`` (in object sizes); beyond a few it equals ``global`` anyway."""
MIN_WORK_SIZE, MAX_WORK_SIZE = 8, 512
KEEP_LAB_PIXELS = 20_000_000
"""Up to this many pixels the Lab image is kept, band by band, between the statistics pass and the transfer (240 MB
at the limit), so that it is converted once; larger images convert each band twice (about 45 % more CPU time) to
keep their memory under 2.5 GB."""
"""The range of ``local``'s statistics grid (its long side, in pixels); the blur's cost grows with its square."""


def _strengths(strength: float, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    strength = check_strength(strength)
    mean = torch.tensor(_MEAN_WEIGHTS, dtype=like.dtype, device=like.device).view(1, 3, 1, 1) * strength
    std = torch.tensor(_STD_WEIGHTS, dtype=like.dtype, device=like.device).view(1, 3, 1, 1) * strength
    return mean, std


def _check_local_options(radius: float, work_size: int) -> None:
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) \
            or not 0.0 < radius <= MAX_RADIUS:
        raise ValueError(f"radius must be a number in (0, {MAX_RADIUS:g}] (the neighbourhood as a fraction of the "
                         f"object's size, e.g. 0.5); got {radius!r}.")
    if isinstance(work_size, bool) or not isinstance(work_size, int) \
            or not MIN_WORK_SIZE <= work_size <= MAX_WORK_SIZE:
        raise ValueError(f"work_size must be a whole number of pixels in [{MIN_WORK_SIZE}, {MAX_WORK_SIZE}] (the "
                         f"long side of the statistics grid, e.g. 128); got {work_size!r}.")


def _lab_statistics(composite: torch.Tensor, mask: torch.Tensor, chunks: list[slice]
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor] | None]:
    """Lab mean and std of the object (``mask``) and of the background (``1 - mask``), band by band.

    Returns:
        ``(fg_mean, fg_std, bg_mean, bg_std, bands)``: ``bands`` holds the Lab image band by band when it is at
        most :data:`KEEP_LAB_PIXELS` (the transfer then needs no second conversion), else ``None``. One band is
        exactly the whole-image computation.
    """
    keep = len(chunks) == 1 or composite.shape[0] * composite.shape[-2] * composite.shape[-1] <= KEEP_LAB_PIXELS
    fg_parts, bg_parts, bands = [], [], []
    for rows in chunks:
        lab = rgb_to_lab(composite[:, :, rows])
        weight = mask[:, :, rows]
        fg_parts.append(chunk_moments(lab, weight))
        bg_parts.append(chunk_moments(lab, 1.0 - weight))
        if keep:
            bands.append(lab)
    fg_mean, fg_std = merge_moments(fg_parts)
    bg_mean, bg_std = merge_moments(bg_parts)
    return fg_mean, fg_std, bg_mean, bg_std, bands if keep else None


def _kept_rows(bands: list[torch.Tensor], chunks: list[slice], top: int, bottom: int) -> torch.Tensor:
    """Rows ``[top, bottom)`` of the Lab image kept band by band."""
    pieces = [band[:, :, max(top, rows.start) - rows.start:min(bottom, rows.stop) - rows.start]
              for band, rows in zip(bands, chunks, strict=True) if rows.start < bottom and rows.stop > top]
    return pieces[0] if len(pieces) == 1 else torch.cat(pieces, dim=-2)


def global_transfer(composite: torch.Tensor, mask: torch.Tensor, *, strength: float = DEFAULT_STRENGTH) -> torch.Tensor:
    """Global Lab mean/std transfer from the background to the foreground.

    Large images are converted and transferred in bands of rows (:func:`harmonization.ops.color.row_chunks`), so
    the memory beyond the input and the output stays about constant.

    Args:
        composite: ``(B, 3, H, W)`` float RGB in [0, 1].
        mask: ``(B, 1, H, W)`` in [0, 1] (the region to harmonize; binarised by the caller).
        strength: 0 = unchanged, 1 = default transfer, up to 2 = exaggerated.

    Returns:
        ``(B, 3, H, W)`` float RGB in [0, 1]: the colour transform applied to the whole image.
    """
    check_image(composite, "composite")
    check_mask(mask, composite)
    mean_w, std_w = _strengths(strength, composite)
    chunks = row_chunks(*composite.shape[-2:])
    fg_mean, fg_std, bg_mean, bg_std, bands = _lab_statistics(composite, mask, chunks)
    if len(chunks) == 1:
        out = transfer_mean_std(bands[0], fg_mean, fg_std, bg_mean, bg_std, mean_strength=mean_w,
                                std_strength=std_w)
        return lab_to_rgb(out, clip=True)
    result = torch.empty_like(composite)
    for index, rows in enumerate(chunks):
        lab = bands[index] if bands is not None else rgb_to_lab(composite[:, :, rows])
        out = transfer_mean_std(lab, fg_mean, fg_std, bg_mean, bg_std, mean_strength=mean_w, std_strength=std_w)
        result[:, :, rows] = lab_to_rgb(out, clip=True)
        if bands is not None:
            bands[index] = None  # type: ignore[call-overload]  # free each band once it is used
    return result


def local_transfer(
    composite: torch.Tensor,
    mask: torch.Tensor,
    *,
    strength: float = DEFAULT_STRENGTH,
    radius: float = 0.5,
    work_size: int = 128,
) -> torch.Tensor:
    """Lab mean/std transfer with background statistics taken from each pixel's neighbourhood.

    Large images are processed in bands of rows, as in :func:`global_transfer`.

    Args:
        composite: ``(B, 3, H, W)`` float RGB in [0, 1] (any size; statistics are computed at ``work_size``).
        mask: ``(B, 1, H, W)`` in [0, 1].
        strength: as in :func:`global_transfer`.
        radius: neighbourhood size as a fraction of the object's larger bounding-box side (Gaussian sigma), in
            (0, 1000].
        work_size: long side, in pixels, of the grid on which the smooth statistics maps are computed, 8..512.

    Returns:
        ``(B, 3, H, W)`` float RGB in [0, 1].
    """
    check_image(composite, "composite")
    check_mask(mask, composite)
    _check_local_options(radius, work_size)
    mean_w, std_w = _strengths(strength, composite)
    height, width = composite.shape[-2:]
    chunks = row_chunks(height, width)
    scale = min(1.0, work_size / max(height, width))
    small_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    # Background-only averages on the coarse grid, so object colours never leak into the background statistics.
    bands: list[torch.Tensor] | None = None
    if len(chunks) == 1 or height * width * composite.shape[0] <= KEEP_LAB_PIXELS:
        fg_mean, fg_std, bg_mean, bg_std, bands = _lab_statistics(composite, mask, chunks)
    if len(chunks) == 1:
        lab = bands[0]
        bg_small = F.interpolate(1.0 - mask, size=small_size, mode="area")
        lab_small = F.interpolate(lab * (1.0 - mask), size=small_size, mode="area") / bg_small.clamp_min(1e-6)
    else:
        fg_parts, bg_parts = [], []
        counted = [0]  # rows whose moments are in: bands of the pooling may share a row, count it once

        def background_rows(top: int, bottom: int) -> torch.Tensor:
            weight = mask[:, :, top:bottom]
            if bands is not None:
                band = _kept_rows(bands, chunks, top, bottom)
            else:  # the global statistics in the same pass (one Lab conversion for both)
                band = rgb_to_lab(composite[:, :, top:bottom])
                first = max(top, counted[0]) - top
                if first < bottom - top:
                    fg_parts.append(chunk_moments(band[:, :, first:], weight[:, :, first:]))
                    bg_parts.append(chunk_moments(band[:, :, first:], 1.0 - weight[:, :, first:]))
                    counted[0] = bottom
            background = 1.0 - weight
            return torch.cat([band * background, background], dim=1)

        pooled = area_downsample_rows(background_rows, height, small_size, chunks[0].stop - chunks[0].start)
        if bands is None:
            fg_mean, fg_std = merge_moments(fg_parts)
            bg_mean, bg_std = merge_moments(bg_parts)
        bg_small = pooled[:, 3:]
        lab_small = pooled[:, :3] / bg_small.clamp_min(1e-6)
    small_maps = []
    for i in range(composite.shape[0]):
        box = mask_bbox(mask[i : i + 1])
        extent = max(box[2] - box[0], box[3] - box[1]) if box is not None else max(height, width)
        sigma = max(1.0, radius * extent * scale)
        mean_l, std_l, density = local_masked_mean_std(lab_small[i : i + 1], bg_small[i : i + 1], sigma)
        # Confidence in the local estimate grows with the background area supporting it.
        confidence = density / (density + 0.02)
        mean_l = confidence * mean_l + (1 - confidence) * bg_mean[i : i + 1]
        std_l = confidence * std_l + (1 - confidence) * bg_std[i : i + 1]
        small_maps.append(torch.cat([mean_l, std_l], dim=1))
    if len(chunks) == 1:
        maps = torch.cat([F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
                          for m in small_maps], dim=0)
        out = transfer_mean_std(lab, fg_mean, fg_std, maps[:, :3], maps[:, 3:], mean_strength=mean_w,
                                std_strength=std_w)
        return lab_to_rgb(out, clip=True)
    wide = F.interpolate(torch.cat(small_maps, dim=0), size=(small_size[0], width), mode="bilinear",
                         align_corners=False)
    result = torch.empty_like(composite)
    for index, rows in enumerate(chunks):
        maps = bilinear_rows(wide, height, rows)
        lab = bands[index] if bands is not None else rgb_to_lab(composite[:, :, rows])
        out = transfer_mean_std(lab, fg_mean, fg_std, maps[:, :3], maps[:, 3:], mean_strength=mean_w,
                                std_strength=std_w)
        result[:, :, rows] = lab_to_rgb(out, clip=True)
        if bands is not None:
            bands[index] = None  # type: ignore[call-overload]  # free each band once it is used
    return result
