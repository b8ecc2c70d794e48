"""The Gradio app: built on import, launched on 127.0.0.1 and called with ``gradio_client`` (good and bad inputs)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pytest
from conftest import make_scene, png_header_only
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import harmonization

pytestmark = pytest.mark.app


def _rgb(path: str | Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _gradient_background(height: int, width: int) -> np.ndarray:
    """Dark-blue on the left to bright-orange on the right, so that "local" differs from "global"."""
    t = np.linspace(0.0, 1.0, width)[None, :, None]
    left, right = np.array([20, 30, 80]), np.array([240, 180, 90])
    return np.broadcast_to(np.rint(left + t * (right - left)), (height, width, 3)).astype(np.uint8).copy()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every input file the app tests upload (all tiny except the over-40-megapixel PNGs, a few KB each)."""
    folder = tmp_path_factory.mktemp("app_inputs")
    paths: dict[str, Path] = {}

    def save(name: str, array: np.ndarray | Image.Image) -> None:
        paths[name] = folder / f"{name}.png"
        (array if isinstance(array, Image.Image) else Image.fromarray(array)).save(paths[name])

    composite, mask = make_scene(48, 64)
    composite[~mask] = _gradient_background(48, 64)[~mask]
    save("composite", composite)
    save("mask", mask.astype(np.uint8) * 255)
    save("empty_mask", np.zeros((48, 64), np.uint8))
    save("full_mask", np.full((48, 64), 255, np.uint8))
    tiny, tiny_mask = make_scene(15, 20)
    save("tiny", tiny)
    save("tiny_mask", tiny_mask.astype(np.uint8) * 255)
    # Over 40 megapixels (8000 x 5001 = 40,008,000 px): solid colours compress to a few KB.
    save("huge", Image.new("RGB", (8000, 5001), (90, 120, 150)))
    huge_mask = Image.new("L", (8000, 5001), 0)
    huge_mask.paste(255, (1000, 1000, 3000, 3000))
    save("huge_mask", huge_mask)
    paths["bomb"] = folder / "bomb.png"  # declares 14000x13000 px (over PIL's decompression-bomb limit)
    paths["bomb"].write_bytes(png_header_only(14000, 13000))
    paths["garbage"] = folder / "garbage.png"
    paths["garbage"].write_bytes(b"this is not an image")

    portrait = np.full((40, 30, 3), (60, 160, 70), np.uint8)
    portrait[8:36, 9:21] = (230, 190, 170)  # the "subject"
    save("portrait", portrait)
    layer = np.zeros((40, 30, 4), np.uint8)
    layer[8:36, 9:21] = (255, 45, 111, 255)  # brush strokes over the subject
    save("layer", layer)
    save("empty_layer", np.zeros((40, 30, 4), np.uint8))
    full_layer = np.zeros((40, 30, 4), np.uint8)
    full_layer[..., 3] = 255
    save("full_layer", full_layer)
    save("background", _gradient_background(60, 80))
    save("tiny_background", _gradient_background(15, 20))
    save("narrow_background", _gradient_background(80, 40))
    return paths


def _file(value: str | dict[str, Any]) -> str:
    """A file returned by gradio_client: a local path, or a file-data dict holding one."""
    return value if isinstance(value, str) else value["path"]


def _editor(background: Path, *layers: Path) -> dict[str, Any]:
    return {"background": handle_file(str(background)), "layers": [handle_file(str(p)) for p in layers],
            "composite": None}


# ------------------------------------------------------------------------------------------- without a server
# These two run first (file order), before the module-scoped server below starts.


def test_import_builds_the_demo_without_launching_it() -> None:
    import app

    assert isinstance(app.demo, gr.Blocks)
    assert not app.demo.is_running


def test_build_demo_has_the_documented_components_and_endpoints() -> None:
    import app

    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks) and demo is not app.demo and not demo.is_running
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    expected = {"fg_editor": gr.ImageEditor, "bg_image": gr.Image, "run_btn": gr.Button, "result_naive": gr.Image,
                "result_global": gr.Image, "result_local": gr.Image, "result_slider": gr.ImageSlider,
                "downloads": gr.File, "scale": gr.Slider, "pos_x": gr.Slider, "pos_y": gr.Slider,
                "flip": gr.Checkbox, "method": gr.Dropdown, "comp_editor": gr.ImageEditor}
    for elem_id, kind in expected.items():
        assert isinstance(by_id.get(elem_id), kind), elem_id
    fns = demo.fns.values() if isinstance(demo.fns, dict) else demo.fns
    api_names = {getattr(fn, "api_name", None) for fn in fns}
    assert {"harmonize", "run_portrait", "run_composite"} <= api_names
    choices = [value for _, value in by_id["method"].choices]
    assert "local" in choices and set(choices) <= set(harmonization.available_methods())


