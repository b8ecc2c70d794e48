"""Pure tensor functions for neural style transfer and painterly fusion.

Everything here works on torch tensors only (no modules with state, no I/O):

* statistics and losses: :func:`gram_matrix`, :func:`gram_loss`, :func:`content_loss` (MSE or normalised
  cross-correlation), :func:`tv_loss`, all optionally restricted to a (soft) spatial weight map;
* masks: :func:`dilate_mask`, :func:`carry_mask_down` (a mask followed through VGG's conv/relu/pool modules),
  :func:`feather_alpha` and :func:`feathered_blend` (blend that leaves everything beyond a band bit-identical);
* patch matching: :func:`match_patches` (3x3 nearest neighbours by cosine similarity),
  :func:`gather_matches` and :func:`map_matches` (propagate a match field to a finer layer),
  :func:`resample_by_matches` (rebuild pixels from the painting at full resolution by a match field);
* colour: :func:`match_color_stats` (masked per-channel mean/std transfer).

Shapes: features ``(B, C, H, W)``; masks / weights ``(B, 1, H, W)`` float in [0, 1]; images RGB ``(B, 3, H, W)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "carry_mask_down",
    "content_loss",
    "dilate_mask",
    "feather_alpha",
    "feathered_blend",
    "gather_matches",
    "gaussian_blur",
    "gram_loss",
    "gram_matrix",
    "map_matches",
    "match_color_stats",
    "match_patches",
    "resample_by_matches",
    "resize_mask",
    "tv_loss",
]

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
def dilate_mask(mask: Tensor, radius: int) -> Tensor:
    """Grey-level dilation with a ``(2r+1) x (2r+1)`` square (max filter); ``radius <= 0`` returns a copy.

    Args:
        mask: ``(B, 1, H, W)`` float.
        radius: pixels.

    Returns:
        ``(B, 1, H, W)`` same dtype; pixels farther than ``radius`` (Chebyshev) from any non-zero stay exactly 0.
    """
    if radius <= 0:
        return mask.clone()
    return F.max_pool2d(mask, kernel_size=2 * radius + 1, stride=1, padding=radius)


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


def _gaussian_kernel1d(radius: int, sigma: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def feather_alpha(mask: Tensor, dilate_px: int, blur_px: int) -> Tensor:
    """Blend weights for a seamless paste: dilate the mask, then blur with a TRUNCATED Gaussian.

    Because the Gaussian is cut at ``blur_px``, every pixel farther than ``dilate_px + blur_px`` (Chebyshev
    distance) from the mask gets alpha exactly 0.0, so a blend with :func:`feathered_blend` leaves it bit-identical.
    With ``blur_px <= dilate_px`` the original mask keeps alpha 1.

    Args:
        mask: ``(B, 1, H, W)`` float in [0, 1] (soft values are dilated as grey levels).
        dilate_px: dilation radius in pixels.
        blur_px: Gaussian radius in pixels (sigma = blur_px / 2); 0 = no blur.

    Returns:
        ``(B, 1, H, W)`` alpha in [0, 1], same dtype as ``mask``.
    """
    a = dilate_mask(mask, dilate_px)
    if blur_px > 0:
        k = _gaussian_kernel1d(blur_px, blur_px / 2.0, a.dtype, a.device)
        a = F.pad(a, (blur_px, blur_px, blur_px, blur_px), mode="replicate")
        a = F.conv2d(a, k.view(1, 1, 1, -1))
        a = F.conv2d(a, k.view(1, 1, -1, 1))
    a = a.clamp(0.0, 1.0)
    # Exact zeros beyond the band, whatever the float rounding of the convolution did.
    band = dilate_mask((mask > 0).to(a.dtype), dilate_px + max(blur_px, 0))
    return torch.where(band > 0, a, torch.zeros_like(a))


def feathered_blend(result: Tensor, original: Tensor, alpha: Tensor) -> Tensor:
    """``alpha * result + (1 - alpha) * original``, and exactly ``original`` wherever ``alpha == 0``.

    Args:
        result: ``(B, C, H, W)`` fused image.
        original: ``(B, C, H, W)`` image to keep outside the band.
        alpha: ``(B, 1, H, W)`` weights in [0, 1] (see :func:`feather_alpha`).

    Returns:
        ``(B, C, H, W)`` in ``original``'s dtype.
    """
    if result.shape != original.shape:
        raise ValueError(f"result {tuple(result.shape)} and original {tuple(original.shape)} must match.")
    a = alpha.to(original.dtype)
    mixed = a * result.to(original.dtype) + (1.0 - a) * original
    return torch.where(a > 0, mixed, original)


# ------------------------------------------------------------------------------------------------ patch matching
def _unfold_patches(features: Tensor, patch_size: int) -> Tensor:
    """``(1, C, H, W)`` -> ``(H*W, C*p*p)`` zero-padded patches centred on every position."""
    pad = patch_size // 2
    cols = F.unfold(features, kernel_size=patch_size, padding=pad)  # (1, C*p*p, H*W)
    return cols[0].transpose(0, 1)


def match_patches(content: Tensor, style: Tensor, content_mask: Tensor | None = None,
                  style_mask: Tensor | None = None, patch_size: int = 3, chunk: int = 1024) -> Tensor:
    """Nearest-neighbour patch matching by cosine similarity (Luan et al. 2018, pass 1).

    For every position ``p`` of ``content`` inside ``content_mask`` find the position ``q`` of ``style`` (restricted
    to ``style_mask``) whose ``patch_size x patch_size`` patch (all channels, zero padding at the borders) has the
    highest cosine similarity with the patch around ``p``.

    Args:
        content: ``(1, C, H, W)`` features of the image being fused.
        style: ``(1, C, Hs, Ws)`` features of the painting.
        content_mask: optional ``(1, 1, H, W)``; positions with value > 0 are matched. ``None`` = all.
        style_mask: optional ``(1, 1, Hs, Ws)``; positions with value > 0 are candidates. ``None`` = all.
        patch_size: odd patch side (3 in the paper).
        chunk: content patches processed per matrix product (memory knob).

    Returns:
        ``(H * W,)`` int64: flat style index ``qy * Ws + qx`` per content position, ``-1`` outside ``content_mask``.

    Raises:
        ValueError: on bad shapes, an even patch size or an empty ``style_mask``.
    """
    if content.ndim != 4 or style.ndim != 4 or content.shape[0] != 1 or style.shape[0] != 1:
        raise ValueError(f"content and style must be (1, C, H, W); got {tuple(content.shape)} and "
                         f"{tuple(style.shape)}.")
    if content.shape[1] != style.shape[1]:
        raise ValueError(f"channel counts differ: content {content.shape[1]}, style {style.shape[1]}.")
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}.")
    h, w = content.shape[-2:]
    c_feat, s_feat = content.detach().float(), style.detach().float()
    s_sel = torch.arange(s_feat.shape[-2] * s_feat.shape[-1], device=style.device)
    if style_mask is not None:
        s_sel = s_sel[(style_mask.reshape(-1) > 0)]
        if s_sel.numel() == 0:
            raise ValueError("style_mask selects no candidate positions; nothing to match against.")
    c_sel = torch.arange(h * w, device=content.device)
    if content_mask is not None:
        c_sel = c_sel[(content_mask.reshape(-1) > 0)]
    result = torch.full((h * w,), -1, dtype=torch.long, device=content.device)
    if c_sel.numel() == 0:
        return result
    s_pat = _unfold_patches(s_feat, patch_size)[s_sel]
    s_pat = s_pat / s_pat.norm(dim=1, keepdim=True).clamp_min(_EPS)
    c_all = _unfold_patches(c_feat, patch_size)
    for start in range(0, c_sel.numel(), chunk):
        idx = c_sel[start:start + chunk]
        c_pat = c_all[idx]
        c_pat = c_pat / c_pat.norm(dim=1, keepdim=True).clamp_min(_EPS)
        best = (c_pat @ s_pat.T).argmax(dim=1)
        result[idx] = s_sel[best]
    return result


def gather_matches(style: Tensor, index: Tensor, size: tuple[int, int]) -> Tensor:
    """Rearrange style features by a match field: ``out[:, :, p] = style[:, :, index[p]]`` (0 where index < 0).

    Args:
        style: ``(1, C, Hs, Ws)``.
        index: ``(H * W,)`` int64 flat style positions (``-1`` = no match).
        size: ``(H, W)`` of the output.

    Returns:
        ``(1, C, H, W)`` rearranged features (same dtype as ``style``).
    """
    c = style.shape[1]
    flat = style.reshape(c, -1)
    valid = index >= 0
    out = flat.new_zeros(c, index.numel())
    out[:, valid] = flat[:, index[valid]]
    return out.reshape(1, c, *size)


def map_matches(index: Tensor, size: tuple[int, int], style_size: tuple[int, int], factor: int,
                fine_size: tuple[int, int], fine_style_size: tuple[int, int],
                fine_mask: Tensor | None = None) -> Tensor:
    """Propagate a coarse match field to a layer ``factor`` times finer (Luan et al.'s pass-2 mapping).

    Fine position ``(y, x)`` takes the match ``(qy, qx)`` of its coarse parent ``(y // f, x // f)`` and maps to
    ``(qy * f + y % f, qx * f + x % f)``, clamped into the fine style map.

    Args:
        index: ``(h * w,)`` coarse flat matches (``-1`` = none).
        size: coarse content ``(h, w)``; style_size: coarse style ``(hs, ws)``.
        factor: resolution ratio (power of two).
        fine_size: fine content ``(H, W)``; fine_style_size: fine style ``(Hs, Ws)``.
        fine_mask: optional ``(1, 1, H, W)``; positions with value <= 0 get ``-1``.

    Returns:
        ``(H * W,)`` int64 fine flat matches.
    """
    hh, ww = fine_size
    dev = index.device
    y = torch.arange(hh, device=dev).view(-1, 1).expand(hh, ww)
    x = torch.arange(ww, device=dev).view(1, -1).expand(hh, ww)
    py = (y // factor).clamp_max(size[0] - 1)
    px = (x // factor).clamp_max(size[1] - 1)
    parent = index[(py * size[1] + px).reshape(-1)].reshape(hh, ww)
    qy = torch.div(parent, style_size[1], rounding_mode="floor")
    qx = parent - qy * style_size[1]
    fy = (qy * factor + y % factor).clamp(0, fine_style_size[0] - 1)
    fx = (qx * factor + x % factor).clamp(0, fine_style_size[1] - 1)
    out = torch.where(parent >= 0, fy * fine_style_size[1] + fx, torch.full_like(parent, -1)).reshape(-1)
    if fine_mask is not None:
        out = torch.where(fine_mask.reshape(-1) > 0, out, torch.full_like(out, -1))
    return out


# ---------------------------------------------------------------------------------------------------------- colour
def match_color_stats(image: Tensor, mask: Tensor, reference: Tensor, reference_mask: Tensor,
                      amount: float = 1.0) -> Tensor:
    """Move the per-channel mean/std of ``image`` inside ``mask`` towards those of ``reference`` in ``reference_mask``.

    Args:
        image: ``(1, 3, H, W)`` in [0, 1]; reference: ``(1, 3, Hr, Wr)`` in [0, 1].
        mask: ``(1, 1, H, W)`` weights for the image statistics; reference_mask: ``(1, 1, Hr, Wr)``.
        amount: 0 = unchanged, 1 = full transfer.

    Returns:
        ``(1, 3, H, W)`` image, clamped to [0, 1]; unchanged where ``mask == 0``.
    """
    def stats(x: Tensor, m: Tensor) -> tuple[Tensor, Tensor]:
        wsum = m.sum().clamp_min(_EPS)
        mean = (x * m).sum(dim=(0, 2, 3), keepdim=True) / wsum
        var = ((x - mean).square() * m).sum(dim=(0, 2, 3), keepdim=True) / wsum
        return mean, var.clamp_min(1e-6).sqrt()

    mu_i, sd_i = stats(image, mask)
    mu_r, sd_r = stats(reference, reference_mask)
    moved = (image - mu_i) / sd_i * sd_r + mu_r
    out = image + amount * (moved - image)
    return torch.where(mask > 0, out.clamp(0.0, 1.0), image)


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur (kernel radius ``ceil(3 sigma)``, replicate padding); ``sigma <= 0`` copies."""
    if sigma <= 0:
        return image.clone()
    radius = max(1, math.ceil(3.0 * sigma))
    k = _gaussian_kernel1d(radius, sigma, image.dtype, image.device)
    c = image.shape[1]
    x = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def resample_by_matches(painting: Tensor, index: Tensor, grid_size: tuple[int, int],
                        style_grid_size: tuple[int, int], stride: int, out_size: tuple[int, int],
                        content_scale: tuple[float, float], style_scale: tuple[float, float],
                        origin: tuple[int, int] = (0, 0)) -> tuple[Tensor, Tensor]:
    """Rebuild a region at the painting's FULL resolution from a match field computed at a working resolution.

    Every content feature cell ``c`` (stride ``stride`` at working resolution) matched to painting cell ``q``
    defines a translation ``d_c`` (cell centre of ``q`` minus cell centre of ``c``, in full-resolution pixels). Each
    output pixel ``P`` averages ``painting(P + d_n)`` (bilinear) over its 3x3 neighbouring cells ``n``, weighted
    by a Gaussian of the distance from ``P`` to the cell centre, so the painting's strokes are copied at their
    native resolution and the seams between cells are blended.

    Args:
        painting: ``(1, C, Hp, Wp)`` full-resolution painting (the whole composite).
        index: ``(gh * gw,)`` flat matches into ``style_grid_size`` (``-1`` = none).
        grid_size: ``(gh, gw)`` content grid; style_grid_size: ``(sh, sw)`` painting grid.
        stride: working-resolution pixels per cell.
        out_size: ``(H, W)`` of the full-resolution content region.
        content_scale: working / full resolution of the content region, per axis ``(sy, sx)``.
        style_scale: working / full resolution of the painting, per axis.
        origin: ``(y0, x0)`` of the content region inside the painting, in full-resolution pixels.

    Returns:
        ``(image, weight)``: ``(1, C, H, W)`` and ``(1, 1, H, W)`` total weight (0 where no cell had a match).
    """
    dev = painting.device
    gh, gw = grid_size
    sw = style_grid_size[1]
    h, w = out_size
    valid = (index >= 0).view(gh, gw)
    q = index.clamp_min(0).view(gh, gw)
    qy, qx = torch.div(q, sw, rounding_mode="floor").to(torch.float32), (q % sw).to(torch.float32)
    cy = torch.arange(gh, device=dev, dtype=torch.float32).view(-1, 1).expand(gh, gw)
    cx = torch.arange(gw, device=dev, dtype=torch.float32).view(1, -1).expand(gh, gw)

    def centre(cell: Tensor, scale: float) -> Tensor:  # cell index -> full-resolution pixel coordinate
        return ((cell + 0.5) * stride) / scale - 0.5

    dy = centre(qy, style_scale[0]) - (centre(cy, content_scale[0]) + origin[0])
    dx = centre(qx, style_scale[1]) - (centre(cx, content_scale[1]) + origin[1])
    py = torch.arange(h, device=dev, dtype=torch.float32).view(-1, 1).expand(h, w)
    px = torch.arange(w, device=dev, dtype=torch.float32).view(1, -1).expand(h, w)
    cell_y = torch.floor((py + 0.5) * content_scale[0] / stride).long()
    cell_x = torch.floor((px + 0.5) * content_scale[1] / stride).long()
    sigma = 0.6 * stride / min(content_scale)
    hp, wp = painting.shape[-2:]
    acc = painting.new_zeros(1, painting.shape[1], h, w)
    wsum = painting.new_zeros(1, 1, h, w)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            ny, nx = cell_y + oy, cell_x + ox
            inside = (ny >= 0) & (ny < gh) & (nx >= 0) & (nx < gw)
            ny, nx = ny.clamp(0, gh - 1), nx.clamp(0, gw - 1)
            ok = inside & valid[ny, nx]
            dist2 = (py - centre(ny.float(), content_scale[0])) ** 2 + (px - centre(nx.float(), content_scale[1])) ** 2
            wgt = torch.exp(-dist2 / (2 * sigma * sigma)) * ok.float()
            sy = py + origin[0] + dy[ny, nx]
            sx = px + origin[1] + dx[ny, nx]
            grid = torch.stack([(sx + 0.5) / wp * 2 - 1, (sy + 0.5) / hp * 2 - 1], dim=-1).unsqueeze(0)
            sample = F.grid_sample(painting, grid.to(painting.dtype), mode="bilinear", padding_mode="border",
                                   align_corners=False)
            acc = acc + wgt * sample
            wsum = wsum + wgt
    return acc / wsum.clamp_min(1e-8), wsum
