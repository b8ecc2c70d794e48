"""Calibrate a network checkpoint's default strength: ``harmonization calibrate``.

A network trained on little data is only partly right on photos it never saw; moving the object only part of the
way from the composite to the network's prediction (``strength`` < 1, see :mod:`harmonization.pipelines.neural`)
can then score better than the full prediction. How far to go must be measured on photos the network never saw,
and not on the photos the final result is reported on. Hence folds: for each fold, a network trained with the same
recipe but with that fold's photos kept out (``harmonization train ... --exclude <fold>``) is evaluated on
the fold at every strength; the image-level scores of all folds are pooled, and the strength with the best mean
fPSNR (ties: the lower one) is written into the shipped checkpoint's metadata (``--write``), which the pipeline
then uses by default.

The network runs once per image (at strength 1); every other strength ``s`` is scored on
``clamp(composite + s * (output - composite))``, which is what the pipeline returns at strength ``s`` (exactly for
``s <= 1``, and for binary masks at any ``s``).

With ``--corpus ROOT`` the folds are corpus splits (``calibration-a``, ``calibration-b``; the same network may be
given for several folds when it never saw any of them), each (photo, region) pair as a jitter and a colour-transfer
composite (``--max-regions`` per photo).

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
import time
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from ..data.folders import CorpusComposites, HarmonizationSample, PhotoMaskFolder
from ..data.splits import load_split
from ..hub import NETWORKS, update_metadata
from .evaluate import STRENGTH_LABEL, _predict, best_strengths, format_table, parse_options, score_row

__all__ = ["calibrate_strength", "main", "build_parser"]


def strength_rows(samples: Iterable[HarmonizationSample], method: str, label: str, strengths: Sequence[float],
                  options: dict[str, Any] | None = None) -> list[dict]:
    """Rows ``composite`` and ``"<label> strength=S"`` per sample, from ONE run of ``method`` at strength 1.

    The pipeline's output at strength ``s`` is ``clamp(lerp(composite, prediction, s))`` blended with the mask, which
    equals ``clamp(lerp(composite, output at strength 1, s))`` (exactly for ``s <= 1``; for ``s > 1`` wherever the
    mask is 0 or 1), so the network runs once per image.
    """
    rows = []
    for sample in samples:
        rows.append(score_row(sample, "composite", sample.composite))
        start = time.perf_counter()
        full = _predict(method, sample, {**(options or {}), "strength": 1.0}).float()
        seconds = time.perf_counter() - start
        for strength in strengths:
            pred = torch.lerp(sample.composite.float(), full, float(strength)).clamp(0.0, 1.0)
            rows.append(score_row(sample, f"{label}{STRENGTH_LABEL}{strength:g}", pred, ("idih",), seconds))
    return rows


def calibrate_strength(
    arch: str,
    folds: Sequence[tuple[str, str]],
    photos: str | None,
    masks: str | None,
    strengths: Sequence[float],
    options: dict[str, Any] | None = None,
    seed: int = 0,
    min_fraction: float = 0.01,
    corpus: str | None = None,
    max_regions: int = 2,
) -> tuple[float, float, list[dict]]:
    """Evaluate each fold's checkpoint on its fold at every strength and pool the image-level scores.

    Args:
        arch: ``"phnet"`` or ``"fmm"``.
        folds: ``(split, checkpoint)`` pairs: a split name or file of photo stems, and the weights of a network
            that never saw those photos.
        photos, masks: the photo folder and its object masks (synthetic composites, as in the evaluator); not
            needed with ``corpus``.
        strengths: the strengths to try.
        options: further options of the method (e.g. ``{"resolution": 320, "transfer": "global"}``).
        seed: seed of the synthetic colour jitter.
        min_fraction: skip masks smaller than this.
        corpus: a built corpus; the folds are then corpus splits (jitter and colour-transfer composites).
        max_regions: with ``corpus``, at most this many regions per photo.

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
    if not corpus and not (photos and masks):
        raise ValueError("Give --corpus, or --photos and --masks.")
    rows: list[dict] = []
    for split, checkpoint in folds:
        if corpus:
            samples: Iterable[HarmonizationSample] = CorpusComposites(
                corpus, split, max_regions=max_regions, seed=seed, min_fraction=min_fraction)
        else:
            samples = PhotoMaskFolder(photos, masks, names=load_split(split), min_fraction=min_fraction, seed=seed)
        for row in strength_rows(samples, f"{arch}@{checkpoint}", arch, strengths, options):
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
    p.add_argument("--corpus", help="a built corpus: folds are its splits (calibration-a, calibration-b)")
    p.add_argument("--max-regions", type=int, default=2, help="--corpus: at most this many regions per photo")
    p.add_argument("--photos", help="folder of real photos (synthetic composites)")
    p.add_argument("--masks", help="folder of object masks (<stem>.png)")
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
                                                   args.min_fraction, args.corpus, args.max_regions)
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

