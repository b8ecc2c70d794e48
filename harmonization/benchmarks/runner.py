"""The benchmark runner: timing of one case (:func:`run_case`) and the Markdown tables every benchmark prints.

A :class:`BenchCase` says how to build a module and make its inputs; :func:`run_case` times it at one size on one
device and dtype (warm-up passes excluded, ``torch.inference_mode``, CUDA synchronised); :func:`format_table`
prints latency rows and :func:`markdown_table` any other table (quality benchmarks use it too).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["DTYPES", "BenchCase", "BenchResult", "composite_and_mask", "format_table", "markdown_table", "run_case"]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


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
    if dtype not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; expected one of {sorted(DTYPES)}.")
    if repeats < 1 or warmup < 0 or batch < 1:
        raise ValueError(f"repeats and batch must be >= 1 and warmup >= 0, got {repeats}, {batch}, {warmup}.")
    size = -(-size // case.size_multiple) * case.size_multiple
    torch_device = torch.device(device)
    torch_dtype = DTYPES[dtype]
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


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], align: str = "") -> str:
    """A Markdown table; ``align`` holds one character per column (``l`` or ``r``, default left)."""
    marks = ["---:" if (align[i:i + 1] == "r") else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def format_table(results: Sequence[BenchResult]) -> str:
    """Markdown table of latency results."""
    rows = [(r.case, r.device, r.dtype, f"{r.size}x{r.size}", r.batch, f"{r.median_ms:.1f}", f"{r.min_ms:.1f}",
             f"{r.images_per_s:.2f}") for r in results]
    return markdown_table(("network", "device", "dtype", "size", "batch", "median ms", "min ms", "images/s"), rows,
                          "llllrrrr")


