"""Latency benchmark of the harmonisation networks.

Usage::

    python -m harmonization.bench phnet [--sizes 256 512 1024] [--device cpu cuda] [--dtype fp32 bf16 fp16]
                                       [--repeats N] [--warmup N] [--batch N] [--threads N] [--channels-last]

It prints a Markdown table with the median latency (ms per forward pass) and the throughput (images/s) of every
case of the chosen benchmark, for each device, dtype and square input size. Weights are random (seeded): latency
does not depend on them. Warm-up passes are excluded; everything runs under ``torch.inference_mode``. CUDA rows
appear only when CUDA is available.

Adding a network means adding one entry to :data:`BENCHMARKS`: a name mapped to a function returning a list of
:class:`BenchCase` (how to build the module and how to make its inputs).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["BenchCase", "BenchResult", "BENCHMARKS", "phnet_cases", "fmm_cases", "run_case", "format_table", "main"]

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class BenchCase:
    """One network to time.

    Attributes:
        name: label shown in the table (for example ``"phnet-iharmony"``).
        build: returns the module (float32, CPU, seeded random weights); it is moved to the device/dtype later.
        make_inputs: ``(batch, size, generator) -> tuple of float32 CPU tensors`` passed positionally to the module.
        size_multiple: input sizes are rounded up to a multiple of this.
    """

    name: str
    build: Callable[[], nn.Module]
    make_inputs: Callable[[int, int, torch.Generator], tuple[torch.Tensor, ...]]
    size_multiple: int = 1


@dataclass(frozen=True)
class BenchResult:
    """Timing of one (case, device, dtype, size) row; times in milliseconds per forward pass."""

    case: str
    device: str
    dtype: str
    size: int
    batch: int
    median_ms: float
    min_ms: float
    repeats: int

    @property
    def images_per_s(self) -> float:
        """Throughput at the median latency."""
        return 1000.0 * self.batch / self.median_ms


def composite_and_mask(batch: int, size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random composite ``(B, 3, S, S)`` in [0, 1] and an elliptical {0, 1} mask ``(B, 1, S, S)`` covering ~20 %."""
    composite = torch.rand(batch, 3, size, size, generator=generator)
    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
    ellipse = (axis[:, None] / 0.3) ** 2 + (axis[None, :] / 0.22) ** 2 <= 1.0
    mask = ellipse.to(torch.float32).expand(batch, 1, size, size).contiguous()
    return composite, mask


def _seeded(build: Callable[[], nn.Module], seed: int = 0) -> Callable[[], nn.Module]:
    def make() -> nn.Module:
        torch.manual_seed(seed)
        return build().eval()

    return make


def phnet_cases() -> list[BenchCase]:
    """Both published PHNet configurations."""
    from harmonization.models.phnet import PHNET_FFHQH, PHNET_IHARMONY, PHNet

    return [
        BenchCase(f"phnet-{config.name}", _seeded(lambda config=config: PHNet(config)), composite_and_mask, 8)
        for config in (PHNET_IHARMONY, PHNET_FFHQH)
    ]


def fmm_cases() -> list[BenchCase]:
    """The released FMM configuration (fused attention) and its layer-by-layer form (see bench_fmm)."""
    from harmonization.bench_fmm import fmm_cases as cases

    return cases()


BENCHMARKS: dict[str, Callable[[], list[BenchCase]]] = {
    "phnet": phnet_cases,
    "fmm": fmm_cases,
    "all": lambda: phnet_cases() + fmm_cases(),
}


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_case(
    case: BenchCase,
    *,
    size: int,
    device: str = "cpu",
    dtype: str = "fp32",
    batch: int = 1,
    repeats: int = 5,
    warmup: int = 1,
    channels_last: bool = False,
    module: nn.Module | None = None,
) -> BenchResult:
    """Time ``case`` at one input size.

    Args:
        case: what to run.
        size: side of the square input in pixels (rounded up to ``case.size_multiple``).
        device: ``"cpu"`` or ``"cuda"``.
        dtype: ``"fp32"``, ``"bf16"`` or ``"fp16"`` (weights and inputs are cast).
        batch: images per forward pass.
        repeats: timed passes (median reported).
        warmup: untimed passes first (kernel selection, allocator warm-up).
        channels_last: use the channels-last memory format for weights and inputs.
        module: an already built module to reuse (it is moved to the device/dtype).

    Returns:
        The timing row.
    """
    if dtype not in _DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; expected one of {sorted(_DTYPES)}.")
    if repeats < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"repeats and batch must be >= 1 and warmup >= 0, got {repeats}, {batch}, {warmup}.")
    size = -(-size // case.size_multiple) * case.size_multiple
    torch_device = torch.device(device)
    torch_dtype = _DTYPES[dtype]
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = (module if module is not None else case.build()).to(torch_device, torch_dtype)
    model = model.to(memory_format=memory_format)
    generator = torch.Generator().manual_seed(0)
    inputs = tuple(
        t.to(torch_device, torch_dtype).contiguous(memory_format=memory_format)
        for t in case.make_inputs(batch, size, generator)
    )
    times: list[float] = []
    with torch.inference_mode():
        for index in range(warmup + repeats):
            _synchronize(torch_device)
            start = time.perf_counter()
            model(*inputs)
            _synchronize(torch_device)
            if index >= warmup:
                times.append(1000.0 * (time.perf_counter() - start))
    return BenchResult(case.name, device, dtype, size, batch, statistics.median(times), min(times), repeats)


def format_table(results: Sequence[BenchResult]) -> str:
    """Markdown table of the results."""
    lines = [
        "| network | device | dtype | size | batch | median ms | min ms | images/s |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.case} | {r.device} | {r.dtype} | {r.size}x{r.size} | {r.batch} | {r.median_ms:.1f} | "
            f"{r.min_ms:.1f} | {r.images_per_s:.2f} |"
        )
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harmonization.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS), help="which network family to time")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024], help="square input sides")
    parser.add_argument("--device", nargs="+", choices=["cpu", "cuda"], default=None,
                        help="devices (default: cpu, plus cuda when available)")
    parser.add_argument("--dtype", nargs="+", choices=sorted(_DTYPES), default=None,
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


if __name__ == "__main__":
    main()
