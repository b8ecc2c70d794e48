"""The placement preview (harmonization.serving.placement) and its default scale, on tiny real images: the preview's
subject lands where the real run (serving.jobs.run_portrait) puts it, flipped the same way, also for a phone photo
shown as a display copy; the default-scale rule on hand-computed masks; the page's handler keeps a scale the user
chose."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harmonization.serving import MemoryBudget, UploadGate, UploadRefusedError
from harmonization.serving.jobs import JobContext, run_portrait
from harmonization.serving.placement import (
    DEFAULT_SCALE_RANGE,
    MAX_WIDTH_SHARE,
    PREVIEW_LONG_SIDE,
    default_scale,
    placement_preview,
)

GREY = 128
SUBJECT = (20, 15, 320, 235)  # (x0, y0, x1, y1) of the painted rectangle in the 360x270 portrait


def _mask(height: int, width: int, box: tuple[int, int, int, int], value: float = 1.0) -> torch.Tensor:
    """A ``(1, 1, height, width)`` mask: ``value`` inside ``box = (top, left, bottom, right)``."""
    mask = torch.zeros(1, 1, height, width)
    top, left, bottom, right = box
    mask[..., top:bottom, left:right] = value
    return mask


# ---------------------------------------------------------------------------------------------- default scale


def test_default_scale_keeps_the_subjects_height_share_of_its_photo() -> None:
    assert default_scale(_mask(1000, 800, (100, 300, 400, 500))) == 0.3  # 300 px of 1000
    assert default_scale(_mask(1000, 800, (0, 0, 450, 800))) == 0.45
    assert default_scale(torch.zeros(1, 1, 10, 10)) is None


def test_default_scale_is_clamped() -> None:
    low, high = DEFAULT_SCALE_RANGE
    assert (low, high) == (0.2, 0.6)
    assert default_scale(_mask(1000, 800, (0, 200, 950, 600))) == high  # a subject filling its photo: 0.6
    assert default_scale(_mask(1000, 800, (500, 390, 550, 410))) == low  # 50 px of 1000: 0.2, still visible


def test_default_scale_counts_the_box_that_is_placed() -> None:
    """The box of ``mask >= 0.5`` (what place_foreground scales): a faint halo (0.4) does not count."""
    mask = _mask(1000, 800, (0, 0, 1000, 800), 0.4)
    mask[..., 300:700, 200:600] = 1.0
    assert default_scale(mask) == 0.4


def test_default_scale_keeps_a_wide_subject_inside_the_background() -> None:
    # A 100x400 (h x w) box in a 200 px tall photo: share 0.5; on a 300x600 (w x h) background it would be
    # 0.5 * 600 * 4 = 1200 px wide. At most 0.9 * 300 = 270 px wide: 270 / 4 / 600 = 0.1125 -> 0.11 (rounded down).
    mask = _mask(200, 400, (50, 0, 150, 400))
    assert default_scale(mask) == 0.5
    scale = default_scale(mask, (300, 600))
    assert scale == 0.11
    assert scale * 600 * 4 <= MAX_WIDTH_SHARE * 300
    assert default_scale(mask, (2000, 500)) == 0.5  # 1000 px wide on a 2000 px wide background: not lowered
    assert default_scale(mask, (100, 1000)) == 0.1  # never below the slider's minimum


# ---------------------------------------------------------------------------------- preview = the real placement


def _write(path: Path, array: np.ndarray) -> str:
    Image.fromarray(array).save(path)
    return str(path)


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[JobContext, dict, str]:
    """A gate on ``tmp_path``, a 360x270 portrait editor value (a subject rectangle, red on its left half, blue on
    its right, painted as the brush layer) and a uniform grey 640x480 background (larger than the preview)."""
    portrait = np.full((270, 360, 3), 200, np.uint8)
    x0, y0, x1, y1 = SUBJECT
    portrait[y0:y1, x0:(x0 + x1) // 2] = (220, 20, 20)
    portrait[y0:y1, (x0 + x1) // 2:x1] = (20, 20, 220)
    layer = np.zeros((270, 360, 4), np.uint8)
    layer[y0:y1, x0:x1] = (255, 45, 111, 255)
    value = {"background": _write(tmp_path / "portrait.png", portrait),
             "layers": [_write(tmp_path / "layer.png", layer)], "composite": None}
    background = _write(tmp_path / "background.png", np.full((480, 640, 3), GREY, np.uint8))
    return JobContext(UploadGate.of([tmp_path]), MemoryBudget(8 << 30)), value, background


def _pasted(image: np.ndarray, tolerance: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The changed pixels of a picture of the grey background and their box ``(left, top, right, bottom)``
    relative to the picture's size."""
    changed = np.abs(image.astype(int) - GREY).max(axis=2) > tolerance
    rows, cols = np.nonzero(changed)
    height, width = changed.shape
    return changed, (cols.min() / width, rows.min() / height, (cols.max() + 1) / width, (rows.max() + 1) / height)


