"""The demo opens only files uploaded to it: raw HTTP payloads naming server files are refused, uploads still work.

Every request here is what a hostile client can send to ``POST /gradio_api/call/<api_name>``: a file reference
without Gradio's ``meta`` marker (Gradio checks only marked ones, and the handlers run with ``preprocess=False``),
with it, a plain string, a symlink inside the upload folder pointing out of it, and a FIFO inside it (opening one
would block a worker forever). Each must be refused with one neutral message that reveals nothing about the file.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import numpy as np
import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file
from PIL import Image

from harmonization.serving import REFUSED_MESSAGE

pytestmark = pytest.mark.app

META = {"_type": "gradio.FileData"}
SECRET_SIZE = (53, 41)  # an odd size, so that a message giving it away is easy to spot


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    import app

    with app.serve_locally() as address:
        yield address


@pytest.fixture(scope="module")
def secret(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A readable image outside the upload folder: what an attacker wants to see."""
    path = tmp_path_factory.mktemp("server_files") / "secret.png"
    Image.fromarray(np.full((SECRET_SIZE[1], SECRET_SIZE[0], 3), (12, 200, 34), np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def planted(secret: Path) -> Iterator[dict[str, Path]]:
    """Inside Gradio's upload folder: a symlink pointing at the secret, and a FIFO (things only someone with
    access to the server's disk could put there; the app must not follow them either)."""
    folder = Path(get_upload_folder()) / f"test-planted-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    link, fifo = folder / "link.png", folder / "fifo.png"
    link.symlink_to(secret)
    os.mkfifo(fifo)
    yield {"link": link, "fifo": fifo}
    for path in (link, fifo):
        path.unlink()
    folder.rmdir()


def _upload(url: str, array: np.ndarray, name: str, tmp: Path) -> dict[str, Any]:
    path = tmp / name
    Image.fromarray(array).save(path)
    with path.open("rb") as handle:
        response = httpx.post(f"{url}gradio_api/upload", files={"files": (name, handle, "image/png")}, timeout=30)
    response.raise_for_status()
    return {"path": response.json()[0], "orig_name": name, "meta": META}


@pytest.fixture(scope="module")
def uploads(url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Honest uploads: a composite and masks (one of the composite's size, one 16x16), a portrait layer."""
    tmp = tmp_path_factory.mktemp("uploads")
    mask = np.zeros((48, 64), np.uint8)
    mask[12:36, 16:48] = 255
    composite = np.zeros((48, 64, 3), np.uint8)
    composite[..., 2] = 200
    composite[mask > 0] = (220, 120, 40)
    layer = np.zeros((40, 30, 4), np.uint8)
    layer[8:36, 9:21] = (255, 45, 111, 255)
    return {"composite": _upload(url, composite, "composite.png", tmp), "mask": _upload(url, mask, "mask.png", tmp),
            "mask16": _upload(url, np.full((16, 16), 255, np.uint8), "mask16.png", tmp),
            "portrait": _upload(url, np.full((40, 30, 3), 128, np.uint8), "portrait.png", tmp),
            "layer": _upload(url, layer, "layer.png", tmp)}


def _call(url: str, api_name: str, data: list[Any]) -> tuple[str, Any, str]:
    """POST the payload as it is, then read the event stream; returns (last event, its data, the whole text)."""
    response = httpx.post(f"{url}gradio_api/call/{api_name}", json={"data": data}, timeout=30)
    if response.status_code != 200:
        return "http-error", response.status_code, response.text
    event_id = response.json()["event_id"]
    # A FIFO opened by a handler would block: the read timeout turns that into a failure instead of a hang.
    text = httpx.get(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=httpx.Timeout(5, read=90)).text
    events = [line.removeprefix("event: ") for line in text.splitlines() if line.startswith("event: ")]
    payloads = [line.removeprefix("data: ") for line in text.splitlines() if line.startswith("data: ")]
    last = events[-1] if events else ""
    data_out = json.loads(payloads[-1]) if payloads and payloads[-1] not in ("", "null") else None
    return last, data_out, text


def _assert_refused(result: tuple[str, Any, str], secret: Path) -> None:
    event, data, text = result
    assert event in ("error", "http-error"), text
    if event == "error" and data and data.get("error") is not None:  # Gradio's own refusals say "error": null
        assert data["error"] == REFUSED_MESSAGE, text
    for leak in (str(secret), secret.name, "secret", f"{SECRET_SIZE[0]}x{SECRET_SIZE[1]}", "/etc/passwd", "/tmp"):
        assert leak not in text, text


def _file_forms(secret: Path, planted: dict[str, Path]) -> dict[str, Any]:
    return {
        "metaless-path": {"path": str(secret)},
        "with-meta": {"path": str(secret), "meta": META},
        "plain-string": str(secret),
        "etc-passwd": {"path": "/etc/passwd"},
        "missing": {"path": "/nonexistent/folder/x.png"},
        "symlink-out-metaless": {"path": str(planted["link"])},
        "symlink-out-with-meta": {"path": str(planted["link"]), "meta": META},
        "fifo-metaless": {"path": str(planted["fifo"])},
        "fifo-with-meta": {"path": str(planted["fifo"]), "meta": META},
    }


FORMS = ["metaless-path", "with-meta", "plain-string", "etc-passwd", "missing", "symlink-out-metaless",
         "symlink-out-with-meta", "fifo-metaless", "fifo-with-meta"]


@pytest.mark.parametrize("form", FORMS)
def test_harmonize_refuses_server_files_as_the_composite(url: str, uploads: dict[str, Any], secret: Path,
                                                         planted: dict[str, Path], form: str) -> None:
    # The 16x16 mask: before the fix, the size-mismatch message gave the secret file's size away.
    for mask in ("mask", "mask16"):
        _assert_refused(_call(url, "harmonize", [_file_forms(secret, planted)[form], uploads[mask], "global"]),
                        secret)


@pytest.mark.parametrize("form", ["metaless-path", "symlink-out-metaless", "fifo-metaless"])
def test_harmonize_refuses_server_files_as_the_mask(url: str, uploads: dict[str, Any], secret: Path,
                                                    planted: dict[str, Path], form: str) -> None:
    _assert_refused(_call(url, "harmonize", [uploads["composite"], _file_forms(secret, planted)[form], "global"]),
                    secret)


def test_an_existing_and_a_missing_file_get_the_same_answer(url: str, uploads: dict[str, Any], secret: Path) -> None:
    """No existence oracle: the answer for a real server file equals the one for a path that does not exist."""
    answers = {_call(url, "harmonize", [{"path": path}, uploads["mask"], "global"])[1]["error"]
               for path in (str(secret), "/etc/passwd", "/nonexistent/x.png", "/etc")}
    assert answers == {REFUSED_MESSAGE}


@pytest.mark.parametrize("form", FORMS)
def test_run_portrait_refuses_server_files_as_the_background(url: str, uploads: dict[str, Any], secret: Path,
                                                             planted: dict[str, Path], form: str) -> None:
    editor = {"background": uploads["portrait"], "layers": [uploads["layer"]], "composite": None}
    data = [editor, _file_forms(secret, planted)[form], 0.5, 0.5, 0.5, False, "global", "preview"]
    _assert_refused(_call(url, "run_portrait", data), secret)


@pytest.mark.parametrize("entry", ["background", "layer", "composite"])
@pytest.mark.parametrize("form", ["metaless-path", "with-meta", "plain-string", "symlink-out-with-meta",
                                  "fifo-with-meta"])
@pytest.mark.parametrize("api_name", ["run_portrait", "auto_mask", "refine_mask"])
def test_editor_values_refuse_server_files_in_every_entry(url: str, uploads: dict[str, Any], secret: Path,
                                                          planted: dict[str, Path], entry: str, form: str,
                                                          api_name: str) -> None:
    bad = _file_forms(secret, planted)[form]
    editor = {"background": uploads["portrait"], "layers": [uploads["layer"]], "composite": None}
    if entry == "layer":
        editor["layers"] = [bad]
    else:
        editor[entry] = bad
    _assert_refused(_call(url, api_name, _editor_payload(api_name, editor, uploads)), secret)


def _editor_payload(api_name: str, editor: dict[str, Any], uploads: dict[str, Any]) -> list[Any]:
    if api_name == "run_portrait":
        return [editor, uploads["composite"], 0.5, 0.5, 0.5, False, "global", "preview"]
    return [editor]


def test_uploads_still_work_raw_and_with_handle_file(url: str, uploads: dict[str, Any], tmp_path: Path) -> None:
    event, data, text = _call(url, "harmonize", [uploads["composite"], uploads["mask"], "global"])
    assert event == "complete", text
    assert Path(data[0]["path"]).is_file()
    editor = {"background": uploads["portrait"], "layers": [uploads["layer"]], "composite": None}
    for api_name in ("run_portrait", "refine_mask"):  # the same payloads as above, with honest files: they run
        event, data, text = _call(url, api_name, _editor_payload(api_name, editor, uploads))
        assert event == "complete", text
    client = Client(url, verbose=False)
    Image.fromarray(np.full((40, 30, 3), 128, np.uint8)).save(tmp_path / "p.png")
    layer = np.zeros((40, 30, 4), np.uint8)
    layer[8:36, 9:21] = (255, 45, 111, 255)
    Image.fromarray(layer).save(tmp_path / "l.png")
    Image.fromarray(np.full((60, 80, 3), 90, np.uint8)).save(tmp_path / "bg.png")
    editor = {"background": handle_file(str(tmp_path / "p.png")), "layers": [handle_file(str(tmp_path / "l.png"))],
              "composite": None}
    outputs = client.predict(editor, handle_file(str(tmp_path / "bg.png")), 0.5, 0.5, 0.5, False, "local",
                             api_name="/run_portrait")
    assert np.asarray(Image.open(outputs[2])).shape == (60, 80, 3)


def test_click_to_place_refuses_server_files(secret: Path, planted: dict[str, Path]) -> None:
    """The click handler is not an API endpoint (api_name=False), so it is called directly here."""
    import app

    event = gr.SelectData(None, {"index": [10, 10], "value": None, "selected": True})
    for value in _file_forms(secret, planted).values():
        with pytest.raises(gr.Error) as info:
            asyncio.run(app.place_on_click(value, event))
        assert info.value.message == REFUSED_MESSAGE
