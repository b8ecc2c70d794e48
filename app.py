"""Gradio demo: paste a subject into a scene and compare naive | global | local harmonization side by side.

Run ``python app.py`` (``--host``, ``--port``, ``--share``). Importing this module builds ``demo`` without launching
it. The UI only lays out components, wires events and turns library errors into ``gr.Error``; all image work is in
the ``harmonization`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Gradio keeps uploads and results in GRADIO_TEMP_DIR (default <tempdir>/gradio, shared by every Gradio app on the
# machine). The app takes a folder of its own unless one is set, so that sweeping it by age on start (what a killed
# server left behind) touches nothing of other apps. Set before Gradio is imported: it reads the variable then.
os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "harmonization-gradio"))

import gradio as gr  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402

from harmonization.errors import USER_ERRORS  # noqa: E402
from harmonization.image_io import image_size  # noqa: E402
from harmonization.pipelines.comparison import Comparison  # noqa: E402
from harmonization.serving import (  # noqa: E402
    Lane,
    LaneFullError,
    UploadGate,
    demo_lanes,
    install_sigterm_as_interrupt,
    jobs,  # noqa: E402
    memory_budget_from_env,
    parse_bytes,
    return_freed_memory_promptly,
    sweep_older_than,
)
from harmonization.serving.jobs import (  # noqa: E402
    DEFAULT_PAINTERLY_QUALITY,
    PAINTERLY_QUALITY,
    JobContext,
    is_painterly,
    method_choices,
    padded_example_layer,
    painterly_methods,
    painterly_options,
    save_comparison,
    save_image,
    unavailable_note,
)

TITLE = "Image harmonization"
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
DEFAULT_METHOD = "local"
BRUSH_COLOR = "#ff2d6f"
# The editors' canvas_size: layers the app sends are padded to it (see mask_to_editor_layer), so the mask tools work
# on images up to this size; uploads and brush strokes are not limited by it (the canvas follows the upload).
EDITOR_CANVAS = (4096, 4096)
DOWNLOADS_DIR = Path(tempfile.gettempdir()) / "harmonization-downloads"
DOWNLOADS_TTL_S, CACHE_TTL_S = 120, 3600
"""Result PNGs are written to DOWNLOADS_DIR and copied by Gradio into its cache at once (the page and clients fetch
those copies): ours are removed after 2 minutes, Gradio's after an hour (delete_cache), both on start (what a
killed server left) and all of them on shutdown."""
MAX_UPLOAD = os.environ.get("HARMONIZATION_MAX_UPLOAD", "100M")
"""The largest file an upload may be (Gradio's ``max_file_size``): a 40-megapixel photo is 10-30 MB as JPEG and
up to ~120 MB as PNG; the pixel limit is checked from the header anyway."""


# Lanes (see harmonization.serving.lanes): the page's run button, /harmonize and /harmonize_painterly share them, so
# two painterly jobs (minutes each) never hold up the photo methods (a second each).
FAST_LANE, PAINTERLY_LANE, MASK_LANE = demo_lanes()
# Every job reserves its estimated peak memory (from the image's header) before decoding anything, so concurrent
# large images wait instead of taking the server past HARMONIZATION_MEMORY_BUDGET (default 8 GiB).
MEMORY = memory_budget_from_env()
return_freed_memory_promptly()  # large freed bands go back to the system at once (see serving.memory)


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


def _outputs(comparison: Comparison) -> tuple[Any, ...]:
    """Each result is encoded once, as a PNG file shared by its image, the slider and the downloads (Gradio serves
    file paths as they are instead of encoding every image again)."""
    notes = "\n".join(f"- {c.note}" for c in (comparison.naive, comparison.baseline, comparison.result))
    naive, baseline, result = save_comparison(comparison, DOWNLOADS_DIR, DOWNLOADS_TTL_S)
    return naive, baseline, result, (naive, result), [naive, baseline, result], notes


def _context(progress: gr.Progress | None) -> JobContext:
    report = None if progress is None else (lambda fraction, message: progress(fraction, desc=message))
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
        except gr.Error:  # already a message for the page (gr.Error is a ValueError: do not wrap it again)
            raise
        except (*USER_ERRORS, LaneFullError) as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper


def _lane_of(method: str) -> Lane:
    """Painterly methods (minutes) run in their own lane; every other method in the fast lane."""
    return PAINTERLY_LANE if is_painterly(method) else FAST_LANE


@_gpu()
def _portrait_job(progress: gr.Progress | None, *args: Any) -> tuple[Any, ...]:
    return _outputs(jobs.run_portrait(_context(progress), *args))


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
    return _outputs(jobs.run_composite(_context(progress), *args))


@_user_errors
async def run_composite(editor_value: dict | None, method: str, quality: str | None = None,
                        progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """Tab "Composite + mask": harmonize the painted region of a ready-made composite."""
    job = functools.partial(_composite_job, progress, editor_value, method, painterly_options(quality))
    return await _lane_of(method).run(job, on_wait=_on_wait(progress))


@_gpu()
def _harmonize_job(progress: gr.Progress | None, *args: Any) -> str:
    return save_image(jobs.harmonize_files(_context(progress), *args), DOWNLOADS_DIR, DOWNLOADS_TTL_S)


@_user_errors
async def api_harmonize(composite: dict | str | None, mask: dict | str | None, method: str) -> Any:
    """API endpoint ``/harmonize``: (composite image, mask image, method name) -> harmonized image (PNG).

    Photo methods only (a second or so each, in the fast lane); painterly methods take minutes and are refused
    here with a pointer to ``/harmonize_painterly``, so that a slow job is never started by accident.
    """
    method = method or DEFAULT_METHOD
    if is_painterly(method):
        raise gr.Error(
            f"Method {method!r} is a painterly method: it takes one to two minutes, so /harmonize (the fast photo "
            f"methods) does not run it. Call /harmonize_painterly instead (its own queue, "
            f"{PAINTERLY_LANE.workers} jobs at a time): client.predict(composite, mask, {method!r}, 'preview', "
            "api_name='/harmonize_painterly').")
    return await FAST_LANE.run(functools.partial(_harmonize_job, None, composite, mask, method, {}))


@_user_errors
async def api_harmonize_painterly(composite: dict | str | None, mask: dict | str | None, method: str,
                                  quality: str | None = None, progress: gr.Progress = gr.Progress()) -> Any:
    """API endpoint ``/harmonize_painterly``: (composite, mask, painterly method, quality) -> the final image.

    Runs in the painterly lane (its own workers and line, one torch thread per job); photo methods are refused
    with a pointer to ``/harmonize``.
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
    """Clicking on the background puts the subject's centre there (updates the position sliders)."""
    background = _gate().file(background)
    if background is None:
        raise gr.Error("Upload a background first, then click where the subject should stand.")
    width, height = image_size(background)
    x, y = event.index[0], event.index[1]
    return round(min(max(x / width, 0.0), 1.0), 3), round(min(max(y / height, 0.0), 1.0), 3)


def _quality_visibility(method: str | None) -> gr.Radio:
    """The painterly quality choice is shown only for painterly methods."""
    return gr.Radio(visible=is_painterly(method))


def _editor(label: str, elem_id: str) -> gr.ImageEditor:
    return gr.ImageEditor(
        label=label,
        elem_id=elem_id,
        type="numpy",
        image_mode="RGBA",
        sources=("upload", "clipboard"),
        brush=gr.Brush(colors=[BRUSH_COLOR], color_mode="fixed", default_size=24),
        layers=gr.LayerOptions(allow_additional_layers=False),
        transforms=(),
        format="png",
        height=460,
        canvas_size=EDITOR_CANVAS,
    )


def _examples() -> tuple[list[list[Any]], list[list[Any]]]:
    """Portrait-tab and composite-tab example rows built from files in ``examples/``."""
    portrait_rows, composite_rows = [], []
    e = EXAMPLES_DIR

    def layer(stem: str) -> str:
        return padded_example_layer(e / f"{stem}_layer.png", EDITOR_CANVAS)

    pairs = [
        ("skimage_astronaut", "gcompris_details_vincentvangogh0013", 0.75, 0.5, 0.62),
        ("matplotlib_grace_hopper", "opencv_starry_night", 0.7, 0.3, 0.65),
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


def build_demo() -> gr.Blocks:
    """Build the Blocks app (not launched)."""
    choices = method_choices()
    with gr.Blocks(title=TITLE, delete_cache=(CACHE_TTL_S, CACHE_TTL_S)) as demo:
        gr.Markdown(
            f"# {TITLE}\n"
            "Paste a subject into a new scene and make it take the scene's light and colour. Paint the subject "
            "with the brush, choose a background, and compare the **naive** cut-and-paste with a **global** and a "
            "**local** harmonization. Results keep the full resolution and never change background pixels."
        )
        with gr.Tabs():
            with gr.Tab("Portrait + background"):
                with gr.Row():
                    with gr.Column():
                        fg_editor = _editor("Portrait: upload, then paint over the subject", "fg_editor")
                        with gr.Row():
                            auto_btn = gr.Button("Auto subject mask (people)", size="sm", elem_id="auto_mask_btn")
                            refine_btn = gr.Button("Refine mask edges", size="sm", elem_id="refine_mask_btn")
                    with gr.Column():
                        bg_image = gr.Image(label="Background (photo or painting): click to place the subject",
                                            elem_id="bg_image", type="filepath", sources=["upload", "clipboard"],
                                            height=460)
                with gr.Row():
                    scale = gr.Slider(0.1, 1.5, value=0.75, step=0.01, label="Scale (subject height / background)",
                                      elem_id="scale")
                    pos_x = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="Horizontal position", elem_id="pos_x")
                    pos_y = gr.Slider(0.0, 1.0, value=0.6, step=0.01, label="Vertical position", elem_id="pos_y")
                    flip = gr.Checkbox(value=False, label="Flip left-right", elem_id="flip")
                with gr.Row():
                    method = gr.Dropdown(choices=choices, value=DEFAULT_METHOD, label="Method for the local column",
                                         elem_id="method")
                    quality = gr.Radio(list(PAINTERLY_QUALITY), value=DEFAULT_PAINTERLY_QUALITY,
                                       label="Painterly quality (preview: 256 px, faster)",
                                       elem_id="painterly_quality", visible=is_painterly(DEFAULT_METHOD))
                    run_btn = gr.Button("Harmonize", variant="primary", elem_id="run_btn")
            with gr.Tab("Composite + mask"):
                comp_editor = _editor("Composite: upload, then paint over the pasted object", "comp_editor")
                refine_btn2 = gr.Button("Refine mask edges", size="sm", elem_id="refine_mask_btn_composite")
                with gr.Row():
                    method2 = gr.Dropdown(choices=choices, value=DEFAULT_METHOD, label="Method for the local column",
                                          elem_id="method_composite")
                    quality2 = gr.Radio(list(PAINTERLY_QUALITY), value=DEFAULT_PAINTERLY_QUALITY,
                                        label="Painterly quality (preview: 256 px, faster)",
                                        elem_id="painterly_quality_composite", visible=is_painterly(DEFAULT_METHOD))
                    run_btn2 = gr.Button("Harmonize", variant="primary", elem_id="run_btn_composite")
        with gr.Row(equal_height=True):
            result_naive = gr.Image(label="Naive (cut and paste)", elem_id="result_naive", format="png",
                                    interactive=False, buttons=["download", "fullscreen"])
            result_global = gr.Image(label="Global", elem_id="result_global", format="png", interactive=False,
                                     buttons=["download", "fullscreen"])
            result_local = gr.Image(label="Local", elem_id="result_local", format="png", interactive=False,
                                    buttons=["download", "fullscreen"])
        notes = gr.Markdown(elem_id="result_notes")
        slider = gr.ImageSlider(label="Before / after (naive vs local)", elem_id="result_slider", format="png",
                                interactive=False)
        downloads = gr.File(label="Full-resolution PNG downloads", file_count="multiple", elem_id="downloads",
                            interactive=False)
        unavailable = unavailable_note()
        if unavailable:
            gr.Markdown(unavailable, elem_id="unavailable_methods")

        outputs = [result_naive, result_global, result_local, slider, downloads, notes]
        portrait_inputs = [fg_editor, bg_image, scale, pos_x, pos_y, flip, method]
        # preprocess=False: uploads reach the handlers as file references, so our reader validates them and an
        # unreadable file becomes a clear message instead of a generic processing error (and _gate() checks every
        # reference). concurrency_limit=None: the handlers are async and wait for their lane (FAST_LANE,
        # PAINTERLY_LANE, MASK_LANE), which bounds the work; a waiting request holds no thread.
        lanes = {"concurrency_limit": None, "preprocess": False}
        run_btn.click(run_portrait, [*portrait_inputs, quality], outputs, api_name="run_portrait", **lanes)
        run_btn2.click(run_composite, [comp_editor, method2, quality2], outputs, api_name="run_composite", **lanes)
        # Mask tools: (editor value) -> editor value with the mask as its brush layer.
        auto_btn.click(auto_subject_mask, fg_editor, fg_editor, api_name="auto_mask", **lanes)
        refine_btn.click(refine_subject_mask, fg_editor, fg_editor, api_name="refine_mask", **lanes)
        refine_btn2.click(refine_subject_mask, comp_editor, comp_editor, api_name=False, **lanes)
        for dropdown, radio in ((method, quality), (method2, quality2)):
            dropdown.change(_quality_visibility, dropdown, radio, api_name=False, show_progress="hidden")
        bg_image.select(place_on_click, bg_image, [pos_x, pos_y], api_name=False, preprocess=False)

        portrait_rows, composite_rows = _examples()
        if portrait_rows:
            gr.Examples(portrait_rows, portrait_inputs, outputs, fn=run_portrait, cache_examples=True,
                        cache_mode="lazy", label="Examples: portrait + background", preprocess=False)
        if composite_rows:
            gr.Examples(composite_rows, [comp_editor, method2], outputs, fn=run_composite, cache_examples=True,
                        cache_mode="lazy", label="Examples: composite + mask", preprocess=False)

        # Programmatic endpoint for gradio_client users: (composite, mask, method) -> harmonized PNG.
        with gr.Row(visible=False):
            api_composite = gr.Image(type="filepath", label="composite")
            api_mask = gr.Image(type="filepath", label="mask")
            api_method = gr.Textbox(value=DEFAULT_METHOD, label="method")
            api_result = gr.Image(type="pil", format="png", label="harmonized")
            api_btn = gr.Button("harmonize")
        api_btn.click(api_harmonize, [api_composite, api_mask, api_method], api_result, api_name="harmonize",
                      **lanes)
        # The painterly methods' endpoint (its own lane): (composite, mask, method, quality) -> the final image.
        with gr.Row(visible=False):
            api_p_composite = gr.Image(type="filepath", label="composite")
            api_p_mask = gr.Image(type="filepath", label="mask")
            api_p_method = gr.Textbox(value="painterly", label="method")
            api_p_quality = gr.Textbox(value=DEFAULT_PAINTERLY_QUALITY, label="quality")
            api_p_result = gr.Image(type="pil", format="png", label="result")
            api_p_btn = gr.Button("harmonize_painterly")
        api_p_btn.click(api_harmonize_painterly, [api_p_composite, api_p_mask, api_p_method, api_p_quality],
                        api_p_result, api_name="harmonize_painterly", **lanes)
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


demo = build_demo()


def sweep_on_start() -> int:
    """Remove results that an earlier run (killed before it could clean up) left in the PNG downloads and Gradio's
    cache, older than :data:`DOWNLOADS_TTL_S` and :data:`CACHE_TTL_S`; returns how many entries were removed."""
    return sweep_older_than(DOWNLOADS_DIR, DOWNLOADS_TTL_S) + sweep_older_than(get_upload_folder(), CACHE_TTL_S)


def _launch_options() -> dict[str, Any]:
    return {"max_file_size": parse_bytes(MAX_UPLOAD)}


@contextlib.contextmanager
def serve_locally() -> Iterator[str]:
    """Serve ``demo`` from this process on 127.0.0.1 at a free port (tests, ``scripts/load_test.py``).

    Yields:
        The URL, e.g. ``"http://127.0.0.1:40123/"``; the server is closed on exit.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **_launch_options())
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close(verbose=False)


def main(argv: list[str] | None = None) -> None:
    """Launch the demo: ``python app.py [--host 0.0.0.0] [--port 7860] [--share]``. Old results an earlier run left
    are removed on start; on Ctrl-C or SIGTERM the server closes, Gradio deletes its files and ours are removed."""
    parser = argparse.ArgumentParser(description="Image harmonization demo")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    args = parser.parse_args(argv)
    if removed := sweep_on_start():
        print(f"Removed {removed} old result(s) left by an earlier run.")
    install_sigterm_as_interrupt()  # SIGTERM closes the server like Ctrl-C, so the cleanup below runs
    try:
        demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                    **_launch_options())
    finally:
        demo.close(verbose=False)
        sweep_older_than(DOWNLOADS_DIR, 0)


if __name__ == "__main__":
    main()
