"""Evaluate harmonization methods on a dataset: ``python -m harmonization.evaluate``.

Prints a Markdown table of MSE, fMSE, PSNR and fPSNR (mean over images) per method, overall and per
foreground-ratio bucket (<5%, 5-15%, >15%), in one or both metric conventions; optionally writes per-image CSV.

Example (synthetic composites from photos with object masks, FFHQH colour jitter)::

    python -m harmonization.evaluate --photos ../shared/data/photos --masks ../shared/data/photos_masks \\
        --methods composite global local --convention idih dovenet
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from .api import harmonize_tensor
from .data.folders import HarmonizationSample, PhotoMaskFolder
from .metrics import CONVENTIONS, evaluate

__all__ = ["BUCKETS", "bucket_of", "evaluate_methods", "format_table", "main"]

BUCKETS: tuple[tuple[str, float, float], ...] = (("<5%", 0.0, 0.05), ("5-15%", 0.05, 0.15), (">15%", 0.15, 1.01))
METRIC_NAMES = ("mse", "fmse", "psnr", "fpsnr")


def bucket_of(ratio: float) -> str:
    """Name of the foreground-ratio bucket of ``ratio``."""
    for name, low, high in BUCKETS:
        if low <= ratio < high:
            return name
    return BUCKETS[-1][0]


def _predict(method: str, sample: HarmonizationSample, options: dict) -> torch.Tensor:
    if method == "composite":
        return sample.composite
    with torch.inference_mode():
        return harmonize_tensor(sample.composite, sample.mask, method, **options)


def evaluate_methods(
    samples: Iterable[HarmonizationSample],
    methods: Sequence[str],
    conventions: Sequence[str] = ("idih",),
    options: dict | None = None,
) -> list[dict]:
    """Run every method on every sample and return one row per (image, method) with all metrics.

    ``"composite"`` stands for the unharmonized input itself.
    """
    rows = []
    for sample in samples:
        for method in methods:
            start = time.perf_counter()
            pred = _predict(method, sample, options or {})
            seconds = time.perf_counter() - start
            row = {"image": sample.name, "method": method, "fg_ratio": sample.foreground_ratio,
                   "bucket": bucket_of(sample.foreground_ratio), "seconds": seconds}
            for convention in conventions:
                for key, value in evaluate(pred, sample.target, sample.mask, convention).items():
                    row[f"{convention}_{key}"] = value
            rows.append(row)
    return rows


def format_table(rows: list[dict], conventions: Sequence[str]) -> str:
    """Markdown table: mean metrics per method for all images and per foreground-ratio bucket."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    methods: list[str] = []
    for row in rows:
        if row["method"] not in methods:
            methods.append(row["method"])
        groups[(row["method"], "all")].append(row)
        groups[(row["method"], row["bucket"])].append(row)
    header = ["method", "subset", "images"]
    for convention in conventions:
        header += [f"{m} ({convention})" for m in ("MSE", "fMSE", "PSNR", "fPSNR")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for subset in ["all"] + [b[0] for b in BUCKETS]:
        for method in methods:
            group = groups.get((method, subset), [])
            if not group:
                continue
            cells = [method, subset, str(len(group))]
            for convention in conventions:
                for key in METRIC_NAMES:
                    values = [r[f"{convention}_{key}"] for r in group]
                    mean = sum(values) / len(values)
                    cells.append(f"{mean:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m harmonization.evaluate``."""
    p = argparse.ArgumentParser(prog="python -m harmonization.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", required=True, help="folder of real photos")
    p.add_argument("--masks", required=True, help="folder of object masks (<stem>.png)")
    p.add_argument("--split", help="text file with one photo stem per line (e.g. a held-out list)")
    p.add_argument("--methods", nargs="+", default=["composite", "global", "local"],
                   help="methods to evaluate; 'composite' = the unharmonized input")
    p.add_argument("--convention", nargs="+", default=["idih"], choices=CONVENTIONS)
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic colour jitter")
    p.add_argument("--min-fraction", type=float, default=0.01, help="skip masks smaller than this")
    p.add_argument("--limit", type=int, help="evaluate at most this many images")
    p.add_argument("--csv", help="write per-image rows to this CSV file")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; prints the table and returns 0."""
    args = build_parser().parse_args(argv)
    names = None
    if args.split:
        names = [line.strip() for line in Path(args.split).read_text().splitlines() if line.strip()]
    dataset = PhotoMaskFolder(args.photos, args.masks, names=names, min_fraction=args.min_fraction, seed=args.seed)
    samples: Iterable[HarmonizationSample] = iter(dataset)
    if args.limit:
        samples = itertools.islice(dataset, args.limit)
    rows = evaluate_methods(samples, args.methods, args.convention)
    if not rows:
        print("No images evaluated: check the folders and --min-fraction.", file=sys.stderr)
        return 2
    print(format_table(rows, args.convention))
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
