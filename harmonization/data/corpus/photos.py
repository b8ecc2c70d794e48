"""Photos: decoding and checking one candidate image (:func:`prepare_photo`: transparency, size, colour filters;
EXIF orientation applied, non-sRGB ICC profiles converted to sRGB, long side at most :data:`LONG_SIDE` with
Lanczos, only ever downscaled), writing it as a metadata-free JPEG of quality :data:`JPEG_QUALITY`
(:func:`save_jpeg`), and the two 64-bit perceptual hashes the de-duplication compares (:func:`dhash`,
:func:`phash`, :func:`hamming`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageOps

__all__ = ["JPEG_QUALITY", "LONG_SIDE", "MIN_LONG_SIDE", "MIN_SHORT_SIDE", "SELECT_VERSION", "dhash", "hamming",
           "hash_folder", "phash", "prepare_photo", "save_jpeg"]

LONG_SIDE = 640
JPEG_QUALITY = 92
MIN_LONG_SIDE = 320
MIN_SHORT_SIDE = 120
#: Changes whenever the photo filters change, so that cached decisions are redone.
SELECT_VERSION = f"{LONG_SIDE}/{JPEG_QUALITY}/{MIN_LONG_SIDE}x{MIN_SHORT_SIDE}/chroma4/colours64"


def _to_srgb(image: Image.Image) -> tuple[Image.Image, str]:
    icc = image.info.get("icc_profile")
    if not icc:
        return image, ""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).strip()
    except (OSError, ImageCms.PyCMSError):
        return image, ""
    if "srgb" in description.lower().replace(" ", "") or image.mode not in ("RGB", "RGBA"):
        return image, ""
    converted = ImageCms.profileToProfile(image.convert("RGB"), profile, ImageCms.createProfile("sRGB"),
                                          outputMode="RGB")
    return converted, f'converted from ICC profile "{description}" to sRGB'


def prepare_photo(data: bytes) -> tuple[np.ndarray | None, str, dict[str, Any]]:
    """Decode and check one candidate image; resize it for the corpus.

    Images with transparency (cut-outs with no background), smaller than :data:`MIN_LONG_SIDE` x
    :data:`MIN_SHORT_SIDE`, greyscale or with few distinct colours (drawings) are rejected. EXIF orientation is
    applied first; a non-sRGB ICC profile (e.g. Adobe RGB) is converted to sRGB; the result (written by
    :func:`save_jpeg`) has no EXIF or ICC data.

    Returns:
        ``(rgb8, reason, info)``: ``rgb8`` is ``(H, W, 3)`` uint8 sRGB with ``max(H, W) <= 640`` (``None`` when the
        image is rejected, with the reason); ``info`` has ``original_size`` ``"WxH"`` and ``processing``.
    """
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        return None, f"cannot decode ({error})", {}
    image = ImageOps.exif_transpose(image)
    width, height = image.size
    info: dict[str, Any] = {"original_size": f"{width}x{height}"}
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if float((alpha < 250).mean()) > 0.01:
            return None, "transparent pixels (a cut-out without background)", info
    if max(width, height) < MIN_LONG_SIDE or min(width, height) < MIN_SHORT_SIDE:
        return None, f"too small ({width}x{height} < {MIN_LONG_SIDE}x{MIN_SHORT_SIDE})", info
    image, converted = _to_srgb(image)
    rgb = image.convert("RGB")
    thumb = np.asarray(rgb.resize((64, 64), Image.Resampling.BILINEAR)).astype(np.int32)
    chroma = float((thumb.max(-1) - thumb.min(-1)).mean())
    if chroma < 4.0:
        return None, f"greyscale (mean chroma {chroma:.1f} < 4)", info
    quantised = thumb // 8
    colours = len(np.unique(quantised[..., 0] * 1024 + quantised[..., 1] * 32 + quantised[..., 2]))
    if colours < 64:
        return None, f"few distinct colours ({colours} < 64; drawing, render or flat texture)", info
    scale = LONG_SIDE / max(width, height)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        steps = [f"resized to {size[0]}x{size[1]} (Lanczos)"]
    else:
        steps = ["original size"]
    steps.append(f"JPEG q{JPEG_QUALITY}, EXIF/ICC stripped")
    if converted:
        steps.append(converted)
    info["processing"] = ", ".join(steps)
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8)), "", info


def save_jpeg(rgb8: np.ndarray, path: Path) -> None:
    """Write ``(H, W, 3)`` uint8 as a JPEG q92 with no metadata (atomically: temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(rgb8, "RGB").save(tmp, "JPEG", quality=JPEG_QUALITY)
    tmp.replace(path)


def _gray(image: Image.Image | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    pil = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    return np.asarray(pil.convert("L").resize(size, Image.Resampling.BILINEAR), dtype=np.float64)


def dhash(image: Image.Image | np.ndarray) -> int:
    """64-bit difference hash: 9x8 greyscale, one bit per horizontal neighbour comparison."""
    gray = _gray(image, (9, 8))
    bits = (gray[:, 1:] > gray[:, :-1]).ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    return matrix


def phash(image: Image.Image | np.ndarray) -> int:
    """64-bit perceptual hash: the 8x8 lowest frequencies of a 32x32 DCT, thresholded at their median."""
    gray = _gray(image, (32, 32))
    dct = _dct_matrix(32)
    low = (dct @ gray @ dct.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def hamming(a: int, b: int) -> int:
    """Number of differing bits."""
    return (a ^ b).bit_count()


def hash_folder(folder: Path) -> list[dict[str, Any]]:
    """``{"stem": "shared:<stem>", "dhash", "phash", "group": ""}`` of every ``*.jpg`` in a folder, sorted."""
    out = []
    for path in sorted(folder.glob("*.jpg")):
        with Image.open(path) as image:
            rgb = image.convert("RGB")
            out.append({"stem": f"shared:{path.stem}", "dhash": dhash(rgb), "phash": phash(rgb), "group": ""})
    return out
