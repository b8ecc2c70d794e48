"""The demo's lanes: painterly jobs never hold up the photo methods, /harmonize runs no painterly method, unknown
painterly qualities are refused, and a waiting request says it waits.

The painterly lane is filled with jobs of the test's own that wait for an event (the lane object is the app's:
nothing of ours is replaced), so the checks are about order, never about time; no real painterly job runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

pytestmark = pytest.mark.app

WAIT_S = 120.0  # a safety net against hangs only


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    import app

    with app.serve_locally() as url:
        yield Client(url, verbose=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lanes")
    composite = np.zeros((48, 64, 3), np.uint8)
    composite[..., 2] = 200
    mask = np.zeros((48, 64), np.uint8)
    mask[12:36, 16:48] = 255
    composite[mask > 0] = (220, 120, 40)
    portrait = np.full((40, 30, 3), 128, np.uint8)
    layer = np.zeros((40, 30, 4), np.uint8)
    layer[8:36, 9:21] = (255, 45, 111, 255)
    paths = {}
    for name, array in (("composite", composite), ("mask", mask), ("portrait", portrait), ("layer", layer),
                        ("background", np.full((60, 80, 3), 90, np.uint8))):
        paths[name] = folder / f"{name}.png"
        Image.fromarray(array).save(paths[name])
    return paths


class _Occupied:
    """Fill the app's painterly lane with ``running`` + ``waiting`` jobs that wait for :meth:`release`."""

    def __init__(self, running: int, waiting: int) -> None:
        import app

        self.lane = app.PAINTERLY_LANE
        self.release_event = threading.Event()
        self.tickets = [self.lane.submit(self._job) for _ in range(running + waiting)]
        deadline = time.monotonic() + WAIT_S
        while (self.lane.running, self.lane.waiting) != (running, waiting):
            assert time.monotonic() < deadline, "the lane did not fill"
            time.sleep(0.01)

    def _job(self) -> None:
        assert self.release_event.wait(WAIT_S)

    def release(self) -> None:
        self.release_event.set()
        for ticket in self.tickets:
            ticket.future.result(WAIT_S)


def _editor(files: dict[str, Path], with_mask: bool = True) -> dict[str, Any]:
    return {"background": handle_file(str(files["portrait"])),
            "layers": [handle_file(str(files["layer"]))] if with_mask else [], "composite": None}


def test_harmonize_refuses_painterly_methods_and_names_their_endpoint(client: Client, files: dict[str, Path]) -> None:
    for method in ("painterly", "painterly-global"):
        with pytest.raises(AppError) as info:
            client.predict(handle_file(str(files["composite"])), handle_file(str(files["mask"])), method,
                           api_name="/harmonize")
        assert "painterly method" in str(info.value) and "/harmonize_painterly" in str(info.value)


def test_the_painterly_endpoint_refuses_photo_methods(client: Client, files: dict[str, Path]) -> None:
    with pytest.raises(AppError, match="'global' is not a painterly method .*call /harmonize"):
        client.predict(handle_file(str(files["composite"])), handle_file(str(files["mask"])), "global", "preview",
                       api_name="/harmonize_painterly")


@pytest.mark.parametrize("api_name", ["/run_portrait", "/run_composite", "/harmonize_painterly"])
def test_an_unknown_painterly_quality_is_refused(client: Client, files: dict[str, Path], api_name: str) -> None:
    if api_name == "/run_portrait":
        args: tuple[Any, ...] = (_editor(files), handle_file(str(files["background"])), 0.5, 0.5, 0.5, False,
                                 "painterly", "ultra")
    elif api_name == "/run_composite":
        args = (_editor(files), "painterly", "ultra")
    else:
        args = (handle_file(str(files["composite"])), handle_file(str(files["mask"])), "painterly", "ultra")
    with pytest.raises(AppError) as info:
        client.predict(*args, api_name=api_name)
    assert "Unknown painterly quality 'ultra'" in str(info.value) and "'preview'" in str(info.value)


def test_a_full_painterly_lane_does_not_hold_up_the_photo_methods(client: Client, files: dict[str, Path]) -> None:
    occupied = _Occupied(running=2, waiting=4)
    try:
        # the photo methods run at once, through /harmonize and through the page's run button
        for method in ("global", "local"):
            out = client.predict(handle_file(str(files["composite"])), handle_file(str(files["mask"])), method,
                                 api_name="/harmonize")
            assert np.asarray(Image.open(out)).shape == (48, 64, 3)
        outputs = client.predict(_editor(files), handle_file(str(files["background"])), 0.5, 0.5, 0.5, False,
                                 "local", "preview", api_name="/run_portrait")
        assert np.asarray(Image.open(outputs[2])).shape == (60, 80, 3)
        assert occupied.lane.running == 2 and occupied.lane.waiting == 4  # the painterly jobs are still held
        # one more painterly job is refused at once, with a message, instead of waiting without bound
        with pytest.raises(AppError, match="The painterly lane is full: 2 job.s. running and 4 waiting"):
            client.predict(handle_file(str(files["composite"])), handle_file(str(files["mask"])), "painterly",
                           "preview", api_name="/harmonize_painterly")
    finally:
        occupied.release()


def test_a_waiting_painterly_request_says_it_waits(client: Client, files: dict[str, Path]) -> None:
    occupied = _Occupied(running=2, waiting=0)
    try:
        # no mask painted: once it gets a worker the job fails at once (no painterly work is done)
        job = client.submit(_editor(files, with_mask=False), handle_file(str(files["background"])), 0.5, 0.5, 0.5,
                            False, "painterly", "preview", api_name="/run_portrait")
        seen: list[str] = []
        deadline = time.monotonic() + WAIT_S
        while not any("Waiting for a free slot in the painterly lane" in m for m in seen):
            assert time.monotonic() < deadline, f"no waiting message; saw {seen}"
            status = job.status()
            seen += [unit.desc or "" for unit in (status.progress_data or [])]
            time.sleep(0.05)
        assert occupied.lane.waiting == 1 and not job.done()
    finally:
        occupied.release()
    with pytest.raises(AppError, match="No mask painted"):
        job.result(timeout=WAIT_S)
