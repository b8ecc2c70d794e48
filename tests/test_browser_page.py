# ruff: noqa: F811  (the fixtures browser and page are imported from test_browser; tests take them by name)
"""The page as a newcomer uses it, in headless Chromium (fixtures and helpers from tests/test_browser.py): mask tools
after brush strokes, column labels, placement, auto-mask cleanup, painterly Stop, upload-time checks."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from test_browser import (  # noqa: F401  (fixtures: browser, page)
    CHROMIUM,
    CHROMIUM_ARGS,
    EXAMPLES,
    RUN_TIMEOUT_MS,
    Browser,
    Page,
    _result_image,
    _screenshot,
    _wait_for_results,
    browser,
    expect,
    page,
)

pytestmark = [pytest.mark.app, pytest.mark.browser]

COMPOSITE = EXAMPLES / "astronaut_in_cafe.png"  # 634x500: the astronaut pasted into the night cafe
OBJECT_BOX = (36, 190, 345, 490)  # x0, y0, x1, y1 of the pasted astronaut (its committed layer's extent)


def _open_composite_tab(page: Page) -> None:
    tab = page.get_by_role("tab", name="Composite + mask")
    for _ in range(6):  # the tab bar re-renders while the page settles: a click can be lost, or wait for "stable"
        tab.click(force=True)
        try:
            expect(tab).to_have_attribute("aria-selected", "true", timeout=5_000)
            break
        except AssertionError:
            continue
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#comp_editor")).to_be_visible()


def _upload_to(page: Page, editor_id: str, path: Path) -> None:
    editor = page.locator(f"#{editor_id}")
    expect(editor.get_by_role("button", name="Show Layers")).to_be_visible()
    editor.locator("input[type=file]").set_input_files(str(path))
    expect(editor.locator(".empty")).to_have_count(0)
    expect(editor.get_by_role("button", name="Undo", exact=True)).to_be_enabled()


def _to_screen(page: Page, editor_id: str, size: tuple[int, int], x: float, y: float) -> tuple[float, float]:
    """Screen coordinates of pixel (x, y) of an image of ``size`` shown in the editor: centred in its canvas at the
    zoom the editor's toolbar shows (e.g. "78%")."""
    editor = page.locator(f"#{editor_id}")
    box = editor.locator(".pixi-target canvas").bounding_box()
    assert box is not None
    zoom_text = editor.get_by_text(re.compile(r"^\d+%$")).first.inner_text()
    zoom = int(zoom_text.rstrip("%")) / 100
    left = box["x"] + (box["width"] - size[0] * zoom) / 2
    top = box["y"] + (box["height"] - size[1] * zoom) / 2
    return left + x * zoom, top + y * zoom


def _stroke(page: Page, editor_id: str, size: tuple[int, int], points: list[tuple[float, float]]) -> None:
    """One brush stroke through ``points`` (image pixels)."""
    editor = page.locator(f"#{editor_id}")
    brush = editor.get_by_role("button", name="Brush", exact=True)
    if "highlight" not in (brush.get_attribute("class") or ""):  # a second click would open the brush options
        brush.click()
    expect(brush).to_have_class(re.compile(r"\bhighlight\b"))
    x, y = _to_screen(page, editor_id, size, *points[0])
    page.mouse.move(x - 3, y - 3)  # hover first: the editor checks that the pointer is over the image
    page.wait_for_timeout(300)
    page.mouse.move(x, y, steps=2)
    page.wait_for_timeout(300)
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*_to_screen(page, editor_id, size, *point), steps=2)
    page.mouse.up()


TRACKER_TEXT_JS = """(id) => {
    const tracker = document.querySelector(`#${id} [data-testid=status-tracker]`);
    return tracker ? tracker.innerText.trim() : '';
}"""


def _wait_for_event(page: Page, elem_id: str) -> None:
    """Wait until the event that shows its status on ``elem_id`` ran: its status tracker ("queue", "processing",
    a progress bar) appeared and went away."""
    try:
        page.wait_for_function(f"() => ({TRACKER_TEXT_JS})({elem_id!r}) !== ''", polling=100, timeout=10_000)
    except PlaywrightTimeoutError:  # already over
        pass
    page.wait_for_function(f"() => ({TRACKER_TEXT_JS})({elem_id!r}) === ''", polling=200, timeout=RUN_TIMEOUT_MS)


