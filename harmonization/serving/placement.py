"""The placement preview of the portrait tab and its default scale, without gradio.

Before Harmonize the page shows where the subject will stand: a low-resolution naive paste of the masked subject on
the background (long side :data:`PREVIEW_LONG_SIDE`), outlined, at the sliders' scale, feet position and flip. It
goes through the same placement as the real run, :func:`~harmonization.pipelines.compose.place_foreground` with
:func:`~harmonization.serving.jobs.center_from_feet` (the plain cut, without the edge clean-up), on small copies:
the geometry is relative (the subject is ``scale`` of the background's height tall, its feet at ``(x, y)`` of the
background), so the subject lands in the preview where it lands in the result, within a pixel of the preview.

The default scale (:func:`default_scale`) keeps the subject's height share of its own photo, clamped to
:data:`DEFAULT_SCALE_RANGE`, and never makes the subject wider than :data:`MAX_WIDTH_SHARE` of the background.

The work is split in two so that moving a slider never makes the page send the editor's images again:
:func:`cut_subject` reads the editor once per change of the mask (the subject, cropped to its box and reduced, is
kept server-side in a :class:`SubjectStore` under a token the page holds in a State), and :func:`preview_on` draws
it on the background for each placement. :func:`placement_preview` does both at once.

A phone photo shown as a display copy (see :func:`~harmonization.serving.jobs.mask_tool_full`) is previewed from
the copy the editor shows: it is the same picture, and the painted mask lies on it, so the geometry is the same as
the run's on the full-resolution file (which is never decoded for a preview).
"""

from __future__ import annotations

import os
import threading
import uuid
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

__all__ = ["DEFAULT_SCALE_RANGE", "MAX_WIDTH_SHARE", "PREVIEW_LONG_SIDE", "PORTRAIT_WORK_SIDE", "SUBJECTS", "Preview",
           "Subject", "SubjectStore", "cut_subject", "default_scale", "placement_preview", "preview_on"]

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
    return _default_scale(bottom - top, right - left, mask.shape[-2], background_size)


def _default_scale(box_height: int, box_width: int, photo_height: int,
                   background_size: tuple[int, int] | None) -> float:
    low, high = DEFAULT_SCALE_RANGE
    scale = min(max(box_height / photo_height, low), high)
    if background_size is not None:
        width, height = background_size
        scale = min(scale, MAX_WIDTH_SHARE * width / height * box_height / box_width)
    scale = min(max(scale, SLIDER_RANGE[0]), SLIDER_RANGE[1])
    return float(int(scale * 100 + 1e-6)) / 100  # down to the slider's step, so the width bound still holds


@dataclass(frozen=True)
class Subject:
    """The masked subject of a portrait, ready to place: cropped to its box (and a margin), long side at most
    :data:`PORTRAIT_WORK_SIDE` (8-bit, to keep a session's copy small).

    Attributes:
        image: ``(1, 3, h, w)`` uint8 RGB.
        mask: ``(1, 1, h, w)`` uint8 0-255.
        photo_height: the portrait's height at this size (the crop's reference for :func:`default_scale`).
    """

    image: torch.Tensor
    mask: torch.Tensor
    photo_height: int

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(image, mask)`` as float32 in [0, 1]."""
        return self.image.float() / 255.0, self.mask.float() / 255.0

    def default_scale(self, background_size: tuple[int, int] | None = None) -> float:
        """:func:`default_scale` of the portrait's mask (the crop holds its whole box)."""
        box = mask_bbox(self.mask.float() / 255.0)
        assert box is not None  # cut_subject keeps only subjects with a box
        top, left, bottom, right = box
        return _default_scale(bottom - top, right - left, self.photo_height, background_size)


