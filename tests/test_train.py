"""Training: losses against hand-computed values, optimisation steps, resume, safetensors export, gloo DDP."""

from __future__ import annotations

import itertools
import json
import math
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import free_port

from harmonization.models import build_from_state_dict
from harmonization.training import (
    TrainConfig,
    build_datasets,
    build_model,
    build_optimizer,
    export_fp16,
    load_checkpoint,
    lr_at,
    main,
    save_checkpoint,
    train,
)
from harmonization.training.losses import (
    batch_psnr,
    fg_normalized_mse,
    masked_gradient_l1,
    mse_loss,
    phnet_loss,
    psnr_loss,
)
from tests._training_fakes import make_photo_folder


# --------------------------------------------------------------------------------------------------------------
# Losses (hand-computed)
# --------------------------------------------------------------------------------------------------------------
def _pair() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    target = torch.zeros(1, 3, 2, 2)
    pred = target.clone()
    pred[0, :, 0, 0] = 0.1  # error 0.1 on one pixel, 3 channels
    mask = torch.zeros(1, 1, 2, 2)
    mask[0, 0, 0, :] = 1.0
    return pred, target, mask


def test_losses_match_hand_computation() -> None:
    pred, target, mask = _pair()
    mse = 3 * 0.01 / 12  # 0.0025
    assert float(mse_loss(pred, target)[0]) == pytest.approx(mse)
    assert float(batch_psnr(pred, target)[0]) == pytest.approx(10 * math.log10(1 / (mse + 1e-8)), rel=1e-5)
    assert float(psnr_loss(pred, target)) == pytest.approx(100 / (10 * math.log10(1 / (mse + 1e-8))), rel=1e-5)
    # 3 * 0.01 / (3 * max(2, 100)) with the minimum area 100
    assert float(fg_normalized_mse(pred, target, mask)) == pytest.approx(0.03 / 300)
    assert float(fg_normalized_mse(pred, target, mask, min_area=1.0)) == pytest.approx(0.03 / 6)
    # masked gradients: pred*m has 0.1 at (0,0) only. x-diffs (per channel, 2 rows x 1): [-0.1, 0] -> mean 0.05;
    # y-diffs (1 row x 2): [-0.1, 0] -> mean 0.05
    assert float(masked_gradient_l1(pred, target, mask)) == pytest.approx(0.1, rel=1e-6)
    loss, parts = phnet_loss(pred, target, mask)
    expected = 0.2 * parts["psnr_term"] + 0.01 * parts["fg_mse"] + 0.01 * parts["grad_l1"]
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert parts["grad_l1"] == pytest.approx(0.1, rel=1e-6)
    with pytest.raises(ValueError, match="mask"):
        fg_normalized_mse(pred, target, mask[:, :, :1])


def test_lr_schedule() -> None:
    config = TrainConfig(lr=1e-3, warmup=10, steps=110, min_lr_ratio=0.1)
    assert lr_at(0, config) == pytest.approx(1e-4)
    assert lr_at(9, config) == pytest.approx(1e-3)
    assert lr_at(60, config) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert lr_at(110, config) == pytest.approx(1e-4)


# --------------------------------------------------------------------------------------------------------------
# Optimisation steps
# --------------------------------------------------------------------------------------------------------------
def _batch(size: int = 32) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, size, size, generator=g) * 0.5 + 0.25
    mask = torch.zeros(2, 1, size, size)
    mask[..., 8:24, 8:24] = 1
    composite = torch.where(mask > 0, (target * 1.3).clamp(0, 1), target)
    return {"composite": composite, "target": target, "mask": mask}


@pytest.mark.parametrize(("arch", "config", "optimizer", "lr"), [("phnet", "tiny", "lion", 1e-3),
                                                                 ("fmm", "tiny", "adam", 1e-3)])
