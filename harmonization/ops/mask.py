"""Pure mask operations on tensors: checks, binarisation, dilation, feathering and blending.

Masks are ``(B, 1, H, W)`` float tensors in ``[0, 1]`` where 1 marks the region to harmonize.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d

__all__ = ["check_image", "check_mask", "binarize", "dilate", "feather", "blend", "mask_bbox"]


def check_image(image: torch.Tensor, name: str = "image") -> None:
    """Raise unless ``image`` is a floating ``(B, 3, H, W)`` tensor."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(image).__name__}.")
    if image.ndim != 4 or image.shape[1] != 3 or not image.is_floating_point():
        raise ValueError(
            f"{name} must be a float tensor of shape (B, 3, H, W); got {tuple(image.shape)} {image.dtype}."
        )


def check_mask(mask: torch.Tensor, image: torch.Tensor | None = None, name: str = "mask") -> None:
    """Raise unless ``mask`` is a floating ``(B, 1, H, W)`` tensor matching ``image``'s batch and size."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor; got {type(mask).__name__}.")
    if mask.ndim != 4 or mask.shape[1] != 1 or not mask.is_floating_point():
        raise ValueError(f"{name} must be a float tensor of shape (B, 1, H, W); got {tuple(mask.shape)} {mask.dtype}.")
    if image is not None and (mask.shape[0] != image.shape[0] or mask.shape[-2:] != image.shape[-2:]):
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} does not match the image of shape {tuple(image.shape)}; "
            "they need the same batch size, height and width."
        )


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
    return F.max_pool2d(mask, kernel_size=2 * radius + 1, stride=1, padding=radius)


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
    eroded = -F.max_pool2d(-mask, kernel_size=2 * math.ceil(radius / 2) + 1, stride=1, padding=math.ceil(radius / 2))
    soft = gaussian_blur2d(eroded, (size, size), (sigma, sigma), border_type="replicate")
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
