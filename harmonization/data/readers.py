"""Readers of the public harmonization datasets' folder layouts (iHarmony4, FFHQH) as evaluation samples.

iHarmony4 (``<root>/<Subset>/...``, subsets HCOCO, HAdobe5k, HFlickr, Hday2night)::

    <Subset>/composite_images/<name>_<m>_<c>.jpg   composite c of object m of photo <name>
    <Subset>/masks/<name>_<m>.png                  mask of object m
    <Subset>/real_images/<name>.jpg                the real photo
    <Subset>/<Subset>_train.txt, _test.txt         one composite path per line (``composite_images/...jpg`` or
                                                   just the file name)

FFHQH (``<root>/comp/<stem>.*``, ``<root>/alpha/<stem>.*`` and the FFHQ ground truth ``<root>/<real>/<stem>.*``
where ``<real>`` is one of ``real``, ``gt``, ``images``, ``ffhq`` or given explicitly).

Both readers list :class:`PairRecord` s (paths only) and load them into
:class:`~harmonization.data.folders.HarmonizationSample` s lazily, so the full datasets never sit in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch.nn.functional as F

from ..image_io import load_image, load_mask
from .folders import IMAGE_SUFFIXES, HarmonizationSample

__all__ = ["PairRecord", "PairReader", "IHarmony4", "FFHQH", "IHARMONY4_SUBSETS", "load_record", "read_name_list"]

IHARMONY4_SUBSETS: tuple[str, ...] = ("HCOCO", "HAdobe5k", "HFlickr", "Hday2night")
FFHQH_REAL_DIRS: tuple[str, ...] = ("real", "gt", "images", "ffhq", "real_images")


@dataclass(frozen=True)
class PairRecord:
    """Where one (composite, target, mask) triple lives on disk."""

    name: str
    composite: Path
    target: Path
    mask: Path
    subset: str = ""


def load_record(record: PairRecord) -> HarmonizationSample:
    """Load a record: ``(1,3,H,W)`` composite and target in [0, 1], ``(1,1,H,W)`` mask in [0, 1] at the
    composite's size (the target and mask are resized to it if they differ)."""
    composite = load_image(record.composite)
    size = tuple(composite.shape[-2:])
    target = load_image(record.target)
    if tuple(target.shape[-2:]) != size:
        target = F.interpolate(target, size=size, mode="bilinear", align_corners=False, antialias=True).clamp(0, 1)
    mask = load_mask(record.mask)
    if tuple(mask.shape[-2:]) != size:
        mask = F.interpolate(mask, size=size, mode="bilinear", align_corners=False).clamp(0, 1)
    return HarmonizationSample(record.name, composite, target, mask)


def read_name_list(path: str | Path) -> list[str]:
    """Non-empty stripped lines of a text file (``#`` starts a comment line)."""
    lines = Path(path).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _find(folder: Path, stem: str) -> Path | None:
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


class PairReader:
    """A list of :class:`PairRecord` s that iterates as :class:`HarmonizationSample` s."""

    records: list[PairRecord]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> HarmonizationSample:
        return load_record(self.records[index])

    def __iter__(self) -> Iterator[HarmonizationSample]:
        for record in self.records:
            yield load_record(record)


class IHarmony4(PairReader):
    """The iHarmony4 layout (see the module docstring).

    Args:
        root: folder holding the subset folders.
        split: ``"train"``, ``"test"`` (the ``<Subset>_<split>.txt`` lists) or ``"all"`` (every composite found).
        subsets: subset folder names; default every one of :data:`IHARMONY4_SUBSETS` that exists under ``root``.

    Raises:
        FileNotFoundError: if no subset folder or split list is found (the message lists what was looked for).
    """

    def __init__(self, root: str | Path, split: str = "test", subsets: Sequence[str] | None = None) -> None:
        self.root = Path(root)
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all'; got {split!r}.")
        names = list(subsets) if subsets else [s for s in IHARMONY4_SUBSETS if (self.root / s).is_dir()]
        if not names:
            raise FileNotFoundError(f"No iHarmony4 subset folder ({', '.join(IHARMONY4_SUBSETS)}) under {self.root}.")
        self.records = []
        for subset in names:
            folder = self.root / subset
            if not folder.is_dir():
                raise FileNotFoundError(f"iHarmony4 subset folder {folder} does not exist.")
            if split == "all":
                files = sorted(p.name for p in (folder / "composite_images").iterdir()
                               if p.suffix.lower() in IMAGE_SUFFIXES)
            else:
                listing = folder / f"{subset}_{split}.txt"
                if not listing.is_file():
                    raise FileNotFoundError(f"iHarmony4 split list {listing} does not exist; expected "
                                            f"{subset}_train.txt and {subset}_test.txt in {folder}.")
                files = [Path(line).name for line in read_name_list(listing)]
            for file_name in files:
                self.records.append(self._record(folder, subset, file_name))

    @staticmethod
    def _record(folder: Path, subset: str, file_name: str) -> PairRecord:
        stem = Path(file_name).stem
        parts = stem.rsplit("_", 2)
        if len(parts) != 3:
            raise ValueError(f"iHarmony4 composite names look like <name>_<m>_<c>.jpg; got {file_name!r} in "
                             f"{folder}.")
        photo, obj, _ = parts
        composite = folder / "composite_images" / file_name
        if not composite.suffix:
            composite = composite.with_suffix(".jpg")
        target = _find(folder / "real_images", photo) or folder / "real_images" / f"{photo}.jpg"
        mask = _find(folder / "masks", f"{photo}_{obj}") or folder / "masks" / f"{photo}_{obj}.png"
        return PairRecord(f"{subset}/{stem}", composite, target, mask, subset)


class FFHQH(PairReader):
    """The FFHQH layout: ``comp/``, ``alpha/`` and a ground-truth folder with the same stems.

    Args:
        root: folder holding ``comp`` and ``alpha``.
        real_dir: the ground-truth folder (absolute or relative to ``root``); default the first of
            ``real``, ``gt``, ``images``, ``ffhq``, ``real_images`` that exists.
        names: restrict to these stems (e.g. a test list); default every composite with a mask and ground truth.

    Raises:
        FileNotFoundError: when a folder is missing.
    """

    def __init__(self, root: str | Path, real_dir: str | Path | None = None, names: Sequence[str] | None = None):
        self.root = Path(root)
        comp, alpha = self.root / "comp", self.root / "alpha"
        if real_dir is None:
            real = next((self.root / d for d in FFHQH_REAL_DIRS if (self.root / d).is_dir()), None)
        else:
            real = Path(real_dir) if Path(real_dir).is_absolute() else self.root / real_dir
        for folder, what in ((comp, "comp"), (alpha, "alpha"), (real, "ground truth")):
            if folder is None or not folder.is_dir():
                raise FileNotFoundError(
                    f"FFHQH {what} folder not found under {self.root} (got {folder}); expected comp/, alpha/ and one "
                    f"of {', '.join(FFHQH_REAL_DIRS)}/ (or pass real_dir=)."
                )
        assert real is not None
        stems = list(names) if names is not None else sorted(
            p.stem for p in comp.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.records = []
        for stem in stems:
            c, m, t = _find(comp, stem), _find(alpha, stem), _find(real, stem)
            if c is not None and m is not None and t is not None:
                self.records.append(PairRecord(stem, c, t, m, "FFHQH"))
