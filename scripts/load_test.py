"""Load test of the demo's ``/harmonize`` API endpoint: N concurrent ``gradio_client`` requests, then a latency table.

Run from the repository root::

    python scripts/load_test.py                      # launch app.py in this process on 127.0.0.1 (a free port)
    python scripts/load_test.py --url http://127.0.0.1:7860/ --requests 20
    python scripts/load_test.py --composite my.png --mask my_mask.png

All requests go through one shared ``gradio_client.Client`` (it is built for concurrent jobs: each ``submit`` runs in
the client's own worker pool, so a per-request client would only add a config download and a connection to each
latency). A thread pool of ``--workers`` threads (default: one per request, so all are in flight at once) submits
the requests and waits for each result; methods alternate between the classical "global" and "local". Each latency
is measured from submit to result, so it includes the file uploads and the server's queue wait: the app runs at most
two harmonize events at a time, so most requests queue behind others.

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

import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEFAULT_COMPOSITE = EXAMPLES / "astronaut_in_cafe.png"  # the astronaut pasted into van Gogh's Night Cafe
DEFAULT_MASK = EXAMPLES / "astronaut_in_cafe_mask.png"
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


@contextlib.contextmanager
def serve_app() -> Iterator[str]:
    """Launch ``app.demo`` in this process on 127.0.0.1 (a free port; ``app.serve_locally``); yields its URL."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from _app import load_app

    app = load_app()

    with app.serve_locally() as url:
        yield url


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
    parser = argparse.ArgumentParser(description="Concurrent /harmonize requests against the demo; latency table.")
    parser.add_argument("--url", help="a running demo (default: launch app.py in this process on a free port)")
    parser.add_argument("--requests", type=int, default=10, help="number of requests, all concurrent (default 10)")
    parser.add_argument("--workers", type=int, help="client threads (default: one per request)")
    parser.add_argument("--composite", type=Path, default=DEFAULT_COMPOSITE, help="composite image file")
    parser.add_argument("--mask", type=Path, default=DEFAULT_MASK, help="mask image file (white = object)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for each request (default 600)")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(serve_app())
        print(f"{args.requests} concurrent /harmonize requests ({' / '.join(METHODS)} in turn) to {url}", flush=True)
        result = run_load(url, args.requests, args.composite, args.mask, workers=args.workers,
                          timeout_s=args.timeout)
    print(format_table(result))
    return 1 if result.failures else 0


if __name__ == "__main__":
    sys.exit(main())
