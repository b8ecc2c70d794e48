"""End to end in a real browser: headless Chromium (Debian's ``/usr/bin/chromium``) drives the demo through Playwright.

Each scenario does what a user does (upload, paint with the mouse, choose a method, press Harmonize) and checks what
the user sees. Screenshots (full page) go to ``artifacts/browser/`` at the repository root, or to
``$HARMONIZATION_ARTIFACTS/browser/``: one at the end of each scenario, and ``<test>-failed.png`` when a test fails.

Without ``/usr/bin/chromium`` (``apt-get install chromium``) or the ``playwright`` package these tests are skipped,
unless ``HARMONIZATION_REQUIRE_BROWSER=1`` is set (as ``.ci/run`` does): then they fail. Playwright's own browser
downloads (``playwright install``) are not used.
"""

from __future__ import annotations

import faulthandler
import io
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT
from PIL import Image

from harmonization.cvbridge import connected_components

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # checked (skip or fail) by the ``browser`` fixture
    sync_playwright = None

pytestmark = [pytest.mark.app, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
EXAMPLES = REPO_ROOT / "examples"
PORTRAIT = EXAMPLES / "skimage_astronaut.jpg"  # 512x512, Eileen Collins (public domain)
PAINTING = EXAMPLES / "gcompris_details_vincentvangogh0013.jpg"  # 439x500, van Gogh (public domain)
RESULTS = ("naive", "global", "local")
RUN_TIMEOUT_MS = 120_000  # naive + global + local on a busy 2-core CPU takes a few seconds; be generous
PAINTERLY_TIMEOUT_MS = 300_000  # painterly at "preview" quality: about two minutes on a busy 2-core CPU
UI_TIMEOUT_MS = 30_000  # uploads, clicks and toasts; the editor (PixiJS on software WebGL) can be slow to draw


def _artifacts_dir() -> Path:
    root = Path(os.environ.get("HARMONIZATION_ARTIFACTS") or REPO_ROOT / "artifacts")
    folder = (root / "browser").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _screenshot(page: Page, name: str) -> Path:
    path = _artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def _browser_missing(reason: str, fix: str) -> None:
    """Skip, or fail when HARMONIZATION_REQUIRE_BROWSER=1 (CI must run these tests, not skip them)."""
    if os.environ.get("HARMONIZATION_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and HARMONIZATION_REQUIRE_BROWSER=1 is set: {fix}", pytrace=False)
    pytest.skip(f"{reason} ({fix}; set HARMONIZATION_REQUIRE_BROWSER=1 to fail instead of skipping)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless Chromium, shared by this module's tests."""
    if not CHROMIUM.exists():
        _browser_missing(f"{CHROMIUM} is missing", "install it with `apt-get install chromium`")
    if sync_playwright is None:
        _browser_missing("the playwright package is missing", "`pip install -r requirements-dev.txt`")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        expect.set_options(timeout=UI_TIMEOUT_MS)
        try:
            yield chromium
        finally:
            expect.set_options(timeout=5_000)  # Playwright's default
            chromium.close()


@pytest.fixture
def page(browser: Browser, app_url: str, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page (own context, so no state is shared between scenarios) with the demo loaded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    # the page's console errors and warnings, uncaught exceptions and failed requests, for _report_hang
    log: list[str] = []
    page.on("console", lambda m: log.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: log.append(f"requestfailed: {r.method} {r.url} {r.failure}"))
    page.harmonization_log = log  # type: ignore[attr-defined]
    page.goto(app_url)
    expect(page.locator("#run_btn")).to_be_visible()
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            _screenshot(page, f"{request.node.name}-failed")
        context.close()


# ------------------------------------------------------------------------------------------------------ helpers


def _upload_portrait(page: Page, path: Path) -> None:
    """Upload into the portrait ImageEditor and wait until the editor shows it (ready to paint)."""
    editor = page.locator("#fg_editor")
    # The editor drops an upload made before its canvas is set up; its layer menu appears once it is.
    expect(editor.get_by_role("button", name="Show Layers")).to_be_visible()
    editor.locator("input[type=file]").set_input_files(str(path))
    # Loaded: the "Upload an image" placeholder is gone and the upload is in the undo history.
    expect(editor.locator(".empty")).to_have_count(0)
    expect(editor.get_by_role("button", name="Undo", exact=True)).to_be_enabled()


def _paint_over_subject(page: Page) -> None:
    """Select the brush and paint a zig-zag over the middle of the portrait with the mouse."""
    editor = page.locator("#fg_editor")
    brush = editor.get_by_role("button", name="Brush", exact=True)
    if "highlight" not in (brush.get_attribute("class") or ""):  # a second click would open the brush options
        brush.click()
    expect(brush).to_have_class(re.compile(r"\bhighlight\b"))
    box = editor.locator(".pixi-target canvas").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 200, box
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2  # the image is centred in the canvas
    half_w, half_h = 0.1 * box["width"], 0.2 * box["height"]
    # Few mouse events: each one while drawing costs about half a second (software WebGL). The brush joins them.
    page.mouse.move(cx - half_w, cy - half_h)
    page.mouse.down()
    rows = 5
    for i in range(rows):
        y = cy - half_h + 2 * half_h * i / (rows - 1)
        page.mouse.move(cx - half_w, y)
        page.mouse.move(cx + half_w, y, steps=2)
    page.mouse.up()


def _upload_background(page: Page, path: Path) -> None:
    page.locator("#bg_image input[type=file]").set_input_files(str(path))
    expect(page.locator("#bg_image img")).to_be_visible()


def _choose_method(page: Page, label: str) -> None:
    page.locator("#method input").click()
    page.get_by_role("option", name=re.compile(re.escape(label))).click()
    expect(page.locator("#method input")).to_have_value(re.compile(re.escape(label)))


PROGRESS_OR_RESULT_JS = r"""() => {
    const tracker = document.querySelector('#result_local [data-testid=status-tracker]');
    const text = tracker ? tracker.innerText.replace(/\s+/g, ' ') : '';
    const done = document.querySelector('#result_local img') !== null;
    return done || /Painterly fusion.*\d+(\.\d+)?%/.test(text) ? {done, text} : null;
}"""


def _wait_for_results(page: Page, timeout_ms: int) -> None:
    for name in RESULTS:
        expect(page.locator(f"#result_{name} img")).to_be_visible(timeout=timeout_ms)


def _result_image(page: Page, name: str) -> np.ndarray:
    """The image a result column shows: its ``src`` is non-empty, it decoded in the browser, and the served bytes
    decode to an RGB image of that size."""
    img = page.locator(f"#result_{name} img")
    src = img.get_attribute("src")
    assert src, f"#result_{name} img has no src"
    expect(img).to_have_js_property("complete", True)
    width, height = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    assert width > 0 and height > 0, f"#result_{name} img did not decode in the browser ({src})"
    response = page.request.get(src)
    assert response.ok, f"GET {src}: HTTP {response.status}"
    array = np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))
    assert array.shape == (height, width, 3)
    return array


# ----------------------------------------------------------------------------------------------------- scenarios


def test_portrait_on_painting_shows_three_results(page: Page) -> None:
    """Upload a portrait, paint over the subject, upload a painting, press Harmonize: three results and notes."""
    expect(page.get_by_role("tab", name="Portrait + background")).to_have_attribute("aria-selected", "true")
    _upload_portrait(page, PORTRAIT)
    _paint_over_subject(page)
    _upload_background(page, PAINTING)
    page.locator("#run_btn").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)

    notes = page.locator("#result_notes")
    for word in ("naive", "global", "local"):
        expect(notes).to_contain_text(word)
    naive, glob, local = (_result_image(page, name) for name in RESULTS)
    with Image.open(PAINTING) as painting:
        assert naive.shape == (painting.height, painting.width, 3)  # composed at the background's full size
    assert glob.shape == local.shape == naive.shape
    changed = (np.abs(local.astype(int) - naive.astype(int)).max(axis=2) > 2).mean()
    assert changed > 0.01, f"local differs from naive in only {changed:.2%} of the pixels"
    assert not np.array_equal(glob, naive)
    _screenshot(page, "portrait_on_painting")


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
def test_painterly_shows_progress_then_results(page: Page) -> None:
    """Painterly fusion onto a van Gogh: a progress bar with the method's steps shows while it runs, then results.
    While it runs, exactly one progress indicator is on the page, on the chosen method's column (all six outputs
    showed the same timer and bar before: three progress bars in a row)."""
    _upload_portrait(page, PORTRAIT)
    _paint_over_subject(page)
    _upload_background(page, PAINTING)
    _choose_method(page, "Painterly")
    quality = page.locator("#painterly_quality")
    if quality.count():  # the fast preview quality, where the app offers it
        quality.locator("input[type=radio][value='preview']").check()
        expect(quality.locator("input[type=radio][value='preview']")).to_be_checked()
    page.locator("#run_btn").click()

    tracker = page.locator("#result_local [data-testid=status-tracker]")
    expect(tracker.locator(".progress-text")).to_be_visible(timeout=60_000)  # elapsed time / ETA
    # Then gr.Progress descriptions with a percentage, e.g. "Painterly fusion: local scale 1/2 (128 px): step 3/90
    # (loss 0.49) - 63.3%". Text and result are read in one go: the progress must show while no result is there.
    seen = page.wait_for_function(PROGRESS_OR_RESULT_JS, polling=200, timeout=PAINTERLY_TIMEOUT_MS).json_value()
    assert not seen["done"], f"the result appeared before any painterly progress was shown: {seen['text']!r}"
    print(f"progress: {seen['text']!r}")
    _screenshot(page, "painterly_progress")
    shown = _trackers_until_results(page)

    _wait_for_results(page, PAINTERLY_TIMEOUT_MS)
    assert shown, "no progress indicator was seen during the run"
    several = [s for s in shown if len(s) != 1]
    assert not several, f"{len(several)} of {len(shown)} samples showed several progress indicators, e.g. {several[0]}"
    assert {s[0] for s in shown} == {"result_local"}, {s[0] for s in shown}
    expect(tracker.locator(".progress-text")).to_be_hidden()
    expect(page.locator("#result_notes")).to_contain_text("painterly")
    naive, local = _result_image(page, "naive"), _result_image(page, "local")
    assert naive.shape == local.shape and not np.array_equal(naive, local)
    _screenshot(page, "painterly")


