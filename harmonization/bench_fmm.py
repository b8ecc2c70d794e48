"""Latency benchmark of the FMM network (cases for :mod:`harmonization.bench`, plus a stand-alone table).

Usage::

    python -m harmonization.bench_fmm [--sizes 256 512 1024] [--device cpu cuda] [--dtype fp32 bf16 fp16]
                                      [--repeats N] [--threads N] [--cases fmm fmm-literal]

Two cases with the same seeded released-width network (11.6 M parameters; latency does not depend on the
weights): ``fmm`` is the eval-mode fast path (folded batch norm, channels-last, reordered decoder, reduced
foreground attention); ``fmm-literal`` runs every layer as written (``model.fast = False``). Both use the fused
attention. CUDA rows (fp32, bf16, fp16) appear when CUDA is available.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import nn

from harmonization.bench import BenchCase, BenchResult, composite_and_mask, format_table, run_case

__all__ = ["build_seeded_fmm", "fmm_cases", "main"]


def build_seeded_fmm(fast: bool = True, seed: int = 0) -> nn.Module:
    """The released-width FMM with seeded random weights, in eval mode on CPU (float32).

    Args:
        fast: use the eval-mode fast path (``False`` runs every layer literally).
        seed: seed of the weight initialisation; both attention gains are set to 0.5 so that no path is idle.

    Returns:
        An :class:`harmonization.models.fmm.FMM` taking ``(image (B,3,S,S), mask (B,1,S,S))``, S a multiple of 8.
    """
    from harmonization.models.fmm import FMM

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


def main(argv: Sequence[str] | None = None) -> list[BenchResult]:
    """Print a Markdown latency table (median ms per image) and return its rows."""
    parser = argparse.ArgumentParser(prog="python -m harmonization.bench_fmm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square input sides")
    parser.add_argument("--device", nargs="+", choices=["cpu", "cuda"], default=None,
                        help="devices (default: cpu, plus cuda when available)")
    parser.add_argument("--dtype", nargs="+", choices=["fp32", "bf16", "fp16"], default=None,
                        help="dtypes (default: fp32 on CPU; fp32 bf16 fp16 on CUDA)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per row (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for CPU rows")
    parser.add_argument("--cases", nargs="+", default=None, help="only these cases (default: fmm fmm-literal)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    cuda_ok = torch.cuda.is_available()
    devices = [d for d in (args.device or ["cpu", "cuda"]) if d == "cpu" or cuda_ok]
    cases = [c for c in fmm_cases() if args.cases is None or c.name in args.cases]
    if not cases:
        raise SystemExit(f"No case among {args.cases}; available: {[c.name for c in fmm_cases()]}.")
    header = f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
    print(header + (f", GPU {torch.cuda.get_device_name()}" if "cuda" in devices else ""), flush=True)
    results: list[BenchResult] = []
    for case in cases:
        for device in devices:
            for dtype in args.dtype or (["fp32"] if device == "cpu" else ["fp32", "bf16", "fp16"]):
                module = case.build()
                for size in args.sizes:
                    row = run_case(case, size=size, device=device, dtype=dtype, repeats=args.repeats,
                                   warmup=1 if device == "cpu" else 3, module=module)
                    results.append(row)
                    print(format_table([row]).splitlines()[-1], flush=True)
    print()
    print(format_table(results))
    return results


if __name__ == "__main__":
    main()