def _wait_for_tool(page: Page, editor_id: str) -> None:
    _wait_for_event(page, editor_id)
    # The editor then loads the new value (its toolbar, with the zoom level, is hidden meanwhile) and draws it.
    expect(page.locator(f"#{editor_id}").get_by_text(re.compile(r"^\d+%$")).first).to_be_visible()
    page.wait_for_timeout(1000)


def test_refine_after_brush_strokes_then_one_more_stroke_keeps_the_mask_on_the_object(page: Page) -> None:
    """Strokes over the pasted astronaut, Refine, one more stroke, Harmonize: every pixel that changed lies on the
    astronaut (the refined layer used to be drawn shrunk into the top-left corner and harmonized there)."""
    _open_composite_tab(page)
    _upload_to(page, "comp_editor", COMPOSITE)
    size = Image.open(COMPOSITE).size
    zigzag = [(90, 260), (290, 260), (90, 330), (290, 330), (90, 400), (290, 400), (90, 460), (290, 460)]
    _stroke(page, "comp_editor", size, zigzag)
    page.locator("#refine_mask_btn_composite").click()
    _wait_for_tool(page, "comp_editor")
    _stroke(page, "comp_editor", size, [(150, 420), (200, 425), (250, 430), (200, 440), (150, 445)])
    page.wait_for_timeout(1000)
    _screenshot(page, "refine_after_brush_second_stroke")
    page.locator("#run_btn_composite").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)

    naive, local = _result_image(page, "naive"), _result_image(page, "local")
    rows, cols = np.nonzero(np.abs(local.astype(int) - naive.astype(int)).max(axis=2) > 2)
    assert rows.size > 5000, f"only {rows.size} pixels changed"
    x0, y0, x1, y1 = OBJECT_BOX
    margin = 12
    inside = (cols >= x0 - margin) & (cols < x1 + margin) & (rows >= y0 - margin) & (rows < y1 + margin)
    assert inside.mean() > 0.99, (f"{(~inside).sum()} changed pixels lie off the astronaut, e.g. at "
                                  f"x={cols[~inside][:5].tolist()}, y={rows[~inside][:5].tolist()}")
    _screenshot(page, "refine_after_brush")


def test_result_columns_are_labelled_with_their_methods_and_downloads_named(page: Page) -> None:
    """The composite example with the painted astronaut: the columns say which method made them (they said
    "Global" and "Local" whatever ran), the downloads are named after the input and method, plus a zip."""
    _open_composite_tab(page)
    _upload_to(page, "comp_editor", COMPOSITE)
    size = Image.open(COMPOSITE).size
    _stroke(page, "comp_editor", size, [(90, 260), (290, 260), (90, 360), (290, 360), (90, 460), (290, 460)])
    page.locator("#run_btn_composite").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)
    expect(page.locator("#result_naive")).to_contain_text("Naive (cut and paste)")
    expect(page.locator("#result_global")).to_contain_text("Global colour transfer (global)")
    expect(page.locator("#result_local")).to_contain_text("Local colour transfer (local)")
    expect(page.locator("#result_slider")).to_contain_text("naive vs Local colour transfer")
    downloads = page.locator("#downloads")
    for stem, ext in (("naive", "png"), ("global", "png"), ("local", "png"), ("results", "zip")):
        expect(downloads).to_contain_text(re.compile(rf"composite_{stem}\s*\.{ext}"))  # name and extension apart
    # The results were below the fold at 1400x1000: the page scrolls to them when they arrive.
    page.wait_for_function("""() => { const r = document.getElementById('result_naive').getBoundingClientRect();
                                      return r.top >= -5 && r.top < window.innerHeight / 2; }""", timeout=10_000)
    _screenshot(page, "labels_and_downloads")


def test_background_checks_happen_at_upload(page: Page, tmp_path: Path) -> None:
    """A 40-megapixel background is downscaled with a note as soon as it is uploaded (it was refused only after
    the run's work), and a file that is not an image is refused at upload, naming the file but no server path."""
    Image.new("RGB", (8000, 5001), (90, 120, 150)).save(tmp_path / "huge_scene.png")
    page.locator("#bg_image input[type=file]").set_input_files(str(tmp_path / "huge_scene.png"))
    toast = page.get_by_test_id("toast-body").filter(has_text="downscaled")
    expect(toast).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(toast).to_contain_text("8000x5001")
    expect(page.locator("#bg_image img")).to_be_visible()
    _screenshot(page, "upload_downscaled")
    page.get_by_test_id("toast-body").first.locator("..").get_by_role("button").first.click(force=True)

    (tmp_path / "notes.png").write_bytes(b"this is not an image")
    page.locator("#bg_image").get_by_role("button", name=re.compile("Clear|Remove", re.I)).first.click()
    page.locator("#bg_image input[type=file]").set_input_files(str(tmp_path / "notes.png"))
    warning = page.get_by_test_id("toast-body").filter(has_text="Could not read notes.png")
    expect(warning).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(warning).to_contain_text("not loaded")
    assert "/tmp" not in warning.inner_text() and "gradio" not in warning.inner_text().lower()
    expect(page.locator("#bg_image img")).to_have_count(0)
    _screenshot(page, "upload_not_an_image")


