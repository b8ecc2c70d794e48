"""Event handlers of the page and the API endpoints: each hands its work to :mod:`harmonization.serving.jobs` in a
queue lane (see :mod:`demo.config`) and turns the library's input errors into ``gr.Error`` messages."""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from harmonization.errors import USER_ERRORS
from harmonization.image_io import image_size
from harmonization.pipelines.comparison import Comparison
from harmonization.serving import Lane, LaneClosedError, LaneFullError, UploadGate, jobs
from harmonization.serving.jobs import (
    JobContext,
    is_painterly,
    painterly_methods,
    painterly_options,
    save_image,
)
from harmonization.serving.painterly_hints import painterly_hint
from harmonization.serving.results import column_labels, input_stem, notes_markdown, save_results

from .config import (
    BRUSH_COLOR,
    DEFAULT_METHOD,
    DOWNLOADS_DIR,
    DOWNLOADS_TTL_S,
    EDITOR_CANVAS,
    EXAMPLES_DIR,
    FAST_LANE,
    MASK_LANE,
    MEMORY,
    PAINTERLY_LANE,
)


def _gpu(duration: int = 120) -> Any:
    """``spaces.GPU`` on Hugging Face ZeroGPU Spaces (the ``spaces`` package is importable there), else a no-op."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def _gate() -> UploadGate:
    """What a request may open: regular files in Gradio's upload/cache folder (``GRADIO_TEMP_DIR``, else
    ``<tempdir>/gradio``: uploads, and example and result files Gradio copied there) and the app's example files.
    Handlers run with ``preprocess=False``, so Gradio checks only references carrying its ``meta`` marker; every
    file reference is checked here, whatever its form."""
    return UploadGate.of([get_upload_folder(), EXAMPLES_DIR])


def _outputs(comparison: Comparison, stem: str = "") -> tuple[Any, ...]:
    """Each result is encoded once, as a PNG file shared by its image, the slider and the downloads (Gradio serves
    file paths as they are instead of encoding every image again); the downloads are ``<stem>_<method>.png`` and a
    zip of the three. The columns' labels follow in :func:`label_columns` (page only: the API's outputs stay
    plain files)."""
    files = save_results(comparison, DOWNLOADS_DIR, DOWNLOADS_TTL_S, stem)
    return (files.naive, files.baseline, files.result, (files.naive, files.result), [*files.pngs, files.archive],
            notes_markdown(comparison))


def label_columns(method: str | None) -> tuple[Any, ...]:
    """After a successful run: label the three columns and the slider with the method that made each."""
    if not method:
        return tuple(gr.update() for _ in range(4))
    return tuple(gr.update(label=label) for label in column_labels(method))


class StoppedError(Exception):
    """The user pressed Stop: a running job ends at its next progress report (the painterly methods report every
    optimisation step), which frees its lane for the next request."""


_STOPPED: weakref.WeakSet[gr.Progress] = weakref.WeakSet()  # the progress trackers of stopped requests
STOPPED_JOBS = [0]  # how many running jobs ended early on Stop (for tests and logs)


def _context(progress: gr.Progress | None) -> JobContext:
    if progress is None:
        return JobContext(_gate(), MEMORY, None)

    def report(fraction: float, message: str) -> None:
        if progress in _STOPPED:
            STOPPED_JOBS[0] += 1
            raise StoppedError("Stopped.")
        progress(fraction, desc=message)

    return JobContext(_gate(), MEMORY, report)


def _on_wait(progress: gr.Progress | None) -> Any:  # a lane's "waiting for a free slot" message, in the page
    return None if progress is None else (lambda message: progress(0.0, desc=message))


def _user_errors(fn: Any) -> Any:
    """Turn the library's input errors (and a full lane) into ``gr.Error``, shown in the page with the library's
    message (the jobs raise them in their lane's thread; they reach the handler through its future)."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return await fn(*args, **kwargs)
        except asyncio.CancelledError:  # the Stop button cancels the request: its running job stops too
            _STOPPED.update(a for a in (*args, *kwargs.values()) if isinstance(a, gr.Progress))
            raise
        except gr.Error:  # already a message for the page (gr.Error is a ValueError: do not wrap it again)
            raise
        except (*USER_ERRORS, LaneFullError, LaneClosedError) as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper


def _lane_of(method: str) -> Lane:
    """Painterly methods (minutes) run in their own lane; every other method in the fast lane."""
    return PAINTERLY_LANE if is_painterly(method) else FAST_LANE


@_gpu()
def _portrait_job(progress: gr.Progress | None, *args: Any) -> tuple[Any, ...]:
    return _outputs(jobs.run_portrait(_context(progress), *args), input_stem(args[0], args[1]))


@_user_errors
async def run_portrait(
    fg_value: dict | None,
    background: dict | str | None,
    scale: float,
    pos_x: float,
    pos_y: float,
    flip: bool,
    method: str,
    quality: str | None = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[Any, ...]:
    """Tab "Portrait + background": compose the painted subject onto the background, then harmonize."""
    job = functools.partial(_portrait_job, progress, fg_value, background, scale, pos_x, pos_y, flip, method,
                            painterly_options(quality))
    return await _lane_of(method).run(job, on_wait=_on_wait(progress))


@_gpu()
def _composite_job(progress: gr.Progress | None, *args: Any) -> tuple[Any, ...]:
    return _outputs(jobs.run_composite(_context(progress), *args), input_stem(args[0]) or "composite")


@_user_errors
async def run_composite(editor_value: dict | None, method: str, quality: str | None = None,
                        progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """Tab "Composite + mask": harmonize the painted region of a ready-made composite."""
    job = functools.partial(_composite_job, progress, editor_value, method, painterly_options(quality))
    return await _lane_of(method).run(job, on_wait=_on_wait(progress))


def refuse_painterly(method: str) -> None:
    """The photo-method endpoints (/harmonize, /harmonize_options) refuse painterly methods, naming the endpoint
    that runs them, so that a slow job is never started by accident."""
    if is_painterly(method):
        raise gr.Error(
            f"Method {method!r} is a painterly method: it takes one to two minutes, so /harmonize (the fast photo "
            f"methods) does not run it. Call /harmonize_painterly instead (its own queue, "
            f"{PAINTERLY_LANE.workers} jobs at a time): client.predict(composite, mask, {method!r}, 'preview', "
            "api_name='/harmonize_painterly').")


@_gpu()
def _harmonize_job(progress: gr.Progress | None, *args: Any) -> str:
    return save_image(jobs.harmonize_files(_context(progress), *args), DOWNLOADS_DIR, DOWNLOADS_TTL_S)


@_user_errors
async def api_harmonize(composite: dict | str | None, mask: dict | str | None, method: str) -> Any:
    """API endpoint /harmonize: (composite image, mask image, method name) -> harmonized image (PNG).

    Photo methods only (a second or so each, in the fast lane); painterly methods take minutes and are refused
    here with a pointer to /harmonize_painterly, so that a slow job is never started by accident.
    """
    method = method or DEFAULT_METHOD
    refuse_painterly(method)
    return await FAST_LANE.run(functools.partial(_harmonize_job, None, composite, mask, method, {}))


@_user_errors
async def api_harmonize_painterly(composite: dict | str | None, mask: dict | str | None, method: str,
                                  quality: str | None = None, progress: gr.Progress = gr.Progress()) -> Any:
    """API endpoint /harmonize_painterly: (composite, mask, painterly method, quality) -> the final image.

    Runs in the painterly lane (its own workers and line, one torch thread per job); photo methods are refused
    with a pointer to /harmonize.
    """
    method = method or "painterly"
    if not is_painterly(method):
        raise gr.Error(f"Method {method!r} is not a painterly method ({painterly_methods()}); call /harmonize "
                       "for it.")
    job = functools.partial(_harmonize_job, progress, composite, mask, method, painterly_options(quality))
    return await PAINTERLY_LANE.run(job, on_wait=_on_wait(progress))


def _mask_tool(editor_value: Any, tool: str) -> dict[str, Any]:
    color = tuple(int(BRUSH_COLOR[i:i + 2], 16) for i in (1, 3, 5))
    return jobs.mask_tool(_context(None), editor_value, tool, canvas=EDITOR_CANVAS, color=color)  # type: ignore


@_gpu(30)
def _auto_mask_job(editor_value: Any) -> dict[str, Any]:
    return _mask_tool(editor_value, "auto")


@_user_errors
async def auto_subject_mask(editor_value: dict | None) -> dict[str, Any]:
    """Button "Auto subject mask": replace the brush layer by the person mask (then correct it with the brush)."""
    return await MASK_LANE.run(functools.partial(_auto_mask_job, editor_value))


@_user_errors
async def refine_subject_mask(editor_value: dict | None) -> dict[str, Any]:
    """Button "Refine edges": snap the painted mask to the subject's edges."""
    return await MASK_LANE.run(functools.partial(_mask_tool, editor_value, "refine"))


@_user_errors
async def place_on_click(background: dict | str | None, event: gr.SelectData) -> tuple[float, float]:
    """Clicking on the background puts the subject's feet (the bottom centre of its mask) there (updates the
    position sliders)."""
    background = _gate().file(background)
    if background is None:
        raise gr.Error("Upload a background first, then click where the subject should stand.")
    width, height = image_size(background)
    x, y = event.index[0], event.index[1]
    return round(min(max(x / width, 0.0), 1.0), 3), round(min(max(y / height, 0.0), 1.0), 3)


def quality_visibility(method: str | None) -> gr.Radio:
    """The painterly quality choice is shown only for painterly methods."""
    return gr.Radio(visible=is_painterly(method))


def painterly_note(method: str | None, quality: str | None, background: Any) -> str:
    """The note under the painterly quality choice: the run's estimated time on this server (from the painting's
    size, the quality's working size and steps) and a warning when the background looks too smooth for a painting.
    ``background``: the portrait tab's background file, or the composite editor's value (its image). Empty for
    photo methods or without a (readable) background."""
    try:
        if not is_painterly(method):
            return ""
        if isinstance(background, dict) and "layers" in background:  # the composite editor's value
            value = _gate().editor(background)
            path = None if value is None else value["background"] or value["composite"]
        else:
            path = _gate().file(background)
        if path is None:
            return ""
        hint = painterly_hint(path, quality, method or "painterly")
    except Exception:  # noqa: BLE001  (a hint only: an unreadable upload gets its own message elsewhere)
        return ""
    if hint.gpu:
        text = (f"Estimated time: at most about {hint.seconds} s once started (measured on a CPU; this server's "
                "GPU should be faster), longer if other runs are queued.")
    else:
        text = (f"Estimated time: about {hint.seconds} s on this server once started (one CPU thread), longer if "
                "other runs are queued.")
    if not hint.looks_painted:
        text += ("\n\nThis background looks smooth for a painting (little brush texture): painterly methods are "
                 "made for paintings and may look odd on a photo; for a photo, choose a photo method.")
    return text
