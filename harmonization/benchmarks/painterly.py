"""Painterly fusion benchmark: quality and speed of the two-pass method against the previous one, in one run.

Usage::

    python -m harmonization.benchmarks.painterly [--data ../shared/data] [--cases all|NAME ...] [--threads N]
                                                 [--legacy REV|none] [--repeats 3] [--memory]
                                                 [--gallery docs/gallery] [--device cpu|cuda] [--precision auto|fp32]

It prints Markdown tables:

1. quality per case (see :mod:`.painterly_cases`): colour distance to the ring of painting around the region
   (naive paste, previous method, new method), texture ratio, structure kept, painting unchanged beyond
   :data:`~.painterly_cases.UNCHANGED_BEYOND_PX` px, seconds; then the medians and the issue's targets;
2. speed: "standard" (512 px, default steps) and "preview" (256 px, 60 steps, as in the app) local fusion, median of
   ``--repeats`` runs of the previous and the new implementation, interleaved on the same case;
3. with ``--memory``: peak RSS of a fusion of a 1024 px painting (each in a fresh subprocess);
4. with ``--gallery``: the README gallery, naive | global style transfer | local two-pass, from public-domain images.

The previous implementation is read from the git history (:mod:`.painterly_legacy`). The thread count is chosen
once for the whole process (``--threads``; default 1 when the 1-minute load average exceeds ``cores - 1``, where
OpenMP's spinning makes 2 threads up to 10x slower, else all cores); the library itself never changes it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ..pipelines.painterly import load_vgg, painterly_fuse
from .painterly_cases import CASES, UNCHANGED_BEYOND_PX, Case, load_case, measure, run_case, synthetic_scene
from .painterly_gallery import build_gallery
from .painterly_legacy import LEGACY_REVISION, legacy_fuse
from .runner import markdown_table

__all__ = ["QUALITIES", "auto_threads", "main", "quality_table", "speed_table"]

QUALITIES: dict[str, dict[str, int | None]] = {"standard": {"size": 512, "steps": None},
                                               "preview": {"size": 256, "steps": 60}}
"""The app's two painterly qualities (app.PAINTERLY_QUALITY)."""
TIMING_CASE = "astronaut/starry_night"
FuseFn = Callable[..., torch.Tensor]


def auto_threads() -> int:
    """1 when the machine is already busy (1-minute load average above ``cores - 1``), else all cores."""
    cores = os.cpu_count() or 1
    busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > cores - 1
    return 1 if busy else cores


def _fusers(device: str, precision: str, legacy: str | None) -> dict[str, FuseFn]:
    vgg = load_vgg("vgg19", device)
    fusers: dict[str, FuseFn] = {
        "new": lambda c, m, **o: painterly_fuse(c, m, device=device, vgg=vgg, precision=precision, **o)}
    if legacy is not None:
        fusers["old"] = lambda c, m, **o: legacy_fuse(c, m, vgg, legacy, device=device, precision=precision, **o)
    return fusers


def _level(messages: Sequence[str]) -> str:
    found = [m.split("level ")[1].split(":")[0].split(",")[0] for m in messages if "level " in m]
    return found[0] if found else "-"


def quality_table(cases: Sequence[Case], data: Path, fusers: dict[str, FuseFn]) -> str:
    """Measure every case with every implementation (standard quality) and format the table plus medians."""
    names = list(fusers)
    rows: list[dict[str, object]] = []
    for case in cases:
        comp, mask = load_case(case, data)
        row: dict[str, object] = {"case": case.name, "style": case.style,
                                  "naive": measure(comp, comp, mask)}
        for name in names:
            out, seconds, messages = run_case(fusers[name], comp, mask, **QUALITIES["standard"])
            row[name] = {**measure(out, comp, mask), "seconds": seconds, "level": _level(messages)}
        rows.append(row)
        summary = "  ".join(f"{n}: colour {row[n]['color']:.1f} texture {row[n]['texture']:.2f} "  # type: ignore
                            f"structure {row[n]['structure']:.3f} {row[n]['seconds']:.0f} s" for n in names)
        print(f"{case.name}: naive colour {row['naive']['color']:.1f}  {summary}", flush=True)  # type: ignore
    header = ["case", "style", "colour naive"]
    for n in names:
        header += [f"colour {n}", f"texture {n}", f"structure {n}", f"unchanged {n}", f"s {n}"]
    table = []
    for r in rows:
        cells = [r["case"], r["style"], f"{r['naive']['color']:.1f}"]  # type: ignore[index]
        for n in names:
            m = r[n]
            cells += [f"{m['color']:.1f}", f"{m['texture']:.2f}", f"{m['structure']:.3f}",  # type: ignore[index]
                      "yes" if m["unchanged"] else "NO", f"{m['seconds']:.0f}"]  # type: ignore[index]
        table.append([*cells, r["new"]["level"]])  # type: ignore[index]

    def values(n: str, key: str) -> list[float]:
        return [float(r[n][key]) for r in rows]  # type: ignore[index]

    reduction = {n: statistics.median(1 - c / float(r["naive"]["color"])  # type: ignore[index]
                                      for c, r in zip(values(n, "color"), rows, strict=True)) for n in names}
    summary = [
        ["colour distance reduction vs naive", *(f"{100 * reduction[n]:.0f} %" for n in names), ">= 50 %"],
        ["texture ratio", *(f"{statistics.median(values(n, 'texture')):.2f}" for n in names), "0.7 .. 1.4"],
        ["structure (minimum over cases)", *(f"{min(values(n, 'structure')):.3f}" for n in names),
         ">= 0.8 in every case"],
        [f"painting bit-identical beyond {UNCHANGED_BEYOND_PX} px",
         *(f"{sum(bool(v) for v in values(n, 'unchanged'))}/{len(rows)}" for n in names), "every case"],
        ["seconds", *(f"{statistics.median(values(n, 'seconds')):.0f}" for n in names), ""],
    ]
    return (markdown_table([*header, "level new"], table) + "\n\n"
            + markdown_table(["median over cases", *names, "target"], summary))


