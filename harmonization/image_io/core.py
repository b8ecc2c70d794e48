"""Reading and writing images: files, PIL images and NumPy arrays <-> tensors (the editor values are in
:mod:`.editor`).

Everything it returns follows the package's tensor conventions:

- images: ``(1, 3, H, W)`` float32 RGB in ``[0, 1]``, always derived from an 8-bit RGB version of the input so that
  "unchanged" pixels can be compared bit for bit with :func:`load_rgb8`;
- masks: ``(1, 1, H, W)`` float32 in ``[0, 1]``, 1 = the region to harmonize.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError

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
    "image_size",
    "resize_rgb8",
    "resize_mask8",
    "MAX_PIXELS",
    "write_test_composite",
]

#: The PIL image type, for annotations outside this module (which never import PIL themselves).
PILImage = Image.Image
ImageInput = Union[Image.Image, np.ndarray, str, os.PathLike, bytes]
MaskInput = Union[Image.Image, np.ndarray, str, os.PathLike, bytes, torch.Tensor]


#: The largest image the package accepts (width x height). Files are checked from their header, before decoding.
MAX_PIXELS = 40_000_000


def _too_large(width: int, height: int) -> str:
    return (
        f"The image is {width}x{height} px ({width * height / 1e6:.2f} megapixels); the limit is "
        f"{MAX_PIXELS / 1e6:.0f} megapixels. Downscale it first."
    )


def _open(source: str | os.PathLike | bytes, *, decode: bool = True) -> Image.Image:
    """Open an image file with readable errors; ``decode=False`` reads only the header (size, EXIF).

    Only regular files are opened (a FIFO or a device would block or never end); messages name the file by its
    name only, never by its full path.
    """
    name = "the uploaded data" if isinstance(source, bytes) else Path(source).name
    try:
        if isinstance(source, bytes):
            image = Image.open(io.BytesIO(source))
        else:
            path = Path(source)
            if path.exists() and not path.is_file():
                raise ImageReadError(f"{name} is not a regular file (a folder, FIFO or device); give an image file.")
            image = Image.open(path)
        if not decode:
            return image
        if image.width * image.height > MAX_PIXELS:  # refuse from the header, before decoding
            raise ImageReadError(_too_large(image.width, image.height))
        image.load()
    except Image.DecompressionBombError as exc:
        # PIL refuses such files inside Image.open, before we can read the size; its message holds the pixel count.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(found.group(1)) / 1e6:.1f} megapixels" if found else "too many pixels"
        raise ImageReadError(
            f"The image has {count}; the limit is {MAX_PIXELS / 1e6:.0f} megapixels. Downscale it first."
        ) from exc
    except FileNotFoundError as exc:
        raise ImageReadError(f"No such image file: {source!s}. Check the path.") from exc
    except (UnidentifiedImageError, OSError) as exc:
        reason = str(exc)
        if not isinstance(source, bytes):  # PIL's messages hold the full path: keep only the name
            reason = reason.replace(os.fspath(source), name).replace(str(Path(source).resolve()), name)
        raise ImageReadError(
            f"Could not read {name} as an image ({reason}). Use a PNG, JPEG, WebP, TIFF or BMP file."
        ) from exc
    return image


def _pil_to_rgb8(image: Image.Image) -> np.ndarray:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16/32-bit greyscale: PIL's convert("RGB") would clip instead of scaling.
        values = np.asarray(image).astype(np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        if image.mode == "F":
            peak = 1.0 if values.max() <= 1.0 else 255.0
        grey = np.clip(np.rint(values / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")  # RGBA/LA drop alpha; L, 1, CMYK, YCbCr, LAB are converted by PIL
    return _pil_rows_to_array(image, 3)


#: Pixels converted at once between PIL images, arrays and tensors (about 2 megapixels), so a 40-megapixel image
#: never needs whole-image temporaries beyond its input and output.
_BAND_PIXELS = 1 << 21


def _bands(height: int, width: int) -> list[tuple[int, int]]:
    rows = max(1, _BAND_PIXELS // max(1, width))
    return [(top, min(height, top + rows)) for top in range(0, height, rows)]


def _pil_rows_to_array(image: Image.Image, channels: int) -> np.ndarray:
    """A PIL image as a writable ``(H, W, channels)`` uint8 array, copied a band of rows at a time (NumPy's own
    conversion holds two whole-image copies besides the image)."""
    width, height = image.size
    bands = _bands(height, width)
    if len(bands) == 1:
        return np.array(image, dtype=np.uint8)
    out = np.empty((height, width, channels), dtype=np.uint8)
    for top, bottom in bands:
        out[top:bottom] = np.asarray(image.crop((0, top, width, bottom)), dtype=np.uint8).reshape(
            bottom - top, width, channels)
    return out


def _check_unit_floats(array: np.ndarray, what: str, fix: str) -> None:
    """Refuse NaN, infinities (counted, named as such) and values outside [0, 1] (with the range found)."""
    finite = np.isfinite(array)
    if not finite.all():
        nan = int(np.isnan(array).sum())
        infinite = int(finite.size - finite.sum()) - nan
        found = " and ".join(part for part in (f"{nan} NaN" if nan else "", f"{infinite} infinite" if infinite else "")
                             if part)
        raise ImageReadError(f"{what} must hold finite values in [0, 1]; it holds {found} value(s). Replace them "
                             f"(e.g. numpy.nan_to_num) or pass a uint8 array.")
    low, high = float(array.min()), float(array.max())
    if low < 0.0 or high > 1.0:
        raise ImageReadError(f"{what} must hold values in [0, 1]; got range [{low:.3g}, {high:.3g}]. {fix}")


def _array_to_rgb8(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ImageReadError(
            f"Expected an image array of shape HxWx3 (RGB), HxWx4 (RGBA) or HxW (grey); got shape {array.shape}."
        )
    array = array[..., :3]
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.uint16:
        return np.rint(array.astype(np.float64) / 257.0).astype(np.uint8)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        _check_unit_floats(array, "A float image array", "Divide by 255 or pass a uint8 array.")
        return np.rint(array * 255.0).astype(np.uint8)
    raise ImageReadError(f"Unsupported image array dtype {array.dtype}; use uint8, uint16 or float in [0, 1].")


def _unwrap(source: Any) -> Any:
    """Accept file references of the form ``{"path": ...}`` (Gradio's un-preprocessed file data)."""
    if isinstance(source, Mapping) and "path" in source:
        if not source["path"]:
            raise ImageReadError("The uploaded file reference has no path; upload the image again.")
        return source["path"]
    return source


def load_rgb8(source: ImageInput) -> np.ndarray:
    """Read any supported image input as an 8-bit RGB array.

    Args:
        source: a PIL image (any mode: RGB, RGBA, L, P, CMYK, 16-bit; EXIF orientation is applied), an ``HxWx3``,
            ``HxWx4`` or ``HxW`` array (uint8, uint16, bool or float in [0, 1]), a file path or encoded bytes.
            Alpha channels are dropped.

    Returns:
        ``(H, W, 3)`` uint8 array, C-contiguous.

    Raises:
        ImageReadError: for unreadable files or unsupported arrays.
        TypeError: for other input types.
    """
    source = _unwrap(source)
    if isinstance(source, (str, os.PathLike, bytes)):
        source = _open(source)
    if isinstance(source, Image.Image):
        return _pil_to_rgb8(source)
    if isinstance(source, np.ndarray):
        return _array_to_rgb8(source)
    raise TypeError(
        f"Expected a PIL image, a NumPy array, a file path or bytes for the image; got {type(source).__name__}."
    )


def rgb8_to_tensor(rgb8: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    array = np.ascontiguousarray(rgb8)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def load_image(source: ImageInput) -> torch.Tensor:
    """Read an image input as a ``(1, 3, H, W)`` float32 RGB tensor in [0, 1] (see :func:`load_rgb8`)."""
    return rgb8_to_tensor(load_rgb8(source))


def _mask_array(source: Any) -> np.ndarray:
    """Return a float32 ``HxW`` array in [0, 1] (each value the correctly rounded quotient, as before through
    float64: 0..255 and 0..65535 divide exactly the same way in float32)."""
    source = _unwrap(source)
    if isinstance(source, (str, os.PathLike, bytes)):
        source = _open(source)
    if isinstance(source, Image.Image):
        source = ImageOps.exif_transpose(source)
        if source.mode in ("RGBA", "LA", "PA") or (source.mode == "P" and "transparency" in source.info):
            rgba = np.asarray(source.convert("RGBA"))
            alpha = rgba[..., 3]
            if alpha.min() < 255:  # a painted layer: transparency marks "not painted"
                return alpha.astype(np.float32) / np.float32(255.0)
            source = source.convert("RGB")
        if source.mode == "1":
            return np.asarray(source, dtype=np.float32)
        if source.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            return _mask_array(np.asarray(source))
        if source.mode != "L":
            source = source.convert("RGB")
            return np.asarray(source, dtype=np.float32).max(axis=2) / np.float32(255.0)
        return np.asarray(source, dtype=np.float32) / np.float32(255.0)
    if isinstance(source, torch.Tensor):
        source = source.detach().cpu().float().numpy()
        source = source.reshape(source.shape[-2:]) if source.ndim > 2 and np.prod(source.shape[:-2]) == 1 else source
    if not isinstance(source, np.ndarray):
        raise TypeError(f"Expected a PIL image, NumPy array or file path for the mask; got {type(source).__name__}.")
    array = source
    if array.ndim == 3:
        if array.shape[2] == 4:
            array = array[..., 3]
        elif array.shape[2] in (1, 3):
            array = array.max(axis=2)
    if array.ndim != 2:
        raise ImageReadError(f"Expected a mask of shape HxW (or HxWx1/3/4); got shape {source.shape}.")
    if array.dtype == np.bool_:
        return array.astype(np.float32)
    if array.dtype == np.uint8:
        return array.astype(np.float32) / np.float32(255.0)
    if array.dtype == np.uint16:
        return array.astype(np.float32) / np.float32(65535.0)
    if np.issubdtype(array.dtype, np.integer):
        if array.min() < 0 or array.max() > 255:
            raise ImageReadError(
                f"An integer mask must hold values in 0..255; got range [{array.min()}, {array.max()}]."
            )
        return array.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(array.dtype, np.floating):
        _check_unit_floats(array, "A float mask", "Use a uint8 mask (0..255) or divide by 255.")
        return array.astype(np.float32)
    raise ImageReadError(f"Unsupported mask dtype {array.dtype}; use bool, uint8 (0..255) or float in [0, 1].")


def load_mask(source: MaskInput, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Read a mask input as a ``(1, 1, H, W)`` float32 tensor in [0, 1] (1 = region to harmonize).

    Args:
        source: a PIL image (L, 1, RGB: the brightest channel counts, RGBA/LA: the alpha channel when it is not
            fully opaque), an ``HxW`` array (bool, uint8 0..255, uint16, or float in [0, 1]; soft values allowed),
            a tensor, a file path or encoded bytes.
        size: the expected ``(width, height)``, usually the composite's; a different size raises.

    Raises:
        ValueError: when the mask's size differs from ``size``.
    """
    array = _mask_array(source)
    if size is not None and (array.shape[1], array.shape[0]) != tuple(size):
        raise ValueError(
            f"The mask is {array.shape[1]}x{array.shape[0]} px but the image is {size[0]}x{size[1]} px. "
            "Give a mask of the same size as the composite (or resize it with nearest-neighbour first)."
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array)[None, None]


def tensor_to_rgb8(image: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8 (clamped and rounded)."""
    if image.ndim == 4:
        if image.shape[0] != 1:
            raise ValueError(f"Expected a single image (batch 1); got batch {image.shape[0]}.")
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"Expected an image tensor of shape (1, 3, H, W); got {tuple(image.shape)}.")
    height, width = image.shape[-2:]
    out = np.empty((height, width, 3), dtype=np.uint8)
    for top, bottom in _bands(height, width):  # a band at a time: no whole-image float temporaries
        band = image[:, top:bottom].detach().float().clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
        out[top:bottom] = band.permute(1, 2, 0).cpu().numpy()
    return out


def tensor_to_pil(image: torch.Tensor) -> Image.Image:
    """``(1, 3, H, W)`` float in [0, 1] -> RGB PIL image."""
    return Image.fromarray(tensor_to_rgb8(image), mode="RGB")


def mask_tensor_to_pil(mask: torch.Tensor) -> Image.Image:
    """``(1, 1, H, W)`` float in [0, 1] -> 8-bit greyscale PIL image (255 = region to harmonize)."""
    array = mask.detach().float().reshape(mask.shape[-2:]).clamp(0, 1).mul(255).round().to(torch.uint8)
    return Image.fromarray(array.cpu().numpy(), mode="L")


def resize_rgb8(image: np.ndarray, size: tuple[int, int], resample: str = "bicubic") -> np.ndarray:
    """Resize an ``(H, W, 3)`` uint8 array to ``size=(width, height)`` with PIL (``bicubic`` or ``bilinear``)."""
    method = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}[resample]
    return np.asarray(Image.fromarray(image).resize(size, method))


def resize_mask8(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an ``(H, W)`` uint8 mask to ``size=(width, height)`` with PIL nearest-neighbour."""
    return np.asarray(Image.fromarray(mask).resize(size, Image.NEAREST))


def image_size(source: ImageInput) -> tuple[int, int]:
    """``(width, height)`` of an image as displayed, i.e. after its EXIF orientation (read from the header).

    Args:
        source: a path, bytes, a Gradio file dict, a PIL image or an ``(H, W, C)`` array.
    """
    source = _unwrap(source)
    if isinstance(source, np.ndarray):
        return int(source.shape[1]), int(source.shape[0])
    image = source if isinstance(source, Image.Image) else _open(source, decode=False)
    width, height = image.size
    if _orientation(image) in (5, 6, 7, 8):  # rotated by 90 degrees
        width, height = height, width
    return width, height


_PNG_MAX_CHUNKS = 100_000  # more chunk headers than any encoder writes for an image under the size limit


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 = as stored) without decoding the pixels.

    PIL finds a PNG's ``eXIf`` chunk after the image data only by decoding the whole image (``getexif`` loads it):
    seconds and hundreds of MB for a large upload whose size is all that is wanted. For a PNG not yet loaded the
    chunk headers are walked instead (each chunk's data skipped with a seek), which finds the chunk wherever it is.
    """
    if image.format != "PNG" or "exif" in image.info or getattr(image, "fp", None) is None:
        return int(image.getexif().get(0x0112, 1))
    fp = image.fp
    position = fp.tell()
    try:
        fp.seek(8)  # after the signature
        for _ in range(_PNG_MAX_CHUNKS):
            header = fp.read(8)
            if len(header) < 8:
                return 1
            length, kind = int.from_bytes(header[:4], "big"), header[4:]
            if kind == b"eXIf":
                exif = Image.Exif()
                exif.load(fp.read(length))
                return int(exif.get(0x0112, 1))
            if kind == b"IEND":
                return 1
            fp.seek(length + 4, os.SEEK_CUR)  # the data and its CRC
    except (OSError, SyntaxError, ValueError):  # a damaged chunk: as stored (decoding will say what is wrong)
        return 1
    finally:
        fp.seek(position)
    return int(image.getexif().get(0x0112, 1))  # an unusual file: PIL's own (decoding) way


def write_test_composite(composite: str | os.PathLike[str], mask: str | os.PathLike[str],
                         size: tuple[int, int]) -> None:
    """Write a large flat-colour composite and its mask as PNG files (about 130 KB at 40 megapixels).

    For memory benchmarks and tests of large inputs: a dark-blue left half and an orange right half (so "local"
    differs from "global"), with a reddish object over the middle third, marked in the mask. Written with PIL's own
    drawing, so making a 40 MP file needs no more than the two images themselves.

    Args:
        composite: the RGB PNG to write.
        mask: the 8-bit greyscale PNG to write (255 = object).
        size: ``(width, height)``.
    """
    width, height = size
    image = Image.new("RGB", (width, height), (25, 40, 110))
    image.paste((235, 170, 80), (width // 2, 0, width, height))
    box = (width // 3, height // 4, 2 * width // 3, 3 * height // 4)
    image.paste((200, 70, 60), box)
    image.save(composite, format="PNG", compress_level=6)
    del image
    alpha = Image.new("L", (width, height), 0)
    alpha.paste(255, box)
    alpha.save(mask, format="PNG", compress_level=6)
