"""The examples' cache is filled by a background thread after launch (demo.warm), not by the first user's click."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.app


@pytest.mark.slow
def test_warm_fills_the_lazy_cache_of_every_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every photo example is cached by the thread. ``fast``: the painterly example is left out here (a minute of
    CPU; its warm-up order and its run through the cache are tests/test_painterly_examples.py's)."""
    from demo import warm
    from demo.layout import build_demo

    build_demo()  # registers its examples in place of any earlier page's

    assert warm._PENDING, "the page registers its examples for warming"
    for i, examples in enumerate(warm._PENDING):  # a fresh cache folder for each (not the checkout's .gradio)
        folder = tmp_path / f"cache{i}"
        monkeypatch.setattr(examples, "cached_folder", str(folder))
        monkeypatch.setattr(examples, "cached_file", str(folder / "log.csv"))
        monkeypatch.setattr(examples, "cached_indices_file", str(folder / "indices.csv"))
        assert examples._get_cached_index_if_cached(0) is None
    monkeypatch.setenv(warm.WARM_ENV, "fast")
    every = {(id(e), i) for e in warm._PENDING for i in range(len(e.examples))}
    skipped = every - {(id(e), i) for e, i in warm.order()}
    slow = {(id(e), i) for e in warm._PENDING for i, row in enumerate(e.examples)
            if id(e) in warm._SLOW and warm._SLOW[id(e)](row)}
    assert skipped == slow  # the painterly row, where painterly fusion is available
    messages: list[str] = []
    thread = warm.start(messages.append)
    assert thread is not None and thread.daemon
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert not [m for m in messages if "could not be cached" in m], messages
    for examples in warm._PENDING:
        for index in range(len(examples.examples)):
            cached = examples._get_cached_index_if_cached(index) is not None
            assert cached == ((id(examples), index) not in skipped), (examples.dataset.label, index)
        outputs = examples.load_from_cache(0)  # read from the cache now: the three result images and notes
        assert len(outputs) == 6 and "local" in outputs[5]


def test_warm_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from demo import warm

    monkeypatch.setenv(warm.WARM_ENV, "0")
    assert warm.start() is None


def test_preload_does_the_first_painterly_runs_one_time_work() -> None:
    """In a fresh interpreter: torch imports torch._dynamo on the first optimiser it builds (seconds holding the
    GIL, which stalled a server's fast requests during its first painterly job); demo.warm.preload does it, and
    loads the VGG weights, in a background thread."""
    code = (
        "import sys\n"
        "from demo import warm\n"
        "assert 'torch._dynamo' not in sys.modules, 'already imported: this test means nothing'\n"
        "messages = []\n"
        "warm.preload(messages.append).join(300)\n"
        "from harmonization.hub.loading import _CACHE\n"
        "print('torch._dynamo' in sys.modules, any(key[0] == 'vgg19' for key in _CACHE), messages)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    imported, vgg_cached, messages = done.stdout.strip().split(" ", 2)
    assert imported == "True" and vgg_cached == "True"
    assert "Painterly preloaded" in messages and "no VGG weights" not in messages, messages
