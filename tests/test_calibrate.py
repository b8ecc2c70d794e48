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


def test_one_network_run_per_image_gives_the_pipeline_scores_at_every_strength(tmp_path: Path) -> None:
    """The strengths are derived from one run at strength 1; they equal the pipeline's own runs at each strength."""
    from harmonization.data.folders import CorpusComposites
    from harmonization.evaluation.calibrate import strength_rows
    from harmonization.evaluation.evaluate import evaluate_methods, expand_strengths
    from tests.test_data import make_fake_corpus

    root = make_fake_corpus(tmp_path / "corpus", count=3)
    net = str(_tiny_phnet(tmp_path / "net.safetensors", 0))

    samples = list(CorpusComposites(root, str(root / "splits" / "fold.txt"), max_regions=1))
    derived = strength_rows(samples, f"phnet@{net}", "phnet", [0.5, 1.0], {"resolution": 32})
    methods, options = expand_strengths([f"phnet@{net}"], {f"phnet@{net}": {"resolution": 32}}, [0.5, 1.0])
    direct = evaluate_methods(samples, methods, ("idih",), options)
    got = {(r["image"], r["kind"], r["method"].split()[-1]): r["idih_fpsnr"] for r in derived
           if r["method"] != "composite"}
    want = {(r["image"], r["kind"], r["method"].split()[-1]): r["idih_fpsnr"] for r in direct}
    assert got.keys() == want.keys() and all(got[k] == pytest.approx(want[k], abs=1e-3) for k in got)


def test_cli_on_corpus_folds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.test_data import make_fake_corpus

    root = make_fake_corpus(tmp_path / "corpus", count=4)
    net = str(_tiny_phnet(tmp_path / "net.safetensors", 0))
    fold = str(root / "splits" / "fold.txt")
    held = str(root / "splits" / "heldout.txt")
    assert main(["--arch", "phnet", "--corpus", str(root), "--fold", fold, net, "--fold", held + "," + fold, net,
                 "--option", "resolution=32", "--strengths", "0.5", "1", "--write", net]) == 0
    out = capsys.readouterr().out
    assert "| composite | transfer |" in out and "in 2 fold(s)" in out
    assert read_metadata(net)["strength"] in ("0.5", "1")
