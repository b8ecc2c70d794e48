"""The portrait tab's placement preview and default scale (the work is in :mod:`harmonization.serving.placement`).

Before Harmonize, a low-resolution paste of the masked subject, outlined, shows where it will stand on the
background. Two events, both ``trigger_mode="always_last"`` (while a slider is dragged only the latest value
waits), in the mask tools' lane (short jobs of the preparation step; the fast lane stays for the runs), without
progress:

- :func:`take_subject` reads the portrait editor when its mask may have changed: when the pointer leaves the
  editor after brush or eraser strokes, undo or redo, when a mask tool (or an example) has updated it (its
  progress ends), and when the background changes (an example sets both); clear only forgets the
  subject. It keeps the cut subject server-side (a token in a State) and proposes the default scale.
- :func:`draw_preview` draws that subject at the current scale, feet position and flip: a slider moved sends no
  image.

The editor has no ``change`` listener on purpose: with one, Gradio's editor exports and uploads its background,
composite and layers as PNGs on every change while painting (the test's brush zig-zag took 21-39 s instead of
9-11 s in headless Chromium, and a phone photo would be uploaded again per stroke). A small script (:data:`WATCH_JS`,
run once on load) presses a hidden button instead, once the user leaves the editor.

The default scale follows the mask (:func:`harmonization.serving.placement.default_scale`) while the user has not
moved the scale slider: a State holds the value the app last set, and the slider is updated only while it still
shows that value (the slider's initial 0.5 at first). Once the user (or an example) sets another scale, it is left
alone. The API is unchanged: these events have no API names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from harmonization.errors import USER_ERRORS
from harmonization.image_io import image_size
from harmonization.serving import LaneFullError
from harmonization.serving.placement import SUBJECTS, cut_subject, preview_on

from .config import BRUSH_COLOR, MASK_LANE
from .handlers import _context

#: Presses ``#placement_refresh`` when the pointer leaves the portrait editor after a pointer was released in it
#: (brush or eraser strokes, undo, the editor's tools: the user is done painting for now) and when the editor's
#: progress ends (a mask tool's result, or an example, arrived). Not after every stroke: each read of a painted
#: editor makes Gradio's editor extract its canvas, and in headless Chromium every further stroke then drew slower.
WATCH_JS = """() => {
    if (window.placementWatch) return;
    window.placementWatch = true;
    const refresh = () => document.querySelector('#placement_refresh')?.click();
    let painted = false;
    document.addEventListener('pointerup', (e) => {
        if (e.target instanceof Element && e.target.closest('#fg_editor')) painted = true;
    }, true);
    document.addEventListener('pointerover', (e) => {
        if (painted && e.target instanceof Element && !e.target.closest('#fg_editor')) {
            painted = false;
            refresh();
        }
    }, true);
    let busy = false;
    setInterval(() => {
        const tracker = document.querySelector('#fg_editor [data-testid=status-tracker]');
        const now = !!tracker && !tracker.classList.contains('hide');
        if (busy && !now) setTimeout(refresh, 200);
        busy = now;
    }, 300);
}"""


def _color() -> tuple[int, int, int]:
    return tuple(int(BRUSH_COLOR[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _untouched(scale: Any, auto_scale: Any) -> bool:
    """Whether the slider still shows the value the app set last (the user has not chosen a scale)."""
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (scale, auto_scale))
    return numbers and abs(scale - auto_scale) < 1e-6


def _take_job(fg_value: Any, background: Any) -> tuple[str | None, float | None]:
    ctx = _context(None)
    subject = cut_subject(ctx, fg_value)
    if subject is None:
        return None, None
    path = ctx.gate.file(background)
    return SUBJECTS.put(subject), subject.default_scale(None if path is None else image_size(path))


async def take_subject(fg_value: Any, background: Any, scale: Any, auto_scale: Any) -> tuple[Any, Any, Any]:
    """``(subject token, scale slider, State)``: the editor's subject kept for :func:`draw_preview` (``None``
    without a mask), and its default scale while the slider still shows the value the app set last."""
    try:
        token, proposed = await MASK_LANE.run(functools.partial(_take_job, fg_value, background))
    except LaneFullError:
        return gr.update(), gr.update(), gr.update()
    except USER_ERRORS:  # an unreadable upload: its own message comes from the upload check or the run
        return None, gr.update(), gr.update()
    if proposed is not None and _untouched(scale, auto_scale) and abs(proposed - scale) > 1e-6:
        return token, proposed, proposed
    return token, gr.update(), gr.update()


def _draw_job(token: Any, background: Any, scale: Any, pos_x: Any, pos_y: Any, flip: Any) -> Any:
    preview = preview_on(_context(None), SUBJECTS.get(token), background, scale, pos_x, pos_y, flip, color=_color())
    return None if preview is None else preview.image


async def draw_preview(token: Any, background: Any, scale: Any, pos_x: Any, pos_y: Any, flip: Any) -> Any:
    """The preview image (``None``: nothing to place yet). A hint only: a subject placed off the background or an
    unreadable upload leaves it empty, a full lane as it was, without a message."""
    try:
        return await MASK_LANE.run(functools.partial(_draw_job, token, background, scale, pos_x, pos_y, flip))
    except LaneFullError:
        return gr.update()
    except USER_ERRORS:
        return None


@dataclass(frozen=True)
class PreviewBox:
    """The preview image and the hidden button :data:`WATCH_JS` presses."""

    image: gr.Image
    refresh: gr.Button


def build_preview() -> PreviewBox:
    """The preview image, in the current column (under the background), and its hidden refresh button."""
    image = gr.Image(label="Placement preview (low resolution; Harmonize makes the full-size result)",
                     elem_id="placement_preview", type="pil", format="jpeg", interactive=False, height=300,
                     buttons=[])
    refresh = gr.Button("Update the placement preview", elem_id="placement_refresh", visible="hidden")
    return PreviewBox(image, refresh)


def wire(preview: PreviewBox, fg_editor: gr.ImageEditor, bg_image: gr.Image, scale: gr.Slider, pos_x: gr.Slider,
         pos_y: gr.Slider, flip: gr.Checkbox) -> None:
    """Redraw ``preview`` (and propose the default scale) whenever the placement's inputs change."""
    subject, auto_scale = gr.State(None), gr.State(scale.value)
    hint = {"api_name": False, "show_progress": "hidden", "preprocess": False, "trigger_mode": "always_last",
            "concurrency_limit": None}
    gr.on([preview.refresh.click, bg_image.change], take_subject, [fg_editor, bg_image, scale, auto_scale],
          [subject, scale, auto_scale], **hint)
    # A cleared portrait has no mask: forget the subject without reading the editor. Not on "upload": Gradio's editor
    # also sends it while painting, and one that arrived after the strokes' read emptied the preview just drawn (a
    # new upload is read when the pointer leaves the editor, like strokes).
    gr.on([fg_editor.clear], lambda: None, None, subject, api_name=False, show_progress="hidden", queue=False)
    gr.on([subject.change, bg_image.change, scale.change, pos_x.change, pos_y.change, flip.change], draw_preview,
          [subject, bg_image, scale, pos_x, pos_y, flip], preview.image, **hint)
    gr.on(None, None, None, None, js=WATCH_JS)  # on load
