"""Subject masks for the demo: an automatic person mask and edge refinement of a rough brush mask.

- :func:`subject_mask`: MediaPipe's selfie-segmentation network (Apache-2.0, shipped converted in
  ``checkpoints/selfie_segmentation.safetensors``) run with torch, as MediaPipe runs it: the image is resized to
  256x256 (aspect not kept), the person probability is resized back bilinearly. It segments people (portraits,
  upper bodies); for other subjects paint the mask.
- :func:`refine_mask`: :func:`harmonization.ops.mask.refine_mask_edges` with a band scaled to the image size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..hub import load_segmenter
from ..ops.mask import check_image, check_mask, refine_mask_edges

__all__ = ["subject_mask", "refine_mask", "default_band"]


@torch.inference_mode()
def subject_mask(image: torch.Tensor, *, device: str | torch.device | None = None) -> torch.Tensor:
    """Person probability for every pixel.

    Args:
        image: ``(1, 3, H, W)`` float32 RGB in [0, 1].
        device: where the network runs (default CUDA when available).

    Returns:
        ``(1, 1, H, W)`` float32 in [0, 1] on the image's device (1 = person).
    """
    check_image(image, "image")
    model = load_segmenter(device)
    parameter = next(model.parameters())
    height, width = image.shape[-2:]
    size = model.input_size
    x = F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False,
                      antialias=min(height, width) > min(size))
    probability = model(x.clamp(0, 1).to(parameter.device))
    out = F.interpolate(probability.float(), size=(height, width), mode="bilinear", align_corners=False)
    return out.clamp(0.0, 1.0).to(image.device)


def default_band(height: int, width: int) -> int:
    """Band half-width for :func:`refine_mask`: 2 % of the long side, at least 4 px (a brush stroke's slack)."""
    return max(4, math.ceil(0.02 * max(height, width)))


@torch.inference_mode()
def refine_mask(image: torch.Tensor, mask: torch.Tensor, band: int | None = None) -> torch.Tensor:
    """Snap a rough brush mask to the subject's edges (see :func:`harmonization.ops.mask.refine_mask_edges`).

    Args:
        image: ``(1, 3, H, W)`` float32 RGB in [0, 1].
        mask: ``(1, 1, H, W)`` in [0, 1] (binarised at 0.5).
        band: half-width of the uncertain band in pixels; default :func:`default_band`.

    Returns:
        ``(1, 1, H, W)`` float32 soft mask in [0, 1].

    Raises:
        ValueError: the mask is empty or covers the whole image (nothing to refine against).
    """
    check_image(image, "image")
    check_mask(mask, image)
    hard = mask >= 0.5
    if not bool(hard.any()):
        raise ValueError("The mask is empty: paint over the subject first, then refine its edges.")
    if bool(hard.all()):
        raise ValueError("The mask covers the whole image: there is no background to refine the edges against.")
    return refine_mask_edges(image, mask, band or default_band(*image.shape[-2:]))
