# ruff: noqa: F811  (the fixtures browser and page are imported from test_browser; tests take them by name)
"""The page at a phone's width (390 px) and the examples' tables, in headless Chromium (fixtures from
tests/test_browser.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from test_browser import (  # noqa: F401  (fixtures: browser, page)
    UI_TIMEOUT_MS,
    Browser,
    Page,
    _artifacts_dir,
    _screenshot,
    browser,
    expect,
    page,
)

pytestmark = [pytest.mark.app, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}

BOX_JS = """(id) => { const b = document.getElementById(id).getBoundingClientRect();
                     return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; }"""
ON_TOP_JS = """(id) => { const e = document.getElementById(id), b = e.getBoundingClientRect();
    const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
    return hit !== null && (hit === e || e.contains(hit)); }"""
TABLES_JS = """() => ['examples_portrait', 'examples_composite'].map(id => {
    const block = document.getElementById(id), table = block && block.querySelector('table');
    if (!table) return [id, null, null];
    const wrap = table.parentElement;
    return [id, Math.round(table.scrollWidth), Math.round(wrap.clientWidth)]; })"""


@pytest.fixture
def phone(browser: Browser, app_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)
    context.set_default_timeout(UI_TIMEOUT_MS)
    phone_page = context.new_page()
    phone_page.goto(app_url)
    expect(phone_page.locator("#fg_editor")).to_be_visible()
    try:
        yield phone_page
    finally:
        context.close()


def test_harmonize_is_on_screen_next_to_the_editor_at_phone_width(phone: Page) -> None:
    """At 390 px the run row was 1,500 px below the editor (two screens of scrolling between painting and
    Harmonize): with the editor's bottom on screen, Harmonize is on screen too, within one screen height of it, and
    nothing covers it; Stop is there as well, on the composite tab too."""
    for tab, editor, run, stop in (("Portrait + background", "fg_editor", "run_btn", "stop_btn"),
                                   ("Composite + mask", "comp_editor", "run_btn_composite", "stop_btn_composite")):
        phone.get_by_role("tab", name=tab).click()
        expect(phone.locator(f"#{editor}")).to_be_visible()
        phone.locator(f"#{editor}").evaluate("e => e.scrollIntoView({block: 'end'})")
        phone.wait_for_timeout(300)
        editor_box, run_box = phone.evaluate(BOX_JS, editor), phone.evaluate(BOX_JS, run)
        assert 0 <= editor_box["bottom"] <= PHONE["height"], editor_box
        assert 0 <= run_box["top"] and run_box["bottom"] <= PHONE["height"], (tab, run_box)
        assert run_box["right"] <= PHONE["width"] and run_box["left"] >= 0, (tab, run_box)
        assert abs(run_box["top"] - editor_box["bottom"]) < PHONE["height"], (tab, editor_box, run_box)
        assert phone.evaluate(ON_TOP_JS, run), f"{run} is covered by another element"
        expect(phone.locator(f"#{stop}")).to_be_in_viewport()
        assert phone.evaluate(ON_TOP_JS, stop), f"{stop} is covered by another element"
        phone.screenshot(path=str(_artifacts_dir() / f"mobile_run_button_{editor}.png"))  # the screen, as seen


@pytest.mark.parametrize("width", [1400, 390])
def test_the_examples_tables_fit_their_box(browser: Browser, app_url: str, width: int) -> None:
    """The examples' tables are no wider than their box (their long headers pushed them to 1,940 px in a 1,216 px
    box at 1400 px, and scrolled sideways at 390 px), and the page itself does not scroll sideways."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        tab = context.new_page()
        tab.goto(app_url)
        expect(tab.locator("#examples_portrait table")).to_be_visible(timeout=UI_TIMEOUT_MS)
        expect(tab.locator("#examples_composite table")).to_be_visible()
        tables = tab.evaluate(TABLES_JS)
        for name, table_width, box_width in tables:
            assert table_width is not None, f"{name}: no table"
            assert table_width <= box_width + 1, f"{name}: table {table_width} px wide in a {box_width} px box"
        assert tab.evaluate("() => document.documentElement.scrollWidth") <= width + 1
        tab.locator("#examples_portrait").scroll_into_view_if_needed()
        _screenshot(tab, f"examples_table_{width}")
    finally:
        context.close()
