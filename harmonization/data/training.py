"""Training datasets: seeded synthetic pairs from photos + masks, and real pairs from dataset readers.

Each item is a dict of ``composite (3, S, S)``, ``target (3, S, S)`` float32 in [0, 1] and ``mask (1, S, S)``
in {0, 1}. An item is a pure function of ``(seed, epoch, index)``: its random numbers come from a
:class:`torch.Generator` seeded with those three numbers, so runs, resumed runs and every DDP rank see the same
samples (no global random state is touched).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from ..image_io import load_image, load_mask
from ..ops.color import masked_mean_std, rgb_to_lab
from .augment import random_crop_resize, random_hflip, random_scene_color, resize_long_side
from .folders import IMAGE_SUFFIXES
from .readers import PairReader
from .synthetic import FFHQH_PAIRS, PairConfig, make_composite, object_lab_stats

__all__ = ["SyntheticPairDataset", "PairListDataset", "ReaderPairDataset", "sample_generator", "collate",
           "quantize8"]


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """The generator of one item: seeded from ``(seed, epoch, index)`` through CRC32 (stable everywhere)."""
    return torch.Generator().manual_seed(zlib.crc32(f"{seed}/{epoch}/{index}".encode()))


def quantize8(x: torch.Tensor) -> torch.Tensor:
    """Round ``[0, 1]`` values to the 8-bit grid (what saving as an image does)."""
    return x.clamp(0.0, 1.0).mul(255).round().div(255)


def collate(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into ``(B, 3, S, S)``, ``(B, 3, S, S)``, ``(B, 1, S, S)`` batches."""
    return {key: torch.stack([item[key] for item in items]) for key in ("composite", "target", "mask")}


