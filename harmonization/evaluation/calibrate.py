"""Calibrate a network checkpoint's default strength: ``harmonization calibrate``.

A network trained on little data is only partly right on photos it never saw; moving the object only part of the
way from the composite to the network's prediction (``strength`` < 1, see :mod:`harmonization.pipelines.neural`)
can then score better than the full prediction. How far to go must be measured on photos the network never saw,
and not on the photos the final result is reported on. Hence folds: for each fold, a network trained with the same
recipe but with that fold's photos kept out (``harmonization train ... --exclude <fold>``) is evaluated on
the fold at every strength; the image-level scores of all folds are pooled, and the strength with the best mean
fPSNR (ties: the lower one) is written into the shipped checkpoint's metadata (``--write``), which the pipeline
then uses by default.

Example (the shipped ``phnet-shared-photos``; see its model card)::

    harmonization calibrate --arch phnet --photos ../shared/data/photos \\
        --masks ../shared/data/photos_masks \\
        --fold calibration-a runs/phnet_calib_a/last.safetensors \\
        --fold calibration-b runs/phnet_calib_b/last.safetensors \\
        --option resolution=320 --option transfer=global --strengths 0.2 0.3 0.4 0.5 0.6 0.7 0.8 1 \\
        --write checkpoints/phnet_shared_photos.safetensors
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from ..data.folders import PhotoMaskFolder
from ..data.splits import load_split
from ..hub import NETWORKS, update_metadata
from .evaluate import best_strengths, evaluate_methods, expand_strengths, format_table, parse_options

__all__ = ["calibrate_strength", "main", "build_parser"]


def calibrate_strength(
    arch: str,
    folds: Sequence[tuple[str, str]],
    photos: str,
    masks: str,
    strengths: Sequence[float],
    options: dict[str, Any] | None = None,
    seed: int = 0,
    min_fraction: float = 0.01,
) -> tuple[float, float, list[dict]]:
    """Evaluate each fold's checkpoint on its fold at every strength and pool the image-level scores.

    Args:
        arch: ``"phnet"`` or ``"fmm"``.
        folds: ``(split, checkpoint)`` pairs: a split name or file of photo stems, and the weights of a network
            that never saw those photos.
        photos, masks: the photo folder and its object masks (synthetic composites, as in the evaluator).
        strengths: the strengths to try.
        options: further options of the method (e.g. ``{"resolution": 320, "transfer": "global"}``).
        seed: seed of the synthetic colour jitter.
        min_fraction: skip masks smaller than this.

    Returns:
        ``(best strength, its pooled mean fPSNR (idih), rows)``; rows as from
        :func:`harmonization.evaluate.evaluate_methods`, methods relabelled ``composite`` and
        ``"<arch> strength=S"`` so that they pool across folds.
    """
    if arch not in NETWORKS:
        raise ValueError(f"arch must be one of {', '.join(NETWORKS)}; got {arch!r}.")
    if not folds:
        raise ValueError("Give at least one fold: --fold SPLIT CHECKPOINT.")
    if not strengths:
        raise ValueError("Give the strengths to try, e.g. --strengths 0.5 0.75 1.")
    rows: list[dict] = []
    for split, checkpoint in folds:
        method = f"{arch}@{checkpoint}"
        methods, per_method = expand_strengths(["composite", method], {method: dict(options or {})}, strengths)
        samples = PhotoMaskFolder(photos, masks, names=load_split(split), min_fraction=min_fraction, seed=seed)
        for row in evaluate_methods(samples, methods, ("idih",), per_method):
            row["method"] = row["method"].replace(method, arch, 1)
            row["fold"] = split
            rows.append(row)
    if not any(row["method"] != "composite" for row in rows):
        raise ValueError("No image was evaluated: check the folds' photo names, --photos, --masks and "
                         "--min-fraction.")
    strength, score = best_strengths(rows)[arch]
    return strength, score, rows


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``harmonization calibrate``."""
    p = argparse.ArgumentParser(prog="harmonization calibrate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=sorted(NETWORKS), required=True)
    p.add_argument("--photos", required=True, help="folder of real photos (synthetic composites)")
    p.add_argument("--masks", required=True, help="folder of object masks (<stem>.png)")
    p.add_argument("--fold", nargs=2, action="append", default=[], metavar=("SPLIT", "CHECKPOINT"), required=True,
                   help="a split (name or file) and the weights of a network trained without those photos")
    p.add_argument("--strengths", nargs="+", type=float, required=True, metavar="S")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option for every fold, e.g. resolution=320 or transfer=global")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic colour jitter")
    p.add_argument("--min-fraction", type=float, default=0.01, help="skip masks smaller than this")
    p.add_argument("--write", metavar="CHECKPOINT",
                   help="write the best strength into this safetensors file's metadata (key 'strength')")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: prints the pooled table and the best strength; returns 0."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        options = parse_options(args.option, [args.arch])[args.arch]
        if "strength" in options or "checkpoint" in options:
            raise ValueError("--option must not set strength or checkpoint; use --strengths and --fold.")
        strength, score, rows = calibrate_strength(args.arch, [tuple(f) for f in args.fold], args.photos,
                                                   args.masks, args.strengths, options, args.seed,
                                                   args.min_fraction)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    print(format_table(rows, ("idih",)))
    composite = [r["idih_fpsnr"] for r in rows if r["method"] == "composite"]
    gain = score - sum(composite) / len(composite)
    print(f"best strength for {args.arch}: {strength:g} (pooled mean fPSNR {score:.2f} dB, idih, {gain:+.2f} dB "
          f"over the composite, {len(composite)} images in {len(args.fold)} fold(s))")
    if args.write:
        folds = ", ".join(split for split, _ in args.fold)
        update_metadata(args.write, {"strength": f"{strength:g}",
                                     "strength_calibration": f"best pooled mean fPSNR (idih) over folds {folds}"})
        print(f"wrote strength {strength:g} into {args.write}")
    return 0

