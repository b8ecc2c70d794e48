"""The demo's jobs, without gradio: check the request's file references, reserve memory, read, run, write results.

Each job first passes every file reference through an :class:`~harmonization.serving.UploadGate` (nothing is opened
before), reads image sizes from the headers, reserves its estimated peak from the
:class:`~harmonization.serving.MemoryBudget` (waiting, with a progress message, while other images hold it), and
only then decodes. Errors a user can fix are ``ValueError`` with a message for the page; ``app.py`` runs the jobs
in its lanes and shows the messages and the progress.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..api import auto_mask, compose, harmonize, refine_mask
from ..image_io import (
    MAX_PIXELS,
    PILImage,
    editor_display_copy,
    editor_to_image_and_mask,
    image_size,
    load_image,
    load_mask,
    load_rgb8,
    mask_to_editor_layer,
    strokes_box,
)
from ..image_io.editor_frame import EditorFrame, frame_of, stroked_since
from ..pipelines.comparison import ColumnResult, Comparison, compare, compare_all
from ..pipelines.registry import available_methods, get_method, list_methods
from .disk import sweep_older_than
from .lanes import yield_point
from .memory import MemoryBudget, estimate_job_bytes
from .uploads import UploadGate

__all__ = ["DEFAULT_PAINTERLY_QUALITY", "PAINTERLY_QUALITY", "JobContext", "center_from_feet", "harmonize_files",
           "is_painterly", "mask_tool", "mask_tool_framed", "mask_tool_full", "method_choices", "painterly_methods",
           "painterly_options", "run_composite", "run_portrait", "save_columns", "save_comparison", "save_image",
           "unavailable_note"]

Progress = Callable[[float, str], None]

#: Local painterly fusion takes about 14 s of one CPU thread at 512 px, 5 s for "preview" (256 px, 60 L-BFGS steps)
#: (standard: 512 px, the engine's default steps: 60 local over both passes, 100 global).
PAINTERLY_QUALITY: dict[str, dict[str, Any]] = {"preview": {"size": 256, "steps": 60},
                                                "standard": {"size": 512, "steps": None}}
DEFAULT_PAINTERLY_QUALITY = "standard"


@dataclass(frozen=True)
class JobContext:
    """What every job of one request needs.

    Attributes:
        gate: which files the request may open.
        memory: the server's memory budget.
        progress: ``progress(fraction, message)`` for the page (or ``None``).
    """

    gate: UploadGate
    memory: MemoryBudget
    progress: Progress | None = None

    def wait_message(self, message: str) -> None:
        if self.progress is not None:
            self.progress(0.0, message)

    def reporter(self) -> Progress:
        """The progress callback a job's computation gets: each report is also a :func:`~.lanes.yield_point`, where
        a job in a lane that yields (painterly, which reports every optimisation step) pauses while the fast and
        mask-tool lanes have work."""
        progress = self.progress

        def report(fraction: float, message: str) -> None:
            yield_point()
            if progress is not None:
                progress(fraction, message)

        return report

    @contextmanager
    def memory_for(self, pixels: int, kind: str) -> Iterator[None]:
        """Reserve the job's estimated peak (see :func:`~harmonization.serving.estimate_job_bytes`)."""
        with self.memory.reserve(estimate_job_bytes(pixels, kind), on_wait=self.wait_message):
            yield


def is_painterly(method: str | None) -> bool:
    """Whether ``method`` is a painterly method (minutes per image). Raises ``ValueError`` for unknown methods."""
    return bool(method) and get_method(method).family == "painterly"  # type: ignore[arg-type]


def painterly_options(quality: str | None) -> dict[str, Any]:
    """The painterly options of a quality name (``None``: the default quality).

    Raises:
        ValueError: an unknown quality (the page offers only known ones; an API client may send anything).
    """
    name = DEFAULT_PAINTERLY_QUALITY if quality is None else quality
    if not isinstance(name, str) or name not in PAINTERLY_QUALITY:
        raise ValueError(f"Unknown painterly quality {quality!r}; choose one of "
                         f"{', '.join(map(repr, PAINTERLY_QUALITY))} (preview: 256 px, faster).")
    return dict(PAINTERLY_QUALITY[name])


def painterly_methods() -> str:
    """The painterly methods' names, quoted, for messages."""
    return ", ".join(map(repr, list_methods("painterly")))


def method_choices() -> list[tuple[str, str]]:
    """(label, name) pairs for the method dropdown: every method that can run here, except the pure baselines."""
    names = [n for n in available_methods() if n not in ("global", "painterly-global")]
    return [(f"{get_method(n).label} ({n})", n) for n in names]


