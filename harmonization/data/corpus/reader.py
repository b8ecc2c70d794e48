"""Reading a built corpus for training: :class:`CorpusPairs` lists its (photo, mask) pairs for one split (the
training side, the held-out split, a calibration fold or all), filtered by mask kind and foreground fraction, from
``masks.csv`` and the committed split lists (``harmonization/data/splits/corpus_*.txt``).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from .selection import SPLITS_DIR, read_names

__all__ = ["CorpusPairs"]


class CorpusPairs(Sequence[tuple[Path, Path]]):
    """(photo, mask) pairs of a built corpus, for training.

    Args:
        root: the corpus folder (``photos/``, ``masks/``, ``masks.csv``).
        split: ``"train"`` (every photo outside the held-out split), ``"heldout"``, ``"calibration-a"``,
            ``"calibration-b"`` or ``"all"``.
        exclude: photo stems to leave out (e.g. a calibration fold for a fold run).
        kinds: mask kinds to keep (default all: ``salient``, ``person``, ``segment``, ``alpha``).
        min_fraction, max_fraction: keep regions whose foreground fraction lies in this range.
        splits_dir: folder of the ``corpus_*.txt`` split lists (default the committed ones).

    Each item is ``(photo_path, mask_path)``; :attr:`records` has the ``masks.csv`` rows of the same pairs.
    """

    _FILES = {"heldout": "corpus_heldout.txt", "calibration-a": "corpus_calibration_a.txt",
              "calibration-b": "corpus_calibration_b.txt"}

    def __init__(self, root: str | os.PathLike[str], split: str = "train", *, exclude: Iterable[str] = (),
                 kinds: Iterable[str] | None = None, min_fraction: float = 0.0, max_fraction: float = 1.0,
                 splits_dir: str | os.PathLike[str] = SPLITS_DIR) -> None:
        self.root = Path(root)
        table = self.root / "masks.csv"
        if not table.is_file():
            raise FileNotFoundError(f"No masks.csv in {self.root}; build the corpus with "
                                    f"`python -m harmonization.data.corpus build --out {self.root}`.")
        if split not in ("train", "all", *self._FILES):
            raise ValueError(f"split must be one of train, all, {', '.join(self._FILES)}; got {split!r}.")
        splits_dir = Path(splits_dir)
        heldout = set(read_names(splits_dir / self._FILES["heldout"]))
        if split in self._FILES:
            path = splits_dir / self._FILES[split]
            if not path.is_file():
                raise FileNotFoundError(f"No split list {path}; run the build with --write-splits or pass "
                                        f"splits_dir=<corpus>/splits.")
            wanted: set[str] | None = set(read_names(path))
        else:
            wanted = None
        excluded = set(exclude) | (heldout if split == "train" else set())
        kinds = set(kinds) if kinds is not None else None
        self.records: list[dict[str, str]] = []
        with table.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if (wanted is not None and row["name"] not in wanted) or row["name"] in excluded:
                    continue
                if kinds is not None and row["kind"] not in kinds:
                    continue
                if not min_fraction <= float(row["foreground_fraction"]) <= max_fraction:
                    continue
                self.records.append(row)
        self.pairs = [(self.root / "photos" / f"{r['name']}.jpg", self.root / "masks" / r["mask"])
                      for r in self.records]

    @property
    def photos(self) -> list[str]:
        """The distinct photo stems, sorted."""
        return sorted({r["name"] for r in self.records})

    @property
    def shared_matches(self) -> dict[str, list[str]]:
        """Corpus stem -> near-duplicate ``../shared/data/photos`` stems (empty when the build saw none).

        Training code that also reads ``../shared/data`` must leave out the shared photos whose corpus duplicates
        are held out.
        """
        path = self.root / "shared_matches.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[Path, Path]:  # type: ignore[override]
        return self.pairs[index]
