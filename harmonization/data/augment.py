"""Seeded geometric augmentation for harmonization pairs: random resized crops, flips, resizing.

Every function takes an explicit :class:`torch.Generator` (no global random state), so a sample is a pure function
of its seed. Images are ``(1, 3, H, W)`` float in [0, 1], masks ``(1, 1, H, W)`` float in [0, 1]; several tensors
of the same size (composite, target, mask) are transformed identically.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ops.checks import check_shapes

__all__ = ["CropBox", "draw_crop", "crop_resize", "random_crop_resize", "random_hflip", "resize_long_side",
           "uniform"]


def uniform(generator: torch.Generator, low: float, high: float) -> float:
    """One float drawn uniformly from ``[low, high)`` with ``generator``."""
    return float(torch.empty(1).uniform_(low, high, generator=generator)) if high > low else float(low)


CropBox = tuple[int, int, int, int]  # top, left, height, width


def _check(tensors: tuple[torch.Tensor, ...]) -> tuple[int, int]:
    if not tensors:
        raise ValueError("Expected at least one tensor to transform; got none.")
    sizes = check_shapes(floating=False, **{f"tensor {i}": (t, "B * H W") for i, t in enumerate(tensors)})
    return sizes["H"], sizes["W"]


def draw_crop(
    height: int,
    width: int,
    generator: torch.Generator,
    *,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    mask: torch.Tensor | None = None,
    min_foreground: float = 0.01,
    max_foreground: float = 0.9,
    tries: int = 10,
) -> CropBox:
    """Draw a random crop box (area fraction in ``scale``, aspect in ``ratio``), preferring crops with an object.

    With ``mask``, up to ``tries`` boxes are drawn and the first whose foreground fraction lies in
    ``[min_foreground, max_foreground]`` is returned; if none does, the last box is moved to be centred on the
    object's bounding box. Draws always consume the same number of random numbers per try.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        generator: random source.
        scale: range of the crop area as a fraction of the image area.
        ratio: range of the crop's width/height (log-uniform).
        mask: optional ``(1, 1, H, W)`` mask.
        min_foreground: smallest acceptable foreground fraction of the crop.
        max_foreground: largest acceptable foreground fraction of the crop.
        tries: number of boxes to draw.

    Returns:
        ``(top, left, crop_height, crop_width)``.
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    box: CropBox = (0, 0, height, width)
    for _ in range(max(1, tries)):
        target_area = area * uniform(generator, *scale)
        aspect = math.exp(uniform(generator, log_lo, log_hi))
        u_top, u_left = uniform(generator, 0.0, 1.0), uniform(generator, 0.0, 1.0)
        w = min(width, max(8, round(math.sqrt(target_area * aspect))))
        h = min(height, max(8, round(math.sqrt(target_area / aspect))))
        top, left = int(u_top * (height - h + 1)), int(u_left * (width - w + 1))
        box = (top, left, h, w)
        if mask is None:
            return box
        fraction = float(mask[..., top:top + h, left:left + w].mean())
        if min_foreground <= fraction <= max_foreground:
            return box
    if mask is not None and float(mask.max()) >= 0.5:
        ys, xs = torch.nonzero(mask[0, 0] >= 0.5, as_tuple=True)
        cy, cx = float(ys.float().mean()), float(xs.float().mean())
        top, left, h, w = box
        top = int(min(max(0, round(cy - h / 2)), height - h))
        left = int(min(max(0, round(cx - w / 2)), width - w))
        box = (top, left, h, w)
    return box


def crop_resize(tensors: tuple[torch.Tensor, ...], box: CropBox, size: int | tuple[int, int]) -> list[torch.Tensor]:
    """Crop every tensor to ``box`` and resize it to ``size`` (bilinear, antialiased when shrinking).

    Returns:
        The transformed tensors, ``(1, C, size_h, size_w)`` each, same dtypes.
    """
    _check(tensors)
    top, left, h, w = box
    out_h, out_w = (size, size) if isinstance(size, int) else size
    result = []
    for t in tensors:
        c = t[..., top:top + h, left:left + w]
        if (h, w) != (out_h, out_w):
            c = F.interpolate(c, size=(out_h, out_w), mode="bilinear", align_corners=False,
                              antialias=h > out_h or w > out_w)
        result.append(c.clamp(0.0, 1.0))
    return result


def random_crop_resize(
    tensors: tuple[torch.Tensor, ...],
    size: int | tuple[int, int],
    generator: torch.Generator,
    *,
    scale: tuple[float, float] = (0.25, 1.0),
    mask_index: int | None = None,
    min_foreground: float = 0.01,
) -> list[torch.Tensor]:
    """A random resized crop applied identically to ``tensors`` (the one at ``mask_index`` guides the crop)."""
    height, width = _check(tensors)
    mask = tensors[mask_index] if mask_index is not None else None
    box = draw_crop(height, width, generator, scale=scale, mask=mask, min_foreground=min_foreground)
    return crop_resize(tensors, box, size)


def random_hflip(tensors: tuple[torch.Tensor, ...] | list[torch.Tensor], generator: torch.Generator,
                 p: float = 0.5) -> list[torch.Tensor]:
    """Flip all tensors left-right together with probability ``p``."""
    flip = uniform(generator, 0.0, 1.0) < p
    return [t.flip(-1) if flip else t for t in tensors]


def resize_long_side(tensor: torch.Tensor, long_side: int) -> torch.Tensor:
    """Resize ``(1, C, H, W)`` so that ``max(H, W) <= long_side`` (never enlarges; bilinear, antialiased)."""
    height, width = tensor.shape[-2:]
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return tensor
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(tensor, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)


def random_scene_color(image: torch.Tensor, generator: torch.Generator, strength: float) -> torch.Tensor:
    """Change a whole photo's exposure and colour cast at random (a new, equally plausible 'real' image).

    Used before a composite is made from the photo, so that a network trained on few photos cannot memorise each
    photo's colours and must relate the object to its scene. ``x' = clamp(g * c_k * x)``: overall gain ``g`` in
    ``[1 - strength, 1 + strength]``, per-channel gains ``c_k`` in ``[1 - strength / 2, 1 + strength / 2]``.

    Args:
        image: ``(B, 3, H, W)`` float in [0, 1].
        generator: seeded generator (the draws are per call, shared by the batch).
        strength: 0 returns the image unchanged.
    """
    if strength <= 0:
        return image
    gain = uniform(generator, 1.0 - strength, 1.0 + strength)
    channels = torch.tensor([uniform(generator, 1.0 - strength / 2, 1.0 + strength / 2) for _ in range(3)],
                            dtype=image.dtype, device=image.device)
    return (image * (gain * channels).view(1, 3, 1, 1)).clamp(0.0, 1.0)
