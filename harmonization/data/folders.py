"""A folder of photos with object masks (``<photos>/<name>.jpg`` + ``<masks>/<name>.png``) as evaluation samples."""

from __future__ import annotations

import csv
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..image_io import load_image, load_mask
from .augment import resize_long_side, uniform
from .splits import SPLITS_DIR, load_split
from .synthetic import FFHQH_JITTER, JitterConfig, jitter_foreground, object_lab_stats, transfer_foreground

__all__ = ["COMPOSITE_KINDS", "CorpusComposites", "HarmonizationSample", "PhotoMaskFolder", "corpus_split_names"]

#: The synthetic composite kinds of the corpus evaluation: FFHQH colour jitter, iHarmony4-style colour transfer.
COMPOSITE_KINDS = ("jitter", "transfer")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class HarmonizationSample:
    """One evaluation triple: composite, real image and mask, ``(1,3,H,W)``, ``(1,3,H,W)``, ``(1,1,H,W)``."""

    name: str
    composite: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    kind: str = ""  # how the composite was made ("jitter", "transfer"; "" = not recorded)

    @property
    def foreground_ratio(self) -> float:
        """Fraction of the image covered by the mask."""
        return float(self.mask.mean())


class PhotoMaskFolder:
    """Synthetic composites from real photos and their object masks.

    Each photo's foreground gets a colour jitter drawn from a generator seeded with ``seed`` and the photo's name,
    so every run (and every subset) sees the same composite for the same photo.

    Args:
        photos: folder of photos.
        masks: folder of masks with the same stem (``.png``), 255 = object.
        names: restrict to these stems (e.g. a held-out split); default: every photo that has a mask.
        min_fraction: skip masks covering less than this fraction of the image.
        seed: base seed of the jitter.
        config: jitter ranges.
    """

    def __init__(
        self,
        photos: str | Path,
        masks: str | Path,
        *,
        names: list[str] | None = None,
        min_fraction: float = 0.01,
        max_fraction: float = 0.9,
        seed: int = 0,
        config: JitterConfig = FFHQH_JITTER,
    ) -> None:
        self.photos, self.masks = Path(photos), Path(masks)
        if not self.photos.is_dir() or not self.masks.is_dir():
            raise FileNotFoundError(f"Expected two folders (photos, masks); got {self.photos} and {self.masks}.")
        found = {p.stem: p for p in sorted(self.photos.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        stems = names if names is not None else sorted(found)
        self.items = [(s, found[s], self.masks / f"{s}.png") for s in stems if s in found
                      and (self.masks / f"{s}.png").exists()]
        self.min_fraction, self.max_fraction = min_fraction, max_fraction
        self.seed, self.config = seed, config

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[HarmonizationSample]:
        for name, photo, mask_path in self.items:
            target = load_image(photo)
            mask = load_mask(mask_path, size=(target.shape[-1], target.shape[-2]))
            fraction = float((mask >= 0.5).float().mean())
            if not self.min_fraction <= fraction <= self.max_fraction:
                continue
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + zlib.crc32(name.encode()))
            composite = jitter_foreground(target, mask, generator, self.config).mul(255).round().div(255)
            yield HarmonizationSample(name, composite, target, mask)


_CORPUS_SPLITS = {"heldout": "corpus_heldout.txt", "calibration-a": "corpus_calibration_a.txt",
                  "calibration-b": "corpus_calibration_b.txt"}


def corpus_split_names(split: str, splits_dir: str | Path = SPLITS_DIR) -> list[str]:
    """Photo stems of a corpus split: ``heldout``, ``calibration-a``, ``calibration-b`` (the committed
    ``corpus_*.txt`` lists), several of them joined by commas, or a file with one stem per line."""
    names: list[str] = []
    for part in (p.strip() for p in str(split).split(",")):
        if not part:
            continue
        names += load_split(Path(splits_dir) / _CORPUS_SPLITS[part] if part in _CORPUS_SPLITS else part)
    return names


class CorpusComposites:
    """Seeded synthetic composites of a built corpus's (photo, region) pairs, each pair in every ``kinds``.

    ``jitter``: the evaluator's FFHQH colour jitter on the region (as :class:`PhotoMaskFolder`); ``transfer``: the
    region takes the Lab mean/std of another photo's region of the same selection (iHarmony4-style colour transfer,
    strength drawn from ``transfer_strength``). Every draw comes from a generator seeded with ``seed`` and the
    pair's and kind's names, so every run and every subset sees the same composites.

    Args:
        root: the corpus folder (``photos/``, ``masks/``, ``masks.csv``).
        split: the photos (see :func:`corpus_split_names`), e.g. ``"heldout"``.
        kinds: composite kinds, a subset of :data:`COMPOSITE_KINDS`.
        max_regions: evaluate at most this many regions per photo (0 = all), chosen by a seeded hash of the mask
            names among those with a foreground fraction in ``[min_fraction, max_fraction]`` (a fixed subsample).
        seed: base seed.
        min_fraction, max_fraction: keep regions whose ``masks.csv`` foreground fraction lies in this range.
        config: jitter ranges.
        transfer_strength: range of the colour-transfer strength.
        splits_dir: folder of the ``corpus_*.txt`` split lists.
        shard: ``(i, n)``: yield only the pairs ``i, i + n, i + 2n, ...`` (to evaluate in ``n`` processes); the
            colour-transfer references still come from every selected pair, so the composites are those of the
            whole selection.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "heldout",
        *,
        kinds: Sequence[str] = COMPOSITE_KINDS,
        max_regions: int = 4,
        seed: int = 0,
        min_fraction: float = 0.01,
        max_fraction: float = 0.9,
        config: JitterConfig = FFHQH_JITTER,
        transfer_strength: tuple[float, float] = (0.5, 1.0),
        splits_dir: str | Path = SPLITS_DIR,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        index, count = shard
        if not 0 <= index < count:
            raise ValueError(f"shard must be (i, n) with 0 <= i < n; got {shard}.")
        unknown = [k for k in kinds if k not in COMPOSITE_KINDS]
        if unknown or not kinds:
            raise ValueError(f"kinds must be a non-empty subset of {COMPOSITE_KINDS}; got {list(kinds)}.")
        self.root = Path(root)
        table = self.root / "masks.csv"
        if not table.is_file():
            raise FileNotFoundError(f"No masks.csv in {self.root}: not a built corpus.")
        wanted = set(corpus_split_names(split, splits_dir))
        by_photo: dict[str, list[dict[str, str]]] = {}
        with table.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["name"] in wanted and min_fraction <= float(row["foreground_fraction"]) <= max_fraction:
                    by_photo.setdefault(row["name"], []).append(row)
        self.items: list[tuple[str, Path, Path]] = []
        for name in sorted(by_photo):
            rows = sorted(by_photo[name], key=lambda r: (zlib.crc32(f"{seed}:{r['mask']}".encode()), r["mask"]))
            chosen = rows[:max_regions] if max_regions else rows
            for row in sorted(chosen, key=lambda r: int(r["region"])):
                self.items.append((f"{name}__{row['region']}", self.root / "photos" / f"{name}.jpg",
                                   self.root / "masks" / row["mask"]))
        self.shard = (index, count)
        self.kinds, self.seed, self.config = tuple(kinds), seed, config
        self.transfer_strength = transfer_strength
        self._references: list[tuple[str, tuple[torch.Tensor, torch.Tensor]]] | None = None

    def _mine(self) -> list[tuple[str, Path, Path]]:
        index, count = self.shard
        return self.items[index::count]

    def __len__(self) -> int:
        return len(self._mine()) * len(self.kinds)

    @property
    def photo_count(self) -> int:
        """How many distinct photos the pairs (of this shard) come from."""
        return len({photo for _, photo, _ in self._mine()})

    def _load(self, photo: Path, mask_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
        target = load_image(photo)
        return target, load_mask(mask_path, size=(target.shape[-1], target.shape[-2]))

    def references(self) -> list[tuple[str, tuple[torch.Tensor, torch.Tensor]]]:
        """``(photo stem, Lab (mean, std))`` of every selected region (the colour-transfer references)."""
        if self._references is None:
            refs = []
            for _, photo, mask_path in self.items:
                target, mask = self._load(photo, mask_path)
                small, small_mask = resize_long_side(target, 256), resize_long_side(mask, 256)
                refs.append((photo.stem, object_lab_stats(small, (small_mask >= 0.5).float())))
            self._references = refs
        return self._references

    def __iter__(self) -> Iterator[HarmonizationSample]:
        references = self.references() if "transfer" in self.kinds else []
        for name, photo, mask_path in self._mine():
            target, mask = self._load(photo, mask_path)
            for kind in self.kinds:
                generator = torch.Generator().manual_seed(self.seed * 1_000_003 + zlib.crc32(f"{name}/{kind}".encode()))
                if kind == "jitter":
                    composite = jitter_foreground(target, mask, generator, self.config)
                else:
                    others = [ref for stem, ref in references if stem != photo.stem]
                    if not others:
                        raise ValueError("Colour-transfer composites need regions of at least two photos.")
                    pick = int(torch.randint(0, len(others), (1,), generator=generator))
                    strength = uniform(generator, *self.transfer_strength)
                    composite = transfer_foreground(target, mask, *others[pick], strength)
                yield HarmonizationSample(name, composite.mul(255).round().div(255), target, mask, kind)
