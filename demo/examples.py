"""The examples under the page: rows built from the files in ``examples/`` (cached lazily by Gradio)."""

from __future__ import annotations

from typing import Any

from harmonization.serving.jobs import method_choices

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
    # One row per photo method that can run here (the networks when their weights are present); painterly rows are
    # left out: the examples' cache is filled at start, and painterly fusion takes minutes on a CPU.
    available = {name for _, name in method_choices()}
    networks = [m for m in ("fmm", "phnet") if m in available]
    for (portrait, background, scale, x, y), method in zip(pairs, [DEFAULT_METHOD, *networks[:1]], strict=False):
        if (e / f"{portrait}.jpg").exists() and (e / f"{background}.jpg").exists():
            editor = {"background": str(e / f"{portrait}.jpg"), "layers": [layer(portrait)], "composite": None}
            portrait_rows.append([editor, str(e / f"{background}.jpg"), scale, x, y, False, method])
    for stem in ("astronaut_in_cafe",):
        if (e / f"{stem}.png").exists():
            for method in (DEFAULT_METHOD, *networks[1:2]):
                editor = {"background": str(e / f"{stem}.png"), "layers": [layer(stem)], "composite": None}
                composite_rows.append([editor, method])
    return portrait_rows, composite_rows
