"""Evaluate harmonization methods on a dataset: ``harmonization evaluate``.

Prints a Markdown table of MSE, fMSE, PSNR and fPSNR (mean over images) per method, overall and per
foreground-ratio bucket (<5%, 5-15%, >15%), in one or both metric conventions; optionally writes per-image CSV.

Datasets: a built corpus (``--corpus ROOT``, default split ``heldout``: every (photo, region) pair as a jitter AND a
colour-transfer composite, seeded; ``--max-regions`` regions per photo at most; rows per kind as well), a folder of
photos with object masks (synthetic composites, FFHQH colour jitter on the object, seeded per photo), an iHarmony4
tree (``--iharmony4 ROOT``, the ``*_test.txt`` lists) or an FFHQH tree (``--ffhqh ROOT``). ``--table-from CSV ...``
prints the table of per-image rows saved by earlier runs (``--csv``), e.g. one run of today's checkpoints and one of
new ones on the same composites.

Methods: any registered method name, ``composite`` (the unharmonized input), or ``<method>@<checkpoint>`` for a
network with a given registry name or weights file (several checkpoints can be compared in one table). Method
options: ``--option [method:]key=value`` (without ``method:`` the option goes to every method that takes it);
networks also take ``resolution=<px>`` (the long side they run at, overriding the checkpoint's registered one).
``--strengths S ...`` evaluates every listed method that has a ``strength`` option at each of these strengths (rows
``"<method> strength=S"``) and prints the best one per method: how a checkpoint's default strength is calibrated on
photos its network never saw (see ``checkpoints/MODEL_CARD_phnet-shared-photos.md``).

Examples::

    harmonization evaluate --corpus /work/cache/corpus --split heldout --max-regions 4 \
        --methods composite global local phnet fmm --csv corpus_heldout.csv

    harmonization evaluate --photos ../shared/data/photos --masks ../shared/data/photos_masks \\
        --methods composite global local --convention idih dovenet
    harmonization evaluate --photos ../shared/data/photos --masks ../shared/data/photos_masks \\
        --split heldout --methods composite global local phnet fmm --csv heldout.csv
    harmonization evaluate --photos ../shared/data/photos --masks ../shared/data/photos_masks \\
        --split calibration-a --methods composite phnet@runs/phnet_calib_a/last.safetensors --strengths 0.5 0.75 1
    harmonization evaluate --iharmony4 /data/iHarmony4 --methods composite phnet \\
        --option phnet:checkpoint=checkpoints/phnet-shared-photos-128.safetensors
"""

from __future__ import annotations

import argparse
import csv
import itertools
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ..data.folders import COMPOSITE_KINDS, CorpusComposites, HarmonizationSample, PhotoMaskFolder
from ..data.readers import FFHQH, IHarmony4
from ..data.splits import load_split
from ..metrics import CONVENTIONS, evaluate
from ..pipelines.options import parse_option_value
from ..pipelines.registry import get_method
from ..pipelines.run import harmonize_tensor

__all__ = ["BUCKETS", "bucket_of", "evaluate_methods", "format_table", "main", "parse_options", "build_parser",
           "expand_strengths", "best_strengths", "read_rows", "score_row"]

BUCKETS: tuple[tuple[str, float, float], ...] = (("<5%", 0.0, 0.05), ("5-15%", 0.05, 0.15), (">15%", 0.15, 1.01))
METRIC_NAMES = ("mse", "fmse", "psnr", "fpsnr")


def bucket_of(ratio: float) -> str:
    """Name of the foreground-ratio bucket of ``ratio``."""
    for name, low, high in BUCKETS:
        if low <= ratio < high:
            return name
    return BUCKETS[-1][0]


def _split_method(method: str) -> tuple[str, str | None]:
    """``"<base>[@<checkpoint>][ strength=S]"`` -> ``(base, checkpoint)`` (the strength label is dropped)."""
    base, _, checkpoint = method.split(" ", 1)[0].partition("@")
    return base, checkpoint or None