class SyntheticPairDataset(Dataset):
    """Synthetic harmonization pairs from a folder of photos and object masks.

    Photos are read once, shrunk so that their long side is at most ``preload_long_side`` and kept in memory with
    the Lab statistics of their objects (the references of the colour transfer). An item is a random resized crop
    (scale ``crop_scale``, preferring crops with 1-90 % foreground), a random horizontal flip, resizing to
    ``size`` and a synthetic composite (:func:`~harmonization.data.synthetic.make_composite`: the FFHQH recipe or
    colour transfer from another photo's object).

    Args:
        photos: folder of photos.
        masks: folder of masks ``<stem>.png`` (255 = object).
        names: photo stems to use (e.g. the training side of a split); default all with a mask.
        size: output side ``S`` in pixels (a multiple of 8 for the networks).
        seed: base seed.
        config: composite recipe.
        min_fraction: skip photos whose mask covers less than this.
        preload_long_side: long side of the in-memory copies (default ``3 * size``).
        crop_scale: range of the crop area as a fraction of the photo.
        scene_color: strength of :func:`~harmonization.data.augment.random_scene_color` applied to the whole
            photo before the composite is made (0 = off).
    """

    def __init__(
        self,
        photos: str | Path,
        masks: str | Path,
        names: Sequence[str] | None = None,
        *,
        size: int = 256,
        seed: int = 0,
        config: PairConfig = FFHQH_PAIRS,
        min_fraction: float = 0.01,
        preload_long_side: int | None = None,
        crop_scale: tuple[float, float] = (0.25, 1.0),
        scene_color: float = 0.0,
    ) -> None:
        if size < 8 or size % 8:
            raise ValueError(f"size must be a positive multiple of 8; got {size}.")
        photos, masks = Path(photos), Path(masks)
        if not photos.is_dir() or not masks.is_dir():
            raise FileNotFoundError(f"Expected two folders (photos, masks); got {photos} and {masks}.")
        found = {p.stem: p for p in sorted(photos.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        wanted = list(names) if names is not None else sorted(found)
        self.size, self.seed, self.config, self.crop_scale = size, seed, config, crop_scale
        self.scene_color = scene_color
        self.epoch = 0
        long_side = preload_long_side or 3 * size
        self.names: list[str] = []
        self.images: list[torch.Tensor] = []
        self.masks: list[torch.Tensor] = []
        self.references: list[tuple[torch.Tensor, torch.Tensor]] = []
        for name in wanted:
            if name not in found or not (masks / f"{name}.png").is_file():
                continue
            image = load_image(found[name])
            mask = load_mask(masks / f"{name}.png", size=(image.shape[-1], image.shape[-2]))
            if float((mask >= 0.5).float().mean()) < min_fraction:
                continue
            image, mask = resize_long_side(image, long_side), resize_long_side(mask, long_side)
            self.names.append(name)
            self.images.append(image)
            self.masks.append(mask)
            self.references.append(object_lab_stats(image, (mask >= 0.5).float()))
        if not self.names:
            raise ValueError(f"No usable photo+mask pairs in {photos} / {masks} (names={len(wanted)}, "
                             f"min_fraction={min_fraction}).")

    def __len__(self) -> int:
        return len(self.names)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random draws :meth:`__getitem__` uses."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.sample(index, self.epoch)

    def sample(self, index: int, epoch: int = 0) -> dict[str, torch.Tensor]:
        """The item ``index`` of ``epoch`` (deterministic)."""
        generator = sample_generator(self.seed, epoch, index)
        image, mask = random_crop_resize((self.images[index], self.masks[index]), self.size, generator,
                                         scale=self.crop_scale, mask_index=1)
        image, mask = random_hflip((image, mask), generator)
        if self.scene_color > 0:
            image = random_scene_color(image, generator, self.scene_color)
        image, mask = quantize8(image), (mask >= 0.5).float()
        others = [r for i, r in enumerate(self.references) if i != index]
        composite = make_composite(image, mask, generator, self.config, others)
        return {"composite": composite[0], "target": image[0], "mask": mask[0]}


def _to_uint8(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0.0, 1.0).mul(255).round().to(torch.uint8)


class PairListDataset(Dataset):
    """Synthetic harmonization pairs from a list of ``(photo, mask)`` files: several regions per photo (a corpus).

    One item per pair: a random resized crop of the photo guided by that pair's region, a random flip, resizing to
    ``size`` and a synthetic composite of the region (the FFHQH recipe or, with probability
    ``config.transfer_p``, colour transfer from an object of ANOTHER photo). Each photo is read once; photos and
    masks are kept in memory as 8-bit copies with a long side of at most ``preload_long_side`` (default
    ``3 * size``), so that worker processes share them. Items are pure functions of ``(seed, epoch, index)``
    (:meth:`sample`), as in :class:`SyntheticPairDataset`.

    Args:
        pairs: ``(photo path, mask path)`` pairs (e.g. :class:`harmonization.data.corpus.CorpusPairs`).
        size, seed, config, min_fraction, preload_long_side, crop_scale, scene_color: as in
            :class:`SyntheticPairDataset` (``min_fraction`` is measured on the preloaded mask).
    """

    def __init__(
        self,
        pairs: Sequence[tuple[str | Path, str | Path]],
        *,
        size: int = 256,
        seed: int = 0,
        config: PairConfig = FFHQH_PAIRS,
        min_fraction: float = 0.01,
        preload_long_side: int | None = None,
        crop_scale: tuple[float, float] = (0.25, 1.0),
        scene_color: float = 0.0,
    ) -> None:
        if size < 8 or size % 8:
            raise ValueError(f"size must be a positive multiple of 8; got {size}.")
        self.size, self.seed, self.config, self.crop_scale = size, seed, config, crop_scale
        self.scene_color = scene_color
        self.epoch = 0
        long_side = preload_long_side or 3 * size
        photo_index: dict[str, int] = {}
        self.photo_names: list[str] = []
        self.images: list[torch.Tensor] = []  # (1, 3, h, w) uint8
        self.names: list[str] = []  # "<photo stem>/<mask stem>" per item
        self.masks: list[torch.Tensor] = []  # (1, 1, h, w) uint8, 0/255
        self.photo_of: list[int] = []
        self.references: list[tuple[torch.Tensor, torch.Tensor]] = []
        full_size: dict[int, tuple[int, int]] = {}
        lab: dict[int, torch.Tensor] = {}
        for photo, mask_path in pairs:
            photo, mask_path = Path(photo), Path(mask_path)
            key = str(photo)
            if key not in photo_index:
                image = load_image(photo)
                full_size[len(self.images)] = (image.shape[-1], image.shape[-2])
                photo_index[key] = len(self.images)
                self.photo_names.append(photo.stem)
                self.images.append(_to_uint8(resize_long_side(image, long_side)))
            p = photo_index[key]
            mask = load_mask(mask_path, size=full_size[p])
            mask = (resize_long_side(mask, long_side) >= 0.5).float()
            if float(mask.mean()) < min_fraction:
                continue
            self.names.append(f"{photo.stem}/{mask_path.stem}")
            self.masks.append(_to_uint8(mask))
            self.photo_of.append(p)
            if p not in lab:  # one Lab conversion per photo (= object_lab_stats of each of its regions)
                lab = {p: rgb_to_lab(self.images[p].float().div(255))}
            self.references.append(masked_mean_std(lab[p], mask))
        if not self.names:
            raise ValueError(f"No usable (photo, mask) pairs among {len(pairs)} (min_fraction={min_fraction}).")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def photo_count(self) -> int:
        """How many distinct photos the items come from."""
        return len(set(self.photo_of))

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random draws :meth:`__getitem__` uses."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.sample(index, self.epoch)

    def sample(self, index: int, epoch: int = 0) -> dict[str, torch.Tensor]:
        """The item ``index`` of ``epoch`` (deterministic)."""
        generator = sample_generator(self.seed, epoch, index)
        image = self.images[self.photo_of[index]].float().div(255)
        mask = self.masks[index].float().div(255)
        image, mask = random_crop_resize((image, mask), self.size, generator, scale=self.crop_scale, mask_index=1)
        image, mask = random_hflip((image, mask), generator)
        if self.scene_color > 0:
            image = random_scene_color(image, generator, self.scene_color)
        image, mask = quantize8(image), (mask >= 0.5).float()
        own = self.photo_of[index]
        others = [r for r, p in zip(self.references, self.photo_of, strict=True) if p != own]
        composite = make_composite(image, mask, generator, self.config, others)
        return {"composite": composite[0], "target": image[0], "mask": mask[0]}


class ReaderPairDataset(Dataset):
    """Real (composite, target, mask) pairs from a reader (iHarmony4, FFHQH), randomly cropped and flipped.

    Args:
        reader: a :class:`~harmonization.data.readers.PairReader` (loads lazily from disk).
        size: output side in pixels.
        seed: base seed.
        crop_scale: range of the crop area; ``(1.0, 1.0)`` resizes the whole image.
    """

    def __init__(self, reader: PairReader, *, size: int = 256, seed: int = 0,
                 crop_scale: tuple[float, float] = (0.5, 1.0)) -> None:
        if len(reader) == 0:
            raise ValueError("The reader lists no pairs; check the dataset folder and split.")
        self.reader, self.size, self.seed, self.crop_scale = reader, size, seed, crop_scale
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.reader)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random draws :meth:`__getitem__` uses."""
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.sample(index, self.epoch)

    def sample(self, index: int, epoch: int = 0) -> dict[str, torch.Tensor]:
        """The item ``index`` of ``epoch`` (deterministic)."""
        sample = self.reader[index]
        generator = sample_generator(self.seed, epoch, index)
        composite, target, mask = random_crop_resize((sample.composite, sample.target, sample.mask), self.size,
                                                     generator, scale=self.crop_scale, mask_index=2)
        composite, target, mask = random_hflip((composite, target, mask), generator)
        return {"composite": composite[0], "target": target[0], "mask": (mask[0] >= 0.5).float()}
