"""``harmonization publish``: the folder it uploads, served by a local Hub stand-in, is what the resolver downloads
and what the networks then run from; the upload itself goes through huggingface_hub's API calls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _hub_server import HubServer
from conftest import make_scene

import harmonization
from harmonization.hub import get_checkpoint_spec, load_network, read_metadata, resolve_checkpoint
from harmonization.hub.loading import clear_cache
from harmonization.hub.publish import build_folder, main, our_checkpoints, publish
from harmonization.models._pretrained import OUR_HUB_REVISION

OURS = ["phnet-shared-photos", "fmm-shared-photos"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("publish") / "repo"
    build_folder(out)
    return out


def test_our_checkpoints_are_the_shipped_networks() -> None:
    assert our_checkpoints() == OURS


def test_dry_run_writes_the_folder_and_uploads_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--repo", "someone/harmonization", "--dry-run", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Would upload 7 files" in out and "Dry run: nothing was uploaded" in out
    for name in OURS:
        assert f"{name}/model.safetensors" in out


def test_bad_arguments_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--repo", "no-slash", "--dry-run"])
    assert info.value.code == 2 and "OWNER/NAME" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--repo", "a/b", "--dry-run", "--names", "vgg19"])
    assert info.value.code == 2 and "not one of our published networks" in capsys.readouterr().err


def test_folder_layout_config_and_card(folder: Path) -> None:
    from huggingface_hub import ModelCard

    for name in OURS:
        spec = get_checkpoint_spec(name)
        shipped = resolve_checkpoint(name, allow_network=False).path
        assert (folder / name / "model.safetensors").read_bytes() == shipped.read_bytes()
        config = json.loads((folder / name / "config.json").read_text())
        metadata = read_metadata(shipped)
        assert config["arch"] == spec.arch and config["resolution"] == spec.resolution
        assert config["strength"] == float(metadata.get("strength", "1"))
        assert config["transfer"] == metadata.get("transfer", "affine")
        assert (folder / name / "README.md").read_text().startswith(f"# Model card: `{name}`")
    card = ModelCard.load(folder / "README.md")  # the Hub's own parser of the YAML header
    assert card.data.license == "mit" and card.data.library_name == "harmonization"
    assert {"image-harmonization", "phnet", "fmm"} <= set(card.data.tags)
    for name in OURS:
        assert f"## `{name}`" in card.text and "held-out" in card.text.lower()


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No local checkpoint files, an empty Hub cache, and downloads allowed (the test session is offline)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HARMONIZATION_CHECKPOINTS_DIR", str(tmp_path / "no_local_files"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub_cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    clear_cache()
    yield
    clear_cache()


def test_the_resolver_downloads_the_published_folder_and_the_networks_run_from_it(
        folder: Path, online: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    source = get_checkpoint_spec("phnet-shared-photos").hub_sources[0]
    monkeypatch.setenv("HARMONIZATION_HUB_REPO", "someone/harmonization")  # a fork's own repository
    with HubServer(folder, "someone/harmonization", source.revision) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        for name in OURS:
            resolved = resolve_checkpoint(name)
            assert resolved.origin == "hub", name
            assert resolved.path.read_bytes() == (folder / name / "model.safetensors").read_bytes()
        # pinned: only the tagged revision was asked for
        assert all(f"/resolve/{source.revision}/" in path for _, path in hub.requests)
    # offline again: the methods find the files in the Hub cache, with their settings from the metadata
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert resolve_checkpoint("phnet-shared-photos").origin == "hub-cache"
    loaded = load_network("phnet-shared-photos", "cpu")
    assert (loaded.resolution, loaded.transfer, loaded.strength) == (320, "global", 0.6)
    assert "hub-cache" in harmonization.get_method("phnet").describe_source()
    image, mask = make_scene(48, 64)
    out = np.asarray(harmonization.harmonize(image, mask, method="fmm", device="cpu"))
    assert (out[~mask] == image[~mask]).all() and (out[mask] != image[mask]).any()


def test_without_the_tag_nothing_is_downloaded(folder: Path, online: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARMONIZATION_HUB_REPO", "someone/harmonization")
    with HubServer(folder, "someone/harmonization", "main") as hub:  # published, but never tagged
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        with pytest.raises(FileNotFoundError, match=f"someone/harmonization@{OUR_HUB_REVISION}"):
            resolve_checkpoint("phnet-shared-photos")


class _RecordingApi:
    """Records the huggingface_hub.HfApi calls publish() makes (the upload itself needs the real Hub)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id: str, **kwargs: object) -> None:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self, **kwargs: object) -> object:
        self.calls.append(("upload_folder", kwargs))
        return type("Commit", (), {"oid": "c0ffee", "commit_url": "https://huggingface.co/x/y/commit/c0ffee"})()

    def create_tag(self, repo_id: str, **kwargs: object) -> None:
        self.calls.append(("create_tag", {"repo_id": repo_id, **kwargs}))


def test_publish_creates_the_repo_uploads_the_folder_and_tags_the_pinned_revision(folder: Path) -> None:
    api = _RecordingApi()
    assert publish("someone/harmonization", folder, api=api).endswith("/commit/c0ffee")
    names = [name for name, _ in api.calls]
    assert names[:2] == ["create_repo", "upload_folder"] and set(names[2:]) == {"create_tag"}
    assert api.calls[0][1] == {"repo_id": "someone/harmonization", "repo_type": "model", "exist_ok": True,
                               "private": False}
    assert api.calls[1][1]["folder_path"] == str(folder) and api.calls[1][1]["repo_id"] == "someone/harmonization"
    assert {c[1]["tag"] for c in api.calls[2:]} == {OUR_HUB_REVISION}
    assert all(c[1]["revision"] == "c0ffee" for c in api.calls[2:])
