"""Lanes: a bounded pool of worker threads per kind of job, so slow work never blocks fast work.

A painterly job runs for minutes, a global/local one for a second. Gradio's concurrency limits belong to events and
the page's one run button serves every method, so the app gives each kind of job its own :class:`Lane` instead:
``workers`` jobs run at once, up to ``max_waiting`` more wait in line (first come, first served) and any beyond are
refused at once with a message (:class:`LaneFullError`) rather than queued for an unbounded time. The request
handler awaits the job (:meth:`Lane.run`, asyncio), so a waiting request holds no thread, and reports its place in
line while it waits.

A lane's threads can run torch with fewer threads and at a lower CPU priority (painterly: one thread each, nice
10), so two painterly jobs on a small machine leave cores to the fast lane. torch's thread count is per thread
with OpenMP, but a new thread starts with the count last set anywhere; :func:`torch_threads` therefore sets it for
each job and restores it afterwards.

Priority alone does not keep a fast request fast while painterly jobs run (measured: fast p95 4.0 s alone, 5.4-6.0 s
beside two painterly jobs, at nice 10 or 19): the jobs still share caches, memory bandwidth and the GIL. A lane can
therefore *yield* to other lanes (``yields_to``): its jobs call :func:`yield_point` at each step (the painterly
methods report progress every optimisation step) and pause there, holding no CPU and no GIL, while a lane they
yield to has work running or waiting. A pause lasts at most ``max_pause_s`` per step, so a slow job still advances
under a steady stream of fast requests. The same points let a server stop promptly: after :meth:`Lane.shutdown` a
running job ends at its next :func:`yield_point` (:class:`LaneClosedError`) instead of holding the process for
minutes (Python waits for worker threads at exit).
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

__all__ = ["DEFAULT_TORCH_THREADS", "Lane", "LaneClosedError", "LaneFullError", "demo_lanes", "torch_threads",
           "yield_point"]

T = TypeVar("T")

DEFAULT_TORCH_THREADS = torch.get_num_threads()
"""torch's intra-op thread count when this module was imported (the machine's cores, or ``OMP_NUM_THREADS``)."""


_WORKER = threading.local()  # .lane: the Lane whose worker thread this is (unset in other threads)


class LaneFullError(RuntimeError):
    """A lane's line of waiting jobs is full: the request is refused now instead of waiting without bound."""


