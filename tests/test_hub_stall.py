"""A Hub mirror that answers HEAD but stalls every GET: a named Hub checkpoint gives up within seconds and says why.

The probe found such an endpoint made the resolver wait about 397 s (huggingface_hub retries). Every wait is bounded
now (``harmonization.hub.download``: connect 3 s, first byte 5 s, each read 10 s); this test points ``HF_ENDPOINT``
at a local server that behaves like that and resolves a temporarily registered checkpoint by name, through the
library and through the command line.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harmonization import cli
from harmonization.errors import CheckpointNotFoundError
from harmonization.hub import CheckpointSpec, HubSource, register_checkpoint, resolve_checkpoint
from harmonization.hub import registry as hub_registry
from harmonization.hub.download import DOWNLOAD_TIMEOUT_S

NAME = "test-stalling-hub"
HANG_GUARD_S = 120.0  # far above the bound: only catches a resolver that hangs (~400 s before the fix)


class _StallingServer:
    """HEAD gets a Hub-like answer at once; GET gets nothing until the test ends."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.gets = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_HEAD(self) -> None:  # noqa: N802 - name fixed by http.server
                self.send_response(200)
                for key, value in {"Content-Length": "1024", "ETag": '"abc"', "X-Repo-Commit": "0" * 40}.items():
                    self.send_header(key, value)
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                server.gets += 1
                server.release.wait(HANG_GUARD_S)  # accept the request, never answer it

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - silence the access log
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)


@pytest.fixture
def stalling_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_StallingServer]:
    """The server, HF_ENDPOINT pointing at it, empty caches, network allowed, and the checkpoint registered."""
    from huggingface_hub import constants

    server = _StallingServer()
    server.thread.start()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HARMONIZATION_CHECKPOINTS_DIR", str(tmp_path / "checkpoints"))
    monkeypatch.setenv("HARMONIZATION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for variable in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    # Undo the test session's offline mode (see tests/test_hub.py::_allow_network).
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_registry, "_REGISTRY", dict(hub_registry._REGISTRY))  # the registration is undone
    register_checkpoint(CheckpointSpec(name=NAME, arch="phnet", resolution=64, config="iharmony",
                                       sources=(HubSource("org/stalling", "model.safetensors", "phnet-safetensors"),)))
    yield server
    server.release.set()
    server.httpd.shutdown()
    server.httpd.server_close()


def _in_thread(fn: object) -> tuple[BaseException | None, float]:
    """Run ``fn`` in a thread; its exception and how long it took (a hang fails the test instead of blocking)."""
    outcome: list[BaseException | None] = [None]

    def target() -> None:
        try:
            fn()  # type: ignore[operator]
        except BaseException as exc:  # handed to the test
            outcome[0] = exc

    started = time.monotonic()
    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(HANG_GUARD_S)
    assert not worker.is_alive(), f"the resolver was still waiting after {HANG_GUARD_S:.0f} s"
    return outcome[0], time.monotonic() - started


def test_a_named_hub_checkpoint_gives_up_on_a_stalling_mirror(stalling_hub: _StallingServer) -> None:
    error, seconds = _in_thread(lambda: resolve_checkpoint(NAME))
    print(f"resolver gave up after {seconds:.1f} s")
    assert isinstance(error, CheckpointNotFoundError), error
    message = str(error)
    assert f"{stalling_hub.url} unreachable" in message and "no answer within the time limit" in message
    assert "org/stalling" in message and "model.safetensors" in message  # which file, from where
    assert stalling_hub.gets >= 1  # it did ask (and the HEAD alone did not count as an answer)
    assert seconds <= DOWNLOAD_TIMEOUT_S  # the bound; the probe gives up after its 5 s first-byte limit


def test_the_command_line_says_why_without_a_traceback(stalling_hub: _StallingServer,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    codes: list[int] = []
    error, seconds = _in_thread(lambda: codes.append(cli.main(["download", NAME])))
    assert error is None and codes == [2]
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "unreachable" in err and "no answer within the time limit" in err
    assert "Traceback" not in err
