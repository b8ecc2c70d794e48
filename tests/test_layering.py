"""The architecture is enforced: layers, import direction, no cycles, where PIL/NumPy/the Hub may be imported (the
rules are listed in ``tests/_layering.py``), and module sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
from _layering import check_app, check_package, cycles, ui_modules

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harmonization"
MAX_LINES = 450
MODEL_FILES = {"phnet.py", "fmm.py"}


def test_the_package_follows_the_layering_rules() -> None:
    problems = check_package(PACKAGE, "harmonization")
    assert not problems, "\n".join(problems)


def test_the_app_contains_no_image_math() -> None:
    files = ui_modules(ROOT)
    assert ROOT / "app.py" in files and ROOT / "demo" / "layout.py" in files
    for path in files:
        assert check_app(path, "harmonization") == [], path


def test_image_math_in_the_ui_package_is_caught(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "app.py").write_text("import gradio\n")
    (tmp_path / "demo" / "handlers.py").write_text("import gradio as gr\nimport numpy as np\n")
    found = {path.name: check_app(path, "harmonization") for path in ui_modules(tmp_path)}
    assert found == {"app.py": [], "handlers.py": ["handlers.py:2: imports numpy; the UI contains no image math"]}


def test_the_package_never_imports_the_ui(tmp_path: Path) -> None:
    package = _write(tmp_path, {"__init__.py": "", "api.py": "from demo import layout\n"})
    assert check_package(package, "harmonization") == [
        "harmonization/api.py:1: api imports demo, which is reserved for app.py"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "harmonization" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "harmonization"


def test_a_deliberately_wrong_import_is_caught(tmp_path: Path) -> None:
    package = _write(tmp_path, {
        "__init__.py": "",
        "errors.py": "",
        "ops/__init__.py": "",
        "ops/mask.py": "import torch\nfrom ..pipelines import run\n",  # upwards, and ops importing pipelines
        "models/__init__.py": "",
        "models/net.py": "import numpy as np\nfrom ..ops import mask\n",  # numpy in a model file
        "hub/__init__.py": "import huggingface_hub\n",  # allowed here
        "pipelines/__init__.py": "",
        "pipelines/run.py": "from ..hub import x\nfrom .. import api\n",  # a higher layer (api)
        "api.py": "from .pipelines import run\nfrom PIL import Image\n",  # PIL outside image_io
        "image_io.py": "from PIL import Image\nimport numpy\n",  # allowed
    })
    problems = check_package(package, "harmonization")
    text = "\n".join(problems)
    assert "harmonization/ops/mask.py:2: ops.mask (layer 1) imports pipelines.run (layer 4)" in text
    assert "ops.mask imports pipelines.run; models/ and ops/ import only torch, ops and errors" in text
    assert "harmonization/models/net.py:1: models.net imports numpy" in text
    assert "harmonization/pipelines/run.py:2: pipelines.run (layer 4) imports api (layer 5)" in text
    assert "harmonization/api.py:2: api imports PIL" in text
    assert "import cycle: harmonization.api -> harmonization.pipelines.run -> harmonization.api" in text
    assert not any(p.startswith(("harmonization/hub/", "harmonization/image_io.py")) for p in problems)
    assert len(problems) == 6, text


def test_an_unassigned_module_is_reported(tmp_path: Path) -> None:
    package = _write(tmp_path, {"__init__.py": "", "utils.py": "import os\n"})
    assert check_package(package, "harmonization") == [
        "no layer is assigned to the module 'utils'; add it to RANKS in tests/_layering.py"]


def test_cycle_finder() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("path", sorted([*PACKAGE.rglob("*.py"), *ui_modules(ROOT)]), ids=lambda p: p.name)
def test_no_module_is_over_450_lines(path: Path) -> None:
    if path.name in MODEL_FILES:
        pytest.skip("model files may be longer (one architecture per file)")
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines; split it by concern"
