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

import torch
import torch.nn.functional as F

from ..ops.color import lab_to_rgb, local_masked_mean_std, masked_mean_std, rgb_to_lab, transfer_mean_std
from ..ops.mask import check_image, check_mask, mask_bbox
from .registry import check_strength

__all__ = ["global_transfer", "local_transfer", "DEFAULT_STRENGTH"]

#: Default strengths (chosen by eye on portraits pasted into other scenes, see the README): the lightness mean moves
#: fully, the colour cast (a, b means) most of the way, while contrast moves only part of the way so a subject keeps
#: its own shading.
DEFAULT_STRENGTH = 1.0
_MEAN_WEIGHTS = (0.5, 0.5, 0.5)  # L, a, b
_STD_WEIGHTS = (0.3, 0.3, 0.3)


def _strengths(strength: float, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    strength = check_strength(strength)
    mean = torch.tensor(_MEAN_WEIGHTS, dtype=like.dtype, device=like.device).view(1, 3, 1, 1) * strength
    std = torch.tensor(_STD_WEIGHTS, dtype=like.dtype, device=like.device).view(1, 3, 1, 1) * strength
    return mean, std


def global_transfer(composite: torch.Tensor, mask: torch.Tensor, *, strength: float = DEFAULT_STRENGTH) -> torch.Tensor:
    """Global Lab mean/std transfer from the background to the foreground.

    Args:
        composite: ``(B, 3, H, W)`` float RGB in [0, 1].
        mask: ``(B, 1, H, W)`` in [0, 1] (the region to harmonize; binarised by the caller).
        strength: 0 = unchanged, 1 = default transfer, up to 2 = exaggerated.

    Returns:
        ``(B, 3, H, W)`` float RGB in [0, 1]: the colour transform applied to the whole image.
    """
    check_image(composite, "composite")
    check_mask(mask, composite)
    lab = rgb_to_lab(composite)
    fg_mean, fg_std = masked_mean_std(lab, mask)
    bg_mean, bg_std = masked_mean_std(lab, 1.0 - mask)
    mean_w, std_w = _strengths(strength, lab)
    out = transfer_mean_std(lab, fg_mean, fg_std, bg_mean, bg_std, mean_strength=mean_w, std_strength=std_w)
    return lab_to_rgb(out, clip=True)


def local_transfer(
    composite: torch.Tensor,
    mask: torch.Tensor,
    *,
    strength: float = DEFAULT_STRENGTH,
    radius: float = 0.5,
    work_size: int = 128,
) -> torch.Tensor:
    """Lab mean/std transfer with background statistics taken from each pixel's neighbourhood.

    Args:
        composite: ``(B, 3, H, W)`` float RGB in [0, 1] (any size; statistics are computed at ``work_size``).
        mask: ``(B, 1, H, W)`` in [0, 1].
        strength: as in :func:`global_transfer`.
        radius: neighbourhood size as a fraction of the object's larger bounding-box side (Gaussian sigma).
        work_size: long side, in pixels, of the grid on which the smooth statistics maps are computed.

    Returns:
        ``(B, 3, H, W)`` float RGB in [0, 1].
    """
    check_image(composite, "composite")
    check_mask(mask, composite)
    if radius <= 0:
        raise ValueError(f"radius must be positive (a fraction of the object's size, e.g. 0.5); got {radius}.")
    height, width = composite.shape[-2:]
    lab = rgb_to_lab(composite)
    fg_mean, fg_std = masked_mean_std(lab, mask)
    bg_mean, bg_std = masked_mean_std(lab, 1.0 - mask)

    scale = min(1.0, work_size / max(height, width))
    small_size = (max(1, round(height * scale)), max(1, round(width * scale)))
    # Background-only averages on the coarse grid, so object colours never leak into the background statistics.
    bg_small = F.interpolate(1.0 - mask, size=small_size, mode="area")
    lab_small = F.interpolate(lab * (1.0 - mask), size=small_size, mode="area") / bg_small.clamp_min(1e-6)
    outs = []
    for i in range(composite.shape[0]):
        box = mask_bbox(mask[i : i + 1])
        extent = max(box[2] - box[0], box[3] - box[1]) if box is not None else max(height, width)
        sigma = max(1.0, radius * extent * scale)
        mean_l, std_l, density = local_masked_mean_std(lab_small[i : i + 1], bg_small[i : i + 1], sigma)
        # Confidence in the local estimate grows with the background area supporting it.
        confidence = density / (density + 0.02)
        mean_l = confidence * mean_l + (1 - confidence) * bg_mean[i : i + 1]
        std_l = confidence * std_l + (1 - confidence) * bg_std[i : i + 1]
        maps = F.interpolate(torch.cat([mean_l, std_l], dim=1), size=(height, width), mode="bilinear",
                             align_corners=False)
        outs.append(maps)
    maps = torch.cat(outs, dim=0)
    mean_w, std_w = _strengths(strength, lab)
    out = transfer_mean_std(lab, fg_mean, fg_std, maps[:, :3], maps[:, 3:], mean_strength=mean_w, std_strength=std_w)
    return lab_to_rgb(out, clip=True)
