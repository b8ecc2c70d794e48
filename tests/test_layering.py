"""Architecture rules: models and ops import only torch (and ops); only checkpoints.py talks to the Hub; only
image_io.py converts PIL/NumPy; the UI contains no image math."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harmonization"


def _imports(path: Path) -> set[str]:
    """Top-level names imported by a file (relative imports of our own package are not listed)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {n if n.startswith("harmonization") else n.split(".")[0] for n in names}


FORBIDDEN_IN_CORE = {"PIL", "numpy", "huggingface_hub", "gradio", "safetensors", "cv2", "requests", "urllib"}


@pytest.mark.parametrize("folder", ["models", "ops"])
def test_models_and_ops_import_only_torch_and_ops(folder: str) -> None:
    for path in sorted((PACKAGE / folder).glob("*.py")):
        imported = _imports(path)
        bad = imported & FORBIDDEN_IN_CORE
        bad |= {n for n in imported if n.startswith("harmonization")
                and not n.startswith(("harmonization.ops", "harmonization.models"))}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}; models/ and ops/ import only torch and ops"


def test_only_the_checkpoint_module_talks_to_the_hub() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name != "checkpoints.py":
            assert "huggingface_hub" not in _imports(path), f"{path.relative_to(ROOT)} imports huggingface_hub"


def test_numpy_conversions_live_in_image_io() -> None:
    allowed = {"image_io.py", "metrics.py"}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name not in allowed:
            assert "numpy" not in _imports(path), f"{path.relative_to(ROOT)} imports numpy; convert in image_io.py"


def test_app_has_no_image_math() -> None:
    imported = _imports(ROOT / "app.py")
    assert not imported & {"torch", "numpy", "PIL", "kornia", "cv2"}, sorted(imported)