def test_training_steps_reduce_loss_on_fixed_batch(arch: str, config: str, optimizer: str, lr: float) -> None:
    torch.manual_seed(0)
    model = build_model(arch, config, zero_init_head=True)
    opt = build_optimizer(optimizer, model.parameters(), lr)
    batch = _batch()
    loss_fn = phnet_loss if arch == "phnet" else mse_loss
    losses = []
    for _ in range(6):
        pred = model(batch["composite"], batch["mask"])
        loss, _ = loss_fn(pred, batch["target"], batch["mask"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]


def test_fmm_zero_init_head_returns_input() -> None:
    model = build_model("fmm", "tiny", zero_init_head=True)
    batch = _batch()
    assert torch.equal(model(batch["composite"], batch["mask"]), batch["composite"])


def test_build_errors() -> None:
    with pytest.raises(ValueError, match="Unknown PHNet configuration"):
        build_model("phnet", "huge")
    with pytest.raises(ValueError, match="Unknown architecture"):
        build_model("unet")
    with pytest.raises(ValueError, match="Unknown optimiser"):
        build_optimizer("rmsprop", [torch.nn.Parameter(torch.zeros(1))], 1e-3)


# --------------------------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------------------------
def test_checkpoint_and_fp16_export_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model("phnet", "tiny")
    opt = build_optimizer("lion", model.parameters(), 1e-3)
    batch = _batch()
    loss, _ = phnet_loss(model(batch["composite"], batch["mask"]), batch["target"], batch["mask"])
    loss.backward()
    opt.step()
    save_checkpoint(tmp_path, model, opt, 7, TrainConfig(arch="phnet", model_config="tiny", size=32))
    state = torch.load(tmp_path / "last_state.pt", map_location="cpu", weights_only=True)
    assert state["step"] == 7 and "optimizer" in state
    clone = build_model("phnet", "tiny")
    opt2 = build_optimizer("lion", clone.parameters(), 1e-3)
    assert load_checkpoint(tmp_path, clone, opt2) == 7
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clone.state_dict().values(),
                                                 strict=True))
    assert opt2.state_dict()["state"].keys() == opt.state_dict()["state"].keys()

    half = export_fp16(tmp_path / "last.safetensors", tmp_path / "ship.safetensors", {"resolution": "32"})
    from safetensors import safe_open

    with safe_open(str(half), framework="pt") as handle:
        assert handle.metadata()["resolution"] == "32" and handle.metadata()["arch"] == "phnet"
        assert {handle.get_tensor(k).dtype for k in handle.keys()} <= {torch.float16, torch.int64}  # noqa: SIM118
    from harmonization.hub import load_state_dict

    loaded = build_from_state_dict("phnet", load_state_dict(half))
    for key, value in model.state_dict().items():
        expected = value.half().float() if value.is_floating_point() else value
        assert torch.equal(loaded.state_dict()[key], expected)
    assert half.stat().st_size < (tmp_path / "last.safetensors").stat().st_size


def _fake_run_config(tmp_path: Path, **overrides: object) -> TrainConfig:
    photos, masks = make_photo_folder(tmp_path / "data", count=10)
    values: dict = dict(arch="phnet", model_config="tiny", photos=str(photos), masks=str(masks), size=32, batch=2,
                        steps=2, lr=1e-3, warmup=0, val_every=2, val_limit=1, log_every=1, save_every=1,
                        out=str(tmp_path / "run"), threads=1)
    values.update(overrides)
    return TrainConfig(**values)


