"""``serving.Lane``: bounded workers per kind of job, a bounded line, and slow lanes that never hold up fast ones.

Jobs here block on events the test sets, so every check is about order and counts, never about time.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable, Iterator

import pytest
import torch

from harmonization.serving import (
    DEFAULT_TORCH_THREADS,
    Lane,
    LaneClosedError,
    LaneFullError,
    MemoryBudget,
    UploadGate,
    demo_lanes,
    torch_threads,
    yield_point,
)
from harmonization.serving.jobs import JobContext

WAIT_S = 60.0  # only a safety net against a hang; events normally fire at once


class _Blocker:
    """A job that reports when it started and then waits until released."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        assert self.release.wait(WAIT_S)
        return "released"


@pytest.fixture
def lanes() -> Iterator[list[Lane]]:
    made: list[Lane] = []
    yield made
    for lane in made:
        lane.shutdown()


def _lane(lanes: list[Lane], *args: object, **kwargs: object) -> Lane:
    lane = Lane(*args, **kwargs)  # type: ignore[arg-type]
    lanes.append(lane)
    return lane


def _until(condition: Callable[[], bool]) -> None:
    event = threading.Event()
    for _ in range(int(WAIT_S * 100)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not reached")


def test_results_and_errors_come_back(lanes: list[Lane]) -> None:
    lane = _lane(lanes, "fast", workers=2, max_waiting=4)

    def fails() -> None:
        raise ValueError("bad input")

    async def main() -> None:
        assert await lane.run(lambda: 41 + 1) == 42
        with pytest.raises(ValueError, match="bad input"):
            await lane.run(fails)

    asyncio.run(main())
    assert lane.running == 0 and lane.waiting == 0


def test_at_most_workers_run_and_the_line_is_bounded(lanes: list[Lane]) -> None:
    lane = _lane(lanes, "painterly", workers=2, max_waiting=1, busy_hint="Jobs take minutes.")
    blockers = [_Blocker() for _ in range(3)]
    tickets = [lane.submit(b) for b in blockers]
    assert blockers[0].started.wait(WAIT_S) and blockers[1].started.wait(WAIT_S)
    _until(lambda: lane.running == 2)
    assert lane.waiting == 1 and not blockers[2].started.is_set()
    assert "1st in line" in lane.waiting_message(tickets[2]) and "2 of 2 running" in lane.waiting_message(tickets[2])
    with pytest.raises(LaneFullError) as info:
        lane.submit(lambda: None)
    assert "painterly lane is full" in str(info.value) and "Jobs take minutes." in str(info.value)
    blockers[0].release.set()
    assert blockers[2].started.wait(WAIT_S)  # the waiting job takes the freed worker
    for b in blockers:
        b.release.set()
    assert [t.future.result(WAIT_S) for t in tickets] == ["released"] * 3
    _until(lambda: lane.running == 0)


def test_a_full_slow_lane_does_not_hold_up_a_fast_lane(lanes: list[Lane]) -> None:
    slow = _lane(lanes, "painterly", workers=2, max_waiting=4, threads=1)
    fast = _lane(lanes, "fast", workers=2, max_waiting=32)
    blockers = [_Blocker() for _ in range(6)]  # two running, four waiting: the slow lane is full
    for b in blockers:
        slow.submit(b)
    _until(lambda: slow.running == 2 and slow.waiting == 4)

    async def twenty_fast_jobs() -> list[int]:
        return list(await asyncio.gather(*(fast.run(lambda i=i: i) for i in range(20))))

    assert asyncio.run(twenty_fast_jobs()) == list(range(20))
    assert slow.running == 2 and not any(b.release.is_set() for b in blockers)  # still all held up
    for b in blockers:
        b.release.set()


def test_waiting_jobs_hear_their_place_in_line(lanes: list[Lane]) -> None:
    lane = _lane(lanes, "painterly", workers=1, max_waiting=2)
    blocker = _Blocker()
    lane.submit(blocker)
    assert blocker.started.wait(WAIT_S)
    messages: list[str] = []

    async def main() -> str:
        task = asyncio.ensure_future(lane.run(lambda: "done", on_wait=messages.append, poll_s=0.01))
        while not messages:
            await asyncio.sleep(0.01)
        blocker.release.set()
        return await task

    assert asyncio.run(main()) == "done"
    assert messages[0] == "Waiting for a free slot in the painterly lane: 1 of 1 running, you are 1st in line."


def test_a_cancelled_request_gives_up_its_place(lanes: list[Lane]) -> None:
    lane = _lane(lanes, "painterly", workers=1, max_waiting=1)
    blocker = _Blocker()
    lane.submit(blocker)
    assert blocker.started.wait(WAIT_S)
    ran: list[str] = []

    async def main() -> None:
        task = asyncio.ensure_future(lane.run(lambda: ran.append("should not run")))
        await asyncio.sleep(0.05)
        assert lane.waiting == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert lane.waiting == 0
    assert lane.submit(lambda: "next").future is not None  # the line has room again
    blocker.release.set()
    _until(lambda: lane.running == 0 and lane.waiting == 0)
    assert ran == []


def test_jobs_see_the_callers_context(lanes: list[Lane]) -> None:
    """Gradio finds the request (for progress messages) in context variables: they reach the worker thread."""
    request: contextvars.ContextVar[str] = contextvars.ContextVar("request")
    lane = _lane(lanes, "fast", workers=1, max_waiting=1)

    async def main() -> str:
        request.set("event-123")
        return await lane.run(lambda: request.get("missing"))

    assert asyncio.run(main()) == "event-123"


def test_torch_threads_are_per_job_and_restored(lanes: list[Lane]) -> None:
    slow = _lane(lanes, "painterly", workers=1, max_waiting=1, threads=1)
    fast = _lane(lanes, "fast", workers=1, max_waiting=1)
    inside = _Blocker()
    seen: dict[str, int] = {}

    def painterly_job() -> None:
        seen["painterly"] = torch.get_num_threads()
        inside()

    ticket = slow.submit(painterly_job)
    assert inside.started.wait(WAIT_S)
    seen["fast, meanwhile"] = fast.submit(torch.get_num_threads).future.result(WAIT_S)
    inside.release.set()
    ticket.future.result(WAIT_S)
    seen["fast, after"] = fast.submit(torch.get_num_threads).future.result(WAIT_S)
    assert seen == {"painterly": 1, "fast, meanwhile": DEFAULT_TORCH_THREADS, "fast, after": DEFAULT_TORCH_THREADS}
    assert torch.get_num_threads() == DEFAULT_TORCH_THREADS
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == DEFAULT_TORCH_THREADS


@pytest.mark.skipif(not hasattr(os, "getpriority") or not os.path.exists("/proc/self/task"),
                    reason="per-thread priorities are a Linux feature")
def test_a_nice_lane_runs_at_lower_cpu_priority(lanes: list[Lane]) -> None:
    lane = _lane(lanes, "painterly", workers=1, max_waiting=1, nice=5)
    own = os.getpriority(os.PRIO_PROCESS, 0)
    job_priority = lane.submit(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())).future.result(
        WAIT_S)
    assert job_priority == min(19, own + 5)
    assert os.getpriority(os.PRIO_PROCESS, 0) == own  # the process (and this thread) unchanged


