"""What the page says before a painterly run: how long it should take, and whether the background looks painted.

Both are cheap (an image header, and a 256 px greyscale thumbnail) so that they can run on every change of the
method, the quality or the background.

* :func:`painterly_seconds`: ``a + b * working pixels * steps``, fitted to two runs of the painterly method (local
  mode) on the development CPU with one torch thread (the painterly lane's setting) for a 752x600 painting:
  "standard" (512 px long side, 60 steps) about 14 s, "preview" (256 px, 60 steps) about 5 s. The global mode
  (100 steps) is scaled by its steps, not measured. Another CPU (or a GPU) changes the numbers.
* :func:`~harmonization.image_io.texture.texture_share`: the share of pixels of a 256 px greyscale thumbnail
  whose gradient (``|dx| + |dy|``, 0-255 scale) exceeds 8. On the bundled examples the paintings give 0.53-0.89
  and the photos 0.42-0.45, so below :data:`PAINTED_TEXTURE_SHARE` (0.5) the background is "smooth for a
  painting". It is a hint, not a classifier: a busy photo passes as painted, a flat painting gets the note.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..image_io import image_size
from ..image_io.texture import texture_share
from ..pipelines.painterly.settings import DEFAULT_STEPS
from .jobs import painterly_options

__all__ = ["PAINTED_TEXTURE_SHARE", "PainterlyHint", "painterly_hint", "painterly_seconds", "texture_share"]

_FIXED_S = 2.0
"""Seconds that do not depend on the working size (features network, post-process), from the two measurements."""
_PER_PIXEL_STEP_S = 9.55e-7
"""Seconds per working pixel and L-BFGS step, one thread: (14 s - 5 s) / ((512*409 - 256*204) px * 60 steps)."""
PAINTED_TEXTURE_SHARE = 0.5


def painterly_seconds(width: int, height: int, quality: str | None = None, mode: str = "local") -> float:
    """Estimated seconds of one painterly run (one CPU thread) on a ``width x height`` image.

    Args:
        width, height: the painting's (composite's) size in pixels, >= 1.
        quality: ``"preview"`` or ``"standard"`` (``None``: the default), as in :data:`.jobs.PAINTERLY_QUALITY`.
        mode: ``"local"`` (method "painterly") or ``"global"`` (method "painterly-global").

    Raises:
        ValueError: a size below 1, an unknown quality or mode.
    """
    if width < 1 or height < 1:
        raise ValueError(f"The image size must be at least 1x1 pixels, got {width}x{height}.")
    if mode not in DEFAULT_STEPS:
        raise ValueError(f"Unknown painterly mode {mode!r}; expected one of {', '.join(map(repr, DEFAULT_STEPS))}.")
    options = painterly_options(quality)
    steps = options["steps"] or DEFAULT_STEPS[mode]
    scale = min(1.0, options["size"] / max(width, height))  # the working long side; never upsampled
    pixels = max(1, round(width * scale)) * max(1, round(height * scale))
    return _FIXED_S + _PER_PIXEL_STEP_S * pixels * steps


@dataclass(frozen=True)
class PainterlyHint:
    """``seconds``: the estimate rounded for display (whole seconds up to 20 s, then multiples of 5);
    ``texture``: :func:`texture_share` of the background; ``looks_painted``: ``texture >= PAINTED_TEXTURE_SHARE``;
    ``gpu``: this server has a CUDA GPU (the estimate is for a CPU, so a run should be faster)."""

    seconds: int
    texture: float
    looks_painted: bool
    gpu: bool = False


def painterly_hint(background: Any, quality: str | None = None, method: str = "painterly") -> PainterlyHint:
    """The estimate and the texture test for ``background`` (an already checked path: see ``UploadGate``)."""
    mode = "global" if method.endswith("global") else "local"
    width, height = image_size(background)
    raw = painterly_seconds(width, height, quality, mode)
    seconds = math.ceil(raw) if raw <= 20 else 5 * math.ceil(raw / 5)
    share = texture_share(background)
    return PainterlyHint(seconds=seconds, texture=share, looks_painted=share >= PAINTED_TEXTURE_SHARE,
                         gpu=torch.cuda.is_available())
