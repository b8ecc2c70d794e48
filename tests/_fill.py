"""The conformance weight generator of the specs (tests/data/fill_weights.py), loaded once for the model tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

DATA = Path(__file__).parent / "data"


def _load_fill() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fill_weights", DATA / "fill_weights.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FILL = _load_fill()