def test_the_api_page_offers_method_choices_and_named_outputs(client: Client) -> None:
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    method = info["/harmonize"]["parameters"][2]
    assert method["component"] == "Dropdown" and "local" in method["type"]["enum"]
    assert not {"painterly", "painterly-global"} & set(method["type"]["enum"])  # those go to /harmonize_painterly
    assert "painterly" in info["/harmonize_painterly"]["parameters"][2]["type"]["enum"]
    for name in ("/harmonize", "/run_portrait", "/run_composite"):
        labels = [r.get("label") or "" for r in info[name]["returns"]]
        assert labels and not any(label.startswith("value_") or not label for label in labels), (name, labels)


def test_main_help_lists_host_port_share(capsys: pytest.CaptureFixture[str]) -> None:
    import app

    with pytest.raises(SystemExit) as info:
        app.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--host" in out and "--port" in out and "--share" in out


# ------------------------------------------------------------------------------------------------- with a server


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    """``app.demo`` served on 127.0.0.1 (a free port) for this module, and a client connected to it."""
    import app

    with app.serve_locally() as url:
        yield Client(url, verbose=False)


def _harmonize(client: Client, files: dict[str, Path], composite: str, mask: str, method: str = "local") -> str:
    return client.predict(handle_file(str(files[composite])), handle_file(str(files[mask])), method,
                          api_name="/harmonize")


def _assert_still_serving(client: Client, files: dict[str, Path]) -> None:
    result = _rgb(_harmonize(client, files, "composite", "mask", "global"))
    assert result.shape == (48, 64, 3)


@pytest.mark.parametrize("method", ["local", "global"])
def test_harmonize_endpoint(client: Client, files: dict[str, Path], method: str) -> None:
    result = _rgb(_harmonize(client, files, "composite", "mask", method))
    composite = _rgb(files["composite"])
    mask = _rgb(files["mask"])[..., 0] > 0
    assert result.shape == composite.shape
    np.testing.assert_array_equal(result[~mask], composite[~mask])
    assert (result[mask] != composite[mask]).any()
    expected = np.asarray(harmonization.harmonize(composite, mask, method=method))
    np.testing.assert_array_equal(result, expected)  # the endpoint returns exactly the library's result


def _check_comparison(outputs: tuple[Any, ...], naive_expected: np.ndarray, mask: np.ndarray) -> None:
    naive_path, global_path, local_path, slider, downloads, notes = outputs
    naive, glob, local = _rgb(naive_path), _rgb(global_path), _rgb(local_path)
    np.testing.assert_array_equal(naive, naive_expected)
    for result in (glob, local):
        assert result.shape == naive.shape
        np.testing.assert_array_equal(result[~mask], naive[~mask])
        assert (result[mask] != naive[mask]).any()
    assert (glob[mask] != local[mask]).any()  # the scene is lit unevenly, so local differs from global
    assert len(slider) == 2
    np.testing.assert_array_equal(_rgb(slider[0]), naive)
    np.testing.assert_array_equal(_rgb(slider[1]), local)
    assert len(downloads) == 4 and all(str(p).endswith(".png") for p in downloads[:3])
    for path, expected in zip(downloads[:3], (naive, glob, local), strict=True):
        np.testing.assert_array_equal(_rgb(path), expected)
    with zipfile.ZipFile(downloads[3]) as archive:  # the three PNGs in one file
        names = archive.namelist()
        assert names == [Path(p).name for p in downloads[:3]]
        for name, expected in zip(names, (naive, glob, local), strict=True):
            np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(archive.read(name))).convert("RGB")),
                                          expected)
    assert isinstance(notes, str)
    for word in ("naive", "global", "local"):
        assert word in notes


def test_run_portrait_endpoint(client: Client, files: dict[str, Path]) -> None:
    outputs = client.predict(_editor(files["portrait"], files["layer"]), handle_file(str(files["background"])),
                             0.5, 0.4, 0.5, True, "local", api_name="/run_portrait")
    assert len(outputs) == 6
    layer_alpha = np.asarray(Image.open(files["layer"]))[..., 3]
    # (0.4, 0.5) is where the subject's feet stand: its centre is half its height (0.5 / 2) above
    composite, mask = harmonization.compose(_rgb(files["portrait"]), layer_alpha, _rgb(files["background"]),
                                            scale=0.5, center=(0.4, 0.5 - 0.5 / 2), flip=True)
    assert composite.size == (80, 60)
    _check_comparison(outputs, np.asarray(composite), np.asarray(mask) > 0)
    # named after the inputs and the method that made each file ("background.png" is the name the page's editor
    # gives its own canvas uploads, so it names nothing)
    assert [Path(p).name for p in outputs[4]] == [
        "portrait_naive.png", "portrait_global.png", "portrait_local.png", "portrait_results.zip"]


