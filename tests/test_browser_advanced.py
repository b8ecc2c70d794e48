# ruff: noqa: F811  (the fixtures browser and page are imported from test_browser; tests take them by name)
"""In the browser (headless Chromium, as tests/test_browser.py, whose fixtures and helpers this reuses): the
any-object mask from a box or scribbles drawn with the mouse on a non-person object (the helmet the astronaut
holds), the Advanced options changing the result, and "Compare all methods"."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from test_browser import (  # noqa: F401  (fixtures: browser, page)
    PAINTING,
    PORTRAIT,
    RUN_TIMEOUT_MS,
    Page,
    _paint_over_subject,
    _result_image,
    _screenshot,
    _upload_background,
    _upload_portrait,
    _wait_for_results,
    browser,
    expect,
    page,
)
from test_browser_editor import _canvas, _pinkish

from harmonization.pipelines.registry import available_methods, get_method

pytestmark = [pytest.mark.app, pytest.mark.browser]

HELMET_BOX = (268, 331, 505, 512)  # around the helmet in the 512x512 astronaut photo (lower right)


def _to_screen(page: Page, x: float, y: float) -> tuple[float, float]:
    """Screen coordinates of pixel (x, y) of the 512x512 portrait, drawn centred and fitted in the editor canvas."""
    box = page.locator("#fg_editor .pixi-target canvas").bounding_box()
    assert box is not None
    side = min(box["width"], box["height"])
    left = box["x"] + (box["width"] - side) / 2
    top = box["y"] + (box["height"] - side) / 2
    return left + x / 512 * side, top + y / 512 * side


def _select_brush(page: Page) -> None:
    brush = page.locator("#fg_editor").get_by_role("button", name="Brush", exact=True)
    if "highlight" not in (brush.get_attribute("class") or ""):
        brush.click()
    expect(brush).to_have_class(re.compile(r"\bhighlight\b"))


def _draw(page: Page, points: list[tuple[float, float]]) -> None:
    _select_brush(page)
    page.mouse.move(*_to_screen(page, *points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*_to_screen(page, *point), steps=2)
    page.mouse.up()


def _wait_for_editor(page: Page) -> None:
    """Wait for the mask tool: its progress shows over the editor (on a busy machine it may take seconds to start),
    then goes."""
    progress = page.locator("#fg_editor [data-testid=status-tracker]").locator(".progress-text, .eta-bar")
    try:
        expect(progress.first).to_be_visible(timeout=15_000)
    except AssertionError:
        pass  # already done (a fast machine): nothing to wait for
    expect(progress).to_have_count(0, timeout=RUN_TIMEOUT_MS)


def _pasted(page: Page) -> tuple[float, float, float]:
    """(width, height) of what was pasted onto the painting in the naive result (pixels that changed), and the
    share of those pixels in the astronaut suit's orange (the person; the helmet is black and white)."""
    naive = _result_image(page, "naive")
    background = np.asarray(Image.open(PAINTING).convert("RGB"))
    changed = np.abs(naive.astype(int) - background.astype(int)).max(axis=2) > 8
    rows, cols = np.nonzero(changed)
    assert rows.size > 500, "nothing was pasted"
    r, g, b = (naive[changed][:, i].astype(int) for i in range(3))
    orange = float(((r > 150) & (r - b > 90) & (g > 50) & (g < 150)).mean())
    return (float(np.percentile(cols, 98) - np.percentile(cols, 2)),
            float(np.percentile(rows, 98) - np.percentile(rows, 2)), orange)


