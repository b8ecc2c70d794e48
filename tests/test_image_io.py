"""Image I/O: every input kind of ``load_rgb8``/``load_mask``, tensor round trips and Gradio editor values."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import png_header_only
from PIL import Image

from harmonization.image_io import (
    ImageReadError,
    editor_to_image_and_mask,
    load_image,
    load_mask,
    load_rgb8,
    mask_tensor_to_pil,
    resize_mask8,
    resize_rgb8,
    rgb8_to_tensor,
    tensor_to_pil,
    tensor_to_rgb8,
)


def _pattern(height: int = 5, width: int = 7) -> np.ndarray:
    """A deterministic ``(H, W, 3)`` uint8 image whose every pixel differs from its neighbours."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 31 + y * 7) % 256, (y * 53 + 11) % 256, (x * y * 13 + 200) % 256], axis=2).astype(np.uint8)


def _png_bytes(image: Image.Image, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save_args)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------- load_rgb8: PIL


def test_pil_rgb_is_returned_unchanged() -> None:
    rgb = _pattern()
    out = load_rgb8(Image.fromarray(rgb, mode="RGB"))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3) and out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_pil_rgba_drops_alpha_and_keeps_colour() -> None:
    rgb = _pattern()
    alpha = np.full(rgb.shape[:2], 77, np.uint8)
    alpha[0, 0] = 0
    out = load_rgb8(Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA"))
    np.testing.assert_array_equal(out, rgb)


def test_pil_l_and_la_repeat_grey() -> None:
    grey = _pattern()[..., 0]
    expected = np.repeat(grey[..., None], 3, axis=2)
    np.testing.assert_array_equal(load_rgb8(Image.fromarray(grey, mode="L")), expected)
    la = Image.fromarray(np.dstack([grey, np.full_like(grey, 9)]), mode="LA")
    np.testing.assert_array_equal(load_rgb8(la), expected)


def test_pil_mode_1_gives_black_and_white() -> None:
    bits = np.zeros((4, 6), bool)
    bits[1:3, 2:5] = True
    out = load_rgb8(Image.fromarray(bits).convert("1"))
    np.testing.assert_array_equal(out, np.repeat(bits[..., None], 3, axis=2).astype(np.uint8) * 255)


def test_pil_palette_with_transparency_gives_palette_colours() -> None:
    palette = [10, 20, 30, 200, 100, 50, 0, 255, 128] + [0] * (256 * 3 - 9)
    indices = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    image = Image.fromarray(indices, mode="P")
    image.putpalette(palette)
    image.info["transparency"] = 1  # index 1 is transparent: the colour must still come through
    image = Image.open(io.BytesIO(_png_bytes(image, transparency=1)))
    assert image.mode == "P" and "transparency" in image.info
    colours = np.array(palette[:9], np.uint8).reshape(3, 3)
    np.testing.assert_array_equal(load_rgb8(image), colours[indices])


def test_pil_cmyk_is_converted_to_rgb() -> None:
    image = Image.new("CMYK", (4, 1))
    image.putpixel((0, 0), (0, 0, 0, 0))  # white
    image.putpixel((1, 0), (255, 0, 0, 0))  # cyan
    image.putpixel((2, 0), (0, 255, 255, 0))  # red
    image.putpixel((3, 0), (0, 0, 0, 255))  # black
    expected = np.array([[[255, 255, 255], [0, 255, 255], [255, 0, 0], [0, 0, 0]]], np.uint8)
    np.testing.assert_array_equal(load_rgb8(image), expected)


def test_pil_16_bit_grey_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 32896, 65535]], np.uint16)  # -> 0, 1, 128, 255
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    expected = np.repeat(np.array([[0, 1, 128, 255]], np.uint8)[..., None], 3, axis=2)
    np.testing.assert_array_equal(load_rgb8(image), expected)
    # The same through a 16-bit PNG file.
    np.testing.assert_array_equal(load_rgb8(_png_bytes(image)), expected)


def test_pil_float_mode_in_unit_range() -> None:
    image = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32), mode="F")
    out = load_rgb8(image)
    np.testing.assert_array_equal(out[..., 0], [[0, 128, 255]])


