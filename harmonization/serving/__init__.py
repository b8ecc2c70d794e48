"""The server side of the demo, without gradio: which files a request may open, lanes that keep slow work away from
fast work, a memory budget for concurrent jobs, and disk hygiene for results and downloads.

``app.py`` (the only module that imports gradio) calls these at the request boundary; they take plain values (paths,
numbers, callbacks), so they are tested without a server.
"""

from __future__ import annotations

from .disk import folder_bytes, install_sigterm_as_interrupt, sweep_older_than
from .lanes import (
    DEFAULT_TORCH_THREADS,
    Lane,
    LaneClosedError,
    LaneFullError,
    demo_lanes,
    torch_threads,
    yield_point,
)
from .memory import (
    BUDGET_ENV,
    MemoryBudget,
    MemoryBudgetError,
    estimate_job_bytes,
    memory_budget_from_env,
    parse_bytes,
    return_freed_memory_promptly,
)
from .uploads import REFUSED_MESSAGE, UploadGate, UploadRefusedError

__all__ = [
    "BUDGET_ENV",
    "DEFAULT_TORCH_THREADS",
    "REFUSED_MESSAGE",
    "Lane",
    "LaneClosedError",
    "LaneFullError",
    "MemoryBudget",
    "MemoryBudgetError",
    "UploadGate",
    "UploadRefusedError",
    "demo_lanes",
    "estimate_job_bytes",
    "folder_bytes",
    "install_sigterm_as_interrupt",
    "memory_budget_from_env",
    "parse_bytes",
    "return_freed_memory_promptly",
    "sweep_older_than",
    "torch_threads",
    "yield_point",
]
