"""The demo for the scripts in this folder: ``app.py`` lives beside the package (a Space's entry point), so it is
loaded from its file here, once, instead of putting the checkout on ``sys.path``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

APP_FILE = Path(__file__).resolve().parents[1] / "app.py"


def load_app() -> ModuleType:
    """Import ``app.py`` as the module ``app`` (the same object on every call)."""
    if "app" in sys.modules:
        return sys.modules["app"]
    spec = importlib.util.spec_from_file_location("app", APP_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["app"] = module
    spec.loader.exec_module(module)
    return module
