"""Phone photos in the editor: images larger than the editor's canvas are shown as a display copy, the mask tools
work on them (they were refused: "the editor's canvas holds at most 4096x4096"), and runs use the full resolution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harmonization.image_io import (
    DISPLAY_LONG_SIDE,
    editor_display_copy,
    editor_display_size,
    editor_to_image_and_mask,
    strokes_box,
)
from harmonization.image_io.editor_frame import frame_of, stroked_since
from harmonization.serving import MemoryBudget, UploadGate
from harmonization.serving.jobs import JobContext, mask_tool_framed, mask_tool_full, run_composite

COLOR = (255, 45, 111)


def _photo(width: int, height: int) -> np.ndarray:
    """A tall grey-blue photo with a warm ellipse (the object) in the middle."""
    yy, xx = np.mgrid[0:height, 0:width]
    photo = np.empty((height, width, 3), np.uint8)
    photo[...] = (70, 90, 130)
    photo[..., 2] = (100 + 60 * yy / height).astype(np.uint8)
    inside = ((xx - width / 2) / (width * 0.25)) ** 2 + ((yy - height / 2) / (height * 0.2)) ** 2 <= 1
    photo[inside] = (220, 150, 60)
    return photo


def _save(folder: Path, name: str, array: np.ndarray) -> str:
    path = folder / name
    Image.fromarray(array).save(path, compress_level=1)
    return str(path)


def _box_layer(width: int, height: int) -> np.ndarray:
    """A rough rectangle outline drawn with the brush around the ellipse (10 % larger than it)."""
    layer = np.zeros((height, width, 4), np.uint8)
    x0, x1 = int(width * 0.22), int(width * 0.78)
    y0, y1 = int(height * 0.28), int(height * 0.72)
    thick = max(2, width // 100)
    for ys, xs in ((slice(y0, y0 + thick), slice(x0, x1)), (slice(y1 - thick, y1), slice(x0, x1)),
                   (slice(y0, y1), slice(x0, x0 + thick)), (slice(y0, y1), slice(x1 - thick, x1))):
        layer[ys, xs] = (*COLOR, 255)
    return layer


@pytest.fixture
def ctx(tmp_path: Path) -> JobContext:
    return JobContext(UploadGate.of([tmp_path]), MemoryBudget(8 << 30))


def test_display_size_keeps_images_that_fit_and_shrinks_phone_photos() -> None:
    assert editor_display_size((512, 384), (4096, 4096)) == (512, 384)
    assert editor_display_size((3000, 4496), (4096, 4096)) == (1367, DISPLAY_LONG_SIDE)
    assert editor_display_size((7736, 5160), (4096, 4096)) == (DISPLAY_LONG_SIDE, 1366)
    assert editor_display_size((900, 600), (512, 512)) == (512, 341)
    small = np.zeros((10, 12, 3), np.uint8)
    assert editor_display_copy(small, (16, 16)) is small


def test_strokes_box_is_the_painted_extent() -> None:
    mask = np.zeros((20, 30), np.uint8)
    mask[3:9, 5:25] = 255
    assert strokes_box(mask) == (5, 3, 25, 9)
    with pytest.raises(ValueError, match="No strokes"):
        strokes_box(np.zeros((4, 4), np.uint8))


def test_full_image_used_only_for_its_own_display_copy(tmp_path: Path) -> None:
    full = _photo(300, 450)
    shown = editor_display_copy(full, (128, 128))
    assert shown.shape == (128, 85, 3)
    layer = np.zeros((*shown.shape[:2], 4), np.uint8)
    layer[40:90, 20:60, 3] = 255
    value = {"background": shown, "layers": [layer], "composite": None}
    image, mask = editor_to_image_and_mask(value, full)
    assert image.shape == full.shape and np.array_equal(image, full)
    assert mask.shape == full.shape[:2] and mask[230, 120] == 255 and mask[10, 10] == 0
    other = np.ascontiguousarray(shown[::-1])  # another picture of the same size: the full image is not used
    image, mask = editor_to_image_and_mask({"background": other, "layers": [layer], "composite": None}, full)
    assert image.shape == shown.shape and mask.shape == shown.shape[:2]


def test_mask_tool_and_run_keep_the_full_resolution(ctx: JobContext, tmp_path: Path) -> None:
    """Scaled down (canvas 256 px for a 300x450 photo) so that it runs in a second; the phone-photo size is below."""
    width, height, canvas = 300, 450, (256, 256)
    full = _save(tmp_path, "photo.png", _photo(width, height))
    layer = _save(tmp_path, "layer.png", _box_layer(width, height))
    value, kept = mask_tool_full(ctx, {"background": full, "layers": [layer], "composite": None}, "object",
                                 canvas=canvas, color=COLOR, strokes="box")
    assert kept == full
    assert value["background"].shape == (256, 171, 3)
    assert value["layers"][0].shape == (256, 171, 4)  # the layer at the size of the image the editor shows
    # The page sends the display copy and the layer back; the run cuts from the full image.
    shown = {"background": _save(tmp_path, "shown.png", value["background"]),
             "layers": [_save(tmp_path, "shown_layer.png", value["layers"][0])], "composite": None}
    comparison = run_composite(ctx, shown, "global", {}, full_image=kept)
    assert comparison.result.image.size == (width, height)
    result = np.asarray(comparison.result.image.convert("RGB"))
    photo = _photo(width, height)
    assert np.array_equal(result[:40], photo[:40])  # far from the object: untouched, at full resolution
    assert np.abs(result[height // 2, width // 2].astype(int) - photo[height // 2, width // 2]).sum() > 10
    # Refine on the display copy works too, and the next tool call gets the full file again.
    _, kept_again = mask_tool_full(ctx, shown, "refine", canvas=canvas, color=COLOR, full_image=kept)
    assert kept_again == full


def test_mask_tool_refuses_an_unknown_box(ctx: JobContext, tmp_path: Path) -> None:
    full = _save(tmp_path, "photo.png", _photo(60, 90))
    value = {"background": full, "layers": [], "composite": None}
    for bad in ("1, 2, 3", [1, 2, float("nan"), 4], "a, b, c, d"):
        with pytest.raises(ValueError, match="four numbers"):
            mask_tool_full(ctx, value, "object", canvas=(256, 256), color=COLOR, box=bad)
    with pytest.raises(ValueError, match="strokes must be"):
        mask_tool_full(ctx, value, "object", canvas=(256, 256), color=COLOR, strokes="circle")


@pytest.mark.slow
def test_phone_photo_3000x4496_through_the_mask_tool(ctx: JobContext, tmp_path: Path) -> None:
    """The issue's case: a 3000x4496 portrait and the editor's real 4096x4096 canvas."""
    width, height = 3000, 4496
    full = _save(tmp_path, "phone.png", _photo(width, height))
    layer = _save(tmp_path, "layer.png", _box_layer(width, height))
    value, kept = mask_tool_full(ctx, {"background": full, "layers": [layer], "composite": None}, "object",
                                 canvas=(4096, 4096), color=COLOR, strokes="box")
    assert kept == full and value["background"].shape == (2048, 1367, 3)
    alpha = value["layers"][0][..., 3]
    assert alpha.shape == (2048, 1367)
    assert alpha[1024, 683] == 255 and alpha[20, 20] == 0


def _shown(tmp_path: Path, value: dict, name: str) -> dict:
    """What the page sends back after a tool call: the picture and the layer it was sent, as files."""
    picture = value["background"]
    if not isinstance(picture, str):
        picture = _save(tmp_path, f"{name}_shown.png", picture)
    return {"background": picture, "layers": [_save(tmp_path, f"{name}_layer.png", value["layers"][0])],
            "composite": None}


def test_before_any_stroke_the_tools_keep_the_uploads_frame(ctx: JobContext, tmp_path: Path) -> None:
    """Issue 15's open defect: Gradio's editor draws a mask sent before any stroke in the upload's frame, so a tool
    called on an upload larger than the canvas with nothing painted sends the upload back as it is (not a display
    copy), and keeps doing so until a stroke is painted; after one, the display copy starts and stays."""
    width, height, canvas = 300, 450, (256, 256)
    full = _save(tmp_path, "photo.png", _photo(width, height))
    box = "60, 120, 240, 330"
    value, kept, frame = mask_tool_framed(ctx, {"background": full, "layers": [], "composite": None}, "object",
                                          canvas=canvas, color=COLOR, box=box)
    assert value["background"] == full and kept is None  # the upload itself, no display copy
    assert value["layers"][0].shape == (height, width, 4)
    assert value["layers"][0][height // 2, width // 2, 3] == 255
    # The page sends it back untouched (no stroke): a second tool keeps the frame too.
    again = _shown(tmp_path, value, "again")
    value2, kept2, frame2 = mask_tool_framed(ctx, again, "refine", canvas=canvas, color=COLOR, frame=frame)
    assert value2["background"] == full and kept2 is None and value2["layers"][0].shape == (height, width, 4)
    # One stroke (a dab in a corner) since: the display copy starts, the full file is kept for the run.
    stroked = np.asarray(value2["layers"][0]).copy()
    stroked[10:40, 10:40] = (*COLOR, 255)
    touched = {"background": full, "layers": [_save(tmp_path, "stroked.png", stroked)], "composite": None}
    value3, kept3, frame3 = mask_tool_framed(ctx, touched, "refine", canvas=canvas, color=COLOR, frame=frame2)
    assert kept3 == full and value3["background"].shape == (256, 171, 3)
    assert value3["layers"][0].shape == (256, 171, 4)
    # The display copy sent back without a stroke: it stays a display copy of the same size.
    value4, kept4, _ = mask_tool_framed(ctx, _shown(tmp_path, value3, "copy"), "refine", canvas=canvas,
                                        color=COLOR, full_image=kept3, frame=frame3)
    assert kept4 == full and value4["background"].shape == (256, 171, 3)
    # Without a frame (the first call since the upload), anything painted counts as a stroke.
    _, kept5, _ = mask_tool_framed(ctx, touched, "refine", canvas=canvas, color=COLOR)
    assert kept5 == full


def test_stroked_since_compares_the_layer_with_what_was_sent() -> None:
    alpha = np.zeros((450, 300), np.uint8)
    alpha[100:300, 80:220] = 255
    frame = frame_of((300, 450), alpha)
    assert not stroked_since(frame, (300, 450), alpha.copy())
    scaled = np.asarray(Image.fromarray(alpha).resize((600, 900), Image.BILINEAR))  # the same mask, scaled up
    assert not stroked_since(frame, (300, 450), scaled)
    dab = alpha.copy()
    dab[5:25, 5:25] = 255  # a 20 px dab of the brush
    assert stroked_since(frame, (300, 450), dab)
    erased = alpha.copy()
    erased[150:180, 100:130] = 0
    assert stroked_since(frame, (300, 450), erased)
    # another picture now (e.g. an API session's next photo): as after an upload, painted means stroked
    assert stroked_since(frame, (200, 450), dab) and not stroked_since(frame, (200, 450), None)
    assert stroked_since(None, (300, 450), alpha) and not stroked_since(None, (300, 450), None)
    assert stroked_since("not a frame", (300, 450), alpha)
