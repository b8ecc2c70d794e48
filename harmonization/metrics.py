"""Harmonization metrics in the two conventions papers use (see the README's "Metrics" section).

Low-level functions work on tensors in the 0..255 scale, ``(B, 3, H, W)`` images and ``(B, 1, H, W)`` masks, and
return one value per image ``(B,)``:

- ``mse = mean((pred - target)^2)`` over pixels and channels;
- ``fmse = sum(mask * (pred - target)^2) / (3 * sum(mask) + eps)``;
- ``psnr = 10 log10(peak^2 / (mse + eps))``, ``fpsnr`` likewise with ``fmse``.

:func:`evaluate` prepares a prediction/target/mask triple exactly as a convention prescribes and returns the four
numbers for one image:

- ``"idih"`` (iDIH/iS2AM, CDTNet, DucoNet, PCT-Net, PHNet tables): joint bilinear resize to 256x256, soft float mask,
  prediction clamped to [0, 255] (not rounded), ``eps = 1e-6``, peak = max of the target image.
- ``"dovenet"`` (the original iHarmony4 script): PIL bicubic resize of the 8-bit images to 256x256, mask binarised
  and resized with nearest, fMSE over the binary foreground area, PSNR with ``data_range = pred.max() - pred.min()``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from .image_io import load_mask, load_rgb8, resize_mask8, resize_rgb8
from .ops.checks import check_shapes

__all__ = ["mse", "fmse", "psnr_from_mse", "psnr", "fpsnr", "evaluate", "CONVENTIONS", "Convention"]

Convention = Literal["idih", "dovenet"]
CONVENTIONS: tuple[str, ...] = ("idih", "dovenet")
EVAL_SIZE = 256


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    shapes = {"pred": (pred, "B C H W"), "target": (target, "B C H W")}
    if mask is not None:
        shapes["mask"] = (mask, "* 1 H W")
    check_shapes(floating=False, **shapes)


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image over all pixels and channels. Returns ``(B,)``."""
    _check(pred, target)
    return ((pred.double() - target.double()) ** 2).mean(dim=(1, 2, 3))


def fmse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Foreground MSE per image: ``sum(mask * err^2) / (C * sum(mask) + eps)``. Returns ``(B,)``."""
    _check(pred, target, mask)
    err = (pred.double() - target.double()) ** 2 * mask.double()
    return err.sum(dim=(1, 2, 3)) / (pred.shape[1] * mask.double().sum(dim=(1, 2, 3)) + eps)


def psnr_from_mse(error: torch.Tensor, peak: torch.Tensor | float, eps: float = 1e-6) -> torch.Tensor:
    """``10 * log10(peak^2 / (error + eps))``."""
    peak_t = torch.as_tensor(peak, dtype=torch.float64)
    return 10.0 * torch.log10(peak_t**2 / (error + eps))


def psnr(pred: torch.Tensor, target: torch.Tensor, peak: float | None = None, eps: float = 1e-6) -> torch.Tensor:
    """PSNR per image; ``peak`` defaults to the maximum of each target image (the "idih" convention)."""
    peak_t = target.double().amax(dim=(1, 2, 3)) if peak is None else peak
    return psnr_from_mse(mse(pred, target), peak_t, eps)


def fpsnr(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, peak: float | None = None, eps: float = 1e-6
) -> torch.Tensor:
    """Foreground PSNR per image (PSNR computed from :func:`fmse`)."""
    peak_t = target.double().amax(dim=(1, 2, 3)) if peak is None else peak
    return psnr_from_mse(fmse(pred, target, mask, eps), peak_t, eps)


def _to_float255(image: Any) -> torch.Tensor:
    """Any image input (PIL, array, tensor in [0,1] of shape (1,3,H,W)) -> (1,3,H,W) float64 in 0..255."""
    if isinstance(image, torch.Tensor):
        if image.ndim == 3:
            image = image[None]
        return image.detach().double().cpu() * 255.0
    return torch.from_numpy(np.array(load_rgb8(image))).permute(2, 0, 1)[None].double()


def _to_mask(mask: Any) -> torch.Tensor:
    if isinstance(mask, torch.Tensor) and mask.ndim == 4:
        return mask.detach().double().cpu()
    return load_mask(mask).double()


def evaluate(pred: Any, target: Any, mask: Any, convention: Convention = "idih") -> dict[str, float]:
    """MSE, fMSE, PSNR and fPSNR of one prediction in one of the two conventions.

    Args:
        pred: the harmonized image (PIL, ``HxWx3`` uint8 array, or ``(1, 3, H, W)`` tensor in [0, 1]).
        target: the real image, same size.
        mask: the foreground mask (PIL, ``HxW`` array or ``(1, 1, H, W)`` tensor in [0, 1]).
        convention: ``"idih"`` or ``"dovenet"`` (see the module docstring).

    Returns:
        ``{"mse", "fmse", "psnr", "fpsnr"}`` as Python floats.
    """
    if convention == "idih":
        p, t, m = _to_float255(pred), _to_float255(target), _to_mask(mask)
        _check(p, t, m)
        size = (EVAL_SIZE, EVAL_SIZE)
        p = F.interpolate(p, size=size, mode="bilinear", align_corners=False).clamp(0.0, 255.0)
        t = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
        m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
        err, ferr = mse(p, t), fmse(p, t, m)
        peak = t.amax(dim=(1, 2, 3))
        return {"mse": float(err), "fmse": float(ferr), "psnr": float(psnr_from_mse(err, peak)),
                "fpsnr": float(psnr_from_mse(ferr, peak))}
    if convention == "dovenet":
        size = (EVAL_SIZE, EVAL_SIZE)
        p8 = resize_rgb8(_rgb8(pred), size, "bicubic")
        t8 = resize_rgb8(_rgb8(target), size, "bicubic")
        m8 = resize_mask8(((_to_mask(mask)[0, 0].numpy() >= 0.5) * 255).astype(np.uint8), size)
        p = torch.from_numpy(np.array(p8)).permute(2, 0, 1)[None].double()
        t = torch.from_numpy(np.array(t8)).permute(2, 0, 1)[None].double()
        m = torch.from_numpy(np.array(m8 > 127))[None, None].double()
        err = mse(p, t)
        area = float(m.sum())
        ferr = ((p - t) ** 2 * m).sum() / (3 * area) if area > 0 else torch.tensor(float("nan"), dtype=torch.float64)
        data_range = p.max() - p.min()
        return {"mse": float(err), "fmse": float(ferr), "psnr": float(psnr_from_mse(err, data_range, eps=0.0)),
                "fpsnr": float(psnr_from_mse(ferr, data_range, eps=0.0))}
    raise ValueError(f"Unknown metrics convention {convention!r}; use one of {CONVENTIONS}.")


def _rgb8(image: Any) -> np.ndarray:
    if isinstance(image, torch.Tensor):
        t = image[0] if image.ndim == 4 else image
        return t.detach().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return load_rgb8(image)
