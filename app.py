"""Gradio demo: paste a subject into a scene and compare naive | global | local harmonization side by side.

Run ``python app.py`` (``--host``, ``--port``, ``--share``). Importing this module builds ``demo`` without launching
it. The UI only lays out components, wires events and turns library errors into ``gr.Error``; all image work is in
the ``harmonization`` package.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.utils import get_upload_folder

from harmonization import auto_mask, available_methods, compose, get_method, harmonize, list_methods, refine_mask
from harmonization.errors import USER_ERRORS
from harmonization.image_io import (
    editor_to_image_and_mask,
    image_size,
    load_image,
    load_mask,
    load_rgb8,
    mask_to_editor_layer,
    pad_editor_layer_file,
)
from harmonization.pipelines.comparison import Comparison, compare
from harmonization.serving import UploadGate

TITLE = "Image harmonization"
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
DEFAULT_METHOD = "local"
BRUSH_COLOR = "#ff2d6f"
# The editors' canvas_size: layers the app sends are padded to it (see mask_to_editor_layer), so the mask tools work
# on images up to this size; uploads and brush strokes are not limited by it (the canvas follows the upload).
EDITOR_CANVAS = (4096, 4096)
# Painterly fusion on a CPU takes one to two minutes at 512 px; "preview" works at 256 px with 60 L-BFGS steps
# (standard: 512 px, the engine's default steps: 150 local, 100 global).
PAINTERLY_QUALITY: dict[str, dict[str, Any]] = {"preview": {"size": 256, "steps": 60},
                                                "standard": {"size": 512, "steps": None}}
DEFAULT_PAINTERLY_QUALITY = "standard"
DOWNLOADS_DIR = Path(tempfile.gettempdir()) / "harmonization-downloads"
DOWNLOAD_TTL_S = 3600


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


def _method_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for the method dropdown: every method that can run here, except the pure baselines."""
    names = [n for n in available_methods() if n not in ("global", "painterly-global")]
    return [(f"{get_method(n).label} ({n})", n) for n in names]


def _unavailable_note() -> str:
    lines = []
    for name in list_methods():
        method = get_method(name)
        reason = method.unavailable_reason() if method.unavailable_reason else None
        if reason:
            lines.append(f"- `{name}` is not offered here: {reason}")
    return "\n".join(lines)


def _save_png(comparison: Comparison) -> list[str]:
    """Write the three results as PNG files for download; folders older than an hour are removed first, so a
    long-running server does not fill the disk (Gradio copies the files into its own cache, cleaned by
    ``delete_cache``)."""
    DOWNLOADS_DIR.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in DOWNLOADS_DIR.iterdir():
        if old.is_dir() and now - old.stat().st_mtime > DOWNLOAD_TTL_S:
            shutil.rmtree(old, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(dir=DOWNLOADS_DIR))
    paths = []
    for column, stem in ((comparison.naive, "naive"), (comparison.baseline, "global"), (comparison.result, "local")):
        path = folder / f"{stem}-{column.method}.png"
        column.image.save(path, format="PNG", compress_level=1)  # fast; lossless either way
        paths.append(str(path))
    return paths


def _outputs(comparison: Comparison) -> tuple[Any, ...]:
    """Each result is encoded once, as a PNG file shared by its image, the slider and the downloads (Gradio serves
    file paths as they are instead of encoding every image again)."""
    notes = "\n".join(f"- {c.note}" for c in (comparison.naive, comparison.baseline, comparison.result))
    naive, baseline, result = _save_png(comparison)
    return naive, baseline, result, (naive, result), [naive, baseline, result], notes


def _run(composite: Any, mask: Any, method: str, progress: gr.Progress, quality: str | None = None
         ) -> tuple[Any, ...]:
    image = load_image(composite)
    soft = load_mask(mask, size=(image.shape[-1], image.shape[-2]))
    options = PAINTERLY_QUALITY.get(quality or DEFAULT_PAINTERLY_QUALITY, {})
    comparison = compare(image, soft, method, progress=lambda f, msg: progress(f, desc=msg), options=options)
    return _outputs(comparison)


