"""Pure mask operations on tensors: checks, binarisation, dilation, feathering and blending.

Masks are ``(B, 1, H, W)`` float tensors in ``[0, 1]`` where 1 marks the region to harmonize.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, guided_blur

from .checks import check_shapes
from .color import local_masked_mean_std

__all__ = ["HARD_TOLERANCE", "check_image", "check_mask", "binarize", "dilate", "erode", "edge_band", "snap_hard",
           "feather", "blend", "mask_bbox", "refine_mask_edges"]

HARD_TOLERANCE = 0.5 / 255.0
"""Alpha values this close to 0 or 1 are taken as exactly 0 or 1 (half an 8-bit level)."""


def check_image(image: torch.Tensor, name: str = "image") -> None:
    """Raise unless ``image`` is a floating ``(B, 3, H, W)`` tensor."""
    check_shapes(**{name: (image, "B 3 H W")})


def check_mask(mask: torch.Tensor, image: torch.Tensor | None = None, name: str = "mask") -> None:
    """Raise unless ``mask`` is a floating ``(B, 1, H, W)`` tensor matching ``image``'s batch and size."""
    if image is None:
        check_shapes(**{name: (mask, "B 1 H W")})
    else:
        check_shapes(**{"the image": (image, "B * H W"), name: (mask, "B 1 H W")})


