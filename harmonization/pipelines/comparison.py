"""Run the app's three columns (naive | global | local), or every available method ("Compare all methods"), on one
composite, with timings and provenance."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..image_io import PILImage, tensor_to_pil
from .registry import available_methods, check_strength, get_method
from .run import _check_feather, harmonize_tensor, validate_inputs

__all__ = ["ColumnResult", "Comparison", "compare", "compare_all", "options_for"]


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
        options: method options (e.g. ``{"size": 256}`` for painterly, ``{"feather_radius": 4}`` for photo
            methods); each column gets the ones its method accepts (:func:`options_for`).

    Returns:
        A :class:`Comparison` with full-resolution PIL images.
    """
    validate_inputs(composite, mask)
    spec = get_method(method)
    baseline = _timed(composite, mask, spec.counterpart, options, progress, 0.0, 0.5)
    result = _timed(composite, mask, spec.name, options, progress, 0.5, 0.5)
    if progress is not None:
        progress(1.0, "done")
    return Comparison(naive=_naive(composite), baseline=baseline, result=result)


def options_for(method: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The part of ``options`` that ``method`` takes: its own options (see ``Method.options``) and, for photo
    methods, ``feather_radius`` (the blend's, see :func:`~harmonization.pipelines.run.harmonize_tensor`).

    Lets one set of "Advanced" values (strength, feather radius, network resolution, painterly style strength and
    size) go to every column: ``resolution`` reaches only the networks, ``style_strength`` only painterly methods.
    """
    spec = get_method(method)
    accepted = set(spec.options) | ({"feather_radius"} if spec.family == "photo" else set())
    return {k: v for k, v in (options or {}).items() if k in accepted}


def _naive(composite: torch.Tensor) -> ColumnResult:
    return ColumnResult(tensor_to_pil(composite), "naive", "Cut and paste", "no harmonization", 0.0)


def _timed(composite: torch.Tensor, mask: torch.Tensor, which: str, options: Mapping[str, Any] | None,
           progress: Callable[[float, str], None] | None, start: float, span: float) -> ColumnResult:
    """Run one method with the options it takes; its progress is mapped to ``[start, start + span]``."""
    m = get_method(which)

    def sub_progress(fraction: float, message: str) -> None:
        if progress is not None:
            progress(start + span * fraction, f"{m.label}: {message}")

    if progress is not None:
        progress(start, f"{m.label}...")
    t0 = time.perf_counter()
    out = harmonize_tensor(composite, mask, which, progress=sub_progress, **options_for(which, options))
    seconds = time.perf_counter() - t0
    return ColumnResult(tensor_to_pil(out), which, m.label, m.describe_source(), seconds)


def compare_all(
    composite: torch.Tensor,
    mask: torch.Tensor,
    *,
    methods: Sequence[str] | None = None,
    painterly: bool = False,
    progress: Callable[[float, str], None] | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[ColumnResult]:
    """"Compare all methods": the naive composite and every method that can run here, each labelled and timed.

    Args:
        composite: ``(1, 3, H, W)`` float RGB in [0, 1].
        mask: ``(1, 1, H, W)`` in [0, 1].
        methods: the methods to run, in this order (default: every available one, see ``painterly``).
        painterly: with the default ``methods``, also run the painterly methods (a minute or more each on a CPU).
        progress: ``progress(fraction, message)`` across all runs (one equal share per method).
        options: shared options; each method gets those it takes (:func:`options_for`).

    Returns:
        ``[naive, *one ColumnResult per method]``, full resolution; by default the methods that cannot run here (no
        weights, no VGG) are left out (``available_methods``).

    Raises:
        ValueError: bad inputs, an unknown method or a bad option value (all checked before the first method runs).
        MethodUnavailableError: a method named in ``methods`` cannot run here.
    """
    validate_inputs(composite, mask)
    names = list(methods) if methods is not None else [
        n for n in available_methods() if painterly or get_method(n).family != "painterly"]
    for name in names:
        get_method(name).check_available()
    for name in names:  # refuse a bad value before minutes of work, not after the first columns
        accepted = options_for(name, options)
        get_method(name).check_options({k: v for k, v in accepted.items() if k != "feather_radius"})
        if accepted.get("strength") is not None:
            check_strength(accepted["strength"])
        if "feather_radius" in accepted:
            _check_feather(accepted["feather_radius"])
    results = [_naive(composite)]
    for i, name in enumerate(names):
        results.append(_timed(composite, mask, name, options, progress, i / len(names), 1.0 / len(names)))
    if progress is not None:
        progress(1.0, "done")
    return results

