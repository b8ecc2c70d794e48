"""The examples' cache is filled by a background thread after launch (demo.warm), not by the first user's click."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.app


@pytest.mark.slow
def test_warm_fills_the_lazy_cache_of_every_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import app  # noqa: F401  (builds the page, which registers its examples)
    from demo import warm

    assert warm._PENDING, "the page registers its examples for warming"
    for i, examples in enumerate(warm._PENDING):  # a fresh cache folder for each (not the checkout's .gradio)
        folder = tmp_path / f"cache{i}"
        monkeypatch.setattr(examples, "cached_folder", str(folder))
        monkeypatch.setattr(examples, "cached_file", str(folder / "log.csv"))
        monkeypatch.setattr(examples, "cached_indices_file", str(folder / "indices.csv"))
        assert examples._get_cached_index_if_cached(0) is None
    monkeypatch.setenv(warm.WARM_ENV, "1")
    messages: list[str] = []
    thread = warm.start(messages.append)
    assert thread is not None and thread.daemon
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert not [m for m in messages if "could not be cached" in m], messages
    for examples in warm._PENDING:
        for index in range(len(examples.examples)):
            assert examples._get_cached_index_if_cached(index) is not None
        outputs = examples.load_from_cache(0)  # read from the cache now: the three result images and notes
        assert len(outputs) == 6 and "local" in outputs[5]


def test_warm_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from demo import warm

    monkeypatch.setenv(warm.WARM_ENV, "0")
    assert warm.start() is None
