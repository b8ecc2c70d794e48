"""The UI package ``demo/`` beside ``app.py``: shipped with the Space and importable however ``app.py`` is loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT, load_script


def _tracked() -> bool:
    result = subprocess.run(["git", "ls-files", "demo"], cwd=REPO_ROOT, capture_output=True, text=True)
    return result.returncode == 0 and "demo/layout.py" in result.stdout


@pytest.mark.skipif(not _tracked(), reason="needs a git checkout with demo/ tracked")
def test_the_space_upload_carries_the_ui_package(tmp_path: Path) -> None:
    deploy = load_script("deploy_space")
    staged = deploy.stage(tmp_path / "space", hub_repo=None, revision=None)
    ui = {name for name in staged if name.startswith("demo/")}
    assert {"demo/__init__.py", "demo/layout.py", "demo/handlers.py"} <= ui
    assert ui == {p.relative_to(REPO_ROOT).as_posix() for p in (REPO_ROOT / "demo").rglob("*.py")}


def test_app_loaded_from_its_file_elsewhere_finds_the_ui_package(tmp_path: Path) -> None:
    """``scripts/_app.py`` loads ``app.py`` by path from any folder (the scripts' folder is first on sys.path)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from _app import load_app; app = load_app(); "
            "import gradio; assert isinstance(app.demo, gradio.Blocks); print(app.run_portrait.__module__)")
    result = subprocess.run([sys.executable, "-c", code, str(REPO_ROOT / "scripts")], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "demo.handlers"
