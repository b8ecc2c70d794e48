"""Training losses of the harmonization networks.

PHNet (``PHNET.md``, "Training facts"): ``0.2 * 100 / PSNR(pred, real) + 0.01 * fg-normalised MSE + 0.01 * L1
between masked image gradients``. FMM: plain MSE. Images are ``(B, 3, H, W)`` in [0, 1] (data range 1), masks
``(B, 1, H, W)`` in {0, 1}; every loss returns a scalar tensor (mean over the batch).
"""

from __future__ import annotations

import torch

from ..metrics import psnr_from_mse
from ..ops.checks import check_shapes

__all__ = ["psnr_loss", "fg_normalized_mse", "masked_gradient_l1", "phnet_loss", "mse_loss", "fg_mse_loss",
           "batch_psnr", "LOSSES"]


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> None:
    if mask is None:
        check_shapes(pred=(pred, "B C H W"), target=(target, "B C H W"))
    else:
        check_shapes(pred=(pred, "B C H W"), target=(target, "B C H W"), mask=(mask, "B 1 H W"))


def batch_psnr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """PSNR per image with data range 1 (:func:`harmonization.metrics.psnr_from_mse`). Returns ``(B,)`` float32."""
    _check(pred, target)
    err = (pred.float() - target.float()).square().mean(dim=(1, 2, 3))
    return psnr_from_mse(err, 1.0, eps).float()


def psnr_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``mean_b(100 / PSNR_b)`` (PSNR with data range 1, clamped to >= 1 dB to stay finite)."""
    return (100.0 / batch_psnr(pred, target, eps).clamp_min(1.0)).mean()


def fg_normalized_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                      min_area: float = 100.0) -> torch.Tensor:
    """``mean_b(sum over all pixels and channels of (pred - target)^2 / (C * max(sum(mask_b), min_area)))``."""
    _check(pred, target, mask)
    err = (pred.float() - target.float()).square().sum(dim=(1, 2, 3))
    area = mask.float().sum(dim=(1, 2, 3)).clamp_min(min_area)
    return (err / (pred.shape[1] * area)).mean()


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def masked_gradient_l1(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L1 between the forward-difference gradients of ``pred * mask`` and ``target * mask``.

    ``mean(|dx(pred m) - dx(target m)|) + mean(|dy(pred m) - dy(target m)|)`` over batch, channels and pixels.
    """
    _check(pred, target, mask)
    m = mask.float()
    px, py = _gradients(pred.float() * m)
    tx, ty = _gradients(target.float() * m)
    return (px - tx).abs().mean() + (py - ty).abs().mean()


def phnet_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, psnr_weight: float = 0.2,
               fg_weight: float = 0.01, grad_weight: float = 0.01, min_area: float = 100.0
               ) -> tuple[torch.Tensor, dict[str, float]]:
    """PHNet's training loss and its parts.

    Returns:
        ``(loss, {"psnr_term", "fg_mse", "grad_l1"})`` with the unweighted parts as floats.
    """
    p = psnr_loss(pred, target)
    f = fg_normalized_mse(pred, target, mask, min_area)
    g = masked_gradient_l1(pred, target, mask)
    loss = psnr_weight * p + fg_weight * f + grad_weight * g
    return loss, {"psnr_term": float(p.detach()), "fg_mse": float(f.detach()), "grad_l1": float(g.detach())}


def mse_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, dict[str, float]]:
    """FMM's loss: mean squared error over all pixels and channels. Returns ``(loss, {"mse"})``."""
    _check(pred, target)
    loss = (pred.float() - target.float()).square().mean()
    return loss, {"mse": float(loss.detach())}


def fg_mse_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, *, min_area: float = 100.0
                ) -> tuple[torch.Tensor, dict[str, float]]:
    """Foreground-normalised MSE (:func:`fg_normalized_mse`, minimum area 100 pixels) alone: every image's object
    counts alike whatever its size, as in the evaluation's per-image fMSE / fPSNR (with ``loss_region="blend"`` it
    is the object's MSE). Returns ``(loss, {"fg_mse"})``."""
    loss = fg_normalized_mse(pred, target, mask, min_area)
    return loss, {"fg_mse": float(loss.detach())}


#: ``--loss`` names: the training loss functions ``(pred, target, mask) -> (loss, parts)``.
LOSSES = {"phnet": phnet_loss, "mse": mse_loss, "fg-mse": fg_mse_loss}