@pytest.mark.parametrize(
    ("orientation", "transform"),
    [
        (1, lambda a: a),
        (2, lambda a: a[:, ::-1]),  # mirrored left-right
        (3, lambda a: np.rot90(a, 2)),  # upside down
        (6, lambda a: np.rot90(a, -1)),  # needs a 90 degree clockwise turn
        (8, lambda a: np.rot90(a, 1)),  # needs a 90 degree anticlockwise turn
    ],
)
def test_exif_orientation_is_applied(orientation: int, transform: object) -> None:
    rgb = _pattern(3, 5)
    image = Image.fromarray(rgb)
    exif = image.getexif()
    exif[0x0112] = orientation
    data = _png_bytes(image, exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).getexif().get(0x0112) == orientation
    out = load_rgb8(data)
    np.testing.assert_array_equal(out, transform(rgb))  # type: ignore[operator]


def test_exif_rotation_changes_the_size() -> None:
    image = Image.new("RGB", (30, 20), (1, 2, 3))
    exif = image.getexif()
    exif[0x0112] = 6
    out = load_rgb8(Image.open(io.BytesIO(_png_bytes(image, exif=exif.tobytes()))))
    assert out.shape == (30, 20, 3)


# ------------------------------------------------------------------------------------------------ load_rgb8: arrays


def test_uint8_arrays_rgb_rgba_grey() -> None:
    rgb = _pattern()
    np.testing.assert_array_equal(load_rgb8(rgb), rgb)
    np.testing.assert_array_equal(load_rgb8(np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])), rgb)
    grey = rgb[..., 1]
    np.testing.assert_array_equal(load_rgb8(grey), np.repeat(grey[..., None], 3, axis=2))
    np.testing.assert_array_equal(load_rgb8(grey[..., None]), np.repeat(grey[..., None], 3, axis=2))


def test_non_contiguous_uint8_array_gives_contiguous_copy() -> None:
    rgb = _pattern(6, 8)[::2, ::-1]
    out = load_rgb8(rgb)
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, rgb)


def test_uint16_array_is_scaled_by_257() -> None:
    values = np.array([[[0, 257, 65535], [32896, 128, 384]]], np.uint16)
    expected = np.array([[[0, 1, 255], [128, 0, 1]]], np.uint8)  # 128/257 -> 0.498 -> 0; 384/257 -> 1.49 -> 1
    np.testing.assert_array_equal(load_rgb8(values), expected)


def test_float_array_is_scaled_and_rounded() -> None:
    values = np.array([[[0.0, 0.5, 1.0], [0.2, 0.7, 1 / 255]]], np.float32)
    expected = np.array([[[0, 128, 255], [51, 178, 1]]], np.uint8)
    np.testing.assert_array_equal(load_rgb8(values), expected)
    np.testing.assert_array_equal(load_rgb8(values.astype(np.float64)), expected)


def test_bool_array_gives_0_and_255() -> None:
    values = np.array([[True, False], [False, True]])
    out = load_rgb8(values)
    np.testing.assert_array_equal(out[..., 0], [[255, 0], [0, 255]])
    assert out.dtype == np.uint8 and out.shape == (2, 2, 3)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.zeros((4, 4, 2), np.uint8), ["shape", "(4, 4, 2)", "HxWx3"]),
        (np.zeros((4,), np.uint8), ["shape", "(4,)"]),
        (np.zeros((2, 4, 4, 3), np.uint8), ["shape"]),
        (np.full((4, 4, 3), 2.0, np.float32), ["[0, 1]", "Divide by 255"]),
        (np.full((4, 4, 3), -0.1, np.float32), ["[0, 1]"]),
        (np.where(np.eye(4, dtype=bool)[..., None], np.nan, 0.5).repeat(3, 2), ["[0, 1]"]),
        (np.zeros((4, 4, 3), np.int32), ["dtype", "int32", "uint8"]),
        (np.zeros((4, 4, 3), np.complex64), ["dtype"]),
    ],
)
def test_bad_arrays_raise_with_a_helpful_message(array: np.ndarray, words: list[str]) -> None:
    with pytest.raises(ImageReadError) as info:
        load_rgb8(array)
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, ValueError)  # callers catching ValueError see it too


