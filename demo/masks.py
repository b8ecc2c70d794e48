"""The mask tools of the page: people (auto), any object from strokes or a box, refine; with progress.

Phone photos larger than the editor's canvas come back as a display copy once a brush stroke was painted (before
any stroke, as they are: Gradio's editor would draw the mask off the subject; a second State, :func:`frame_state`,
tells the tools whether the user painted since their last answer); the full-resolution file is kept in a
``gr.State`` beside the editor (:func:`full_image_state`), handed to the next tool and to the runs (they cut the
subject from it, see :func:`harmonization.serving.jobs.mask_tool_framed`) and forgotten when a new image is
uploaded.
The API endpoints keep their signatures (a State is not part of the API): ``/auto_mask`` and ``/refine_mask`` take
and return the editor value; ``/object_mask`` takes the editor value, the kind of strokes and an optional box.
"""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from harmonization.serving import jobs

from .config import BRUSH_COLOR, EDITOR_CANVAS, MASK_LANE
from .durations import GPU_SECONDS
from .handlers import _context, _gpu, _on_wait, _user_errors

STROKES = {"Scribbles over the object": "scribbles", "A box drawn around it": "box"}


def _color() -> tuple[int, int, int]:
    return tuple(int(BRUSH_COLOR[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


Result = tuple[dict[str, Any], Any, Any]
"""The editor value, the full-resolution file (page state) and the frame sent (page state)."""


@_gpu(GPU_SECONDS["mask"])
def _mask_job(progress: gr.Progress | None, editor_value: Any, tool: str, full_image: Any, frame: Any,
              strokes: str, box: Any) -> Result:
    return jobs.mask_tool_framed(_context(progress), editor_value, tool, canvas=EDITOR_CANVAS, color=_color(),
                                 full_image=full_image, strokes=strokes, box=box, frame=frame)


async def _run(progress: gr.Progress, editor_value: Any, tool: str, full_image: Any, frame: Any,
               strokes: str = "scribbles", box: Any = None) -> Result:
    job = functools.partial(_mask_job, progress, editor_value, tool, full_image, frame, strokes, box)
    return await MASK_LANE.run(job, on_wait=_on_wait(progress))


@_user_errors
async def auto_subject_mask(editor_value: dict | None, full_image: str | None = None, frame: Any = None,
                            progress: gr.Progress = gr.Progress()) -> Result:
    """Button "Auto subject mask (people)": replace the brush layer by the person mask (then correct it).

    Args:
        editor_value: the portrait editor's value (background image and brush layers).
        full_image: the full-resolution file of a phone photo shown as a display copy (page state).
        frame: what the last mask tool sent to this editor (page state, see :func:`frame_state`).
    """
    return await _run(progress, editor_value, "auto", full_image, frame)


@_user_errors
async def object_mask(editor_value: dict | None, strokes: str = "Scribbles over the object", box: str = "",
                      full_image: str | None = None, frame: Any = None, progress: gr.Progress = gr.Progress()
                      ) -> Result:
    """Button "Object mask from my strokes": the mask of any object (not only people), from the brush strokes.

    Args:
        editor_value: the editor's value; its brush strokes mark the object.
        strokes: "Scribbles over the object" (they seed its colours) or "A box drawn around it" (a rough
            rectangle drawn with the brush; its extent is the box), or the short names "scribbles" / "box".
        box: optional "x0, y0, x1, y1" in the photo's pixels (instead of the strokes, which then seed it).
        full_image: the full-resolution file of a phone photo shown as a display copy (page state).
        frame: what the last mask tool sent to this editor (page state).
    """
    kind = STROKES.get(strokes, strokes)
    return await _run(progress, editor_value, "object", full_image, frame, kind, (box or None))


@_user_errors
async def refine_subject_mask(editor_value: dict | None, full_image: str | None = None, frame: Any = None,
                              progress: gr.Progress = gr.Progress()) -> Result:
    """Button "Refine mask edges": snap the painted mask to the subject's edges (solid regions stay solid)."""
    return await _run(progress, editor_value, "refine", full_image, frame)


def full_image_state(editor: gr.ImageEditor) -> gr.State:
    """The State holding the full-resolution file behind ``editor``'s display copy, emptied on every new upload."""
    state = gr.State(None)
    for event in (editor.upload, editor.clear):
        event(lambda: None, None, state, api_name=False, show_progress="hidden", queue=False)
    return state


def frame_state(editor: gr.ImageEditor) -> gr.State:
    """The State holding what the last mask tool sent to ``editor`` (the picture's size and a thumbnail of the
    layer, :class:`harmonization.image_io.editor_frame.EditorFrame`), emptied on every new upload: while no stroke
    was painted since, the tools keep the size of the picture the editor shows (see
    :func:`harmonization.serving.jobs.mask_tool_framed`)."""
    return full_image_state(editor)


def build_object_tools(suffix: str = "") -> tuple[gr.Button, gr.Radio, gr.Textbox]:
    """The object-mask button, the kind of strokes and the (hidden, API) box, in the current row; ``suffix`` ends
    their element ids (``object_mask_btn`` on the portrait tab, ``object_mask_btn_composite`` on the other)."""
    button = gr.Button("Object mask from my strokes (any object)", size="sm", elem_id=f"object_mask_btn{suffix}")
    strokes = gr.Radio(list(STROKES), value="Scribbles over the object", label="My strokes are",
                       elem_id=f"object_mask_strokes{suffix}")
    box = gr.Textbox("", visible=False, label="box (x0, y0, x1, y1)")
    return button, strokes, box