class SubjectStore:
    """The subjects of the page's sessions, by token (the page keeps the token in a State); the oldest are
    forgotten beyond ``capacity`` (a forgotten token previews nothing until the mask changes again)."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, Subject] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, subject: Subject) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._items[token] = subject
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return token

    def get(self, token: Any) -> Subject | None:
        with self._lock:
            subject = self._items.get(token) if isinstance(token, str) else None
            if subject is not None:
                self._items.move_to_end(token)
            return subject


#: The page's subjects (one per session that painted a mask; at most 4 MB each).
SUBJECTS = SubjectStore()


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


def _checked(pos_x: Any, pos_y: Any, scale: Any, flip: Any) -> tuple[float, float, float | None, bool]:
    pos_x, pos_y = _finite(pos_x, "x"), _finite(pos_y, "y")
    scale = None if scale is None else _finite(scale, "scale")
    if not isinstance(flip, bool):
        raise ValueError(f"flip must be true or false; got {flip!r}.")
    return pos_x, pos_y, scale, flip


def _too_large(path: str) -> bool:
    width, height = image_size(path)
    return width * height > MAX_PIXELS


def cut_subject(ctx: JobContext, fg_value: Any) -> Subject | None:
    """The masked subject of the portrait editor's value (checked through ``ctx.gate``), or ``None`` while there
    is no portrait or no mask (or a portrait over the size limit: the run says so).

    The editor's picture is read as the run reads it (:func:`~harmonization.image_io.editor_to_image_and_mask`),
    reduced to :data:`PORTRAIT_WORK_SIDE` and cropped to the box of its mask and a margin of 2 px.
    """
    fg_value = ctx.gate.editor(fg_value)
    portrait_file = None if fg_value is None else fg_value["background"] or fg_value["composite"]
    if portrait_file is None or _too_large(portrait_file):
        return None
    width, height = image_size(portrait_file)
    # Tensors of a few hundred pixels: one torch thread is fastest (several wait on each other on a busy machine).
    with torch_threads(1), ctx.memory.reserve(_FIXED_BYTES + _BYTES_PER_PIXEL * width * height,
                                              on_wait=ctx.wait_message):
        portrait, mask8 = editor_to_image_and_mask(fg_value)
        if mask8 is None:
            return None
        size = _fit((portrait.shape[1], portrait.shape[0]), PORTRAIT_WORK_SIDE)
        if size != (portrait.shape[1], portrait.shape[0]):
            portrait, mask8 = resize_rgb8(portrait, size, "bilinear"), resize_mask8(mask8, size)
        image, mask = rgb8_to_tensor(portrait), load_mask(mask8)
        del portrait, mask8
        box = mask_bbox(mask)
        if box is None:
            return None  # painted, but nothing at 0.5 or more (a faint stroke): the run refuses it with its message
        top, left, bottom, right = box
        rows = slice(max(0, top - 2), min(mask.shape[-2], bottom + 2))
        cols = slice(max(0, left - 2), min(mask.shape[-1], right + 2))
        return Subject(_to8(image[..., rows, cols]), _to8(mask[..., rows, cols]), mask.shape[-2])


def _to8(tensor: torch.Tensor) -> torch.Tensor:
    return (tensor * 255.0).round().to(torch.uint8).contiguous()


def preview_on(ctx: JobContext, subject: Subject | None, background: Any, scale: float | None, pos_x: float,
               pos_y: float, flip: bool, *, color: tuple[int, int, int] = (255, 45, 111),
               long_side: int = PREVIEW_LONG_SIDE) -> Preview | None:
    """``subject`` drawn on the background at a placement (see :func:`placement_preview`); ``None`` without a
    subject or a background (or a background over the size limit)."""
    pos_x, pos_y, scale, flip = _checked(pos_x, pos_y, scale, flip)
    background = ctx.gate.file(background)
    if subject is None or background is None or _too_large(background):
        return None
    width, height = image_size(background)
    proposed = subject.default_scale((width, height))
    used = proposed if scale is None else scale
    with torch_threads(1):
        key = _THUMBNAILS.key(background, long_side)
        if _THUMBNAILS.get(key) is None:  # decoding it: reserve the memory
            with ctx.memory.reserve(_FIXED_BYTES + _BYTES_PER_PIXEL * width * height, on_wait=ctx.wait_message):
                scene = _background_thumbnail(background, long_side)
        else:
            scene = _background_thumbnail(background, long_side)
        image, mask = subject.tensors()
        composite, alpha = place_foreground(image, mask, scene, scale=used,
                                            center=center_from_feet(pos_x, pos_y, used), flip=flip,
                                            decontaminate=False)
        return Preview(tensor_to_pil(_outline(composite, alpha, color)), used, proposed)


def placement_preview(ctx: JobContext, fg_value: Any, background: Any, scale: float | None, pos_x: float,
                      pos_y: float, flip: bool, *, color: tuple[int, int, int] = (255, 45, 111),
                      long_side: int = PREVIEW_LONG_SIDE) -> Preview | None:
    """The portrait tab's placement preview, before Harmonize: :func:`cut_subject` then :func:`preview_on`.

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
    _checked(pos_x, pos_y, scale, flip)
    return preview_on(ctx, cut_subject(ctx, fg_value), background, scale, pos_x, pos_y, flip, color=color,
                      long_side=long_side)
