"""Train PHNet or FMM: ``python -m harmonization.train``.

Data: synthetic pairs from a folder of photos with object masks (``--photos/--masks``; 20 % of the photos are held
out, near-duplicates kept together, and the held-out names written to ``--split-out``), or real pairs from an
iHarmony4 (``--iharmony4 ROOT``) or FFHQH (``--ffhqh ROOT``) tree.

Losses and optimisers: PHNet ``0.2 * 100/PSNR + 0.01 * fg-normalised MSE + 0.01 * masked-gradient L1`` with Lion
(``lion-pytorch``); FMM MSE with Adam by default (``--optimizer adadelta`` for the original recipe).

Outputs in ``--out``: ``last.safetensors`` (float32 weights, metadata: arch, config, step), ``last_state.pt``
(optimiser state + step; loadable with ``torch.load(weights_only=True)``), ``log.jsonl`` (one JSON object per
log line / validation), and with ``--export`` an fp16 copy for shipping. ``--resume`` continues from ``last.*``.

Multi-GPU: ``torchrun --nproc_per_node N -m harmonization.train ...`` (DistributedDataParallel; every rank draws
its own shard of each epoch's permutation through ``DistributedSampler``; ``--batch`` is per rank).

Example (CPU, reduced resolution)::

    python -m harmonization.train --arch phnet --photos ../shared/data/photos --masks ../shared/data/photos_masks \\
        --split-out heldout.txt --size 128 --batch 8 --steps 600 --lr 1e-4 --out runs/phnet
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from .data.folders import IMAGE_SUFFIXES, HarmonizationSample, PhotoMaskFolder
from .data.readers import FFHQH, IHarmony4
from .data.splits import load_split, split_names, write_split
from .data.synthetic import PairConfig
from .data.training import ReaderPairDataset, SyntheticPairDataset, collate
from .losses import batch_psnr, mse_loss, phnet_loss
from .ops.colortransfer import anchor_to_background, transfer_global_affine
from .pipelines.neural import ANCHORED_OUTPUT

__all__ = ["TrainConfig", "build_model", "build_optimizer", "save_checkpoint", "load_checkpoint", "export_fp16",
           "validate", "train", "main", "build_parser", "recalibrate_batchnorm"]

ARCHES = ("phnet", "fmm")
OPTIMIZERS = ("lion", "adam", "adamw", "adadelta", "sgd")


@dataclass
class TrainConfig:
    """Everything a run depends on (saved as ``config.json`` in the run folder)."""

    arch: str = "phnet"
    model_config: str = "iharmony"
    photos: str | None = None
    masks: str | None = None
    heldout: str | None = None
    exclude: str | None = None
    split_seed: int = 1
    iharmony4: str | None = None
    ffhqh: str | None = None
    size: int = 256
    batch: int = 8
    steps: int = 1000
    lr: float = 1e-4
    min_lr_ratio: float = 0.1
    warmup: int = 50
    optimizer: str = ""
    weight_decay: float = 0.0
    seed: int = 0
    transfer_p: float = 0.5
    crop_min: float = 0.25
    zero_init_head: bool = True
    loss_region: str = "full"
    anchor: bool = False
    transfer: str = "affine"
    scene_color: float = 0.0
    init: str | None = None
    val_every: int = 100
    val_limit: int = 0
    val_resolution: int = 0
    log_every: int = 10
    save_every: int = 50
    threads: int = 0
    max_minutes: float = 0.0
    stop_after: int = 0
    bn_recalibrate: int = 0
    amp: str = "auto"
    out: str = "runs/train"

    def resolved_optimizer(self) -> str:
        """The optimiser name (default Lion for PHNet, Adam for FMM)."""
        return self.optimizer or ("lion" if self.arch == "phnet" else "adam")


# ---------------------------------------------------------------------------------------------------------------
# Model, optimiser, checkpoints
# ---------------------------------------------------------------------------------------------------------------
def build_model(arch: str, model_config: str = "", *, zero_init_head: bool = False) -> nn.Module:
    """A freshly initialised network in training mode.

    Args:
        arch: ``"phnet"`` or ``"fmm"``.
        model_config: PHNet preset (``"iharmony"``, ``"ffhqh"``, ``"tiny"``) or FMM preset (``"released"``,
            ``"tiny"``); empty = the published configuration.
        zero_init_head: FMM only: zero the output convolution so the untrained network returns its input
            (``clamp(image + tanh(0))``); training then starts from the composite instead of noise.
    """
    if arch == "phnet":
        from .models.phnet import PHNET_PRESETS, PHNet

        name = model_config or "iharmony"
        if name not in PHNET_PRESETS:
            raise ValueError(f"Unknown PHNet configuration {name!r}; use one of {', '.join(PHNET_PRESETS)}.")
        return PHNet(PHNET_PRESETS[name]).train()
    if arch == "fmm":
        from .models.fmm import FMM, FMMConfig

        name = model_config or "released"
        presets = {"released": FMMConfig.released(), "tiny": FMMConfig.tiny()}
        if name not in presets:
            raise ValueError(f"Unknown FMM configuration {name!r}; use one of {', '.join(presets)}.")
        model = FMM(presets[name])
        if zero_init_head:
            nn.init.zeros_(model.output.weight)
            nn.init.zeros_(model.output.bias)
        return model.train()
    raise ValueError(f"Unknown architecture {arch!r}; use one of {ARCHES}.")


def build_optimizer(name: str, parameters: Any, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``lion`` (lion-pytorch), ``adam``, ``adamw``, ``adadelta`` or ``sgd`` (momentum 0.9)."""
    if name == "lion":
        try:
            from lion_pytorch import Lion
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("The Lion optimiser needs the lion-pytorch package: pip install lion-pytorch") from exc
        return Lion(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adadelta":
        return torch.optim.Adadelta(parameters, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimiser {name!r}; use one of {OPTIMIZERS}.")


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""
    if config.warmup > 0 and step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    span = max(1, config.steps - config.warmup)
    progress = min(1.0, (step - config.warmup) / span)
    ratio = config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * ratio


def _metadata(model: nn.Module, arch: str, model_config: str, step: int, resolution: int,
              anchored: bool = False, transfer: str = "affine") -> dict[str, str]:
    meta = {"arch": arch, "config": model_config, "step": str(step), "resolution": str(resolution),
            "format": f"{arch}-safetensors"}
    if anchored:
        meta["output"] = ANCHORED_OUTPUT
    if transfer != "affine":
        meta["transfer"] = transfer
    return meta


def save_checkpoint(
    out: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    config: TrainConfig,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``last.safetensors`` (float32 weights) and ``last_state.pt`` (optimiser state, step) atomically.

    ``last_state.pt`` holds only tensors, numbers, strings and containers, so ``torch.load(weights_only=True)``
    reads it.

    Returns:
        Path of the weights file.
    """
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = _metadata(model, config.arch, config.model_config, step, config.size, config.anchor, config.transfer)
    weights, state = out / "last.safetensors", out / "last_state.pt"
    save_file(tensors, str(weights.with_suffix(".tmp")), metadata=meta)
    os.replace(weights.with_suffix(".tmp"), weights)
    payload: dict[str, Any] = {"step": int(step), "extra": extra or {}}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    torch.save(payload, state.with_suffix(".tmp"))
    os.replace(state.with_suffix(".tmp"), state)
    return weights


def load_checkpoint(
    out: str | os.PathLike[str], model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> int:
    """Load ``last.safetensors`` (strictly) and, if given, the optimiser state. Returns the saved step."""
    from safetensors.torch import load_file

    from .models._loading import load_strict

    out = Path(out)
    weights = out / "last.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"No checkpoint to resume from: {weights} does not exist.")
    load_strict(model, load_file(str(weights), device="cpu"), what=str(weights))
    state_path = out / "last_state.pt"
    if not state_path.is_file():
        return 0
    state = torch.load(state_path, map_location="cpu", weights_only=True)
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    return int(state["step"])


def export_fp16(
    model_or_weights: nn.Module | str | os.PathLike[str],
    path: str | os.PathLike[str],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write a shipping copy: floating tensors as float16, integer buffers unchanged, optional metadata.

    Args:
        model_or_weights: a module or a float32 ``.safetensors`` file (e.g. a run's ``last.safetensors``).
        path: the output ``.safetensors`` file.
        metadata: string metadata (arch, config, resolution, ...); merged over the source file's.
    """
    from safetensors import safe_open
    from safetensors.torch import save_file

    meta: dict[str, str] = {}
    if isinstance(model_or_weights, nn.Module):
        tensors = {k: v.detach().cpu() for k, v in model_or_weights.state_dict().items()}
    else:
        with safe_open(str(model_or_weights), framework="pt", device="cpu") as handle:
            meta = dict(handle.metadata() or {})
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
    meta.update(metadata or {})
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(half, str(path), metadata=meta or None)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------------
def _photo_names(photos: str) -> list[str]:
    return sorted(p.stem for p in Path(photos).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def build_datasets(config: TrainConfig, split_out: str | None = None, rank: int = 0
                   ) -> tuple[Dataset, list[HarmonizationSample]]:
    """The training dataset and the (loaded) validation samples for ``config``."""
    if config.iharmony4:
        train_set: Dataset = ReaderPairDataset(IHarmony4(config.iharmony4, "train"), size=config.size,
                                               seed=config.seed)
        val_reader = IHarmony4(config.iharmony4, "test")
        limit = config.val_limit or 200
        val = [val_reader[i] for i in range(min(limit, len(val_reader)))]
        return train_set, val
    if config.ffhqh:
        reader = FFHQH(config.ffhqh)
        train_set = ReaderPairDataset(reader, size=config.size, seed=config.seed)
        limit = config.val_limit or 100
        val = [reader[i] for i in range(max(0, len(reader) - limit), len(reader))]
        return train_set, val
    if not config.photos or not config.masks:
        raise ValueError("Give --photos and --masks (a folder of photos with object masks), --iharmony4 ROOT or "
                         "--ffhqh ROOT.")
    names = _photo_names(config.photos)
    if config.heldout:
        heldout = sorted(set(load_split(config.heldout)) & set(names))
        train_names = [n for n in names if n not in set(heldout)]
    else:
        train_names, heldout = split_names(names, 0.2, seed=config.split_seed)
    if config.exclude:
        excluded = set(load_split(config.exclude))
        train_names = [n for n in train_names if n not in excluded]
    if split_out and rank == 0:
        write_split(split_out, heldout)
    pair_config = PairConfig(transfer_p=config.transfer_p)
    train_set = SyntheticPairDataset(config.photos, config.masks, train_names, size=config.size, seed=config.seed,
                                     config=pair_config, crop_scale=(config.crop_min, 1.0),
                                     scene_color=config.scene_color)
    val_folder = PhotoMaskFolder(config.photos, config.masks, names=heldout, seed=0)
    val = list(val_folder)
    if config.val_limit:
        val = val[: config.val_limit]
    return train_set, val


def batches(dataset: Dataset, batch: int, seed: int, rank: int, world: int, start_step: int
            ) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
    """Endless ``(step, epoch, batch)`` stream from ``start_step`` on, identical across runs and resumes.

    Each epoch is a :class:`DistributedSampler` permutation (seeded, ``drop_last``) sharded over ranks; a step is
    ``batch`` consecutive indices of this rank's shard.
    """
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    per_epoch = len(sampler) // batch
    if per_epoch < 1:
        raise ValueError(f"The dataset ({len(dataset)} items over {world} ranks) is smaller than one batch of "
                         f"{batch}; lower --batch.")
    step = start_step
    while True:
        epoch, position = divmod(step, per_epoch)
        sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        indices = list(iter(sampler))
        for offset in range(position, per_epoch):
            chunk = indices[offset * batch:(offset + 1) * batch]
            yield step, epoch, collate([dataset[i] for i in chunk])
            step += 1


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, dataset: Dataset, steps: int, batch: int, seed: int = 12345,
                          device: torch.device | str = "cpu") -> int:
    """Re-estimate every BatchNorm's running mean/var as a plain average over ``steps`` training batches.

    Training keeps exponential averages (momentum 0.1) dominated by the last few batches; the plain average over
    many batches is a steadier estimate for evaluation. Weights are not changed.

    Returns:
        The number of BatchNorm layers recalibrated (0: nothing to do).
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms or steps <= 0:
        return 0
    was_training = model.training
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average
    model.train()
    try:
        for _, _, data in itertools.islice(batches(dataset, batch, seed, 0, 1, 0), steps):
            model(data["composite"].to(device), data["mask"].to(device))
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return len(norms)


# ---------------------------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def validate(model: nn.Module, arch: str, samples: Sequence[HarmonizationSample], resolution: int,
             device: torch.device | str = "cpu", anchored: bool = False, transfer: str = "affine"
             ) -> dict[str, float]:
    """Mean idih metrics of ``model`` run through the photo pipeline at ``resolution`` (as the app runs it).

    ``anchored``/``transfer``: interpret the output as the pipeline does for checkpoints trained with ``--anchor`` /
    ``--transfer``.

    Returns:
        ``{"fpsnr", "psnr", "fmse", "mse", "composite_fpsnr", "images"}`` (means over samples).
    """
    from .metrics import evaluate
    from .ops.mask import binarize, blend
    from .pipelines.neural import LoadedNetwork, run_network

    was_training = model.training
    model.eval()
    network = LoadedNetwork(model, resolution, "in training", anchored, transfer)
    totals: dict[str, float] = {"fpsnr": 0.0, "psnr": 0.0, "fmse": 0.0, "mse": 0.0, "composite_fpsnr": 0.0}
    try:
        for sample in samples:
            comp, mask = sample.composite.to(device), sample.mask.to(device)
            pred = run_network(comp, binarize(mask), arch=arch, network=network)
            out = blend(pred.to(comp.dtype), comp, mask).cpu()
            for key, value in evaluate(out, sample.target, sample.mask, "idih").items():
                totals[key] += value
            totals["composite_fpsnr"] += evaluate(sample.composite, sample.target, sample.mask, "idih")["fpsnr"]
    finally:
        model.train(was_training)
    n = max(1, len(samples))
    result = {k: v / n for k, v in totals.items()}
    result["images"] = float(len(samples))
    return result


# ---------------------------------------------------------------------------------------------------------------
# Training loop
# ---------------------------------------------------------------------------------------------------------------
def _distributed() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


class _Log:
    def __init__(self, path: Path | None, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def __call__(self, record: dict[str, Any], text: str) -> None:
        if not self.enabled:
            return
        print(text, flush=True)
        if self.path is not None:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")


def train(config: TrainConfig, *, resume: bool = False, split_out: str | None = None,
          export: str | None = None) -> dict[str, Any]:
    """Run (or resume) a training run; returns a summary (final step, last losses, last validation).

    Works in one process, or in several started by ``torchrun`` (``WORLD_SIZE > 1``: DDP with NCCL on CUDA, gloo
    on CPU). Rank 0 logs, validates and saves.
    """
    if config.arch not in ARCHES:
        raise ValueError(f"Unknown --arch {config.arch!r}; use one of {ARCHES}.")
    if config.loss_region not in ("full", "blend"):
        raise ValueError(f"loss_region must be 'full' or 'blend'; got {config.loss_region!r}.")
    if config.transfer not in ("affine", "global"):
        raise ValueError(f"transfer must be 'affine' or 'global'; got {config.transfer!r}.")
    rank, world, local = _distributed()
    use_cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if config.threads:
        torch.set_num_threads(config.threads)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    out = Path(config.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
    log = _Log(out / "log.jsonl", rank == 0)

    torch.manual_seed(config.seed)
    model = build_model(config.arch, config.model_config, zero_init_head=config.zero_init_head).to(device)
    optimizer = build_optimizer(config.resolved_optimizer(), model.parameters(), config.lr, config.weight_decay)
    start = load_checkpoint(out, model, optimizer) if resume and (out / "last.safetensors").is_file() else 0
    if config.init and start == 0:
        from .checkpoints import load_state_dict as read_weights
        from .models._loading import load_strict

        load_strict(model, read_weights(config.init), what=config.init)
    if world > 1:
        # PHNet has registered blocks that its forward never calls (the last PN block, skip.6)
        model_ddp: nn.Module = nn.parallel.DistributedDataParallel(
            model, device_ids=[local] if use_cuda else None, find_unused_parameters=config.arch == "phnet")
    else:
        model_ddp = model
    amp_dtype = None
    if use_cuda and config.amp != "off":
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    dataset, val_samples = build_datasets(config, split_out, rank)
    resolution = config.val_resolution or config.size
    loss_fn = phnet_loss if config.arch == "phnet" else mse_loss
    log({"event": "start", "step": start, "world": world, "train_items": len(dataset), "val_items": len(val_samples),
         "device": str(device), "optimizer": config.resolved_optimizer()},
        f"start step {start}/{config.steps}: {len(dataset)} training items, {len(val_samples)} validation images, "
        f"{world} process(es) on {device}, optimiser {config.resolved_optimizer()}, lr {config.lr}")

    progress = None
    if rank == 0 and sys.stderr.isatty():
        from tqdm import tqdm

        progress = tqdm(total=config.steps, initial=start, desc=config.arch, dynamic_ncols=True)
    started = time.perf_counter()
    last: dict[str, Any] = {"step": start}
    step = start
    stop = False
    window: list[float] = []
    step_start = time.perf_counter()
    stream = batches(dataset, config.batch, config.seed, rank, world, start) if start < config.steps else iter(())
    for step, epoch, batch in stream:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        comp = batch["composite"].to(device, non_blocking=True)
        target = batch["target"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            pred = model_ddp(comp, mask)
        pred = pred.float()
        if config.anchor:  # the output is defined up to a global colour map: fit it on the background
            pred = anchor_to_background(pred, comp, mask)
        if config.transfer == "global":  # train through the pipeline's way back: one colour map of the object
            pred = transfer_global_affine(comp, pred, mask)
        if config.loss_region == "blend":  # only the object counts, as in the pipeline (pred * m + comp * (1 - m))
            pred = pred * mask + comp * (1 - mask)
        loss, parts = loss_fn(pred, target, mask)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        done = step + 1
        now = time.perf_counter()
        window.append(now - step_start)
        step_start = now
        with torch.no_grad():
            fg_psnr = float(batch_psnr(pred.float() * mask + comp * (1 - mask), target).mean())
        last = {"step": done, "epoch": epoch, "loss": float(loss.detach()), **parts, "train_psnr_blend": fg_psnr,
                "lr": optimizer.param_groups[0]["lr"]}
        if progress is not None:
            progress.update(1)
            progress.set_postfix(loss=f"{float(loss.detach()):.4f}", psnr=f"{fg_psnr:.2f}")
        if done % config.log_every == 0 or done == config.steps:
            seconds = sum(window) / len(window)
            window.clear()
            log({"event": "train", **last, "sec_per_step": seconds},
                f"step {done} epoch {epoch} loss {float(loss.detach()):.4f} "
                + " ".join(f"{k} {v:.4f}" for k, v in parts.items())
                + f" psnr(blend) {fg_psnr:.2f} lr {last['lr']:.2e} {seconds:.2f}s/step")
        elapsed_min = (time.perf_counter() - started) / 60
        if config.max_minutes and elapsed_min >= config.max_minutes:
            stop = True
        if config.stop_after and done - start >= config.stop_after:
            stop = True
        if world > 1:
            flag = torch.tensor([1.0 if stop else 0.0], device=device)
            dist.all_reduce(flag)
            stop = bool(flag.item() > 0)
        final = done >= config.steps or stop
        if rank == 0 and (done % config.save_every == 0 or final):
            save_checkpoint(out, model, optimizer, done, config, extra={"epoch": epoch})
        if rank == 0 and val_samples and config.val_every and (done % config.val_every == 0 or final):
            metrics = validate(model, config.arch, val_samples, resolution, device, config.anchor, config.transfer)
            last["val"] = metrics
            log({"event": "val", "step": done, **metrics},
                f"val step {done}: fPSNR {metrics['fpsnr']:.2f} (composite {metrics['composite_fpsnr']:.2f}) "
                f"PSNR {metrics['psnr']:.2f} fMSE {metrics['fmse']:.1f} MSE {metrics['mse']:.1f} "
                f"on {int(metrics['images'])} images at {resolution} px")
        if world > 1:
            dist.barrier()
        if final:
            break
    if progress is not None:
        progress.close()
    if rank == 0 and config.bn_recalibrate:
        count = recalibrate_batchnorm(model, dataset, config.bn_recalibrate, config.batch, device=device)
        if count:
            final_step = int(last.get("step", step))
            save_checkpoint(out, model, optimizer, final_step, config, extra={"bn_recalibrated": config.bn_recalibrate})
            message = f"recalibrated {count} BatchNorm layers over {config.bn_recalibrate} batches"
            if val_samples:
                metrics = validate(model, config.arch, val_samples, resolution, device, config.anchor, config.transfer)
                last["val"] = metrics
                message += f"; val fPSNR {metrics['fpsnr']:.2f} (composite {metrics['composite_fpsnr']:.2f})"
                log({"event": "val", "step": final_step, "bn_recalibrated": True, **metrics}, message)
            else:
                log({"event": "bn", "step": final_step}, message)
    if rank == 0 and export:
        export_fp16(out / "last.safetensors", export, {"resolution": str(resolution)})
    summary = {"step": last.get("step", step), "minutes": (time.perf_counter() - started) / 60, "last": last}
    log({"event": "end", **summary}, f"done: step {summary['step']}, {summary['minutes']:.1f} min")
    if world > 1 and dist.is_initialized():
        dist.destroy_process_group()
    return summary


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``python -m harmonization.train``."""
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m harmonization.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=ARCHES, required=True)
    p.add_argument("--model-config", default="", help="phnet: iharmony|ffhqh|tiny; fmm: released|tiny")
    data = p.add_argument_group("data (one of)")
    data.add_argument("--photos", help="folder of photos (synthetic pairs)")
    data.add_argument("--masks", help="folder of object masks <stem>.png")
    data.add_argument("--iharmony4", help="iHarmony4 root (train on *_train.txt, validate on *_test.txt)")
    data.add_argument("--ffhqh", help="FFHQH root (comp/, alpha/, ground truth)")
    p.add_argument("--heldout", help="held-out list to exclude from training (file or 'heldout'); default: a "
                   "fresh 20%% split (--split-seed)")
    p.add_argument("--exclude", help="a further list of photos kept out of training and not validated on (file or "
                   "'calibration'), e.g. to calibrate a checkpoint's strength on photos its network never saw")
    p.add_argument("--split-seed", type=int, default=d.split_seed)
    p.add_argument("--split-out", help="write the held-out photo names here")
    p.add_argument("--size", type=int, default=d.size, help="training crop side (multiple of 8)")
    p.add_argument("--batch", type=int, default=d.batch, help="batch per process")
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--min-lr-ratio", type=float, default=d.min_lr_ratio)
    p.add_argument("--warmup", type=int, default=d.warmup)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="", help="default: lion (phnet), adam (fmm)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--transfer-p", type=float, default=d.transfer_p, help="share of colour-transfer composites")
    p.add_argument("--crop-min", type=float, default=d.crop_min, help="smallest crop area fraction")
    p.add_argument("--no-zero-init-head", dest="zero_init_head", action="store_false",
                   help="FMM: keep the default init of the output convolution")
    p.add_argument("--loss-region", choices=("full", "blend"), default=d.loss_region,
                   help="loss on the whole predicted image (papers) or on pred*mask + composite*(1-mask)")
    p.add_argument("--anchor", action="store_true",
                   help="fit the output's background onto the composite's with one affine colour map before the "
                        "loss (for PHNet, whose instance-normalised input loses the global colour level); the "
                        "checkpoint records it and the pipeline does the same at inference")
    p.add_argument("--transfer", choices=("affine", "global"), default=d.transfer,
                   help="'global': train through the pipeline's one-colour-map way back (composite -> prediction "
                        "over the object), recorded in the checkpoint so the pipeline uses it")
    p.add_argument("--scene-color", type=float, default=d.scene_color,
                   help="random exposure/colour-cast change of the whole training photo before compositing "
                        "(e.g. 0.3), against memorising a small photo set's colours")
    p.add_argument("--init", default=None, help="start from these weights (safetensors/.pth), fresh optimiser")
    p.add_argument("--val-every", type=int, default=d.val_every)
    p.add_argument("--val-limit", type=int, default=d.val_limit)
    p.add_argument("--val-resolution", type=int, default=d.val_resolution, help="default: --size")
    p.add_argument("--log-every", type=int, default=d.log_every)
    p.add_argument("--save-every", type=int, default=d.save_every)
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (0 = default)")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes, help="stop and save after this long")
    p.add_argument("--stop-after", type=int, default=d.stop_after,
                   help="stop and save after this many steps of this invocation (resume later)")
    p.add_argument("--bn-recalibrate", type=int, default=d.bn_recalibrate, metavar="BATCHES",
                   help="at the end, re-estimate BatchNorm statistics as a plain average over this many batches")
    p.add_argument("--amp", choices=("auto", "off"), default=d.amp, help="mixed precision on CUDA")
    p.add_argument("--out", default=d.out, help="run folder")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.safetensors")
    p.add_argument("--export", help="write an fp16 safetensors copy here at the end")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    fields = set(TrainConfig.__dataclass_fields__)
    config = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
    train(config, resume=args.resume, split_out=args.split_out, export=args.export)
    return 0


if __name__ == "__main__":
    sys.exit(main())
