"""Load test of the demo's API: N concurrent ``gradio_client`` requests, then a latency table.

Run from the repository root::

    python scripts/load_test.py                      # launch app.py in this process on 127.0.0.1 (a free port)
    python scripts/load_test.py --url http://127.0.0.1:7860/ --requests 20
    python scripts/load_test.py --composite my.png --mask my_mask.png
    python scripts/load_test.py --mixed              # 2 painterly "preview" jobs in flight + 20 global/local

``--mixed``: first ``--painterly`` (default 2) painterly jobs go to the page's run button (``/run_portrait``: the
portrait example on a van Gogh, both columns painterly; ``--painterly-endpoint harmonize_painterly`` for the API
endpoint) at quality ``--quality`` (default preview); once they all run, ``--requests`` (default 20) global/local
requests go to ``/harmonize`` at once. The table then has one row per lane (p50/p95/max latency), and says how many
painterly jobs were still running when the last fast request finished (the fast latencies were measured under that
load).
When the app is served in this process, the disk growth of its result folders (its own PNGs, Gradio's cache) is
printed too, per 100 requests; everything in them is removed by age and on shutdown.

All requests go through one shared ``gradio_client.Client`` (it is built for concurrent jobs: each ``submit`` runs in
the client's own worker pool, so a per-request client would only add a config download and a connection to each
latency). A thread pool of ``--workers`` threads (default: one per request, so all are in flight at once) submits
the requests and waits for each result; methods alternate between the classical "global" and "local". Each latency
is measured from submit to result, so it includes the file uploads and the server's queue wait: the app's fast lane
runs two jobs at a time, so most requests queue behind others.

A request succeeds when it returns an image of the composite's size. Prints requests, successes, failures, p50, p95
and max latency and the total wall time; the exit status is 1 if any request failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEFAULT_COMPOSITE = EXAMPLES / "astronaut_in_cafe.png"  # the astronaut pasted into van Gogh's Night Cafe
DEFAULT_MASK = EXAMPLES / "astronaut_in_cafe_mask.png"
PORTRAIT, PORTRAIT_LAYER = EXAMPLES / "skimage_astronaut.jpg", EXAMPLES / "skimage_astronaut_layer.png"
PAINTING = EXAMPLES / "gcompris_details_vincentvangogh0013.jpg"  # van Gogh (public domain)
METHODS = ("global", "local")


@dataclass
class LoadResult:
    """What a load run measured: one latency (seconds) per successful request, one message per failed one."""

    requests: int
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def successes(self) -> int:
        return len(self.latencies)

    @property
    def failures(self) -> int:
        return len(self.errors)

    def percentile(self, q: float) -> float:
        """Latency percentile over the successful requests (linear interpolation); NaN when none succeeded."""
        return float(np.percentile(self.latencies, q)) if self.latencies else float("nan")


@dataclass
class MixedResult:
    """A mixed run: the fast lane's requests, the painterly lane's, and how many painterly jobs were still running
    when the last fast request finished."""

    fast: LoadResult
    painterly: LoadResult
    painterly_running_at_fast_end: int = 0


@contextlib.contextmanager
def serve_app() -> Iterator[str]:
    """Launch ``app.demo`` in this process on 127.0.0.1 (a free port; ``app.serve_locally``); yields its URL."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from _app import load_app

    app = load_app()

    with app.serve_locally() as url:
        yield url


def result_folders() -> list[Path]:
    """The folders the in-process app writes results into (empty when the app is not loaded in this process)."""
    app = sys.modules.get("app")
    if app is None:
        return []
    from gradio.utils import get_upload_folder

    return [Path(app.DOWNLOADS_DIR), Path(get_upload_folder())]


def disk_bytes(folders: Sequence[Path]) -> int:
    """Bytes of the regular files under ``folders``."""
    from harmonization.serving import folder_bytes

    return sum(folder_bytes(folder) for folder in folders)


