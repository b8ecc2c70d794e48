"""A cheap texture statistic of an image file: how much of it is edges or brush texture rather than smooth areas.

Used by :mod:`harmonization.serving.painterly_hints` to tell a background that looks painted from a smooth photo.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

__all__ = ["texture_share"]

_THUMB = 256
_EDGE = 8.0


def texture_share(source: Any) -> float:
    """The share (0-1) of a 256 px greyscale thumbnail of ``source`` (a path or file) with a gradient above 8/255.

    Only a reduced decode is done (JPEG draft), so a 40 MP photo costs a few tens of milliseconds.
    """
    with Image.open(source) as image:
        image.draft("L", (2 * _THUMB, 2 * _THUMB))
        grey = image.convert("L")
    grey.thumbnail((_THUMB, _THUMB), Image.Resampling.BOX)
    values = np.asarray(grey, np.float32)
    if values.shape[0] < 2 or values.shape[1] < 2:
        return 0.0
    gradient = np.abs(np.diff(values, axis=1))[:-1] + np.abs(np.diff(values, axis=0))[:, :-1]
    return float((gradient > _EDGE).mean())
