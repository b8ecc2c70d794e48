# ruff: noqa: F811  (the fixtures browser and page are imported from test_browser; tests take them by name)
"""The editors in headless Chromium (fixtures and helpers from tests/test_browser.py and test_browser_page.py): a
photo larger than the editor's canvas through a mask tool before any brush stroke; the composite tab's any-object
mask; the semi-transparent mask display (the photo shows through the paint, the mask sent stays opaque); files that
are not images, said at upload."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT
from PIL import Image
from test_browser import (  # noqa: F401  (fixtures: browser, page)
    PAINTING,
    PORTRAIT,
    RUN_TIMEOUT_MS,
    Page,
    _artifacts_dir,
    _report_hang,
    _result_image,
    _screenshot,
    _wait_for_results,
    browser,
    expect,
    page,
)
from test_browser_page import COMPOSITE, OBJECT_BOX, _open_composite_tab, _stroke, _upload_to, _wait_for_tool

pytestmark = [pytest.mark.app, pytest.mark.browser]

# 4200x600: Grace Hopper's portrait (512x600 at x 300-812) on a flat blue strip (40, 90, 160), wider than the
# editor's 4096 px canvas (demo.config.EDITOR_CANVAS) but only 2.5 megapixels, so the browser stays quick.
PANORAMA_BLUE = np.array([40, 90, 160])


def _panorama(path: Path) -> Path:
    """Write the 4200x600 panorama (from the Grace Hopper example) to ``path``."""
    portrait = Image.open(REPO_ROOT / "examples" / "matplotlib_grace_hopper.jpg").convert("RGB")
    strip = Image.new("RGB", (4200, 600), tuple(int(v) for v in PANORAMA_BLUE))
    strip.paste(portrait.resize((512, 600)), (300, 0))
    strip.save(path)
    return path


def _canvas(page: Page, editor_id: str) -> tuple[np.ndarray, dict[str, float]]:
    """A screenshot of the editor's drawing canvas as ``(H, W, 3)`` uint8, and the canvas's box on the page."""
    canvas = page.locator(f"#{editor_id} .pixi-target canvas")
    box = canvas.bounding_box()
    assert box is not None
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot(timeout=60_000))).convert("RGB")), box


def _strip_on_screen(shot: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` of the panorama's blue strip in a canvas screenshot (``None`` while it is not drawn)."""
    ys, xs = np.nonzero(np.abs(shot.astype(int) - PANORAMA_BLUE).max(axis=2) < 40)
    if xs.size < 500:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _pinkish(shot: np.ndarray) -> np.ndarray:
    """Where a screenshot shows the brush colour (#ff2d6f), opaque or blended over the photo: red well above green
    and blue above green (the flag's red stripes have blue about equal to green)."""
    r, g, b = (shot[..., i].astype(int) for i in range(3))
    return (r - g > 60) & (b - g > 20)


def _wait_for_strip(page: Page, editor_id: str) -> tuple[np.ndarray, dict[str, float], tuple[int, int, int, int]]:
    """Wait (up to 60 s) until the editor's canvas shows the whole strip with some paint on it."""
    for _ in range(120):
        shot, box = _canvas(page, editor_id)
        strip = _strip_on_screen(shot)
        if strip is not None and _pinkish(shot).sum() > 50:
            return shot, box, strip
        page.wait_for_timeout(500)
    raise AssertionError("the editor never showed the panorama with the mask on it")


