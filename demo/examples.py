"""The examples under the page: rows built from the files in ``examples/`` (cached lazily by Gradio)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from harmonization.serving.jobs import DEFAULT_PAINTERLY_QUALITY, is_painterly, method_choices

from .config import DEFAULT_METHOD, EXAMPLES_DIR

PAINTERLY_EXAMPLE_QUALITY = "preview"
"""The painterly example's quality: its first click (or its warm-up) costs seconds, not a minute."""


def example_rows() -> tuple[list[list[Any]], list[list[Any]]]:
    """Portrait-tab rows ``[editor, background, scale, x, y, flip, method, painterly quality]`` and composite-tab
    rows ``[editor, method]``, built from files in ``examples/``."""
    portrait_rows, composite_rows = [], []
    e = EXAMPLES_DIR

    def layer(stem: str) -> str:  # the brush layer at the image's size (see demo.config.EDITOR_CANVAS_SIZE)
        return str(e / f"{stem}_layer.png")

    pairs = [  # (portrait, background, scale, x, y): (x, y) is where the subject's feet stand
        ("skimage_astronaut", "gcompris_details_vincentvangogh0013", 0.75, 0.5, 1.0),
        ("matplotlib_grace_hopper", "opencv_starry_night", 0.7, 0.3, 1.0),
    ]
    # One row per photo method that can run here (the networks when their weights are present), then one painterly
    # row at "preview" quality (seconds on a CPU; standard takes about three times as long). The painterly row is
    # warmed last (see slow_example), so the photo rows are cached first and start-up stays cheap.
    available = {name for _, name in method_choices()}
    networks = [m for m in ("fmm", "phnet") if m in available]
    rows = [(*pair, method, DEFAULT_PAINTERLY_QUALITY)
            for pair, method in zip(pairs, [DEFAULT_METHOD, *networks[:1]], strict=False)]
    if "painterly" in available:
        rows.append(("matplotlib_grace_hopper", "gcompris_details_van_gogh_the_night_cafe", 0.7, 0.3, 1.0,
                     "painterly", PAINTERLY_EXAMPLE_QUALITY))
    for portrait, background, scale, x, y, method, quality in rows:
        if (e / f"{portrait}.jpg").exists() and (e / f"{background}.jpg").exists():
            editor = {"background": str(e / f"{portrait}.jpg"), "layers": [layer(portrait)], "composite": None}
            portrait_rows.append([editor, str(e / f"{background}.jpg"), scale, x, y, False, method, quality])
    for stem in ("astronaut_in_cafe",):
        if (e / f"{stem}.png").exists():
            for method in (DEFAULT_METHOD, *networks[1:2]):
                editor = {"background": str(e / f"{stem}.png"), "layers": [layer(stem)], "composite": None}
                composite_rows.append([editor, method])
    return portrait_rows, composite_rows


def one_progress(examples: gr.Examples, component: gr.components.Component) -> gr.Examples:
    """Show the progress of an example's first (uncached) run on ``component`` only, as the page's runs do (Gradio
    shows it on every output of the examples' event: six timers for one run)."""
    event = getattr(examples, "cache_event", None)  # only with cache_examples
    if event is not None and examples.root_block is not None:
        examples.root_block.fns[event["id"]].show_progress_on = [component]
    return examples


def slow_example(row: list[Any]) -> bool:
    """Whether an example row runs a painterly method (warmed after the others, :func:`demo.warm.later`)."""
    painterly = {name for _, name in method_choices() if is_painterly(name)}
    return any(isinstance(value, str) and value in painterly for value in row)