def _object_mask_then_run(page: Page, strokes: str, name: str) -> tuple[float, float]:
    page.locator("#object_mask_strokes").get_by_label(strokes).check()
    drawn = int(_pinkish(_canvas(page, "fg_editor")[0]).sum())
    page.locator("#object_mask_btn").click()
    _wait_for_editor(page)
    # The job's end is not the editor's redraw: Harmonize pressed before the editor has drawn the tool's layer runs
    # with the strokes (seen in 2 of 8 runs: the drawn box outline was pasted). Wait until the paint on the canvas
    # has changed from the strokes to the object mask.
    for _ in range(60):
        shown = int(_pinkish(_canvas(page, "fg_editor")[0]).sum())
        if abs(shown - drawn) > 0.2 * drawn:
            break
        page.wait_for_timeout(1000)
    assert abs(shown - drawn) > 0.2 * drawn, f"the editor still shows the strokes ({shown} vs {drawn} px of paint)"
    toast = page.get_by_test_id("toast-body")
    expect(toast).to_have_count(0)
    _upload_background(page, PAINTING)
    page.locator("#run_btn").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)
    width, height, orange = _pasted(page)
    _screenshot(page, name)
    assert orange < 0.05, f"{orange:.1%} of the pasted pixels are the orange suit: the person, not the helmet"
    return width, height


def test_object_mask_from_a_box_around_a_non_person_object(page: Page) -> None:
    _upload_portrait(page, PORTRAIT)
    x0, y0, x1, y1 = HELMET_BOX
    _draw(page, [(x0, y0), (x1, y0), (x1, y1 - 4), (x0, y1 - 4), (x0, y0)])
    width, height = _object_mask_then_run(page, "A box drawn around it", "object_mask_box")
    # The helmet is wider than tall (about 1.3:1); the astronaut (the people model's answer) is taller than wide.
    assert width > 1.05 * height, f"pasted {width:.0f}x{height:.0f}: not the helmet"


def test_object_mask_from_scribbles_on_a_non_person_object(page: Page) -> None:
    _upload_portrait(page, PORTRAIT)
    _draw(page, [(330, 400), (450, 400), (450, 440), (330, 440), (330, 480), (450, 480)])
    _object_mask_then_run(page, "Scribbles over the object", "object_mask_scribbles")


def _run_and_read(page: Page) -> tuple[np.ndarray, np.ndarray]:
    page.locator("#run_btn").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)
    naive, local = _result_image(page, "naive"), _result_image(page, "local")
    return naive, local


def test_advanced_options_change_the_result(page: Page) -> None:
    _upload_portrait(page, PORTRAIT)
    _paint_over_subject(page)
    _upload_background(page, PAINTING)
    # the placement preview sets the scale from the mask (until the user moves it): wait for it, or the second run
    # would paste at another scale than the first
    expect(page.locator("#placement_preview img")).to_be_visible(timeout=RUN_TIMEOUT_MS)
    naive, default = _run_and_read(page)
    assert not np.array_equal(default, naive)

    page.locator("#advanced").get_by_text("Advanced").first.click()
    checkbox = page.locator("#adv_strength_default input[type=checkbox]")
    expect(checkbox).to_be_visible()
    checkbox.uncheck()
    number = page.locator("#adv_strength input[type=number]")
    number.fill("0")
    number.press("Enter")
    expect(number).to_have_value(re.compile(r"^0(\.0*)?$"))
    before = page.locator("#result_local img").get_attribute("src")
    page.locator("#run_btn").click()
    expect(page.locator("#result_local img")).not_to_have_attribute("src", before or "", timeout=RUN_TIMEOUT_MS)
    _wait_for_results(page, RUN_TIMEOUT_MS)
    naive_again, none = _result_image(page, "naive"), _result_image(page, "local")
    assert np.array_equal(naive_again, naive)
    assert np.array_equal(none, naive), "strength 0 must leave the pasted subject as it is"
    _screenshot(page, "advanced_strength_zero")


def test_compare_all_methods_shows_a_labelled_gallery(page: Page) -> None:
    _upload_portrait(page, PORTRAIT)
    _paint_over_subject(page)
    _upload_background(page, PAINTING)
    page.locator("#compare_btn").click()
    expected = [n for n in available_methods() if get_method(n).family == "photo"]
    gallery = page.locator("#compare_gallery")
    expect(gallery.locator("img")).to_have_count(1 + len(expected), timeout=RUN_TIMEOUT_MS)
    text = gallery.inner_text()
    assert "Cut and paste (naive)" in text
    for name in expected:
        assert re.search(rf"{re.escape(get_method(name).label)} \({re.escape(name)}\), \d+\.\d\d s", text), text
    _screenshot(page, "compare_all")
