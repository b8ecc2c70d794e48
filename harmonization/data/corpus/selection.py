"""Selection, de-duplication, grouping and splits: :func:`select_photos` applies the reserved-source and licence
rules, then the photo filters, stores the kept photos and drops duplicates (pairs closer than
:data:`DUPLICATE_BITS` in both 64-bit hashes, or with the same GCompris source URL; the larger original is kept);
:func:`group_photos` joins near-duplicates (closer than :data:`NEAR_BITS`) and the rules' explicit groups into
clusters, and :func:`make_splits` takes whole clusters for the held-out split (>= :data:`HELDOUT_TARGET` photos)
and the two calibration folds (:data:`CALIBRATION_TARGET` each), keeping them away from the photos the shipped
networks were trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from .photos import SELECT_VERSION, dhash, hamming, phash, prepare_photo, save_jpeg
from .rules import Candidate, is_reserved, licence_allows_training

__all__ = ["CALIBRATION_TARGET", "DUPLICATE_BITS", "HELDOUT_TARGET", "NEAR_BITS", "SPLITS_DIR", "Selection",
           "group_photos", "make_splits", "read_names", "select_photos"]

#: The committed split lists (``harmonization/data/splits``).
SPLITS_DIR = Path(__file__).resolve().parents[1] / "splits"
#: Hamming distances (of 64 bits) under which two photos are duplicates (both hashes) or near-duplicates (both).
DUPLICATE_BITS = (6, 8)
NEAR_BITS = (12, 16)
HELDOUT_TARGET = 90
CALIBRATION_TARGET = 40


def _close(a: dict[str, Any], b: dict[str, Any], limits: tuple[int, int]) -> bool:
    return hamming(a["dhash"], b["dhash"]) <= limits[0] and hamming(a["phash"], b["phash"]) <= limits[1]


@dataclass
class Selection:
    """What happened to every candidate: ``records[key]`` with ``status`` ``kept`` / ``reserved`` / ``licence`` /
    ``rejected`` / ``duplicate`` and the fields of ``SOURCES.csv``."""

    records: dict[str, dict[str, Any]]

    @property
    def kept(self) -> list[dict[str, Any]]:
        """Records of the stored photos, sorted by stem."""
        return sorted((r for r in self.records.values() if r["status"] == "kept"), key=lambda r: r["stem"])


def _key(candidate: Candidate) -> str:
    return f"{candidate.registry}|{candidate.package}|{candidate.version}|{candidate.path_in_package}"


def select_photos(candidates: Iterable[Candidate], out: str | os.PathLike[str], *,
                  cache_file: str | os.PathLike[str] | None = None, log: Callable[[str], None] = lambda s: None,
                  limit: int | None = None) -> Selection:
    """Filter, store and de-duplicate candidates into ``out/photos``.

    Reserved files are dropped without being read; then the licence rule, the image filters and resizing
    (:func:`prepare_photo`); then duplicates (hashes of the stored JPEGs, or the same source URL) are removed,
    keeping the larger original (ties: the smaller stem). Per-candidate decisions are cached in ``cache_file``
    (JSON) so a rerun decodes nothing it decided before.

    Returns:
        The :class:`Selection`; its kept records have ``dhash``/``phash`` and a ``group`` (explicit groups only;
        :func:`group_photos` adds near-duplicates).
    """
    out = Path(out)
    photos = out / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    cached: dict[str, dict[str, Any]] = {}
    if cache_file and Path(cache_file).is_file():
        cached = json.loads(Path(cache_file).read_text())
    records: dict[str, dict[str, Any]] = {}
    used: set[str] = set()
    count = 0
    for candidate in candidates:
        key = _key(candidate)
        base = {"select": SELECT_VERSION, "registry": candidate.registry, "package": candidate.package,
                "version": candidate.version, "path_in_package": candidate.path_in_package,
                "license": candidate.licence, "attribution": candidate.attribution, "group": candidate.group,
                "source_url": candidate.source_url}
        if is_reserved(candidate.package, candidate.path_in_package):
            records[key] = {**base, "stem": candidate.stem, "status": "reserved",
                            "reason": "reserved for independent evaluation"}
            continue
        if not licence_allows_training(candidate.licence):
            records[key] = {**base, "stem": candidate.stem, "status": "licence",
                            "reason": f"licence does not allow training: {candidate.licence!r}"}
            continue
        if limit is not None and count >= limit:
            continue
        stem, n = candidate.stem, 2
        while stem in used:
            stem, n = f"{candidate.stem}_{n}", n + 1
        used.add(stem)
        previous = cached.get(key)
        if previous and previous.get("stem") == stem and previous.get("select") == SELECT_VERSION and (
                previous.get("status") == "rejected" or (
                previous.get("status") == "kept" and (photos / f"{stem}.jpg").is_file())):
            records[key] = {**previous, **base}
            count += previous["status"] == "kept"
            continue
        rgb8, reason, info = prepare_photo(candidate.load())
        if rgb8 is None:
            records[key] = {**base, **info, "stem": stem, "status": "rejected", "reason": reason}
            log(f"rejected {stem}: {reason}")
            continue
        path = photos / f"{stem}.jpg"
        save_jpeg(rgb8, path)
        with Image.open(path) as stored:
            stored_rgb = stored.convert("RGB")
            hashes = {"dhash": dhash(stored_rgb), "phash": phash(stored_rgb), "size": f"{stored.width}x{stored.height}"}
        records[key] = {**base, **info, **hashes, "stem": stem, "status": "kept", "reason": ""}
        count += 1
        log(f"kept {stem} ({info['original_size']})")
    _deduplicate(records, photos, log)
    if limit is None:
        stems = {r["stem"] for r in records.values() if r["status"] == "kept"}
        for stale in photos.glob("*.jpg"):
            if stale.stem not in stems:
                stale.unlink()
                log(f"removed stale {stale.name}")
    if cache_file:
        Path(cache_file).write_text(json.dumps(records, indent=1, sort_keys=True))
    return Selection(records)


def _area(record: dict[str, Any]) -> int:
    width, height = (int(v) for v in record["original_size"].split("x"))
    return width * height


def _deduplicate(records: dict[str, dict[str, Any]], photos: Path, log: Callable[[str], None]) -> None:
    kept = sorted((r for r in records.values() if r["status"] == "kept"), key=lambda r: (-_area(r), r["stem"]))
    winners: list[dict[str, Any]] = []
    for record in kept:
        twin = next((w for w in winners if _close(record, w, DUPLICATE_BITS)
                     or (record["source_url"] and record["source_url"] == w["source_url"])), None)
        if twin is None:
            winners.append(record)
            continue
        record["status"], record["reason"] = "duplicate", f"duplicate of {twin['stem']}"
        (photos / f"{record['stem']}.jpg").unlink(missing_ok=True)
        log(f"duplicate {record['stem']} of {twin['stem']}")


def group_photos(records: Sequence[dict[str, Any]], extra: Sequence[dict[str, Any]] = ()) -> list[list[str]]:
    """Near-duplicate clusters (union of :data:`NEAR_BITS` neighbours and explicit groups), sorted.

    Records with the same ``group`` (the explicit groups of the rules: stereo pairs, cube-map faces) are joined
    too. (GCompris files with the same source URL never get here: :func:`select_photos` keeps one of them.)

    Args:
        records: kept records with ``stem``, ``dhash``, ``phash`` and ``group``.
        extra: further hashed records (e.g. the shared photos, stems prefixed ``shared:``) that join clusters.
    """
    items = list(records) + list(extra)
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    by_group: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.get("group"):
            if item["group"] in by_group:
                union(i, by_group[item["group"]])
            by_group.setdefault(item["group"], i)
        for j in range(i):
            if _close(item, items[j], NEAR_BITS):
                union(i, j)
    clusters: dict[int, list[str]] = {}
    for i, item in enumerate(items):
        clusters.setdefault(find(i), []).append(item["stem"])
    return sorted(sorted(c) for c in clusters.values())


def _order(tag: str, cluster: Sequence[str]) -> str:
    return hashlib.sha1(f"{tag}:{cluster[0]}".encode()).hexdigest()


def make_splits(clusters: Sequence[Sequence[str]], *, trained: Iterable[str] = (), shared: Iterable[str] = (),
                heldout_target: int = HELDOUT_TARGET, fold_target: int = CALIBRATION_TARGET
                ) -> dict[str, list[str]]:
    """The held-out split and calibration folds ``a``/``b`` (corpus stems), whole clusters each.

    The shipped networks were trained on ``../shared/data/photos`` except the photos listed in
    ``harmonization/data/splits/shared_photos_heldout.txt``, and many corpus photos are the same files (same
    packages). So a near-duplicate cluster that holds a photo near-duplicate to a shared photo *used in that
    training* never enters the held-out split (so the before/after comparison with the shipped networks is fair);
    shared held-out photos may. The calibration folds avoid every cluster that matches any shared photo. Clusters
    are taken in the order of a SHA-1 of the cluster's first stem (deterministic).

    Args:
        clusters: near-duplicate clusters; stems starting with ``shared:`` are shared photos (not corpus photos).
        trained: shared photo stems the shipped networks were trained on (``shared:<stem>``): their clusters never
            go into the held-out split.
        shared: all shared photo stems (``shared:<stem>``): their clusters never go into a calibration fold.
        heldout_target, fold_target: minimum sizes (clusters are added in hash order until reached).

    Returns:
        ``{"heldout": [...], "calibration-a": [...], "calibration-b": [...]}`` sorted lists.
    """
    trained, shared = set(trained), set(shared)
    corpus = [[s for s in c if not s.startswith("shared:")] for c in clusters]
    flags = [(bool(set(c) & trained), bool(set(c) & shared)) for c in clusters]
    pool = [(c, f) for c, f in zip(corpus, flags, strict=True) if c]
    out: dict[str, list[str]] = {}
    taken: set[int] = set()
    for name, tag, target, allowed in (
            ("heldout", "corpus-heldout", heldout_target, lambda f: not f[0]),
            ("calibration-a", "corpus-calibration", fold_target, lambda f: not f[1]),
            ("calibration-b", "corpus-calibration", fold_target, lambda f: not f[1])):
        chosen: list[str] = []
        order = sorted(range(len(pool)), key=lambda i: (_order(tag, pool[i][0]), pool[i][0][0]))
        for i in order:
            if len(chosen) >= target:
                break
            if i in taken or not allowed(pool[i][1]):
                continue
            chosen.extend(pool[i][0])
            taken.add(i)
        out[name] = sorted(chosen)
    return out


def read_names(path: Path) -> list[str]:
    """The names listed in a split file, one a line (blank lines and ``#`` comments skipped; none if missing)."""
    if not path.is_file():
        return []
    return [s.strip() for s in path.read_text().splitlines() if s.strip() and not s.strip().startswith("#")]