def test_unsupported_type_raises_type_error() -> None:
    with pytest.raises(TypeError, match="int"):
        load_rgb8(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- load_rgb8: files, bytes, dicts


def test_bytes_path_and_gradio_dict(tmp_path: Path) -> None:
    rgb = _pattern(9, 11)
    data = _png_bytes(Image.fromarray(rgb))
    path = tmp_path / "image.png"
    path.write_bytes(data)
    np.testing.assert_array_equal(load_rgb8(data), rgb)
    np.testing.assert_array_equal(load_rgb8(str(path)), rgb)
    np.testing.assert_array_equal(load_rgb8(path), rgb)
    np.testing.assert_array_equal(load_rgb8({"path": str(path), "url": None, "meta": {"_type": "gradio.FileData"}}),
                                  rgb)


def test_gradio_dict_without_path_says_upload_again() -> None:
    with pytest.raises(ImageReadError, match="upload the image again"):
        load_rgb8({"path": None})


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageReadError) as info:
        load_rgb8(str(missing))
    assert "No such image file" in str(info.value) and "nope.png" in str(info.value)


def test_unreadable_file_says_which_formats_work(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image at all")
    with pytest.raises(ImageReadError) as info:
        load_rgb8(str(bad))
    message = str(info.value)
    assert "broken.png" in message and "Could not read" in message and "PNG" in message


def test_messages_name_the_file_but_never_its_folder(tmp_path: Path) -> None:
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not an image at all")
    for source in (str(bad), bad, {"path": str(bad)}):
        with pytest.raises(ImageReadError) as info:
            load_rgb8(source)
        assert "broken.png" in str(info.value) and str(tmp_path) not in str(info.value)


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_fifos_and_folders_are_refused_without_opening_them(tmp_path: Path, kind: str) -> None:
    """Opening a FIFO would block until someone writes to it: it is refused from its file type."""
    import os
    import threading

    path = tmp_path / "thing.png"
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    errors: list[BaseException] = []

    def read_both() -> None:
        for read in (load_rgb8, load_mask):
            try:
                read(str(path))
            except BaseException as exc:  # collected and checked below
                errors.append(exc)

    worker = threading.Thread(target=read_both, daemon=True)  # a blocked open must fail the test, not hang it
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "reading the FIFO blocked"
    assert len(errors) == 2 and all(isinstance(e, ImageReadError) for e in errors), errors
    assert all("thing.png is not a regular file" in str(e) for e in errors)


def test_unreadable_bytes_and_truncated_png() -> None:
    with pytest.raises(ImageReadError, match="the uploaded data"):
        load_rgb8(b"\x00\x01garbage")
    data = _png_bytes(Image.fromarray(_pattern(40, 40)))
    with pytest.raises(ImageReadError, match="Could not read"):
        load_rgb8(data[: len(data) // 2])


def test_load_image_gives_float_tensor() -> None:
    rgb = _pattern()
    tensor = load_image(rgb)
    assert tensor.shape == (1, 3, 5, 7) and tensor.dtype == torch.float32
    assert torch.equal(tensor, torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0)


# -------------------------------------------------------------------------------------------------------- load_mask


def test_mask_bool_uint8_float() -> None:
    hard = np.array([[True, False], [False, True]])
    out = load_mask(hard)
    assert out.shape == (1, 1, 2, 2) and out.dtype == torch.float32
    assert torch.equal(out[0, 0], torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    u8 = np.array([[0, 128], [255, 51]], np.uint8)
    assert torch.allclose(load_mask(u8)[0, 0], torch.tensor([[0.0, 128 / 255], [1.0, 0.2]]))
    soft = np.array([[0.0, 0.25], [0.75, 1.0]])
    assert torch.equal(load_mask(soft)[0, 0], torch.tensor([[0.0, 0.25], [0.75, 1.0]]))


def test_mask_uint16_and_small_ints() -> None:
    assert torch.allclose(load_mask(np.array([[0, 65535]], np.uint16))[0, 0], torch.tensor([[0.0, 1.0]]))
    assert torch.allclose(load_mask(np.array([[0, 255, 51]], np.int64))[0, 0], torch.tensor([[0.0, 1.0, 0.2]]))
    with pytest.raises(ImageReadError, match="0..255"):
        load_mask(np.array([[0, 300]], np.int64))


def test_mask_rgba_image_uses_alpha() -> None:
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., :3] = 255  # the colour must not matter where alpha says "not painted"
    rgba[1, 1:3, 3] = 255
    rgba[2, 0, 3] = 102
    out = load_mask(Image.fromarray(rgba, mode="RGBA"))[0, 0]
    expected = torch.zeros(3, 4)
    expected[1, 1:3] = 1.0
    expected[2, 0] = 0.4
    assert torch.allclose(out, expected)
    # An RGBA array is read the same way.
    assert torch.allclose(load_mask(rgba)[0, 0], expected)


def test_mask_opaque_rgba_and_rgb_use_brightest_channel() -> None:
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (0, 0, 255)
    rgb[1, 2] = (102, 0, 0)
    expected = torch.tensor([[1.0, 0, 0], [0, 0, 0.4]])
    assert torch.allclose(load_mask(Image.fromarray(rgb))[0, 0], expected)
    opaque = np.dstack([rgb, np.full((2, 3), 255, np.uint8)])
    assert torch.allclose(load_mask(Image.fromarray(opaque, mode="RGBA"))[0, 0], expected)
    assert torch.allclose(load_mask(rgb)[0, 0], expected)


def test_mask_pil_l_and_1_and_file(tmp_path: Path) -> None:
    grey = np.array([[0, 255, 128]], np.uint8)
    assert torch.allclose(load_mask(Image.fromarray(grey, mode="L"))[0, 0], torch.tensor([[0, 1.0, 128 / 255]]))
    bits = Image.fromarray(np.array([[True, False]])).convert("1")
    assert torch.equal(load_mask(bits)[0, 0], torch.tensor([[1.0, 0.0]]))
    path = tmp_path / "mask.png"
    Image.fromarray(grey, mode="L").save(path)
    assert torch.allclose(load_mask(str(path))[0, 0], torch.tensor([[0, 1.0, 128 / 255]]))
    assert torch.allclose(load_mask({"path": str(path)})[0, 0], torch.tensor([[0, 1.0, 128 / 255]]))
    assert torch.allclose(load_mask(path.read_bytes())[0, 0], torch.tensor([[0, 1.0, 128 / 255]]))


def test_mask_tensor_input() -> None:
    tensor = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
    assert torch.equal(load_mask(tensor), tensor)
    assert torch.equal(load_mask(tensor[0, 0]), tensor)


def test_mask_size_mismatch_names_both_sizes() -> None:
    with pytest.raises(ValueError) as info:
        load_mask(np.zeros((48, 64), bool), size=(60, 48))
    message = str(info.value)
    assert "64x48" in message and "60x48" in message and "same size" in message
    assert load_mask(np.zeros((48, 64), bool), size=(64, 48)).shape == (1, 1, 48, 64)


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.full((4, 4), 1.5), ["[0, 1]", "divide by 255"]),
        (np.where(np.eye(4, dtype=bool), np.nan, 0.5), ["[0, 1]"]),
        (np.zeros((2, 4, 4, 1), np.uint8), ["shape"]),
        (np.zeros((4, 4, 2), np.uint8), ["shape"]),
        (np.zeros((4, 4), np.complex64), ["dtype"]),
    ],
)
def test_bad_masks_raise(array: np.ndarray, words: list[str]) -> None:
    with pytest.raises(ImageReadError) as info:
        load_mask(array)
    for word in words:
        assert word in str(info.value)