def _user_errors(fn: Any) -> Any:
    """Turn the library's input errors into ``gr.Error`` (shown in the page) with the library's message."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:  # already a message for the page (gr.Error is a ValueError: do not wrap it again)
            raise
        except USER_ERRORS as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper


@_gpu()
@_user_errors
def run_portrait(
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
    gate = _gate()
    fg_value, background = gate.editor(fg_value), gate.file(background)
    portrait, portrait_mask = editor_to_image_and_mask(fg_value)
    if portrait is None:
        raise gr.Error("Upload a portrait (or any photo) in the left editor first.")
    if portrait_mask is None:
        raise gr.Error("No mask painted: paint over the subject in the portrait with the brush (or press "
                       "'Auto subject mask'), then run again.")
    if background is None:
        raise gr.Error("Upload a background image (photo or painting) on the right.")
    composite, mask = compose(portrait, portrait_mask, load_rgb8(background), scale=scale, center=(pos_x, pos_y),
                              flip=flip)
    return _run(composite, mask, method, progress, quality)


@_gpu()
@_user_errors
def run_composite(editor_value: dict | None, method: str, quality: str | None = None,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:
    """Tab "Composite + mask": harmonize the painted region of a ready-made composite."""
    composite, mask = editor_to_image_and_mask(_gate().editor(editor_value))
    if composite is None:
        raise gr.Error("Upload a composite image first.")
    if mask is None:
        raise gr.Error("No mask painted: paint over the pasted object with the brush, then run again.")
    return _run(composite, mask, method, progress, quality)


@_gpu()
@_user_errors
def api_harmonize(composite: dict | str | None, mask: dict | str | None, method: str) -> Any:
    """API endpoint ``/harmonize``: (composite image, mask image, method name) -> harmonized image (PNG)."""
    gate = _gate()
    composite, mask = gate.file(composite), gate.file(mask)
    if composite is None or mask is None:
        raise gr.Error("Both a composite image and a mask image are required.")
    return harmonize(composite, mask, method=method or DEFAULT_METHOD)


def _editor_value(image: Any, mask: Any) -> dict[str, Any]:
    """An ImageEditor value: the photo as background and the mask as the editable brush layer."""
    rgb8 = load_rgb8(image)
    soft = load_mask(mask, size=(rgb8.shape[1], rgb8.shape[0]))
    color = tuple(int(BRUSH_COLOR[i:i + 2], 16) for i in (1, 3, 5))
    return {"background": rgb8, "layers": [mask_to_editor_layer(soft, color, EDITOR_CANVAS)], "composite": rgb8}


@_gpu(30)
@_user_errors
def auto_subject_mask(editor_value: dict | None) -> dict[str, Any]:
    """Button "Auto subject mask": replace the brush layer by the person mask (then correct it with the brush)."""
    image, _ = editor_to_image_and_mask(_gate().editor(editor_value))
    if image is None:
        raise gr.Error("Upload a portrait in the editor first; the automatic mask finds people in it.")
    return _editor_value(image, auto_mask(image))


@_user_errors
def refine_subject_mask(editor_value: dict | None) -> dict[str, Any]:
    """Button "Refine edges": snap the painted mask to the subject's edges."""
    image, mask = editor_to_image_and_mask(_gate().editor(editor_value))
    if image is None:
        raise gr.Error("Upload an image in the editor first.")
    if mask is None:
        raise gr.Error("No mask painted: paint roughly over the subject, then refine its edges.")
    return _editor_value(image, refine_mask(image, mask))


@_user_errors
def place_on_click(background: dict | str | None, event: gr.SelectData) -> tuple[float, float]:
    """Clicking on the background puts the subject's centre there (updates the position sliders)."""
    background = _gate().file(background)
    if background is None:
        raise gr.Error("Upload a background first, then click where the subject should stand.")
    width, height = image_size(background)
    x, y = event.index[0], event.index[1]
    return round(min(max(x / width, 0.0), 1.0), 3), round(min(max(y / height, 0.0), 1.0), 3)