def test_run_without_painted_mask_shows_error(page: Page) -> None:
    """A portrait with nothing painted on it: the run stops with the "No mask painted" message in the page."""
    _upload_portrait(page, PORTRAIT)
    _upload_background(page, PAINTING)
    page.locator("#run_btn").click()
    toast = page.get_by_test_id("toast-body").filter(has_text="No mask painted")
    expect(toast).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(toast).to_have_class(re.compile(r"\berror\b"))
    expect(toast).to_contain_text("paint over the subject")
    for name in RESULTS:
        expect(page.locator(f"#result_{name} img")).to_have_count(0)
    _screenshot(page, "no_mask_error")


def _click_to_place(page: Page) -> None:
    """Click the background at (0.3, 0.7) of its size; the feet sliders then read 0.3 and 0.7."""
    img = page.locator("#bg_image img")
    box = img.bounding_box()
    assert box is not None
    img.click(position={"x": 0.3 * box["width"], "y": 0.7 * box["height"]})
    expect(page.locator("#pos_x input[type=number]")).to_have_value(re.compile(r"^0\.(29|3|30|31)\d*$"))
    expect(page.locator("#pos_y input[type=number]")).to_have_value(re.compile(r"^0\.(69|7|70|71)\d*$"))


def _report_hang(page: Page, editor_id: str = "fg_editor", name: str = "auto_mask") -> None:
    """What the page and the in-process server were doing when a mask tool hung (to find the intermittent bug): a
    warning in pytest's summary (kept when the retry passes) and every server thread's stack in the artifacts."""
    from demo.config import FAST_LANE, MASK_LANE, PAINTERLY_LANE

    text = page.locator(f"#{editor_id} [data-testid=status-tracker]").all_inner_texts()
    lanes = {lane.name: (lane.running, lane.waiting) for lane in (FAST_LANE, MASK_LANE, PAINTERLY_LANE)}
    header = f"{name} hung: editor status {text!r}; lanes (running, waiting): {lanes}"
    path = _artifacts_dir() / f"{name}_hang_threads.txt"
    with path.open("w") as out:
        print(header, file=out)
        print("page log:", *getattr(page, "harmonization_log", [])[-50:], sep="\n  ", file=out, flush=True)
        faulthandler.dump_traceback(file=out, all_threads=True)
    print(f"\n{header}", file=sys.stderr)
    warnings.warn(f"{header}; server threads in artifacts/browser/{path.name}", stacklevel=2)


