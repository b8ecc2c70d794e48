"""Cases and measurements of the painterly benchmark (:mod:`harmonization.benchmarks.painterly`).

Cases: the two public-domain portraits and the astronaut's helmet pasted into paintings of different styles.
Measurements per result, all on the full-resolution image (``support`` = the binary pasted mask):

* colour distance: mean over the Lab channels of the 1-D Wasserstein distance between the pixel values of the
  region (the mask eroded by :data:`EDGE_PX`) and of a ring of painting around it (pixels between
  :data:`RING_START_PX` and ``RING_START_PX + ring width`` from the mask, ring width = :data:`RING_FRACTION` of the
  image's long side); the distance is the mean absolute difference of 1000 quantiles;
* texture ratio: mean squared Laplacian (3x3) of L inside the region divided by the same in the ring;
* structure kept: Pearson correlation, inside the region, of the Gaussian-blurred (sigma :data:`STRUCTURE_SIGMA`
  px) L of the result and of the naive paste;
* painting unchanged: the result equals the composite bit for bit beyond :data:`UNCHANGED_BEYOND_PX` of the mask.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d, laplacian
from torch import Tensor

from ..ops.color import rgb_to_lab
from ..ops.histogram import histogram_quantiles
from ..ops.mask import dilate, erode

__all__ = ["CASES", "OBJECTS", "PAINTINGS", "Case", "PastedObject", "load_case", "measure", "naive_composite",
           "regions", "run_case", "synthetic_scene"]

EDGE_PX = 3
RING_START_PX = 10
RING_FRACTION = 0.05
STRUCTURE_SIGMA = 3.0
UNCHANGED_BEYOND_PX = 8
_QUANTILES = 1000

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True)
class PastedObject:
    """A photo object and where it goes: ``height_frac`` of the painting's height, centred at ``center``."""

    name: str
    photo: str
    mask: str
    height_frac: float
    center: tuple[float, float]


@dataclass(frozen=True)
class Case:
    """One benchmark case: an object pasted into a painting (paths relative to the data folder or absolute)."""

    name: str
    obj: PastedObject
    painting: str
    style: str


OBJECTS: tuple[PastedObject, ...] = (
    PastedObject("astronaut", "portraits/skimage_astronaut.jpg", "portraits/skimage_astronaut_mask.png", 0.55,
                 (0.68, 0.73)),
    PastedObject("hopper", "portraits/matplotlib_grace_hopper.jpg", "portraits/matplotlib_grace_hopper_mask.png",
                 0.5, (0.32, 0.75)),
    PastedObject("helmet", str(_EXAMPLES / "skimage_astronaut.jpg"),
                 str(_EXAMPLES / "skimage_astronaut_helmet_mask.png"), 0.3, (0.4, 0.62)),
)
PAINTINGS: tuple[tuple[str, str], ...] = (
    ("paintings/opencv_starry_night.jpg", "Van Gogh"),
    ("paintings/gcompris_paintings_ejirisuruga.jpg", "Hokusai print"),
    ("paintings/gcompris_paintings_hiroshigeinokashirasnow.jpg", "Hiroshige print"),
    ("paintings/gcompris_paintings_greatwave.jpg", "the Great Wave"),
    ("paintings/gcompris_paintings_arcimboldo_spring.jpg", "Arcimboldo"),
    ("paintings/gcompris_paintings_renoir_filles_piano.jpg", "Renoir"),
    ("paintings/gcompris_paintings_pieterbruegel.jpg", "Bruegel"),
)
CASES: tuple[Case, ...] = tuple(
    Case(f"{obj.name}/{Path(painting).stem.replace('gcompris_paintings_', '').replace('opencv_', '')}", obj, painting,
         style)
    for painting, style in PAINTINGS for obj in OBJECTS
)