def test_run_composite_endpoint(client: Client, files: dict[str, Path]) -> None:
    layer = np.zeros((48, 64, 4), np.uint8)
    layer[..., 3] = _rgb(files["mask"])[..., 0]
    layer_path = files["mask"].with_name("composite_layer.png")
    Image.fromarray(layer).save(layer_path)
    outputs = client.predict(_editor(files["composite"], layer_path), "local", api_name="/run_composite")
    _check_comparison(outputs, _rgb(files["composite"]), _rgb(files["mask"])[..., 0] > 0)


# ------------------------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("composite", "mask", "method", "words"),
    [
        ("composite", "empty_mask", "local", ["mask is empty", "Paint over the object"]),
        ("composite", "full_mask", "local", ["covers the whole image", "Paint only the object"]),
        ("tiny", "tiny_mask", "local", ["20x15", "at least 16 px", "Use a larger image"]),
        ("garbage", "mask", "local", ["Could not read garbage.png", "Use a PNG, JPEG"]),
        ("composite", "garbage", "global", ["Could not read garbage.png"]),
        ("composite", "tiny_mask", "local", ["same size"]),
        ("composite", "mask", "magic", ["Unknown harmonization method 'magic'", "global", "local"]),
        ("huge", "huge_mask", "local", ["8000x5001", "limit is 40 megapixels", "Downscale"]),
    ],
    ids=["no-mask", "mask-everywhere", "under-16px", "unreadable-image", "unreadable-mask", "mask-size",
         "unknown-method", "over-40-megapixels"],
)
def test_harmonize_endpoint_bad_input(client: Client, files: dict[str, Path], composite: str, mask: str, method: str,
                                      words: list[str]) -> None:
    with pytest.raises(AppError) as info:
        _harmonize(client, files, composite, mask, method)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize(
    ("portrait", "layers", "background", "words"),
    [
        ("portrait", [], "background", ["No mask painted", "paint over the subject"]),
        ("portrait", ["empty_layer"], "background", ["No mask painted", "paint over the subject"]),
        ("portrait", ["full_layer"], "narrow_background", ["covers the whole image", "Paint only"]),
        ("portrait", ["layer"], "tiny_background", ["20x15", "at least 16 px"]),
        ("portrait", ["layer"], "garbage", ["Could not read garbage.png", "Use a PNG"]),
        ("garbage", ["layer"], "background", ["Could not read garbage.png"]),
    ],
    ids=["no-layers", "empty-layer", "mask-everywhere", "under-16px", "unreadable-background",
         "unreadable-portrait"],
)
def test_run_portrait_bad_input(client: Client, files: dict[str, Path], portrait: str, layers: list[str],
                                background: str, words: list[str]) -> None:
    editor = _editor(files[portrait], *(files[name] for name in layers))
    with pytest.raises(AppError) as info:
        # The full layer makes the subject the whole 30x40 portrait; at scale 1.5, centred (feet at y 0.5 + 1.5/2),
        # it covers a 40x80 background.
        client.predict(editor, handle_file(str(files[background])), 1.5, 0.5, 1.25, False, "local",
                       api_name="/run_portrait")
    for word in words:
        assert word in str(info.value)


def test_run_composite_without_mask(client: Client, files: dict[str, Path]) -> None:
    with pytest.raises(AppError, match="No mask painted: paint over the pasted object"):
        client.predict(_editor(files["composite"]), "local", api_name="/run_composite")


@pytest.mark.slow
def test_run_portrait_over_40_megapixels(client: Client, files: dict[str, Path]) -> None:
    with pytest.raises(AppError) as info:
        client.predict(_editor(files["portrait"], files["layer"]), handle_file(str(files["huge"])), 0.5, 0.5, 0.5,
                       False, "local", api_name="/run_portrait")
    assert "8000x5001" in str(info.value) and "Downscale" in str(info.value)


def test_harmonize_endpoint_enormous_image(client: Client, files: dict[str, Path]) -> None:
    with pytest.raises(AppError) as info:
        _harmonize(client, files, "bomb", "mask")
    assert "182.0 megapixels" in str(info.value) and "Downscale" in str(info.value)


def test_server_still_serves_after_the_bad_inputs(client: Client, files: dict[str, Path]) -> None:
    """Runs last (file order): every error above was answered and the server keeps working."""
    _assert_still_serving(client, files)
    outputs = client.predict(_editor(files["portrait"], files["layer"]), handle_file(str(files["background"])),
                             0.5, 0.5, 0.5, False, "local", api_name="/run_portrait")
    assert _rgb(outputs[2]).shape == (60, 80, 3)