def _is_painterly(method: str | None) -> bool:
    return bool(method) and get_method(method).family == "painterly"


def _quality_visibility(method: str | None) -> gr.Radio:
    """The painterly quality choice is shown only for painterly methods."""
    return gr.Radio(visible=_is_painterly(method))


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
    padded_dir = Path(tempfile.gettempdir()) / f"harmonization-example-layers-{EDITOR_CANVAS[0]}x{EDITOR_CANVAS[1]}"
    padded_dir.mkdir(parents=True, exist_ok=True)

    def layer(stem: str) -> str:
        """The example's layer padded to the editor canvas (written once per machine)."""
        out = padded_dir / f"{stem}_layer.png"
        if not out.exists():
            pad_editor_layer_file(e / f"{stem}_layer.png", EDITOR_CANVAS, out.with_suffix(".tmp.png"))
            out.with_suffix(".tmp.png").replace(out)
        return str(out)

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
    choices = _method_choices()
    with gr.Blocks(title=TITLE, delete_cache=(3600, 3600)) as demo:
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
                                       elem_id="painterly_quality", visible=_is_painterly(DEFAULT_METHOD))
                    run_btn = gr.Button("Harmonize", variant="primary", elem_id="run_btn")
            with gr.Tab("Composite + mask"):
                comp_editor = _editor("Composite: upload, then paint over the pasted object", "comp_editor")
                refine_btn2 = gr.Button("Refine mask edges", size="sm", elem_id="refine_mask_btn_composite")
                with gr.Row():
                    method2 = gr.Dropdown(choices=choices, value=DEFAULT_METHOD, label="Method for the local column",
                                          elem_id="method_composite")
                    quality2 = gr.Radio(list(PAINTERLY_QUALITY), value=DEFAULT_PAINTERLY_QUALITY,
                                        label="Painterly quality (preview: 256 px, faster)",
                                        elem_id="painterly_quality_composite", visible=_is_painterly(DEFAULT_METHOD))
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
        unavailable = _unavailable_note()
        if unavailable:
            gr.Markdown(unavailable, elem_id="unavailable_methods")

        outputs = [result_naive, result_global, result_local, slider, downloads, notes]
        portrait_inputs = [fg_editor, bg_image, scale, pos_x, pos_y, flip, method]
        # preprocess=False: uploads reach the handlers as file references, so our reader validates them and an
        # unreadable file becomes a clear message instead of a generic processing error.
        run_btn.click(run_portrait, [*portrait_inputs, quality], outputs, api_name="run_portrait",
                      concurrency_id="harmonize", preprocess=False)
        run_btn2.click(run_composite, [comp_editor, method2, quality2], outputs, api_name="run_composite",
                       concurrency_id="harmonize", preprocess=False)
        # Mask tools: (editor value) -> editor value with the mask as its brush layer.
        auto_btn.click(auto_subject_mask, fg_editor, fg_editor, api_name="auto_mask", preprocess=False,
                       concurrency_id="masks")
        refine_btn.click(refine_subject_mask, fg_editor, fg_editor, api_name="refine_mask", preprocess=False,
                         concurrency_id="masks")
        refine_btn2.click(refine_subject_mask, comp_editor, comp_editor, api_name=False, preprocess=False,
                          concurrency_id="masks")
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
                      concurrency_id="harmonize", preprocess=False)
    demo.queue(default_concurrency_limit=2, max_size=32)
    return demo


demo = build_demo()


@contextlib.contextmanager
def serve_locally() -> Iterator[str]:
    """Serve ``demo`` from this process on 127.0.0.1 at a free port (tests, ``scripts/load_test.py``).

    Yields:
        The URL, e.g. ``"http://127.0.0.1:40123/"``; the server is closed on exit.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close(verbose=False)


def main(argv: list[str] | None = None) -> None:
    """Launch the demo: ``python app.py [--host 0.0.0.0] [--port 7860] [--share]``."""
    parser = argparse.ArgumentParser(description="Image harmonization demo")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for all interfaces)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    args = parser.parse_args(argv)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True)


if __name__ == "__main__":
    main()