def test_mask_unsupported_type() -> None:
    with pytest.raises(TypeError, match="mask"):
        load_mask([[0, 1]])  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- tensor <-> uint8


def test_rgb8_tensor_round_trip_is_exact_for_every_value() -> None:
    values = np.arange(256, dtype=np.uint8)
    rgb = np.stack([values.reshape(16, 16), values[::-1].reshape(16, 16), np.roll(values, 77).reshape(16, 16)], 2)
    tensor = rgb8_to_tensor(rgb)
    assert tensor.shape == (1, 3, 16, 16) and tensor.dtype == torch.float32
    assert float(tensor.min()) == 0.0 and float(tensor.max()) == 1.0
    np.testing.assert_array_equal(tensor_to_rgb8(tensor), rgb)
    np.testing.assert_array_equal(tensor_to_rgb8(tensor[0]), rgb)
    np.testing.assert_array_equal(np.asarray(tensor_to_pil(tensor)), rgb)


def test_tensor_to_rgb8_clamps_and_rounds() -> None:
    tensor = torch.tensor([-0.5, 1.5, 0.5, 0.2 / 255, 0.6 / 255, 1.0]).view(1, 3, 1, 2)
    np.testing.assert_array_equal(tensor_to_rgb8(tensor)[0], [[0, 128, 1], [255, 0, 255]])


