"""The demo's result files: PNGs named after the inputs and the method (``astronaut_on_starry-night_fmm.png``),
a zip of the three, and the columns' labels (which method made each column).

Names come from client file references (their ``orig_name`` or file name): they are only read as text, reduced to
safe characters and shortened; nothing is opened here.
"""

from __future__ import annotations

import re
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from ..pipelines.comparison import Comparison
from ..pipelines.registry import get_method
from .disk import sweep_older_than

__all__ = ["ResultFiles", "column_labels", "input_stem", "notes_markdown", "save_results"]

MAX_STEM = 40
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
#: Names Gradio gives files it makes itself (the editor uploads its canvas as ``background.png``, ``layer_0.png``
#: and ``composite.png`` once the user painted; arrays the app returns become ``image.png``): they name no input.
GENERIC_NAMES = re.compile(r"^(background|composite|image|layer(_\d+)?|blob)$", re.IGNORECASE)


def _name_of(value: Any) -> str | None:
    """The file name a client file reference names: an editor value's image, a FileData dict's ``orig_name`` or
    ``path``, or a path string; ``None`` for anything else."""
    if isinstance(value, Mapping):
        if "background" in value or "composite" in value:  # an editor value
            return _name_of(value.get("background") or value.get("composite"))
        name = value.get("orig_name") or value.get("path")
        return name if isinstance(name, str) else None
    return value if isinstance(value, str) else None


def _clean(name: str | None) -> str:
    if not name:
        return ""
    stem = PurePath(name.replace("\\", "/")).stem
    if GENERIC_NAMES.match(stem):
        return ""
    return _UNSAFE.sub("-", stem).strip("-_")[:MAX_STEM].strip("-_")


def input_stem(*values: Any) -> str:
    """A file-name stem for a run's inputs: ``"portrait_on_scene"`` for two, ``"composite"`` for one, leaving out
    inputs without a usable name (:data:`GENERIC_NAMES`; ``""`` when none has one). Only letters, digits, ``-``
    and ``_`` (each name at most :data:`MAX_STEM` long)."""
    return "_on_".join(stem for stem in (_clean(_name_of(v)) for v in values) if stem)


@dataclass(frozen=True)
class ResultFiles:
    """The written files of one comparison: the three PNGs (naive, baseline, result) and the zip of them."""

    naive: str
    baseline: str
    result: str
    archive: str

    @property
    def pngs(self) -> list[str]:
        return [self.naive, self.baseline, self.result]


def save_results(comparison: Comparison, folder: Path, ttl_s: float, stem: str = "") -> ResultFiles:
    """Write the three columns as ``<stem>_<method>.png`` (``<method>.png`` without a stem; the column's role is
    added when two columns ran the same method) and ``<stem>_results.zip`` holding them, in a new sub-folder of
    ``folder``, after removing sub-folders older than ``ttl_s`` seconds."""
    sweep_older_than(folder, ttl_s)
    folder.mkdir(parents=True, exist_ok=True)
    own = Path(tempfile.mkdtemp(dir=folder))
    prefix = f"{stem}_" if stem else ""
    columns = (("naive", comparison.naive), ("baseline", comparison.baseline), ("result", comparison.result))
    methods = [column.method for _, column in columns]
    paths = []
    for role, column in columns:
        name = column.method if methods.count(column.method) == 1 else f"{column.method}-{role}"
        path = own / f"{prefix}{name}.png"
        column.image.save(path, format="PNG", compress_level=1)  # fast; lossless either way
        paths.append(path)
    archive = own / f"{prefix}results.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for path in paths:
            zf.write(path, arcname=path.name)
    return ResultFiles(*(str(p) for p in paths), str(archive))


def column_labels(method: str) -> tuple[str, str, str, str]:
    """Labels of the page's naive, baseline and result columns and of the before/after slider after a run of
    ``method``, naming the method that made each column (e.g. ``"FMM (fmm)"``, ``"Global style transfer
    (painterly-global)"``). Raises ``ValueError`` for an unknown method."""
    result = get_method(method)
    baseline = get_method(result.counterpart or result.name)
    return ("Naive (cut and paste)", f"{baseline.label} ({baseline.name})", f"{result.label} ({result.name})",
            f"Before / after (naive vs {result.label})")


def notes_markdown(comparison: Comparison) -> str:
    """One line per column: method label and name, what produced it and (harmonized columns) how long it took.

    Lines are joined with Markdown hard breaks, not list items: Gradio's example cache stores outputs in a CSV file
    and prefixes a value that starts with ``-`` with a quote (CSV-injection guard), which the page then showed."""
    naive, baseline, result = comparison.naive, comparison.baseline, comparison.result
    lines = [f"**{naive.label}** (`{naive.method}`): {naive.source}"]
    lines += [f"**{c.label}** (`{c.method}`): {c.source}; {c.seconds:.2f} s" for c in (baseline, result)]
    return "  \n".join(lines)
