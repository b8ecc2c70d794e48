"""Pure colour-statistics operations on tensors (Lab conversion, masked statistics, statistics transfer).

Images are ``(B, 3, H, W)`` float tensors; weights/masks ``(B, 1, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import math

import torch
from kornia.color import lab_to_rgb, rgb_to_lab
from kornia.filters import gaussian_blur2d

__all__ = ["rgb_to_lab", "lab_to_rgb", "masked_mean_std", "local_masked_mean_std", "transfer_mean_std"]


def masked_mean_std(
    x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted per-channel mean and standard deviation over H and W.

    Args:
        x: ``(B, C, H, W)``.
        weight: ``(B, 1, H, W)`` non-negative weights (e.g. a mask or ``1 - mask``).
        eps: added to the weight sum and the variance.

    Returns:
        ``(mean, std)``, each ``(B, C, 1, 1)``; std is the biased (population) standard deviation.
    """
    total = weight.sum(dim=(-2, -1), keepdim=True) + eps
    mean = (x * weight).sum(dim=(-2, -1), keepdim=True) / total
    var = (((x - mean) ** 2) * weight).sum(dim=(-2, -1), keepdim=True) / total
    return mean, (var + eps).sqrt()


def local_masked_mean_std(
    x: torch.Tensor, weight: torch.Tensor, sigma: float, eps: float = 1e-6
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gaussian-weighted local mean and standard deviation of the pixels selected by ``weight`` (normalised
    convolution).

    For every pixel ``p``: ``mean(p) = G*(w x)(p) / G*(w)(p)`` and ``var(p) = G*(w x^2)(p) / G*(w)(p) - mean(p)^2``
    with a Gaussian ``G`` of standard deviation ``sigma`` pixels and zero padding, so statistics near the border come
    only from pixels inside the image.

    Args:
        x: ``(B, C, H, W)``.
        weight: ``(B, 1, H, W)`` non-negative.
        sigma: neighbourhood size in pixels (> 0).

    Returns:
        ``(mean, std, density)``: ``(B, C, H, W)``, ``(B, C, H, W)`` and ``(B, 1, H, W)``, where ``density = G*(w)``
        in [0, 1] tells how much selected area supports each pixel's statistics.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive; got {sigma}.")
    radius = min(math.ceil(3 * sigma), max(x.shape[-2:]))
    size = 2 * radius + 1
    stacked = torch.cat([weight, x * weight, x * x * weight], dim=1)
    blurred = gaussian_blur2d(stacked, (size, size), (sigma, sigma), border_type="constant")
    c = x.shape[1]
    density = blurred[:, :1]
    denom = density + eps
    mean = blurred[:, 1 : 1 + c] / denom
    var = (blurred[:, 1 + c :] / denom - mean * mean).clamp_min(0.0)
    return mean, (var + eps).sqrt(), density


def transfer_mean_std(
    x: torch.Tensor,
    src_mean: torch.Tensor,
    src_std: torch.Tensor,
    dst_mean: torch.Tensor,
    dst_std: torch.Tensor,
    *,
    mean_strength: float | torch.Tensor = 1.0,
    std_strength: float | torch.Tensor = 1.0,
    max_std_ratio: float = 4.0,
) -> torch.Tensor:
    """Move ``x`` from statistics (src_mean, src_std) towards (dst_mean, dst_std), per channel.

    ``out = (x - src_mean) * ratio + src_mean + mean_strength * (dst_mean - src_mean)`` with
    ``ratio = (dst_std / src_std) ** std_strength`` clamped to ``[1 / max_std_ratio, max_std_ratio]``. With both
    strengths 1 this is the classic ``(x - mu_s) / sd_s * sd_d + mu_d`` (PHNet's eq. 5). Statistics broadcast against
    ``x`` (``(B, C, 1, 1)`` for global, ``(B, C, H, W)`` for local); strengths may be per-channel tensors.
    """
    ratio = (dst_std / src_std.clamp_min(1e-6)) ** std_strength
    ratio = ratio.clamp(1.0 / max_std_ratio, max_std_ratio)
    return (x - src_mean) * ratio + src_mean + mean_strength * (dst_mean - src_mean)


