"""The public entry points: :func:`harmonize` and :func:`compose`.

They accept user-facing inputs (PIL images, NumPy arrays, file paths), validate them with messages that say what to
do, run a registered method on tensors and return PIL images at the input's full resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from .image_io import (
    MAX_PIXELS,
    ImageInput,
    MaskInput,
    load_image,
    load_mask,
    load_rgb8,
    mask_tensor_to_pil,
    rgb8_to_tensor,
)
from .image_io import tensor_to_pil as _tensor_to_pil
from .ops.mask import binarize, blend, feather
from .pipelines.compose import place_foreground
from .pipelines.registry import get_method

__all__ = ["harmonize", "harmonize_tensor", "compose", "auto_mask", "refine_mask", "validate_inputs", "MIN_SIDE",
           "MAX_PIXELS"]

MIN_SIDE = 16
ProgressFn = Callable[[float, str], None]


def validate_inputs(image: torch.Tensor, mask: torch.Tensor) -> None:
    """Check a composite/mask pair before harmonizing.

    Args:
        image: ``(1, 3, H, W)`` float in [0, 1].
        mask: ``(1, 1, H, W)`` in [0, 1].

    Raises:
        ValueError: image under 16 px or over 40 megapixels, no region marked, or a mask covering everything.
    """
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
    hard = mask >= 0.5
    if not bool(hard.any()):
        raise ValueError(
            "The mask is empty: no pixel is marked (values >= 0.5). Paint over the object you want to harmonize."
        )
    if bool(hard.all()):
        raise ValueError(
            "The mask covers the whole image, so there is no background to take the light and colour from. "
            "Paint only the object you want to harmonize."
        )


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

    Returns:
        ``(1, 3, H, W)`` float RGB in [0, 1] on the input's device.
    """
    validate_inputs(image, mask)
    spec = get_method(method)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        known = ", ".join(spec.options) or "none"
        raise ValueError(f"Unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
                         f"known options: {known}.")
    if spec.family == "painterly":
        return spec.run(image, mask, progress=progress, **options)
    prediction = spec.run(image, binarize(mask), **options)
    soft = feather(mask, feather_radius) if feather_radius > 0 else mask
    return blend(prediction.to(image.dtype), image, soft)


def harmonize(
    composite: ImageInput,
    mask: MaskInput,
    method: str = "local",
    *,
    feather_radius: float = 0.0,
    progress: ProgressFn | None = None,
    **options: Any,
) -> Image.Image:
    """Harmonize the masked region of a composite with its background.

    Args:
        composite: PIL image or ``HxWx3`` uint8 array (any PIL mode: RGBA, L, P, CMYK, 16-bit; EXIF orientation is
            applied), or a file path.
        mask: PIL image or ``HxW`` array of the composite's size: bool, uint8 0..255 or float 0..1; soft values
            are allowed (harmonized with the mask binarised at 0.5, blended with the soft mask).
        method: a name from :func:`harmonization.available_methods` (``"global"``, ``"local"``, ...).
        feather_radius: optional extra softening of the mask edge, in pixels (fades inwards only).
        progress: ``progress(fraction, message)`` for long-running methods (painterly).
        **options: method options (e.g. ``strength`` for the classical methods).

    Returns:
        RGB PIL image at the composite's full size. For photo methods every pixel where the mask is 0 is identical
        to the composite's (8-bit RGB) pixel.

    Raises:
        ValueError: unreadable or unsupported inputs, size limits, an empty or all-covering mask, unknown method.

    Example:
        >>> import numpy as np
        >>> image = np.zeros((32, 32, 3), np.uint8); mask = np.zeros((32, 32), bool); mask[8:24, 8:24] = True
        >>> harmonize(image, mask, method="global").size
        (32, 32)
    """
    rgb8 = load_rgb8(composite)
    image = rgb8_to_tensor(rgb8)
    soft = load_mask(mask, size=(rgb8.shape[1], rgb8.shape[0]))
    out = harmonize_tensor(image, soft, method, feather_radius=feather_radius, progress=progress, **options)
    return _tensor_to_pil(out)


def compose(
    foreground: ImageInput,
    foreground_mask: MaskInput,
    background: ImageInput,
    scale: float = 1.0,
    center: tuple[float, float] = (0.5, 0.5),
    flip: bool = False,
) -> tuple[Image.Image, Image.Image]:
    """Cut the masked foreground, scale and place it on the background.

    Args:
        foreground: image holding the object (PIL, array or path).
        foreground_mask: mask of the object in ``foreground`` (same size; soft edges kept as opacity).
        background: the scene (PIL, array or path).
        scale: object height relative to the background's height.
        center: relative ``(x, y)`` position of the object's centre on the background.
        flip: mirror the object left-right.

    Returns:
        ``(composite, mask)``: the naive composite (RGB) and its mask (L, 255 = pasted object), both at the
        background's resolution.
    """
    fg = load_image(foreground)
    fg_mask = load_mask(foreground_mask, size=(fg.shape[-1], fg.shape[-2]))
    bg = load_image(background)
    composite, mask = place_foreground(fg, fg_mask, bg, scale=scale, center=center, flip=flip)
    return _tensor_to_pil(composite), mask_tensor_to_pil(mask)


def auto_mask(image: ImageInput) -> Image.Image:
    """Automatic subject mask for a photo of a person (MediaPipe selfie segmentation, run offline with torch).

    Args:
        image: the photo (PIL, array, path).

    Returns:
        8-bit greyscale PIL mask at the image's size (255 = person, soft edges).

    Raises:
        ValueError: the image is unreadable, or no person was found (the mask would be empty).
    """
    from .pipelines.subject import subject_mask

    tensor = load_image(image)
    mask = subject_mask(tensor)
    if not bool((mask >= 0.5).any()):
        raise ValueError("No person was found in the image; paint the subject with the brush instead.")
    return mask_tensor_to_pil(mask)


def refine_mask(image: ImageInput, mask: MaskInput, band: int | None = None) -> Image.Image:
    """Snap a rough brush mask to the subject's edges (see :func:`harmonization.pipelines.subject.refine_mask`).

    Args:
        image: the photo the mask was painted on (PIL, array, path).
        mask: the rough mask, same size (binarised at 0.5).
        band: half-width in pixels of the band around the painted edge that may change (default 2 % of the
            long side, at least 4 px).

    Returns:
        8-bit greyscale PIL mask at the image's size (soft edges).
    """
    from .pipelines.subject import refine_mask as refine

    tensor = load_image(image)
    soft = load_mask(mask, size=(tensor.shape[-1], tensor.shape[-2]))
    return mask_tensor_to_pil(refine(tensor, soft, band))
