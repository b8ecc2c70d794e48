"""Run the app's three columns (naive | global | local) on one composite, with timings and provenance."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..image_io import PILImage, tensor_to_pil
from .registry import get_method
from .run import harmonize_tensor, validate_inputs

__all__ = ["ColumnResult", "Comparison", "compare"]


@dataclass(frozen=True)
class ColumnResult:
    """One result column: the image, the method that made it, what produced it and how long it took."""

    image: PILImage
    method: str
    label: str
    source: str
    seconds: float

    @property
    def note(self) -> str:
        """One line for the UI: method, source and time."""
        return f"**{self.label}** (`{self.method}`), {self.source}, {self.seconds:.2f} s"


@dataclass(frozen=True)
class Comparison:
    """The naive composite and the two harmonized columns."""

    naive: ColumnResult
    baseline: ColumnResult
    result: ColumnResult


def compare(
    composite: torch.Tensor,
    mask: torch.Tensor,
    method: str = "local",
    *,
    progress: Callable[[float, str], None] | None = None,
    options: Mapping[str, Any] | None = None,
) -> Comparison:
    """Run ``method`` and its counterpart (e.g. ``"global"``) on a composite.

    Args:
        composite: ``(1, 3, H, W)`` float RGB in [0, 1].
        mask: ``(1, 1, H, W)`` in [0, 1].
        method: the method of the last column; the middle column runs ``get_method(method).counterpart``.
        progress: ``progress(fraction, message)`` across both runs.
        options: method options (e.g. ``{"size": 256}`` for painterly); each column gets the ones its method
            accepts (see ``Method.options``).

    Returns:
        A :class:`Comparison` with full-resolution PIL images.
    """
    validate_inputs(composite, mask)
    spec = get_method(method)
    baseline = get_method(spec.counterpart)
    naive = ColumnResult(tensor_to_pil(composite), "naive", "Cut and paste", "no harmonization", 0.0)

    def run(which: str, start: float, span: float) -> ColumnResult:
        m = get_method(which)

        def sub_progress(fraction: float, message: str) -> None:
            if progress is not None:
                progress(start + span * fraction, f"{m.label}: {message}")

        if progress is not None:
            progress(start, f"{m.label}...")
        t0 = time.perf_counter()
        accepted = {k: v for k, v in (options or {}).items() if k in m.options}
        out = harmonize_tensor(composite, mask, which, progress=sub_progress, **accepted)
        seconds = time.perf_counter() - t0
        return ColumnResult(tensor_to_pil(out), which, m.label, m.describe_source(), seconds)

    baseline_result = run(baseline.name, 0.0, 0.5)
    result = run(spec.name, 0.5, 0.5)
    if progress is not None:
        progress(1.0, "done")
    return Comparison(naive=naive, baseline=baseline_result, result=result)