def test_bad_lane_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        Lane("x", workers=0, max_waiting=1)


class _Stepper:
    """A long job (like painterly's optimiser) that counts its steps and yields at each one, until stopped."""

    def __init__(self, step: Callable[[], object] = yield_point) -> None:
        self.steps = 0
        self.stop = threading.Event()
        self.step = step

    def __call__(self) -> int:
        while not self.stop.is_set():
            self.steps += 1
            self.step()
        return self.steps


def test_a_yielding_lane_pauses_while_the_fast_lane_works(lanes: list[Lane]) -> None:
    fast = _lane(lanes, "fast", workers=1, max_waiting=4)
    slow = _lane(lanes, "painterly", workers=1, max_waiting=1, yields_to=(fast,), max_pause_s=WAIT_S)
    stepper = _Stepper()
    done = slow.submit(stepper).future
    _until(lambda: stepper.steps > 3)  # it runs while the fast lane is idle

    blocker = _Blocker()
    fast_job = fast.submit(blocker).future
    assert blocker.started.wait(WAIT_S)
    paused_at = stepper.steps
    threading.Event().wait(0.3)  # room for thousands of steps if it did not pause
    assert stepper.steps <= paused_at + 1, "the slow job kept stepping while a fast job ran"

    blocker.release.set()
    assert fast_job.result(WAIT_S) == "released"
    _until(lambda: stepper.steps > paused_at + 5)  # and goes on once the fast lane is idle
    stepper.stop.set()
    assert done.result(WAIT_S) > paused_at + 5
    assert slow.paused_s > 0.2


