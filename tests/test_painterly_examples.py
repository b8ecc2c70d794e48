"""The painterly example row (issue 18: every example used a photo method): one portrait example runs painterly
fusion at "preview" quality (seconds on a CPU when first clicked) and is warmed after every photo example, so the
start-up warm-up stays cheap (demo.examples, demo.warm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harmonization.serving.jobs import is_painterly, method_choices

pytestmark = pytest.mark.app

needs_painterly = pytest.mark.skipif("painterly" not in {n for _, n in method_choices()},
                                     reason="painterly fusion is not available here (no VGG weights)")


def _portrait_examples():  # noqa: ANN202  (gr.Examples)
    from demo import warm
    from demo.layout import build_demo

    build_demo()  # registers its examples in place of any earlier page's (other tests build pages too)

    found = [e for e in warm._PENDING if e.dataset.label == "Examples: portrait + background"]
    assert len(found) == 1
    return found[0]


@needs_painterly
def test_the_portrait_examples_have_a_painterly_row_at_preview_quality() -> None:
    examples = _portrait_examples()
    painterly = [row for row in examples.examples if is_painterly(row[6])]
    assert len(painterly) == 1, [row[6] for row in examples.examples]
    assert painterly[0][7] == "preview"
    assert [c.elem_id for c in examples.inputs][-2:] == ["method", "painterly_quality"]


@needs_painterly
def test_the_painterly_example_is_warmed_last() -> None:
    from demo import warm

    examples = _portrait_examples()
    order = warm.order()
    painterly_index = next(i for i, row in enumerate(examples.examples) if is_painterly(row[6]))
    assert order[-1] == (examples, painterly_index)
    assert len(order) == sum(len(e.examples) for e in warm._PENDING)  # every row once
    assert not any(is_painterly(e.examples[i][-2 if e is examples else -1]) for e, i in order[:-1])


@pytest.mark.slow
@needs_painterly
def test_the_painterly_example_runs_through_the_examples_cache(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Its first use computes it (as a lazy click does) and gives the three columns, painterly in the last."""
    examples = _portrait_examples()
    folder = tmp_path / "cache"
    monkeypatch.setattr(examples, "cached_folder", str(folder))
    monkeypatch.setattr(examples, "cached_file", str(folder / "log.csv"))
    monkeypatch.setattr(examples, "cached_indices_file", str(folder / "indices.csv"))
    index = next(i for i, row in enumerate(examples.examples) if is_painterly(row[6]))
    outputs = examples.load_from_cache(index)
    assert len(outputs) == 6
    assert "`painterly`" in outputs[5] and "`painterly-global`" in outputs[5], outputs[5]
    assert examples._get_cached_index_if_cached(index) is not None


def test_every_run_of_the_results_shows_one_progress_indicator() -> None:
    """Each event that fills the result columns (the two tabs' runs, their API twins, the examples' first runs)
    shows its progress on the chosen method's column only, not on all six outputs (the browser test checks it
    during a painterly run: tests/test_browser.py)."""
    import app

    config = app.demo.get_config_file()
    ids = {c["props"].get("elem_id"): c["id"] for c in config["components"] if c["props"].get("elem_id")}
    runs = [d for d in config["dependencies"]
            if ids["result_naive"] in d["outputs"] and d["backend_fn"] and d["show_progress"] != "hidden"]
    names = {d["api_name"] for d in runs}
    assert {"run_portrait_advanced", "run_composite_advanced", "run_portrait", "run_composite"} <= names, names
    assert sum(1 for name in names if str(name).startswith("load_example")) == 2, names
    for dep in runs:
        assert dep["show_progress_on"] == [ids["result_local"]], (dep["api_name"], dep["show_progress_on"])
