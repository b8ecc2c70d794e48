"""The repository as a Hugging Face Space: LFS patterns, the card's front matter (parsed by huggingface_hub), and
the deploy script's staged folder and API calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO_ROOT, load_script

from harmonization.models._pretrained import OUR_HUB_REVISION

KNOWN_HARDWARE = {"cpu-basic", "cpu-upgrade", "t4-small", "t4-medium", "l4x1", "a10g-small", "a10g-large",
                  "zero-a10g", "a100-large"}


@pytest.fixture(scope="module")
def deploy() -> ModuleType:
    return load_script("deploy_space")


def _git_available() -> bool:
    return (REPO_ROOT / ".git").exists() and subprocess.run(["git", "--version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _git_available(), reason="needs a git checkout")
def test_no_file_over_10_mb_is_outside_the_lfs_patterns(deploy: ModuleType) -> None:
    big = [f for f in deploy.tracked_files() if (REPO_ROOT / f).stat().st_size > deploy.MAX_PLAIN_BYTES]
    assert big, "the shipped checkpoints are over 10 MB; the test would check nothing otherwise"
    for name in big:
        result = subprocess.run(["git", "check-attr", "filter", "--", name], cwd=REPO_ROOT, capture_output=True,
                                text=True, check=True)
        assert result.stdout.strip().endswith("filter: lfs"), f"{name} is over 10 MB and not stored with LFS"


def test_the_space_front_matter_validates() -> None:
    import gradio
    from huggingface_hub import SpaceCard

    card = SpaceCard.load(REPO_ROOT / "README.md")
    data = card.data.to_dict()
    assert data["sdk"] == "gradio" and data["sdk_version"] == gradio.__version__
    assert data["python_version"] == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert (REPO_ROOT / data["app_file"]).is_file()
    assert 0 < len(data["short_description"]) <= 60
    assert data["suggested_hardware"] in KNOWN_HARDWARE
    assert "timm/vgg19.tv_in1k" in data["models"]
    for entry in data["preload_from_hub"]:
        repo, *rest = entry.split()
        assert repo.count("/") == 1 and len(rest) <= 2


@pytest.mark.skipif(not _git_available(), reason="needs a git checkout")
def test_deploy_stages_the_app_without_tests_and_preloads_published_weights(deploy: ModuleType,
                                                                            tmp_path: Path) -> None:
    from huggingface_hub import SpaceCard

    class Api:
        calls: list[tuple[str, tuple, dict]] = []

        def __getattr__(self, name: str):  # records create_repo, add_space_variable, upload_folder, model_info
            def call(*args: object, **kwargs: object) -> object:
                self.calls.append((name, args, kwargs))
                return type("Info", (), {"sha": "a" * 40, "commit_url": "https://hf.co/spaces/me/demo/commit/1"})()
            return call

    api = Api()
    assert deploy.main(["--space", "me/demo", "--hub-repo", "me/models", "--out", str(tmp_path / "s")], api=api) == 0
    staged = {str(p.relative_to(tmp_path / "s")) for p in (tmp_path / "s").rglob("*") if p.is_file()}
    assert {"app.py", "requirements.txt", "README.md", "checkpoints/selfie_segmentation.safetensors"} <= staged
    assert not any(name.startswith(("tests/", ".ci/")) for name in staged)
    assert not set(deploy.our_weight_files()) & staged  # they come from the model repository
    card = SpaceCard.load(tmp_path / "s" / "README.md").data.to_dict()
    assert card["preload_from_hub"][0] == (
        "me/models phnet-shared-photos/model.safetensors,fmm-shared-photos/model.safetensors " + "a" * 40)
    assert "me/models" in card["models"] and "harmonization-toolkit/checkpoints" not in card["models"]
    names = [c[0] for c in api.calls]
    assert names == ["model_info", "create_repo", "add_space_variable", "upload_folder"]
    assert api.calls[0][1] == ("me/models",) and api.calls[0][2] == {"revision": OUR_HUB_REVISION}
    assert api.calls[2][1] == ("me/demo", "HARMONIZATION_HUB_REPO", "me/models")
    assert api.calls[3][2]["repo_type"] == "space" and api.calls[3][2]["folder_path"] == str(tmp_path / "s")
