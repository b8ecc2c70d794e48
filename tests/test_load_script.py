"""``scripts/load_test.py`` against the demo served on 127.0.0.1: concurrent requests all succeed (no timing checks)."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType

import pytest
from conftest import load_script

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def load_test() -> ModuleType:
    """The script, imported from its file (``scripts/`` is not a package)."""
    return load_script("load_test")


def test_three_concurrent_requests_all_succeed(load_test: ModuleType, app_url: str) -> None:
    result = load_test.run_load(app_url, requests=3)
    assert result.errors == []
    assert result.successes == 3 and result.failures == 0
    assert len(result.latencies) == 3 and all(latency > 0 for latency in result.latencies)
    table = load_test.format_table(result)
    for row in ("requests", "successes", "failures", "p50", "p95", "max", "total wall time"):
        assert row in table


def test_failed_requests_are_counted_and_set_the_exit_status(load_test: ModuleType, app_url: str, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not an image")
    status = load_test.main(["--url", app_url, "--requests", "2", "--mask", str(garbage)])
    out = capsys.readouterr().out
    assert status == 1
    assert re.search(r"^successes\s+0$", out, re.MULTILINE) and re.search(r"^failures\s+2$", out, re.MULTILINE), out
    assert out.count("Could not read garbage.png") == 2  # each failure is listed with the app's message


def test_the_lane_table_has_a_row_per_lane(load_test: ModuleType) -> None:
    fast = load_test.LoadResult(requests=3, latencies=[1.0, 2.0, 3.0])
    slow = load_test.LoadResult(requests=2, latencies=[50.0], errors=["painterly: AppError: boom"])
    table = load_test.format_lanes(load_test.MixedResult(fast=fast, painterly=slow, painterly_running_at_fast_end=2))
    header, fast_row, slow_row, running, error = table.splitlines()
    assert header.split()[:4] == ["lane", "requests", "ok", "failed"] and "p95" in header
    assert fast_row.split() == ["fast", "3", "3", "0", "2.00", "2.90", "3.00"]
    assert slow_row.split()[:4] == ["painterly", "2", "1", "1"]
    assert running.endswith("2 of 2") and "boom" in error


def test_the_disk_growth_of_an_in_process_app_is_measured(load_test: ModuleType, app_url: str, tmp_path: Path
                                                          ) -> None:
    import app

    folders = load_test.result_folders()
    assert Path(app.DOWNLOADS_DIR) in folders and len(folders) == 2
    before = load_test.disk_bytes(folders)
    (Path(folders[0]) / "probe").mkdir(parents=True, exist_ok=True)
    (Path(folders[0]) / "probe" / "x.bin").write_bytes(b"x" * 1234)
    assert load_test.disk_bytes(folders) - before == 1234
    (Path(folders[0]) / "probe" / "x.bin").unlink()


@pytest.mark.slow
def test_a_mixed_run_measures_both_lanes(load_test: ModuleType, app_url: str) -> None:
    """One painterly "preview" job in flight (a minute or two on a CPU) and three fast requests."""
    result = load_test.run_mixed(app_url, painterly=1, fast=3, endpoint="harmonize_painterly")
    assert result.fast.errors == [] and result.painterly.errors == []
    assert result.fast.successes == 3 and result.painterly.successes == 1
    assert "fast" in load_test.format_lanes(result) and "painterly" in load_test.format_lanes(result)
