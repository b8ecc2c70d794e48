# ruff: noqa: F811  (the fixtures browser and page are imported from test_browser; tests take them by name)
"""The painterly note in the page (headless Chromium): choosing a painterly method with a background shows the run's
estimated time, and a smooth photo as background adds the "smooth for a painting" warning."""

from __future__ import annotations

import re

import pytest
from test_browser import (  # noqa: F401  (fixtures: browser, page)
    EXAMPLES,
    Page,
    _choose_method,
    _screenshot,
    _upload_background,
    browser,
    expect,
    page,
)

pytestmark = [pytest.mark.app, pytest.mark.browser]


def test_painterly_note_gives_the_time_and_warns_on_a_photo_background(page: Page) -> None:
    note = page.locator("#painterly_note")
    _upload_background(page, EXAMPLES / "matplotlib_grace_hopper.jpg")  # a photo
    expect(note).not_to_contain_text("Estimated time")  # a photo method is chosen: no note
    _choose_method(page, "Painterly")
    expect(note).to_contain_text(re.compile(r"about \d+ s on this server"), timeout=30_000)
    expect(note).to_contain_text("smooth for a painting")
    page.locator("#painterly_quality input[type=radio][value='preview']").check()
    expect(note).to_contain_text(re.compile(r"about [4-7] s on this server"), timeout=30_000)
    _screenshot(page, "painterly_note_photo")
    page.locator("#bg_image").get_by_role("button", name=re.compile("Clear|Remove", re.I)).first.click()
    _upload_background(page, EXAMPLES / "opencv_starry_night.jpg")  # a painting: the time only
    expect(note).not_to_contain_text("smooth", timeout=30_000)
    expect(note).to_contain_text(re.compile(r"about \d+ s on this server"))
    _screenshot(page, "painterly_note_painting")


def test_painterly_note_on_the_composite_tab(page: Page) -> None:
    from test_browser_page import COMPOSITE, _open_composite_tab, _upload_to

    _open_composite_tab(page)
    _upload_to(page, "comp_editor", COMPOSITE)
    note = page.locator("#painterly_note_composite")
    expect(note).not_to_contain_text("Estimated time")
    page.locator("#method_composite input").click()
    page.get_by_role("option", name=re.compile(r"Painterly")).first.click()
    expect(note).to_contain_text(re.compile(r"about \d+ s on this server"), timeout=30_000)
    expect(note).not_to_contain_text("smooth")  # the night cafe is a painting
    _screenshot(page, "painterly_note_composite")
