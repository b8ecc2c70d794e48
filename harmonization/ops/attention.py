"""Fused dot-product attention over token sequences, and the per-channel statistics used by feature modulation.

Pure functions on tensors (no module state, no I/O). The attention never builds the ``N x N`` score matrix itself:
it goes through :func:`torch.nn.functional.scaled_dot_product_attention`, which picks a fused (flash / memory
efficient) kernel on CPU and GPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["fused_attention", "spatial_std"]


def fused_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, key_bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Unscaled softmax attention ``softmax(query @ key^T + key_bias) @ value`` through a fused kernel.

    The fused kernels (the CPU flash kernel in particular) require query, key and value to share their last
    dimension. When the key dimension is smaller than the value dimension (SAGAN: 32 vs 256), query and key are
    zero-padded up to the value dimension; zeros add exactly nothing to the dot products, so the result is the
    same while the kernel stays fused (memory O(N), no score matrix). A per-key logit bias rides in one padded
    dimension (query 1, key ``key_bias``), so it needs no ``N x M`` mask either. A value narrower than the keys
    is padded and the result cropped.

    Args:
        query: ``(B, N, Dk)`` floating tensor, ``N`` query positions.
        key: ``(B, M, Dk)`` same dtype and device as ``query``.
        value: ``(B, M, Dv)`` same dtype and device as ``query``.
        key_bias: optional ``(B, M)`` logit added to every score of key ``j`` (e.g. ``log(count)`` for a key that
            stands for ``count`` identical keys).

    Returns:
        ``(B, N, Dv)`` tensor: ``out[b, n] = sum_j softmax_j(query[b, n] . key[b, j] + key_bias[b, j]) *
        value[b, j]`` (no ``1/sqrt(Dk)`` scaling), same dtype as the inputs.

    Raises:
        ValueError: if the shapes are not 3-D or do not agree.
    """
    if query.dim() != 3 or key.dim() != 3 or value.dim() != 3:
        raise ValueError(
            "fused_attention expects 3-D (B, N, D) tensors; received query "
            f"{tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}."
        )
    if query.shape[0] != key.shape[0] or key.shape[0] != value.shape[0] or query.shape[2] != key.shape[2]:
        raise ValueError(
            "fused_attention needs matching batch sizes and query/key widths; received query "
            f"{tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}."
        )
    if key.shape[1] != value.shape[1]:
        raise ValueError(
            f"key and value must have the same number of positions; received key {tuple(key.shape)} and "
            f"value {tuple(value.shape)}."
        )
    if key_bias is not None and tuple(key_bias.shape) != tuple(key.shape[:2]):
        raise ValueError(f"key_bias must have shape (B, M) = {tuple(key.shape[:2])}; received {tuple(key_bias.shape)}.")
    d_key, d_value = query.shape[-1], value.shape[-1]
    width = max(d_value, d_key + (key_bias is not None))
    if width > d_key:
        query = F.pad(query, (0, width - d_key))
        key = F.pad(key, (0, width - d_key))
        if key_bias is not None:
            query[..., d_key] = 1.0
            key[..., d_key] = key_bias.to(key.dtype)
    if width > d_value:
        value = F.pad(value, (0, width - d_value))
    out = F.scaled_dot_product_attention(
        query.unsqueeze(1), key.unsqueeze(1), value.contiguous().unsqueeze(1), scale=1.0
    ).squeeze(1)
    return out[..., :d_value] if width > d_value else out


def spatial_std(x: torch.Tensor, eps: float = 1e-5, dims: tuple[int, ...] = (2, 3)) -> torch.Tensor:
    """Per-channel standard deviation over the whole map: ``sqrt(unbiased variance + eps)``.

    Every position counts, zeros included (the masked-out part of a foreground map as well). The statistic is
    computed in float32 at least, so half-precision maps neither overflow nor lose the ``eps``.

    Args:
        x: floating tensor, e.g. a ``(B, C, h, w)`` map (default ``dims``) or ``(B, N, C)`` tokens with
            ``dims=(1,)``; at least two positions.
        eps: added to the variance before the square root.
        dims: the position dimensions reduced over.

    Returns:
        ``x``'s shape with ``dims`` reduced to size 1, in float32, or in ``x``'s dtype when wider (float64).
    """
    stat_dtype = torch.promote_types(x.dtype, torch.float32)
    var = x.to(stat_dtype).var(dim=dims, keepdim=True, correction=1)
    return (var + eps).sqrt()