def test_auto_mask_before_any_stroke_on_a_photo_wider_than_the_canvas(page: Page, tmp_path: Path) -> None:
    """Issue 15's open defect: Auto mask on a 4200x600 upload with no brush stroke before. The mask was drawn in
    the upload's frame (centred, over the blue strip and below it) instead of on the person; the next stroke then
    exported that canvas (a run pasted a block of blue). Now the mask is drawn on the person, and Harmonize pastes
    the person onto the grey background. (No touch-up stroke here: on a 4200 px layer one stroke keeps headless
    Chromium's software WebGL busy for about two minutes on this machine.)"""
    pano = _panorama(tmp_path / "pano.png")
    background = tmp_path / "grey.png"
    Image.new("RGB", (900, 600), (128, 128, 128)).save(background)
    _upload_to(page, "fg_editor", pano)
    page.wait_for_timeout(1000)
    page.locator("#auto_mask_btn").click()
    _wait_for_tool(page, "fg_editor")
    shot, box, (x0, y0, x1, y1) = _wait_for_strip(page, "fg_editor")
    _screenshot(page, "pano_auto_mask_no_stroke")
    Image.fromarray(shot).save(_artifacts_dir() / "pano_auto_mask_no_stroke_canvas.png")
    # The editor's toolbar covers the strip's left end: its scale from its height, its left end from its right.
    scale = (y1 - y0) / 600
    assert abs((x1 - x0) / scale - 4200) < 400, f"the strip shows {x1 - x0}x{y1 - y0} px: not the panorama"
    visible_x0, x0 = x0, x1 - 4200 * scale
    ys, xs = np.nonzero(_pinkish(shot) & (np.arange(shot.shape[1]) >= visible_x0))  # not the toolbar's icon
    on_person = (xs >= x0 + 150 * scale) & (xs < x0 + 950 * scale) & (ys >= y0 - 3) & (ys < y1 + 3)
    assert on_person.sum() > 200, f"only {on_person.sum()} mask pixels on the person"
    assert on_person.mean() > 0.95, (f"{(~on_person).sum()} mask pixels are drawn off the person, e.g. at "
                                     f"x={(xs[~on_person][:5] - x0) / scale} of the 4200 px strip")

    page.locator("#bg_image input[type=file]").set_input_files(str(background))
    expect(page.locator("#bg_image img")).to_be_visible()
    page.locator("#run_btn").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)
    naive = _result_image(page, "naive").astype(int)
    pasted = np.abs(naive - 128).max(axis=2) > 12
    assert pasted.mean() > 0.02, f"only {pasted.mean():.2%} of the background changed"
    blue = np.abs(naive[pasted] - PANORAMA_BLUE).max(axis=1) < 30
    # The person's box holds some of the strip's blue (between the arm and the flag); a misplaced mask, all of it.
    assert blue.mean() < 0.3, f"{blue.mean():.0%} of the pasted pixels are the strip's blue, not the person"
    _screenshot(page, "pano_auto_mask_no_stroke_result")


def test_composite_tab_object_mask_from_scribbles(page: Page) -> None:
    """The composite tab has the any-object mask too: scribbles over the pasted astronaut, "Object mask from my
    strokes", Harmonize. The mask grows from the scribbles to the astronaut (more paint than the scribbles) and
    what the run changed lies on the astronaut."""
    size = Image.open(COMPOSITE).size
    # KNOWN INTERMITTENT BUG (see test_browser.test_auto_mask_and_click_to_place): the editor sometimes stays
    # loading after a mask tool ("Mask ready - 100%" never goes). A hung first attempt is retried once on a fresh
    # page load; a second hang fails the test.
    for attempt in range(2):
        _open_composite_tab(page)
        _upload_to(page, "comp_editor", COMPOSITE)
        expect(page.locator("#object_mask_strokes_composite")).to_be_visible()
        _stroke(page, "comp_editor", size, [(150, 280), (250, 300), (160, 380), (260, 400)])
        page.wait_for_timeout(1500)
        scribbles = int(_pinkish(_canvas(page, "comp_editor")[0]).sum())
        page.locator("#object_mask_btn_composite").click()
        _wait_for_tool(page, "comp_editor")
        for _ in range(60):  # the editor draws the new value (faded while the job's status shows) within seconds
            masked = int(_pinkish(_canvas(page, "comp_editor")[0]).sum())
            if masked > 1.5 * scribbles:
                break
            page.wait_for_timeout(1000)
        if masked > 1.5 * scribbles or attempt == 1:
            break
        _screenshot(page, "composite_object_mask_hung_first_attempt")
        _report_hang(page, "comp_editor", "composite_object_mask")
        page.reload()
        expect(page.locator("#run_btn")).to_be_visible()
    _screenshot(page, "composite_object_mask")
    assert masked > 1.5 * scribbles, f"the mask ({masked} px on screen) did not grow from the scribbles ({scribbles})"

    page.locator("#run_btn_composite").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)
    naive, local = _result_image(page, "naive"), _result_image(page, "local")
    rows, cols = np.nonzero(np.abs(local.astype(int) - naive.astype(int)).max(axis=2) > 2)
    assert rows.size > 5000, f"only {rows.size} pixels changed"
    x0, y0, x1, y1 = OBJECT_BOX
    margin = 12
    inside = (cols >= x0 - margin) & (cols < x1 + margin) & (rows >= y0 - margin) & (rows < y1 + margin)
    # GrabCut from four scribbles spills a little past the suit onto the floor (measured: 95 % inside)
    assert inside.mean() > 0.9, f"{(~inside).sum()} of {rows.size} changed pixels lie off the astronaut"
    _screenshot(page, "composite_object_mask_result")


BRUSH = np.array([255, 45, 111])  # demo.config.BRUSH_COLOR


def _newest_layer_upload(since: float) -> np.ndarray:
    """The RGBA brush layer the page uploaded last (after ``since``), as the server received it."""
    from gradio.utils import get_upload_folder

    layers = [p for p in Path(get_upload_folder()).rglob("layer_0.png") if p.stat().st_mtime >= since]
    assert layers, "the page uploaded no brush layer"
    return np.asarray(Image.open(max(layers, key=lambda p: p.stat().st_mtime)).convert("RGBA"))


