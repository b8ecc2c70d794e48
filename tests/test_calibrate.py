"""``python -m harmonization.calibrate``: per-fold strength sweeps pooled into one default strength, written into
the checkpoint's metadata, which the pipeline then uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from harmonization.evaluation.calibrate import calibrate_strength, main
from harmonization.hub import load_network, read_metadata, update_metadata
from harmonization.models.phnet import PHNET_TINY, PHNet
from tests._training_fakes import make_photo_folder


def _tiny_phnet(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    save_file({k: v.contiguous() for k, v in PHNet(PHNET_TINY).state_dict().items()}, str(path),
              metadata={"arch": "phnet"})
    return path


@pytest.fixture()
def folds(tmp_path: Path) -> tuple[Path, Path, list[tuple[str, str]]]:
    photos, masks = make_photo_folder(tmp_path, count=5)
    fold_a, fold_b = tmp_path / "a.txt", tmp_path / "b.txt"
    fold_a.write_text("# fold a\nphoto_00\nphoto_01\n")
    fold_b.write_text("photo_02\nphoto_03\nphoto_04\n")
    pairs = [(str(fold_a), str(_tiny_phnet(tmp_path / "net_a.safetensors", 0))),
             (str(fold_b), str(_tiny_phnet(tmp_path / "net_b.safetensors", 1)))]
    return photos, masks, pairs


def test_scores_are_pooled_over_folds_and_the_best_strength_is_their_maximum(folds) -> None:
    photos, masks, pairs = folds
    strength, score, rows = calibrate_strength("phnet", pairs, str(photos), str(masks), [0.0, 0.5, 1.0],
                                               {"resolution": 32})
    by_method: dict[str, list[float]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row["idih_fpsnr"])
    assert sorted(by_method) == ["composite", "phnet strength=0", "phnet strength=0.5", "phnet strength=1"]
    assert all(len(v) == 5 for v in by_method.values())  # 2 + 3 images pooled under one label
    assert {row["fold"] for row in rows} == {pairs[0][0], pairs[1][0]}
    # strength 0 leaves the composite as it is
    assert by_method["phnet strength=0"] == pytest.approx(by_method["composite"], abs=1e-4)
    # the seeded random networks are not the identity, so the strengths really differ
    assert by_method["phnet strength=1"] != pytest.approx(by_method["composite"], abs=0.1)
    means = {s: sum(by_method[f"phnet strength={s}"]) / 5 for s in ("0", "0.5", "1")}
    best = max(means, key=lambda s: means[s])
    assert strength == float(best) and score == pytest.approx(means[best])


def test_cli_writes_the_strength_that_the_pipeline_then_uses(folds, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    photos, masks, pairs = folds
    shipped = _tiny_phnet(tmp_path / "shipped.safetensors", 2)
    before = load_file(str(shipped))
    argv = ["--arch", "phnet", "--photos", str(photos), "--masks", str(masks), "--strengths", "0", "0.5", "1",
            "--option", "resolution=32", "--write", str(shipped)]
    for split, checkpoint in pairs:
        argv += ["--fold", split, checkpoint]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| phnet strength=0.5 | all | 5 |" in out
    line = next(line for line in out.splitlines() if line.startswith("best strength for phnet: "))
    written = line.split(": ")[1].split(" ")[0]
    metadata = read_metadata(shipped)
    assert metadata["strength"] == written and metadata["arch"] == "phnet" and "a.txt" in metadata[
        "strength_calibration"]
    after = load_file(str(shipped))
    assert all(torch.equal(before[k], after[k]) and before[k].dtype == after[k].dtype for k in before)
    assert load_network(shipped, "cpu", arch="phnet").strength == float(written)


def test_cli_errors(folds, tmp_path: Path) -> None:
    photos, masks, pairs = folds
    base = ["--arch", "phnet", "--photos", str(photos), "--masks", str(masks), "--fold", *pairs[0]]
    with pytest.raises(SystemExit):
        main(base + ["--strengths", "1", "--option", "strength=0.5"])
    with pytest.raises(SystemExit):
        main(base[:-3] + ["--fold", "no_such_split.txt", pairs[0][1], "--strengths", "1"])
    with pytest.raises(ValueError, match="not a safetensors file"):
        update_metadata(tmp_path / "a.txt", {"strength": "0.5"})
