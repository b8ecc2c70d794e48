"""Contact sheets for a look by eye: :func:`contact_sheet` draws a PNG grid of a built corpus's photos or, with
``masks``, of each photo's regions tinted by kind (salient red, person blue, segment yellow, alpha violet).
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["contact_sheet"]

_COLOURS = {"salient": (255, 40, 40), "person": (40, 200, 255), "segment": (255, 220, 0), "alpha": (200, 0, 255)}


def contact_sheet(root: str | os.PathLike[str], sheet: str | os.PathLike[str], *, start: int = 0, count: int = 48,
                  masks: bool = False, columns: int = 8, thumb: int = 150) -> Path:
    """A PNG grid of photos (or, with ``masks``, of each photo's regions as coloured outlines) for a look by eye."""
    root = Path(root)
    photos = sorted((root / "photos").glob("*.jpg"))[start:start + count]
    rows_of: dict[str, list[dict[str, str]]] = {}
    if masks and (root / "masks.csv").is_file():
        with (root / "masks.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                rows_of.setdefault(row["name"], []).append(row)
    tiles = []
    for path in photos:
        with Image.open(path) as image:
            base = image.convert("RGB")
        if not masks:
            tiles.append((path.stem, base))
            continue
        for row in rows_of.get(path.stem, []):
            with Image.open(root / "masks" / row["mask"]) as m:
                mask = np.asarray(m) >= 128
            tinted = np.asarray(base).astype(np.float32)
            colour = np.array(_COLOURS.get(row["kind"], (255, 255, 255)), np.float32)
            tinted[~mask] *= 0.35
            tinted[mask] = 0.6 * tinted[mask] + 0.4 * colour
            label = f"{path.stem[:18]} {row['region']}{row['kind'][:3]}"
            tiles.append((label, Image.fromarray(tinted.astype(np.uint8))))
    rows = max(1, math.ceil(len(tiles) / columns))
    canvas = Image.new("RGB", (columns * thumb, rows * (thumb + 12)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (label, tile) in enumerate(tiles):
        tile.thumbnail((thumb, thumb))
        x, y = (i % columns) * thumb, (i // columns) * (thumb + 12)
        canvas.paste(tile, (x, y))
        draw.text((x + 2, y + thumb), label[:26], fill="black")
    sheet = Path(sheet)
    canvas.save(sheet)
    return sheet
