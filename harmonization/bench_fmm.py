"""Latency benchmark cases of the FMM network for :mod:`harmonization.bench`.

Usage (both are the same table; ``all`` adds PHNet)::

    python -m harmonization.bench fmm [--sizes 256 512 1024] [--device cpu cuda] [--dtype fp32 bf16 fp16]
                                      [--repeats N] [--threads N] [--cases fmm fmm-literal]
    python -m harmonization.bench_fmm [same options]

Two cases with the same seeded released-width network (11.6 M parameters; latency does not depend on the
weights): ``fmm`` is the eval-mode fast path (folded batch norm, channels-last, reordered decoder, reduced
foreground attention); ``fmm-literal`` runs every layer as written (``model.fast = False``). Both use the fused
attention. CUDA rows (fp32, bf16, fp16) appear when CUDA is available.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import torch
from torch import nn

from harmonization.bench import BenchCase, BenchResult, composite_and_mask

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
    """``python -m harmonization.bench fmm ...``: print the Markdown latency table and return its rows."""
    from harmonization import bench

    return bench.main(["fmm", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
