"""Pure tensor functions for neural style transfer: statistics, losses and masks carried down VGG.

* statistics and losses: :func:`gram_matrix`, :func:`gram_loss`, :func:`content_loss` (MSE or normalised
  cross-correlation), :func:`tv_loss`, all optionally restricted to a (soft) spatial weight map;
* masks: :func:`carry_mask_down` (a mask followed through VGG's conv/relu/pool modules) and :func:`resize_mask`.

Patch matching lives in :mod:`harmonization.ops.matching`, histogram matching in :mod:`harmonization.ops.histogram`;
dilation, feathering and blending are :mod:`harmonization.ops.mask`'s.

Shapes: features ``(B, C, H, W)``; masks / weights ``(B, 1, H, W)`` float in [0, 1]; images RGB ``(B, 3, H, W)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["carry_mask_down", "content_loss", "gram_loss", "gram_matrix", "resize_mask", "tv_loss"]

_EPS = 1e-8


def _check_weight(features: Tensor, weight: Tensor | None) -> Tensor:
    if features.ndim != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}.")
    b, _, h, w = features.shape
    if weight is None:
        return features.new_ones(b, 1, h, w)
    if weight.ndim != 4 or weight.shape[1] != 1 or weight.shape[-2:] != (h, w) or weight.shape[0] not in (1, b):
        raise ValueError(f"weight must be (B, 1, H, W) = ({b}, 1, {h}, {w}) to match the features, "
                         f"got {tuple(weight.shape)}.")
    return weight.to(features.dtype)


def gram_matrix(features: Tensor, weight: Tensor | None = None) -> Tensor:
    """Weighted, normalised Gram matrix ``G_ij = sum_k w_k F_ik F_jk / sum_k w_k``.

    Args:
        features: ``(B, C, H, W)`` activations.
        weight: optional ``(B, 1, H, W)`` (or ``(1, 1, H, W)``) non-negative spatial weights, e.g. a mask carried
            down the network; ``None`` = uniform.

    Returns:
        ``(B, C, C)`` Gram matrices (same dtype as ``features``); zeros where the weights sum to 0.
    """
    w = _check_weight(features, weight)
    b, c = features.shape[:2]
    flat = features.reshape(b, c, -1)
    wf = w.expand(b, 1, *features.shape[-2:]).reshape(b, 1, -1)
    total = wf.sum(dim=2, keepdim=True).clamp_min(_EPS)
    return torch.bmm(flat * wf, flat.transpose(1, 2)) / total


def gram_loss(features: Tensor, target_gram: Tensor, weight: Tensor | None = None) -> Tensor:
    """Relative Gram (style) loss ``||G(F) - A||^2 / ||A||^2`` averaged over the batch.

    The normalisation by the target's energy makes the value independent of the feature scale (torchvision vs
    Caffe preprocessing give activations ~60x apart) and comparable across layers.

    Args:
        features: ``(B, C, H, W)`` activations of the image being optimised.
        target_gram: ``(B, C, C)`` or ``(C, C)`` target Gram matrix.
        weight: optional ``(B, 1, H, W)`` spatial weights (see :func:`gram_matrix`).

    Returns:
        Scalar tensor (float32).
    """
    g = gram_matrix(features.float(), weight)
    a = target_gram.float()
    if a.ndim == 2:
        a = a.unsqueeze(0)
    num = (g - a).square().sum(dim=(1, 2))
    den = a.square().sum(dim=(1, 2)).clamp_min(_EPS)
    return (num / den).mean()


def content_loss(features: Tensor, target: Tensor, weight: Tensor | None = None, kind: str = "mse") -> Tensor:
    """Content loss between activations, restricted to a spatial weight map.

    Args:
        features: ``(B, C, H, W)`` activations of the image being optimised.
        target: ``(B, C, H, W)`` activations of the content image.
        weight: optional ``(B, 1, H, W)`` weights in [0, 1].
        kind: ``"mse"``: ``sum w (F - P)^2 / sum w P^2`` (relative squared error); ``"ncc"``: ``1 - NCC`` where
            ``NCC = sum w F_hat P_hat / sum w`` with ``F_hat``, ``P_hat`` standardised (minus weighted mean, over
            weighted std) over all weighted elements. Both are 0 when ``F == P``.

    Returns:
        Scalar tensor (float32).
    """
    if features.shape != target.shape:
        raise ValueError(f"features {tuple(features.shape)} and target {tuple(target.shape)} must have equal shapes.")
    f, p = features.float(), target.float()
    w = _check_weight(f, weight).expand(f.shape[0], 1, *f.shape[-2:])
    if kind == "mse":
        num = (w * (f - p).square()).sum()
        den = (w * p.square()).sum().clamp_min(_EPS)
        return num / den
    if kind == "ncc":
        wc = w.expand_as(f)
        total = wc.sum().clamp_min(_EPS)
        fm, pm = (wc * f).sum() / total, (wc * p).sum() / total
        fc, pc = f - fm, p - pm
        fs = ((wc * fc.square()).sum() / total).clamp_min(_EPS).sqrt()
        ps = ((wc * pc.square()).sum() / total).clamp_min(_EPS).sqrt()
        return 1.0 - (wc * fc * pc).sum() / total / (fs * ps)
    raise ValueError(f"content loss kind must be 'mse' or 'ncc', got {kind!r}.")


def tv_loss(image: Tensor, weight: Tensor | None = None) -> Tensor:
    """Total variation: weighted mean of squared horizontal and vertical neighbour differences.

    Args:
        image: ``(B, C, H, W)``.
        weight: optional ``(B, 1, H, W)`` weights; a difference counts with the larger weight of its two pixels.

    Returns:
        Scalar tensor (float32), ``sum w d^2 / sum w`` over both directions.
    """
    x = image.float()
    w = _check_weight(x, weight).expand(x.shape[0], 1, *x.shape[-2:])
    dh = (x[:, :, 1:, :] - x[:, :, :-1, :]).square().sum(1, keepdim=True)
    dw = (x[:, :, :, 1:] - x[:, :, :, :-1]).square().sum(1, keepdim=True)
    wh = torch.maximum(w[:, :, 1:, :], w[:, :, :-1, :])
    ww = torch.maximum(w[:, :, :, 1:], w[:, :, :, :-1])
    return ((wh * dh).sum() + (ww * dw).sum()) / (wh.sum() + ww.sum()).clamp_min(_EPS)


# --------------------------------------------------------------------------------------------------------- masks
def resize_mask(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a ``(B, 1, H, W)`` mask to ``size = (h, w)`` with area averaging (down) or bilinear (up)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask.clone()
    if size[0] <= mask.shape[-2] and size[1] <= mask.shape[-1]:
        return F.interpolate(mask, size=size, mode="area")
    return F.interpolate(mask, size=size, mode="bilinear", align_corners=False).clamp(0.0, 1.0)


def carry_mask_down(mask: Tensor, kinds: Sequence[str]) -> list[Tensor]:
    """Follow a mask through a VGG trunk: 3x3 average at every conv, unchanged at relu, halved at every pool.

    This is how Luan et al. (2018) restrict losses to the region that a feature actually "sees".

    Args:
        mask: ``(B, 1, H, W)`` float in [0, 1] at input resolution.
        kinds: module kinds in order, e.g. ``["conv", "relu", "conv", "relu", "pool", ...]``.

    Returns:
        One ``(B, 1, H_l, W_l)`` mask per module (the mask AFTER that module), matching the activation sizes of a
        VGG trunk with 2x2/2 max-pools (floor division).
    """
    out: list[Tensor] = []
    m = mask
    for kind in kinds:
        if kind == "conv":
            m = F.avg_pool2d(m, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        elif kind == "pool":
            m = F.avg_pool2d(m, kernel_size=2, stride=2)
        elif kind != "relu":
            raise ValueError(f"Unknown module kind {kind!r}; expected 'conv', 'relu' or 'pool'.")
        out.append(m)
    return out
