"""At which size a mask tool may send its picture back to Gradio's image editor.

Gradio's editor (6.31) draws a layer the app sends into a frame the size of everything its image container holds,
and its brush keeps a transparent sprite of the picture it showed when it was set up, until a stroke is committed
(committing hides it). So a mask tool that answers an upload larger than the editor's canvas with a smaller display
copy BEFORE any stroke gets its mask drawn in the upload's frame (centred, off the subject); after a stroke it is
drawn on the copy. The server cannot see strokes, but it can compare the layer the editor sends with the one the
last tool call sent: :func:`stroked_since` says whether the user painted (or erased) since, and the tool keeps the
picture's current size when not (``harmonization.serving.jobs.mask_tool_full``). The page keeps the
:class:`EditorFrame` of the last call in a ``gr.State`` (emptied on upload and clear).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

__all__ = ["STROKE_LEVELS", "THUMB_SIDE", "EditorFrame", "frame_of", "stroked_since"]

#: The long side of the layer thumbnails compared (cells of about 33 px on a 4200 px photo).
THUMB_SIDE = 128
#: A thumbnail cell whose mean alpha changed by more than this (of 255) was painted or erased: a default brush
#: stroke (24 px) through a cell changes it by 90 levels or more; the editor's round trip of a layer it was sent
#: changes nothing (at most a level at soft edges, and a few where a display copy's mask is scaled up).
STROKE_LEVELS = 24


@dataclass(frozen=True)
class EditorFrame:
    """What a mask tool last sent to an editor.

    Attributes:
        size: ``(width, height)`` of the picture sent (what the editor shows).
        thumb: the sent layer's alpha as a box-filtered ``thumb_shape`` uint8 thumbnail (bytes).
        thumb_shape: ``(rows, columns)`` of ``thumb``.
    """

    size: tuple[int, int]
    thumb: bytes
    thumb_shape: tuple[int, int]


def _thumb_size(size: tuple[int, int]) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, THUMB_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _thumbnail(alpha8: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """``alpha8`` (``(H, W)`` uint8 at any resolution of a picture of ``size``, or ``None`` for nothing painted)
    as the ``(rows, columns)`` uint8 thumbnail of :func:`_thumb_size`."""
    width, height = _thumb_size(size)
    if alpha8 is None:
        return np.zeros((height, width), np.uint8)
    return np.asarray(Image.fromarray(np.asarray(alpha8, np.uint8)).resize((width, height), Image.BOX))


def frame_of(size: tuple[int, int], alpha8: np.ndarray | None) -> EditorFrame:
    """The :class:`EditorFrame` of a picture of ``size=(width, height)`` sent with the layer alpha ``alpha8``."""
    thumb = _thumbnail(alpha8, size)
    return EditorFrame(tuple(size), thumb.tobytes(), thumb.shape)  # type: ignore[arg-type]


def stroked_since(frame: Any, size: tuple[int, int], alpha8: np.ndarray | None) -> bool:
    """Whether a brush stroke was committed in the editor since ``frame`` was sent, given what it sends now.

    Args:
        frame: the :class:`EditorFrame` of the last tool call, or ``None`` since the upload (anything else, e.g.
            from a client that is not the page, counts as ``None``).
        size: ``(width, height)`` of the picture the editor sends now.
        alpha8: its painted mask (any resolution of that picture), or ``None`` for nothing painted.

    Returns:
        Since an upload: whether anything is painted (only a committed stroke paints). Since a tool call: whether
        the layer changed by a stroke (:data:`STROKE_LEVELS`). A picture of another size than the frame's is a new
        picture (its value was replaced, e.g. the next photo of an API client whose session still holds the last
        photo's frame): answered as after an upload, so one client gets the same answer for every photo.
    """
    if not isinstance(frame, EditorFrame) or tuple(frame.size) != tuple(size):
        return alpha8 is not None
    before = np.frombuffer(frame.thumb, np.uint8).reshape(frame.thumb_shape).astype(np.int16)
    now = _thumbnail(alpha8, size).astype(np.int16)
    return now.shape != before.shape or int(np.abs(now - before).max()) > STROKE_LEVELS
