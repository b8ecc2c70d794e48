"""The README's gradio_client snippets run as written against the demo served on 127.0.0.1.

Every ```python block of the section "The demo's API (gradio_client)" is executed in a folder holding the files it
names (copies of our examples); the only change is the server's address (the README says 127.0.0.1:7860)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from PIL import Image

pytestmark = pytest.mark.app

SECTION = "### The demo's API (gradio_client)"
README_URL = "http://127.0.0.1:7860/"
EXAMPLES = REPO_ROOT / "examples"
FILES = {  # the names the snippets use -> our example files
    "composite.png": "astronaut_in_cafe.png",
    "mask.png": "astronaut_in_cafe_mask.png",
    "portrait.jpg": "skimage_astronaut.jpg",
    "scene.jpg": "gcompris_details_vincentvangogh0013.jpg",
}


def readme_snippets(text: str) -> list[str]:
    """The ```python blocks between ``SECTION`` and the next ``##``/``###`` heading."""
    start = text.index(SECTION) + len(SECTION)
    end = re.search(r"^#{2,3} ", text[start:], flags=re.MULTILINE)  # (a "# comment" in code is not one)
    section = text[start:start + end.start()] if end else text[start:]
    return re.findall(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def test_the_section_has_the_documented_chain() -> None:
    code = "\n".join(readme_snippets((REPO_ROOT / "README.md").read_text()))
    for name in ("/harmonize", "/auto_mask", "/refine_mask", "/run_portrait"):
        assert f'api_name="{name}"' in code, name


def test_readme_api_snippets_run_verbatim(app_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, example in FILES.items():
        shutil.copyfile(EXAMPLES / example, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    snippets = readme_snippets((REPO_ROOT / "README.md").read_text())
    assert snippets, f"no python block under {SECTION!r}"
    namespace: dict[str, object] = {}
    for code in snippets:
        assert README_URL in code or "client" in namespace, "the first snippet connects to the README's address"
        exec(compile(code.replace(README_URL, app_url), "README.md", "exec"), namespace)  # noqa: S102
    # What the chain produced: the harmonized PNG, and the three portrait columns at the scene's size.
    with Image.open(namespace["out_path"]) as out, Image.open(tmp_path / "composite.png") as composite:
        assert out.size == composite.size
    with Image.open(tmp_path / "scene.jpg") as scene:
        for path in (namespace["naive"], namespace["glob"], namespace["local"]):
            with Image.open(path) as column:
                assert column.size == scene.size
