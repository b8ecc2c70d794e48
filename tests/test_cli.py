"""Command line: ``python -m harmonization {harmonize,compose,methods}`` through ``cli.main``."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import make_scene, png_header_only
from PIL import Image

from harmonization import register_method
from harmonization.cli import main
from harmonization.pipelines import registry
from harmonization.pipelines.registry import Method


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A composite and its mask as PNG files, plus a foreground, its mask and a background for ``compose``."""
    image, mask = make_scene(40, 52)
    paths = {name: tmp_path / f"{name}.png" for name in ("composite", "mask", "fg", "fg_mask", "bg")}
    Image.fromarray(image).save(paths["composite"])
    Image.fromarray(mask.astype(np.uint8) * 255).save(paths["mask"])
    fg = np.full((30, 20, 3), (220, 120, 60), np.uint8)
    fg_mask = np.zeros((30, 20), np.uint8)
    fg_mask[5:25, 5:15] = 255
    Image.fromarray(fg).save(paths["fg"])
    Image.fromarray(fg_mask).save(paths["fg_mask"])
    Image.fromarray(np.full((50, 70, 3), (30, 60, 120), np.uint8)).save(paths["bg"])
    return paths


@pytest.mark.parametrize("method", ["global", "local"])
def test_harmonize_writes_a_full_size_png(files: dict[str, Path], tmp_path: Path, method: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "result.png"  # the folder is created
    code = main(["harmonize", "--composite", str(files["composite"]), "--mask", str(files["mask"]),
                 "--method", method, "--out", str(out)])
    assert code == 0
    assert f"{method}: wrote {out} (52x40)" in capsys.readouterr().out
    result = np.asarray(Image.open(out).convert("RGB"))
    composite = np.asarray(Image.open(files["composite"]))
    mask = np.asarray(Image.open(files["mask"])) > 0
    assert result.shape == composite.shape
    np.testing.assert_array_equal(result[~mask], composite[~mask])
    assert (result[mask] != composite[mask]).any()


def test_harmonize_options_and_feather(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "same.png"
    code = main(["harmonize", "--composite", str(files["composite"]), "--mask", str(files["mask"]), "--out", str(out),
                 "-o", "strength=0", "--option", "radius=0.3", "--feather", "2"])
    assert code == 0
    np.testing.assert_array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(files["composite"])))


def test_compose_writes_composite_and_mask(files: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out, mask_out = tmp_path / "comp.png", tmp_path / "comp_mask.png"
    code = main(["compose", "--foreground", str(files["fg"]), "--foreground-mask", str(files["fg_mask"]),
                 "--background", str(files["bg"]), "--scale", "0.5", "--center", "0.3", "0.6", "--flip",
                 "--out", str(out), "--mask-out", str(mask_out)])
    assert code == 0
    assert "(70x50)" in capsys.readouterr().out
    composite, mask = Image.open(out), Image.open(mask_out)
    assert composite.size == (70, 50) and mask.size == (70, 50) and mask.mode == "L"
    m = np.asarray(mask)
    rows = np.nonzero(m.max(axis=1) >= 128)[0]
    cols = np.nonzero(m.max(axis=0) >= 128)[0]
    assert abs(len(rows) - 25) <= 1
    assert abs((rows[0] + rows[-1] + 1) / 2 - 30) <= 1 and abs((cols[0] + cols[-1] + 1) / 2 - 21) <= 1
    np.testing.assert_array_equal(np.asarray(composite)[m == 255], np.full(((m == 255).sum(), 3), (220, 120, 60)))


def test_methods_lists_both_classical_methods(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ("global", "local"):
        line = next(line for line in lines if line.split()[:1] == [name])
        assert "photo" in line and line.rstrip().endswith("available") and "unavailable" not in line


def test_methods_says_why_a_method_is_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    register_method(Method(name="test-cli-missing", label="Missing", run=lambda c, m: c, description="A test entry.",
                           unavailable_reason=lambda: "no checkpoint; put one in checkpoints/"))
    try:
        assert main(["methods"]) == 0
    finally:
        registry._METHODS.pop("test-cli-missing", None)
    out = capsys.readouterr().out
    assert "unavailable: no checkpoint; put one in checkpoints/" in out and "A test entry." in out


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"--composite": "missing.png"}, ["No such image file", "missing.png"]),
        ({"--composite": "garbage.png"}, ["Could not read garbage.png"]),
        ({"--mask": "empty_mask.png"}, ["empty", "Paint"]),
        ({"--mask": "full_mask.png"}, ["whole image"]),
        ({"--mask": "small_mask.png"}, ["same size"]),
        ({"--method": "magic"}, ["Unknown harmonization method 'magic'", "global", "local"]),
        ({"-o": "strength=9"}, ["strength must be in [0, 2]"]),
    ],
)
def test_bad_input_exits_2_with_a_message(files: dict[str, Path], tmp_path: Path, change: dict[str, str],
                                          words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "garbage.png").write_bytes(b"definitely not a PNG")
    Image.fromarray(np.zeros((40, 52), np.uint8)).save(tmp_path / "empty_mask.png")
    Image.fromarray(np.full((40, 52), 255, np.uint8)).save(tmp_path / "full_mask.png")
    Image.fromarray(np.full((20, 26), 255, np.uint8)).save(tmp_path / "small_mask.png")
    args = {"--composite": str(files["composite"]), "--mask": str(files["mask"]), "--method": "local",
            "--out": str(tmp_path / "never.png")}
    for key, value in change.items():
        args[key] = value if key in ("--method", "-o") else str(tmp_path / value)
    argv = ["harmonize"] + [item for pair in args.items() for item in pair]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    for word in words:
        assert word in err
    assert not (tmp_path / "never.png").exists()


