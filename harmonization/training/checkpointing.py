"""Run checkpoints: ``last.safetensors`` (float32 weights and metadata), ``last_state.pt`` (optimiser state, step),
and fp16 shipping copies. Files are written atomically through :mod:`harmonization.hub.files`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..hub import ANCHORED_OUTPUT
from ..hub.files import load_state_dict, read_metadata, replaced_atomically, save_safetensors
from ..models import load_strict
from .config import TrainConfig

__all__ = ["export_fp16", "load_checkpoint", "save_checkpoint"]


def _metadata(arch: str, model_config: str, step: int, resolution: int,
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
    out = Path(out)
    meta = _metadata(config.arch, config.model_config, step, config.size, config.anchor, config.transfer)
    weights = save_safetensors(model.state_dict(), out / "last.safetensors", meta)
    payload: dict[str, Any] = {"step": int(step), "extra": extra or {}}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    with replaced_atomically(out / "last_state.pt") as temporary:
        torch.save(payload, temporary)
    return weights


def load_checkpoint(
    out: str | os.PathLike[str], model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> int:
    """Load ``last.safetensors`` (strictly) and, if given, the optimiser state. Returns the saved step."""
    out = Path(out)
    weights = out / "last.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"No checkpoint to resume from: {weights} does not exist.")
    load_strict(model, load_state_dict(weights), what=str(weights))
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
    """Write a shipping copy: floating tensors as float16 (except normalisation statistics beyond float16's range,
    kept float32), integer buffers unchanged, optional metadata.

    Args:
        model_or_weights: a module or a float32 ``.safetensors`` file (e.g. a run's ``last.safetensors``).
        path: the output ``.safetensors`` file.
        metadata: string metadata (arch, config, resolution, ...); merged over the source file's.
    """
    if isinstance(model_or_weights, nn.Module):
        meta: dict[str, str] = {}
        tensors = dict(model_or_weights.state_dict())
    else:
        meta, tensors = read_metadata(model_or_weights), load_state_dict(model_or_weights)
    meta.update(metadata or {})
    half = {k: (v.half() if v.is_floating_point() and not _keep_fp32(k, v) else v) for k, v in tensors.items()}
    return save_safetensors(half, path, meta)


def _keep_fp32(key: str, value: torch.Tensor) -> bool:
    """Normalisation statistics outside float16's range stay float32 (an fp16 +inf variance silences a layer)."""
    return key.endswith(("running_var", "running_mean")) and bool(value.abs().max() > 6e4)