def unavailable_note() -> str:
    """One Markdown line per registered method that cannot run here, saying why (empty when all can)."""
    lines = []
    for name in list_methods():
        method = get_method(name)
        reason = method.unavailable_reason() if method.unavailable_reason else None
        if reason:
            lines.append(f"- `{name}` is not offered here: {reason}")
    return "\n".join(lines)


def _pixels(path: str) -> int:
    """Width x height of an image file, from its header; over the size limit, the library's own message."""
    width, height = image_size(path)
    if width * height > MAX_PIXELS:
        load_rgb8(path)  # refuses from the header with the "too large, downscale" message
    return width * height


def _finite(value: Any, name: str) -> float:
    """A slider's value as a float (an API client may send anything: strings, NaN, booleans)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"The {name} slider's value must be a finite number; got {value!r}.")
    return float(value)


def _editor_image(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else value["background"] or value["composite"]


def _kind(method: str | None, painterly: bool = False) -> str:
    return "painterly" if (painterly if method is None else is_painterly(method)) else "photo"


def _compare(composite: Any, mask: Any, method: str | None, options: Mapping[str, Any], progress: Progress | None,
             painterly: bool = False) -> Any:
    """The three columns of ``method``, or with ``method=None`` every available method (painterly ones only with
    ``painterly``: "Compare all methods")."""
    image = load_image(composite)
    soft = load_mask(mask, size=(image.shape[-1], image.shape[-2]))
    if method is None:
        return compare_all(image, soft, painterly=painterly, progress=progress, options=options)
    return compare(image, soft, method, progress=progress, options=options)


def _full_file(ctx: JobContext, full_image: Any) -> str | None:
    """The full-resolution file the editor shows a display copy of (see :func:`mask_tool_full`), gate-checked."""
    return ctx.gate.file(full_image)


def center_from_feet(x: float, y: float, scale: float) -> tuple[float, float]:
    """The ``center`` for :func:`~harmonization.compose` that puts the bottom centre of the subject (its feet) at
    ``(x, y)`` (relative to the background): the subject is ``scale`` of the background's height tall, so its centre
    is half of that above its feet."""
    return x, y - scale / 2


def run_portrait(ctx: JobContext, fg_value: Any, background: Any, scale: float, pos_x: float, pos_y: float,
                 flip: bool, method: str | None, options: Mapping[str, Any], full_image: Any = None,
                 painterly: bool = False) -> Any:
    """Tab "Portrait + background": compose the painted subject onto the background, then the three columns
    (a :class:`Comparison`); with ``method=None`` every available method instead (a list of
    :class:`ColumnResult`, painterly methods only with ``painterly``).

    ``(pos_x, pos_y)``: where the subject stands, relative to the background: the bottom centre of its mask's box
    (its feet; see :func:`center_from_feet`). ``full_image``: the full-resolution portrait when the editor shows a
    display copy (:func:`mask_tool_full`); the subject is then cut from it with the painted mask scaled up."""
    scale, pos_x, pos_y = (_finite(v, name) for v, name in ((scale, "scale"), (pos_x, "x"), (pos_y, "y")))
    if not isinstance(flip, bool):
        raise ValueError(f"flip must be true or false; got {flip!r}.")
    fg_value, background = ctx.gate.editor(fg_value), ctx.gate.file(background)
    full = _full_file(ctx, full_image)
    portrait_file = _editor_image(fg_value)
    if portrait_file is None:
        raise ValueError("Upload a portrait (or any photo) in the left editor first.")
    if background is None:
        raise ValueError("Upload a background image (photo or painting) on the right.")
    shown = _pixels(portrait_file)
    with ctx.memory_for(shown + (_pixels(full) if full else 0) + _pixels(background), _kind(method, painterly)):
        portrait, portrait_mask = editor_to_image_and_mask(fg_value, full)
        if portrait_mask is None:
            raise ValueError("No mask painted: paint over the subject in the portrait with the brush (or press "
                             "'Auto subject mask'), then run again.")
        composite, mask = compose(portrait, portrait_mask, load_rgb8(background), scale=scale,
                                  center=center_from_feet(pos_x, pos_y, scale), flip=flip)
        del portrait, portrait_mask
        return _compare(composite, mask, method, options, ctx.reporter(), painterly)


def run_composite(ctx: JobContext, editor_value: Any, method: str | None, options: Mapping[str, Any],
                  full_image: Any = None, painterly: bool = False) -> Any:
    """Tab "Composite + mask": the three columns for the painted region of a ready-made composite (``method=None``,
    ``full_image``, ``painterly``: as in :func:`run_portrait`)."""
    editor_value = ctx.gate.editor(editor_value)
    full = _full_file(ctx, full_image)
    image_file = _editor_image(editor_value)
    if image_file is None:
        raise ValueError("Upload a composite image first.")
    with ctx.memory_for(_pixels(image_file) + (_pixels(full) if full else 0), _kind(method, painterly)):
        composite, mask = editor_to_image_and_mask(editor_value, full)
        if mask is None:
            raise ValueError("No mask painted: paint over the pasted object with the brush, then run again.")
        return _compare(composite, mask, method, options, ctx.reporter(), painterly)


def harmonize_files(ctx: JobContext, composite: Any, mask: Any, method: str, options: Mapping[str, Any]
                    ) -> PILImage:
    """The API's (composite, mask, method) -> harmonized image."""
    composite, mask = ctx.gate.file(composite), ctx.gate.file(mask)
    if composite is None or mask is None:
        raise ValueError("Both a composite image and a mask image are required.")
    with ctx.memory_for(_pixels(composite), _kind(method)):
        return harmonize(composite, mask, method=method, progress=ctx.reporter(), **options)