def test_compose_outside_the_background_exits_2(files: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compose", "--foreground", str(files["fg"]), "--foreground-mask", str(files["fg_mask"]),
                 "--background", str(files["bg"]), "--center", "5", "5", "--out", str(tmp_path / "c.png"),
                 "--mask-out", str(tmp_path / "m.png")])
    assert code == 2
    assert "entirely outside" in capsys.readouterr().err


@pytest.mark.parametrize(("center", "expected"), [(("nan", "0.5"), "center must be two finite numbers (x, y)"),
                                                  (("0.5", "inf"), "center must be two finite numbers (x, y)")])
def test_compose_center_must_be_finite(files: dict[str, Path], tmp_path: Path, center: tuple[str, str], expected: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["compose", "--foreground", str(files["fg"]), "--foreground-mask", str(files["fg_mask"]),
                 "--background", str(files["bg"]), "--center", *center, "--out", str(tmp_path / "c.png"),
                 "--mask-out", str(tmp_path / "m.png")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize(("option", "expected"), [
    ("work_size=0", "work_size must be a whole number of pixels in [8, 512]"),
    ("radius=0", "radius must be a number in (0, 1000]"),
    ("radius=1e9", "radius must be a number in (0, 1000]"),
    ("radius=nan", "'radius' of method 'local' must be a finite number"),
])
def test_out_of_range_options_are_one_line_errors(files: dict[str, Path], tmp_path: Path, option: str, expected: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["harmonize", "--composite", str(files["composite"]), "--mask", str(files["mask"]),
                 "--out", str(tmp_path / "o.png"), "-o", option])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and expected in err and err.count("\n") == 1


def test_malformed_option_is_a_one_line_error(files: dict[str, Path], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["harmonize", "--composite", str(files["composite"]), "--mask", str(files["mask"]),
                 "--out", str(tmp_path / "o.png"), "-o", "strength"])
    assert code == 2
    assert capsys.readouterr().err == "error: Options look like key=value (e.g. strength=0.8); got 'strength'.\n"


def test_unknown_option_exits_2(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["harmonize", "--composite", str(files["composite"]), "--mask", str(files["mask"]),
                 "--out", str(tmp_path / "o.png"), "-o", "bogus=1"])
    assert code == 2
    assert "bogus" in capsys.readouterr().err


def test_enormous_image_exits_2(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    huge = tmp_path / "huge.png"
    huge.write_bytes(png_header_only(14000, 13000))
    code = main(["harmonize", "--composite", str(huge), "--mask", str(files["mask"]), "--out", str(tmp_path / "o.png")])
    assert code == 2
    assert "182.0 megapixels" in capsys.readouterr().err


def test_missing_subcommand_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2


def test_python_dash_m_entry_point(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Runs harmonization/__main__.py in this process (a subprocess would pay the torch import again).
    monkeypatch.setattr(sys, "argv", ["python -m harmonization", "methods"])
    with pytest.raises(SystemExit) as info:
        runpy.run_module("harmonization", run_name="__main__", alter_sys=False)
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "global" in out and "local" in out


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("harmonize", "compose", "methods", "download", "train", "evaluate", "calibrate", "bench"):
        assert f"    {name} " in out, name


@pytest.mark.parametrize(("argv", "prog"), [
    (["train", "--help"], "usage: harmonization train"),
    (["evaluate", "--help"], "usage: harmonization evaluate"),
    (["calibrate", "--help"], "usage: harmonization calibrate"),
    (["bench", "networks", "--help"], "usage: harmonization bench networks"),
    (["bench", "transfer", "--help"], "usage: harmonization bench transfer"),
])
def test_delegated_subcommands_parse_their_own_arguments(argv: list[str], prog: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(prog)


@pytest.mark.parametrize(("out", "expected"), [
    ("result.gif", "must end in one of .png"),
    ("result", "must end in one of .png"),
    ("{composite}", "is one of the inputs"),
    ("{folder}", "is a folder"),
    ("{readonly}/result.png", "cannot write into"),
    ("{composite}/result.png", "cannot write into"),  # a file where a folder should be
])
def test_the_output_path_is_checked_before_any_work(files: dict[str, Path], tmp_path: Path, out: str, expected: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "a_folder.png"
    folder.mkdir()
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    if "readonly" in out and os.access(readonly, os.W_OK):
        pytest.skip("this user (root) may write into a read-only folder")
    target = out.format(composite=files["composite"], folder=folder, readonly=readonly)
    target = target if "/" in target else str(tmp_path / target)
    before = files["composite"].read_bytes()
    try:
        code = main(["harmonize", "--composite", str(files["composite"]), "--mask", str(files["mask"]),
                     "--out", target])
    finally:
        readonly.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert files["composite"].read_bytes() == before


def test_errors_are_one_line_without_a_traceback(files: dict[str, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        (["-o", "radius=abc", "--method", "local"], "Option 'radius' of method 'local' must be a number; got 'abc'"),
        (["-o", "device=tpu", "--method", "phnet"], "Unknown device 'tpu'"),
        (["-o", "checkpoint=/etc/passwd", "--method", "phnet"], "passwd could not be read as a weights file"),
        (["--feather", "1e9"], "feather_radius must be a number of pixels in [0, 256]"),
    ]
    for extra, expected in cases:
        code = main(["harmonize", "--composite", str(files["composite"]), "--mask", str(files["mask"]),
                     "--out", str(tmp_path / "o.png"), *extra])
        err = capsys.readouterr().err
        assert code == 2, extra
        assert err.startswith("error: ") and expected in err, (extra, err)
        assert "Traceback" not in err
