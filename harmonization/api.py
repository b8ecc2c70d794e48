"""The public entry points: :func:`harmonize` and :func:`compose`.

They accept user-facing inputs (PIL images, NumPy arrays, file paths), validate them with messages that say what to
do, run a registered method on tensors and return PIL images at the input's full resolution.
"""

from __future__ import annotations

from typing import Any

from .image_io import (
    MAX_PIXELS,
    ImageInput,
    MaskInput,
    PILImage,
    load_image,
    load_mask,
    load_rgb8,
    mask_tensor_to_pil,
    rgb8_to_tensor,
)
from .image_io import tensor_to_pil as _tensor_to_pil
from .pipelines.compose import place_foreground
from .pipelines.run import MIN_SIDE, ProgressFn, harmonize_tensor, validate_inputs

__all__ = ["harmonize", "harmonize_tensor", "compose", "auto_mask", "refine_mask", "validate_inputs", "MIN_SIDE",
           "MAX_PIXELS"]


def harmonize(
    composite: ImageInput,
    mask: MaskInput,
    method: str = "local",
    *,
    feather_radius: float = 0.0,
    progress: ProgressFn | None = None,
    **options: Any,
) -> PILImage:
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
    decontaminate: bool = True,
) -> tuple[PILImage, PILImage]:
    """Cut the masked foreground, scale and place it on the background.

    Args:
        foreground: image holding the object (PIL, array or path).
        foreground_mask: mask of the object in ``foreground`` (same size; soft edges kept as opacity).
        background: the scene (PIL, array or path).
        scale: object height relative to the background's height.
        center: relative ``(x, y)`` position of the object's centre on the background.
        flip: mirror the object left-right.
        decontaminate: clean the edge (default): a binary mask gets a narrow soft edge that follows the photo, and
            partially transparent pixels are pasted with the object's own colour instead of the photo's, which
            still carries the colour of the background the object was cut from (see
            :func:`harmonization.pipelines.compose.place_foreground`). ``False``: the plain cut-and-paste.

    Returns:
        ``(composite, mask)``: the composite before harmonization (RGB) and its mask (L, 255 = pasted object; the
        alpha the object was pasted with), both at the background's resolution. Where the mask is 0 the composite
        is the background's pixel.
    """
    fg = load_image(foreground)
    fg_mask = load_mask(foreground_mask, size=(fg.shape[-1], fg.shape[-2]))
    bg = load_image(background)
    composite, mask = place_foreground(fg, fg_mask, bg, scale=scale, center=center, flip=flip,
                                       decontaminate=decontaminate)
    return _tensor_to_pil(composite), mask_tensor_to_pil(mask)


def auto_mask(
    image: ImageInput,
    box: tuple[float, float, float, float] | None = None,
    *,
    scribbles: MaskInput | None = None,
    background_scribbles: MaskInput | None = None,
    progress: ProgressFn | None = None,
) -> PILImage:
    """Automatic subject mask: a person by default, any object from a rough box and/or scribbles.

    Without ``box`` and scribbles it runs the people model (MediaPipe selfie segmentation, offline with torch) and
    keeps the main person or people only (no stray islands, no faint halo). With a box or object scribbles it cuts
    out whatever object they mark, by GrabCut colour-model segmentation on a small copy of the photo brought back to
    full resolution edge-aware (see :func:`harmonization.pipelines.segment.object_mask`).

    Args:
        image: the photo (PIL, array, path).
        box: ``(x0, y0, x1, y1)`` around the object, in the photo's pixel coordinates (x right, y down; ``(x1,
            y1)`` exclusive, either corner first; clipped to the photo). A loose box is fine: nothing outside it
            becomes object.
        scribbles: object strokes, a mask of the photo's size (PIL, array, path; painted / nonzero >= 0.5 = on the
            object; an RGBA brush layer counts by its alpha). They seed the object's colour and always stay object;
            with no box they alone say where the object is.
        background_scribbles: background strokes, the same kind of mask (pixels that must not be object).
        progress: called as ``progress(fraction, message)`` with fractions rising from 0 to 1 (a 20-megapixel photo
            takes seconds).

    Returns:
        8-bit greyscale PIL mask at the image's size (255 = subject, narrow soft edge, 0 elsewhere).

    Raises:
        ValueError: the image is unreadable, a box or scribble does not fit the image, or nothing was found (no
            person for the people model; no object in the box / at the strokes).
    """
    report = progress or (lambda fraction, message: None)

    def stage(start: float, stop: float) -> ProgressFn:
        return lambda fraction, message: report(start + (stop - start) * fraction, message)

    report(0.0, "Reading the photo")
    tensor = load_image(image)
    size = (tensor.shape[-1], tensor.shape[-2])
    if box is None and scribbles is None and background_scribbles is None:
        from .pipelines.subject import person_mask

        mask = person_mask(tensor, progress=stage(0.05, 0.97))
    else:
        from .pipelines.segment import object_mask

        on_object = None if scribbles is None else load_mask(scribbles, size=size)
        on_background = None if background_scribbles is None else load_mask(background_scribbles, size=size)
        mask = object_mask(tensor, box, object_strokes=on_object, background_strokes=on_background,
                           progress=stage(0.05, 0.97))
    out = mask_tensor_to_pil(mask)
    report(1.0, "Mask ready")
    return out


def refine_mask(image: ImageInput, mask: MaskInput, band: int | None = None) -> PILImage:
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