def test_the_photo_shows_through_the_paint_and_the_mask_stays_opaque(page: Page) -> None:
    """Issue 18: the opaque brush hid the subject's edges. Under a stroke the screen now shows the photo blended
    with the brush colour (its edges visible), while the layer the app receives is still fully opaque where
    painted (the display is a copy of the photo over the paint, not a transparent brush)."""
    _upload_to(page, "fg_editor", PORTRAIT)
    page.wait_for_timeout(1500)
    before, _ = _canvas(page, "fg_editor")
    size = Image.open(PORTRAIT).size
    _stroke(page, "fg_editor", size, [(150, 250), (360, 250), (360, 300), (150, 300)])  # across the suit's edges
    page.wait_for_timeout(2000)
    after, _ = _canvas(page, "fg_editor")
    Image.fromarray(after).save(_artifacts_dir() / "mask_display_canvas.png")
    caught = page.evaluate("() => window.__harmonizationEditor && window.__harmonizationEditor.caught")
    print(f"editor applications found by: {caught}")
    painted = np.abs(after.astype(int) - before.astype(int)).max(axis=2) > 30
    assert painted.sum() > 2000, f"the stroke changed only {painted.sum()} screen pixels (editors found: {caught})"
    under, photo = after[painted].astype(float), before[painted].astype(float)
    # Opaque paint would be the brush colour itself, flat; half-transparent: half photo, half brush.
    blend_error = np.abs(under - (0.5 * photo + 0.5 * BRUSH)).mean()
    assert blend_error < 15, f"under the stroke the screen is not half photo (error {blend_error:.1f} levels)"
    assert np.abs(under - BRUSH).max(axis=1).mean() > 30, "the stroke is drawn in the flat brush colour"
    assert under.std(axis=0).mean() > 0.3 * photo.std(axis=0).mean(), "the photo's detail is hidden by the paint"
    _screenshot(page, "mask_display_semi_transparent")

    page.locator("#bg_image input[type=file]").set_input_files(str(PAINTING))
    expect(page.locator("#bg_image img")).to_be_visible()
    since = time.time() - 1
    page.locator("#run_btn").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)
    layer = _newest_layer_upload(since)
    alpha = layer[..., 3]
    assert alpha.shape == (size[1], size[0])
    ys, xs = np.nonzero(alpha)
    assert ys.size > 3000, f"only {ys.size} pixels painted"
    assert xs.min() >= 110 and xs.max() < 400 and ys.min() >= 210 and ys.max() < 340  # the stroke, in its frame
    opaque = (alpha[alpha > 0] == 255).mean()  # what is not 255 is the brush's antialiased rim
    assert opaque > 0.9, f"only {opaque:.0%} of the painted pixels are opaque: alpha {np.unique(alpha)[:8]}"


DROP_JS = """([name, type, id]) => {
    const data = new DataTransfer();
    data.items.add(new File(['not a picture'], name, {type}));
    const target = document.querySelector(`#${id} input[type=file]`).parentElement;
    target.dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
}"""


def test_a_file_that_is_not_an_image_is_named_at_upload(page: Page, tmp_path: Path) -> None:
    """Issue 18: a text file given to the portrait editor was dropped by Gradio's frontend without a word (and
    Harmonize then said "upload a portrait"). Now the page says at once that it is not an image, naming the file
    and nothing of the server; a file named .png that is not one is said to be unreadable; a drop is checked too."""
    (tmp_path / "notes.txt").write_text("shopping list")
    editor = page.locator("#fg_editor")
    expect(editor.get_by_role("button", name="Show Layers")).to_be_visible()
    editor.locator("input[type=file]").set_input_files(str(tmp_path / "notes.txt"))
    note = page.locator("#editor_file_note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("notes.txt is not an image")
    expect(note).to_contain_text("portrait editor")
    assert str(tmp_path) not in note.inner_text() and "/tmp" not in note.inner_text()
    _screenshot(page, "editor_not_an_image")
    note.click()  # it closes on a click
    expect(note).to_be_hidden()

    (tmp_path / "holiday.png").write_bytes(b"this is not a PNG")
    editor.locator("input[type=file]").set_input_files(str(tmp_path / "holiday.png"))
    expect(note).to_contain_text("holiday.png could not be read as an image")

    page.evaluate(DROP_JS, ["report.pdf", "application/pdf", "fg_editor"])
    expect(note).to_contain_text("report.pdf is not an image")
    # A real photo gives no message.
    note.click()
    _upload_to(page, "fg_editor", PORTRAIT)
    page.wait_for_timeout(1000)
    expect(note).to_be_hidden()
