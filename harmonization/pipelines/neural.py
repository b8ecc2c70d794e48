"""The photo-harmonization pipeline shared by the neural networks (PHNet, FMM).

What differs between networks lives in the models and in one :class:`NetworkKind` entry each; everything else is
here: checkpoint choice, resolution (the long side goes to the checkpoint's training resolution, the aspect ratio is
kept and the short side is padded by reflection to a multiple of 8, never squashed), the binarised mask for the
network, and the way back to full resolution.

Back to full resolution, three ways (``transfer=``; default: what the checkpoint's metadata says, else ``"affine"``):

- ``"affine"`` (default): a smooth local affine colour model ``y = A(p) x + b(p)`` is fitted between the
  low-resolution composite and the network's prediction over the object, and applied to the full-resolution
  composite (:mod:`harmonization.ops.colortransfer`); the object keeps its full-resolution detail.
- ``"global"``: one affine colour map of the object (composite -> prediction, fitted over the object) applied to the
  full-resolution composite; for checkpoints trained through that map (metadata ``transfer: global``).
- ``"upsample"``: the prediction itself is upsampled bilinearly (what the original code did, minus the squashing);
  kept for comparison.

Strength (``strength=``; default: the checkpoint's metadata ``strength``, else 1): the returned image is
``composite + strength * (prediction - composite)``; with the ``"global"`` way back this is still one affine colour map
of the object (``strength * A + (1 - strength) * I``). Published checkpoints run at 1. A checkpoint of ours may carry a
calibrated default below 1: how far to trust a network trained on little data, measured on photos it never saw.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import (
    CheckpointNotFoundError,
    ResolvedCheckpoint,
    get_checkpoint_spec,
    list_checkpoints,
    read_metadata,
    resolve_checkpoint,
)
from ..checkpoints import load_state_dict as _load_file
from ..models import build_from_state_dict
from ..ops.colortransfer import (
    anchor_to_background,
    apply_local_affine,
    fit_local_affine,
    transfer_global_affine,
)
from ..ops.mask import binarize, check_image, check_mask, dilate
from .registry import MethodUnavailableError, check_strength

__all__ = ["NetworkKind", "NETWORKS", "LoadedNetwork", "load_network", "run_network", "default_checkpoint",
           "network_unavailable_reason", "network_source_info", "predict_low_resolution", "resolve_device"]

Transfer = Literal["affine", "global", "upsample"]
TRANSFERS = ("affine", "global", "upsample")
ANCHORED_OUTPUT = "background-anchored"
"""Checkpoint metadata ``output`` value: the network's output is defined up to a global colour transform, fixed by
matching its background to the composite's (:func:`harmonization.ops.colortransfer.anchor_to_background`)."""
SIZE_MULTIPLE = 8
COARSE_GRID = 128  # long side of the grid on which the colour model is fitted


@dataclass(frozen=True)
class NetworkKind:
    """What the pipeline needs to know about one network family.

    Attributes:
        arch: architecture name in :data:`harmonization.models.ARCHITECTURES` and the checkpoint registry.
        label: human-readable name.
        default_resolution: training resolution assumed for a checkpoint file given by path.
    """

    arch: str
    label: str
    default_resolution: int


NETWORKS: dict[str, NetworkKind] = {
    "phnet": NetworkKind("phnet", "PHNet", 512),
    "fmm": NetworkKind("fmm", "FMM", 256),
}


