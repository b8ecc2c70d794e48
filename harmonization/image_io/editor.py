"""Gradio image-editor values <-> images and masks: the editor's ``{"background", "layers", "composite"}`` split
into the uploaded image and the painted mask, and masks turned into brush layers the editor shows aligned."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .core import _open, _unwrap, load_rgb8, mask_tensor_to_pil, resize_mask8

__all__ = ["editor_to_image_and_mask", "mask_to_editor_layer", "pad_editor_layer_file"]


def mask_to_editor_layer(mask: torch.Tensor, color: tuple[int, int, int] = (255, 45, 111),
                         canvas: tuple[int, int] | None = None) -> np.ndarray:
    """A mask as an ImageEditor brush layer: the brush colour with the mask as alpha.

    Gradio's ``ImageEditor`` draws a layer sent by the app centred on a frame of its ``canvas_size`` whose top-left
    corner is the image's; a layer of exactly ``canvas`` size with the mask in its top-left corner is therefore
    shown aligned with the image. :func:`editor_to_image_and_mask` crops such layers back to the image.

    Args:
        mask: ``(1, 1, H, W)`` float in [0, 1].
        color: RGB of the painted strokes (the editor's brush colour).
        canvas: ``(width, height)`` of the editor's ``canvas_size`` (>= the mask's size), or ``None`` for a layer
            of the mask's own size.

    Returns:
        ``(H, W, 4)`` uint8, or ``(canvas_height, canvas_width, 4)`` with the mask in the top-left corner.

    Raises:
        ValueError: the mask is larger than ``canvas``.
    """
    alpha = np.asarray(mask_tensor_to_pil(mask))
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


def editor_to_image_and_mask(value: Mapping[str, Any] | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Split a ``gr.ImageEditor`` value into the uploaded image and the painted mask.

    Args:
        value: the editor's value ``{"background", "layers", "composite"}`` with ``HxWx3``/``HxWx4`` uint8 arrays
            (or PIL images / file paths), or ``None``.

    Returns:
        ``(rgb8, mask8)``: the background as ``(H, W, 3)`` uint8 (``None`` when nothing was uploaded) and the union
        of the painted layers' alpha channels as ``(H, W)`` uint8 0..255 (``None`` when nothing was painted).
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
    return rgb8, mask8
