"""The photo-harmonization pipeline shared by the neural networks (PHNet, FMM).

What differs between networks lives in the models and in their checkpoints (loaded, with how to run them, by
:func:`harmonization.hub.load_network`); everything else is here: resolution (the long side goes to the checkpoint's
training resolution, the aspect ratio is kept and the short side is padded by reflection to a multiple of 8, never
squashed), the binarised mask for the network, and the way back to full resolution.

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

import math
import os

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MethodUnavailableError
from ..hub import TRANSFERS, LoadedNetwork, default_checkpoint, load_network
from ..hub.loading import Transfer
from ..ops.colortransfer import (
    anchor_to_background,
    apply_local_affine,
    fit_local_affine,
    transfer_global_affine,
)
from ..ops.mask import binarize, check_image, check_mask, dilate
from .registry import check_strength

__all__ = ["run_network", "run_loaded", "network_unavailable_reason", "network_source_info", "predict_low_resolution",
           "MAX_RESOLUTION"]

SIZE_MULTIPLE = 8
COARSE_GRID = 128  # long side of the grid on which the colour model is fitted
MAX_RESOLUTION = 2048
"""The largest long side a network may be asked to run at (memory grows with its square)."""


def network_unavailable_reason(arch: str) -> str | None:
    """``None`` if a checkpoint of ``arch`` is found locally, else why not (for the method registry)."""
    try:
        default_checkpoint(arch)
    except MethodUnavailableError as exc:
        return str(exc)
    return None


def network_source_info(arch: str) -> str:
    """Which checkpoint the default ``arch`` method uses, and how it runs (for notes under results)."""
    try:
        return load_network(None, "cpu", arch=arch, allow_network=False).description
    except (MethodUnavailableError, ValueError) as exc:
        return str(exc)


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
) -> torch.Tensor:
    """Harmonize with a network and return a full-resolution prediction of the whole image.

    Args:
        composite: ``(1, 3, H, W)`` float RGB in [0, 1] at full resolution.
        mask: ``(1, 1, H, W)`` binary (the caller binarises and later blends with the soft mask).
        arch: ``"phnet"`` or ``"fmm"``.
        checkpoint: registry name, file path, or ``None`` for the default (see
            :func:`harmonization.hub.load_network`).
        transfer: ``"affine"`` (local colour model, keeps detail), ``"global"`` (one colour map of the object) or
            ``"upsample"`` (bilinear prediction); ``None`` = the checkpoint's default.
        strength: 0 = the composite, 1 = the network's full prediction, up to 2 = exaggerated; ``None`` = the
            checkpoint's default (metadata ``strength``, else 1).
        device: where the network runs (default CUDA if available).
        resolution: the long side the network runs at, 8..2048 (default: the checkpoint's training resolution).

    Returns:
        ``(1, 3, H, W)`` float in [0, 1] on the composite's device.
    """
    _check_options(transfer, strength, resolution)
    loaded = load_network(checkpoint, device, arch=arch)
    return run_loaded(composite, mask, loaded, transfer=transfer, strength=strength, resolution=resolution)


def _check_options(transfer: str | None, strength: float | None, resolution: int | None) -> None:
    if transfer is not None and transfer not in TRANSFERS:
        raise ValueError(f"transfer must be one of {', '.join(map(repr, TRANSFERS))}; got {transfer!r}.")
    if strength is not None:
        check_strength(strength)
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int)
                                   or not SIZE_MULTIPLE <= resolution <= MAX_RESOLUTION):
        raise ValueError(f"resolution must be a whole number of pixels in [{SIZE_MULTIPLE}, {MAX_RESOLUTION}] (the "
                         f"long side the network runs at); got {resolution!r}.")


@torch.inference_mode()
def run_loaded(
    composite: torch.Tensor,
    mask: torch.Tensor,
    network: LoadedNetwork,
    *,
    transfer: Transfer | None = None,
    strength: float | None = None,
    resolution: int | None = None,
) -> torch.Tensor:
    """:func:`run_network` with an already loaded network (training's validation, benchmarks, tests).

    Args:
        composite, mask: as in :func:`run_network`.
        network: the network and its defaults (see :class:`harmonization.hub.LoadedNetwork`).
        transfer, strength, resolution: as in :func:`run_network`; ``None`` = the network's defaults.
    """
    check_image(composite, "composite")
    check_mask(mask, composite)
    _check_options(transfer, strength, resolution)
    transfer = transfer or network.transfer
    strength = network.strength if strength is None else float(strength)
    low, mask_low, prediction = predict_low_resolution(network.model, composite, mask,
                                                       resolution or network.resolution)
    if network.anchored:
        prediction = anchor_to_background(prediction, low, mask_low).clamp(0.0, 1.0)
    full = _to_full_resolution(composite, low, mask_low, prediction, transfer)
    if strength == 1.0:
        return full
    # In place (the same values): a 40-megapixel image needs no two more full-size copies.
    return torch.lerp(composite.float(), full, strength, out=full).clamp_(0.0, 1.0)


def _to_full_resolution(composite: torch.Tensor, low: torch.Tensor, mask_low: torch.Tensor,
                        prediction: torch.Tensor, transfer: Transfer) -> torch.Tensor:
    height, width = composite.shape[-2:]
    if transfer == "global":
        return transfer_global_affine(low, prediction, mask_low, composite).clamp_(0.0, 1.0)
    if transfer == "upsample" or (height, width) == tuple(low.shape[-2:]):
        if (height, width) == tuple(low.shape[-2:]):
            return prediction
        return F.interpolate(prediction, size=(height, width), mode="bilinear", align_corners=False).clamp(0, 1)
    stride = max(1, math.ceil(max(low.shape[-2:]) / COARSE_GRID))
    weight = dilate(mask_low, max(1, stride // 2))
    coefficients = fit_local_affine(low, prediction, weight, radius=2, stride=stride)
    return apply_local_affine(composite, coefficients)
