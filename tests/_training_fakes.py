"""Tiny fake datasets for the data / training / evaluation tests (built in tmp_path, never read from /work/shared)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def fake_photo(rng: np.random.Generator, height: int = 48, width: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A smooth colourful ``HxWx3`` uint8 photo and an ``HxW`` uint8 ellipse mask (0/255) with 10-40 % area."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = rng.uniform(0.2, 0.8, size=3)
    slope = rng.uniform(-0.3, 0.3, size=(2, 3))
    image = base + slope[0] * yy[..., None] / height + slope[1] * xx[..., None] / width
    image += 0.05 * np.sin(xx[..., None] / rng.uniform(2, 6) + rng.uniform(0, 6, size=3))
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    ry, rx = rng.uniform(0.2, 0.35) * height, rng.uniform(0.2, 0.35) * width
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
    image[inside] = image[inside] * rng.uniform(0.6, 1.0, size=3) + rng.uniform(0.0, 0.3, size=3)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8), (inside * 255).astype(np.uint8)


def make_photo_folder(root: Path, count: int = 10, seed: int = 0, height: int = 48, width: int = 64,
                      names: list[str] | None = None) -> tuple[Path, Path]:
    """``root/photos/<name>.jpg`` and ``root/masks/<name>.png``; returns the two folders."""
    rng = np.random.default_rng(seed)
    photos, masks = root / "photos", root / "masks"
    photos.mkdir(parents=True, exist_ok=True)
    masks.mkdir(parents=True, exist_ok=True)
    for name in names or [f"photo_{i:02d}" for i in range(count)]:
        image, mask = fake_photo(rng, height, width)
        Image.fromarray(image).save(photos / f"{name}.jpg", quality=95)
        Image.fromarray(mask).save(masks / f"{name}.png")
    return photos, masks


def make_iharmony4_tree(root: Path, seed: int = 0) -> Path:
    """Two subsets (HCOCO, Hday2night), 2 photos each, 1-2 objects, 1-2 composites; train/test lists."""
    rng = np.random.default_rng(seed)
    for subset in ("HCOCO", "Hday2night"):
        folder = root / subset
        for sub in ("composite_images", "masks", "real_images"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        lines = []
        for p in range(2):
            photo = f"{subset[1:].lower()}{p}"
            image, mask = fake_photo(rng)
            Image.fromarray(image).save(folder / "real_images" / f"{photo}.jpg", quality=95)
            Image.fromarray(mask).save(folder / "masks" / f"{photo}_1.png")
            for c in (1, 2):
                shifted = np.clip(image.astype(int) + np.where(mask[..., None] > 0, 20 * c, 0), 0, 255)
                name = f"{photo}_1_{c}.jpg"
                Image.fromarray(shifted.astype(np.uint8)).save(folder / "composite_images" / name, quality=95)
                lines.append(f"composite_images/{name}")
        (folder / f"{subset}_train.txt").write_text("\n".join(lines[:3]) + "\n")
        (folder / f"{subset}_test.txt").write_text(lines[3] + "\n")
    return root


def make_ffhqh_tree(root: Path, count: int = 3, seed: int = 0) -> Path:
    """``comp/``, ``alpha/``, ``real/`` with ``count`` stems (PNG)."""
    rng = np.random.default_rng(seed)
    for sub in ("comp", "alpha", "real"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, mask = fake_photo(rng, 32, 32)
        comp = np.clip(image.astype(int) - np.where(mask[..., None] > 0, 30, 0), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "real" / f"{i:05d}.png")
        Image.fromarray(comp).save(root / "comp" / f"{i:05d}.png")
        Image.fromarray(mask).save(root / "alpha" / f"{i:05d}.png")
    return root