def _red_x(image: np.ndarray) -> float:
    """The mean column of the red half of the subject, relative to the width."""
    red = (image[..., 0].astype(int) > 150) & (image[..., 2].astype(int) < 100)
    return float(np.nonzero(red)[1].mean() / image.shape[1])


@pytest.mark.parametrize(("scale", "x", "y", "flip"), [(0.3, 0.25, 0.6, True), (0.8, 0.9, 1.0, False)])
def test_the_preview_places_the_subject_where_the_run_does(inputs: tuple[JobContext, dict, str], scale: float,
                                                           x: float, y: float, flip: bool) -> None:
    ctx, value, background = inputs
    preview = placement_preview(ctx, value, background, scale, x, y, flip)
    assert preview is not None and preview.scale == scale
    shown = np.asarray(preview.image)
    assert shown.shape == (384, PREVIEW_LONG_SIDE, 3)  # the 640x480 background at long side 512
    naive = np.asarray(run_portrait(ctx, value, background, scale, x, y, flip, "global", {}).naive.image)
    assert naive.shape == (480, 640, 3)
    # Pixels changed by more than half the subject's contrast with the grey (alpha >= ~0.5; the preview's outline
    # lies one pixel outside the subject): the same box, to a preview pixel or so.
    _, run_box = _pasted(naive, 54)
    _, preview_box = _pasted(shown, 54)
    assert preview_box == pytest.approx(run_box, abs=2.5 / PREVIEW_LONG_SIDE)
    # The feet: bottom centre at (x, y) (cut off at the background's border).
    left, top, right, bottom = run_box
    assert bottom == pytest.approx(min(y, 1.0), abs=0.005)
    width_share = scale * 480 * (SUBJECT[2] - SUBJECT[0]) / (SUBJECT[3] - SUBJECT[1]) / 640
    if 0.0 < x - width_share / 2 and x + width_share / 2 < 1.0:
        assert (left + right) / 2 == pytest.approx(x, abs=0.005)
    assert bottom - top == pytest.approx(scale, abs=0.005)
    assert _red_x(shown) == pytest.approx(_red_x(naive), abs=0.01)  # flipped alike
    assert (_red_x(naive) > x) == flip


def test_the_preview_draws_at_the_default_scale_when_none_is_given(inputs: tuple[JobContext, dict, str]) -> None:
    ctx, value, background = inputs
    preview = placement_preview(ctx, value, background, None, 0.5, 0.9, False)
    assert preview is not None
    share = (SUBJECT[3] - SUBJECT[1]) / 270  # 220 of 270 px: 0.81 -> clamped to 0.6
    assert preview.default_scale == preview.scale == min(share, DEFAULT_SCALE_RANGE[1]) == 0.6
    _, (left, top, right, bottom) = _pasted(np.asarray(preview.image), 54)
    assert bottom - top == pytest.approx(0.6, abs=3 / 384)
    # A scale given: drawn at it, the default still reported.
    other = placement_preview(ctx, value, background, 0.3, 0.5, 0.9, False)
    assert other is not None and (other.scale, other.default_scale) == (0.3, 0.6)


def test_a_phone_photos_display_copy_previews_as_the_full_run(inputs: tuple[JobContext, dict, str],
                                                              tmp_path: Path) -> None:
    """The editor shows a display copy (half size) with the mask painted on it; the run cuts the subject from the
    full-resolution file (the page's State), the preview from the copy: the same placement."""
    ctx, value, background = inputs
    full = value["background"]
    shown = {"background": str(tmp_path / "shown.png"), "layers": [str(tmp_path / "shown_layer.png")],
             "composite": None}
    Image.open(full).resize((180, 135), Image.BILINEAR).save(shown["background"])
    Image.open(value["layers"][0]).resize((180, 135), Image.NEAREST).save(shown["layers"][0])
    naive = np.asarray(run_portrait(ctx, shown, background, 0.4, 0.6, 0.8, False, "global", {},
                                    full_image=full).naive.image)
    preview = placement_preview(ctx, shown, background, 0.4, 0.6, 0.8, False)
    assert preview is not None
    _, run_box = _pasted(naive, 54)
    _, preview_box = _pasted(np.asarray(preview.image), 54)
    assert preview_box == pytest.approx(run_box, abs=2.5 / PREVIEW_LONG_SIDE)