def binarize(mask: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Hard mask: 1 where ``mask >= threshold``, else 0. Same shape and dtype as ``mask``."""
    return (mask >= threshold).to(mask.dtype)


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Grow a mask by ``radius`` pixels with a square structuring element (max filter).

    Args:
        mask: ``(B, 1, H, W)`` in [0, 1].
        radius: pixels to grow; 0 returns the mask unchanged.
    """
    if radius <= 0:
        return mask
    size = 2 * radius + 1  # a square element is separable: rows then columns (2k instead of k^2 comparisons)
    rows = F.max_pool2d(mask, kernel_size=(size, 1), stride=1, padding=(radius, 0))
    return F.max_pool2d(rows, kernel_size=(1, size), stride=1, padding=(0, radius))


def feather(mask: torch.Tensor, radius: float) -> torch.Tensor:
    """Soften a mask's edge with a Gaussian of standard deviation ``radius / 2`` pixels.

    The result stays 0 wherever ``mask`` was 0 (the blur is taken of the mask and then multiplied by the blurred
    support), so feathering never reaches background pixels the mask excludes: the edge fades inwards.

    Args:
        mask: ``(B, 1, H, W)`` in [0, 1].
        radius: width of the fade in pixels; 0 returns the mask unchanged.
    """
    if radius <= 0:
        return mask
    sigma = max(radius / 2.0, 1e-3)
    size = 2 * math.ceil(3 * sigma) + 1
    soft = gaussian_blur2d(erode(mask, math.ceil(radius / 2)), (size, size), (sigma, sigma), border_type="replicate")
    return torch.minimum(soft, mask)


def blend(foreground: torch.Tensor, background: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``foreground * mask + background * (1 - mask)``; exact ``background`` wherever ``mask == 0``.

    Shapes: foreground and background ``(B, 3, H, W)``; mask ``(B, 1, H, W)``.
    """
    out = torch.lerp(background, foreground, mask)
    return torch.where(mask > 0, out, background)


def mask_bbox(mask: torch.Tensor, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """Bounding box ``(top, left, bottom, right)`` (exclusive ends) of ``mask[0, 0] >= threshold``, or None."""
    hard = mask[0, 0] >= threshold
    rows = torch.nonzero(hard.any(dim=1)).flatten()
    cols = torch.nonzero(hard.any(dim=0)).flatten()
    if rows.numel() == 0:
        return None
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Shrink a mask by ``radius`` pixels with a square structuring element (min filter); ``(B, 1, H, W)``."""
    if radius <= 0:
        return mask
    return -dilate(-mask, radius)


def edge_band(hard: torch.Tensor, radius: int) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: the pixels within ``radius`` px (square neighbourhood) of a binary mask's edge, on both
    sides."""
    return (dilate(hard, radius) - erode(hard, radius)) > 0


def snap_hard(alpha: torch.Tensor) -> torch.Tensor:
    """``alpha`` with values within :data:`HARD_TOLERANCE` of 0 or 1 set to exactly 0 or 1."""
    return torch.where(alpha <= HARD_TOLERANCE, 0.0, torch.where(alpha >= 1.0 - HARD_TOLERANCE, 1.0, alpha))


def _coarse_local_mean(x: torch.Tensor, weight: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~harmonization.ops.color.local_masked_mean_std` (mean and density only) on a grid ``sigma / 3`` times
    coarser, upsampled bilinearly: the statistics are smooth at that scale and the blur is far cheaper there.

    The coarse cells hold the weighted mean of ``x`` and the mean weight, so ``x * weight`` is area-averaged exactly.
    """
    factor = max(1, int(sigma // 3))
    if factor == 1:
        mean, _, density = local_masked_mean_std(x, weight, sigma)
        return mean, density
    summed = F.avg_pool2d(x * weight, factor, ceil_mode=True)
    coarse_weight = F.avg_pool2d(weight, factor, ceil_mode=True)
    coarse_x = summed / coarse_weight.clamp_min(1e-6)
    mean, _, density = local_masked_mean_std(coarse_x, coarse_weight, sigma / factor)
    up = torch.cat([mean, density], dim=1)
    up = F.interpolate(up, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return up[:, :-1], up[:, -1:]


def refine_mask_edges(image: torch.Tensor, mask: torch.Tensor, band: int, *, softness: float = 0.02,
                      guided_eps: float = 1e-3, soft_radius: int | None = None) -> torch.Tensor:
    """Snap a rough brush mask to the image's edges, with a narrow soft edge and a solid interior.

    Inside a band of ``band`` pixels on each side of the painted edge, every pixel is given to the object or the
    background by its colour distance to the local mean colour of the sure object (the mask eroded by ``band``) and of
    the sure background (outside the mask dilated by ``band``), both Gaussian-weighted over about ``2 * band`` pixels;
    the decision is smoothed with a guided filter (the image as guide) and then made binary at 0.5, so the refined
    mask is solid: 1 on the object, 0 off it. Only its new edge is soft, over ``soft_radius`` pixels on each side
    (a guided filter of the binary decision: crisp where the photo's edge is crisp). Pixels farther than ``band`` from
    the painted edge keep the painted value, and so do pixels with no sure object or no sure background within the
    colour window (a stroke thinner than ``2 * band`` stays as painted, with the same narrow soft edge): refining
    never turns a solid painted region semi-transparent.

    Args:
        image: ``(B, 3, H, W)`` float RGB in [0, 1] (the guide).
        mask: ``(B, 1, H, W)`` in [0, 1], the rough mask (binarised at 0.5).
        band: half-width in pixels of the uncertain band around the painted edge (>= 1).
        softness: colour-distance scale (squared RGB units) of the object/background decision.
        guided_eps: guided-filter regularisation (squared RGB units; larger = smoother).
        soft_radius: half-width in pixels of the soft edge (>= 1; default ``max(1, band // 8)``: anti-aliasing
            that follows the photo, not a blur: a wider soft edge for pasting is the compositor's, see
            :func:`harmonization.ops.matting.soft_alpha`).

    Returns:
        ``(B, 1, H, W)`` float32 mask in [0, 1]: exactly 0 or 1 except within ``soft_radius`` pixels of the refined
        edge inside the band.
    """
    if band < 1:
        raise ValueError(f"band must be at least 1 pixel; got {band}.")
    soft_radius = max(1, band // 8) if soft_radius is None else soft_radius
    if soft_radius < 1:
        raise ValueError(f"soft_radius must be at least 1 pixel; got {soft_radius}.")
    x = image.float()
    hard = binarize(mask.float())
    sure_fg = erode(hard, band)
    sure_bg = 1.0 - dilate(hard, band)
    uncertain = 1.0 - sure_fg - sure_bg
    sigma = 2.0 * band
    mean_fg, density_fg = _coarse_local_mean(x, sure_fg, sigma)
    mean_bg, density_bg = _coarse_local_mean(x, sure_bg, sigma)
    d_fg = (x - mean_fg).square().sum(1, keepdim=True)
    d_bg = (x - mean_bg).square().sum(1, keepdim=True)
    p_fg = torch.sigmoid((d_bg - d_fg) / softness)
    # Where one side has no sure pixels nearby, keep the painted value.
    known = (density_fg > 1e-3) & (density_bg > 1e-3)
    p_fg = torch.where(known, p_fg, hard)
    labelled = sure_fg + uncertain * p_fg
    radius = max(1, band // 2)
    subsample = max(1, radius // 4)
    smooth = guided_blur(x, labelled, 2 * radius + 1, guided_eps, subsample=subsample, separable=True)
    decided = torch.where(uncertain > 0, torch.where(known, (smooth >= 0.5).float(), hard), hard)
    return _narrow_soft_edge(x, decided, uncertain > 0, soft_radius, guided_eps)


def _narrow_soft_edge(image: torch.Tensor, hard: torch.Tensor, allowed: torch.Tensor, radius: int,
                      eps: float) -> torch.Tensor:
    """A binary mask with a soft edge only within ``radius`` px of its edge and where ``allowed``; 0/1 elsewhere.

    The soft values are a guided filter of ``hard`` (window ``2 * radius + 1``, the image as guide), clamped to
    [0, 1] and snapped to 0 or 1 within 0.5/255. Shapes: image ``(B, 3, H, W)``, hard ``(B, 1, H, W)`` 0/1 float,
    allowed ``(B, 1, H, W)`` bool.
    """
    edge = edge_band(hard, radius)
    soft = snap_hard(guided_blur(image, hard, 2 * radius + 1, eps).clamp(0.0, 1.0))
    return torch.where(edge & allowed, soft, hard)
