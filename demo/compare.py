"""'Compare all methods': one click runs every available method on the current inputs and shows a labelled
gallery with each method's time (:func:`harmonization.pipelines.comparison.compare_all`)."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from harmonization.serving import jobs
from harmonization.serving.jobs import save_columns

from .advanced import DEFAULT, TAB_QUALITY, page_options
from .config import DOWNLOADS_DIR, DOWNLOADS_TTL_S, FAST_LANE, PAINTERLY_LANE
from .durations import GPU_SECONDS
from .handlers import _context, _gpu, _on_wait, _user_errors


def build_compare() -> tuple[gr.Gallery, gr.Checkbox]:
    """The gallery and the "include painterly methods" box (under the results)."""
    with gr.Accordion("All methods", open=True, elem_id="compare_all"):
        painterly = gr.Checkbox(False, label="Include the painterly methods (a minute or more each)",
                                elem_id="compare_painterly")
        gallery = gr.Gallery(label="Every method on the current inputs (label, time)", elem_id="compare_gallery",
                             columns=3, height="auto", format="png", interactive=False, object_fit="contain")
    return gallery, painterly


@_gpu(GPU_SECONDS["compare"])
def _job(progress: gr.Progress | None, tab: str, *args: Any) -> list[tuple[str, str]]:
    run = jobs.run_portrait if tab == "portrait" else jobs.run_composite
    return save_columns(run(_context(progress), *args), DOWNLOADS_DIR, DOWNLOADS_TTL_S)


@_user_errors
async def compare_all(fg_value: dict | None, background: dict | str | None, scale: float, pos_x: float,
                      pos_y: float, flip: bool, painterly: bool = False, quality: str | None = None,
                      strength_default: bool = True, strength: float = 1.0, feather: float = 0.0,
                      resolution: str = DEFAULT, style_default: bool = True, style_strength: float = 5.0,
                      adv_quality: str = TAB_QUALITY, full_image: str | None = None,
                      progress: gr.Progress = gr.Progress()) -> list[tuple[str, str]]:
    """Button "Compare all methods" (portrait tab): every available method on the composed portrait.

    Args:
        fg_value: the portrait editor's value (image and brush layers over the subject).
        background: the background image.
        scale: subject height / background height.
        pos_x: horizontal position of the subject's centre, 0..1.
        pos_y: vertical position, 0..1.
        flip: mirror the subject.
        painterly: also run the painterly methods (minutes).
        quality: painterly quality, "preview" or "standard".
    """
    options = page_options(quality, strength_default, strength, feather, resolution, style_default, style_strength,
                           adv_quality)
    lane = PAINTERLY_LANE if painterly else FAST_LANE
    job = functools.partial(_job, progress, "portrait", fg_value, background, scale, pos_x, pos_y, flip, None,
                            options, full_image, bool(painterly))
    return await lane.run(job, on_wait=_on_wait(progress))


@_user_errors
async def compare_all_composite(editor_value: dict | None, painterly: bool = False, quality: str | None = None,
                                strength_default: bool = True, strength: float = 1.0, feather: float = 0.0,
                                resolution: str = DEFAULT, style_default: bool = True, style_strength: float = 5.0,
                                adv_quality: str = TAB_QUALITY, full_image: str | None = None,
                                progress: gr.Progress = gr.Progress()) -> list[tuple[str, str]]:
    """Button "Compare all methods" (composite tab): every available method on the painted region.

    Args:
        editor_value: the composite editor's value (image and brush layers over the pasted object).
        painterly: also run the painterly methods (minutes).
        quality: painterly quality, "preview" or "standard".
    """
    options = page_options(quality, strength_default, strength, feather, resolution, style_default, style_strength,
                           adv_quality)
    lane = PAINTERLY_LANE if painterly else FAST_LANE
    job = functools.partial(_job, progress, "composite", editor_value, None, options, full_image, bool(painterly))
    return await lane.run(job, on_wait=_on_wait(progress))
