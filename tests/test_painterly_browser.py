# ruff: noqa: F811  (the fixtures browser and page are imported from test_browser; tests take them by name)
"""Painterly runs in the page, in headless Chromium (fixtures and helpers from tests/test_browser.py and
tests/test_browser_page.py): one progress indicator per run, not one per output."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from test_browser import (  # noqa: F401  (fixtures: browser, page)
    PAINTERLY_TIMEOUT_MS,
    Page,
    _result_image,
    _screenshot,
    _wait_for_results,
    browser,
    expect,
    page,
)
from test_browser_page import COMPOSITE, _open_composite_tab, _stroke, _upload_to

pytestmark = [pytest.mark.app, pytest.mark.browser]

VISIBLE_TRACKERS_JS = """() => [...document.querySelectorAll('[data-testid=status-tracker]')].filter(t => {
    const r = t.getBoundingClientRect(), s = getComputedStyle(t);
    return r.width > 0 && r.height > 0 && s.display !== 'none' && s.visibility !== 'hidden' && s.opacity !== '0'
        && t.innerText.trim() !== '';
}).map(t => (t.closest('[id]') || {}).id || '?')"""
"""The element ids of the status trackers that show something (a timer, a progress bar, a queue position)."""


def _trackers_until_results(page: Page, polls: int = 3000) -> list[list[str]]:
    """Sample the visible progress indicators every 0.1 s until the chosen method's column has its result."""
    seen = []
    for _ in range(polls):
        trackers = page.evaluate(VISIBLE_TRACKERS_JS)
        if trackers:
            seen.append(trackers)
        if page.locator("#result_local img").count() and not trackers:
            break
        page.wait_for_timeout(100)
    return seen


@pytest.mark.slow
def test_a_painterly_run_shows_one_progress_indicator(page: Page) -> None:
    """A painterly run (preview) on the composite tab: while it runs, exactly one progress indicator is on the page,
    on the chosen method's column (all six outputs showed the same timer and bar: three progress bars in a row)."""
    _open_composite_tab(page)
    _upload_to(page, "comp_editor", COMPOSITE)
    size = Image.open(COMPOSITE).size
    _stroke(page, "comp_editor", size, [(90, 260), (290, 260), (90, 360), (290, 360), (90, 460), (290, 460)])
    page.locator("#method_composite input").click()
    page.get_by_role("option", name=re.compile(r"Painterly")).first.click()
    page.locator("#painterly_quality_composite input[type=radio][value='preview']").check()
    page.locator("#run_btn_composite").click()
    expect(page.locator("#result_local [data-testid=status-tracker]")).to_contain_text(
        re.compile(r"\d+(\.\d+)?s"), timeout=PAINTERLY_TIMEOUT_MS)
    _screenshot(page, "painterly_one_progress")
    seen = _trackers_until_results(page)
    _wait_for_results(page, PAINTERLY_TIMEOUT_MS)
    assert seen, "no progress indicator was seen during the run"
    several = [s for s in seen if len(s) != 1]
    assert not several, f"{len(several)} of {len(seen)} samples showed several progress indicators, e.g. {several[0]}"
    assert {s[0] for s in seen} == {"result_local"}, {s[0] for s in seen}
    assert _result_image(page, "local").size > 0
