"""The page's newer endpoints through ``gradio_client``: the any-object mask (/object_mask: strokes, a rough box
drawn with the brush, an explicit box), the Advanced options (/run_portrait_advanced, /run_composite_advanced,
/harmonize_options) and "Compare all methods" (/compare_all, /compare_all_composite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO_ROOT, make_scene
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from harmonization.pipelines.registry import available_methods, get_method

pytestmark = pytest.mark.app

EXAMPLES = REPO_ROOT / "examples"
PHOTO = EXAMPLES / "skimage_astronaut.jpg"  # 512x512; the helmet she holds (lower right) is the object
HELMET = EXAMPLES / "skimage_astronaut_helmet_mask.png"
HELMET_BOX = (268, 331, 512, 512)  # the helmet's extent, about 10 % larger (clipped to the photo)
COLOR = (255, 45, 111)


@pytest.fixture(scope="module")
def client(app_url: str) -> Iterator[Client]:
    yield Client(app_url, verbose=False)


def _rgb(path: Any) -> np.ndarray:
    path = path if isinstance(path, (str, Path)) else path["path"]
    return np.asarray(Image.open(path).convert("RGB"))


def _alpha(value: dict, size: tuple[int, int]) -> np.ndarray:
    layer = value["layers"][0]
    alpha = np.asarray(Image.open(layer if isinstance(layer, str) else layer["path"]))[..., 3]
    return alpha[: size[1], : size[0]] > 127


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def _editor(background: Path, *layers: Path) -> dict[str, Any]:
    return {"background": handle_file(str(background)), "layers": [handle_file(str(p)) for p in layers],
            "composite": None}


def _layer(tmp_path: Path, name: str, painted: np.ndarray) -> Path:
    layer = np.zeros((*painted.shape, 4), np.uint8)
    layer[painted] = (*COLOR, 255)
    path = tmp_path / name
    Image.fromarray(layer).save(path)
    return path


def _helmet() -> np.ndarray:
    return np.asarray(Image.open(HELMET).convert("L")) > 127


def test_object_mask_from_a_box_drawn_with_the_brush(client: Client, tmp_path: Path) -> None:
    x0, y0, x1, y1 = HELMET_BOX
    outline = np.zeros((512, 512), bool)
    outline[y0:y0 + 6, x0:x1] = outline[y1 - 6:y1, x0:x1] = True
    outline[y0:y1, x0:x0 + 6] = outline[y0:y1, x1 - 6:x1] = True
    value = client.predict(_editor(PHOTO, _layer(tmp_path, "outline.png", outline)), "A box drawn around it", "",
                           api_name="/object_mask")
    found = _alpha(value, (512, 512))
    assert _iou(found, _helmet()) > 0.75
    people = client.predict(_editor(PHOTO), api_name="/auto_mask")  # the people model finds her, not the helmet
    assert _iou(_alpha(people, (512, 512)), _helmet()) < 0.4


def test_object_mask_from_scribbles_and_from_an_explicit_box(client: Client, tmp_path: Path) -> None:
    helmet = _helmet()
    strokes = np.zeros((512, 512), bool)
    for fraction in (0.3, 0.5, 0.7):
        row = int(340 + fraction * 172)
        strokes[row - 6:row + 6, 325:460] = True
    strokes &= helmet
    value = client.predict(_editor(PHOTO, _layer(tmp_path, "strokes.png", strokes)), "scribbles", "",
                           api_name="/object_mask")
    assert _iou(_alpha(value, (512, 512)), helmet) > 0.5
    value = client.predict(_editor(PHOTO), "scribbles", ", ".join(map(str, HELMET_BOX)), api_name="/object_mask")
    assert _iou(_alpha(value, (512, 512)), helmet) > 0.75
    with pytest.raises(AppError, match="No strokes painted"):
        client.predict(_editor(PHOTO), "box", "", api_name="/object_mask")
    with pytest.raises(AppError, match="four numbers"):
        client.predict(_editor(PHOTO), "box", "1, 2", api_name="/object_mask")


@pytest.fixture(scope="module")
def composite_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    folder = tmp_path_factory.mktemp("advanced")
    composite, mask = make_scene(48, 64)
    t = np.linspace(0.0, 1.0, 64)[None, :, None]  # uneven light, so that every option shows
    background = np.rint(np.array([20, 30, 80]) + t * np.array([220, 150, 10])).astype(np.uint8)
    composite[~mask] = np.broadcast_to(background, (48, 64, 3))[~mask]
    Image.fromarray(composite).save(folder / "composite.png")
    layer = np.zeros((48, 64, 4), np.uint8)
    layer[mask] = (*COLOR, 255)
    Image.fromarray(layer).save(folder / "layer.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(folder / "mask.png")
    return folder / "composite.png", folder / "layer.png", composite, mask


def _local(outputs: tuple) -> np.ndarray:
    return _rgb(outputs[2])


def test_advanced_options_change_the_result(client: Client, composite_files: tuple) -> None:
    composite, layer, rgb, mask = composite_files
    editor = _editor(composite, layer)

    def run(*advanced: Any) -> np.ndarray:
        return _local(client.predict(editor, "local", "standard", *advanced, api_name="/run_composite_advanced"))

    default = run()
    assert np.array_equal(default, _local(client.predict(editor, "local", api_name="/run_composite")))
    none = run(False, 0.0)  # strength 0: no change
    assert np.array_equal(none, rgb)
    strong = run(False, 2.0)
    assert np.abs(strong[mask].astype(int) - rgb[mask]).mean() > np.abs(default[mask].astype(int) - rgb[mask]).mean()
    feathered = run(True, 1.0, 6.0)
    assert not np.array_equal(feathered, default)
    with pytest.raises(AppError, match="strength must be in"):
        run(False, 3.0)


def test_harmonize_options_endpoint(client: Client, composite_files: tuple) -> None:
    composite, _layer_file, rgb, mask = composite_files
    mask_file = composite.with_name("mask.png")
    args = (handle_file(str(composite)), handle_file(str(mask_file)), "global")
    plain = _rgb(client.predict(*args, api_name="/harmonize"))
    assert np.array_equal(_rgb(client.predict(*args, "", api_name="/harmonize_options")), plain)
    assert np.array_equal(_rgb(client.predict(*args, "strength=0", api_name="/harmonize_options")), rgb)
    with pytest.raises(AppError, match="Unknown option 'radius'"):
        client.predict(*args, "radius=3", api_name="/harmonize_options")
    with pytest.raises(AppError, match="Unknown option.*'resolution'"):  # the method's own check
        client.predict(*args, "resolution=512", api_name="/harmonize_options")


def _captions(gallery: list) -> list[str]:
    return [item["caption"] for item in gallery]


def test_compare_all_composite_shows_every_photo_method(client: Client, composite_files: tuple) -> None:
    composite, layer, rgb, mask = composite_files
    gallery = client.predict(_editor(composite, layer), False, api_name="/compare_all_composite")
    expected = [n for n in available_methods() if get_method(n).family == "photo"]
    captions = _captions(gallery)
    assert captions[0] == "Cut and paste (naive)"
    assert [c.split("(")[1].split(")")[0] for c in captions[1:]] == expected
    assert all(c.endswith(" s") and get_method(n).label in c for c, n in zip(captions[1:], expected, strict=True))
    images = [_rgb(item["image"]) for item in gallery]
    assert np.array_equal(images[0], rgb)
    for image in images[1:]:
        assert np.array_equal(image[~mask], rgb[~mask]) and not np.array_equal(image[mask], rgb[mask])


def test_compare_all_portrait_takes_the_advanced_options(client: Client, composite_files: tuple,
                                                         tmp_path: Path) -> None:
    portrait = np.full((40, 30, 3), (60, 160, 70), np.uint8)
    portrait[8:36, 9:21] = (230, 190, 170)
    Image.fromarray(portrait).save(tmp_path / "portrait.png")
    painted = np.zeros((40, 30), bool)
    painted[8:36, 9:21] = True
    editor = _editor(tmp_path / "portrait.png", _layer(tmp_path, "portrait_layer.png", painted))
    background = handle_file(str(composite_files[0]))
    gallery = client.predict(editor, background, 0.5, 0.5, 0.5, False, False, "standard", False, 0.0,
                             api_name="/compare_all")
    images = [_rgb(item["image"]) for item in gallery]
    assert len(images) >= 3
    for image in images[1:]:  # strength 0 everywhere: every method returns the naive composite
        assert np.array_equal(image, images[0])


@pytest.mark.slow
def test_phone_photo_display_copy_then_full_resolution_result(client: Client, tmp_path: Path) -> None:
    """A 4600x3000 photo (wider than the editor's 4096 px canvas: the mask tools refused it) gets a display copy
    from /object_mask, and the full file is kept in the session's State: the run cuts the subject from the full
    photo. Its 1-pixel stripes, pasted at 1:1 (scale 0.4 = its 1200 px height on a 3000 px background), stay
    crisp; cut from the 2048 px display copy and scaled up they would be smeared."""
    width, height = 4600, 3000
    photo = np.zeros((height, width, 3), np.uint8)
    photo[...] = (40, 70, 160)
    photo[900:2100, 1500:3100] = (230, 160, 60)  # the object, striped column by column
    photo[900:2100, 1500:3100:2] = (150, 90, 30)
    Image.fromarray(photo).save(tmp_path / "phone.png", compress_level=1)
    Image.fromarray(np.full((height, width, 3), (90, 140, 90), np.uint8)).save(tmp_path / "bg.png")
    # A stroke was painted (a scribble on the object): the display copy is sent (before any stroke the upload
    # itself comes back, see tests/test_editor_proxy.py: Gradio's editor would draw the mask off the subject).
    scribble = np.zeros((height, width), bool)
    scribble[1400:1440, 2000:2600] = True
    value = client.predict(_editor(tmp_path / "phone.png", _layer(tmp_path, "scribble.png", scribble)), "box",
                           "1400, 800, 3200, 2200", api_name="/object_mask")
    shown = _rgb(value["background"])
    assert shown.shape == (1336, 2048, 3)  # long side 2048, aspect kept

    def ref(item: Any) -> Any:
        return handle_file(item if isinstance(item, str) else item["path"])

    editor = {"background": ref(value["background"]), "layers": [ref(x) for x in value["layers"]], "composite": None}
    # scale 0.4 of the background's height keeps the object's 1200 rows; its feet at (0.5, 0.7) put it back where
    # it was cut (rows 900-2100, columns 1500-3100)
    outputs = client.predict(editor, ref(str(tmp_path / "bg.png")), 0.4, 0.5, 0.7, False, "global",
                             api_name="/run_portrait_advanced")
    naive = _rgb(outputs[0])
    assert naive.shape == (height, width, 3)
    patch = naive[1450:1550, 2250:2350].astype(int)
    stripes = np.abs(np.diff(patch, axis=1)).sum(axis=2).mean()
    assert stripes > 100, f"the pasted stripes are smeared (mean step {stripes:.0f}): cut from the display copy"
