"""Patch matching ops (harmonization.ops.matching) against brute-force references written as plain loops."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harmonization.ops.matching import (
    consistent_matches,
    gather_matches,
    map_matches,
    match_patches,
    resample_by_matches,
)


def _brute_force_matches(content: torch.Tensor, style: torch.Tensor, cmask: torch.Tensor,
                         smask: torch.Tensor) -> torch.Tensor:
    cp = F.unfold(content, 3, padding=1)[0].T
    sp = F.unfold(style, 3, padding=1)[0].T
    out = torch.full((cp.shape[0],), -1, dtype=torch.long)
    for i in range(cp.shape[0]):
        if cmask.flatten()[i] <= 0:
            continue
        best, best_j = -2.0, -1
        for j in range(sp.shape[0]):
            if smask.flatten()[j] <= 0:
                continue
            cos = float(torch.dot(cp[i], sp[j]) / (cp[i].norm() * sp[j].norm()))
            if cos > best:
                best, best_j = cos, j
        out[i] = best_j
    return out


def _brute_force_consistent(index: torch.Tensor, style: torch.Tensor, h: int, w: int, smask: torch.Tensor,
                            radius: int = 2) -> torch.Tensor:
    """Luan et al.'s neighbour voting, literally: for each p, each neighbour's shifted match, each window term."""
    hs, ws = style.shape[-2:]
    unit = style[0].reshape(style.shape[1], -1)
    unit = unit / unit.norm(dim=0, keepdim=True).clamp_min(1e-8)
    allowed = smask.flatten() > 0
    out = index.clone()
    window = [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]
    for py in range(h):
        for px in range(w):
            if index[py * w + px] < 0:
                continue
            best, best_c = float("inf"), None
            for dy, dx in window:
                ny, nx = py + dy, px + dx
                if not (0 <= ny < h and 0 <= nx < w) or index[ny * w + nx] < 0:
                    continue
                q = int(index[ny * w + nx])
                cy, cx = q // ws - dy, q % ws - dx
                if not (0 <= cy < hs and 0 <= cx < ws) or not allowed[cy * ws + cx]:
                    continue
                cost = 0.0
                for ey, ex in window:
                    my, mx = py + ey, px + ex
                    if not (0 <= my < h and 0 <= mx < w) or index[my * w + mx] < 0:
                        continue
                    ry, rx = cy + ey, cx + ex
                    if not (0 <= ry < hs and 0 <= rx < ws) or not allowed[ry * ws + rx]:
                        cost += 2.0
                        continue
                    a, b = unit[:, ry * ws + rx], unit[:, int(index[my * w + mx])]
                    cost += float((a - b).square().sum())
                if cost < best - 1e-5:
                    best, best_c = cost, cy * ws + cx
            out[py * w + px] = best_c
    return out


def test_patch_matching_finds_the_true_neighbours() -> None:
    g = torch.Generator().manual_seed(3)
    style = torch.randn(1, 8, 10, 12, generator=g)
    content = style[..., 2:8, 3:10].clone() * 2.5  # a scaled crop: cosine similarity is 1 at the true position
    cmask = torch.zeros(1, 1, 6, 7)
    cmask[..., 1:5, 1:6] = 1  # interior only (border patches see zero padding)
    idx = match_patches(content, style, cmask)
    ys, xs = torch.meshgrid(torch.arange(6), torch.arange(7), indexing="ij")
    truth = ((ys + 2) * 12 + (xs + 3)).flatten()
    inside = cmask.flatten() > 0
    assert torch.equal(idx[inside], truth[inside])
    assert torch.all(idx[~inside] == -1)
    rearranged = gather_matches(style, idx, (6, 7))
    assert torch.equal(rearranged[..., 2, 3], style[..., 4, 6])
    assert torch.equal(rearranged[..., 0, 0], torch.zeros(1, 8))  # unmatched positions gather zeros


def test_patch_matching_equals_brute_force_with_candidate_mask() -> None:
    g = torch.Generator().manual_seed(4)
    content = torch.randn(1, 4, 5, 6, generator=g)
    style = torch.randn(1, 4, 7, 6, generator=g)
    cmask = (torch.rand(1, 1, 5, 6, generator=g) > 0.4).float()
    smask = (torch.rand(1, 1, 7, 6, generator=g) > 0.5).float()
    idx = match_patches(content, style, cmask, smask)
    assert torch.equal(idx, _brute_force_matches(content, style, cmask, smask))
    with pytest.raises(ValueError, match="no candidate"):
        match_patches(content, style, cmask, torch.zeros_like(smask))
    with pytest.raises(ValueError, match="channel"):
        match_patches(content, style[:, :3])


def test_bf16_matching_agrees_with_float32_on_clear_matches() -> None:
    g = torch.Generator().manual_seed(5)
    style = torch.rand(1, 16, 12, 12, generator=g)
    content = style[..., 3:9, 2:10].clone()
    cmask = torch.zeros(1, 1, 6, 8)
    cmask[..., 1:5, 1:7] = 1
    assert torch.equal(match_patches(content, style, cmask, dtype=torch.bfloat16), match_patches(content, style, cmask))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_consistent_mapping_equals_brute_force(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    h, w, hs, ws = 7, 8, 9, 10
    style = torch.rand(1, 6, hs, ws, generator=g)
    smask = (torch.rand(1, 1, hs, ws, generator=g) > 0.2).float()
    candidates = torch.nonzero(smask.flatten() > 0).flatten()
    index = candidates[torch.randint(0, candidates.numel(), (h * w,), generator=g)]
    index[torch.rand(h * w, generator=g) < 0.25] = -1  # some positions unmatched
    content = torch.zeros(1, 6, h, w)
    ours = consistent_matches(content, style, index, smask)
    reference = _brute_force_consistent(index, style, h, w, smask)
    assert torch.equal(ours, reference)
    assert torch.equal(ours < 0, index < 0)
    assert bool((smask.flatten()[ours[ours >= 0]] > 0).all())


def test_consistent_mapping_repairs_an_outlier_in_a_coherent_field() -> None:
    g = torch.Generator().manual_seed(7)
    style = torch.rand(1, 8, 12, 12, generator=g)
    ys, xs = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    coherent = ((ys + 3) * 12 + (xs + 4)).flatten()  # a translated copy of the painting
    noisy = coherent.clone()
    noisy[2 * 6 + 3] = 0  # one wrong match in the middle
    fixed = consistent_matches(torch.zeros(1, 8, 6, 6), style, noisy)
    assert torch.equal(fixed, coherent)
    assert torch.equal(consistent_matches(torch.zeros(1, 8, 6, 6), style, coherent), coherent)


def test_map_matches_keeps_sub_positions() -> None:
    # coarse 2x2 grid matched to a shifted 2x2 block of a 3x3 style grid; mapping to factor 2 keeps sub-positions
    coarse = torch.tensor([1 * 3 + 1, 1 * 3 + 2, 2 * 3 + 1, 2 * 3 + 2])
    fine = map_matches(coarse, (2, 2), (3, 3), 2, (4, 4), (6, 6))
    ys, xs = torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij")
    assert torch.equal(fine, ((ys + 2) * 6 + (xs + 2)).flatten())
    masked = map_matches(coarse, (2, 2), (3, 3), 2, (4, 4), (6, 6), fine_mask=(ys < 2).float().view(1, 1, 4, 4))
    assert torch.all(masked.view(4, 4)[2:] == -1) and torch.equal(masked.view(4, 4)[:2], fine.view(4, 4)[:2])


def test_full_resolution_resampling_by_matches() -> None:
    painting = torch.rand(1, 3, 40, 48)
    # identity matches on a half-resolution 4-px grid (5 x 6 cells) rebuild the painting at full resolution
    ident = torch.arange(5 * 6)
    image, weight = resample_by_matches(painting, ident, (5, 6), (5, 6), 4, (40, 48), (0.5, 0.5), (0.5, 0.5))
    assert torch.allclose(image, painting, atol=1e-5) and bool((weight > 0).all())
    # a content region at origin (8, 16) whose cells all match the cell one to the right: shift by 8 px
    shifted = torch.arange(5 * 6).view(5, 6)[1:3, 2:4].flatten() + 1
    image, _ = resample_by_matches(painting, shifted, (2, 2), (5, 6), 4, (16, 16), (0.5, 0.5), (0.5, 0.5), (8, 16))
    assert torch.allclose(image, painting[..., 8:24, 24:40], atol=1e-5)
