"""Edge-aware upsampling of a mask computed at a reduced size: the fast guided filter.

A mask found on a small copy of a photo (a few hundred pixels on the long side, where segmentation is fast) is
brought back to the photo's full resolution so that its edge follows the full-resolution photo, not the small copy's
pixel grid. :func:`guided_upsample` is the fast guided filter (He and Sun, "Fast guided filter", 2015; the guided
filter of He, Sun and Tang, ECCV 2010): in every ``(2r + 1)^2`` window of the small copy the mask is modelled as an
affine function of the colour, ``q = a . I + b``; the coefficients are averaged over the windows, upsampled
bilinearly and applied to the full-resolution colours. Where the mask is constant over a window ``a = 0`` and
``q`` is that constant, so the solid interior and the far background are kept exactly.

The full-resolution pass computes only the tiles (:data:`TILE` pixels a side) that hold part of the edge; every other
pixel takes its nearest small pixel's value, which is exact there. Its memory is a few tiles besides the output mask,
and its time grows with the edge's length, not the photo's area (a 20-megapixel photo: a fraction of a second).

Shapes: images ``(1, 3, H, W)`` float RGB in [0, 1]; masks ``(1, 1, H, W)`` float in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_shapes
from .mask import HARD_TOLERANCE, dilate, erode, snap_hard

__all__ = ["TILE", "guided_coefficients", "guided_upsample"]

#: The full-resolution pass works on square tiles of this many pixels a side, and only on those near an edge.
TILE = 256


def guided_coefficients(guide: torch.Tensor, mask: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    """Window-averaged coefficients ``(a_r, a_g, a_b, b)`` of the colour guided filter, ``q = a . I + b``.

    Args:
        guide: ``(B, 3, h, w)`` float RGB in [0, 1].
        mask: ``(B, 1, h, w)`` float in [0, 1], the input to filter.
        radius: window half-width in pixels (>= 1).
        eps: regularisation in squared RGB units (> 0); larger makes ``a`` smaller (smoother, less colour-driven).

    Returns:
        ``(B, 4, h, w)`` float32: the three colour coefficients then the offset, each averaged over the windows
        that hold the pixel.
    """
    check_shapes(guide=(guide, "B 3 H W"), mask=(mask, "B 1 H W"))
    if radius < 1:
        raise ValueError(f"radius must be at least 1 pixel; got {radius}.")
    if eps <= 0:
        raise ValueError(f"eps must be positive; got {eps}.")
    guide = guide.float()
    mask = mask.float()
    if min(guide.shape[-2:]) <= radius:
        raise ValueError(f"The guide is {tuple(guide.shape[-2:])} px; the window radius {radius} needs more than "
                         f"{radius} px on each side.")

    def mean(x: torch.Tensor) -> torch.Tensor:  # box mean over the window, borders mirrored
        padded = F.pad(x, (radius, radius, radius, radius), mode="reflect")
        return F.avg_pool2d(padded, 2 * radius + 1, stride=1)

    mean_i = mean(guide)
    mean_p = mean(mask)
    cov_ip = mean(guide * mask) - mean_i * mean_p
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    products = torch.cat([guide[:, i : i + 1] * guide[:, j : j + 1] for i, j in pairs], dim=1)
    means = torch.cat([mean_i[:, i : i + 1] * mean_i[:, j : j + 1] for i, j in pairs], dim=1)
    var = mean(products) - means
    batch, _, height, width = guide.shape
    sigma = torch.empty(batch, height, width, 3, 3, dtype=torch.float32, device=guide.device)
    for k, (i, j) in enumerate(pairs):
        sigma[..., i, j] = var[:, k]
        sigma[..., j, i] = var[:, k]
    sigma = sigma + eps * torch.eye(3, dtype=torch.float32, device=guide.device)
    a = torch.linalg.solve(sigma, cov_ip.permute(0, 2, 3, 1).unsqueeze(-1)).squeeze(-1).permute(0, 3, 1, 2)
    b = mean_p - (a * mean_i).sum(dim=1, keepdim=True)
    return mean(torch.cat([a, b], dim=1))


def guided_upsample(
    small_mask: torch.Tensor,
    small_image: torch.Tensor,
    image: torch.Tensor,
    *,
    radius: int = 2,
    eps: float = 1e-3,
) -> torch.Tensor:
    """Bring a mask found on a small copy of ``image`` to ``image``'s size, its edge following ``image``.

    Args:
        small_mask: ``(1, 1, h, w)`` float in [0, 1], the mask at the small size (binary or soft).
        small_image: ``(1, 3, h, w)`` float RGB in [0, 1], the small copy the mask was found on.
        image: ``(1, 3, H, W)`` float RGB in [0, 1], the full-resolution photo (``H >= h``, ``W >= w``).
        radius: window half-width at the small size (>= 1); the edge may move by about this many small pixels.
        eps: guided-filter regularisation in squared RGB units (> 0).

    Returns:
        ``(1, 1, H, W)`` float32 in [0, 1] on ``image``'s device: the small mask's value (nearest small pixel) wherever
        the small mask is constant within ``2 * radius + 1`` small pixels, the filtered value elsewhere (snapped to 0
        or 1 within 0.5/255).
    """
    check_shapes(small_image=(small_image, "1 3 h w"), small_mask=(small_mask, "1 1 h w"), image=(image, "1 3 H W"))
    coefficients = guided_coefficients(small_image, small_mask, radius, eps).to(image.device)
    # The filter changes a value only where the mask varies within a window of a window (2r + 1 pixels).
    reach = 2 * radius + 1
    small_mask = small_mask.float().to(image.device)
    varying = (dilate(small_mask, reach) - erode(small_mask, reach)) > HARD_TOLERANCE
    small_h, small_w = small_mask.shape[-2:]
    height, width = image.shape[-2:]
    # Everywhere the small mask is constant around a pixel, that constant is its nearest small pixel's value.
    out = F.interpolate(small_mask, size=(height, width), mode="nearest-exact")
    exact = torch.cat([small_mask, varying.float()], dim=1)
    for top in range(0, height, TILE):
        bottom = min(height, top + TILE)
        rows = slice(max(0, top * small_h // height - 1), min(small_h, -(-bottom * small_h // height) + 1))
        for left in range(0, width, TILE):
            right = min(width, left + TILE)
            cols = slice(max(0, left * small_w // width - 1), min(small_w, -(-right * small_w // width) + 1))
            if not bool(varying[..., rows, cols].any()):
                continue  # a tile far from every edge: the nearest value is exact
            ys = (torch.arange(top, bottom, dtype=torch.float32, device=image.device) + 0.5) / height * 2.0 - 1.0
            xs = (torch.arange(left, right, dtype=torch.float32, device=image.device) + 0.5) / width * 2.0 - 1.0
            grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)[None]
            # grid_sample at the pixel centres with align_corners=False is F.interpolate(mode="bilinear") here.
            local = F.grid_sample(coefficients, grid, mode="bilinear", padding_mode="border", align_corners=False)
            nearest = F.grid_sample(exact, grid, mode="nearest", padding_mode="border", align_corners=False)
            colour = image[..., top:bottom, left:right].float()
            q = ((local[:, :3] * colour).sum(dim=1, keepdim=True) + local[:, 3:]).clamp(0.0, 1.0)
            q = snap_hard(q)
            out[..., top:bottom, left:right] = torch.where(nearest[:, 1:] > 0, q, nearest[:, :1])
    return out
