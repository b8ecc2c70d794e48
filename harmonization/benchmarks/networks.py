"""Latency of the harmonisation networks: ``harmonization bench networks {phnet,fmm,all} [...]``.

Usage::

    harmonization bench networks phnet [--sizes 256 512 1024] [--device cpu cuda] [--dtype fp32 bf16 fp16]
                                       [--repeats N] [--warmup N] [--batch N] [--threads N] [--channels-last]

It prints a Markdown table with the median latency (ms per forward pass) and the throughput (images/s) of every
case, for each device, dtype and square input size. Weights are random (seeded): latency does not depend on them.
CUDA rows appear only when CUDA is available.

Cases: both published PHNet configurations; FMM's released width as ``fmm`` (the eval-mode fast path: folded batch
norm, channels-last, reordered decoder, reduced foreground attention) and ``fmm-literal`` (every layer as written,
``model.fast = False``). Adding a network means adding one entry to :data:`BENCHMARKS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import torch
from torch import nn

from .runner import DTYPES, BenchCase, BenchResult, composite_and_mask, format_table, run_case

__all__ = ["BENCHMARKS", "build_seeded_fmm", "fmm_cases", "main", "phnet_cases"]


def _seeded(build: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        torch.manual_seed(seed)
        return build().eval()

    return make


def phnet_cases() -> list[BenchCase]:
    """Both published PHNet configurations."""
    from ..models.phnet import PHNET_FFHQH, PHNET_IHARMONY, PHNet

    return [
        BenchCase(f"phnet-{config.name}", _seeded(lambda config=config: PHNet(config)), composite_and_mask, 8)
        for config in (PHNET_IHARMONY, PHNET_FFHQH)
    ]


def build_seeded_fmm(fast: bool = True, seed: int = 0) -> nn.Module:
    """The released-width FMM with seeded random weights, in eval mode on CPU (float32).

    Args:
        fast: use the eval-mode fast path (``False`` runs every layer literally).
        seed: seed of the weight initialisation; both attention gains are set to 0.5 so that no path is idle.

    Returns:
        An :class:`harmonization.models.fmm.FMM` taking ``(image (B,3,S,S), mask (B,1,S,S))``, S a multiple of 8.
    """
    from ..models.fmm import FMM

    torch.manual_seed(seed)
    model = FMM().eval()
    with torch.no_grad():
        model.FB_FMM.gamma.fill_(0.5)
        model.FB_FMM.SA.gamma.fill_(0.5)
    model.fast = fast
    return model


def fmm_cases() -> list[BenchCase]:
    """Benchmark cases: ``fmm`` (fast eval path) and ``fmm-literal``; inputs are a composite and a {0,1} mask."""
    return [
        BenchCase("fmm", lambda: build_seeded_fmm(fast=True), composite_and_mask, 8),
        BenchCase("fmm-literal", lambda: build_seeded_fmm(fast=False), composite_and_mask, 8),
    ]


BENCHMARKS: dict[str, Callable[[], list[BenchCase]]] = {
    "phnet": phnet_cases,
    "fmm": fmm_cases,
    "all": lambda: phnet_cases() + fmm_cases(),
}


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="harmonization bench networks", description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which network family to time")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square input sides")
    parser.add_argument("--device", nargs="+", choices=["cpu", "cuda"], default=None,
                        help="devices (default: cpu, plus cuda when available)")
    parser.add_argument("--dtype", nargs="+", choices=sorted(DTYPES), default=None,
                        help="dtypes (default: fp32 on CPU; fp32 bf16 fp16 on CUDA)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per row (median reported)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed passes per row (default 1 CPU, 3 CUDA)")
    parser.add_argument("--batch", type=int, default=1, help="images per pass")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for CPU rows")
    parser.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    parser.add_argument("--cases", nargs="+", default=None, help="only these case names (default: all)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> list[BenchResult]:
    """Command-line entry point; prints the table and returns the rows."""
    args = _parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cuda_ok = torch.cuda.is_available()
    devices = args.device or (["cpu", "cuda"] if cuda_ok else ["cpu"])
    if "cuda" in devices and not cuda_ok:
        print("note: CUDA is not available here; CUDA rows skipped.")
        devices = [d for d in devices if d != "cuda"]
    cases = BENCHMARKS[args.benchmark]()
    if args.cases:
        unknown = set(args.cases) - {c.name for c in cases}
        if unknown:
            raise SystemExit(f"Unknown case(s) {sorted(unknown)}; available: {[c.name for c in cases]}.")
        cases = [c for c in cases if c.name in args.cases]

    header = f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
    if "cuda" in devices:
        header += f", GPU {torch.cuda.get_device_name()}"
        torch.backends.cudnn.benchmark = True
    print(header + (", channels_last" if args.channels_last else ""), flush=True)

    results: list[BenchResult] = []
    for case in cases:
        for device in devices:
            dtypes = args.dtype or (["fp32"] if device == "cpu" else ["fp32", "bf16", "fp16"])
            warmup = args.warmup if args.warmup is not None else (1 if device == "cpu" else 3)
            for dtype in dtypes:
                module = case.build()  # fresh float32 weights for every device/dtype (casts happen in place)
                for size in args.sizes:
                    row = run_case(case, size=size, device=device, dtype=dtype, batch=args.batch,
                                   repeats=args.repeats, warmup=warmup, channels_last=args.channels_last,
                                   module=module)
                    results.append(row)
                    print(format_table([row]).splitlines()[-1], flush=True)
    print()
    print(format_table(results))
    return results

