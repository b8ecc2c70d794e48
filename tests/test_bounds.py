"""Every numeric input has a range with a clear error: method options, NaN in arrays, the composition's position and
the page's sliders (an API client may send anything)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_scene
from PIL import Image

from harmonization import compose, harmonize, harmonize_tensor
from harmonization.errors import ImageReadError
from harmonization.image_io import load_mask, load_rgb8
from harmonization.serving import MemoryBudget, UploadGate
from harmonization.serving.jobs import JobContext, painterly_options, run_portrait


@pytest.mark.parametrize(("options", "expected"), [
    ({"radius": 0.0}, "radius must be a number in (0, 1000]"),
    ({"radius": -1.0}, "radius must be a number in (0, 1000]"),
    ({"radius": 1e9}, "radius must be a number in (0, 1000]"),
    ({"radius": float("nan")}, "'radius' of method 'local' must be a finite number"),
    ({"radius": float("inf")}, "'radius' of method 'local' must be a finite number"),
    ({"work_size": 0}, "work_size must be a whole number of pixels in [8, 512]"),
    ({"work_size": -5}, "work_size must be a whole number of pixels in [8, 512]"),
    ({"work_size": 4}, "work_size must be a whole number of pixels in [8, 512]"),
    ({"work_size": 100_000}, "work_size must be a whole number of pixels in [8, 512]"),
    ({"work_size": 64.5}, "'work_size' of method 'local' must be a whole number"),
    ({"strength": 3.0}, "strength must be in [0, 2]"),
])
def test_local_options_out_of_range(options: dict[str, float], expected: str) -> None:
    image, mask = make_scene(32, 40)
    with pytest.raises(ValueError) as info:
        harmonize(image, mask, method="local", **options)
    assert expected in str(info.value)
    assert "got" in str(info.value)  # says what it received


def test_the_edges_of_the_ranges_are_accepted() -> None:
    image, mask = make_scene(32, 40)
    for options in ({"radius": 1000.0}, {"radius": 1e-3}, {"work_size": 8}, {"work_size": 512}):
        assert harmonize(image, mask, method="local", **options).size == (40, 32)


@pytest.mark.parametrize(("resolution", "expected"), [
    (8.5, "'resolution' of method 'phnet' must be none or a whole number; got 8.5"),
    (20000, "resolution must be a whole number of pixels in [8, 2048]"),
    (10**9, "resolution must be a whole number of pixels in [8, 2048]"),
    (4, "resolution must be a whole number of pixels in [8, 2048]"),
])
def test_network_resolution_is_bounded_before_any_work(resolution: float, expected: str) -> None:
    image, mask = make_scene(32, 40)
    with pytest.raises(ValueError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        harmonize(image, mask, method="phnet", resolution=resolution)


@pytest.mark.parametrize("feather", [1e9, -1.0, float("nan")])
def test_feather_radius_is_bounded(feather: float) -> None:
    image, mask = make_scene(32, 40)
    with pytest.raises(ValueError, match=r"feather_radius must be a number of pixels in \[0, 256\]"):
        harmonize(image, mask, method="global", feather_radius=feather)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_in_arrays_are_named(bad: float) -> None:
    image = np.full((20, 24, 3), 0.5, np.float32)
    image[3, 4, 1] = bad
    mask = np.full((20, 24), 0.5, np.float32)
    mask[5, 6] = bad
    word = "NaN" if np.isnan(bad) else "infinite"
    for read, value, what in ((load_rgb8, image, "A float image array"), (load_mask, mask, "A float mask")):
        with pytest.raises(ImageReadError) as info:
            read(value)
        message = str(info.value)
        assert message.startswith(f"{what} must hold finite values in [0, 1]; it holds 1 {word} value(s).")
        assert "range" not in message  # not the old "got range [0.5, 0.5]" that hid the NaN


def test_out_of_range_arrays_still_give_their_range() -> None:
    with pytest.raises(ImageReadError, match=r"got range \[0, 2\]"):
        load_mask(np.array([[0.0, 2.0]] * 16, np.float32))


def test_nan_in_tensors_is_refused() -> None:
    image, mask = make_scene(32, 40)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    soft = torch.from_numpy(mask.astype(np.float32))[None, None]
    soft[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="mask holds NaN or infinite values"):
        harmonize_tensor(tensor, soft, "global")


@pytest.mark.parametrize("center", [(float("nan"), 0.5), (0.5, float("inf")), (0.5,), ("left", 0.5), (True, 0.5)])
def test_compose_refuses_a_center_that_is_not_two_finite_numbers(center: tuple[object, ...]) -> None:
    fg = np.full((30, 20, 3), 200, np.uint8)
    fg_mask = np.zeros((30, 20), np.uint8)
    fg_mask[5:25, 5:15] = 255
    bg = np.full((50, 70, 3), 40, np.uint8)
    with pytest.raises(ValueError, match=r"center must be two finite numbers \(x, y\)"):
        compose(fg, fg_mask, bg, scale=0.5, center=center)  # type: ignore[arg-type]


def test_painterly_quality_names_are_checked() -> None:
    assert painterly_options("preview") == {"size": 256, "steps": 60}
    assert painterly_options(None) == painterly_options("standard")
    for bad in ("ultra", "", 3, ["preview"]):
        with pytest.raises(ValueError, match="Unknown painterly quality"):
            painterly_options(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("field", "value"), [("scale", "big"), ("scale", float("nan")), ("x", True),
                                              ("y", None), ("flip", "yes")])
def test_the_page_sliders_take_only_finite_numbers(tmp_path: Path, field: str, value: object) -> None:
    """With ``preprocess=False`` the slider values reach the job as the client sent them."""
    portrait = tmp_path / "p.png"
    Image.fromarray(np.full((40, 30, 3), 128, np.uint8)).save(portrait)
    ctx = JobContext(UploadGate.of([tmp_path]), MemoryBudget(8 << 30))
    values = {"scale": 0.5, "x": 0.5, "y": 0.5, "flip": False, field: value}
    editor = {"background": str(portrait), "layers": [], "composite": None}
    with pytest.raises(ValueError, match="must be (a finite number|true or false)"):
        run_portrait(ctx, editor, str(portrait), values["scale"], values["x"], values["y"], values["flip"], "global",
                     {})
