"""The examples under the page: rows built from the files in ``examples/`` (cached lazily by Gradio)."""

from __future__ import annotations

from typing import Any

from .config import DEFAULT_METHOD, EXAMPLES_DIR


def example_rows() -> tuple[list[list[Any]], list[list[Any]]]:
    """Portrait-tab and composite-tab example rows built from files in ``examples/``."""
    portrait_rows, composite_rows = [], []
    e = EXAMPLES_DIR

    def layer(stem: str) -> str:  # the brush layer at the image's size (see demo.config.EDITOR_CANVAS_SIZE)
        return str(e / f"{stem}_layer.png")

    pairs = [  # (portrait, background, scale, x, y): (x, y) is where the subject's feet stand
        ("skimage_astronaut", "gcompris_details_vincentvangogh0013", 0.75, 0.5, 1.0),
        ("matplotlib_grace_hopper", "opencv_starry_night", 0.7, 0.3, 1.0),
    ]
    for portrait, background, scale, x, y in pairs:
        if (e / f"{portrait}.jpg").exists() and (e / f"{background}.jpg").exists():
            editor = {"background": str(e / f"{portrait}.jpg"), "layers": [layer(portrait)], "composite": None}
            portrait_rows.append([editor, str(e / f"{background}.jpg"), scale, x, y, False, DEFAULT_METHOD])
    for stem in ("astronaut_in_cafe",):
        if (e / f"{stem}.png").exists():
            editor = {"background": str(e / f"{stem}.png"), "layers": [layer(stem)], "composite": None}
            composite_rows.append([editor, DEFAULT_METHOD])
    return portrait_rows, composite_rows
