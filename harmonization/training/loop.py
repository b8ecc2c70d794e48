"""Train PHNet or FMM: ``harmonization train`` (= ``python -m harmonization train``).

Data: synthetic pairs from a folder of photos with object masks (``--photos/--masks``; 20 % of the photos are held
out, near-duplicates kept together, and the held-out names written to ``--split-out``), or real pairs from an
iHarmony4 (``--iharmony4 ROOT``) or FFHQH (``--ffhqh ROOT``) tree.

Losses and optimisers: PHNet ``0.2 * 100/PSNR + 0.01 * fg-normalised MSE + 0.01 * masked-gradient L1`` with Lion
(``lion-pytorch``); FMM MSE with Adam by default (``--optimizer adadelta`` for the original recipe).

Outputs in ``--out``: ``last.safetensors`` (float32 weights, metadata: arch, config, step), ``last_state.pt``
(optimiser state + step; loadable with ``torch.load(weights_only=True)``), ``log.jsonl`` (one JSON object per
log line / validation), and with ``--export`` an fp16 copy for shipping. ``--resume`` continues from ``last.*``.

Multi-GPU: ``torchrun --nproc_per_node N -m harmonization train ...`` (DistributedDataParallel; every rank draws
its own shard of each epoch's permutation through ``DistributedSampler``; ``--batch`` is per rank).

Example (CPU, reduced resolution)::

    harmonization train --arch phnet --photos ../shared/data/photos --masks ../shared/data/photos_masks \\
        --split-out heldout.txt --size 128 --batch 8 --steps 600 --lr 1e-4 --out runs/phnet
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset

from ..data.folders import HarmonizationSample
from ..hub import LoadedNetwork
from ..hub.files import load_state_dict
from ..metrics import evaluate
from ..models import load_strict
from ..ops.colortransfer import anchor_to_background, transfer_global_affine
from ..ops.mask import binarize, blend
from ..pipelines.neural import run_loaded
from .builders import batches, build_datasets, build_model, build_optimizer, lr_at
from .checkpointing import export_fp16, load_checkpoint, save_checkpoint
from .config import ARCHES, TrainConfig
from .losses import LOSSES, batch_psnr

__all__ = ["autocast_dtype", "keep_fp32_under_autocast", "recalibrate_batchnorm", "reset_nonfinite_batchnorm", "train",
           "validate"]


def reset_nonfinite_batchnorm(model: nn.Module) -> list[str]:
    """Reset (mean 0, var 1, count 0) every BatchNorm whose running statistics are not finite; returns their names.

    An fp16 export used to turn running variances above 65504 into +inf (the layer then outputs only its bias);
    starting from such weights, the statistics must be estimated again (training mode uses batch statistics, and
    the running ones are re-estimated with the layer's momentum, or by :func:`recalibrate_batchnorm`).
    """
    names = []
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            stats = (module.running_mean, module.running_var)
            if any(t is not None and not bool(torch.isfinite(t).all()) for t in stats):
                module.reset_running_stats()
                names.append(name)
    return names


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, dataset: Dataset, steps: int, batch: int, seed: int = 12345,
                          device: torch.device | str = "cpu", autocast: torch.dtype | None = None) -> int:
    """Re-estimate every BatchNorm's running mean/var as a plain average over ``steps`` training batches.

    Training keeps exponential averages (momentum 0.1) dominated by the last few batches; the plain average over
    many batches is a steadier estimate for evaluation. Weights are not changed. ``autocast``: run the forward
    passes as training did (e.g. bf16; the statistics themselves are accumulated in float32).

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
        device_type = torch.device(device).type
        for _, _, data in itertools.islice(batches(dataset, batch, seed, 0, 1, 0), steps):
            with torch.autocast(device_type, dtype=autocast or torch.float32, enabled=autocast is not None):
                model(data["composite"].to(device), data["mask"].to(device))
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return len(norms)


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
    was_training = model.training
    model.eval()
    network = LoadedNetwork(model, resolution, "in training", anchored, transfer)
    totals: dict[str, float] = {"fpsnr": 0.0, "psnr": 0.0, "fmse": 0.0, "mse": 0.0, "composite_fpsnr": 0.0}
    try:
        for sample in samples:
            comp, mask = sample.composite.to(device), sample.mask.to(device)
            pred = run_loaded(comp, binarize(mask), network)
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


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of the training forward pass (``None`` = float32).

    ``"off"``: float32. ``"bf16"``: bfloat16 on any device. ``"auto"``: on CUDA bf16 where supported, else fp16
    (with a gradient scaler); on a CPU with native bf16 (AVX512-BF16 / AMX, oneDNN) bf16, else float32. Only the
    network's forward pass runs under autocast: the losses, BatchNorm running statistics, the weights and the
    optimiser state stay float32.
    """
    if amp not in ("auto", "bf16", "off"):
        raise ValueError(f"amp must be 'auto', 'bf16' or 'off'; got {amp!r}.")
    if amp == "off":
        return None
    if amp == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and _cpu_bf16():
        return torch.bfloat16
    return None


def keep_fp32_under_autocast(model: nn.Module) -> int:
    """Run FMM's foreground attention blocks in float32 when the rest of the forward pass is autocast.

    ``FMMAttention.foreground_attention`` writes autocast (bf16) attention rows into a buffer of its float32 input's
    dtype and fails under autocast; these blocks (a small share of the compute) therefore run with autocast off on
    float32 inputs, and their output re-enters the autocast network. Returns the number of blocks wrapped.
    """
    from ..models.fmm import FMMAttention

    count = 0
    for module in model.modules():
        if isinstance(module, FMMAttention) and not getattr(module, "_fp32_wrapped", False):
            inner = module.forward

            def forward(x: torch.Tensor, mask: torch.Tensor, _inner: Any = inner) -> torch.Tensor:
                with torch.autocast(x.device.type, enabled=False):
                    return _inner(x.float(), mask.float())

            module.forward = forward  # type: ignore[method-assign]
            module._fp32_wrapped = True
            count += 1
    return count


def _cpu_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - depends on the build
        return False


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
    """Run (or resume) a training run; returns a summary (final step, last losses, last validation) and the trained
    ``model`` (this process's copy).

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
    repaired: list[str] = []
    if config.init and start == 0:
        load_strict(model, load_state_dict(config.init), what=config.init)
        repaired = reset_nonfinite_batchnorm(model)
    if world > 1:
        # PHNet has registered blocks that its forward never calls (the last PN block, skip.6)
        model_ddp: nn.Module = nn.parallel.DistributedDataParallel(
            model, device_ids=[local] if use_cuda else None, find_unused_parameters=config.arch == "phnet")
    else:
        model_ddp = model
    amp_dtype = autocast_dtype(config.amp, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    if amp_dtype is not None:
        keep_fp32_under_autocast(model)
    forward = torch.compile(model_ddp) if config.compile else model_ddp

    dataset, val_samples = build_datasets(config, split_out, rank)
    resolution = config.val_resolution or config.size
    if config.resolved_loss() not in LOSSES:
        raise ValueError(f"Unknown loss {config.loss!r}; use one of {', '.join(LOSSES)}.")
    loss_fn = LOSSES[config.resolved_loss()]
    photos = getattr(dataset, "photo_count", None)
    if repaired:
        log({"event": "init", "reset_batchnorm": repaired},
            f"init {config.init}: reset the non-finite running statistics of {', '.join(repaired)} (re-estimated "
            "during training; see --bn-recalibrate)")
    log({"event": "start", "step": start, "world": world, "train_items": len(dataset), "val_items": len(val_samples),
         "train_photos": photos, "device": str(device), "optimizer": config.resolved_optimizer(),
         "loss": config.resolved_loss(),
         "amp": str(amp_dtype), "channels_last": config.channels_last, "compile": config.compile,
         "workers": config.workers},
        f"start step {start}/{config.steps}: {len(dataset)} training items"
        + (f" from {photos} photos" if photos else "") + f", {len(val_samples)} validation images, "
        f"{world} process(es) on {device}, optimiser {config.resolved_optimizer()}, lr {config.lr}, autocast "
        f"{amp_dtype or 'off'}, channels_last {config.channels_last}, compile {config.compile}, "
        f"workers {config.workers}")

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
    stream = (batches(dataset, config.batch, config.seed, rank, world, start, config.workers)
              if start < config.steps else iter(()))
    for step, epoch, batch in stream:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        comp = batch["composite"].to(device, non_blocking=True)
        target = batch["target"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            pred = forward(comp.contiguous(memory_format=memory_format), mask.contiguous(memory_format=memory_format))
        pred = pred.float().contiguous()  # the losses (and everything after the network) in float32
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
            metrics = validate(model, config.arch, val_samples, resolution, device, config.anchor,
                               config.val_transfer or config.transfer)
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
        count = recalibrate_batchnorm(model, dataset, config.bn_recalibrate, config.batch, device=device,
                                      autocast=amp_dtype)
        if count:
            final_step = int(last.get("step", step))
            save_checkpoint(out, model, optimizer, final_step, config, extra={"bn_recalibrated": config.bn_recalibrate})
            message = f"recalibrated {count} BatchNorm layers over {config.bn_recalibrate} batches"
            if val_samples:
                metrics = validate(model, config.arch, val_samples, resolution, device, config.anchor,
                               config.val_transfer or config.transfer)
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
    return {**summary, "model": model}
