"""The demo's result files (harmonization.serving.results): names from the inputs, the zip, the column labels."""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from harmonization.pipelines.comparison import compare
from harmonization.serving.results import column_labels, input_stem, notes_markdown, save_results


def test_input_stem_names_the_inputs_with_safe_characters_only() -> None:
    editor = {"background": {"path": "/tmp/gradio/ab12/Holiday Photo (1).JPG", "orig_name": "Holiday Photo (1).JPG",
                             "meta": {"_type": "gradio.FileData"}}, "layers": [], "composite": None}
    assert input_stem(editor, "/srv/up/starry night.png") == "Holiday-Photo-1_on_starry-night"
    assert input_stem("../../etc/passwd") == "passwd"
    assert input_stem({"path": "C:\\\\Users\\\\x\\\\é$%.png"}) == ""  # nothing safe left: no stem
    assert input_stem(None, 3, {"background": None, "composite": None}) == ""
    assert len(input_stem("x" * 300 + ".png")) == 40
    painted = {"background": {"path": "/tmp/gradio/cd34/background.png", "orig_name": "background.png"}}
    assert input_stem(painted, "/up/scene.jpg") == "scene"  # the editor's own canvas upload names nothing


def test_save_results_names_files_after_the_inputs_and_methods_and_zips_them(tmp_path: Path) -> None:
    composite = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 1, 20, 24)
    mask[..., 5:15, 6:18] = 1.0
    comparison = compare(composite, mask, "local")
    files = save_results(comparison, tmp_path, ttl_s=60, stem="me_on_cafe")
    assert [Path(p).name for p in files.pngs] == ["me_on_cafe_naive.png", "me_on_cafe_global.png",
                                                    "me_on_cafe_local.png"]
    with zipfile.ZipFile(files.archive) as archive:
        assert archive.namelist() == [Path(p).name for p in files.pngs]
        assert archive.read("me_on_cafe_local.png") == Path(files.result).read_bytes()
    same = save_results(compare(composite, mask, "global"), tmp_path, ttl_s=60)  # both columns ran "global"
    assert [Path(p).name for p in same.pngs] == ["naive.png", "global-baseline.png", "global-result.png"]
    assert Path(same.archive).name == "results.zip"


def test_labels_and_notes_name_the_methods() -> None:
    composite = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1.0
    comparison = compare(composite, mask, "local")
    assert column_labels("local") == ("Naive (cut and paste)", "Global colour transfer (global)",
                                      "Local colour transfer (local)",
                                      "Before / after (naive vs Local colour transfer)")
    assert column_labels("painterly")[1:3] == ("Global style transfer (painterly-global)",
                                               "Painterly fusion (painterly)")
    notes = notes_markdown(comparison)
    assert not notes.startswith(("-", "=", "+", "@")) and ",-" not in notes  # no CSV-guard quote in cached examples
    assert notes.count("  \n") == 2 and "(`naive`): no harmonization" in notes and "0.00 s" not in notes.split("\n")[0]
