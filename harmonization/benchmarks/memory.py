"""Peak memory of one request at large sizes: ``python -m harmonization.benchmarks.memory``.

Each row runs in a fresh subprocess (so peaks never mix): it reads a PNG composite and mask from disk, harmonizes and
encodes the PNG result(s), and reports the process's peak resident set size (``ru_maxrss``), the resident size after
the imports (``idle``) and the seconds the request took (wall clock, and CPU time of the process, which a busy
machine disturbs less). Two request paths:

- ``api``: ``harmonization.harmonize(composite_file, mask_file, method)`` and one PNG (the ``/harmonize`` endpoint);
- ``page``: the page's three columns (``pipelines.comparison.compare``: naive, global and the method) and three
  PNGs (the run button).

``--baseline REV`` runs the same rows with the package as it was at a git revision (extracted with ``git archive``
into a temporary folder and put first on ``PYTHONPATH``), in the same run, so old and new see the same machine load.
The largest default size is the probe's case: a 7736x5160 (39.9 MP) PNG of about 130 KB.

``--malloc server`` (default) runs every child, old and new, with glibc's allocator set as the server sets it
(``MALLOC_MMAP_THRESHOLD_``, see :func:`harmonization.serving.memory.return_freed_memory_promptly`); ``default``
leaves glibc's adaptive threshold, under which freed bands stay resident (fragmentation).

Example::

    python -m harmonization.benchmarks.memory --methods global local fmm --megapixels 10 20 39.9 --baseline d30b8e5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..image_io import write_test_composite
from ..serving.memory import MMAP_THRESHOLD
from .runner import markdown_table

__all__ = ["MemoryRow", "measure", "main"]

REPO = Path(__file__).resolve().parents[2]
#: The code before row-chunked processing (issue 14), for ``--baseline`` comparisons.
DEFAULT_BASELINE = "d30b8e5"

#: Runs in the child process; uses only entry points that exist in old and new versions of the package.
_CHILD = r"""
import json, resource, sys, time
import io as _io

def rss_kb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

composite, mask, method, path = sys.argv[1:5]
import torch
import harmonization
from harmonization.image_io import load_image, load_mask
from harmonization.pipelines.comparison import compare
idle_kb = rss_kb()
start, cpu_start = time.perf_counter(), time.process_time()
if path == "api":
    images = [harmonization.harmonize(composite, mask, method=method)]
else:
    image = load_image(composite)
    soft = load_mask(mask, size=(image.shape[-1], image.shape[-2]))
    result = compare(image, soft, method)
    del image, soft
    images = [result.naive.image, result.baseline.image, result.result.image]
for im in images:
    im.save(_io.BytesIO(), format="PNG", compress_level=1)
seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT " + json.dumps({"peak_kb": peak_kb, "idle_kb": idle_kb, "seconds": seconds, "cpu_seconds": cpu_seconds,
                              "size": list(images[0].size), "file": harmonization.__file__}))
"""


@dataclass(frozen=True)
class MemoryRow:
    """One measured request."""

    code: str
    path: str
    method: str
    megapixels: float
    peak_gb: float
    idle_gb: float
    seconds: float
    cpu_seconds: float = math.nan
    error: str = ""

    @property
    def request_gb(self) -> float:
        """What the request added on top of the idle process."""
        return self.peak_gb - self.idle_gb


def _size(megapixels: float) -> tuple[int, int]:
    """A 3:2 landscape size with about ``megapixels`` (39.9 -> 7736x5160, the probe's case)."""
    height = round(math.sqrt(megapixels * 1e6 / 1.5) / 8) * 8
    width = round(megapixels * 1e6 / height / 8) * 8
    return width, height


def _baseline_tree(rev: str, folder: Path) -> Path:
    """The package at ``rev`` (``git archive``), in ``folder``; returns the folder to put on ``PYTHONPATH``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "harmonization"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def measure(composite: Path, mask: Path, method: str, path: str, *, code_dir: Path | None = None,
            threads: int | None = None, server_malloc: bool = True, timeout_s: float = 1800.0) -> dict[str, object]:
    """One request in a fresh Python process; returns the child's report (or ``{"error": ...}``)."""
    env = dict(os.environ)
    if server_malloc:
        env["MALLOC_MMAP_THRESHOLD_"] = str(MMAP_THRESHOLD)
    env.setdefault("HARMONIZATION_CHECKPOINTS_DIR", str(REPO / "checkpoints"))
    env["HF_HUB_OFFLINE"] = "1"
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    if code_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code_dir), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD, str(composite), str(mask), method, path], env=env,
                              capture_output=True, text=True, timeout=timeout_s, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            report = json.loads(line[len("RESULT "):])
            expected = (code_dir or REPO).resolve()
            if not Path(report["file"]).resolve().is_relative_to(expected):
                return {"error": f"the child imported {report['file']}, not the code under {expected}"}
            return report
    tail = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return {"error": tail[:160] if done.returncode >= 0 else f"killed by signal {-done.returncode}"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--methods", nargs="+", default=["global", "local"], help="methods (default: global local)")
    parser.add_argument("--megapixels", nargs="+", type=float, default=[10.0, 20.0, 39.9],
                        help="composite sizes in megapixels (default: 10 20 39.9)")
    parser.add_argument("--paths", nargs="+", choices=["api", "page"], default=["api", "page"],
                        help="request paths (default: both)")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help=f"also run the package at this git revision (e.g. {DEFAULT_BASELINE}, the code before "
                             "row chunking)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the children")
    parser.add_argument("--malloc", choices=["server", "default"], default="server",
                        help="glibc allocator setting of the children (default: the server's)")
    args = parser.parse_args(argv)

    rows: list[MemoryRow] = []
    with tempfile.TemporaryDirectory(prefix="harmonization-memory-") as tmp:
        folder = Path(tmp)
        codes: list[tuple[str, Path | None]] = [("new", None)]
        if args.baseline:
            old = folder / "baseline"
            old.mkdir()
            codes.insert(0, (f"old ({args.baseline})", _baseline_tree(args.baseline, old)))
        for megapixels in args.megapixels:
            width, height = _size(megapixels)
            composite, mask = folder / f"composite-{width}x{height}.png", folder / f"mask-{width}x{height}.png"
            write_test_composite(composite, mask, (width, height))
            for path in args.paths:
                for method in args.methods:
                    for code, code_dir in codes:
                        report = measure(composite, mask, method, path, code_dir=code_dir, threads=args.threads,
                                         server_malloc=args.malloc == "server")
                        mp = width * height / 1e6
                        if "error" in report:
                            row = MemoryRow(code, path, method, mp, math.nan, math.nan, math.nan, str(report["error"]))
                        else:
                            row = MemoryRow(code, path, method, mp, int(report["peak_kb"]) / 2**20,
                                            int(report["idle_kb"]) / 2**20, float(report["seconds"]),
                                            float(report["cpu_seconds"]))
                        rows.append(row)
                        print(f"  {code:>16s} {path:4s} {method:8s} {mp:5.1f} MP: "
                              + (row.error or f"peak {row.peak_gb:.2f} GiB, {row.seconds:.1f} s"), flush=True)
    table = [[r.code, r.path, r.method, f"{r.megapixels:.1f}", f"{r.peak_gb:.2f}", f"{r.request_gb:.2f}",
              f"{r.seconds:.1f}", f"{r.cpu_seconds:.1f}", r.error] for r in rows]
    print(markdown_table(["code", "path", "method", "megapixels", "peak RSS (GiB)", "over idle (GiB)", "seconds",
                          "CPU seconds", "error"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
