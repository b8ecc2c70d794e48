"""``python -m harmonization.evaluate`` on tiny fake datasets: methods, checkpoints, readers, buckets, CSV."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch

from harmonization.evaluation.evaluate import (
    best_strengths,
    bucket_of,
    evaluate_methods,
    expand_strengths,
    format_table,
    main,
    parse_options,
)
from harmonization.training import build_model, export_fp16
from tests._training_fakes import make_ffhqh_tree, make_iharmony4_tree, make_photo_folder


def test_cli_on_photo_folder_with_split_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos, masks = make_photo_folder(tmp_path, count=4)
    split = tmp_path / "split.txt"
    split.write_text("photo_01\nphoto_03\n")
    out_csv = tmp_path / "rows.csv"
    code = main(["--photos", str(photos), "--masks", str(masks), "--split", str(split), "--methods", "composite",
                 "global", "--convention", "idih", "dovenet", "--csv", str(out_csv)])
    assert code == 0
    table = capsys.readouterr().out
    assert "| composite | all | 2 |" in table and "| global | all | 2 |" in table
    assert "fPSNR (idih)" in table and "fPSNR (dovenet)" in table
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["image"] for r in rows] == ["photo_01", "photo_01", "photo_03", "photo_03"]
    assert {"idih_fpsnr", "dovenet_fmse", "bucket", "fg_ratio"} <= set(rows[0])
    composite_rows = [r for r in rows if r["method"] == "composite"]
    assert all(float(r["idih_fmse"]) > 0 for r in composite_rows)


def test_network_checkpoint_by_path_with_resolution(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos, masks = make_photo_folder(tmp_path, count=2)
    torch.manual_seed(0)
    weights = export_fp16(build_model("fmm", "tiny", zero_init_head=True), tmp_path / "fmm_tiny.safetensors")
    code = main(["--photos", str(photos), "--masks", str(masks), "--methods", "composite", f"fmm@{weights}",
                 "--option", "fmm:resolution=32", "--option", "transfer=upsample", "--limit", "1"])
    assert code == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "| all |" in line]
    composite_cells, fmm_cells = (line.split("|") for line in lines)
    # a zero-initialised FMM returns its input: the same numbers as the composite (up to the 32 px round trip)
    assert abs(float(fmm_cells[-2]) - float(composite_cells[-2])) < 3.0


def test_iharmony4_and_ffhqh_datasets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_iharmony4_tree(tmp_path / "ih")
    assert main(["--iharmony4", str(root), "--methods", "composite"]) == 0
    assert "| composite | all | 2 |" in capsys.readouterr().out
    assert main(["--iharmony4", str(root), "--split", "train", "--subsets", "HCOCO", "--methods", "composite"]) == 0
    assert "| composite | all | 3 |" in capsys.readouterr().out
    ffhqh = make_ffhqh_tree(tmp_path / "ffhqh", count=2)
    assert main(["--ffhqh", str(ffhqh), "--methods", "composite", "global"]) == 0
    assert "| global | all | 2 |" in capsys.readouterr().out


def test_cli_errors(tmp_path: Path) -> None:
    photos, masks = make_photo_folder(tmp_path, count=1)
    with pytest.raises(SystemExit):
        main(["--methods", "composite"])  # no dataset
    with pytest.raises(SystemExit):
        main(["--photos", str(photos), "--masks", str(masks), "--option", "global:nonsense=1"])
    with pytest.raises(ValueError, match="expects"):
        parse_options(["checkpoint"], ["phnet"])
    with pytest.raises(ValueError, match="takes the option"):
        parse_options(["radius=2"], ["composite", "global"])


def test_parse_options_routes_to_methods() -> None:
    options = parse_options(["checkpoint=a.safetensors", "fmm:resolution=128", "local:strength=0.5"],
                            ["composite", "phnet", "fmm", "local", "phnet@b.safetensors"])
    assert options["phnet"] == {"checkpoint": "a.safetensors"}
    assert options["fmm"] == {"checkpoint": "a.safetensors", "resolution": 128}
    assert options["local"] == {"strength": 0.5}
    assert options["composite"] == {}


def test_buckets_and_table() -> None:
    assert [bucket_of(r) for r in (0.01, 0.05, 0.1, 0.15, 0.9, 1.0)] == ["<5%", "5-15%", "5-15%", ">15%", ">15%",
                                                                         ">15%"]
    from harmonization.data.folders import HarmonizationSample

    target = torch.full((1, 3, 8, 8), 0.5)
    mask = torch.ones(1, 1, 8, 8)
    sample = HarmonizationSample("x", target + 0.1 * mask, target, mask)
    rows = evaluate_methods([sample], ["composite"], ["idih"])
    assert rows[0]["bucket"] == ">15%"
    # fMSE over the (whole-image) foreground: (0.1 * 255)^2 = 650.25
    assert rows[0]["idih_fmse"] == pytest.approx(650.25, rel=1e-4)
    assert rows[0]["idih_fpsnr"] == pytest.approx(10 * math.log10(127.5**2 / 650.25), rel=1e-4)
    assert "| composite | >15% | 1 |" in format_table(rows, ["idih"])


def test_strength_sweep_rows_and_best_strength(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photos, masks = make_photo_folder(tmp_path, count=3)
    out_csv = tmp_path / "rows.csv"
    code = main(["--photos", str(photos), "--masks", str(masks), "--methods", "composite", "global",
                 "--strengths", "0", "1", "--csv", str(out_csv)])
    assert code == 0
    out = capsys.readouterr().out
    assert "| global strength=0 | all | 3 |" in out and "| global strength=1 | all | 3 |" in out
    rows = list(csv.DictReader(out_csv.open()))
    by_method: dict[str, list[float]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(float(row["idih_fpsnr"]))
    # strength 0 is "no change": the composite's numbers (up to the float Lab round trip)
    assert by_method["global strength=0"] == pytest.approx(by_method["composite"], abs=1e-3)
    assert by_method["global strength=1"] != pytest.approx(by_method["composite"], abs=1e-3)
    means = {s: sum(by_method[f"global strength={s}"]) / 3 for s in ("0", "1")}
    best = max(means, key=lambda s: means[s])
    assert f"best strength for global: {best} (mean fPSNR {means[best]:.2f} dB, idih)" in out


def test_expand_strengths_keeps_methods_without_the_option() -> None:
    methods, options = expand_strengths(["composite", "local", "phnet@a.safetensors"],
                                        {"local": {"radius": 0.3}}, [0.5, 1.0])
    assert methods == ["composite", "local strength=0.5", "local strength=1", "phnet@a.safetensors strength=0.5",
                       "phnet@a.safetensors strength=1"]
    assert options["local strength=0.5"] == {"radius": 0.3, "strength": 0.5}
    assert options["composite"] == {}
    rows = [{"method": "local strength=0.5", "idih_fpsnr": 20.0}, {"method": "local strength=1", "idih_fpsnr": 20.0},
            {"method": "composite", "idih_fpsnr": 30.0}]
    assert best_strengths(rows) == {"local": (0.5, 20.0)}  # ties go to the lower strength


def test_corpus_rows_per_kind_and_bucket_and_table_from_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    from tests.test_data import make_fake_corpus

    root = make_fake_corpus(tmp_path / "corpus", count=4)
    split = str(root / "splits" / "fold.txt")
    out = tmp_path / "rows.csv"
    assert main(["--corpus", str(root), "--split", split, "--max-regions", "0", "--methods", "composite", "global",
                 "--csv", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| composite | all | 8 |" in table  # 2 photos x 2 regions x 2 kinds
    for subset in ("jitter", "transfer"):
        assert f"| composite | {subset} | 4 |" in table
    assert "| global | jitter | 4 |" in table and "| composite | >15% |" in table
    with out.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 8 and {r["kind"] for r in rows} == {"jitter", "transfer"}
    # jitter and transfer composites of one pair differ; the table can be printed again from the CSV
    by_kind = {(r["image"], r["kind"]): float(r["idih_fpsnr"]) for r in rows if r["method"] == "composite"}
    assert by_kind[("photo_01__0", "jitter")] != by_kind[("photo_01__0", "transfer")]
    assert main(["--table-from", str(out)]) == 0
    assert capsys.readouterr().out.strip() == table.strip()