STRENGTH_LABEL = " strength="


def expand_strengths(
    methods: Sequence[str], options: dict[str, dict[str, Any]], strengths: Sequence[float]
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Replace each method that takes a ``strength`` option by one entry per strength.

    Args:
        methods: method names as given to :func:`evaluate_methods`.
        options: per-method options (from :func:`parse_options`).
        strengths: the strengths to evaluate.

    Returns:
        ``(methods, options)``: entries ``"<method> strength=S"`` carry ``strength=S`` in their options; methods
        without that option (``composite``, painterly ones) are kept as they are.
    """
    out_methods: list[str] = []
    out_options: dict[str, dict[str, Any]] = {}
    for method in methods:
        if "strength" not in _accepted_options(_split_method(method)[0]):
            out_methods.append(method)
            out_options[method] = dict(options.get(method, {}))
            continue
        for strength in strengths:
            label = f"{method}{STRENGTH_LABEL}{strength:g}"
            out_methods.append(label)
            out_options[label] = {**options.get(method, {}), "strength": float(strength)}
    return out_methods, out_options


def best_strengths(rows: list[dict], convention: str = "idih") -> dict[str, tuple[float, float]]:
    """``{method: (best strength, its mean fPSNR)}`` over the ``"<method> strength=S"`` rows (ties: the lower)."""
    scores: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        method, label, value = row["method"].partition(STRENGTH_LABEL)
        if label:
            scores[method][float(value)].append(row[f"{convention}_fpsnr"])
    best = {}
    for method, per_strength in scores.items():
        means = {s: sum(v) / len(v) for s, v in per_strength.items()}
        strength = max(sorted(means), key=lambda s: means[s])
        best[method] = (strength, means[strength])
    return best


def _accepted_options(base: str) -> set[str]:
    return set() if base == "composite" else set(get_method(base).options)


def parse_options(items: Sequence[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Turn ``[method:]key=value`` strings into per-method option dicts.

    Without ``method:`` an option goes to every listed method that accepts it (networks also accept
    ``resolution``). Values are parsed as None/bool/int/float when they look like one, else kept as strings.

    Raises:
        ValueError: for malformed items, unknown methods or options that no listed method takes.
    """
    per_method: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for item in items:
        head, eq, value = item.partition("=")
        if not eq or not head:
            raise ValueError(f"--option expects [method:]key=value, e.g. phnet:checkpoint=file.safetensors; got "
                             f"{item!r}.")
        target, colon, key = head.rpartition(":")
        targets = [m for m in methods if m == target or _split_method(m)[0] == target] if colon else [
            m for m in methods if key in _accepted_options(_split_method(m)[0])]
        if colon and not targets:
            raise ValueError(f"--option {item!r} names method {target!r}, which is not in --methods "
                             f"({', '.join(methods)}).")
        for m in targets:
            if key not in _accepted_options(_split_method(m)[0]):
                known = ", ".join(sorted(_accepted_options(_split_method(m)[0]))) or "none"
                raise ValueError(f"Method {m!r} has no option {key!r}; its options: {known}.")
            per_method[m][key] = parse_option_value(value)
        if not targets:
            raise ValueError(f"No method in --methods ({', '.join(methods)}) takes the option {key!r}.")
    return per_method


def _predict(method: str, sample: HarmonizationSample, options: dict) -> torch.Tensor:
    base, checkpoint = _split_method(method)
    if base == "composite":
        return sample.composite
    options = dict(options)
    if checkpoint is not None:
        options["checkpoint"] = checkpoint
    with torch.inference_mode():
        return harmonize_tensor(sample.composite, sample.mask, base, **options)


def evaluate_methods(
    samples: Iterable[HarmonizationSample],
    methods: Sequence[str],
    conventions: Sequence[str] = ("idih",),
    options: dict | None = None,
) -> list[dict]:
    """Run every method on every sample and return one row per (image, method) with all metrics.

    ``"composite"`` stands for the unharmonized input itself; ``"<method>@<checkpoint>"`` runs a network with that
    checkpoint. ``options`` is either one dict for every method or ``{method: {option: value}}`` (as returned by
    :func:`parse_options`).
    """
    options = options or {}
    per_method = all(isinstance(v, dict) for v in options.values()) and set(options) <= set(methods)
    rows = []
    for sample in samples:
        for method in methods:
            start = time.perf_counter()
            pred = _predict(method, sample, options.get(method, {}) if per_method else options)
            rows.append(score_row(sample, method, pred, conventions, time.perf_counter() - start))
    return rows


def score_row(sample: HarmonizationSample, method: str, pred: torch.Tensor, conventions: Sequence[str] = ("idih",),
              seconds: float = 0.0) -> dict:
    """One per-image row (name, kind, method, foreground ratio and bucket, seconds, metrics) for ``pred``."""
    row = {"image": sample.name, "kind": sample.kind, "method": method, "fg_ratio": sample.foreground_ratio,
           "bucket": bucket_of(sample.foreground_ratio), "seconds": seconds}
    for convention in conventions:
        for key, value in evaluate(pred, sample.target, sample.mask, convention).items():
            row[f"{convention}_{key}"] = value
    return row


def format_table(rows: list[dict], conventions: Sequence[str]) -> str:
    """Markdown table: mean metrics per method for all images, per composite kind (when the rows record one:
    ``jitter``, ``transfer``) and per foreground-ratio bucket."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    methods: list[str] = []
    kinds: list[str] = []
    for row in rows:
        if row["method"] not in methods:
            methods.append(row["method"])
        groups[(row["method"], "all")].append(row)
        groups[(row["method"], row["bucket"])].append(row)
        kind = row.get("kind") or ""
        if kind:
            groups[(row["method"], kind)].append(row)
            if kind not in kinds:
                kinds.append(kind)
    header = ["method", "subset", "images"]
    for convention in conventions:
        header += [f"{m} ({convention})" for m in ("MSE", "fMSE", "PSNR", "fPSNR")]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for subset in ["all"] + kinds + [b[0] for b in BUCKETS]:
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
    """Argument parser of ``harmonization evaluate``."""
    p = argparse.ArgumentParser(prog="harmonization evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    data = p.add_argument_group("dataset (one of)")
    data.add_argument("--corpus", help="a built corpus root (photos/, masks/, masks.csv): its (photo, region) pairs "
                      "of --split (default heldout), each as every --kinds composite")
    data.add_argument("--kinds", nargs="+", default=list(COMPOSITE_KINDS), choices=COMPOSITE_KINDS,
                      help="--corpus: composite kinds (FFHQH colour jitter, colour transfer from another region)")
    data.add_argument("--max-regions", type=int, default=4,
                      help="--corpus: at most this many regions per photo (seeded choice; 0 = all)")
    data.add_argument("--shard", metavar="I/N", help="--corpus: evaluate only pairs I, I+N, ... (0-based; run N "
                      "processes and join their CSVs with --table-from; the composites are those of the whole split)")
    data.add_argument("--table-from", nargs="+", metavar="CSV",
                      help="print the table of per-image rows saved with --csv (several files: one table)")
    data.add_argument("--photos", help="folder of real photos (synthetic composites)")
    data.add_argument("--masks", help="folder of object masks (<stem>.png), with --photos")
    data.add_argument("--iharmony4", help="iHarmony4 root (composite_images/, masks/, real_images/ per subset)")
    data.add_argument("--subsets", nargs="+", help="iHarmony4 subsets (default: all found)")
    data.add_argument("--ffhqh", help="FFHQH root (comp/, alpha/ and a ground-truth folder)")
    data.add_argument("--ffhqh-real", help="FFHQH ground-truth folder (default: real/, gt/, images/ or ffhq/)")
    p.add_argument("--split", help="photos: 'heldout' (the committed held-out list) or a file with one photo stem "
                   "per line; iharmony4: train, test (default) or all; ffhqh: a file of stems")
    p.add_argument("--methods", nargs="+", default=["composite", "global", "local"],
                   help="methods to evaluate; 'composite' = the unharmonized input; <method>@<checkpoint> for a "
                   "network checkpoint (registry name or file)")
    p.add_argument("--option", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                   help="method option, e.g. phnet:checkpoint=phnet-shared-photos-128 or resolution=192")
    p.add_argument("--strengths", nargs="+", type=float, metavar="S",
                   help="evaluate methods that take a strength option at each of these strengths and print the best")
    p.add_argument("--convention", nargs="+", default=["idih"], choices=CONVENTIONS)
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic colour jitter")
    p.add_argument("--min-fraction", type=float, default=0.01, help="skip masks smaller than this")
    p.add_argument("--limit", type=int, help="evaluate at most this many images")
    p.add_argument("--csv", help="write per-image rows to this CSV file")
    return p


def _samples(args: argparse.Namespace) -> Iterable[HarmonizationSample]:
    chosen = [flag for flag, value in (("--photos", args.photos), ("--iharmony4", args.iharmony4),
                                       ("--ffhqh", args.ffhqh), ("--corpus", args.corpus)) if value]
    if len(chosen) != 1:
        raise ValueError(f"Give exactly one dataset: --corpus, --photos with --masks, --iharmony4 or --ffhqh; got "
                         f"{', '.join(chosen) or 'none'}.")
    if args.corpus:
        shard = (0, 1)
        if args.shard:
            index, _, count = args.shard.partition("/")
            if not (index.isdigit() and count.isdigit()):
                raise ValueError(f"--shard expects I/N, e.g. 0/2; got {args.shard!r}.")
            shard = (int(index), int(count))
        return iter(CorpusComposites(args.corpus, args.split or "heldout", kinds=args.kinds,
                                     max_regions=args.max_regions, seed=args.seed, min_fraction=args.min_fraction,
                                     shard=shard))
    if args.iharmony4:
        return iter(IHarmony4(args.iharmony4, args.split or "test", args.subsets))
    if args.ffhqh:
        names = load_split(args.split) if args.split else None
        return iter(FFHQH(args.ffhqh, args.ffhqh_real, names))
    if not args.masks:
        raise ValueError("--photos needs --masks (a folder of object masks named like the photos, .png).")
    names = load_split(args.split) if args.split else None
    dataset = PhotoMaskFolder(args.photos, args.masks, names=names, min_fraction=args.min_fraction, seed=args.seed)
    return iter(dataset)


_TEXT_COLUMNS = ("image", "kind", "method", "bucket", "fold")


def read_rows(paths: Sequence[str]) -> list[dict]:
    """Per-image rows saved by ``--csv`` (numbers parsed back), in file order."""
    rows: list[dict] = []
    for path in paths:
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                rows.append({k: (v if k in _TEXT_COLUMNS else float(v)) for k, v in row.items()})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; prints the table and returns 0."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.table_from:
        rows = read_rows(args.table_from)
        if not rows:
            parser.error("The --table-from files hold no rows.")
        print(format_table(rows, args.convention))
        return 0
    try:
        options = parse_options(args.option, args.methods)
        methods = list(args.methods)
        if args.strengths:
            methods, options = expand_strengths(methods, options, args.strengths)
        samples = _samples(args)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    if args.limit:
        samples = itertools.islice(samples, args.limit)
    rows = evaluate_methods(samples, methods, args.convention, options)
    if not rows:
        print("No images evaluated: check the folders and --min-fraction.", file=sys.stderr)
        return 2
    print(format_table(rows, args.convention))
    for method, (strength, score) in best_strengths(rows, args.convention[0]).items():
        print(f"best strength for {method}: {strength:g} (mean fPSNR {score:.2f} dB, {args.convention[0]})")
    if args.csv:
        with open(args.csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return 0