def test_nothing_to_place_gives_no_preview(inputs: tuple[JobContext, dict, str]) -> None:
    ctx, value, background = inputs
    assert placement_preview(ctx, None, background, 0.5, 0.5, 0.9, False) is None
    assert placement_preview(ctx, value, None, 0.5, 0.5, 0.9, False) is None
    assert placement_preview(ctx, {**value, "layers": []}, background, 0.5, 0.5, 0.9, False) is None


def test_the_preview_checks_its_inputs_as_the_run_does(inputs: tuple[JobContext, dict, str], tmp_path: Path) -> None:
    ctx, value, background = inputs
    outside = UploadGate.of([tmp_path / "elsewhere"])
    with pytest.raises(UploadRefusedError):
        placement_preview(JobContext(outside, ctx.memory), value, background, 0.5, 0.5, 0.9, False)
    with pytest.raises(ValueError, match="finite number"):
        placement_preview(ctx, value, background, float("nan"), 0.5, 0.9, False)
    with pytest.raises(ValueError, match="flip"):
        placement_preview(ctx, value, background, 0.5, 0.5, 0.9, "yes")


# ------------------------------------------------------------------------------------ the page's default scale


def test_the_page_proposes_the_default_scale_until_the_user_moves_the_slider() -> None:
    """demo.placement on the example files: with the slider at the value the app set (0.5 at first) the subject's
    default scale goes to the slider and the State; a scale the user chose is kept; the preview is drawn from the
    kept subject at the slider's scale."""
    from demo.config import EXAMPLES_DIR
    from demo.placement import draw_preview, take_subject

    value = {"background": str(EXAMPLES_DIR / "skimage_astronaut.jpg"),
             "layers": [str(EXAMPLES_DIR / "skimage_astronaut_layer.png")], "composite": None}
    background = str(EXAMPLES_DIR / "gcompris_details_vincentvangogh0013.jpg")
    layer = np.asarray(Image.open(value["layers"][0]))[..., 3] >= 128
    rows = np.nonzero(layer.any(axis=1))[0]
    share = (rows[-1] + 1 - rows[0]) / layer.shape[0]
    expected = int(min(max(share, 0.2), 0.6) * 100 + 1e-6) / 100

    token, slider, state = asyncio.run(take_subject(value, background, 0.5, 0.5))
    assert isinstance(token, str)
    assert slider == state == expected != 0.5
    unchanged = {"__type__": "update"}
    other, slider, state = asyncio.run(take_subject(value, background, 0.7, expected))
    assert isinstance(other, str) and slider == state == unchanged  # the user's 0.7 stays
    _, slider, _ = asyncio.run(take_subject(value, background, expected, expected))
    assert slider == unchanged  # already at the default: nothing to change
    assert asyncio.run(take_subject({**value, "layers": []}, background, 0.5, 0.5)) == (None, unchanged, unchanged)

    image = asyncio.run(draw_preview(token, background, 0.7, 0.5, 0.9, False))
    assert image is not None and image.size == (439, 500)
    changed = np.abs(np.asarray(image).astype(int) - np.asarray(Image.open(background).convert("RGB"))).max(axis=2)
    rows = np.nonzero((changed > 48).sum(axis=1) >= 3)[0]
    assert (rows[-1] + 1 - rows[0]) / 500 == pytest.approx(0.7, abs=0.02)  # at the slider's scale
    assert asyncio.run(draw_preview(None, background, 0.7, 0.5, 0.9, False)) is None


def test_the_portrait_editor_has_no_change_listener() -> None:
    """A ``change`` or ``input`` listener switches Gradio's editor to exporting and uploading its background,
    composite and layers as PNGs on every change while painting; the preview reads the editor through its hidden
    refresh button instead (pressed when the pointer leaves the editor, or a tool's update ends)."""
    from demo.layout import build_demo

    config = build_demo().get_config_file()
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    editor_events = {event for dep in config["dependencies"] for target, event in dep["targets"]
                     if ids.get(target) == "fg_editor"}
    assert editor_events and not editor_events & {"change", "input"}, editor_events
    refresh = [dep for dep in config["dependencies"] for target, event in dep["targets"]
               if ids.get(target) == "placement_refresh" and event == "click"]
    assert len(refresh) == 1 and refresh[0]["trigger_mode"] == "always_last"