def test_resume_continues_from_saved_step(tmp_path: Path) -> None:
    config = _fake_run_config(tmp_path, steps=4, stop_after=2)
    summary = train(config, split_out=str(tmp_path / "heldout.txt"))
    assert summary["step"] == 2 and "val" in summary["last"]
    held = (tmp_path / "heldout.txt").read_text().split()
    assert len(held) == 2
    resumed = train(TrainConfig(**{**config.__dict__, "stop_after": 0}), resume=True)
    assert resumed["step"] == 4
    events = [json.loads(line) for line in (Path(config.out) / "log.jsonl").read_text().splitlines()]
    starts = [e["step"] for e in events if e["event"] == "start"]
    assert starts == [0, 2]
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2, 3, 4]
    # the resumed run equals an uninterrupted one
    straight = train(TrainConfig(**{**config.__dict__, "stop_after": 0, "out": str(tmp_path / "straight")}))
    assert straight["step"] == 4
    from safetensors.torch import load_file

    a = load_file(str(Path(config.out) / "last.safetensors"))
    b = load_file(str(tmp_path / "straight" / "last.safetensors"))
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_cli_trains_fmm_and_exports(tmp_path: Path) -> None:
    photos, masks = make_photo_folder(tmp_path / "data", count=6)
    out = tmp_path / "fmm"
    code = main(["--arch", "fmm", "--model-config", "tiny", "--photos", str(photos), "--masks", str(masks),
                 "--size", "32", "--batch", "2", "--steps", "1", "--val-every", "1", "--val-limit", "1",
                 "--out", str(out), "--threads", "1", "--export", str(tmp_path / "fmm16.safetensors")])
    assert code == 0
    from harmonization.hub import load_state_dict

    model = build_from_state_dict("fmm", load_state_dict(tmp_path / "fmm16.safetensors"))
    assert model.config.enc_channels == (8, 16, 16, 32)
    before = load_state_dict(out / "last.safetensors")
    # a finished run: --resume only recalibrates the BatchNorm statistics (weights unchanged) and validates
    assert main(["--arch", "fmm", "--model-config", "tiny", "--photos", str(photos), "--masks", str(masks),
                 "--size", "32", "--batch", "2", "--steps", "1", "--val-limit", "1", "--out", str(out),
                 "--threads", "1", "--resume", "--bn-recalibrate", "2"]) == 0
    after = load_state_dict(out / "last.safetensors")
    assert torch.equal(after["Down1.conv2d.weight"], before["Down1.conv2d.weight"])
    assert not torch.equal(after["Down1.bn.running_mean"], before["Down1.bn.running_mean"])
    events = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any(e.get("bn_recalibrated") for e in events)


