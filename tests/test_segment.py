"""Any-object masks from a box and/or scribbles (GrabCut through cvbridge), the mask cleanup, and the API.

The scene: an orange, striped ellipse (the object) on a blue-to-green background, three orange "crowd" disks of the
same colours on the right (what a colour model alone would also take), and, in some tests, a purple block touching
the ellipse inside the box.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from harmonization import auto_mask
from harmonization.cvbridge import (
    BACKGROUND,
    OBJECT,
    PROBABLY_BACKGROUND,
    PROBABLY_OBJECT,
    connected_components,
    grabcut,
)
from harmonization.ops.mask import dilate, erode
from harmonization.pipelines.cleanup import NoSubjectFoundError, clean_mask, fill_holes
from harmonization.pipelines.segment import object_mask, pixel_box

BOX = (24, 16, 86, 104)  # around the ellipse (x 27..83, y 20..100), about 10 % larger


def _scene(scale: int = 1, block: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(image, ellipse, crowd, block)`` at 160x120 times ``scale``; masks ``(1, 1, H, W)`` float 0/1."""
    height, width = 120 * scale, 160 * scale
    axis_y = (torch.arange(height) + 0.5) / scale
    axis_x = (torch.arange(width) + 0.5) / scale
    yy, xx = torch.meshgrid(axis_y, axis_x, indexing="ij")
    ellipse = ((yy - 60) / 40) ** 2 + ((xx - 55) / 28) ** 2 <= 1
    crowd = torch.zeros(height, width, dtype=torch.bool)
    for cy, cx in ((25, 130), (60, 140), (98, 128)):
        crowd |= ((yy - cy) ** 2 + (xx - cx) ** 2) <= 8**2
    t = yy / 120
    image = torch.stack([0.15 + 0 * t, 0.3 + 0.3 * t, 0.75 - 0.4 * t])
    stripes = ((yy // 6) % 2 == 0).float()
    orange = torch.stack([0.9 + 0 * t, 0.55 - 0.15 * stripes, 0.2 + 0 * t])
    image = torch.where(ellipse | crowd, orange, image)
    square = (yy >= 20) & (yy < 45) & (xx >= 70) & (xx < 84) & ~ellipse & block
    image = torch.where(square, torch.tensor([0.55, 0.2, 0.6]).view(3, 1, 1), image)
    image = image + 0.03 * torch.randn(3, height, width, generator=torch.Generator().manual_seed(0))
    return (image.clamp(0, 1)[None], ellipse[None, None].float(), crowd[None, None].float(),
            square[None, None].float())


def _iou(found: torch.Tensor, truth: torch.Tensor) -> float:
    a, b = found >= 0.5, truth >= 0.5
    return float((a & b).sum() / (a | b).sum())


def _rgb8(image: torch.Tensor) -> np.ndarray:
    return image[0].permute(1, 2, 0).mul(255).round().byte().numpy()


# --- the OpenCV boundary ----------------------------------------------------------------------------------------


def test_connected_components_labels_and_areas() -> None:
    mask = torch.zeros(1, 1, 6, 7)
    mask[..., 0:2, 0:2] = 1  # 4 px
    mask[..., 2, 2] = 1  # touches the first block diagonally only
    mask[..., 4:6, 4:7] = 1  # 6 px
    labels, areas = connected_components(mask, connectivity=8)
    assert labels.shape == (6, 7) and sorted(areas[1:].tolist()) == [5, 6] and int(areas[0]) == 42 - 11
    assert int(labels[2, 2]) == int(labels[0, 0]) != int(labels[5, 6])
    labels, areas = connected_components(mask, connectivity=4)
    assert sorted(areas[1:].tolist()) == [1, 4, 6]
    with pytest.raises(ValueError, match="connectivity must be 4 or 8; got 6"):
        connected_components(mask, connectivity=6)


def test_grabcut_one_iteration_at_a_time_equals_one_opencv_call() -> None:
    """The progress-friendly loop (one iteration per call, models carried over) gives OpenCV's own result."""
    image, _, _, _ = _scene()
    seeds = torch.full((1, 1, 120, 160), BACKGROUND, dtype=torch.uint8)
    seeds[..., 16:104, 24:86] = PROBABLY_OBJECT
    calls: list[int] = []
    ours = grabcut(image, seeds, 4, on_iteration=calls.append)
    labels = seeds[0, 0].numpy().copy()
    cv2.setRNGSeed(0)
    cv2.grabCut(_rgb8(image), labels, None, np.zeros((1, 65)), np.zeros((1, 65)), 4, cv2.GC_INIT_WITH_MASK)
    assert calls == [1, 2, 3, 4]
    assert torch.equal(ours[0, 0], torch.from_numpy((labels == OBJECT) | (labels == PROBABLY_OBJECT)))


def test_grabcut_errors_name_the_problem() -> None:
    image = torch.rand(1, 3, 20, 20)
    seeds = torch.full((1, 1, 20, 20), PROBABLY_OBJECT, dtype=torch.uint8)
    with pytest.raises(ValueError, match="at least 10 pixels on each side.*400 object and 0 background pixels. Leave"):
        grabcut(image, seeds, 1)
    with pytest.raises(ValueError, match="seed labels must be 0..3"):
        grabcut(image, seeds + 3, 1)
    with pytest.raises(ValueError, match="iterations must be at least 1; got 0"):
        grabcut(image, seeds, 0)
    with pytest.raises(ValueError, match=r"image must be a \(1, 3, H, W\) tensor; got \(2, 3, 20, 20\)"):
        grabcut(torch.rand(2, 3, 20, 20), seeds, 1)
    seeds[..., :5, :] = PROBABLY_BACKGROUND
    assert grabcut(image, seeds, 1).dtype == torch.bool


# --- the cleanup --------------------------------------------------------------------------------------------------


def _blob(mask: torch.Tensor, top: int, left: int, size: int, value: float) -> None:
    mask[..., top : top + size, left : left + size] = value


def test_clean_mask_keeps_the_main_region_and_drops_islands_and_faint_areas() -> None:
    probability = torch.zeros(1, 1, 100, 100)
    _blob(probability, 10, 10, 40, 0.98)  # the person
    probability[..., 10:50, 9] = 0.4  # its soft rim (kept)
    _blob(probability, 80, 80, 5, 0.97)  # a confident island, much smaller: dropped
    _blob(probability, 60, 10, 20, 0.3)  # a faint area: dropped
    _blob(probability, 10, 70, 15, 0.7)  # >= 0.5 but no confident core: dropped
    out = clean_mask(probability, edge=3)
    assert bool((out[..., 10:50, 10:50] == 1).all()), "the confident interior becomes exactly 1"
    assert float(out[0, 0, 20, 9]) == pytest.approx((0.4 - 0.25) / 0.5), "the rim keeps its (stretched) softness"
    out[..., 10:50, 9:50] = 0
    assert float(out.abs().sum()) == 0.0, "nothing else survives"


def test_clean_mask_keeps_two_people_and_seeded_regions() -> None:
    probability = torch.zeros(1, 1, 60, 120)
    _blob(probability, 10, 5, 40, 0.95)
    _blob(probability, 15, 60, 30, 0.95)  # 56 % of the first one's area: a second person
    _blob(probability, 2, 110, 4, 0.95)  # small: dropped unless a seed touches it
    out = clean_mask(probability)
    assert float(out[0, 0, 30, 70]) == 1.0 and float(out[0, 0, 3, 111]) == 0.0
    seeds = torch.zeros(1, 1, 60, 120, dtype=torch.bool)
    seeds[..., 3, 111] = True
    assert float(clean_mask(probability, seeds=seeds)[0, 0, 3, 111]) == 1.0


def test_clean_mask_refuses_a_mask_with_no_confident_region() -> None:
    """A landscape gives the people model faint blotches (up to about 0.8), never a confident core."""
    probability = torch.zeros(1, 1, 64, 64)
    _blob(probability, 10, 10, 20, 0.8)
    _blob(probability, 40, 40, 10, 0.6)
    with pytest.raises(NoSubjectFoundError, match="No person here"):
        clean_mask(probability, nothing_found="No person here")
    with pytest.raises(NoSubjectFoundError):
        clean_mask(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"confident must be in \(0.5, 1\]; got 0.4"):
        clean_mask(probability, confident=0.4)


def test_fill_holes_fills_enclosed_holes_only() -> None:
    ring = torch.zeros(1, 1, 20, 30, dtype=torch.bool)
    ring[..., 2:12, 2:12] = True
    ring[..., 5:8, 5:8] = False  # enclosed: filled
    ring[..., 2:12, 18:28] = True
    ring[..., 0:8, 22:24] = False  # a notch open to the border: kept
    filled = fill_holes(ring)
    assert bool(filled[..., 5:8, 5:8].all()) and not bool(filled[..., 0:8, 22:24].any())
    assert int(filled.sum()) == int(ring.sum()) + 9


# --- object_mask ---------------------------------------------------------------------------------------------------


def test_box_gives_the_object_and_nothing_outside_the_box() -> None:
    image, ellipse, crowd, _ = _scene()
    found = object_mask(image, BOX)
    assert _iou(found, ellipse) > 0.97
    assert float(found[crowd > 0].max()) == 0.0


def test_a_rough_scribble_gives_the_subject_not_crowd_patches() -> None:
    """Strokes over the subject and no box: GrabCut's colour model alone also takes the same-coloured crowd disks;
    the object mask keeps only the region the strokes touch."""
    image, ellipse, crowd, _ = _scene()
    strokes = torch.zeros_like(ellipse)
    strokes[..., 35:85, 52:57] = 1
    strokes[..., 58:62, 38:72] = 1
    seeds = torch.full((1, 1, 120, 160), PROBABLY_BACKGROUND, dtype=torch.uint8)
    seeds[strokes > 0] = OBJECT
    assert float(grabcut(image, seeds, 5)[crowd > 0].float().mean()) > 0.5, "the scene must tempt a colour model"
    found = object_mask(image, object_strokes=strokes)
    assert _iou(found, ellipse) > 0.97
    assert float(found[crowd > 0].max()) == 0.0
    assert bool((found[erode(ellipse, 2) > 0] == 1).all()), "a solid subject, not a blotchy one"


def test_a_background_stroke_removes_the_region_it_crosses() -> None:
    image, ellipse, _, block = _scene(block=True)
    assert float(object_mask(image, BOX)[block > 0].mean()) > 0.5, "without the stroke the block is taken"
    stroke = torch.zeros_like(ellipse)
    stroke[..., 22:45, 75:79] = 1  # across the block, grazing the ellipse at its lower end
    assert float((stroke * ellipse).sum()) > 0
    found = object_mask(image, BOX, background_strokes=stroke)
    assert float(found[block > 0].max()) == 0.0
    assert _iou(found, ellipse) > 0.97


def test_a_large_photo_is_segmented_small_and_upsampled_along_its_edges() -> None:
    """1280x960 segmented at 160 px (the box and its context: 1040x960 px): the mask follows the full-resolution
    edge, with a solid interior and a narrow soft edge, and the progress goes from 0 to 1 through every GrabCut
    iteration."""
    image, ellipse, crowd, _ = _scene(scale=8)
    calls: list[tuple[float, str]] = []
    found = object_mask(image, tuple(8 * v for v in BOX), work_side=160, iterations=3,
                        progress=lambda fraction, message: calls.append((fraction, message)))
    assert found.shape == (1, 1, 960, 1280)
    assert _iou(found, ellipse) > 0.99
    # the soft edge is about one working pixel wide (the 1040 px crop at 160 px: 6.5 px)
    assert bool((found[erode(ellipse, 8) > 0] == 1).all()) and bool((found[dilate(ellipse, 8) == 0] == 0).all())
    soft = (found > 0) & (found < 1)
    assert int(soft.sum()) < 0.01 * int((ellipse > 0).sum())
    fractions = [fraction for fraction, _ in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert any("GrabCut 3/3" in message for _, message in calls)


def test_object_mask_errors_say_what_to_do() -> None:
    image, ellipse, _, _ = _scene()
    with pytest.raises(ValueError, match="Give a box around the object"):
        object_mask(image)
    with pytest.raises(ValueError, match="background strokes alone"):
        object_mask(image, background_strokes=ellipse)
    with pytest.raises(ValueError, match="overlap on 1 pixels"):
        one = torch.zeros_like(ellipse)
        one[..., 60, 55] = 1
        object_mask(image, object_strokes=ellipse, background_strokes=one)
    with pytest.raises(ValueError, match="object_strokes has W=10 but the image has W=160"):
        object_mask(image, object_strokes=torch.ones(1, 1, 120, 10))
    with pytest.raises(ValueError, match="The box covers the whole photo"):
        object_mask(image, (0, 0, 160, 120))
    # a box 2 px inside a large photo still leaves background in the small copy
    big = torch.nn.functional.interpolate(image, size=(960, 1280), mode="bilinear")
    assert object_mask(big, (2, 2, 1278, 958), work_side=100).shape == (1, 1, 960, 1280)
    assert _iou(object_mask(image, BOX, context=0.0), ellipse) > 0.9  # the box itself and one pixel around it


def test_pixel_box_normalises_and_clips() -> None:
    assert pixel_box((86.2, 104, 24.7, 16), 160, 120) == (24, 16, 87, 104)
    assert pixel_box((-10, -5, 500, 60), 160, 120) == (0, 0, 160, 60)
    with pytest.raises(ValueError, match=r"four finite numbers \(x0, y0, x1, y1\)"):
        pixel_box((1, 2, 3), 160, 120)
    with pytest.raises(ValueError, match=r"four numbers \(x0, y0, x1, y1\) in pixels; got 'abcd'"):
        pixel_box("abcd", 160, 120)  # type: ignore[arg-type]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="four finite numbers"):
        pixel_box((0, 0, float("nan"), 10), 160, 120)
    with pytest.raises(ValueError, match="covers 0x10 px of the 160x120 image"):
        pixel_box((200, 0, 300, 10), 160, 120)


# --- the API --------------------------------------------------------------------------------------------------------


def test_auto_mask_with_a_box_or_scribbles_returns_an_8_bit_mask() -> None:
    image, ellipse, crowd, _ = _scene()
    rgb8 = _rgb8(image)
    calls: list[float] = []
    boxed = auto_mask(rgb8, box=BOX, progress=lambda fraction, message: calls.append(fraction))
    assert isinstance(boxed, Image.Image) and boxed.mode == "L" and boxed.size == (160, 120)
    found = torch.from_numpy(np.asarray(boxed) / 255.0)[None, None]
    assert _iou(found, ellipse) > 0.97 and calls[0] == 0.0 and calls[-1] == 1.0
    layer = np.zeros((120, 160, 4), np.uint8)  # an editor's brush layer: painted where alpha > 0
    layer[40:80, 52:57] = (255, 45, 111, 255)
    scribbled = auto_mask(rgb8, scribbles=Image.fromarray(layer, "RGBA"))
    assert _iou(torch.from_numpy(np.asarray(scribbled) / 255.0)[None, None], ellipse) > 0.97
    assert int(np.asarray(scribbled)[crowd[0, 0].numpy() > 0].max()) == 0
    with pytest.raises(ValueError, match="The mask is 10x10 px but the image is 160x120 px"):
        auto_mask(rgb8, scribbles=np.zeros((10, 10), np.uint8))
