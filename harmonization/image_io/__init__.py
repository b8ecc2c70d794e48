"""Conversions between what users hand us (files, PIL images, NumPy arrays, Gradio editor values) and tensors.

This is the only part of the package that touches PIL or NumPy (besides the corpus builder and the metrics'
"dovenet" convention). Everything it returns follows the package's tensor conventions:

- images: ``(1, 3, H, W)`` float32 RGB in ``[0, 1]``, always derived from an 8-bit RGB version of the input so that
  "unchanged" pixels can be compared bit for bit with :func:`load_rgb8`;
- masks: ``(1, 1, H, W)`` float32 in ``[0, 1]``, 1 = the region to harmonize.

:mod:`.core` reads and writes images (files checked from their header, large images converted a band of rows at a
time); :mod:`.editor` handles Gradio image-editor values.
"""

from __future__ import annotations

from .core import (
    MAX_PIXELS,
    ImageInput,
    ImageReadError,
    MaskInput,
    PILImage,
    image_size,
    load_image,
    load_mask,
    load_rgb8,
    mask_tensor_to_pil,
    resize_mask8,
    resize_rgb8,
    rgb8_to_tensor,
    tensor_to_pil,
    tensor_to_rgb8,
    write_test_composite,
)
from .editor import (
    DISPLAY_LONG_SIDE,
    editor_display_copy,
    editor_display_size,
    editor_to_image_and_mask,
    mask_to_editor_layer,
    pad_editor_layer_file,
    strokes_box,
)

__all__ = [
    "PILImage",
    "ImageInput",
    "MaskInput",
    "ImageReadError",
    "load_rgb8",
    "rgb8_to_tensor",
    "load_image",
    "load_mask",
    "tensor_to_rgb8",
    "tensor_to_pil",
    "mask_tensor_to_pil",
    "editor_to_image_and_mask",
    "mask_to_editor_layer",
    "pad_editor_layer_file",
    "editor_display_copy",
    "editor_display_size",
    "DISPLAY_LONG_SIDE",
    "strokes_box",
    "image_size",
    "resize_rgb8",
    "resize_mask8",
    "MAX_PIXELS",
    "write_test_composite",
]
