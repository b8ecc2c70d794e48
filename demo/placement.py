"""The portrait tab's placement preview and default scale (the work is in :mod:`harmonization.serving.placement`).

Before Harmonize, a low-resolution paste of the masked subject, outlined, shows where it will stand on the
background; it is redrawn when the mask, the background, the scale, the feet position or the flip change (one
event for all of them, ``trigger_mode="always_last"``: while a slider is dragged only the latest value waits). The
previews run in the mask tools' lane (short jobs of the preparation step), never in the fast lane the runs use, and
show no progress.

The default scale follows the mask (:func:`harmonization.serving.placement.default_scale`) while the user has not
moved the scale slider: a State holds the value the app last set, and the slider is updated only while it still
shows that value (the slider's initial 0.5 at first). Once the user (or an example) sets another scale, it is left
alone. The API is unchanged: these events have no API names.
"""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from harmonization.errors import USER_ERRORS
from harmonization.serving import LaneFullError
from harmonization.serving.placement import Preview, placement_preview

from .config import BRUSH_COLOR, MASK_LANE
from .handlers import _context


def _color() -> tuple[int, int, int]:
    return tuple(int(BRUSH_COLOR[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _job(fg_value: Any, background: Any, scale: float | None, pos_x: Any, pos_y: Any, flip: Any) -> Preview | None:
    return placement_preview(_context(None), fg_value, background, scale, pos_x, pos_y, flip, color=_color())


async def update_preview(fg_value: Any, background: Any, scale: Any, pos_x: Any, pos_y: Any, flip: Any,
                         auto_scale: Any) -> tuple[Any, Any, Any]:
    """``(preview image, scale slider, State)``: the preview at the current placement; while the slider still
    shows the value the app set last (``auto_scale``), drawn at the default scale, which the slider then shows.

    A preview is a hint: an unreadable upload, a busy lane or a subject placed off the background leaves it empty
    (or as it was) without a message; the upload check and Harmonize say what is wrong."""
    untouched = isinstance(scale, (int, float)) and isinstance(auto_scale, (int, float)) and abs(
        scale - auto_scale) < 1e-6
    job = functools.partial(_job, fg_value, background, None if untouched else scale, pos_x, pos_y, flip)
    try:
        preview = await MASK_LANE.run(job)
    except LaneFullError:
        return gr.update(), gr.update(), gr.update()
    except USER_ERRORS:
        return None, gr.update(), gr.update()
    if preview is None:
        return None, gr.update(), gr.update()
    if untouched and abs(preview.scale - scale) > 1e-6:
        return preview.image, preview.scale, preview.scale
    return preview.image, gr.update(), gr.update()


def build_preview() -> gr.Image:
    """The preview image, in the current column (under the background)."""
    return gr.Image(label="Placement preview (low resolution; Harmonize makes the full-size result)",
                    elem_id="placement_preview", type="pil", format="jpeg", interactive=False, height=300,
                    buttons=[])


def wire(preview: gr.Image, fg_editor: gr.ImageEditor, bg_image: gr.Image, scale: gr.Slider, pos_x: gr.Slider,
         pos_y: gr.Slider, flip: gr.Checkbox) -> None:
    """Redraw ``preview`` (and propose the default scale) whenever the placement's inputs change."""
    auto_scale = gr.State(scale.value)
    gr.on([fg_editor.change, bg_image.change, scale.change, pos_x.change, pos_y.change, flip.change],
          update_preview, [fg_editor, bg_image, scale, pos_x, pos_y, flip, auto_scale],
          [preview, scale, auto_scale], api_name=False, show_progress="hidden", preprocess=False,
          trigger_mode="always_last", concurrency_limit=None)
