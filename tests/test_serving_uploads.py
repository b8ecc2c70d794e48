"""``serving.UploadGate``: only regular files inside the allowed folders pass, everything else gets one message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harmonization.errors import USER_ERRORS
from harmonization.serving import REFUSED_MESSAGE, UploadGate, UploadRefusedError


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """An upload folder with a file, a folder, a FIFO and symlinks; a secret file outside it."""
    uploads = tmp_path / "uploads"
    (uploads / "abc").mkdir(parents=True)
    inside = uploads / "abc" / "image.png"
    inside.write_bytes(b"png")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"secret")
    (uploads / "abc" / "out.png").symlink_to(secret)
    (uploads / "abc" / "in.png").symlink_to(inside)
    os.mkfifo(uploads / "abc" / "fifo.png")
    # a folder whose name starts like the upload folder's must not count as inside it
    (tmp_path / "uploads-evil").mkdir()
    (tmp_path / "uploads-evil" / "x.png").write_bytes(b"x")
    return {"uploads": uploads, "inside": inside, "secret": secret}


def _refused(gate: UploadGate, value: object) -> str:
    with pytest.raises(UploadRefusedError) as info:
        gate.file(value)
    return str(info.value)


def test_a_regular_file_inside_passes_in_every_form(tree: dict[str, Path]) -> None:
    gate = UploadGate.of([tree["uploads"]])
    expected = str(tree["inside"].resolve())
    assert gate.file({"path": str(tree["inside"]), "meta": {"_type": "gradio.FileData"}}) == expected
    assert gate.file({"path": str(tree["inside"])}) == expected  # no meta: checked all the same
    assert gate.file(str(tree["inside"])) == expected
    assert gate.file(tree["inside"]) == expected
    assert gate.file(str(tree["uploads"] / "abc" / "in.png")) == expected  # a link to a file inside: its target
    assert gate.file(None) is None


@pytest.mark.parametrize("case", ["outside", "passwd", "missing", "link-out", "fifo", "folder", "root", "dotdot",
                                  "prefix", "relative", "empty", "nul", "number", "bytes", "list", "no-path"])
def test_everything_else_is_refused_with_one_message(tree: dict[str, Path], case: str) -> None:
    uploads = tree["uploads"]
    values = {
        "outside": {"path": str(tree["secret"])},
        "passwd": {"path": "/etc/passwd"},
        "missing": {"path": str(uploads / "abc" / "missing.png")},
        "link-out": {"path": str(uploads / "abc" / "out.png"), "meta": {"_type": "gradio.FileData"}},
        "fifo": {"path": str(uploads / "abc" / "fifo.png")},
        "folder": str(uploads / "abc"),
        "root": str(uploads),
        "dotdot": str(uploads / "abc" / ".." / ".." / "secret.png"),
        "prefix": str(uploads.parent / "uploads-evil" / "x.png"),
        "relative": "secret.png",
        "empty": {"path": ""},
        "nul": str(tree["inside"]) + "\x00",
        "number": 3,
        "bytes": b"\x89PNG",
        "list": [str(tree["inside"])],
        "no-path": {"url": "http://127.0.0.1/x.png"},
    }
    message = _refused(UploadGate.of([uploads]), values[case])
    assert message == REFUSED_MESSAGE
    assert "secret" not in message and str(uploads) not in message


def test_the_refusal_is_a_user_error_for_the_page() -> None:
    assert issubclass(UploadRefusedError, USER_ERRORS)


def test_several_folders_and_editor_values(tree: dict[str, Path], tmp_path: Path) -> None:
    examples = tmp_path / "examples"
    examples.mkdir()
    (examples / "e.jpg").write_bytes(b"jpg")
    gate = UploadGate.of([tree["uploads"], examples])
    assert gate.file(str(examples / "e.jpg")) == str((examples / "e.jpg").resolve())
    value = {"background": {"path": str(tree["inside"])}, "layers": [{"path": str(examples / "e.jpg")}, None],
             "composite": None, "id": "x"}
    assert gate.editor(value) == {"background": str(tree["inside"].resolve()),
                                  "layers": [str((examples / "e.jpg").resolve()), None], "composite": None}
    assert gate.editor(None) is None
    for bad in ({"background": {"path": str(tree["secret"])}},
                {"background": None, "layers": [{"path": str(tree["secret"])}]},
                {"background": None, "composite": str(tree["secret"])},
                {"layers": "not a list"}, "a string"):
        with pytest.raises(UploadRefusedError):
            gate.editor(bad)


def test_a_gate_made_before_its_folder_exists_still_works(tmp_path: Path) -> None:
    gate = UploadGate.of([tmp_path / "later"])
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "f.png").write_bytes(b"f")
    assert gate.file(str(tmp_path / "later" / "f.png")) == str((tmp_path / "later" / "f.png").resolve())
