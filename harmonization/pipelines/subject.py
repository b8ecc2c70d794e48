"""Subject masks for the demo: an automatic person mask and edge refinement of a rough brush mask.

- :func:`subject_mask`: MediaPipe's selfie-segmentation network (Apache-2.0, shipped converted in
  ``checkpoints/selfie_segmentation.safetensors``) run with torch, as MediaPipe runs it: the image is resized to
  256x256 (aspect not kept), the person probability is resized back bilinearly. It segments people (portraits,
  upper bodies); for other subjects see :func:`harmonization.pipelines.segment.object_mask` (box / scribbles).
- :func:`person_mask`: that probability cleaned up for pasting (:func:`harmonization.pipelines.cleanup.clean_mask`:
  the main person or people only, no stray islands or faint halo, a confident interior exactly 1), or
  :class:`~harmonization.pipelines.cleanup.NoSubjectFoundError` when no person is confidently there. The cleanup runs
  at most :data:`PERSON_WORK_SIDE` pixels on the long side (the network sees 256x256 anyway), so a 20-megapixel
  photo costs one resize.
- :func:`refine_mask`: :func:`harmonization.ops.mask.refine_mask_edges` with a band scaled to the image size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..hub import load_segmenter
from ..ops.mask import check_image, check_mask, refine_mask_edges
from .cleanup import clean_mask
from .run import ProgressFn

__all__ = ["PERSON_WORK_SIDE", "subject_mask", "person_mask", "refine_mask", "default_band"]

#: Long side, in pixels, at which the person mask is cleaned up before it is resized to the photo.
PERSON_WORK_SIDE = 1024
# Resized values this close to 0 or 1 are snapped to it (they round to 0 or 255 in 8 bits).
_SNAP = 0.5 / 255.0
NO_PERSON = ("No person was found in the image; draw a box around the subject (or strokes on it) for the any-object "
             "mask, or paint the subject with the brush.")


def _person_probability(image: torch.Tensor, device: str | torch.device | None) -> torch.Tensor:
    """The network's person probability at its input size, ``(1, 1, 256, 256)`` float32 (aspect not kept)."""
    model = load_segmenter(device)
    parameter = next(model.parameters())
    height, width = image.shape[-2:]
    size = model.input_size
    x = F.interpolate(image.float(), size=size, mode="bilinear", align_corners=False,
                      antialias=min(height, width) > min(size))
    return model(x.clamp(0, 1).to(parameter.device)).float()


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
    height, width = image.shape[-2:]
    probability = _person_probability(image, device)
    out = F.interpolate(probability, size=(height, width), mode="bilinear", align_corners=False)
    return out.clamp(0.0, 1.0).to(image.device)


@torch.inference_mode()
def person_mask(
    image: torch.Tensor,
    *,
    device: str | torch.device | None = None,
    progress: ProgressFn | None = None,
    work_side: int = PERSON_WORK_SIDE,
) -> torch.Tensor:
    """Person mask ready to paste: :func:`subject_mask` without islands, faint areas or a ghosted interior.

    Args:
        image: ``(1, 3, H, W)`` float32 RGB in [0, 1] (batch of one).
        device: where the network runs (default CUDA when available).
        progress: called as ``progress(fraction, message)`` with fractions rising from 0 to 1.
        work_side: long side in pixels at which the cleanup runs (the photo's own size when smaller).

    Returns:
        ``(1, 1, H, W)`` float32 in [0, 1] on the image's device: 1 on the person(s), a narrow soft edge, exactly 0
        elsewhere.

    Raises:
        NoSubjectFoundError: (a ``ValueError``) no confident person region (a landscape, an empty room).
    """
    check_image(image, "image")
    if image.shape[0] != 1:
        raise ValueError(f"person_mask takes one image at a time; got a batch of {image.shape[0]}.")
    report = progress or (lambda fraction, message: None)
    height, width = image.shape[-2:]
    report(0.0, "Finding the person")
    probability = _person_probability(image, device).to(image.device)
    report(0.6, "Cleaning up the mask")
    scale = min(1.0, work_side / max(height, width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    work = F.interpolate(probability, size=size, mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    # The network's probability is bilinear from 256 px: its soft rim is about two of those pixels wide.
    edge = max(2, math.ceil(2.5 * max(size) / min(probability.shape[-2:])))
    cleaned = clean_mask(work, edge=edge, nothing_found=NO_PERSON)
    if size != (height, width):
        report(0.85, "Bringing the mask to full resolution")
        cleaned = F.interpolate(cleaned, size=(height, width), mode="bilinear", align_corners=False)
        cleaned = torch.where(cleaned <= _SNAP, 0.0, torch.where(cleaned >= 1.0 - _SNAP, 1.0, cleaned))
    report(1.0, "Mask ready")
    return cleaned


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