def run_load(url: str, requests: int = 10, composite: str | Path = DEFAULT_COMPOSITE, mask: str | Path = DEFAULT_MASK,
             methods: Sequence[str] = METHODS, workers: int | None = None, timeout_s: float = 600.0) -> LoadResult:
    """Send ``requests`` concurrent ``/harmonize`` requests (methods in turn) to the app at ``url`` and time them."""
    if requests < 1:
        raise ValueError(f"requests must be at least 1, got {requests}")
    with Image.open(composite) as image:
        expected_size = image.size
    client = Client(url, verbose=False)
    result = LoadResult(requests=requests)

    def one(index: int) -> tuple[float | None, str | None]:
        method = methods[index % len(methods)]
        start = time.perf_counter()
        try:
            job = client.submit(handle_file(str(composite)), handle_file(str(mask)), method, api_name="/harmonize")
            path = job.result(timeout=timeout_s)
            elapsed = time.perf_counter() - start
            with Image.open(path) as out:
                if out.size != expected_size:
                    return None, f"request {index} ({method}): result is {out.size}, expected {expected_size}"
            return elapsed, None
        except Exception as exc:  # every failure is counted and reported, none stops the run
            message = " ".join(str(exc).split()) or type(exc).__name__
            return None, f"request {index} ({method}): {type(exc).__name__}: {message}"

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers or requests) as pool:
        outcomes = list(pool.map(one, range(requests)))
    result.wall_s = time.perf_counter() - start
    for latency, error in outcomes:
        if error is None:
            result.latencies.append(latency)
        else:
            result.errors.append(error)
    return result


def _submit_painterly(client: Client, endpoint: str, composite: str | Path, mask: str | Path, quality: str) -> Any:
    if endpoint == "harmonize_painterly":
        return client.submit(handle_file(str(composite)), handle_file(str(mask)), "painterly", quality,
                             api_name="/harmonize_painterly")
    # The page's run button (any version of the demo has it): the portrait example on the van Gogh painting.
    editor = {"background": handle_file(str(PORTRAIT)), "layers": [handle_file(str(PORTRAIT_LAYER))],
              "composite": None}
    return client.submit(editor, handle_file(str(PAINTING)), 0.75, 0.5, 0.62, False, "painterly", quality,
                         api_name="/run_portrait")


def run_mixed(url: str, painterly: int = 2, fast: int = 20, composite: str | Path = DEFAULT_COMPOSITE,
              mask: str | Path = DEFAULT_MASK, quality: str = "preview", timeout_s: float = 1800.0,
              endpoint: str = "run_portrait") -> MixedResult:
    """``painterly`` painterly jobs (``endpoint``: ``"run_portrait"``, the page's button, whose two columns are both
    painterly, or ``"harmonize_painterly"``, one image); once all of them run, ``fast`` global/local requests to
    ``/harmonize`` at once. Latencies from submit to result; a painterly job counts as running from its first
    progress message that is not a wait for a slot."""
    client = Client(url, verbose=False)
    slow = LoadResult(requests=painterly)
    started = time.perf_counter()
    jobs = [(time.perf_counter(), _submit_painterly(client, endpoint, composite, mask, quality))
            for _ in range(painterly)]

    def running(job: Any) -> bool:
        status = job.status()
        if status.code in (Status.FINISHED, Status.CANCELLED) or job.done():
            return True  # over (or failed): nothing to wait for
        return status.code == Status.PROGRESS and any(
            not (unit.desc or "").startswith("Waiting") for unit in status.progress_data or [])

    finished: dict[int, float] = {}
    for index, (_, job) in enumerate(jobs):
        job.add_done_callback(lambda _, index=index: finished.setdefault(index, time.perf_counter()))
    deadline = time.perf_counter() + timeout_s
    while not all(running(job) for _, job in jobs) and time.perf_counter() < deadline:
        time.sleep(0.2)
    result = run_load(url, fast, composite, mask, timeout_s=timeout_s)
    still_running = sum(not job.done() for _, job in jobs)
    for index, (submitted, job) in enumerate(jobs):
        try:
            job.result(timeout=max(1.0, deadline - time.perf_counter()))
            slow.latencies.append(finished.get(index, time.perf_counter()) - submitted)
        except Exception as exc:  # counted and reported
            slow.errors.append(f"painterly: {type(exc).__name__}: {' '.join(str(exc).split())}")
    slow.wall_s = time.perf_counter() - started
    return MixedResult(fast=result, painterly=slow, painterly_running_at_fast_end=still_running)