def test_a_pause_is_bounded_so_a_slow_job_still_advances(lanes: list[Lane]) -> None:
    fast = _lane(lanes, "fast", workers=1, max_waiting=4)
    slow = _lane(lanes, "painterly", workers=1, max_waiting=1, yields_to=(fast,), max_pause_s=0.02)
    blocker = _Blocker()
    fast.submit(blocker)
    assert blocker.started.wait(WAIT_S)
    stepper = _Stepper()
    done = slow.submit(stepper).future
    _until(lambda: stepper.steps > 3)  # a step per 0.02 s pause while the fast job holds its worker
    stepper.stop.set()
    blocker.release.set()
    done.result(WAIT_S)


def test_yield_point_outside_a_yielding_lane_returns_at_once(lanes: list[Lane]) -> None:
    assert yield_point() == 0.0  # the test's own thread
    fast = _lane(lanes, "fast", workers=1, max_waiting=1)
    blocker = _Blocker()
    fast.submit(blocker)
    assert blocker.started.wait(WAIT_S)
    other = _lane(lanes, "other", workers=1, max_waiting=1)  # no yields_to: never pauses
    assert other.submit(yield_point).future.result(WAIT_S) == 0.0
    blocker.release.set()


def test_the_demo_painterly_lane_yields_to_fast_and_mask_jobs() -> None:
    fast, painterly, masks = demo_lanes()
    try:
        assert painterly.yields_to == (fast, masks)
        assert not fast.yields_to and not masks.yields_to
    finally:
        for lane in (fast, painterly, masks):
            lane.shutdown()


def test_a_jobs_progress_reports_are_its_yield_points(lanes: list[Lane]) -> None:
    """JobContext.reporter(): what the methods get as ``progress``; painterly reports every optimisation step."""
    fast = _lane(lanes, "fast", workers=1, max_waiting=4)
    slow = _lane(lanes, "painterly", workers=1, max_waiting=1, yields_to=(fast,), max_pause_s=WAIT_S)
    heard: list[tuple[float, str]] = []
    ctx = JobContext(UploadGate(()), MemoryBudget(8 << 30), lambda f, m: heard.append((f, m)))
    report = ctx.reporter()
    stepper = _Stepper(lambda: report(0.5, "step"))
    blocker = _Blocker()
    fast.submit(blocker)
    assert blocker.started.wait(WAIT_S)
    done = slow.submit(stepper).future
    threading.Event().wait(0.3)
    assert stepper.steps <= 1 and not heard  # paused in its first report, before the page heard it
    blocker.release.set()
    _until(lambda: len(heard) > 3)
    stepper.stop.set()
    done.result(WAIT_S)
    assert heard[0] == (0.5, "step")


def test_a_shutdown_stops_a_running_job_at_its_next_yield_point(lanes: list[Lane]) -> None:
    """A server that stops (SIGTERM) shuts its lanes down: a painterly job ends at its next step instead of keeping
    the process alive for minutes (Python waits for worker threads at exit)."""
    slow = _lane(lanes, "painterly", workers=1, max_waiting=1)
    stepper = _Stepper()
    done = slow.submit(stepper).future
    _until(lambda: stepper.steps > 3)
    slow.shutdown()
    with pytest.raises(LaneClosedError, match="server is stopping"):
        done.result(WAIT_S)
    assert not stepper.stop.is_set()  # it was stopped, it did not end by itself


def test_a_shutdown_wakes_a_paused_job(lanes: list[Lane]) -> None:
    fast = _lane(lanes, "fast", workers=1, max_waiting=4)
    slow = _lane(lanes, "painterly", workers=1, max_waiting=1, yields_to=(fast,), max_pause_s=WAIT_S)
    blocker = _Blocker()
    fast.submit(blocker)
    assert blocker.started.wait(WAIT_S)
    stepper = _Stepper()
    done = slow.submit(stepper).future
    _until(lambda: stepper.steps == 1)  # paused in its first step behind the fast job
    slow.shutdown()
    with pytest.raises(LaneClosedError):
        done.result(WAIT_S)  # well before the fast job ends (it is released only below)
    blocker.release.set()
