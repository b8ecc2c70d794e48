"""The "Advanced" accordion (strength, feather radius, network resolution, painterly style strength and quality)
and the run handlers that take its values (and the full-resolution portrait of a phone photo, see
:mod:`demo.masks`). The values become method options in :mod:`harmonization.serving.advanced`, the same function
the API's ``options`` text goes through."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import gradio as gr

from harmonization.pipelines.run import MAX_FEATHER_RADIUS
from harmonization.serving import jobs
from harmonization.serving.advanced import NETWORK_RESOLUTIONS, STYLE_STRENGTH_RANGE, advanced_options
from harmonization.serving.jobs import PAINTERLY_QUALITY, painterly_options
from harmonization.serving.results import input_stem

from .durations import GPU_SECONDS
from .handlers import _context, _gpu, _lane_of, _on_wait, _outputs, _user_errors

DEFAULT = "checkpoint default"
TAB_QUALITY = "as in the tab"
FEATHER_MAX = min(32.0, MAX_FEATHER_RADIUS)  # the page's slider; the API takes up to MAX_FEATHER_RADIUS


@dataclass(frozen=True)
class Advanced:
    """The accordion's components, in the order the handlers take them (:attr:`inputs`)."""

    strength_default: gr.Checkbox
    strength: gr.Slider
    feather: gr.Slider
    resolution: gr.Dropdown
    style_default: gr.Checkbox
    style_strength: gr.Slider
    quality: gr.Radio

    @property
    def inputs(self) -> list[gr.components.Component]:
        return [self.strength_default, self.strength, self.feather, self.resolution, self.style_default,
                self.style_strength, self.quality]


def build_advanced() -> Advanced:
    """The accordion (closed): an untouched one changes nothing (every value is the method's default)."""
    with gr.Accordion("Advanced", open=False, elem_id="advanced"):
        with gr.Row():
            strength_default = gr.Checkbox(True, label="Strength: checkpoint default", elem_id="adv_strength_default")
            strength = gr.Slider(0.0, 2.0, value=1.0, step=0.05, elem_id="adv_strength",
                                 label="Strength (0 = no change, 1 = full effect, 2 = exaggerated)")
            feather = gr.Slider(0.0, FEATHER_MAX, value=0.0, step=0.5, label="Feather radius of the mask edge (px)",
                                elem_id="adv_feather")
            resolution = gr.Dropdown([DEFAULT, *map(str, NETWORK_RESOLUTIONS)], value=DEFAULT,
                                     label="Network resolution (long side, PHNet/FMM)", elem_id="adv_resolution")
        with gr.Row():
            style_default = gr.Checkbox(True, label="Painterly style strength: from the painting",
                                        elem_id="adv_style_default")
            style_strength = gr.Slider(*STYLE_STRENGTH_RANGE, value=5.0, step=0.5, elem_id="adv_style_strength",
                                       label="Painterly style strength (1 = subtle, 10 = strong)")
            quality = gr.Radio([TAB_QUALITY, *PAINTERLY_QUALITY], value=TAB_QUALITY, label="Painterly quality",
                               elem_id="adv_quality")
    # Moving a slider means "use this value": its "default" box is unticked.
    strength.input(lambda _value: False, strength, strength_default, api_name=False, show_progress="hidden")
    style_strength.input(lambda _value: False, style_strength, style_default, api_name=False,
                         show_progress="hidden")
    return Advanced(strength_default, strength, feather, resolution, style_default, style_strength, quality)


def page_options(tab_quality: str | None, strength_default: bool | None = True, strength: float | None = 1.0,
                 feather: float | None = 0.0, resolution: str | None = DEFAULT, style_default: bool | None = True,
                 style_strength: float | None = 5.0, quality: str | None = TAB_QUALITY) -> dict[str, Any]:
    """The method options of the page's values (an API client may send anything: checked by the library)."""
    chosen = tab_quality if quality in (None, "", TAB_QUALITY) else quality
    res: Any = None if resolution in (None, "", DEFAULT) else resolution
    if isinstance(res, str):
        res = int(res) if res.strip().isdigit() else res
    return advanced_options(None if strength_default or strength_default is None else strength,
                            0.0 if feather is None else feather, res,
                            None if style_default or style_default is None else style_strength,
                            painterly_options(chosen))


@_gpu(GPU_SECONDS["run"])
def _portrait_job(progress: gr.Progress | None, *args: Any) -> tuple[Any, ...]:
    return _outputs(jobs.run_portrait(_context(progress), *args), input_stem(args[0], args[1]))


@_gpu(GPU_SECONDS["run"])
def _composite_job(progress: gr.Progress | None, *args: Any) -> tuple[Any, ...]:
    return _outputs(jobs.run_composite(_context(progress), *args), input_stem(args[0]) or "composite")


@_user_errors
async def run_portrait_advanced(fg_value: dict | None, background: dict | str | None, scale: float, pos_x: float,
                                pos_y: float, flip: bool, method: str, quality: str | None = None,
                                strength_default: bool = True, strength: float = 1.0, feather: float = 0.0,
                                resolution: str = DEFAULT, style_default: bool = True, style_strength: float = 5.0,
                                adv_quality: str = TAB_QUALITY, full_image: str | None = None,
                                progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """Tab "Portrait + background": compose the painted subject onto the background, then harmonize, with the
    Advanced options (``full_image``: the full-resolution portrait a mask tool kept, a gr.State; see demo.masks)."""
    options = page_options(quality, strength_default, strength, feather, resolution, style_default, style_strength,
                           adv_quality)
    job = functools.partial(_portrait_job, progress, fg_value, background, scale, pos_x, pos_y, flip, method,
                            options, full_image)
    return await _lane_of(method).run(job, on_wait=_on_wait(progress))


@_user_errors
async def run_composite_advanced(editor_value: dict | None, method: str, quality: str | None = None,
                                 strength_default: bool = True, strength: float = 1.0, feather: float = 0.0,
                                 resolution: str = DEFAULT, style_default: bool = True, style_strength: float = 5.0,
                                 adv_quality: str = TAB_QUALITY, full_image: str | None = None,
                                 progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """Tab "Composite + mask": harmonize the painted region of a ready-made composite (Advanced options and
    ``full_image`` as in run_portrait_advanced)."""
    options = page_options(quality, strength_default, strength, feather, resolution, style_default, style_strength,
                           adv_quality)
    job = functools.partial(_composite_job, progress, editor_value, method, options, full_image)
    return await _lane_of(method).run(job, on_wait=_on_wait(progress))
