"""A folder of photos with object masks (``<photos>/<name>.jpg`` + ``<masks>/<name>.png``) as evaluation samples."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from ..image_io import load_image, load_mask
from .synthetic import FFHQH_JITTER, JitterConfig, jitter_foreground

__all__ = ["HarmonizationSample", "PhotoMaskFolder"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class HarmonizationSample:
    """One evaluation triple: composite, real image and mask, ``(1,3,H,W)``, ``(1,3,H,W)``, ``(1,1,H,W)``."""

    name: str
    composite: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor

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
