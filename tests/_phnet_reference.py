"""Slow, literal PHNet reference for tests: Python loops over patches, written straight from the spec (PHNET.md).

Nothing here is vectorised on purpose; it is the definition the fast implementation in
``harmonization.models.phnet`` is compared with. It reuses the module's parameters and its standard layers
(convolutions, norms) but none of its patch code, statistics, skip-fusion or SE folding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from harmonization.models.phnet import PatchColorTransfer, PatchNormalization, PHNet


def loop_patch_bounds(size: int, grid: int) -> list[tuple[int, int]]:
    """Patch intervals: size // grid each, the last one runs to the end."""
    step = size // grid
    bounds = []
    for i in range(grid):
        start = i * step
        end = (i + 1) * step if i < grid - 1 else size
        bounds.append((start, end))
    return bounds


def _masked_mean_std(f: torch.Tensor, r: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.sum(f * r, dim=(2, 3), keepdim=True) / (torch.sum(r, dim=(2, 3), keepdim=True) + eps)
    var = torch.sum(((f - mean) * r) ** 2, dim=(2, 3), keepdim=True) / (torch.sum(r, dim=(2, 3), keepdim=True) + eps)
    return mean, torch.sqrt(var + eps)


def reference_pn(block: PatchNormalization, f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """PN(f, f, m) with a loop over the g x g patches."""
    eps = 1e-7
    g = block.grid
    height, width = f.shape[-2:]
    mu_b, sd_b = _masked_mean_std(f, 1 - m, eps)
    mu_f, sd_f = _masked_mean_std(f, m, eps)
    patched_mean = torch.zeros_like(mu_b)
    for i, (y0, y1) in enumerate(loop_patch_bounds(height, g)):
        for j, (x0, x1) in enumerate(loop_patch_bounds(width, g)):
            fp = f[:, :, y0:y1, x0:x1]
            rp = (1 - m)[:, :, y0:y1, x0:x1]
            mu_bp = torch.sum(fp * rp, dim=(2, 3), keepdim=True) / (torch.sum(rp, dim=(2, 3), keepdim=True) + eps)
            patched_mean = patched_mean + block.grid_weights[:, :, i : i + 1, j : j + 1] * mu_bp
    u = (f - mu_f) / sd_f
    global_out = u * sd_b + mu_b
    patched_out = u * sd_b + patched_mean
    fg_out = block.weights[0] * (global_out * block.fg_var + block.fg_bias) + block.weights[1] * (
        patched_out * block.patched_fg_var + block.patched_fg_bias
    )
    bg_out = ((f - mu_b) / sd_b) * block.bg_var + block.bg_bias
    return fg_out * m + bg_out * (1 - m)


def reference_transfer(block: PatchColorTransfer, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The colour-transferred image c (before the head), patch by patch."""
    g = block.grid
    height, width = x.shape[-2:]
    fg = x * mask
    bg = x * (1 - mask)
    mu_fg, sd_fg = fg.mean(dim=(2, 3), keepdim=True), fg.std(dim=(2, 3), keepdim=True)
    mu_bg, sd_bg = bg.mean(dim=(2, 3), keepdim=True), bg.std(dim=(2, 3), keepdim=True)
    global_out = (fg - mu_fg) * sd_bg / (sd_fg + 1e-8) + mu_bg
    local_out = torch.zeros_like(fg)
    for y0, y1 in loop_patch_bounds(height, g):
        for x0, x1 in loop_patch_bounds(width, g):
            fp = fg[:, :, y0:y1, x0:x1]
            bp = bg[:, :, y0:y1, x0:x1]
            mu_fp, sd_fp = fp.mean(dim=(2, 3), keepdim=True), fp.std(dim=(2, 3), keepdim=True)
            mu_bp, sd_bp = bp.mean(dim=(2, 3), keepdim=True), bp.std(dim=(2, 3), keepdim=True)
            local_out[:, :, y0:y1, x0:x1] = (fp - mu_fp) * sd_bp / (sd_fp + 1e-8) + mu_bp
    a = block.patch_harmonizer.grid_weights
    t = a[0] * local_out + a[1] * global_out
    return t * mask + (bg / 255) * (1 - mask)


def reference_feature_extractor(block: PatchColorTransfer, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """aux = relu(head(concat(fg, c)))."""
    c = reference_transfer(block, x, mask)
    return F.relu(block.head[0](torch.cat([x * mask, c], dim=1)))


def reference_forward(model: PHNet, composite: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The whole network, literally as described in the spec."""
    aux = reference_feature_extractor(model.feature_extractor, composite, mask)
    x = composite
    encoded = []
    for block in model.encoder:
        x = block(x)
        encoded.append(x)
    e6 = encoded[-1]
    fc = model.SE_block.fc
    s = torch.sigmoid(fc[2](torch.relu(fc[0](e6.mean(dim=(2, 3))))))[:, :, None, None]
    k = torch.sigmoid(aux.amax(dim=(2, 3)).mean(dim=1))[:, None, None, None]
    x = e6 * s + e6 * k

    masks = [mask]
    for i in range(6):
        masks.append(F.interpolate(masks[-1], scale_factor=0.5 if i % 2 == 0 else 1.0, mode="nearest"))
    masks = masks[::-1]
    skips = encoded[::-1]
    start = 7 - len(model.config.grids)
    for i in range(6):
        skip = skips[i]
        if i >= start:
            skip = reference_pn(model.normalizers[i - start], skip, masks[i])
        x = torch.relu(model.skip[i].rconv(torch.cat([x, skip], dim=1)))
        x = model.decoder[i](x)
    return torch.sigmoid(x)
