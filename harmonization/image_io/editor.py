"""Gradio image-editor values <-> images and masks: the editor's ``{"background", "layers", "composite"}`` split
into the uploaded image and the painted mask, and masks turned into brush layers the editor shows aligned.

Phone photos (up to the 40-megapixel limit) do not fit the editor's canvas (the layers the app sends are padded to
it): the editor then shows a display copy (:func:`editor_display_copy`, long side :data:`DISPLAY_LONG_SIDE`) and
the server keeps the full-resolution file; :func:`editor_to_image_and_mask` given that file returns it with the
painted mask scaled up to it, so compose and results keep the full resolution."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .core import _open, _unwrap, load_rgb8, mask_tensor_to_pil, resize_mask8

__all__ = ["DISPLAY_LONG_SIDE", "strokes_box", "editor_display_copy", "editor_display_size", "editor_to_image_and_mask",
           "mask_to_editor_layer", "pad_editor_layer_file"]

#: The long side of the editor's display copy of an image that does not fit its canvas (4 MP at most: the browser
#: draws it quickly, brush strokes stay precise enough, and the mask is scaled up to the full image smoothly).
DISPLAY_LONG_SIDE = 2048
#: How far a display copy may differ from the full image shrunk to the same thumbnail (mean of 0..255 levels):
#: resampling differs by a level or two; another photo by tens.
_SAME_PICTURE_LEVELS = 6.0


def editor_display_size(size: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` at which the editor shows an image of ``size=(width, height)``.

    Its own size when it fits ``canvas`` (the editor's ``canvas_size``), else scaled (aspect kept) so that its long
    side is :data:`DISPLAY_LONG_SIDE` and it fits ``canvas``.
    """
    width, height = size
    if width <= canvas[0] and height <= canvas[1]:
        return width, height
    scale = min(DISPLAY_LONG_SIDE / max(width, height), canvas[0] / width, canvas[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def editor_display_copy(rgb8: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """The image the editor shows for ``rgb8`` (``(H, W, 3)`` uint8): itself when it fits ``canvas``, else a copy
    at :func:`editor_display_size` (antialiased)."""
    size = editor_display_size((rgb8.shape[1], rgb8.shape[0]), canvas)
    if size == (rgb8.shape[1], rgb8.shape[0]):
        return rgb8
    return np.asarray(Image.fromarray(rgb8).resize(size, Image.BILINEAR, reducing_gap=2.0))


def strokes_box(mask8: np.ndarray) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` (``x1``, ``y1`` exclusive) around the painted pixels (>= 128) of an ``(H, W)``
    uint8 mask: a rough rectangle drawn with the brush around an object becomes the box of the any-object mask.

    Raises:
        ValueError: nothing painted.
    """
    ys, xs = np.nonzero(np.asarray(mask8) >= 128)
    if xs.size == 0:
        raise ValueError("No strokes painted: draw a rough box (or scribble) around the object with the brush first.")
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _thumbnail(rgb8: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(rgb8).resize((32, 32), Image.BOX, reducing_gap=2.0), dtype=np.float32)


def _is_display_copy(shown: np.ndarray, full: np.ndarray) -> bool:
    """Whether ``shown`` is ``full`` at display size: same aspect (to a pixel of rounding) and the same picture."""
    (h, w), (fh, fw) = shown.shape[:2], full.shape[:2]
    if w > fw or h > fh or abs(w * fh / fw - h) > 1.0 or abs(h * fw / fh - w) > 1.0:
        return False
    return float(np.abs(_thumbnail(shown) - _thumbnail(full)).mean()) <= _SAME_PICTURE_LEVELS


def mask_to_editor_layer(mask: torch.Tensor, color: tuple[int, int, int] = (255, 45, 111),
                         canvas: tuple[int, int] | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """A mask as an ImageEditor brush layer: the brush colour with the mask as alpha.

    Gradio's ``ImageEditor`` draws a layer sent by the app centred on a frame of its ``canvas_size`` whose top-left
    corner is the image's; a layer of exactly ``canvas`` size with the mask in its top-left corner is therefore
    shown aligned with the image. :func:`editor_to_image_and_mask` crops such layers back to the image.

    Args:
        mask: ``(1, 1, H, W)`` float in [0, 1].
        color: RGB of the painted strokes (the editor's brush colour).
        canvas: ``(width, height)`` of the editor's ``canvas_size`` (>= the mask's size), or ``None`` for a layer
            of the mask's own size.
        size: ``(width, height)`` the editor shows the image at (its display copy, see :func:`editor_display_copy`),
            or ``None`` for the mask's own size; the mask is resized to it (antialiased).

    Returns:
        ``(H, W, 4)`` uint8, or ``(canvas_height, canvas_width, 4)`` with the mask in the top-left corner.

    Raises:
        ValueError: the mask is larger than ``canvas``.
    """
    alpha_image = mask_tensor_to_pil(mask)
    if size is not None and tuple(size) != alpha_image.size:
        alpha_image = alpha_image.resize(tuple(size), Image.BILINEAR, reducing_gap=2.0)
    alpha = np.asarray(alpha_image)
    layer = np.empty((*alpha.shape, 4), dtype=np.uint8)
    layer[..., :3] = np.asarray(color, dtype=np.uint8)
    layer[..., 3] = alpha
    return layer if canvas is None else _pad_to_canvas(layer, canvas)


def _pad_to_canvas(rgba: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """``(H, W, 4)`` uint8 padded (transparent) to ``canvas=(width, height)``, content at the top-left corner."""
    height, width = rgba.shape[:2]
    if width > canvas[0] or height > canvas[1]:
        raise ValueError(f"The image is {width}x{height} px; the editor's canvas holds at most "
                         f"{canvas[0]}x{canvas[1]} px. Downscale the image first.")
    padded = np.zeros((canvas[1], canvas[0], 4), dtype=np.uint8)
    padded[:height, :width] = rgba
    return padded


def pad_editor_layer_file(layer: str | os.PathLike[str], canvas: tuple[int, int], out: str | os.PathLike[str]) -> Path:
    """Write a copy of an RGBA layer PNG padded (transparent) to ``canvas=(width, height)``, content at the top-left.

    For layers given to Gradio's editor with a value (e.g. example rows); see :func:`mask_to_editor_layer`.
    """
    with _open(layer) as image:
        padded = _pad_to_canvas(np.asarray(image.convert("RGBA")), canvas)
    out = Path(out)
    Image.fromarray(padded, mode="RGBA").save(out, format="PNG", optimize=False, compress_level=6)
    return out


def editor_to_image_and_mask(value: Mapping[str, Any] | None, full: Any = None
                             ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Split a ``gr.ImageEditor`` value into the uploaded image and the painted mask.

    Args:
        value: the editor's value ``{"background", "layers", "composite"}`` with ``HxWx3``/``HxWx4`` uint8 arrays
            (or PIL images / file paths), or ``None``.
        full: the full-resolution image the editor shows a display copy of (see :func:`editor_display_copy`), as
            a path, array or PIL image, or ``None``. Used only when the editor's background is that image at
            display size (same aspect, same picture): then the image returned is ``full`` and the mask is scaled
            up to it (bilinear, so its edge stays smooth). Anything else (e.g. the user uploaded another photo
            since) is ignored and the background is returned as it is.

    Returns:
        ``(rgb8, mask8)``: the background (or ``full``) as ``(H, W, 3)`` uint8 (``None`` when nothing was uploaded)
        and the union of the painted layers' alpha channels at that size as ``(H, W)`` uint8 0..255 (``None`` when
        nothing was painted).
    """
    if not value:
        return None, None
    background = value.get("background")
    if background is None:
        background = value.get("composite")
    if background is None:
        return None, None
    rgb8 = load_rgb8(background)
    mask8: np.ndarray | None = None
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        layer = _unwrap(layer)
        if not isinstance(layer, np.ndarray):
            layer = np.asarray(_open(layer) if isinstance(layer, (str, os.PathLike, bytes)) else layer)
        if layer.ndim == 3 and layer.shape[2] == 4:
            alpha = layer[..., 3]
        elif layer.ndim == 3:
            alpha = layer.max(axis=2)
        else:
            alpha = layer
        alpha = alpha.astype(np.uint8)
        height, width = rgb8.shape[:2]
        if alpha.shape[0] >= height and alpha.shape[1] >= width:
            # Gradio's editor keeps layers set by the app at its canvas size, aligned at the top-left corner
            # (see :func:`mask_to_editor_layer`); the image is the top-left part of it.
            alpha = alpha[:height, :width]
        else:
            alpha = resize_mask8(alpha, (width, height))
        mask8 = alpha if mask8 is None else np.maximum(mask8, alpha)
    if mask8 is not None and not mask8.any():
        mask8 = None
    if full is not None:
        full_rgb8 = load_rgb8(full)
        if _is_display_copy(rgb8, full_rgb8):
            if mask8 is not None and mask8.shape != full_rgb8.shape[:2]:
                size = (full_rgb8.shape[1], full_rgb8.shape[0])
                mask8 = np.asarray(Image.fromarray(mask8).resize(size, Image.BILINEAR))
            rgb8 = full_rgb8
    return rgb8, mask8
