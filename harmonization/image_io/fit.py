"""Uploads over the pixel limit, downscaled once at upload instead of refused at the first run.

:func:`fit_to_pixel_limit` reads the header; an image within :data:`~harmonization.image_io.MAX_PIXELS` is left
alone, one up to :data:`DOWNSCALE_LIMIT` is written again just inside the limit (aspect kept, EXIF orientation
applied), anything larger is refused with the usual message.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from PIL import Image, ImageOps

from .core import MAX_PIXELS, ImageReadError, _open, _too_large

__all__ = ["DOWNSCALE_LIMIT", "fit_to_pixel_limit"]

#: The largest image downscaled at upload (decoding it takes about 3 bytes a pixel, once); under PIL's own
#: decompression-bomb warning (89 megapixels).
DOWNSCALE_LIMIT = 80_000_000


def fit_to_pixel_limit(source: str | os.PathLike[str], out_dir: str | os.PathLike[str],
                       max_pixels: int = MAX_PIXELS) -> tuple[Path, str] | None:
    """A copy of an image file shrunk to at most ``max_pixels``, or ``None`` when it is within the limit.

    Args:
        source: the image file (its header is read first; nothing is decoded when it fits).
        out_dir: folder for the copy (created); the copy keeps the file's name, as PNG (JPEG for a JPEG).

    Returns:
        ``(path of the copy, a note for the user)`` saying the old and new sizes.

    Raises:
        ImageReadError: not a readable image, or over :data:`DOWNSCALE_LIMIT` (the message says to downscale).
    """
    header = _open(source, decode=False)
    width, height = header.size
    if width * height <= max_pixels:
        return None
    if width * height > DOWNSCALE_LIMIT:
        raise ImageReadError(_too_large(width, height))
    factor = math.sqrt(max_pixels / (width * height))
    is_jpeg = header.format == "JPEG"
    try:
        if is_jpeg:
            header.draft("RGB", (math.floor(width * factor), math.floor(height * factor)))  # decode at a reduced scale
        image = ImageOps.exif_transpose(header.convert("RGB"))
    except OSError as exc:
        raise ImageReadError(f"Could not read {Path(source).name} as an image ({exc}). Use a PNG, JPEG, WebP, TIFF "
                             "or BMP file.") from exc
    rotated = width != height and (image.width > image.height) != (width > height)  # EXIF: a quarter turn
    full_w, full_h = (height, width) if rotated else (width, height)
    target = (max(1, math.floor(full_w * factor)), max(1, math.floor(full_h * factor)))
    image = image.resize(target, Image.LANCZOS, reducing_gap=3.0)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / (Path(source).stem + (".jpg" if is_jpeg else ".png"))
    image.save(path, **({"quality": 95} if is_jpeg else {"compress_level": 3}))
    note = (f"{Path(source).name} is {width}x{height} px ({width * height / 1e6:.1f} megapixels), over the "
            f"{max_pixels / 1e6:.0f}-megapixel limit: it was downscaled to {image.width}x{image.height} px.")
    return path, note