# --------------------------------------------------------------------------------------------------------------
# DistributedDataParallel on CPU (gloo), two processes
# --------------------------------------------------------------------------------------------------------------
def _ddp_worker(rank: int, world: int, port: int, config: TrainConfig, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    model = train(config)["model"]
    torch.save({k: v.detach().clone() for k, v in model.named_parameters()}, Path(result_dir) / f"rank{rank}.pt")


@pytest.mark.slow
def test_ddp_gloo_two_processes(tmp_path: Path) -> None:
    config = _fake_run_config(tmp_path, steps=2, val_every=0, save_every=1)
    mp.spawn(_ddp_worker, args=(2, free_port(), config, str(tmp_path)), nprocs=2, join=True)
    events = [json.loads(line) for line in (Path(config.out) / "log.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "start")
    assert start["world"] == 2
    assert [e["step"] for e in events if e["event"] == "train"] == [1, 2]
    state = torch.load(Path(config.out) / "last_state.pt", weights_only=True)
    assert state["step"] == 2
    # every rank ends with the same weights (DDP broadcasts the start and averages the gradients) ... (BatchNorm
    # running statistics are buffers each rank updates from its own last batch; rank 0 saves its own)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0].keys() == ranks[1].keys()
    for key in ranks[0]:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
    # ... which are the trained ones, not the initial ones
    torch.manual_seed(config.seed)
    initial = dict(build_model(config.arch, config.model_config, zero_init_head=config.zero_init_head)
                   .named_parameters())
    assert any(not torch.equal(initial[k], ranks[0][k]) for k in initial)


def test_anchored_training_records_it_and_the_pipeline_anchors(tmp_path: Path) -> None:
    """``--anchor --transfer global`` with ``--init``: the run starts from the given weights, its checkpoint says
    ``output: background-anchored`` and ``transfer: global``, and loading the export makes the pipeline do both."""
    from safetensors import safe_open

    from harmonization.hub import load_network

    init = tmp_path / "init.safetensors"
    torch.manual_seed(3)
    export_fp16(build_model("phnet", "tiny"), init)
    config = _fake_run_config(tmp_path, steps=1, anchor=True, transfer="global", init=str(init), val_every=1)
    summary = train(config, export=str(tmp_path / "anchored16.safetensors"))
    assert summary["step"] == 1 and math.isfinite(summary["last"]["val"]["fpsnr"])
    with safe_open(str(tmp_path / "anchored16.safetensors"), framework="pt") as handle:
        assert handle.metadata()["output"] == "background-anchored"
        assert handle.metadata()["transfer"] == "global"
    loaded = load_network(tmp_path / "anchored16.safetensors", "cpu", arch="phnet")
    assert loaded.anchored and loaded.transfer == "global"
    plain = load_network(init, "cpu", arch="phnet")
    assert not plain.anchored and plain.transfer == "affine"


def test_exclude_keeps_photos_out_of_training_and_validation(tmp_path: Path) -> None:
    held = tmp_path / "held.txt"
    held.write_text("photo_00\nphoto_01\n")
    exclude = tmp_path / "calib.txt"
    exclude.write_text("# calibration\nphoto_02\nphoto_03\nphoto_04\n")
    config = _fake_run_config(tmp_path, heldout=str(held), exclude=str(exclude), val_limit=0)
    train_set, val = build_datasets(config)
    assert train_set.names == [f"photo_{i:02d}" for i in range(5, 10)]
    assert sorted(sample.name for sample in val) == ["photo_00", "photo_01"]
    # the default split (no --heldout) is made first; --exclude then only shrinks the training side
    config = _fake_run_config(tmp_path, exclude=str(exclude))
    plain, _ = build_datasets(_fake_run_config(tmp_path))
    train_set, _ = build_datasets(config)
    assert train_set.names == [n for n in plain.names if n not in {"photo_02", "photo_03", "photo_04"}]


# --------------------------------------------------------------------------------------------------------------
# Corpus training, worker batches, CPU speed options
# --------------------------------------------------------------------------------------------------------------
def _corpus_config(tmp_path: Path, **overrides: object) -> TrainConfig:
    from tests.test_data import make_fake_corpus

    root = make_fake_corpus(tmp_path / "corpus", count=5)
    values: dict = dict(arch="fmm", model_config="tiny", corpus=str(root), exclude=str(root / "splits" / "fold.txt"),
                        size=32, batch=2, steps=2, lr=1e-3, warmup=0, val_every=2, log_every=1, save_every=2,
                        out=str(tmp_path / "run"), threads=1, workers=0)
    values.update(overrides)
    return TrainConfig(**values)


def test_corpus_training_pairs_leave_out_folds_and_near_duplicate_shared_photos(tmp_path: Path) -> None:
    from harmonization.training import corpus_training_pairs

    config = _corpus_config(tmp_path)
    pairs, counts = corpus_training_pairs(config)
    stems = {photo.stem for photo, _ in pairs}
    assert stems == {"photo_00", "photo_03", "photo_04"}  # photo_01 and photo_02 are the excluded fold
    assert counts == {"corpus_photos": 3, "corpus_pairs": 6, "shared_photos": 0}
    # a second source: shared photos, minus those the build matched to a corpus photo
    photos, masks = make_photo_folder(tmp_path / "shared", names=["near", "fresh", "held", "music", "unlisted"])
    (Path(config.corpus) / "shared_matches.json").write_text(json.dumps({"photo_01": ["near"]}))
    heldout = tmp_path / "shared_heldout.txt"
    heldout.write_text("held\n")
    mixed = TrainConfig(**{**config.__dict__, "photos": str(photos), "masks": str(masks), "heldout": str(heldout)})
    with pytest.raises(FileNotFoundError, match="SOURCES.csv"):
        corpus_training_pairs(mixed)
    (tmp_path / "shared" / "SOURCES.csv").write_text(
        "path,package,path_in_package\n"
        + "".join(f"photos/{n}.jpg,some-photos,usr/share/{n}.jpg\n" for n in ("near", "fresh", "held"))
        + "photos/music.jpg,gcompris-qt-data,rcc/explore_world_music.rcc :/resource/music/africa.webp\n")
    pairs, counts = corpus_training_pairs(mixed)
    assert counts["shared_photos"] == 1 and pairs[-1][0].stem == "fresh"  # not near, held, music (reserved), unlisted
    assert counts["shared_reserved_or_unlisted"] == 2


def test_train_on_a_corpus_validates_on_the_excluded_fold(tmp_path: Path) -> None:
    config = _corpus_config(tmp_path)
    summary = train(config)
    assert summary["step"] == 2
    events = [json.loads(line) for line in (Path(config.out) / "log.jsonl").read_text().splitlines()]
    start = next(e for e in events if e["event"] == "start")
    assert start["train_items"] == 6 and start["train_photos"] == 3
    assert start["val_items"] == 4  # the fold's 2 photos: one region each (max_regions=1), jitter and transfer
    assert any(e["event"] == "val" for e in events)
    with pytest.raises(ValueError, match="held-out"):
        build_datasets(TrainConfig(**{**config.__dict__, "val_split": "heldout"}))
    code = main(["--arch", "fmm", "--model-config", "tiny", "--corpus", config.corpus, "--exclude", config.exclude,
                 "--size", "32", "--batch", "2", "--steps", "1", "--val-split", "none", "--workers", "0",
                 "--threads", "1", "--out", str(tmp_path / "cli")])
    assert code == 0


def test_worker_batches_equal_in_loop_batches(tmp_path: Path) -> None:
    from harmonization.training import batches

    dataset, _ = build_datasets(_corpus_config(tmp_path))
    in_loop = list(itertools.islice(batches(dataset, 2, 5, 0, 1, 2), 4))  # 3 steps per epoch: crosses a boundary
    workers = list(itertools.islice(batches(dataset, 2, 5, 0, 1, 2, workers=2), 4))
    assert [(s, e) for s, e, _ in in_loop] == [(s, e) for s, e, _ in workers] == [(2, 0), (3, 1), (4, 1), (5, 1)]
    for (_, _, a), (_, _, b) in zip(in_loop, workers, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("composite", "target", "mask"))


def test_autocast_dtype_and_fmm_attention_in_fp32() -> None:
    from harmonization.training.loop import autocast_dtype, keep_fp32_under_autocast

    cpu = torch.device("cpu")
    assert autocast_dtype("off", cpu) is None and autocast_dtype("bf16", cpu) is torch.bfloat16
    assert autocast_dtype("auto", cpu) in (None, torch.bfloat16)
    with pytest.raises(ValueError):
        autocast_dtype("fp8", cpu)
    torch.manual_seed(0)
    model = build_model("fmm", "tiny")
    assert keep_fp32_under_autocast(model) >= 1 and keep_fp32_under_autocast(model) == 0  # wrapped once
    x, mask = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.5).float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, mask)
    reference = model(x, mask)
    assert out.shape == x.shape and float((out.detach().float() - reference.detach()).abs().max()) < 0.05


def test_init_resets_non_finite_batchnorm_statistics(tmp_path: Path) -> None:
    from harmonization.hub.files import save_safetensors
    from harmonization.training.loop import reset_nonfinite_batchnorm

    torch.manual_seed(0)
    model = build_model("fmm", "tiny")
    name = next(n for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d))
    state = model.state_dict()
    state[f"{name}.running_var"] = torch.full_like(state[f"{name}.running_var"], math.inf)
    model.load_state_dict(state)
    assert reset_nonfinite_batchnorm(model) == [name]
    assert torch.equal(dict(model.named_modules())[name].running_var, torch.ones_like(state[f"{name}.running_var"]))
    # through --init: the run logs the reset
    init = save_safetensors(state, tmp_path / "init.safetensors", {"arch": "fmm"})
    config = _corpus_config(tmp_path, init=str(init), steps=1, val_split="none")
    train(config)
    events = [json.loads(line) for line in (Path(config.out) / "log.jsonl").read_text().splitlines()]
    assert next(e for e in events if e["event"] == "init")["reset_batchnorm"] == [name]