def synthetic_scene(height: int = 600, width: int = 752, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A painting-like synthetic composite: swirling colour bands plus noise, with a flat 'photo' ellipse.

    Returns:
        ``(composite (1, 3, H, W), mask (1, 1, H, W))`` float32 in [0, 1]; the ellipse covers about 14%.
    """
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    r = torch.sqrt(xx ** 2 + yy ** 2)
    swirl = torch.sin(12 * r + 3 * torch.atan2(yy, xx)) * 0.5 + 0.5
    painting = torch.stack([0.15 + 0.3 * swirl, 0.25 + 0.35 * swirl, 0.45 + 0.4 * swirl]).unsqueeze(0)
    painting = (painting + 0.1 * torch.rand(1, 3, height, width, generator=g)).clamp(0, 1)
    mask = ((((xx - 0.35) / 0.35) ** 2 + ((yy - 0.35) / 0.5) ** 2) <= 1).float()[None, None]
    photo = torch.stack([0.8 + 0.1 * yy, 0.45 + 0.1 * xx, 0.2 + 0 * xx]).unsqueeze(0).clamp(0, 1)
    return mask * photo + (1 - mask) * painting, mask


def naive_composite(obj: Tensor, obj_mask: Tensor, painting: Tensor, height_frac: float,
                    center: tuple[float, float]) -> tuple[Tensor, Tensor]:
    """Cut the masked object (bounding box of ``obj_mask >= 0.5``), scale it and paste it onto the painting.

    Args:
        obj: ``(1, 3, h, w)`` photo; obj_mask: ``(1, 1, h, w)`` its mask; painting: ``(1, 3, H, W)``.
        height_frac: object height as a fraction of the painting height.
        center: ``(x, y)`` of the object's centre relative to the painting's width and height; the object is
            moved up so that it never leaves the bottom edge.

    Returns:
        ``(composite, mask)`` at the painting's size; the mask is binary.
    """
    m = obj_mask[0, 0] >= 0.5
    ys, xs = torch.nonzero(m.any(1)).flatten(), torch.nonzero(m.any(0)).flatten()
    if ys.numel() == 0:
        raise ValueError("The object mask is empty.")
    o = obj[..., int(ys[0]):int(ys[-1]) + 1, int(xs[0]):int(xs[-1]) + 1]
    om = obj_mask[..., int(ys[0]):int(ys[-1]) + 1, int(xs[0]):int(xs[-1]) + 1]
    big_h, big_w = painting.shape[-2:]
    f = height_frac * big_h / o.shape[-2]
    h, w = max(1, round(o.shape[-2] * f)), max(1, round(o.shape[-1] * f))
    o = F.interpolate(o, size=(h, w), mode="bilinear", antialias=f < 1, align_corners=False).clamp(0, 1)
    om = F.interpolate(om, size=(h, w), mode="bilinear", antialias=f < 1, align_corners=False).clamp(0, 1)
    top = min(round(center[1] * big_h - h / 2), big_h - h)
    left = round(center[0] * big_w - w / 2)
    canvas, cmask = torch.zeros_like(painting), torch.zeros(1, 1, big_h, big_w)
    t0, l0, t1, l1 = max(0, top), max(0, left), min(big_h, top + h), min(big_w, left + w)
    canvas[..., t0:t1, l0:l1] = o[..., t0 - top:t1 - top, l0 - left:l1 - left]
    cmask[..., t0:t1, l0:l1] = om[..., t0 - top:t1 - top, l0 - left:l1 - left]
    cmask = (cmask >= 0.5).float()
    return cmask * canvas + (1 - cmask) * painting, cmask


def _path(data: Path, name: str) -> Path:
    return Path(name) if Path(name).is_absolute() else data / name


def load_case(case: Case, data: Path) -> tuple[Tensor, Tensor]:
    """The naive composite and binary mask of a case, at the painting's full resolution."""
    from ..image_io import load_image, load_mask

    return naive_composite(load_image(_path(data, case.obj.photo)), load_mask(_path(data, case.obj.mask)),
                           load_image(_path(data, case.painting)), case.obj.height_frac, case.obj.center)


def run_case(fuse: Callable[..., Tensor], composite: Tensor, mask: Tensor, **options: object
             ) -> tuple[Tensor, float, list[str]]:
    """One timed fusion: ``(result, seconds, progress messages)``."""
    messages: list[str] = []
    start = time.perf_counter()
    out = fuse(composite, mask, progress=lambda _f, m: messages.append(m), **options)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return out, time.perf_counter() - start, messages


def regions(support: Tensor) -> tuple[Tensor, Tensor]:
    """``(region, ring)`` bool ``(1, 1, H, W)`` masks of the measurements (see the module docstring)."""
    width = max(4, round(RING_FRACTION * max(support.shape[-2:])))
    region = erode(support, EDGE_PX) > 0.5
    ring = (dilate(support, RING_START_PX + width) > 0.5) & ~(dilate(support, RING_START_PX) > 0.5)
    return region, ring


def _w1(a: Tensor, a_mask: Tensor, b: Tensor, b_mask: Tensor) -> float:
    qa = histogram_quantiles(a, a_mask.float(), bins=_QUANTILES)
    qb = histogram_quantiles(b, b_mask.float(), bins=_QUANTILES)
    return float((qa - qb).abs().mean(dim=1).mean())


def measure(result: Tensor, composite: Tensor, support: Tensor) -> dict[str, float | bool]:
    """All measurements of one ``(1, 3, H, W)`` result against its composite and binary ``(1, 1, H, W)`` support.

    Returns:
        ``{"color": Lab W1, "texture": ratio, "structure": correlation, "unchanged": bool}``.
    """
    region, ring = regions(support)
    lab = rgb_to_lab(result.clamp(0, 1))
    lum = lab[:, :1] / 100.0
    lap = laplacian(lum, 3).square()
    texture = float(lap[region].mean() / lap[ring].mean().clamp_min(1e-12))
    size = 2 * math.ceil(3 * STRUCTURE_SIGMA) + 1
    blur = (size, size), (STRUCTURE_SIGMA, STRUCTURE_SIGMA)
    a = gaussian_blur2d(lum, *blur, border_type="replicate")[region]
    b = gaussian_blur2d(rgb_to_lab(composite)[:, :1] / 100.0, *blur, border_type="replicate")[region]
    a, b = a - a.mean(), b - b.mean()
    structure = float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))
    far = (dilate(support, UNCHANGED_BEYOND_PX) == 0).expand_as(result)
    return {"color": _w1(lab, region, lab, ring), "texture": texture, "structure": structure,
            "unchanged": bool(torch.equal(result[far], composite[far]))}
