"""The placement preview of the portrait tab and its default scale, without gradio.

Before Harmonize the page shows where the subject will stand: a low-resolution naive paste of the masked subject on
the background (long side :data:`PREVIEW_LONG_SIDE`), outlined, at the sliders' scale, feet position and flip. It
goes through the same placement as the real run, :func:`~harmonization.pipelines.compose.place_foreground` with
:func:`~harmonization.serving.jobs.center_from_feet` (the plain cut, without the edge clean-up), on small copies:
the geometry is relative (the subject is ``scale`` of the background's height tall, its feet at ``(x, y)`` of the
background), so the subject lands in the preview where it lands in the result, within a pixel of the preview.

The default scale (:func:`default_scale`) keeps the subject's height share of its own photo, clamped to
:data:`DEFAULT_SCALE_RANGE`, and never makes the subject wider than :data:`MAX_WIDTH_SHARE` of the background.

A phone photo shown as a display copy (see :func:`~harmonization.serving.jobs.mask_tool_full`) is previewed from
the copy the editor shows: it is the same picture, and the painted mask lies on it, so the geometry is the same as
the run's on the full-resolution file (which is never decoded for a preview).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from ..image_io import (
    MAX_PIXELS,
    PILImage,
    editor_to_image_and_mask,
    image_size,
    load_mask,
    load_rgb8,
    resize_mask8,
    resize_rgb8,
    rgb8_to_tensor,
    tensor_to_pil,
)
from ..ops.mask import dilate, erode, mask_bbox
from ..pipelines.compose import place_foreground
from .jobs import JobContext, _finite, center_from_feet
from .lanes import torch_threads

__all__ = ["DEFAULT_SCALE_RANGE", "MAX_WIDTH_SHARE", "PREVIEW_LONG_SIDE", "PORTRAIT_WORK_SIDE", "Preview",
           "default_scale", "placement_preview"]

#: The preview's long side in pixels (the background's thumbnail; a smaller background is previewed as it is).
PREVIEW_LONG_SIDE = 512
#: The long side to which the portrait and its mask are reduced before the paste (enough for a subject that fills
#: the preview: at most 1.5 x 512 px tall at the slider's largest scale).
PORTRAIT_WORK_SIDE = 1024
#: The default scale's range (subject height / background height): a subject small in its photo stays visible
#: (0.2), one that fills its photo (a portrait, a full-length shot) stands at 0.6 of the scene, which leaves
#: headroom above it with the feet at the default 0.9 of the height.
DEFAULT_SCALE_RANGE = (0.2, 0.6)
#: The default scale never makes the subject wider than this share of the background's width.
MAX_WIDTH_SHARE = 0.9
#: The page's scale slider's range: the default is kept inside it.
SLIDER_RANGE = (0.1, 1.5)
# Bytes per pixel held while a preview decodes its inputs (8-bit image, PIL's decode, the editor's layers), and a
# fixed part for the small copies.
_BYTES_PER_PIXEL, _FIXED_BYTES = 16, 32 << 20


def default_scale(mask: torch.Tensor, background_size: tuple[int, int] | None = None) -> float | None:
    """The scale the page proposes for a subject: its height share of its own photo, clamped.

    ``share = (box height) / (photo height)``, the box being that of ``mask >= 0.5`` (the box
    :func:`~harmonization.pipelines.compose.place_foreground` scales), clamped to :data:`DEFAULT_SCALE_RANGE`;
    with ``background_size``, lowered so that the subject is at most :data:`MAX_WIDTH_SHARE` of the background's
    width (a wide object on a tall background), but not below the slider's minimum 0.1. Rounded to the slider's
    step (0.01).

    Args:
        mask: ``(1, 1, h, w)`` in [0, 1], the subject's mask on its photo.
        background_size: ``(width, height)`` of the background, or ``None``.

    Returns:
        The scale (subject height / background height), or ``None`` for an empty mask.

    Examples: a subject 300 px tall in a 1000 px photo: 0.3; 900 px: 0.6; 100 px: 0.2. A 400x200 box on a
    1000x1000 background at share 0.5 would be 0.5 x 1000 x 2 = 1000 px wide: lowered to 0.45 (900 px).
    """
    box = mask_bbox(mask)
    if box is None:
        return None
    top, left, bottom, right = box
    low, high = DEFAULT_SCALE_RANGE
    scale = min(max((bottom - top) / mask.shape[-2], low), high)
    if background_size is not None:
        width, height = background_size
        widest = MAX_WIDTH_SHARE * width / height * (bottom - top) / (right - left)
        scale = min(scale, widest)
    scale = min(max(scale, SLIDER_RANGE[0]), SLIDER_RANGE[1])
    return float(int(scale * 100 + 1e-6)) / 100  # down to the slider's step, so the width bound still holds


@dataclass(frozen=True)
class Preview:
    """A placement preview.

    Attributes:
        image: the background's thumbnail with the subject pasted and outlined (RGB, long side at most
            :data:`PREVIEW_LONG_SIDE`).
        scale: the scale it was drawn at.
        default_scale: :func:`default_scale` of the subject on this background.
    """

    image: PILImage
    scale: float
    default_scale: float


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """``(width, height)`` reduced (aspect kept) so that its long side is at most ``long_side``."""
    width, height = size
    factor = min(1.0, long_side / max(width, height))
    return max(1, round(width * factor)), max(1, round(height * factor))


class _Thumbnails:
    """Background thumbnails by file (path, size and modification time): a slider moved over the same background
    decodes it once."""

    def __init__(self, capacity: int = 16) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(path: str, long_side: int) -> tuple[Any, ...]:
        stat = os.stat(path)
        return path, stat.st_size, stat.st_mtime_ns, long_side

    def get(self, key: tuple[Any, ...]) -> torch.Tensor | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: tuple[Any, ...], value: torch.Tensor) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


_THUMBNAILS = _Thumbnails()


def _background_thumbnail(path: str, long_side: int) -> torch.Tensor:
    """``(1, 3, h, w)`` float32 in [0, 1], long side at most ``long_side`` (cached, see :class:`_Thumbnails`)."""
    key = _THUMBNAILS.key(path, long_side)
    cached = _THUMBNAILS.get(key)
    if cached is not None:
        return cached
    rgb8 = load_rgb8(path)
    size = _fit((rgb8.shape[1], rgb8.shape[0]), long_side)
    if size != (rgb8.shape[1], rgb8.shape[0]):
        rgb8 = resize_rgb8(rgb8, size, "bilinear")  # PIL widens the filter when reducing: antialiased
    thumbnail = rgb8_to_tensor(rgb8)
    _THUMBNAILS.put(key, thumbnail)
    return thumbnail


def _outline(composite: torch.Tensor, alpha: torch.Tensor, color: tuple[int, int, int]) -> torch.Tensor:
    """``composite`` with a 2 px line of ``color`` along the pasted subject's edge (where ``alpha`` crosses 0.5),
    so that the subject stands out on a busy or similar-coloured background."""
    hard = (alpha >= 0.5).to(composite.dtype)
    edge = (dilate(hard, 1) - erode(hard, 1)).clamp(0.0, 1.0)
    line = torch.tensor(color, dtype=composite.dtype).view(1, 3, 1, 1) / 255.0
    return composite * (1 - edge) + line * edge


def placement_preview(ctx: JobContext, fg_value: Any, background: Any, scale: float | None, pos_x: float,
                      pos_y: float, flip: bool, *, color: tuple[int, int, int] = (255, 45, 111),
                      long_side: int = PREVIEW_LONG_SIDE) -> Preview | None:
    """The portrait tab's placement preview, before Harmonize.

    The inputs are those of :func:`~harmonization.serving.jobs.run_portrait` (checked the same way: every file
    reference through ``ctx.gate``), except ``scale=None``: draw it at :func:`default_scale`.

    Args:
        fg_value: the portrait editor's value (its image and brush layers).
        background: the background file reference.
        scale: subject height / background height, or ``None`` for the default.
        pos_x, pos_y: where the subject's feet stand, relative to the background.
        flip: mirror the subject left-right.
        color: ``(r, g, b)`` 0-255 of the outline.
        long_side: the preview's long side at most (pixels).

    Returns:
        The :class:`Preview`, or ``None`` while there is nothing to place (no portrait, no background, no mask)
        or an image is over the size limit.

    Raises:
        ValueError: a slider value that is not a finite number, a subject placed entirely outside the background,
            or (:class:`~harmonization.serving.UploadRefusedError`) a file reference the gate refuses.
    """
    pos_x, pos_y = _finite(pos_x, "x"), _finite(pos_y, "y")
    scale = None if scale is None else _finite(scale, "scale")
    if not isinstance(flip, bool):
        raise ValueError(f"flip must be true or false; got {flip!r}.")
    fg_value, background = ctx.gate.editor(fg_value), ctx.gate.file(background)
    portrait_file = None if fg_value is None else fg_value["background"] or fg_value["composite"]
    if portrait_file is None or background is None:
        return None
    (pw, ph), (bw, bh) = image_size(portrait_file), image_size(background)
    if pw * ph > MAX_PIXELS or bw * bh > MAX_PIXELS:
        return None  # the upload check and the run say so
    # Tensors of a few hundred pixels: one torch thread is fastest (several wait on each other on a busy machine).
    with torch_threads(1), ctx.memory.reserve(_FIXED_BYTES + _BYTES_PER_PIXEL * (pw * ph + bw * bh),
                                              on_wait=ctx.wait_message):
        portrait, mask8 = editor_to_image_and_mask(fg_value)
        if mask8 is None:
            return None
        size = _fit((portrait.shape[1], portrait.shape[0]), PORTRAIT_WORK_SIDE)
        if size != (portrait.shape[1], portrait.shape[0]):
            portrait, mask8 = resize_rgb8(portrait, size, "bilinear"), resize_mask8(mask8, size)
        subject, mask = rgb8_to_tensor(portrait), load_mask(mask8)
        del portrait, mask8
        scene = _background_thumbnail(background, long_side)
        proposed = default_scale(mask, (bw, bh))
        if proposed is None:
            return None  # painted, but nothing at 0.5 or more (a faint stroke): the run refuses it with its message
        used = proposed if scale is None else scale
        composite, alpha = place_foreground(subject, mask, scene, scale=used,
                                            center=center_from_feet(pos_x, pos_y, used), flip=flip,
                                            decontaminate=False)
        return Preview(tensor_to_pil(_outline(composite, alpha, color)), used, proposed)