def _portrait_with_a_small_second_person(tmp: Path) -> Path:
    """Grace Hopper's portrait widened by 300 px of its wall colour, with a third-size copy of it standing in that
    strip: the people model finds her there too, an island of about 24,000 px (13 % of the main region, under the
    cleanup's 20 %) 100 px to the right of her, which Auto mask must drop, not paste."""
    image = Image.open(EXAMPLES / "matplotlib_grace_hopper.jpg").convert("RGB")
    wall = tuple(int(v) for v in np.asarray(image)[:40, -40:].reshape(-1, 3).mean(axis=0))
    canvas = Image.new("RGB", (image.width + 300, image.height), wall)
    canvas.paste(image, (0, 0))
    small = image.resize((image.width // 3, image.height // 3), Image.LANCZOS)
    canvas.paste(small, (image.width + (300 - small.width) // 2, image.height - small.height))
    path = tmp / "grace_hopper_and_a_small_copy.png"
    canvas.save(path)
    return path


def test_auto_mask_and_click_to_place(page: Page, tmp_path: Path) -> None:
    """Auto subject mask instead of painting, then a click on the background places the subject there; the stray
    islands of the people model (a small second person in a corner) are not pasted and do not shift the placement."""
    portrait = _portrait_with_a_small_second_person(tmp_path)
    # the mask tool's progress shows over the editor (on a busy machine it may take seconds to start), then goes;
    # waiting only for "no progress" could pass before the job started and run Harmonize without the mask.
    # KNOWN INTERMITTENT BUG (2 of 4 full runs on 2026-12-01, never in isolation): the editor sometimes stays in its
    # loading state after Auto mask and the progress never goes. Until it is found, a hung first attempt is retried
    # once on a fresh page load; a second hang fails the test.
    progress = page.locator("#fg_editor [data-testid=status-tracker]").locator(".progress-text, .eta-bar")
    for attempt in range(2):
        _upload_portrait(page, portrait)
        page.locator("#auto_mask_btn").click()
        try:
            expect(progress.first).to_be_visible(timeout=15_000)
        except AssertionError:
            pass  # already done (a fast machine)
        try:
            expect(progress).to_have_count(0, timeout=60_000 if attempt == 0 else RUN_TIMEOUT_MS)
            break
        except AssertionError:
            if attempt == 1:
                raise
            _screenshot(page, "auto_mask_hung_first_attempt")
            _report_hang(page)
            page.reload()

    _upload_background(page, PAINTING)
    _click_to_place(page)  # at (0.3, 0.7) of the background

    page.locator("#run_btn").click()
    _wait_for_results(page, RUN_TIMEOUT_MS)
    naive = _result_image(page, "naive")
    background = np.asarray(Image.open(PAINTING).convert("RGB"))
    changed = np.abs(naive.astype(int) - background.astype(int)).max(axis=2) > 8
    rows, cols = np.nonzero(changed)
    # the whole person (not a brush stroke) is pasted, standing at the click (x 0.3, y 0.7 of the painting): the
    # bottom of what was pasted is at the click's height, its middle at the click's x
    assert changed.mean() > 0.15, f"only {changed.mean():.1%} of the painting changed"
    assert abs(cols.mean() / naive.shape[1] - 0.3) < 0.08
    assert abs(np.percentile(rows, 99.5) / naive.shape[0] - 0.7) < 0.03, np.percentile(rows, 99.5)
    # no islands and no faint specks: the background is bit-identical outside the mask, so every pixel that changed
    # at all belongs to the one pasted person (counted with its edge band, 8-connected)
    touched = (naive != background).any(axis=2)
    _, areas = connected_components(torch.from_numpy(touched)[None, None])
    sizes = np.sort(areas[1:].numpy())[::-1]
    assert len(sizes) >= 1 and sizes[1:].sum() <= 0.001 * sizes[0], f"pasted regions of {sizes[:8].tolist()} px"
    _screenshot(page, "auto_mask_click_to_place")