@pytest.mark.parametrize("shape", [(2, 3, 4, 4), (1, 1, 4, 4), (4, 4)])
def test_tensor_to_rgb8_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="shape|batch"):
        tensor_to_rgb8(torch.zeros(shape))


def test_mask_tensor_to_pil() -> None:
    image = mask_tensor_to_pil(torch.tensor([[[[0.0, 1.0], [0.5, 2.0]]]]))
    assert image.mode == "L" and image.size == (2, 2)
    np.testing.assert_array_equal(np.asarray(image), [[0, 255], [128, 255]])


def test_resize_helpers() -> None:
    rgb = _pattern(10, 20)
    assert resize_rgb8(rgb, (7, 3)).shape == (3, 7, 3)
    assert resize_rgb8(rgb, (40, 20), "bilinear").shape == (20, 40, 3)
    mask = np.zeros((2, 2), np.uint8)
    mask[0, 1] = 255
    np.testing.assert_array_equal(resize_mask8(mask, (4, 4)), np.kron(mask, np.ones((2, 2), np.uint8)))


# ------------------------------------------------------------------------------------------ editor_to_image_and_mask


def _layer(height: int, width: int, box: tuple[int, int, int, int], alpha: int = 255) -> np.ndarray:
    layer = np.zeros((height, width, 4), np.uint8)
    top, left, bottom, right = box
    layer[top:bottom, left:right] = (255, 45, 111, alpha)
    return layer


@pytest.mark.parametrize(
    "value",
    [None, {}, {"background": None, "layers": [], "composite": None}],
)
def test_editor_nothing_uploaded(value: dict | None) -> None:
    assert editor_to_image_and_mask(value) == (None, None)


def test_editor_no_layers_or_empty_layer_gives_no_mask() -> None:
    rgb = _pattern(6, 8)
    for layers in (None, [], [None], [np.zeros((6, 8, 4), np.uint8)]):
        image, mask = editor_to_image_and_mask({"background": rgb, "layers": layers, "composite": None})
        np.testing.assert_array_equal(image, rgb)
        assert mask is None


def test_editor_union_of_several_layers() -> None:
    rgb = _pattern(6, 8)
    first = _layer(6, 8, (0, 0, 2, 3))
    second = _layer(6, 8, (1, 2, 4, 6), alpha=100)
    image, mask = editor_to_image_and_mask({"background": rgb, "layers": [first, second], "composite": None})
    np.testing.assert_array_equal(image, rgb)
    expected = np.zeros((6, 8), np.uint8)
    expected[1:4, 2:6] = 100
    expected[0:2, 0:3] = 255
    assert mask is not None and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, expected)


def test_editor_uses_composite_when_background_missing() -> None:
    rgb = _pattern(6, 8)
    image, mask = editor_to_image_and_mask({"background": None, "layers": [_layer(6, 8, (2, 2, 3, 3))],
                                            "composite": np.dstack([rgb, np.full((6, 8), 255, np.uint8)])})
    np.testing.assert_array_equal(image, rgb)
    assert mask is not None and mask.sum() == 255


def test_editor_layers_as_pil_path_and_dict(tmp_path: Path) -> None:
    rgb = _pattern(6, 8)
    bg_path = tmp_path / "bg.png"
    Image.fromarray(rgb).save(bg_path)
    layer_a = Image.fromarray(_layer(6, 8, (0, 0, 1, 1)), mode="RGBA")
    layer_b_path = tmp_path / "layer.png"
    Image.fromarray(_layer(6, 8, (5, 7, 6, 8)), mode="RGBA").save(layer_b_path)
    layer_c_path = tmp_path / "layer_c.png"
    Image.fromarray(_layer(6, 8, (3, 3, 4, 4), alpha=50), mode="RGBA").save(layer_c_path)
    value = {"background": {"path": str(bg_path)}, "layers": [layer_a, str(layer_b_path), {"path": str(layer_c_path)}],
             "composite": None}
    image, mask = editor_to_image_and_mask(value)
    np.testing.assert_array_equal(image, rgb)
    expected = np.zeros((6, 8), np.uint8)
    expected[0, 0] = expected[5, 7] = 255
    expected[3, 3] = 50
    np.testing.assert_array_equal(mask, expected)


