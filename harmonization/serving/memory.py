"""Memory of the server: a budget that concurrent jobs reserve from, and an allocator setting.

Every job reserves its estimated peak (:func:`estimate_job_bytes`, from the image's size read from its header)
from one :class:`MemoryBudget` before it decodes anything; a job that does not fit waits (and says so) until others
finish, so the server's memory stays under the budget (``HARMONIZATION_MEMORY_BUDGET``, default 8 GiB) however
many large images arrive at once. A job larger than the whole budget is refused with a message saying how much to
downscale.

The estimates come from ``python -m harmonization.benchmarks.memory`` (peak over the idle process, at 10-40 MP,
with :func:`return_freed_memory_promptly` in effect, as in the server).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["BUDGET_ENV", "DEFAULT_BUDGET", "SERVER_BASELINE", "MemoryBudget", "MemoryBudgetError",
           "estimate_job_bytes", "memory_budget_from_env", "parse_bytes", "return_freed_memory_promptly"]

GiB = 1 << 30
BUDGET_ENV = "HARMONIZATION_MEMORY_BUDGET"
DEFAULT_BUDGET = 8 * GiB
SERVER_BASELINE = int(1.5 * GiB)
"""What the server holds besides its jobs: Python, torch, Gradio and the loaded networks (VGG-19, PHNet, FMM, the
segmenter); jobs share the rest of the budget."""

#: (fixed bytes, bytes per pixel of the composite) of one job, by kind; measured peaks over the idle process with
#: some headroom (``python -m harmonization.benchmarks.memory``: the page's three columns at 39.9 MP take about
#: 1.9 GiB for local, network methods add a full-resolution colour map and the strength blend).
JOB_COST: dict[str, tuple[int, float]] = {
    "photo": (256 << 20, 64.0),
    "painterly": (int(1.5 * GiB), 64.0),
    "mask": (256 << 20, 48.0),
}


class MemoryBudgetError(ValueError):
    """A job needs more memory than the whole budget allows (it could never run)."""


def parse_bytes(text: str | int) -> int:
    """``"8G"``, ``"8 GiB"``, ``"512M"``, ``"1.5g"``, ``"123456"`` (bytes) -> bytes (binary units).

    Raises:
        ValueError: anything else, or a size that is not positive.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
        if not found:
            raise ValueError(f"A memory size looks like 8G, 512M or 1.5GiB; got {text!r}.")
        value = int(float(found.group(1)) * (1 << (10 * " kmgt".index(found.group(2).lower() or " "))))
    if value <= 0:
        raise ValueError(f"A memory size must be positive; got {text!r}.")
    return value


def estimate_job_bytes(pixels: int, kind: str) -> int:
    """The peak memory a job of ``kind`` (``"photo"``, ``"painterly"``, ``"mask"``) needs for images of ``pixels``
    pixels in all (see :data:`JOB_COST`).

    Raises:
        ValueError: an unknown kind.
    """
    if kind not in JOB_COST:
        raise ValueError(f"Unknown job kind {kind!r}; known: {', '.join(JOB_COST)}.")
    fixed, per_pixel = JOB_COST[kind]
    return int(fixed + per_pixel * pixels)


def _format(nbytes: int) -> str:
    return f"{nbytes / GiB:.1f} GiB"


class MemoryBudget:
    """Bytes that concurrent jobs reserve and give back; first come, first served.

    Args:
        total: the server's whole budget, in bytes.
        baseline: what the server holds besides its jobs (not available to them).
        poll_s: how often a waiting job reports that it is still waiting.
    """

    def __init__(self, total: int, baseline: int = SERVER_BASELINE, poll_s: float = 1.0) -> None:
        if total <= baseline:
            raise ValueError(f"The memory budget ({_format(total)}) must exceed what the server itself holds "
                             f"({_format(baseline)}); set {BUDGET_ENV} higher (e.g. 8G).")
        self.total = total
        self.available_to_jobs = total - baseline
        self.poll_s = poll_s
        self._in_use = 0
        self._queue: deque[object] = deque()
        self._cond = threading.Condition()

    @property
    def in_use(self) -> int:
        """Bytes reserved by running jobs now."""
        with self._cond:
            return self._in_use

    @property
    def waiting(self) -> int:
        """Jobs waiting for memory now."""
        with self._cond:
            return len(self._queue)

    @contextmanager
    def reserve(self, nbytes: int, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold ``nbytes`` for the duration of the block, waiting (first come, first served) until they fit.

        Args:
            nbytes: the job's estimated peak (:func:`estimate_job_bytes`).
            on_wait: called with a message when the job has to wait, and again every ``poll_s`` while it waits.

        Raises:
            MemoryBudgetError: ``nbytes`` exceeds everything jobs may use (the image must be smaller).
        """
        if nbytes > self.available_to_jobs:
            raise MemoryBudgetError(
                f"This image needs about {_format(nbytes)} of memory to process; this server lets one job use at "
                f"most {_format(self.available_to_jobs)}. Downscale the image (by about "
                f"{(nbytes / self.available_to_jobs) ** 0.5:.1f}x per side) and try again.")
        ticket = object()
        with self._cond:
            self._queue.append(ticket)
            while self._queue[0] is not ticket or self._in_use + nbytes > self.available_to_jobs:
                if on_wait is not None:
                    ahead = self._queue.index(ticket)
                    message = (f"Waiting for memory: {_format(self._in_use)} of {_format(self.available_to_jobs)} "
                               f"in use by other images" + (f", {ahead} ahead in line" if ahead else "")
                               + f"; this one needs {_format(nbytes)}.")
                    self._cond.release()
                    try:
                        on_wait(message)
                    finally:
                        self._cond.acquire()
                self._cond.wait(self.poll_s)
            self._queue.popleft()
            self._in_use += nbytes
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._in_use -= nbytes
                self._cond.notify_all()


def memory_budget_from_env() -> MemoryBudget:
    """The budget from ``HARMONIZATION_MEMORY_BUDGET`` (e.g. ``8G``; default 8 GiB).

    Raises:
        ValueError: an unreadable value, or one not above the server's own :data:`SERVER_BASELINE`.
    """
    raw = os.environ.get(BUDGET_ENV, "").strip()
    try:
        total = parse_bytes(raw) if raw else DEFAULT_BUDGET
    except ValueError as exc:
        raise ValueError(f"{BUDGET_ENV}={raw!r}: {exc}") from None
    return MemoryBudget(total)


_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


def return_freed_memory_promptly() -> bool:
    """Make glibc's allocator give large freed blocks back to the system at once (``mallopt(M_MMAP_THRESHOLD, 1
    MiB)``, which also stops the threshold from growing).

    Without it, the bands of a large image (tens of MB each, just under glibc's adaptive threshold) come from the
    heap, which fragments and keeps gigabytes resident after they are freed: a 40-megapixel request then peaks at
    3.8 GiB instead of 2 GiB. Returns False where the C library is not glibc (nothing changed).
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False
