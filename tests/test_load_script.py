"""``scripts/load_test.py`` against the demo served on 127.0.0.1: concurrent requests all succeed (no timing checks)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.app


@pytest.fixture(scope="module")
def load_test() -> ModuleType:
    """The script, imported from its file (``scripts/`` is not a package)."""
    path = REPO_ROOT / "scripts" / "load_test.py"
    spec = importlib.util.spec_from_file_location("load_test", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


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
