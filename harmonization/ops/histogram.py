"""Per-channel histogram matching of feature maps and the histogram loss (Risser et al. 2017; Luan et al. 2018).

A target distribution is kept as ``bins`` quantiles per channel (:func:`histogram_quantiles`, the painting's
"histogram" of Luan et al., 256 bins); :func:`match_histograms` remaps every value of a source to the target
quantile at the value's cumulative fraction in the source's own ``bins``-bin histogram, so the remapped channel
has (up to the binning) the target's distribution while keeping the source's order. :func:`histogram_loss` is the
relative squared distance of features to their own remapped (detached) copy.

Shapes: features ``(1, C, H, W)``; masks ``(1, 1, H, W)`` (positions with value > 0 are used); quantiles ``(C, bins)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["histogram_loss", "histogram_quantiles", "match_histograms"]

_EPS = 1e-8


def _masked_columns(x: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """``(1, C, H, W)`` -> ``(C, N)`` values at the selected positions and those flat positions (None = all)."""
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"features must be (1, C, H, W); got {tuple(x.shape)}. Process one image at a time.")
    flat = x.reshape(x.shape[1], -1)
    if mask is None:
        return flat, None
    if mask.ndim != 4 or mask.shape[:2] != (1, 1) or mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask must be (1, 1, {x.shape[-2]}, {x.shape[-1]}) like the features, got "
                         f"{tuple(mask.shape)}.")
    where = torch.nonzero(mask.reshape(-1) > 0).flatten()
    return flat[:, where], where


def histogram_quantiles(target: Tensor, mask: Tensor | None = None, bins: int = 256) -> Tensor:
    """The target distribution of every channel as ``bins`` quantiles ``Q((k + 0.5) / bins)``, k = 0..bins-1.

    ``Q(u)`` interpolates linearly between the sorted values ``t_(0) <= ... <= t_(M-1)`` at position ``u * M - 0.5``
    (clamped to the ends), so with ``bins == M`` the quantiles are exactly the sorted values.

    Args:
        target: ``(1, C, H, W)`` features (e.g. painting features rearranged by a match field).
        mask: optional ``(1, 1, H, W)``; only positions with value > 0 count.
        bins: number of quantiles kept (>= 2).

    Returns:
        ``(C, bins)`` float32, non-decreasing along the last dimension.

    Raises:
        ValueError: bad shapes, ``bins < 2`` or an empty mask.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}.")
    values, _ = _masked_columns(target.detach().float(), mask)
    if values.shape[1] == 0:
        raise ValueError("the target mask selects no positions; there is no distribution to match.")
    ordered = values.sort(dim=1).values
    u = (torch.arange(bins, device=target.device, dtype=torch.float32) + 0.5) / bins
    return _interpolate_sorted(ordered, u)


def _interpolate_sorted(ordered: Tensor, u: Tensor) -> Tensor:
    """Quantile function of sorted rows ``(C, M)`` at fractions ``u`` (``(N,)`` or ``(C, N)``) -> ``(C, N)``."""
    m = ordered.shape[1]
    pos = (u * m - 0.5).clamp(0.0, m - 1.0)
    if pos.ndim == 1:
        pos = pos.unsqueeze(0).expand(ordered.shape[0], -1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(m - 1)
    frac = pos - lo.to(pos.dtype)
    return torch.lerp(ordered.gather(1, lo), ordered.gather(1, hi), frac)


def match_histograms(source: Tensor, quantiles: Tensor, mask: Tensor | None = None) -> Tensor:
    """Remap each channel of ``source`` (inside ``mask``) to the target distribution given by its quantiles.

    Histogram matching with ``bins`` bins (the number of stored quantiles), in O(N) per channel: the selected
    values of a channel are binned on a uniform grid of ``bins`` bins whose centres run from the channel's minimum
    to its maximum; a value at fraction ``f`` of its bin (0 = lower edge) gets the cumulative fraction
    ``u = (count below its bin + f * count in its bin) / N``, and becomes the target quantile at ``u`` (linear
    between the stored quantiles, which sit at fractions ``(k + 0.5) / bins``; constant beyond the first and last).
    ``N = bins`` values on a uniform grid (one per bin centre) therefore map exactly by rank:
    the value of rank ``r`` becomes quantile ``r``.

    Args:
        source: ``(1, C, H, W)`` features to remap (gradients are not propagated).
        quantiles: ``(C, bins)`` from :func:`histogram_quantiles`.
        mask: optional ``(1, 1, H, W)``; positions with value <= 0 are returned unchanged.

    Returns:
        ``(1, C, H, W)`` float32 remapped features.
    """
    x = source.detach().float()
    values, where = _masked_columns(x, mask)
    c, n = values.shape
    if quantiles.ndim != 2 or quantiles.shape[0] != c:
        raise ValueError(f"quantiles must be (C, bins) = ({c}, bins), got {tuple(quantiles.shape)}.")
    if n == 0:
        return x.clone()
    values = values.contiguous()
    bins = quantiles.shape[1]
    lo, hi = torch.aminmax(values, dim=1, keepdim=True)
    scale = (bins - 1) / (hi - lo).clamp_min(1e-12)
    t = ((values - lo) * scale).add_(0.5).clamp_(0.0, bins - 1e-4)  # position in bins, centres at k + 0.5
    idx = t.long()
    frac = t.sub_(idx)
    flat = idx + torch.arange(c, device=x.device).view(-1, 1) * bins
    counts = torch.bincount(flat.view(-1), minlength=c * bins).view(c, bins).to(torch.float32)
    below = (counts.cumsum(dim=1) - counts).div_(n)
    u = below.gather(1, idx).addcmul_(frac, counts.div_(n).gather(1, idx))
    mapped = _interpolate_sorted(quantiles.float(), u)  # quantile k sits at fraction (k + 0.5) / bins
    if where is None:
        return mapped.reshape_as(x)
    out = x.reshape(c, -1).clone()
    out[:, where] = mapped
    return out.reshape_as(x)


def histogram_loss(features: Tensor, quantiles: Tensor, mask: Tensor | None = None) -> Tensor:
    """Histogram loss ``sum_m (F - R)^2 / sum_m R^2`` with ``R = match_histograms(F)`` held constant.

    Its gradient pulls every activation towards the value of the same rank in the target distribution (Risser et
    al. 2017), which fixes the distribution's shape where a Gram matrix only fixes second moments.

    Args:
        features: ``(1, C, H, W)`` activations of the image being optimised.
        quantiles: ``(C, bins)`` target quantiles (see :func:`histogram_quantiles`).
        mask: optional ``(1, 1, H, W)``; the loss counts the positions with value > 0.

    Returns:
        Scalar float32 tensor (0 when the features already have the target distribution).
    """
    remapped = match_histograms(features, quantiles, mask)
    f = features.float()
    diff = (f - remapped).square()
    ref = remapped.square()
    if mask is not None:
        keep = (mask > 0).to(f.dtype)
        diff, ref = diff * keep, ref * keep
    return diff.sum() / ref.sum().clamp_min(_EPS)
