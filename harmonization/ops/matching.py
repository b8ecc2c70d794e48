"""Patch matching between feature maps, as batched matrix products (no Python loops over patches).

* :func:`match_patches`: independent nearest neighbours of 3x3 feature patches by cosine similarity (Luan et al.
  2018, pass 1);
* :func:`consistent_matches`: the spatially consistent mapping of Luan et al.'s pass 2: every match is replaced by
  the candidate proposed by a neighbour (the neighbour's match shifted back by the offset) whose surroundings agree
  best with the neighbours' own matches;
* :func:`map_matches`: propagate a match field from a coarse layer to a finer one (keeping sub-positions);
* :func:`gather_matches`: rearrange painting features by a match field;
* :func:`resample_by_matches`: rebuild a region at the painting's full resolution from a match field.

A match field is a ``(H * W,)`` int64 tensor: for every content position (row-major) the flat index
``qy * Ws + qx`` of its painting position, ``-1`` where nothing is matched. Features are ``(1, C, H, W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "consistent_matches",
    "gather_matches",
    "map_matches",
    "match_patches",
    "resample_by_matches",
]

_EPS = 1e-8
_CHUNK_BYTES = 128 * 2**20
"""Similarity / candidate blocks are cut so that one block stays below this many bytes."""


def _check_pair(content: Tensor, style: Tensor) -> None:
    if content.ndim != 4 or style.ndim != 4 or content.shape[0] != 1 or style.shape[0] != 1:
        raise ValueError(f"content and style features must be (1, C, H, W); got {tuple(content.shape)} and "
                         f"{tuple(style.shape)}. Match one image at a time.")
    if content.shape[1] != style.shape[1]:
        raise ValueError(f"channel counts differ: content {content.shape[1]}, style {style.shape[1]}; "
                         "match features of the same layer.")


def _selected(mask: Tensor | None, size: int, device: torch.device) -> Tensor:
    """Flat positions where ``mask > 0`` (all positions for ``None``)."""
    if mask is None:
        return torch.arange(size, device=device)
    if mask.numel() != size:
        raise ValueError(f"mask has {mask.numel()} positions, the features have {size}; give a (1, 1, H, W) mask "
                         "of the feature map's size.")
    return torch.nonzero(mask.reshape(-1) > 0).flatten()


def _patch_columns(features: Tensor, patch_size: int) -> Tensor:
    """``(1, C, H, W)`` -> ``(C*p*p, H*W)`` zero-padded patches centred on every position (one column each)."""
    return F.unfold(features, kernel_size=patch_size, padding=patch_size // 2)[0]


def _patch_norms(features: Tensor, patch_size: int) -> Tensor:
    """``(H*W,)`` L2 norms of the zero-padded patches, from a box sum of the squared features (no unfolding)."""
    energy = features.square().sum(dim=1, keepdim=True)
    window = F.avg_pool2d(energy, patch_size, stride=1, padding=patch_size // 2, count_include_pad=True)
    return (window * patch_size * patch_size).clamp_min(0.0).sqrt().flatten()


def match_patches(content: Tensor, style: Tensor, content_mask: Tensor | None = None,
                  style_mask: Tensor | None = None, patch_size: int = 3,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """Nearest-neighbour patch matching by cosine similarity (Luan et al. 2018, pass 1).

    For every position ``p`` of ``content`` inside ``content_mask`` find the position ``q`` of ``style`` (restricted
    to ``style_mask``) whose ``patch_size x patch_size`` patch (all channels, zero padding at the borders) has the
    highest cosine similarity with the patch around ``p``. The similarities are blocks of one matrix product.

    Args:
        content: ``(1, C, H, W)`` features of the image being fused.
        style: ``(1, C, Hs, Ws)`` features of the painting.
        content_mask: optional ``(1, 1, H, W)``; positions with value > 0 are matched. ``None`` = all.
        style_mask: optional ``(1, 1, Hs, Ws)``; positions with value > 0 are candidates. ``None`` = all.
        patch_size: odd patch side (3 in the paper).
        dtype: dtype of the similarity products: ``torch.bfloat16`` is about 3x faster on CPUs with AMX/AVX512-BF16
            and on GPUs (ties between nearly equal candidates may then resolve differently).

    Returns:
        ``(H * W,)`` int64: flat style index ``qy * Ws + qx`` per content position, ``-1`` outside ``content_mask``.

    Raises:
        ValueError: on bad shapes, an even patch size or an empty ``style_mask``.
    """
    _check_pair(content, style)
    if patch_size < 1 or patch_size % 2 == 0:
        raise ValueError(f"patch_size must be a positive odd integer, got {patch_size}.")
    h, w = content.shape[-2:]
    s_sel = _selected(style_mask, style.shape[-2] * style.shape[-1], style.device)
    if s_sel.numel() == 0:
        raise ValueError("style_mask selects no candidate positions; nothing to match against.")
    c_sel = _selected(content_mask, h * w, content.device)
    result = torch.full((h * w,), -1, dtype=torch.long, device=content.device)
    if c_sel.numel() == 0:
        return result
    s_feat = style.detach().float()
    inv_norm = 1.0 / _patch_norms(s_feat, patch_size).clamp_min(_EPS)
    s_cols = (_patch_columns(s_feat, patch_size) * inv_norm).to(dtype)  # unit columns
    c_pat = _patch_columns(content.detach().float(), patch_size)[:, c_sel].T.to(dtype)  # norms do not change argmax
    excluded = torch.ones(s_cols.shape[1], dtype=torch.bool, device=style.device)
    excluded[s_sel] = False
    excluded_idx = torch.nonzero(excluded).flatten()
    chunk = max(1, _CHUNK_BYTES // (4 * s_cols.shape[1]))
    parts = []
    for block in c_pat.split(chunk):
        sim = block @ s_cols
        if excluded_idx.numel():
            sim.index_fill_(1, excluded_idx, float("-inf"))
        parts.append(sim.argmax(dim=1))
    best = torch.cat(parts)
    result[c_sel] = best
    return result


def _window(radius: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """Offsets ``(dy, dx)`` of a ``(2r+1)^2`` window in row-major order."""
    r = torch.arange(-radius, radius + 1, device=device)
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    return dy.flatten(), dx.flatten()


def consistent_matches(content: Tensor, style: Tensor, index: Tensor, style_mask: Tensor | None = None,
                       radius: int = 2) -> Tensor:
    """Make a match field spatially consistent by neighbour voting (Luan et al. 2018, pass 2).

    For every matched content position ``p`` every matched neighbour ``n = p + d`` in the ``(2r+1)^2`` window
    proposes the candidate ``c = index[n] - d`` (its own match shifted back: the painting place that would continue
    the neighbour's patch coherently). The candidate chosen for ``p`` minimises

        ``cost(c) = sum_{d'} || S(c + d') - S(index[p + d']) ||^2``

    over the matched neighbours ``p + d'`` of the window, with ``S`` the L2-normalised style feature at one
    position; a term whose ``c + d'`` lies outside the style map or on an excluded position costs 2 (the distance of
    orthogonal unit vectors). So neighbouring patches take neighbouring painting places wherever that keeps the
    painting features the neighbours chose. Ties go to the first candidate in window order.

    Computation: with ``q = p + d`` and ``e = d' - d`` a term is ``|| S(index[q] + e) - S(index[q + e]) ||^2``, which
    depends on ``(q, e)`` only; those ``(4r+1)^2`` terms per position are computed once as row-wise dot products
    (one batched gather per offset), and every candidate's cost is a sum of gathered terms.

    Args:
        content: ``(1, C, H, W)`` content features (only the grid size is used).
        style: ``(1, C, Hs, Ws)`` style features at the same layer.
        index: ``(H * W,)`` int64 match field into the style grid (``-1`` = unmatched, left as is).
        style_mask: optional ``(1, 1, Hs, Ws)``; candidates must lie where it is > 0.
        radius: window radius (2 = the paper's 5x5).

    Returns:
        ``(H * W,)`` int64 consistent match field (``-1`` exactly where ``index`` is ``-1``).
    """
    _check_pair(content, style)
    h, w = content.shape[-2:]
    hs, ws = style.shape[-2:]
    if index.shape != (h * w,):
        raise ValueError(f"index must be ({h * w},) for a {h}x{w} content grid, got {tuple(index.shape)}.")
    dev = index.device
    allowed = torch.ones(hs * ws, dtype=torch.bool, device=dev)
    if style_mask is not None:
        allowed = _selected(style_mask, hs * ws, dev)
        allowed = torch.zeros(hs * ws, dtype=torch.bool, device=dev).index_fill_(0, allowed, True)
    unit = style.detach().float()[0].reshape(style.shape[1], -1)
    unit = (unit / unit.norm(dim=0, keepdim=True).clamp_min(_EPS)).T.contiguous()  # (Hs*Ws, C)
    matched = torch.nonzero(index >= 0).flatten()
    out = index.clone()
    if matched.numel() == 0:
        return out
    qy, qx = matched // w, matched % w
    sy, sx = index[matched] // ws, index[matched] % ws

    # Terms T[q, e] for every matched q and every offset e of the doubled window.
    ey, ex = _window(2 * radius, dev)
    terms = torch.zeros(h * w, ey.numel(), device=dev)
    rows_per_chunk = max(1, _CHUNK_BYTES // (8 * unit.shape[1]))
    for j in range(ey.numel()):  # (4r+1)^2 offsets, each one batched gather + dot over all positions
        ny, nx = qy + ey[j], qx + ex[j]
        n_in = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        n_idx = index[(ny.clamp(0, h - 1) * w + nx.clamp(0, w - 1))]
        n_ok = n_in & (n_idx >= 0)
        ry, rx = sy + ey[j], sx + ex[j]
        r_flat = ry.clamp(0, hs - 1) * ws + rx.clamp(0, ws - 1)
        r_ok = (ry >= 0) & (ry < hs) & (rx >= 0) & (rx < ws) & allowed[r_flat]
        dots = torch.cat([(unit[r_flat[c]] * unit[n_idx[c].clamp_min(0)]).sum(dim=1)
                          for c in torch.arange(matched.numel(), device=dev).split(rows_per_chunk)])
        cost = torch.where(r_ok, (2.0 - 2.0 * dots).clamp_min(0.0), torch.full_like(dots, 2.0))
        terms[matched, j] = torch.where(n_ok, cost, torch.zeros_like(cost))

    # Candidates of the positions: neighbour q = p + d (matched) proposes index[q] - d.
    dy, dx = _window(radius, dev)
    side = 4 * radius + 1
    pair = (dy.view(1, -1) - dy.view(-1, 1) + 2 * radius) * side + (dx.view(1, -1) - dx.view(-1, 1) + 2 * radius)
    py, px = qy.unsqueeze(1) + dy, qx.unsqueeze(1) + dx  # (M, K) neighbours q
    q_in = (py >= 0) & (py < h) & (px >= 0) & (px < w)
    q_flat = py.clamp(0, h - 1) * w + px.clamp(0, w - 1)
    q_idx = index[q_flat]
    cy, cx = q_idx // ws - dy, q_idx % ws - dx
    c_flat = cy.clamp(0, hs - 1) * ws + cx.clamp(0, ws - 1)
    c_ok = q_in & (q_idx >= 0) & (cy >= 0) & (cy < hs) & (cx >= 0) & (cx < ws) & allowed[c_flat]
    # cost[p, k] = sum_j terms[q_k, pair[k, j]] (pair[k, j] is the offset d_j - d_k)
    score = torch.cat([terms[q_flat[c]].gather(2, pair.expand(c.numel(), -1, -1)).sum(dim=2)
                       for c in torch.arange(matched.numel(), device=dev).split(rows_per_chunk)])
    score = torch.where(c_ok, score, torch.full_like(score, float("inf")))
    choice = score.argmin(dim=1, keepdim=True)
    chosen = c_flat.gather(1, choice).squeeze(1)
    out[matched] = torch.where(c_ok.gather(1, choice).squeeze(1), chosen, index[matched])
    return out


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


def resample_by_matches(painting: Tensor, index: Tensor, grid_size: tuple[int, int],
                        style_grid_size: tuple[int, int], stride: int, out_size: tuple[int, int],
                        content_scale: tuple[float, float], style_scale: tuple[float, float],
                        origin: tuple[int, int] = (0, 0), spread: float = 0.5) -> tuple[Tensor, Tensor]:
    """Rebuild a region at the painting's FULL resolution from a match field computed at a working resolution.

    Every content feature cell ``c`` (stride ``stride`` at working resolution) matched to painting cell ``q``
    defines a translation ``d_c`` (cell centre of ``q`` minus cell centre of ``c``, in full-resolution pixels,
    rounded to whole pixels so that painting pixels are copied exactly, without interpolation). Each output pixel
    ``P`` averages ``painting(P + d_n)`` over its 3x3 neighbouring cells ``n``, weighted by a Gaussian (sigma
    ``spread`` cells) of the distance from ``P`` to the cell centre, so the painting's strokes are copied at their
    native resolution and the seams between cells are blended. Sources outside the painting are clamped to its
    border.

    Args:
        painting: ``(1, C, Hp, Wp)`` full-resolution painting (the whole composite).
        index: ``(gh * gw,)`` flat matches into ``style_grid_size`` (``-1`` = none).
        grid_size: ``(gh, gw)`` content grid; style_grid_size: ``(sh, sw)`` painting grid.
        stride: working-resolution pixels per cell.
        out_size: ``(H, W)`` of the full-resolution content region.
        content_scale: working / full resolution of the content region, per axis ``(sy, sx)``.
        style_scale: working / full resolution of the painting, per axis.
        origin: ``(y0, x0)`` of the content region inside the painting, in full-resolution pixels.
        spread: Gaussian sigma of the cell weights, in cells.

    Returns:
        ``(image, weight)``: ``(1, C, H, W)`` and ``(1, 1, H, W)`` total weight (0 where no cell had a match).
    """
    dev = painting.device
    gh, gw = grid_size
    sw = style_grid_size[1]
    h, w = out_size
    hp, wp = painting.shape[-2:]
    valid = (index >= 0).view(gh, gw)
    q = index.clamp_min(0).view(gh, gw)
    qy, qx = torch.div(q, sw, rounding_mode="floor").to(torch.float32), (q % sw).to(torch.float32)
    cy = torch.arange(gh, device=dev, dtype=torch.float32).view(-1, 1).expand(gh, gw)
    cx = torch.arange(gw, device=dev, dtype=torch.float32).view(1, -1).expand(gh, gw)

    def centre(cell: Tensor, scale: float) -> Tensor:  # cell index -> full-resolution pixel coordinate
        return ((cell + 0.5) * stride) / scale - 0.5

    dy = torch.round(centre(qy, style_scale[0]) - (centre(cy, content_scale[0]) + origin[0])).long()
    dx = torch.round(centre(qx, style_scale[1]) - (centre(cx, content_scale[1]) + origin[1])).long()
    py = torch.arange(h, device=dev).view(-1, 1).expand(h, w)
    px = torch.arange(w, device=dev).view(1, -1).expand(h, w)
    cell_y = torch.floor((py + 0.5) * content_scale[0] / stride).long()
    cell_x = torch.floor((px + 0.5) * content_scale[1] / stride).long()
    sigma = spread * stride / min(content_scale)
    flat = painting.reshape(painting.shape[1], -1)
    acc = painting.new_zeros(painting.shape[1], h * w)
    wsum = painting.new_zeros(h * w)
    for oy in (-1, 0, 1):  # the 3x3 neighbouring cells of every pixel, each one batched gather
        for ox in (-1, 0, 1):
            ny, nx = cell_y + oy, cell_x + ox
            inside = (ny >= 0) & (ny < gh) & (nx >= 0) & (nx < gw)
            ny, nx = ny.clamp(0, gh - 1), nx.clamp(0, gw - 1)
            ok = inside & valid[ny, nx]
            dist2 = (py - centre(ny.float(), content_scale[0])) ** 2 + (px - centre(nx.float(), content_scale[1])) ** 2
            wgt = (torch.exp(-dist2 / (2 * sigma * sigma)) * ok).reshape(-1).to(painting.dtype)
            sy = (py + origin[0] + dy[ny, nx]).clamp(0, hp - 1)
            sx = (px + origin[1] + dx[ny, nx]).clamp(0, wp - 1)
            acc += wgt * flat[:, (sy * wp + sx).reshape(-1)]
            wsum += wgt
    image = (acc / wsum.clamp_min(1e-8)).reshape(1, -1, h, w)
    return image, wsum.reshape(1, 1, h, w)
