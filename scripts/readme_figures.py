"""Make the README's before/after figures from the public-domain examples.

Run from the repository root: ``python scripts/readme_figures.py`` (writes ``docs/images/*.jpg``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import harmonization

ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = ROOT / "examples"
OUT = ROOT / "docs" / "images"
HEIGHT = 300
# (figure name, subject, scene, scale, centre)
CASES = [
    ("grace_hopper_in_astronaut_scene", "matplotlib_grace_hopper", "skimage_astronaut", 0.62, (0.78, 0.69)),
    ("astronaut_in_grace_hopper_scene", "skimage_astronaut", "matplotlib_grace_hopper", 0.55, (0.25, 0.73)),
]


def main() -> None:
    """Compose each case, harmonize it with "global" and "local", and save naive | global | local side by side."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, subject, scene, scale, centre in CASES:
        composite, mask = harmonization.compose(EXAMPLES / f"{subject}.jpg", EXAMPLES / f"{subject}_mask.png",
                                                EXAMPLES / f"{scene}.jpg", scale=scale, center=centre)
        images = [composite] + [harmonization.harmonize(composite, mask, m) for m in ("global", "local")]
        width = round(composite.width * HEIGHT / composite.height)
        tiles = [np.asarray(im.resize((width, HEIGHT), Image.LANCZOS)) for im in images]
        gap = np.full((HEIGHT, 6, 3), 255, np.uint8)
        row = np.concatenate([tiles[0], gap, tiles[1], gap, tiles[2]], axis=1)
        Image.fromarray(row).save(OUT / f"{name}.jpg", quality=88)
        print(f"wrote {OUT / name}.jpg")


if __name__ == "__main__":
    main()
