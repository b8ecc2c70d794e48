"""Public API: ``harmonize``/``harmonize_tensor`` validation messages, the method registry and plug-in methods."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import torch
from conftest import make_scene
from PIL import Image

import harmonization
from harmonization import available_methods, get_method, harmonize, harmonize_tensor, list_methods, register_method
from harmonization.api import MAX_PIXELS, MIN_SIDE, validate_inputs
from harmonization.image_io import ImageReadError
from harmonization.pipelines import registry
from harmonization.pipelines.registry import Method, MethodUnavailableError


def test_public_names() -> None:
    for name in ("harmonize", "compose", "available_methods", "metrics", "harmonize_tensor", "__version__"):
        assert hasattr(harmonization, name)
    assert callable(harmonization.metrics.evaluate)


def test_available_methods_include_the_classical_ones() -> None:
    names = available_methods()
    assert "global" in names and "local" in names
    assert set(names) <= set(list_methods())
    assert {"global", "local"} <= set(available_methods("photo"))
    for name in ("global", "local"):
        method = get_method(name)
        assert method.family == "photo" and method.describe_source() == "no weights"
        assert "strength" in method.options
        method.check_available()


def test_docstring_example() -> None:
    image = np.zeros((32, 32, 3), np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 8:24] = True
    assert harmonize(image, mask, method="global").size == (32, 32)


def test_default_method_is_local(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = scene
    np.testing.assert_array_equal(np.asarray(harmonize(image, mask)), np.asarray(harmonize(image, mask, "local")))


# ---------------------------------------------------------------------------------------------------- validation


def test_empty_mask_says_paint_the_object(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, _ = scene
    for mask in (np.zeros(image.shape[:2], bool), np.full(image.shape[:2], 0.4)):  # 0.4 < 0.5 marks nothing
        with pytest.raises(ValueError) as info:
            harmonize(image, mask)
        assert "empty" in str(info.value) and "Paint" in str(info.value)


def test_mask_everywhere_says_paint_only_the_object(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, _ = scene
    for mask in (np.ones(image.shape[:2], bool), np.full(image.shape[:2], 0.6)):
        with pytest.raises(ValueError) as info:
            harmonize(image, mask, method="global")
        assert "whole image" in str(info.value) and "Paint only" in str(info.value)


@pytest.mark.parametrize(("height", "width"), [(15, 40), (40, 15), (8, 8)])
def test_too_small_image(height: int, width: int) -> None:
    image = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), bool)
    mask[2:6, 2:6] = True
    with pytest.raises(ValueError) as info:
        harmonize(image, mask)
    message = str(info.value)
    assert f"{width}x{height}" in message and "at least 16 px" in message and "larger image" in message


def test_smallest_allowed_image_works() -> None:
    image, mask = make_scene(MIN_SIDE, MIN_SIDE)
    for method in ("global", "local"):
        assert harmonize(image, mask, method=method).size == (MIN_SIDE, MIN_SIDE)


def test_over_40_megapixels_is_refused_cheaply() -> None:
    height, width = 5001, 8000
    assert height * width > MAX_PIXELS
    image = torch.zeros(1, 3, 1, 1).expand(1, 3, height, width)  # no 480 MB allocation
    mask = torch.zeros(1, 1, 1, 1).expand(1, 1, height, width)
    with pytest.raises(ValueError) as info:
        validate_inputs(image, mask)
    message = str(info.value)
    assert "8000x5001" in message and "40 megapixels" in message and "Downscale" in message
    with pytest.raises(ValueError, match="megapixels"):
        harmonize_tensor(image, mask, "global")


def test_over_limit_message_shows_that_the_image_is_over_the_limit() -> None:
    image = torch.zeros(1, 3, 1, 1).expand(1, 3, 5001, 8000)
    mask = torch.zeros(1, 1, 1, 1).expand(1, 1, 5001, 8000)
    with pytest.raises(ValueError) as info:
        validate_inputs(image, mask)
    reported = re.search(r"\(([\d.]+) megapixels\)", str(info.value))
    assert reported is not None and float(reported.group(1)) > MAX_PIXELS / 1e6


def test_exactly_40_megapixels_passes_the_size_check() -> None:
    image = torch.zeros(1, 3, 1, 1).expand(1, 3, 5000, 8000)
    mask = torch.zeros(1, 1, 1, 1).expand(1, 1, 5000, 8000)
    with pytest.raises(ValueError, match="empty"):  # the next check fails, not the size limit
        validate_inputs(image, mask)


def test_unknown_method_lists_the_known_ones(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = scene
    with pytest.raises(ValueError) as info:
        harmonize(image, mask, method="magic")
    message = str(info.value)
    assert "'magic'" in message and "global" in message and "local" in message


def test_mask_of_another_size(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = scene
    with pytest.raises(ValueError, match="same size"):
        harmonize(image, mask[:, :-1])


def test_unreadable_composite(tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ImageReadError, match="photo.jpg"):
        harmonize(str(bad), np.ones((20, 20), bool))


def test_bad_option_value(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = scene
    with pytest.raises(ValueError, match="strength"):
        harmonize(image, mask, method="global", strength=2.5)


def test_unknown_option_is_a_value_error_naming_the_known_options(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = scene
    with pytest.raises(ValueError) as info:
        harmonize(image, mask, method="local", bogus=1)
    assert "bogus" in str(info.value) and "strength" in str(info.value) and "radius" in str(info.value)


def test_inputs_as_pil_images_and_files(scene: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    image, mask = scene
    expected = np.asarray(harmonize(image, mask, method="global"))
    pil_mask = Image.fromarray(mask.astype(np.uint8) * 255, mode="L")
    np.testing.assert_array_equal(np.asarray(harmonize(Image.fromarray(image), pil_mask, method="global")), expected)
    Image.fromarray(image).save(tmp_path / "c.png")
    pil_mask.save(tmp_path / "m.png")
    np.testing.assert_array_equal(
        np.asarray(harmonize(str(tmp_path / "c.png"), tmp_path / "m.png", method="global")), expected
    )


def test_harmonize_tensor_keeps_shape_and_background(scene: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = scene
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    for feather_radius in (0.0, 2.0):
        out = harmonize_tensor(x, m, "local", feather_radius=feather_radius)
        assert out.shape == x.shape and out.dtype == x.dtype
        outside = (m == 0).expand_as(x)
        assert torch.equal(out[outside], x[outside])


# -------------------------------------------------------------------------------------------- plug-in methods


@pytest.fixture
def temporary_methods() -> Iterator[list[str]]:
    """Names registered by a test; removed from the registry afterwards so other tests never see them."""
    names: list[str] = []
    yield names
    for name in names:
        registry._METHODS.pop(name, None)


def test_a_registered_photo_method_is_blended_with_the_soft_mask(temporary_methods: list[str]) -> None:
    seen: dict[str, torch.Tensor] = {}

    def paint_white(composite: torch.Tensor, mask: torch.Tensor, *, level: float = 1.0) -> torch.Tensor:
        seen["mask"] = mask
        return torch.full_like(composite, level)

    register_method(Method(name="test-white", label="White", run=paint_white, description="test"))
    temporary_methods.append("test-white")
    assert get_method("test-white").options == {"level": 1.0}  # read from the run function's signature
    assert "test-white" in available_methods() and "test-white" in list_methods("photo")
    image = np.zeros((20, 24, 3), np.uint8)
    mask = np.zeros((20, 24), np.float32)
    mask[5:15, 6:18] = 1.0
    mask[5:15, 6] = 0.5
    mask[5:15, 7] = 0.2
    out = np.asarray(harmonize(image, mask, method="test-white", level=1.0))
    assert set(np.unique(seen["mask"]).tolist()) == {0.0, 1.0}  # the method saw the binarised mask
    np.testing.assert_array_equal(out[..., 0], np.rint(mask * 255).astype(np.uint8))  # blended with the soft one


def test_option_values_are_checked_against_the_run_functions_annotations(temporary_methods: list[str]) -> None:
    def run(composite: torch.Tensor, mask: torch.Tensor, *, level: float = 1.0, name: str | None = None,
            mode: Literal["a", "b"] = "a", count: int = 2) -> torch.Tensor:
        return composite

    register_method(Method(name="test-typed", label="Typed", run=run, description="test"))
    temporary_methods.append("test-typed")
    image = np.zeros((20, 24, 3), np.uint8)
    mask = np.zeros((20, 24), bool)
    mask[5:15, 6:18] = True
    harmonize(image, mask, method="test-typed", level=2, name="x", mode="b", count=3)  # all accepted
    for options, expected in (
        ({"level": "abc"}, r"Option 'level' of method 'test-typed' must be a number.*got 'abc'"),
        ({"level": True}, r"'level' .* must be a number.*got True"),
        ({"level": float("nan")}, r"'level' .* must be a finite number; got nan"),
        ({"count": 2.5}, r"'count' .* must be a whole number; got 2.5"),
        ({"mode": "c"}, r"'mode' .* must be 'a' or 'b'; got 'c'"),
        ({"name": 3}, r"'name' .* must be none or text; got 3"),
        ({"colour": 1}, r"Unknown option\(s\) 'colour' for method 'test-typed'; known options: level, name, mode, "
                        "count"),
    ):
        with pytest.raises(ValueError, match=expected):
            harmonize(image, mask, method="test-typed", **options)


def test_an_unavailable_method_is_listed_but_not_offered(temporary_methods: list[str],
                                                        scene: tuple[np.ndarray, np.ndarray]) -> None:
    def run(composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise MethodUnavailableError("Method 'test-missing' is not available: no checkpoint; download it with X")

    register_method(Method(name="test-missing", label="Missing", run=run, description="test",
                           unavailable_reason=lambda: "no checkpoint; download it with X"))
    temporary_methods.append("test-missing")
    assert "test-missing" in list_methods() and "test-missing" not in available_methods()
    with pytest.raises(MethodUnavailableError, match="no checkpoint; download it with X"):
        get_method("test-missing").check_available()
    image, mask = scene
    with pytest.raises(MethodUnavailableError, match="download it with X"):
        harmonize(image, mask, method="test-missing")


def test_a_painterly_method_returns_its_own_image(temporary_methods: list[str]) -> None:
    calls: list[tuple[float, str]] = []

    def paint(composite: torch.Tensor, mask: torch.Tensor, *, progress: Callable[[float, str], None]) -> torch.Tensor:
        assert bool(((mask > 0) & (mask < 1)).any())  # painterly methods get the soft mask
        progress(0.5, "half way")
        return torch.full_like(composite, 0.5)

    register_method(Method(name="test-paint", label="Paint", run=paint, description="test", family="painterly"))
    temporary_methods.append("test-paint")
    image = np.zeros((20, 20, 3), np.uint8)
    mask = np.zeros((20, 20))
    mask[4:16, 4:16] = 1.0
    mask[4, 4:16] = 0.3
    out = np.asarray(harmonize(image, mask, method="test-paint", progress=lambda f, m: calls.append((f, m))))
    assert (out == 128).all()
    assert calls == [(0.5, "half way")]


def test_registering_a_name_twice_warns(temporary_methods: list[str]) -> None:
    method = Method(name="test-twice", label="Twice", run=lambda c, m: c, description="test")
    register_method(method)
    temporary_methods.append("test-twice")
    with pytest.warns(UserWarning, match="registered twice"):
        register_method(method)