def speed_table(case: Case, data: Path, fusers: dict[str, FuseFn], repeats: int) -> str:
    """Median of ``repeats`` runs per (quality, implementation), interleaved so that load changes hit both."""
    comp, mask = load_case(case, data)
    times: dict[tuple[str, str], list[float]] = {}
    for i in range(repeats):
        for quality, options in QUALITIES.items():
            for name, fuse in fusers.items():
                _, seconds, _ = run_case(fuse, comp, mask, **options)
                times.setdefault((quality, name), []).append(seconds)
                print(f"timing {i + 1}/{repeats} {quality} {name}: {seconds:.1f} s (load {os.getloadavg()[0]:.1f})",
                      flush=True)
    table = []
    for quality, options in QUALITIES.items():
        meds = [f"{statistics.median(times[(quality, n)]):.1f}" for n in fusers]
        runs = "; ".join(f"{n}: " + ", ".join(f"{t:.1f}" for t in times[(quality, n)]) for n in fusers)
        table.append([f"{quality} ({options['size']} px)", *meds, runs])
    return (f"Speed on {case.name} ({comp.shape[-1]}x{comp.shape[-2]} px), median of {repeats}:\n\n"
            + markdown_table(["quality", *(f"{n} (s)" for n in fusers), "runs (s)"], table))


def _memory_probe(size: int, device: str) -> None:
    """Fuse a 1024 px (long side) painting at working size ``size`` and print the peak RSS in MB."""
    comp, mask = synthetic_scene(816, 1024)
    load_vgg("vgg19", device)
    start = time.perf_counter()
    painterly_fuse(comp, mask, size=size, device=device)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu = f", peak GPU {torch.cuda.max_memory_allocated() / 2**20:.0f} MB" if device.startswith("cuda") else ""
    print(f"MEMORY size={size}: peak RSS {peak_mb:.0f} MB{gpu}, {time.perf_counter() - start:.0f} s", flush=True)


def memory_table(device: str, threads: int) -> str:
    """Peak RSS of one fusion of a 1024x816 painting per working size, each in a fresh process."""
    rows = []
    for size in (512, 1024):
        cmd = [sys.executable, "-m", "harmonization.benchmarks.painterly", "--memory-probe", str(size),
               "--device", device, "--threads", str(threads)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        line = next(x for x in out.splitlines() if x.startswith("MEMORY"))
        rows.append(["1024x816 (synthetic)", size, line.split(": ", 1)[1]])
    return markdown_table(["painting", "working size", "peak"], rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harmonization.benchmarks.painterly", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="shared data folder")
    parser.add_argument("--cases", nargs="+", default=["all"], help="case names (e.g. hopper/greatwave) or 'all'")
    parser.add_argument("--legacy", default=LEGACY_REVISION, help="git revision of the previous method, or 'none'")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per implementation and quality")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality table")
    parser.add_argument("--memory", action="store_true", help="also measure the peak RSS of a 1024 px painting")
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--gallery", type=Path, help="also render the README gallery into this folder")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for the whole run (default: auto)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32"])
    args = parser.parse_args(argv)
    threads = args.threads or auto_threads()
    torch.set_num_threads(threads)  # once, for this benchmark process (the library never changes it)
    if args.memory_probe:
        _memory_probe(args.memory_probe, args.device)
        return 0
    legacy = None if args.legacy == "none" else args.legacy
    fusers = _fusers(args.device, args.precision, legacy)
    print(f"device {args.device}, precision {args.precision}, torch {torch.__version__}, threads {threads} of "
          f"{os.cpu_count()}, load {os.getloadavg()[0]:.1f}; old = git {legacy}, new = working tree", flush=True)
    cases = [c for c in CASES if args.cases == ["all"] or c.name in args.cases]
    if not cases:
        parser.error(f"no case matches {args.cases}; known: {', '.join(c.name for c in CASES)}")
    report = []
    if not args.no_quality:
        report.append(quality_table(cases, args.data, fusers))
    timing = next((c for c in CASES if c.name == TIMING_CASE), cases[0])
    if args.repeats > 0:
        report.append(speed_table(timing, args.data, fusers, args.repeats))
    if args.memory:
        report.append(memory_table(args.device, threads))
    if args.gallery is not None:
        report.append(build_gallery(args.gallery, args.data, fusers["new"]))
    print("\n\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