def test_editor_layer_without_alpha_and_of_another_size() -> None:
    rgb = _pattern(6, 8)
    grey_layer = np.zeros((3, 4, 3), np.uint8)  # half the size: resized with nearest-neighbour
    grey_layer[1, 2] = (0, 200, 0)
    _, mask = editor_to_image_and_mask({"background": rgb, "layers": [grey_layer], "composite": None})
    expected = np.zeros((6, 8), np.uint8)
    expected[2:4, 4:6] = 200
    np.testing.assert_array_equal(mask, expected)


def test_enormous_image_is_refused_with_a_readable_error() -> None:
    data = png_header_only(14000, 13000)  # 182 megapixels: over PIL's decompression-bomb limit
    with pytest.raises(ImageReadError) as info:
        load_rgb8(data)
    assert "182.0 megapixels" in str(info.value) and "Downscale" in str(info.value)


def test_editor_layer_is_padded_to_the_canvas_and_cropped_back() -> None:
    from harmonization.image_io import editor_to_image_and_mask, mask_to_editor_layer

    mask = torch.zeros(1, 1, 5, 7)
    mask[..., 1:4, 2:6] = 1.0
    mask[..., 0, 0] = 0.5
    layer = mask_to_editor_layer(mask, (10, 20, 30), canvas=(16, 12))
    assert layer.shape == (12, 16, 4) and layer.dtype == np.uint8
    assert (layer[1:4, 2:6] == (10, 20, 30, 255)).all() and layer[0, 0, 3] == 128
    assert not layer[5:, :, 3].any() and not layer[:, 7:, 3].any()
    image = np.zeros((5, 7, 3), np.uint8)
    _, mask8 = editor_to_image_and_mask({"background": image, "layers": [layer], "composite": None})
    np.testing.assert_array_equal(mask8, np.asarray(mask[0, 0].mul(255).round().byte()))
    assert mask_to_editor_layer(mask).shape == (5, 7, 4)
    with pytest.raises(ValueError, match="7x5 px; the editor's canvas holds at most 6x6 px"):
        mask_to_editor_layer(mask, canvas=(6, 6))


def test_image_size_follows_exif_orientation(tmp_path: Path) -> None:
    from harmonization.image_io import image_size

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees: shown as 20 wide, 30 tall
    Image.new("RGB", (30, 20)).save(tmp_path / "r.jpg", exif=exif)
    assert image_size(tmp_path / "r.jpg") == (20, 30)
    assert image_size(np.zeros((4, 9, 3), np.uint8)) == (9, 4)
    with pytest.raises(ImageReadError, match="No such image file"):
        image_size(tmp_path / "missing.png")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_image_size_reads_a_png_header_without_decoding_it(tmp_path: Path) -> None:
    """The size of an upload comes from its header: a PNG that declares 6000x8000 pixels but holds none (decoding
    it would fail, and a real one would cost 144 MB and seconds) is measured, not decoded."""
    from harmonization.image_io import image_size

    (tmp_path / "big.png").write_bytes(png_header_only(6000, 8000))
    assert image_size(tmp_path / "big.png") == (6000, 8000)
    assert image_size(png_header_only(30, 20)) == (30, 20)


def test_image_size_finds_a_png_orientation_after_the_image_data(tmp_path: Path) -> None:
    """An eXIf chunk may follow the image data (libpng writes it there too); PIL finds it only by decoding, the
    header walk finds it without: shown 20 wide and 30 tall, as load_image returns it."""
    from harmonization.image_io import image_size, load_image

    buffer = io.BytesIO()
    Image.new("RGB", (30, 20), (200, 10, 10)).save(buffer, format="PNG")
    data = buffer.getvalue()
    exif = Image.Exif()
    exif[0x0112] = 6
    end = data.rindex(b"IEND") - 4  # the IEND chunk's length field
    (tmp_path / "late_exif.png").write_bytes(data[:end] + _png_chunk(b"eXIf", exif.tobytes()) + data[end:])
    assert image_size(tmp_path / "late_exif.png") == (20, 30)
    assert tuple(load_image(tmp_path / "late_exif.png").shape[-2:]) == (30, 20)  # (H, W): the same turn
    buffer = io.BytesIO()
    Image.new("RGB", (30, 20)).save(buffer, format="PNG", exif=exif)  # PIL writes it before the image data
    assert image_size(buffer.getvalue()) == (20, 30)