def mask_tool(ctx: JobContext, editor_value: Any, tool: str, *, canvas: tuple[int, int],
              color: tuple[int, int, int]) -> dict[str, Any]:
    """:func:`mask_tool_full` without a full-resolution file: the editor value only."""
    return mask_tool_full(ctx, editor_value, tool, canvas=canvas, color=color)[0]


def mask_tool_full(ctx: JobContext, editor_value: Any, tool: str, *, canvas: tuple[int, int],
                   color: tuple[int, int, int], full_image: Any = None, strokes: str = "scribbles",
                   box: Any = None) -> tuple[dict[str, Any], str | None]:
    """:func:`mask_tool_framed` as the first call since the upload: ``(editor value, full file)``."""
    value, full, _ = mask_tool_framed(ctx, editor_value, tool, canvas=canvas, color=color, full_image=full_image,
                                      strokes=strokes, box=box)
    return value, full


def mask_tool_framed(ctx: JobContext, editor_value: Any, tool: str, *, canvas: tuple[int, int],
                     color: tuple[int, int, int], full_image: Any = None, strokes: str = "scribbles",
                     box: Any = None, frame: Any = None) -> tuple[dict[str, Any], str | None, EditorFrame]:
    """A mask tool on the editor's image; returns the editor value with the mask as its brush layer (at the size of
    the image the editor shows), the full-resolution file the editor then shows a display copy of, and the
    :class:`~harmonization.image_io.editor_frame.EditorFrame` to hand to the next call.

    ``canvas``: the largest image the editor shows as it is (a larger one comes back as a display copy).

    Args:
        tool: ``"auto"`` (the people model), ``"object"`` (any object, from the painted strokes: ``strokes=
            "scribbles"`` over the object seed it, ``strokes="box"``: a rough rectangle drawn around it is its box;
            or an explicit ``box``) or ``"refine"`` (snap the painted mask to the edges).
        full_image: the full-resolution file the editor shows a display copy of (what an earlier call returned),
            or ``None``; ignored when the editor now shows another picture.
        box: ``(x0, y0, x1, y1)`` in the full image's pixels (``"object"`` only), or ``None``.
        frame: what the last call returned for this editor since its upload (``None``: none since).

    Returns:
        ``(editor value, full file, frame)``. An image larger than the canvas is shown as a display copy (long side
        :data:`~harmonization.image_io.DISPLAY_LONG_SIDE`) and the full file is returned, for the next tool call
        and the run; otherwise the full file is ``None``. The mask is computed at full resolution either way. But
        while no brush stroke was committed since the editor got its picture (``stroked_since`` in
        :mod:`harmonization.image_io.editor_frame`), the picture keeps the size the editor shows: an upload larger
        than the canvas comes back as it is (Gradio's editor would draw the mask in the upload's frame, off the
        subject).
    """
    if tool not in ("auto", "object", "refine"):
        raise ValueError(f"Unknown mask tool {tool!r}; expected 'auto', 'object' or 'refine'.")
    if strokes not in ("scribbles", "box"):
        raise ValueError(f"strokes must be 'scribbles' (strokes over the object) or 'box' (a rectangle drawn "
                         f"around it); got {strokes!r}.")
    editor_value = ctx.gate.editor(editor_value)
    full = _full_file(ctx, full_image)
    image_file = _editor_image(editor_value)
    if image_file is None:
        raise ValueError("Upload a portrait in the editor first; the automatic mask finds people in it."
                         if tool == "auto" else "Upload an image in the editor first.")
    with ctx.memory_for(_pixels(image_file) + (_pixels(full) if full else 0), "mask"):
        image, painted = editor_to_image_and_mask(editor_value, full)
        source = full if full is not None and image_size(full) == (image.shape[1], image.shape[0]) else image_file
        progress = ctx.progress
        if tool == "auto":
            mask = auto_mask(image, progress=progress)
        elif tool == "object":
            if box is not None:
                mask = auto_mask(image, _box(box), scribbles=painted, progress=progress)
            elif painted is None:
                raise ValueError("No strokes painted: scribble over the object (or draw a rough box around it, with "
                                 "'box' chosen) with the brush, then press the object mask button again.")
            elif strokes == "box":
                mask = auto_mask(image, strokes_box(painted), progress=progress)
            else:
                mask = auto_mask(image, scribbles=painted, progress=progress)
        elif painted is None:
            raise ValueError("No mask painted: paint roughly over the subject, then refine its edges.")
        else:
            mask = refine_mask(image, painted)
        received = image_size(image_file)
        from_full = received != (image.shape[1], image.shape[0])  # the editor shows a display copy of ``full``
        if from_full or stroked_since(frame, received, painted):
            shown = editor_display_copy(image, canvas)
        else:
            shown = image  # no stroke since the editor got this upload: keep its frame (see editor_frame)
        # At the size of the image the editor shows (not padded to a canvas: see demo.config.EDITOR_CANVAS_SIZE).
        layer = mask_to_editor_layer(load_mask(mask, size=(image.shape[1], image.shape[0])), color,
                                     size=(shown.shape[1], shown.shape[0]))
        # The uploaded file itself when the editor shows it as it is (its name then names the results, and nothing
        # is encoded again); else the display copy.
        picture: Any = image_file if shown is image and not from_full else shown
        value = {"background": picture, "layers": [layer], "composite": picture}
        sent = frame_of((shown.shape[1], shown.shape[0]), layer[..., 3])
        return value, (source if shown is not image else None), sent