@dataclass(frozen=True)
class LoadedNetwork:
    """An eval-mode network with the resolution it runs at and where its weights came from.

    ``anchored``: the checkpoint was trained with background anchoring (metadata ``output: background-anchored``),
    so the pipeline anchors its output the same way; published checkpoints are used as they are. ``transfer``: the
    default way back to full resolution (metadata ``transfer``, else ``"affine"``). ``strength``: the default strength
    (metadata ``strength``, else 1.0; see the module docstring).
    """

    model: nn.Module
    resolution: int
    description: str
    anchored: bool = False
    transfer: Transfer = "affine"
    strength: float = 1.0


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`; ``None`` = CUDA when available, else CPU (the networks' default)."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _checkpoint_names(arch: str) -> list[str]:
    """Registered checkpoints of ``arch`` in preference order: published ones first, then ours (shipped)."""
    names = list_checkpoints(arch)
    return sorted(names, key=lambda n: any(getattr(s, "shipped", False) for s in get_checkpoint_spec(n).sources))


def default_checkpoint(arch: str) -> ResolvedCheckpoint:
    """The first registered checkpoint of ``arch`` found locally (files, caches, packages; no network).

    Raises:
        MethodUnavailableError: naming every checkpoint tried and how to supply one.
    """
    tried = []
    for name in _checkpoint_names(arch):
        try:
            return resolve_checkpoint(name, allow_network=False)
        except CheckpointNotFoundError:
            tried.append(name)
    raise MethodUnavailableError(
        f"no {NETWORKS[arch].label} checkpoint was found on this machine (tried {', '.join(tried) or 'none'}). "
        f"Download one with `python -m harmonization download {tried[0] if tried else '<name>'}` or put the file "
        "into checkpoints/ (see checkpoints/README.md)."
    )


@functools.lru_cache(maxsize=8)
def _load_cached(arch: str, path: str, resolution: int, description: str, device: str) -> LoadedNetwork:
    state_dict = _load_file(path)
    model = build_from_state_dict(arch, state_dict, what=Path(path).name)
    metadata = read_metadata(path)
    anchored = metadata.get("output") == ANCHORED_OUTPUT
    transfer = metadata.get("transfer", "affine")
    if transfer not in TRANSFERS:
        raise ValueError(f"{Path(path).name}: unknown transfer {transfer!r} in its metadata; expected one of "
                         f"{', '.join(TRANSFERS)}.")
    strength = _metadata_strength(metadata.get("strength", "1"), Path(path).name)
    return LoadedNetwork(model.to(device), resolution, description, anchored, transfer, strength)


def _metadata_strength(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise ValueError(f"{what}: metadata strength {text!r} is not a number; expected one in [0, 2]. Fix the "
                         "file's metadata or re-export it.") from exc
    return check_strength(value, f"{what}: metadata strength")


def load_network(arch: str, checkpoint: str | os.PathLike[str] | None = None,
                 device: str | torch.device | None = None) -> LoadedNetwork:
    """Load (once per process) the network of ``arch`` from a checkpoint.

    Args:
        arch: ``"phnet"`` or ``"fmm"``.
        checkpoint: a registry name (resolved with network access if needed), a file path, or ``None`` for the
            first registered checkpoint found locally.
        device: where to run; default CUDA when available, else CPU.
    """
    kind = NETWORKS[arch]
    device = resolve_device(device)
    if checkpoint is None:
        resolved = default_checkpoint(arch)
    elif isinstance(checkpoint, (str, os.PathLike)) and Path(checkpoint).is_file():
        path = Path(checkpoint).resolve()
        return _load_cached(arch, str(path), kind.default_resolution, f"file {path.name}", str(device))
    else:
        spec = get_checkpoint_spec(str(checkpoint))
        if spec.arch != arch:
            raise ValueError(f"Checkpoint {spec.name!r} is a {spec.arch} checkpoint, not {arch}.")
        resolved = resolve_checkpoint(spec.name)
    spec = resolved.spec
    resolution = spec.resolution or kind.default_resolution
    description = f"checkpoint `{spec.name}` ({resolved.origin}: {resolved.path.name}, runs at {resolution} px)"
    return _load_cached(arch, str(resolved.path), resolution, description, str(device))


def network_unavailable_reason(arch: str) -> str | None:
    """``None`` if a checkpoint of ``arch`` is found locally, else why not (for the method registry)."""
    try:
        default_checkpoint(arch)
    except MethodUnavailableError as exc:
        return str(exc)
    return None


def network_source_info(arch: str) -> str:
    """Which checkpoint the default ``arch`` method uses (for notes under results)."""
    try:
        resolved = default_checkpoint(arch)
    except MethodUnavailableError as exc:
        return str(exc)
    spec = resolved.spec
    try:
        strength = _metadata_strength(read_metadata(resolved.path).get("strength", "1"), resolved.path.name)
    except ValueError as exc:
        return str(exc)
    calibrated = f", strength {strength:g}" if strength != 1.0 else ""
    return (f"checkpoint `{spec.name}` ({resolved.path.name}, {spec.resolution or NETWORKS[arch].default_resolution} "
            f"px{calibrated})")


def _working_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    scale = resolution / max(height, width)
    return max(SIZE_MULTIPLE, round(height * scale)), max(SIZE_MULTIPLE, round(width * scale))


def predict_low_resolution(
    model: nn.Module, composite: torch.Tensor, mask: torch.Tensor, resolution: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run ``model`` with the long side at ``resolution`` (aspect kept, reflection-padded to a multiple of 8).

    Args:
        model: ``model(composite, mask) -> prediction`` of the whole image, (B, 3, h, w) in [0, 1].
        composite: ``(1, 3, H, W)`` float in [0, 1].
        mask: ``(1, 1, H, W)`` binary.
        resolution: the long side the network runs at.

    Returns:
        ``(composite_low, mask_low, prediction_low)`` at the working size (padding removed).
    """
    height, width = composite.shape[-2:]
    size = _working_size(height, width, resolution)
    antialias = size[0] < height
    low = F.interpolate(composite, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    low = low.clamp(0.0, 1.0)
    mask_low = binarize(F.interpolate(mask, size=size, mode="area" if antialias else "nearest"))
    pad_h = (-size[0]) % SIZE_MULTIPLE
    pad_w = (-size[1]) % SIZE_MULTIPLE
    parameter = next(model.parameters())
    x = low.to(device=parameter.device, dtype=parameter.dtype)
    m = mask_low.to(device=parameter.device, dtype=parameter.dtype)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < size[0] and pad_w < size[1] else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        m = F.pad(m, (0, pad_w, 0, pad_h), mode="constant", value=0.0)
    prediction = model(x, m)[..., : size[0], : size[1]]
    return low, mask_low, prediction.to(device=composite.device, dtype=torch.float32)


@torch.inference_mode()
def run_network(
    composite: torch.Tensor,
    mask: torch.Tensor,
    *,
    arch: str,
    checkpoint: str | os.PathLike[str] | None = None,
    transfer: Transfer | None = None,
    strength: float | None = None,
    device: str | torch.device | None = None,
    resolution: int | None = None,
    network: LoadedNetwork | None = None,
) -> torch.Tensor:
    """Harmonize with a network and return a full-resolution prediction of the whole image.

    Args:
        composite: ``(1, 3, H, W)`` float RGB in [0, 1] at full resolution.
        mask: ``(1, 1, H, W)`` binary (the caller binarises and later blends with the soft mask).
        arch: ``"phnet"`` or ``"fmm"``.
        checkpoint: registry name, file path, or ``None`` for the default (see :func:`load_network`).
        transfer: ``"affine"`` (local colour model, keeps detail), ``"global"`` (one colour map of the object) or
            ``"upsample"`` (bilinear prediction); ``None`` = the checkpoint's default.
        strength: 0 = the composite, 1 = the network's full prediction, up to 2 = exaggerated; ``None`` = the
            checkpoint's default (metadata ``strength``, else 1).
        device: where the network runs (default CUDA if available).
        resolution: the long side the network runs at (default: the checkpoint's registered training resolution).
        network: an already loaded network (overrides ``checkpoint``/``device``).

    Returns:
        ``(1, 3, H, W)`` float in [0, 1] on the composite's device.
    """
    check_image(composite, "composite")
    check_mask(mask, composite)
    if transfer is not None and transfer not in TRANSFERS:
        raise ValueError(f"transfer must be one of {', '.join(map(repr, TRANSFERS))}; got {transfer!r}.")
    if strength is not None:
        check_strength(strength)
    loaded = network if network is not None else load_network(arch, checkpoint, device)
    transfer = transfer or loaded.transfer
    strength = loaded.strength if strength is None else float(strength)
    if resolution is not None and resolution < SIZE_MULTIPLE:
        raise ValueError(f"resolution must be at least {SIZE_MULTIPLE} px; got {resolution}.")
    low, mask_low, prediction = predict_low_resolution(loaded.model, composite, mask, resolution or loaded.resolution)
    if loaded.anchored:
        prediction = anchor_to_background(prediction, low, mask_low).clamp(0.0, 1.0)
    full = _to_full_resolution(composite, low, mask_low, prediction, transfer)
    if strength == 1.0:
        return full
    return torch.lerp(composite.float(), full, strength).clamp(0.0, 1.0)


def _to_full_resolution(composite: torch.Tensor, low: torch.Tensor, mask_low: torch.Tensor,
                        prediction: torch.Tensor, transfer: Transfer) -> torch.Tensor:
    height, width = composite.shape[-2:]
    if transfer == "global":
        return transfer_global_affine(low, prediction, mask_low, composite).clamp(0.0, 1.0)
    if transfer == "upsample" or (height, width) == tuple(low.shape[-2:]):
        if (height, width) == tuple(low.shape[-2:]):
            return prediction
        return F.interpolate(prediction, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
    stride = max(1, math.ceil(max(low.shape[-2:]) / COARSE_GRID))
    weight = dilate(mask_low, max(1, stride // 2))
    coefficients = fit_local_affine(low, prediction, weight, radius=2, stride=stride)
    return apply_local_affine(composite, coefficients)
