"""``serving.MemoryBudget``: concurrent jobs reserve their estimated peak; what does not fit waits, first come first
served; a job larger than the whole budget is refused with a message. Order and counts only, no timings."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from harmonization.serving import (
    BUDGET_ENV,
    MemoryBudget,
    MemoryBudgetError,
    estimate_job_bytes,
    memory_budget_from_env,
    parse_bytes,
    return_freed_memory_promptly,
)
from harmonization.serving.memory import DEFAULT_BUDGET, SERVER_BASELINE

GiB = 1 << 30
WAIT_S = 60.0


@pytest.mark.parametrize(("text", "expected"), [("8G", 8 * GiB), ("8 GiB", 8 * GiB), ("8gb", 8 * GiB),
                                                ("512M", 512 << 20), ("1.5g", int(1.5 * GiB)), ("123456", 123456),
                                                ("64k", 64 << 10), (4096, 4096)])
def test_parse_bytes(text: str | int, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("text", ["", "eight", "8X", "-1G", "0", "8 G B"])
def test_parse_bytes_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="memory size"):
        parse_bytes(text)


def test_estimates_grow_with_the_image_and_know_their_kinds() -> None:
    assert estimate_job_bytes(40_000_000, "photo") > estimate_job_bytes(1_000_000, "photo")
    assert estimate_job_bytes(1_000_000, "painterly") > estimate_job_bytes(1_000_000, "photo")
    # the probe's case: a 39.9 MP request fits, three of them at once do not (with the default 8 GiB)
    budget = MemoryBudget(DEFAULT_BUDGET)
    big = estimate_job_bytes(39_900_000, "photo")
    assert big <= budget.available_to_jobs < 3 * big
    with pytest.raises(ValueError, match="Unknown job kind 'huge'"):
        estimate_job_bytes(1, "huge")


def _thread(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_what_does_not_fit_waits_until_memory_is_given_back() -> None:
    budget = MemoryBudget(10 * GiB, baseline=2 * GiB, poll_s=0.01)  # 8 GiB for jobs
    order: list[str] = []
    messages: list[str] = []
    first_in, release_first = threading.Event(), threading.Event()

    def first() -> None:
        with budget.reserve(5 * GiB):
            order.append("first in")
            first_in.set()
            assert release_first.wait(WAIT_S)
            order.append("first out")

    def second() -> None:
        with budget.reserve(4 * GiB, on_wait=messages.append):
            order.append("second in")

    one = _thread(first)
    assert first_in.wait(WAIT_S)
    two = _thread(second)
    for _ in range(int(WAIT_S * 100)):
        if messages:
            break
        threading.Event().wait(0.01)
    assert budget.waiting == 1 and budget.in_use == 5 * GiB and order == ["first in"]
    assert messages[0].startswith("Waiting for memory: 5.0 GiB of 8.0 GiB in use") and "needs 4.0 GiB" in messages[0]
    release_first.set()
    one.join(WAIT_S)
    two.join(WAIT_S)
    assert order == ["first in", "first out", "second in"]
    assert budget.in_use == 0 and budget.waiting == 0


def test_first_come_first_served() -> None:
    """A small job behind a waiting large one does not overtake it (the large one would starve)."""
    budget = MemoryBudget(10 * GiB, baseline=2 * GiB, poll_s=0.01)
    order: list[str] = []
    holding, release = threading.Event(), threading.Event()

    def holder() -> None:
        with budget.reserve(6 * GiB):
            holding.set()
            assert release.wait(WAIT_S)

    def job(name: str, size: int) -> Callable[[], None]:
        def run() -> None:
            with budget.reserve(size):
                order.append(name)
        return run

    hold = _thread(holder)
    assert holding.wait(WAIT_S)
    large = _thread(job("large", 7 * GiB))
    for _ in range(int(WAIT_S * 100)):
        if budget.waiting == 1:
            break
        threading.Event().wait(0.01)
    small = _thread(job("small", 1 * GiB))  # would fit beside the holder, but comes after the large job
    for _ in range(int(WAIT_S * 100)):
        if budget.waiting == 2:
            break
        threading.Event().wait(0.01)
    assert order == []
    release.set()
    for thread in (hold, large, small):
        thread.join(WAIT_S)
    assert order == ["large", "small"]


def test_a_job_larger_than_the_budget_is_refused_at_once() -> None:
    budget = MemoryBudget(4 * GiB, baseline=2 * GiB)
    with pytest.raises(MemoryBudgetError) as info:
        with budget.reserve(3 * GiB):
            pass
    message = str(info.value)
    assert "needs about 3.0 GiB" in message and "at most 2.0 GiB" in message and "Downscale" in message
    assert isinstance(info.value, ValueError) and budget.in_use == 0 and budget.waiting == 0


def test_reservations_are_given_back_after_errors() -> None:
    budget = MemoryBudget(4 * GiB, baseline=2 * GiB)
    with pytest.raises(RuntimeError):
        with budget.reserve(GiB):
            raise RuntimeError("the job failed")
    assert budget.in_use == 0


def test_the_budget_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    assert memory_budget_from_env().total == DEFAULT_BUDGET == 8 * GiB
    monkeypatch.setenv(BUDGET_ENV, "12G")
    budget = memory_budget_from_env()
    assert budget.total == 12 * GiB and budget.available_to_jobs == 12 * GiB - SERVER_BASELINE
    monkeypatch.setenv(BUDGET_ENV, "lots")
    with pytest.raises(ValueError, match=f"{BUDGET_ENV}='lots'"):
        memory_budget_from_env()
    monkeypatch.setenv(BUDGET_ENV, "1G")
    with pytest.raises(ValueError, match="must exceed what the server itself holds"):
        memory_budget_from_env()


def test_freed_memory_goes_back_to_the_system_on_glibc() -> None:
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert return_freed_memory_promptly() is True