def _box(value: Any) -> tuple[float, float, float, float]:
    """A client's box: four finite numbers (a list, a tuple, or text "x0, y0, x1, y1")."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    try:
        numbers = tuple(float(v) for v in items if not isinstance(v, bool))
    except (TypeError, ValueError):
        numbers = ()
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"A box is four numbers x0, y0, x1, y1 in the photo's pixels (e.g. '40, 30, 300, 420'); "
                         f"got {value!r}.")
    return numbers  # type: ignore[return-value]


def _result_folder(folder: Path, ttl_s: float) -> Path:
    sweep_older_than(folder, ttl_s)
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=folder))


def save_comparison(comparison: Comparison, folder: Path, ttl_s: float) -> list[str]:
    """Write the three results as PNG files (naive, global, local) in a new sub-folder of ``folder``, after
    removing sub-folders older than ``ttl_s`` seconds; returns the three paths."""
    own = _result_folder(folder, ttl_s)
    paths = []
    for column, stem in ((comparison.naive, "naive"), (comparison.baseline, "global"), (comparison.result, "local")):
        path = own / f"{stem}-{column.method}.png"
        column.image.save(path, format="PNG", compress_level=1)  # fast; lossless either way
        paths.append(str(path))
    return paths


def save_columns(columns: list[ColumnResult], folder: Path, ttl_s: float) -> list[tuple[str, str]]:
    """Write "Compare all methods" results as PNG files (as :func:`save_comparison`); returns ``(path, caption)``
    pairs for a gallery, the caption being the method's label, name and time."""
    own = _result_folder(folder, ttl_s)
    items = []
    for i, column in enumerate(columns):
        path = own / f"{i:02d}-{column.method}.png"
        column.image.save(path, format="PNG", compress_level=1)
        timing = "" if column.method == "naive" else f", {column.seconds:.2f} s"
        items.append((str(path), f"{column.label} ({column.method}){timing}"))
    return items


def save_image(image: PILImage, folder: Path, ttl_s: float, stem: str = "harmonized") -> str:
    """Write one result as a PNG file in a new sub-folder of ``folder`` (as :func:`save_comparison`).

    The server hands Gradio this file rather than the image: the PNG is then encoded inside the job's lane and
    memory reservation, and Gradio copies a file into its cache atomically (it writes encoded images in place, so
    a client could fetch a half-written copy of an identical result another request is writing)."""
    path = _result_folder(folder, ttl_s) / f"{stem}.png"
    image.save(path, format="PNG", compress_level=1)
    return str(path)