def format_lanes(result: MixedResult) -> str:
    """One row per lane: requests, successes, failures, p50, p95 and max latency (seconds)."""
    header = f"{'lane':<10} {'requests':>8} {'ok':>4} {'failed':>6} {'p50 (s)':>8} {'p95 (s)':>8} {'max (s)':>8}"
    lines = [header]
    for name, lane in (("fast", result.fast), ("painterly", result.painterly)):
        peak = f"{max(lane.latencies):8.2f}" if lane.latencies else f"{'nan':>8}"
        lines.append(f"{name:<10} {lane.requests:>8} {lane.successes:>4} {lane.failures:>6} "
                     f"{lane.percentile(50):8.2f} {lane.percentile(95):8.2f} {peak}")
    lines.append(f"painterly jobs still running when the last fast request finished: "
                 f"{result.painterly_running_at_fast_end} of {result.painterly.requests}")
    lines += [f"  {error}" for error in result.fast.errors + result.painterly.errors]
    return "\n".join(lines)


def format_table(result: LoadResult) -> str:
    rows = [
        ("requests", f"{result.requests}"),
        ("successes", f"{result.successes}"),
        ("failures", f"{result.failures}"),
        ("p50 latency (s)", f"{result.percentile(50):.2f}"),
        ("p95 latency (s)", f"{result.percentile(95):.2f}"),
        ("max latency (s)", f"{max(result.latencies):.2f}" if result.latencies else "nan"),
        ("total wall time (s)", f"{result.wall_s:.2f}"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value:>8}" for name, value in rows]
    lines += [f"  {error}" for error in result.errors]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Concurrent requests against the demo's API; latency table.")
    parser.add_argument("--url", help="a running demo (default: launch app.py in this process on a free port)")
    parser.add_argument("--requests", type=int, help="fast requests, all concurrent (default 10; 20 with --mixed)")
    parser.add_argument("--workers", type=int, help="client threads (default: one per request)")
    parser.add_argument("--composite", type=Path, default=DEFAULT_COMPOSITE, help="composite image file")
    parser.add_argument("--mask", type=Path, default=DEFAULT_MASK, help="mask image file (white = object)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each request (default 600)")
    parser.add_argument("--mixed", action="store_true", help="painterly jobs in flight while the fast requests run")
    parser.add_argument("--painterly", type=int, default=2, help="painterly jobs with --mixed (default 2)")
    parser.add_argument("--quality", default="preview", help="painterly quality with --mixed (default preview)")
    parser.add_argument("--painterly-endpoint", choices=["run_portrait", "harmonize_painterly"], default="run_portrait",
                        help="where the painterly jobs go (default: the page's run button, /run_portrait)")
    args = parser.parse_args(argv)
    requests = args.requests or (20 if args.mixed else 10)

    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(serve_app())
        folders = result_folders() if not args.url else []
        before = [disk_bytes([folder]) for folder in folders]
        if args.mixed:
            print(f"{args.painterly} painterly ({args.quality}) jobs to /{args.painterly_endpoint}, then {requests} "
                  f"concurrent /harmonize requests ({' / '.join(METHODS)} in turn) to {url}", flush=True)
            mixed = run_mixed(url, args.painterly, requests, args.composite, args.mask, args.quality,
                              timeout_s=args.timeout, endpoint=args.painterly_endpoint)
            print(format_lanes(mixed))
            failures, total = mixed.fast.failures + mixed.painterly.failures, requests + args.painterly
        else:
            print(f"{requests} concurrent /harmonize requests ({' / '.join(METHODS)} in turn) to {url}", flush=True)
            result = run_load(url, requests, args.composite, args.mask, workers=args.workers,
                              timeout_s=args.timeout)
            print(format_table(result))
            failures, total = result.failures, requests
        notes = ("the app's PNGs, removed after 2 minutes", "Gradio's cache, removed after an hour")
        for folder, start, note in zip(folders, before, notes[:len(folders)], strict=True):
            grown = disk_bytes([folder]) - start
            print(f"disk growth, {note}: {grown / 1e6:.2f} MB over {total} requests "
                  f"({grown / 1e6 * 100 / total:.2f} MB per 100 requests)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