# ------------------------------------------------------------------------------------ mask tools and placement


def test_auto_mask_endpoint_returns_an_editable_person_layer(client: Client) -> None:
    """The automatic mask of a committed public-domain portrait agrees with its committed mask (made with the same
    MediaPipe network by an independent conversion) and comes back as the editor's brush layer."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    portrait = examples / "matplotlib_grace_hopper.jpg"
    value = client.predict({"background": handle_file(str(portrait)), "layers": [], "composite": None},
                           api_name="/auto_mask")
    layer = np.asarray(Image.open(_file(value["layers"][0])))
    height, width = _rgb(portrait).shape[:2]
    # at the image's size, not padded to a canvas (the editor draws a larger layer scaled into the image's frame
    # once the brush was used: demo.config.EDITOR_CANVAS_SIZE)
    assert layer.shape == (height, width, 4)
    reference = np.asarray(Image.open(examples / "matplotlib_grace_hopper_mask.png").convert("L")) > 127
    found = layer[..., 3] > 127
    iou = (found & reference).sum() / (found | reference).sum()
    assert iou > 0.98
    np.testing.assert_array_equal(_rgb(_file(value["background"])), _rgb(portrait))
    assert Path(_file(value["background"])).name == portrait.name  # the upload itself (its name names the results)


def test_auto_mask_endpoint_without_a_person(client: Client, files: dict[str, Path]) -> None:
    with pytest.raises(AppError, match="No person was found"):
        client.predict(_editor(files["background"]), api_name="/auto_mask")


def test_refine_mask_endpoint_snaps_a_rough_mask_to_the_subject(client: Client, files: dict[str, Path],
                                                               tmp_path: Path) -> None:
    portrait = np.full((60, 60, 3), (40, 90, 200), np.uint8)
    portrait[15:45, 20:40] = (235, 200, 160)  # the subject: a light rectangle on blue
    rough = np.zeros((60, 60, 4), np.uint8)
    rough[12:48, 17:43] = (255, 45, 111, 255)  # painted 3 px too wide on every side (the band is 4 px here)
    Image.fromarray(portrait).save(tmp_path / "p.png")
    Image.fromarray(rough).save(tmp_path / "rough.png")
    value = client.predict(_editor(tmp_path / "p.png", tmp_path / "rough.png"), api_name="/refine_mask")
    alpha = np.asarray(Image.open(_file(value["layers"][0])))[:60, :60, 3]
    subject = np.zeros((60, 60), bool)
    subject[15:45, 20:40] = True
    assert ((alpha > 127) == subject).mean() > 0.99
    beyond_band = ~np.pad(np.ones((44, 34), bool), ((8, 8), (13, 13)))
    assert (alpha[beyond_band] == 0).all()  # farther than the band from the painted edge: untouched


def test_refine_mask_endpoint_without_a_mask(client: Client, files: dict[str, Path]) -> None:
    with pytest.raises(AppError, match="No mask painted"):
        client.predict(_editor(files["portrait"]), api_name="/refine_mask")


def test_clicking_the_background_places_the_subject(files: dict[str, Path]) -> None:
    import app

    event = gr.SelectData(None, {"index": [128, 384], "value": None, "selected": True})
    background = {"path": str(app.EXAMPLES_DIR / "skimage_astronaut.jpg"), "meta": {"_type": "gradio.FileData"}}
    assert asyncio.run(app.place_on_click(background, event)) == (0.25, 0.75)  # 512x512 example (an allowed file)
    with pytest.raises(gr.Error, match="Upload a background first"):
        asyncio.run(app.place_on_click(None, event))


def test_handlers_run_under_spaces_gpu_when_the_package_is_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    """On ZeroGPU Spaces the ``spaces`` package exists: ``_gpu`` then wraps handlers with ``spaces.GPU``."""
    import sys
    import types

    import app

    calls: list[int] = []

    def gpu(duration: int) -> Any:
        calls.append(duration)
        return lambda fn: ("wrapped", fn)

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=gpu))
    assert app._gpu(45)(len) == ("wrapped", len) and calls == [45]
    monkeypatch.delitem(sys.modules, "spaces")
    monkeypatch.setattr("builtins.__import__", _import_without("spaces"))
    assert app._gpu()(len) is len  # no spaces package: the handler itself


def _import_without(name: str) -> Any:
    import builtins

    real = builtins.__import__

    def fake(module: str, *args: Any, **kwargs: Any) -> Any:
        if module == name:
            raise ImportError(f"No module named {name!r}")
        return real(module, *args, **kwargs)

    return fake


def test_mask_network_is_loaded_once() -> None:
    from harmonization.hub import load_segmenter

    assert load_segmenter("cpu") is load_segmenter("cpu")
