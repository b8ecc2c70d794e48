"""How well the any-object mask finds the object: IoU against reference masks, from a box and from scribbles.

``python -m harmonization.benchmarks.masks --photos DIR --masks DIR [--sources SOURCES.csv] [--limit N]``

For every photo whose reference mask covers 1-70 % of it (``--min-cover``, ``--max-cover``), and whose source is not
reserved for independent evaluation (``SOURCES.csv`` beside the photos, checked with
:func:`harmonization.data.corpus.is_reserved`), :func:`harmonization.pipelines.segment.object_mask` is run

- ``box``: from the object's bounding box grown by 5 % of its width/height on each side (10 % larger), clipped 2 px
  inside the photo;
- ``box + scribbles``: the same box plus synthetic scribbles (:func:`synthetic_scribbles`: a few object strokes
  through the object's interior and one background stroke away from it);
- ``scribbles``: the scribbles alone, no box.

It prints the median, mean and 25th-percentile IoU (at 0.5) and seconds per image (one thread), then the time of one
photo upscaled to 20 megapixels (box method, and the people model's :func:`~harmonization.pipelines.subject.
person_mask`). The reference masks come from a salient-object network, not from people: they are approximate.

These numbers are measured on the photos that were used to choose the settings (working size, iterations, cleanup):
they are optimistic, not a held-out score.
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from ..data.corpus import is_reserved
from ..image_io import load_image, load_mask
from ..ops.mask import dilate, erode, mask_bbox
from ..pipelines.cleanup import NoSubjectFoundError
from ..pipelines.segment import ITERATIONS, WORK_SIDE, object_mask
from ..pipelines.subject import person_mask
from .runner import markdown_table

__all__ = ["METHODS", "iou", "main", "reserved_names", "synthetic_scribbles", "tuning_box"]

METHODS = ("box", "box+scribbles", "scribbles")
NOTE = ("Measured on the photos used to choose the settings (working size, iterations, cleanup): optimistic, not a "
        "held-out score. Reference masks: a salient-object network's (approximate).")


def iou(found: torch.Tensor, reference: torch.Tensor) -> float:
    """Intersection over union of two masks binarised at 0.5 (1.0 when both are empty)."""
    a, b = found >= 0.5, reference >= 0.5
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def tuning_box(reference: torch.Tensor, margin: float = 0.05, inset: int = 2) -> tuple[int, int, int, int]:
    """The protocol's box: the reference object's bounding box grown by ``margin`` of its size on each side.

    Args:
        reference: ``(1, 1, H, W)`` mask in [0, 1] (binarised at 0.5), not empty.
        margin: growth on each side as a fraction of the box's width / height (0.05: a box 10 % larger).
        inset: the box is clipped this many pixels inside the photo.

    Returns:
        ``(x0, y0, x1, y1)`` in pixels, ``(x1, y1)`` exclusive.
    """
    found = mask_bbox(reference)
    if found is None:
        raise ValueError("The reference mask is empty; it has no bounding box.")
    top, left, bottom, right = found
    height, width = reference.shape[-2:]
    grow_x, grow_y = margin * (right - left), margin * (bottom - top)
    return (max(inset, round(left - grow_x)), max(inset, round(top - grow_y)),
            min(width - inset, round(right + grow_x)), min(height - inset, round(bottom + grow_y)))


def _line(mask: torch.Tensor, start: tuple[int, int], end: tuple[int, int]) -> None:
    """Set the pixels of the segment ``start -> end`` (``(row, col)``) in the ``(H, W)`` bool ``mask``."""
    steps = 2 * max(abs(end[0] - start[0]), abs(end[1] - start[1])) + 1
    t = torch.linspace(0.0, 1.0, steps)
    rows = (start[0] + t * (end[0] - start[0])).round().long()
    cols = (start[1] + t * (end[1] - start[1])).round().long()
    mask[rows, cols] = True


def _pick(region: torch.Tensor, count: int, generator: torch.Generator) -> list[tuple[int, int]]:
    where = torch.nonzero(region)
    index = torch.randint(len(where), (count,), generator=generator)
    return [(int(where[i, 0]), int(where[i, 1])) for i in index]


def synthetic_scribbles(reference: torch.Tensor, generator: torch.Generator, strokes: int = 3
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Strokes a user might draw: a polyline through the object's interior and one line on the background.

    The object polyline joins ``strokes + 1`` random points of the object's deep interior (the mask eroded by half its
    largest inscribed square's half-width); only its parts at least the brush radius inside the object are kept, so
    the strokes never cross the reference edge. The brush is 1.2 % of the long side wide. The background stroke joins
    two random points farther than 3 % of the long side from the object and keeps only its pixels that far.

    Args:
        reference: ``(1, 1, H, W)`` mask (binarised at 0.5), not empty.
        generator: the random draws (seed it for repeatable strokes).
        strokes: segments of the object polyline.

    Returns:
        ``(object, background)``: ``(1, 1, H, W)`` float 0/1 strokes; ``background`` is None when the object leaves
        no room for it.
    """
    hard = (reference >= 0.5).float()
    long_side = max(hard.shape[-2:])
    radius = max(1, round(0.006 * long_side))
    low, high = 0, long_side  # the largest k with erode(hard, k) not empty (its inscribed half-width)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if bool(erode(hard, middle).any()) else (low, middle - 1)
    core = erode(hard, max(radius, low // 2))[0, 0] > 0
    inside = erode(hard, radius)[0, 0] > 0
    if not bool(core.any()):
        core = inside if bool(inside.any()) else hard[0, 0] > 0
    line = torch.zeros_like(core)
    points = _pick(core, strokes + 1, generator)
    for start, end in zip(points[:-1], points[1:], strict=True):
        _line(line, start, end)
    allowed = inside if bool(inside.any()) else hard[0, 0] > 0
    on_object = dilate((line & allowed).float()[None, None], radius) * hard
    margin = max(radius + 1, round(0.03 * long_side))
    away = dilate(hard, margin)[0, 0] == 0
    if int(away.sum()) < 2:
        return on_object, None
    line = torch.zeros_like(away)
    _line(line, *_pick(away, 2, generator))
    on_background = dilate((line & away).float()[None, None], radius) * (dilate(hard, margin - radius) == 0)
    return on_object, on_background


def reserved_names(sources: Path) -> set[str]:
    """Stems of the photos in a ``SOURCES.csv`` (``path, registry, package, ..., path_in_package``) that come from
    sources reserved for independent evaluation."""
    names = set()
    with open(sources, newline="") as handle:
        for row in csv.DictReader(handle):
            if is_reserved(row.get("package", ""), row.get("path_in_package", "")):
                names.add(Path(row.get("path", "")).stem)
    return names


def _summary(name: str, scores: Sequence[float], seconds: Sequence[float]) -> list[object]:
    quartiles = statistics.quantiles(scores, n=4, method="inclusive") if len(scores) > 1 else [scores[0]] * 3
    return [name, len(scores), f"{statistics.median(scores):.3f}", f"{statistics.fmean(scores):.3f}",
            f"{quartiles[0]:.3f}", f"{statistics.fmean(seconds):.2f}"]


def _run(method: str, image: torch.Tensor, reference: torch.Tensor, generator: torch.Generator,
         args: argparse.Namespace) -> tuple[float, float]:
    box = tuning_box(reference) if method != "scribbles" else None
    on_object = on_background = None
    if method != "box":
        on_object, on_background = synthetic_scribbles(reference, generator)
    start = time.perf_counter()
    try:
        found = object_mask(image, box, object_strokes=on_object, background_strokes=on_background,
                            iterations=args.iterations, work_side=args.work_side)
    except NoSubjectFoundError:
        found = torch.zeros_like(reference)
    return iou(found, reference), time.perf_counter() - start


def _large_case(photo: Path, mask: Path, megapixels: float, args: argparse.Namespace) -> list[list[object]]:
    image, reference = load_image(photo), load_mask(mask)
    height, width = image.shape[-2:]
    factor = math.sqrt(megapixels * 1e6 / (height * width))
    size = (round(height * factor), round(width * factor))
    big = F.interpolate(image, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    big_reference = F.interpolate(reference, size=size, mode="nearest")
    del image
    rows = []
    label = f"{size[1]}x{size[0]} ({size[0] * size[1] / 1e6:.0f} MP)"
    start = time.perf_counter()
    found = object_mask(big, tuning_box(big_reference), iterations=args.iterations, work_side=args.work_side)
    rows.append(["box", photo.stem, label, f"{time.perf_counter() - start:.2f}", f"{iou(found, big_reference):.3f}"])
    del found
    start = time.perf_counter()
    try:
        person_mask(big)
        outcome = "mask"
    except NoSubjectFoundError:
        outcome = "no person (refused)"
    rows.append([f"people model ({outcome})", photo.stem, label, f"{time.perf_counter() - start:.2f}", "-"])
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harmonization.benchmarks.masks",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, required=True, help="folder of photos (<name>.jpg)")
    parser.add_argument("--masks", type=Path, required=True, help="folder of reference masks (<name>.png)")
    parser.add_argument("--sources", type=Path, default=None,
                        help="SOURCES.csv naming each photo's package (default: beside the photos folder); photos "
                             "from reserved sources are skipped")
    parser.add_argument("--min-cover", type=float, default=0.01, help="skip masks covering less (default 0.01)")
    parser.add_argument("--max-cover", type=float, default=0.70, help="skip masks covering more (default 0.70)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}")
    parser.add_argument("--limit", type=int, default=0, help="only the first N photos (0 = all)")
    parser.add_argument("--iterations", type=int, default=ITERATIONS, help=f"GrabCut iterations ({ITERATIONS})")
    parser.add_argument("--work-side", type=int, default=WORK_SIDE, help=f"GrabCut's long side ({WORK_SIDE} px)")
    parser.add_argument("--large-mp", type=float, default=20.0, help="megapixels of the timing case (0 = skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic scribbles")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    sources = args.sources or args.photos.parent / "SOURCES.csv"
    if not sources.is_file():
        parser.error(f"{sources} not found: give --sources SOURCES.csv so that reserved photos can be skipped")
    torch.set_num_threads(args.threads)
    reserved = reserved_names(sources)
    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    skipped = [p.stem for p in photos if p.stem in reserved]
    scores: dict[str, list[float]] = {m: [] for m in methods}
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    used: list[tuple[Path, Path]] = []
    for photo in photos:
        mask_path = args.masks / f"{photo.stem}.png"
        if photo.stem in reserved or not mask_path.is_file():
            continue
        reference = load_mask(mask_path)
        if not args.min_cover <= float((reference >= 0.5).float().mean()) <= args.max_cover:
            continue
        image = load_image(photo)
        for method in methods:
            generator = torch.Generator().manual_seed(args.seed)
            score, took = _run(method, image, reference, generator, args)
            scores[method].append(score)
            seconds[method].append(took)
        used.append((photo, mask_path))
        print(f"{photo.stem}: " + ", ".join(f"{m} {scores[m][-1]:.3f}" for m in methods), file=sys.stderr, flush=True)
        if args.limit and len(used) >= args.limit:
            break
    if not used:
        parser.error("no photo with a reference mask in the cover range was found")
    print(f"## Any-object masks: IoU against {args.masks.name} (GrabCut at {args.work_side} px, "
          f"{args.iterations} iterations, {args.threads} thread(s))\n")
    print(markdown_table(("method", "photos", "median IoU", "mean IoU", "p25 IoU", "s / image"),
                         [_summary(m, scores[m], seconds[m]) for m in methods], "lrrrrr"))
    print(f"\n{NOTE} Reserved photos skipped: {len(skipped)} ({', '.join(skipped) or 'none'}).")
    if args.large_mp > 0:
        print(f"\n## One photo at {args.large_mp:g} MP (upscaled; seconds of the mask call)\n")
        rows = _large_case(*used[0], args.large_mp, args)
        print(markdown_table(("method", "photo", "size", "seconds", "IoU"), rows, "lllrr"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
