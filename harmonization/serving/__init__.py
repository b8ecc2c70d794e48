"""The server side of the demo, without gradio: which files a request may open and how much memory concurrent jobs
may take.

``app.py`` (the only module that imports gradio) calls these at the request boundary; they take plain values (paths,
numbers, callbacks), so they are tested without a server.
"""

from __future__ import annotations

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
    "REFUSED_MESSAGE",
    "MemoryBudget",
    "MemoryBudgetError",
    "UploadGate",
    "UploadRefusedError",
    "estimate_job_bytes",
    "memory_budget_from_env",
    "parse_bytes",
    "return_freed_memory_promptly",
]