def test_a_browser_without_webgl_is_told_why_the_editor_does_not_start(browser: Browser, page: Page,
                                                                       app_url: str) -> None:
    expect(page.locator("#no_webgl")).to_be_hidden()  # this browser has (software) WebGL: no notice
    no_webgl = browser.browser_type.launch(executable_path=str(CHROMIUM), headless=True,
                                           args=[*CHROMIUM_ARGS, "--disable-webgl", "--disable-3d-apis"])
    try:
        other = no_webgl.new_page(viewport={"width": 390, "height": 844})  # a phone's width
        other.goto(app_url)
        notice = other.locator("#no_webgl")
        expect(notice).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(notice).to_contain_text("needs WebGL")
        _screenshot(other, "no_webgl_mobile")
    finally:
        no_webgl.close()


@pytest.mark.slow
def test_stop_ends_a_running_painterly_job(page: Page) -> None:
    """Painterly fusion (minutes on a CPU) started, then Stop: the progress goes away, no result appears, and the
    running job itself ends at its next progress report, freeing the painterly lane (it ran to the end before)."""
    import app
    from demo import handlers

    stopped_before = handlers.STOPPED_JOBS[0]
    _open_composite_tab(page)
    _upload_to(page, "comp_editor", COMPOSITE)
    size = Image.open(COMPOSITE).size
    _stroke(page, "comp_editor", size, [(90, 260), (290, 260), (90, 360), (290, 360), (90, 460), (290, 460)])
    page.locator("#method_composite input").click()
    page.get_by_role("option", name=re.compile(r"Painterly")).first.click()
    # standard quality: the two painterly columns take long enough on any machine for Stop to land mid-run
    # (a preview run, about 5 s since the two-pass rewrite, could end before the click reaches the server)
    page.locator("#painterly_quality_composite input[type=radio][value='standard']").check()
    page.locator("#run_btn_composite").click()
    tracker = page.locator("#result_local [data-testid=status-tracker]")
    # Stop at the first optimisation step shown: the global column's style transfer runs first (about 50 s here
    # before the painterly fusion of the local column starts), and its steps are progress reports as well
    expect(tracker).to_contain_text(re.compile(r"step \d+/\d+.*\d+(\.\d+)?%"), timeout=RUN_TIMEOUT_MS)
    _screenshot(page, "painterly_running_before_stop")
    page.locator("#stop_btn_composite").click()
    expect(tracker.locator(".progress-text")).to_have_count(0)
    page.wait_for_function("() => !document.querySelector('#result_local img')", timeout=5_000)
    deadline_polls = 600  # 0.1 s each: a safety net, not a timing requirement
    for _ in range(deadline_polls):
        if handlers.STOPPED_JOBS[0] > stopped_before and app.PAINTERLY_LANE.running == 0:
            break
        page.wait_for_timeout(100)
    assert handlers.STOPPED_JOBS[0] > stopped_before, "the painterly job did not stop at a progress report"
    assert app.PAINTERLY_LANE.running == 0
    expect(page.locator("#result_local img")).to_have_count(0)
    _screenshot(page, "painterly_stopped")


def test_a_composite_example_shows_its_tab(page: Page) -> None:
    """Clicking a composite example fills the composite tab and now switches to it (it stayed on the portrait tab);
    its brush layer is drawn over the pasted astronaut (a layer of the image's size)."""
    page.get_by_text("Examples: composite + mask").scroll_into_view_if_needed()
    rows = page.locator("table").filter(has=page.get_by_text("Composite: upload, then paint over the pasted object"))
    # a cell, not the row: the row's centre lies on the border between the table's two equal columns
    rows.last.locator("tbody tr").first.locator("td").first.click()
    expect(page.get_by_role("tab", name="Composite + mask")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#comp_editor .empty")).to_have_count(0)
    _wait_for_results(page, RUN_TIMEOUT_MS)  # the example's cached (or computed) results
    page.locator("#comp_editor").scroll_into_view_if_needed()
    _screenshot(page, "composite_example")
