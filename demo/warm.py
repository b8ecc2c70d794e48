"""The examples' cache warmed in a background thread after launch, instead of in the first user's request.

The examples are cached lazily (``cache_mode="lazy"``: the server starts at once); :func:`start` then runs each
example once in a daemon thread, in the lanes like any request, so that the first visitor who clicks one gets the
cached result. A click while its example is being computed waits for it (Gradio's per-example lock) instead of
computing it twice. Rows registered as slow (the painterly example) are warmed after every other row, so that the
photo examples are ready first. ``HARMONIZATION_WARM_EXAMPLES=0`` turns it off (tests, scripts); ``fast`` warms only
the other rows (a CPU host that would rather not spend a minute of CPU on the painterly example at start).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import gradio as gr

from harmonization.pipelines import painterly

WARM_ENV = "HARMONIZATION_WARM_EXAMPLES"
_PENDING: list[gr.Examples] = []
_SLOW: dict[int, Callable[[list[Any]], bool]] = {}  # id(examples) -> which of its rows are warmed last


def forget() -> None:
    """Drop every registered example: a page being built replaces an earlier page's (one page is served)."""
    _PENDING.clear()
    _SLOW.clear()


def later(examples: gr.Examples, slow: Callable[[list[Any]], bool] | None = None) -> gr.Examples:
    """Register ``examples`` (built with ``cache_examples=True, cache_mode="lazy"``) for :func:`start`; rows for
    which ``slow(row)`` is true are warmed after every other registered row."""
    _PENDING.append(examples)
    if slow is not None:
        _SLOW[id(examples)] = slow
    return examples


def order() -> list[tuple[gr.Examples, int]]:
    """The (examples, row index) pairs in the order :func:`warm` computes them: the slow rows last (left out when
    ``HARMONIZATION_WARM_EXAMPLES=fast``)."""
    fast, slow = [], []
    for examples in _PENDING:
        is_slow = _SLOW.get(id(examples))
        for index, row in enumerate(examples.examples):
            (slow if is_slow is not None and is_slow(row) else fast).append((examples, index))
    return fast if _mode() == "fast" else fast + slow


def _mode() -> str:
    return os.environ.get(WARM_ENV, "1").strip().lower()


def enabled() -> bool:
    return _mode() not in ("0", "false", "no", "off")


def warm(log: Callable[[str], None] = print) -> list[float]:
    """Compute every registered example that is not cached yet (in this thread); returns the seconds each took."""
    seconds = []
    for examples, index in order():
        label = examples.dataset.label
        t0 = time.perf_counter()
        try:
            examples.load_from_cache(index)  # computes and stores it unless cached (under its lock)
        except Exception as exc:  # noqa: BLE001  (a broken example must not stop the server; say so)
            log(f"Example {index} of {label!r} could not be cached: {exc}")
            continue
        seconds.append(time.perf_counter() - t0)
        log(f"Example {index} of {label!r} cached in {seconds[-1]:.1f} s.")
    return seconds


def start(log: Callable[[str], None] = print) -> threading.Thread | None:
    """Warm the registered examples in a daemon thread (``None`` when turned off with ``HARMONIZATION_WARM_EXAMPLES=0``
    or nothing is registered)."""
    if not enabled() or not _PENDING:
        return None
    thread = threading.Thread(target=warm, args=(log,), name="warm-examples", daemon=True)
    thread.start()
    return thread


def preload(log: Callable[[str], None] = print) -> threading.Thread:
    """Do the painterly methods' one-time work (VGG weights, torch's optimiser imports) in a daemon thread after
    launch, so that the first painterly request does not stall the others while it holds the interpreter for
    seconds (:func:`harmonization.pipelines.painterly.preload`). Independent of the examples' warm-up."""

    def run() -> None:
        t0 = time.perf_counter()
        try:
            found = painterly.preload()
        except Exception as exc:  # noqa: BLE001  (the first painterly request will say what is wrong)
            log(f"Painterly preload failed: {exc}")
            return
        log(f"Painterly preloaded in {time.perf_counter() - t0:.1f} s" + ("" if found else " (no VGG weights)."))

    thread = threading.Thread(target=run, name="preload-painterly", daemon=True)
    thread.start()
    return thread
