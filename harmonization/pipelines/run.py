"""Running a registered method on tensors: input validation, option checks, the binarised mask, the soft blend.

This is the core every front end calls (:func:`harmonization.harmonize` for PIL/arrays/files, the app, the CLI,
the evaluator): one place decides what a method receives and what comes back.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch

from ..image_io import MAX_PIXELS
from ..ops.color import row_chunks
from ..ops.mask import binarize, blend, check_image, check_mask, feather
from .registry import get_method

__all__ = ["MAX_FEATHER_RADIUS", "MIN_SIDE", "ProgressFn", "harmonize_tensor", "validate_inputs"]

MIN_SIDE = 16
MAX_FEATHER_RADIUS = 256.0
"""The widest feather of the mask edge, in pixels (the blur's cost grows with it)."""
ProgressFn = Callable[[float, str], None]


def validate_inputs(image: torch.Tensor, mask: torch.Tensor) -> None:
    """Check a composite/mask pair before harmonizing.

    Args:
        image: ``(1, 3, H, W)`` float in [0, 1].
        mask: ``(1, 1, H, W)`` in [0, 1].

    Raises:
        ValueError: image under 16 px or over 40 megapixels, values that are not finite, no region marked, or a
            mask covering everything.
    """
    check_image(image, "composite")
    check_mask(mask, image)
    height, width = image.shape[-2:]
    if min(height, width) < MIN_SIDE:
        raise ValueError(
            f"The image is {width}x{height} px; both sides must be at least {MIN_SIDE} px. Use a larger image."
        )
    if height * width > MAX_PIXELS:
        raise ValueError(
            f"The image is {width}x{height} px ({height * width / 1e6:.2f} megapixels); the limit is "
            f"{MAX_PIXELS / 1e6:.0f} megapixels. Downscale it first."
        )
    chunks = row_chunks(height, width)  # band by band: no whole-image boolean temporaries
    for name, tensor in (("image", image), ("mask", mask)):
        if not all(bool(torch.isfinite(tensor[:, :, rows]).all()) for rows in chunks):
            raise ValueError(f"The {name} holds NaN or infinite values; expected finite values in [0, 1].")
    if not any(bool((mask[:, :, rows] >= 0.5).any()) for rows in chunks):
        raise ValueError(
            "The mask is empty: no pixel is marked (values >= 0.5). Paint over the object you want to harmonize."
        )
    if all(bool((mask[:, :, rows] >= 0.5).all()) for rows in chunks):
        raise ValueError(
            "The mask covers the whole image, so there is no background to take the light and colour from. "
            "Paint only the object you want to harmonize."
        )


def _check_feather(radius: float) -> float:
    if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius) \
            or not 0.0 <= radius <= MAX_FEATHER_RADIUS:
        raise ValueError(f"feather_radius must be a number of pixels in [0, {MAX_FEATHER_RADIUS:g}]; got {radius!r}.")
    return float(radius)


def harmonize_tensor(
    image: torch.Tensor,
    mask: torch.Tensor,
    method: str = "local",
    *,
    feather_radius: float = 0.0,
    progress: ProgressFn | None = None,
    **options: Any,
) -> torch.Tensor:
    """Harmonize on tensors: ``(1, 3, H, W)`` float RGB in [0, 1] and ``(1, 1, H, W)`` mask in [0, 1].

    For photo methods the network or transfer sees the binarised mask (``>= 0.5``) and the result is blended with the
    (optionally feathered) soft mask, so pixels where the mask is 0 are returned bit-identical. Painterly methods
    receive the soft mask and ``progress`` and return their final image.

    Raises:
        ValueError: bad inputs (see :func:`validate_inputs`), unknown method, unknown options or option values of
            the wrong type, a feather radius out of range.

    Returns:
        ``(1, 3, H, W)`` float RGB in [0, 1] on the input's device.
    """
    validate_inputs(image, mask)
    feather_radius = _check_feather(feather_radius)
    spec = get_method(method)
    spec.check_options(options)
    if spec.family == "painterly":
        return spec.run(image, mask, progress=progress, **options)
    prediction = spec.run(image, binarize(mask), **options)
    soft = feather(mask, feather_radius) if feather_radius > 0 else mask
    return _blend_in_bands(prediction.to(image.dtype), image, soft)


def _shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _blend_in_bands(prediction: torch.Tensor, image: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    """:func:`~harmonization.ops.mask.blend` a band of rows at a time, written into the prediction when it is a
    tensor of its own (the method's fresh output), so a large image needs no whole-image temporaries. Each pixel is
    blended on its own: the result is the one-piece blend's, bit for bit."""
    chunks = row_chunks(*image.shape[-2:])
    if len(chunks) == 1 or torch.is_grad_enabled() and prediction.requires_grad:
        return blend(prediction, image, soft)
    own = prediction.shape == image.shape and not any(_shares_memory(prediction, t) for t in (image, soft))
    out = prediction if own else torch.empty_like(image)
    # A network's prediction is made under inference mode: it can be written to only there.
    with torch.inference_mode() if out.is_inference() else contextlib.nullcontext():
        for rows in chunks:
            out[:, :, rows] = blend(prediction[:, :, rows], image[:, :, rows], soft[:, :, rows])
    return out
