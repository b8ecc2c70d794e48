"""Disk hygiene: results swept by age, the server's results removed on SIGTERM as on Ctrl-C, uploads limited.

The shutdown tests start ``python app.py`` as a real process (its temporary folder under the test's own), make a
request, stop it with a signal and look at what is left.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, free_port
from PIL import Image

from harmonization.serving import folder_bytes, sweep_older_than

HOUR = 3600.0


def _age(path: Path, seconds: float) -> None:
    """Make ``path`` (and, for a folder, everything in it) look ``seconds`` old."""
    then = time.time() - seconds
    inside = list(path.rglob("*")) if path.is_dir() and not path.is_symlink() else []
    for item in (*inside, path):
        os.utime(item, (then, then), follow_symlinks=False)


def test_sweep_removes_only_what_is_older_than_the_age(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    (folder / "old-run").mkdir(parents=True)
    (folder / "old-run" / "a.png").write_bytes(b"a" * 10)
    (folder / "new-run").mkdir()
    (folder / "new-run" / "b.png").write_bytes(b"b" * 10)
    (folder / "old.png").write_bytes(b"c")
    outside = tmp_path / "keep.png"
    outside.write_bytes(b"keep")
    (folder / "old-link").symlink_to(outside)
    for entry in ("old-run", "old.png", "old-link"):
        _age(folder / entry, 2 * HOUR)
    (folder / "old-dir-fresh-file").mkdir()
    (folder / "old-dir-fresh-file" / "in-use.png").write_bytes(b"used again just now")
    os.utime(folder / "old-dir-fresh-file", (time.time() - 2 * HOUR,) * 2)  # Gradio touches a cached copy it
    # hands out again: its folder stays old
    assert sweep_older_than(folder, HOUR) == 3
    assert sorted(p.name for p in folder.iterdir()) == ["new-run", "old-dir-fresh-file"]
    assert outside.read_bytes() == b"keep"  # a link is removed, never followed
    assert sweep_older_than(folder, 0) == 2 and list(folder.iterdir()) == []
    assert sweep_older_than(tmp_path / "missing", 0) == 0


def test_folder_bytes_counts_regular_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"x" * 100)
    (tmp_path / "y").write_bytes(b"y" * 23)
    (tmp_path / "link").symlink_to(tmp_path / "y")
    assert folder_bytes(tmp_path) == 123
    assert folder_bytes(tmp_path / "missing") == 0


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """``python app.py`` in a process of its own, its temporary folder (downloads, Gradio's cache) in ``tmp_path``,
    with leftovers of an earlier run there: old ones (to be swept) and a recent one."""
    temp = tmp_path / "tmp"
    downloads, cache = temp / "harmonization-downloads", temp / "harmonization-gradio"
    for folder in (downloads / "stale", cache / "stale", downloads / "recent"):
        folder.mkdir(parents=True)
        (folder / "result.png").write_bytes(b"left behind")
    for stale in (downloads / "stale", cache / "stale"):
        _age(stale, 2 * HOUR)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "GRADIO_TEMP_DIR"}
    env.update(TMPDIR=str(temp), GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               GRADIO_EXAMPLES_CACHE=str(tmp_path / "examples-cache"), PYTHONUNBUFFERED="1",
               HARMONIZATION_WARM_EXAMPLES="0")  # the examples' warm-up (demo/warm.py) would write its results into
    # the downloads folder while the test counts what one request left there (it did: 4 PNGs instead of 3)
    # Ctrl-C must reach the server even when this test runs in a background job (whose commands start with SIGINT
    # ignored, and Python then keeps ignoring it): the child starts with the default disposition.
    process = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), "--port", str(port)], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    url = f"http://127.0.0.1:{port}/"
    import httpx

    deadline = time.monotonic() + 240
    while True:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.5)
    try:
        yield process, url, temp
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def _request(url: str, tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    Image.fromarray(np.full((40, 30, 3), 128, np.uint8)).save(tmp_path / "p.png")
    layer = np.zeros((40, 30, 4), np.uint8)
    layer[8:36, 9:21] = (255, 45, 111, 255)
    Image.fromarray(layer).save(tmp_path / "l.png")
    Image.fromarray(np.full((60, 80, 3), 90, np.uint8)).save(tmp_path / "bg.png")
    editor = {"background": handle_file(str(tmp_path / "p.png")), "layers": [handle_file(str(tmp_path / "l.png"))],
              "composite": None}
    outputs = Client(url, verbose=False).predict(editor, handle_file(str(tmp_path / "bg.png")), 0.5, 0.5, 0.5, False,
                                                 "local", "preview", api_name="/run_portrait")
    assert len(outputs) == 6


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_results_are_swept_on_start_and_removed_on_shutdown(served: tuple[subprocess.Popen[str], str, Path],
                                                            tmp_path: Path, stop: signal.Signals) -> None:
    process, url, temp = served
    downloads, cache = temp / "harmonization-downloads", temp / "harmonization-gradio"
    assert not (downloads / "stale").exists() and not (cache / "stale").exists()  # swept by age on start
    assert (downloads / "recent").exists()  # younger than an hour: kept until shutdown
    _request(url, tmp_path)
    made = [p for p in downloads.rglob("*.png") if "recent" not in p.parts]
    cached = [p for p in cache.rglob("*") if p.is_file()]
    assert len(made) == 3 and cached  # the three downloads, and Gradio's copies of uploads and results
    process.send_signal(stop)
    output, _ = process.communicate(timeout=120)
    assert process.returncode is not None
    assert not any(downloads.rglob("*.png")), output  # every download, the earlier run's recent one too
    # Gradio deleted the uploads and results it created; what stays are its copies of the app's example files
    # (made when the page is built, in use again at the next start).
    examples = {p.name for p in (REPO_ROOT / "examples").iterdir()}
    left = sorted(p.name for p in cache.rglob("*") if p.is_file() and p.name not in examples)
    assert not left, (left, output)
    assert "Traceback" not in output
    assert " cached in " not in output and "could not be cached" not in output, output  # no warm-up ran


def test_uploads_have_a_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """``max_file_size`` in launch (``HARMONIZATION_MAX_UPLOAD``, default 100 MB): a larger upload gets HTTP 413."""
    import httpx

    import app
    from harmonization.serving import parse_bytes

    assert parse_bytes(app.MAX_UPLOAD) == 100 << 20
    monkeypatch.setattr(app, "MAX_UPLOAD", "4k")  # the same setting, small enough to test
    with app.serve_locally() as url:
        small = httpx.post(f"{url}gradio_api/upload", files={"files": ("s.png", b"x" * 1000)}, timeout=30)
        large = httpx.post(f"{url}gradio_api/upload", files={"files": ("l.png", b"x" * 8000)}, timeout=30)
    assert small.status_code == 200
    assert large.status_code == 413