class LaneClosedError(RuntimeError):
    """The lane was shut down (the server is stopping): a running job ends at its next :func:`yield_point`."""


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` torch threads in the calling thread, then restore the previous count."""
    previous = torch.get_num_threads()  # also makes torch initialise this thread's count before we change it
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


class _Ticket:
    __slots__ = ("future", "started")

    def __init__(self) -> None:
        self.future: Future[Any] = Future()
        self.started = False


class Lane:
    """``workers`` threads for one kind of job and a line of at most ``max_waiting`` jobs.

    Args:
        name: shown in messages ("painterly", "fast", ...).
        workers: jobs that run at once.
        max_waiting: jobs that may wait for a worker; one more is refused with :class:`LaneFullError`.
        threads: torch threads per job (default :data:`DEFAULT_TORCH_THREADS`).
        nice: CPU priority added to the lane's threads (Linux: per thread; 0 = unchanged). It can only be raised,
            so a lane's threads run nothing but its jobs.
        busy_hint: appended to the refusal message (e.g. how long a job takes).
        yields_to: lanes this lane's jobs give way to: at each :func:`yield_point` a job waits while any of them has
            a job running or waiting.
        max_pause_s: the longest one :func:`yield_point` waits (then the job does one more step).
    """

    def __init__(self, name: str, workers: int, max_waiting: int, *, threads: int | None = None, nice: int = 0,
                 busy_hint: str = "", yields_to: Sequence[Lane] = (), max_pause_s: float = 2.0) -> None:
        if workers < 1 or max_waiting < 0:
            raise ValueError(f"A lane needs at least one worker and a non-negative line; got {workers} workers, "
                             f"{max_waiting} waiting.")
        self.name = name
        self.workers = workers
        self.max_waiting = max_waiting
        self.threads = threads or DEFAULT_TORCH_THREADS
        self.nice = nice
        self.busy_hint = busy_hint
        self.yields_to = tuple(yields_to)
        self.max_pause_s = max_pause_s
        self.paused_s = 0.0  # total time this lane's jobs spent paused in yield_point (for tests and logs)
        self.closed = False
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when the lane has nothing running or waiting
        self._pending: deque[_Ticket] = deque()
        self._running = 0
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"lane-{name}",
                                            initializer=self._init_worker)

    def _init_worker(self) -> None:
        _WORKER.lane = self
        if self.nice > 0:
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0)
                               + self.nice)
            except (AttributeError, OSError):  # not Linux, or not permitted: run at normal priority
                pass

    @property
    def running(self) -> int:
        """Jobs running now."""
        with self._lock:
            return self._running

    @property
    def waiting(self) -> int:
        """Jobs waiting for a worker now."""
        with self._lock:
            return len(self._pending)

    def _notify_if_idle(self) -> None:  # with self._lock held
        if self._running == 0 and not self._pending:
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds until nothing runs or waits in this lane; return whether it is idle."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0 and not self._pending, timeout)

    def submit(self, fn: Callable[[], T]) -> _Ticket:
        """Queue ``fn`` (run in the caller's context: Gradio's progress reaches the page from the worker).

        Raises:
            LaneFullError: ``workers`` jobs run and ``max_waiting`` wait already.
        """
        ticket = _Ticket()
        context = contextvars.copy_context()
        with self._lock:
            if self._running + len(self._pending) >= self.workers + self.max_waiting:
                raise LaneFullError(
                    f"The {self.name} lane is full: {self._running} job(s) running and {len(self._pending)} "
                    f"waiting. Try again in a few minutes.{' ' + self.busy_hint if self.busy_hint else ''}")
            self._pending.append(ticket)

        def job() -> T:
            with self._lock:
                if ticket.future.cancelled():  # the request went away while it waited
                    raise asyncio.CancelledError
                self._pending.remove(ticket)
                self._running += 1
                ticket.started = True
            try:
                with torch_threads(self.threads):
                    return context.run(fn)
            finally:
                with self._lock:
                    self._running -= 1
                    self._notify_if_idle()

        def forward(inner: Future[T]) -> None:
            if ticket.future.cancelled():
                return
            if inner.cancelled():
                ticket.future.cancel()
            elif inner.exception() is not None:
                ticket.future.set_exception(inner.exception())  # type: ignore[arg-type]
            else:
                ticket.future.set_result(inner.result())

        def forget_if_cancelled(outer: Future[Any]) -> None:
            if outer.cancelled():
                with self._lock:
                    if not ticket.started and ticket in self._pending:
                        self._pending.remove(ticket)
                        self._notify_if_idle()

        ticket.future.add_done_callback(forget_if_cancelled)
        self._executor.submit(job).add_done_callback(forward)
        return ticket

    def cancel(self, ticket: _Ticket) -> None:
        """Drop a job that has not started (a client that went away); a running job runs to its end."""
        with self._lock:
            started = ticket.started
        if not started:
            ticket.future.cancel()

    def waiting_message(self, ticket: _Ticket) -> str:
        """Where a waiting job stands, for the page's progress bar."""
        with self._lock:
            place = next((i for i, t in enumerate(self._pending) if t is ticket), 0) + 1
            running = self._running
        return (f"Waiting for a free slot in the {self.name} lane: {running} of {self.workers} running, you are "
                f"{_ordinal(place)} in line.")

    async def run(self, fn: Callable[[], T], on_wait: Callable[[str], None] | None = None,
                  poll_s: float = 1.0) -> T:
        """Run ``fn`` in the lane and return its result (or raise its exception); ``on_wait(message)`` is called
        while it waits for a worker. A cancelled request drops its job if the job has not started.

        Raises:
            LaneFullError: the line is full.
        """
        ticket = self.submit(fn)
        future = asyncio.wrap_future(ticket.future)
        timeout = 0.05  # a free worker starts the job at once: say nothing in that case
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=timeout)
                if done:
                    return future.result()
                if on_wait is not None and not ticket.started:
                    on_wait(self.waiting_message(ticket))
                timeout = poll_s
        except asyncio.CancelledError:
            self.cancel(ticket)
            raise

    def shutdown(self) -> None:
        """Stop taking jobs and drop the waiting ones; a running job ends at its next :func:`yield_point` (with
        :class:`LaneClosedError`; the painterly methods reach one every optimisation step), others finish."""
        with self._lock:
            self.closed = True
            self._idle.notify_all()
        self._executor.shutdown(wait=False, cancel_futures=True)


def yield_point() -> float:
    """A point where a long job may pause or stop. In a worker of a lane with ``yields_to``, wait (at most the
    lane's ``max_pause_s``) while any of those lanes has a job running or waiting. Anywhere else it returns at once.

    Returns:
        The seconds paused (0.0 when nothing was waited for).

    Raises:
        LaneClosedError: this worker's lane was shut down (the server is stopping).
    """
    lane: Lane | None = getattr(_WORKER, "lane", None)
    if lane is None:
        return 0.0
    if lane.closed:
        raise LaneClosedError(f"The server is stopping: this {lane.name} job was stopped.")
    if not lane.yields_to:
        return 0.0
    start = time.monotonic()
    deadline = start + lane.max_pause_s
    while True:
        busy = [other for other in lane.yields_to if other.running or other.waiting]
        left = deadline - time.monotonic()
        if not busy or left <= 0:
            break
        busy[0].wait_idle(min(left, 0.25))  # in slices: a shutdown of this lane is noticed within 0.25 s
        if lane.closed:
            raise LaneClosedError(f"The server is stopping: this {lane.name} job was stopped.")
    paused = time.monotonic() - start
    with lane._lock:
        lane.paused_s += paused
    return paused


def _env_workers(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not re.fullmatch(r"[1-9]\d*", raw):
        raise ValueError(f"{name} must be a whole number of at least 1; got {raw!r}.")
    return int(raw)


def demo_lanes() -> tuple[Lane, Lane, Lane]:
    """The demo's lanes: ``(fast, painterly, mask tools)``.

    - fast (photo methods, a second or so each): 2 workers (``HARMONIZATION_FAST_WORKERS``), 32 waiting;
    - painterly (one to two minutes each): 2 workers (``HARMONIZATION_PAINTERLY_WORKERS``), 4 waiting, one torch
      thread and nice 10 each, so the fast lane keeps the machine's other cores; its jobs pause at every step
      while a fast or mask-tool job runs or waits (``yields_to``, at most 2 s per step);
    - mask tools (automatic mask, edge refinement): 2 workers, 16 waiting.

    Raises:
        ValueError: a worker count in the environment that is not a whole number of at least 1.
    """
    fast = Lane("fast", workers=_env_workers("HARMONIZATION_FAST_WORKERS", 2), max_waiting=32)
    masks = Lane("mask tools", workers=2, max_waiting=16)
    painterly = Lane("painterly", workers=_env_workers("HARMONIZATION_PAINTERLY_WORKERS", 2), max_waiting=4,
                     threads=1, nice=10, yields_to=(fast, masks),
                     busy_hint="A painterly job takes one to two minutes; the photo methods are not affected.")
    return fast, painterly, masks
