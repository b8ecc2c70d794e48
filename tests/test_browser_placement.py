# ruff: noqa: F811  (the fixtures browser and page are imported from test_browser; tests take them by name)
"""The placement preview in the page (headless Chromium): before Harmonize, the background shows the painted
subject, outlined, standing with its feet where the background was clicked; the scale slider resizes it; painting
the mask proposes a scale from the mask's size, which the user's own scale then overrides; a later stroke redraws
the preview once the pointer leaves the editor."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from test_browser import (  # noqa: F401  (fixtures: browser, page)
    PAINTING,
    PORTRAIT,
    Page,
    _click_to_place,
    _paint_over_subject,
    _screenshot,
    _upload_background,
    _upload_portrait,
    browser,
    expect,
    page,
)

pytestmark = [pytest.mark.app, pytest.mark.browser]

PAINTING_RGB = np.asarray(Image.open(PAINTING).convert("RGB"))  # 439x500: previewed at its own size


def _preview(page: Page, previous: str | None = None) -> tuple[np.ndarray, str]:
    """The preview image's pixels and ``src`` (a new one when ``previous`` is given)."""
    img = page.locator("#placement_preview img")
    expect(img).to_be_visible()
    if previous is not None:
        expect(img).not_to_have_attribute("src", previous)
    src = img.get_attribute("src")
    assert src
    response = page.request.get(src)
    assert response.ok, f"GET {src}: HTTP {response.status}"
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB")), src


def _subject_box(image: np.ndarray, background: np.ndarray) -> tuple[float, float, float, float]:
    """``(left, top, right, bottom)`` of what the preview pasted on ``background`` (rows and columns with a few
    pixels that differ by more than JPEG's noise), relative to the preview's size."""
    assert image.shape == background.shape, (image.shape, background.shape)
    changed = np.abs(image.astype(int) - background.astype(int)).max(axis=2) > 48
    rows, cols = np.nonzero(changed.sum(axis=1) >= 3)[0], np.nonzero(changed.sum(axis=0) >= 3)[0]
    assert rows.size > 10 and cols.size > 10, "nothing pasted in the preview"
    height, width = image.shape[:2]
    return cols.min() / width, rows.min() / height, (cols.max() + 1) / width, (rows.max() + 1) / height


def _stroke_below_subject(page: Page) -> None:
    """One more brush stroke (the brush is selected), across the lower part of the portrait: the mask grows."""
    box = page.locator("#fg_editor .pixi-target canvas").bounding_box()
    assert box is not None
    cx, y = box["x"] + box["width"] / 2, box["y"] + 0.85 * box["height"]
    page.mouse.move(cx - 0.1 * box["width"], y)
    page.mouse.down()
    page.mouse.move(cx + 0.1 * box["width"], y, steps=2)
    page.mouse.up()


def _slider(page: Page, elem_id: str) -> float:
    return float(page.locator(f"#{elem_id} input[type=number]").input_value())


def test_preview_shows_the_subject_at_the_click_and_follows_the_scale(page: Page) -> None:
    expect(page.locator("#placement_preview")).to_be_visible()
    _upload_portrait(page, PORTRAIT)
    _paint_over_subject(page)
    _upload_background(page, PAINTING)
    image, src = _preview(page)
    with Image.open(PAINTING) as painting:
        assert image.shape[0] / image.shape[1] == pytest.approx(painting.height / painting.width, abs=0.01)
    # The painted strokes cover about 0.4-0.5 of the portrait's height: the default scale follows (not 0.5).
    expect(page.locator("#scale input[type=number]")).not_to_have_value("0.5")
    proposed = _slider(page, "scale")
    assert 0.35 <= proposed <= 0.55, proposed
    image, src = _preview(page)
    left, top, right, bottom = _subject_box(image, PAINTING_RGB)
    assert bottom - top == pytest.approx(proposed, abs=0.03)
    assert bottom == pytest.approx(0.9, abs=0.02) and (left + right) / 2 == pytest.approx(0.5, abs=0.02)

    _click_to_place(page)  # at (0.3, 0.7) of the background
    x, y = _slider(page, "pos_x"), _slider(page, "pos_y")
    for _ in range(20):  # the preview follows the click (one redraw per change: x, then y)
        image, src = _preview(page, src)
        left, top, right, bottom = _subject_box(image, PAINTING_RGB)
        if bottom == pytest.approx(y, abs=0.02) and (left + right) / 2 == pytest.approx(x, abs=0.02):
            break
    # The feet (bottom centre of the subject's box) stand at the click.
    assert bottom == pytest.approx(y, abs=0.02), (bottom, y)
    assert (left + right) / 2 == pytest.approx(x, abs=0.02), (left, right, x)
    assert bottom - top == pytest.approx(proposed, abs=0.03)
    _screenshot(page, "placement_preview_click")

    number = page.locator("#scale input[type=number]")
    number.fill("0.25")
    number.press("Enter")
    for _ in range(20):
        image, src = _preview(page, src)
        left, top, right, bottom = _subject_box(image, PAINTING_RGB)
        if bottom - top == pytest.approx(0.25, abs=0.03):
            break
    assert bottom - top == pytest.approx(0.25, abs=0.03), (top, bottom)  # smaller, feet where they were
    assert bottom == pytest.approx(y, abs=0.02) and (left + right) / 2 == pytest.approx(x, abs=0.02)
    # The user's scale stays: a new stroke redraws the preview but does not reset the scale to the default.
    _stroke_below_subject(page)
    page.locator("#placement_preview").hover()  # done painting: the preview follows once the pointer leaves the editor
    image, src = _preview(page, src)
    expect(number).to_have_value("0.25")
    left, top, right, bottom = _subject_box(image, PAINTING_RGB)
    assert bottom - top == pytest.approx(0.25, abs=0.03), (top, bottom)
    _screenshot(page, "placement_preview_scale")
