"""Closed-form matting in a narrow band along a binary mask's edge, on tensors.

:func:`matting_alpha` gives a binary mask a soft edge by solving for the alpha that best fits the colour-line model of
closed-form matting (Levin, Lischinski, Weiss, "A closed-form solution to natural image matting", PAMI 2008): in every
small window ``w_k`` of the photo the alpha is an affine function of the colour, ``alpha_i = a_k^T I_i + b_k``. The
least-squares cost of that model, with ``a`` and ``b`` eliminated, is ``alpha^T L alpha`` with the matting Laplacian
``L``. The trimap comes from the mask itself: known object = the mask eroded by ``radius``, known background = the
complement of the mask dilated by ``radius``, unknown = the band between (the same band as
:func:`harmonization.ops.matting.soft_alpha`). The unknown pixels solve ``L_uu alpha_u = -L_uk alpha_k`` with the
known ones fixed, by conjugate gradients.

``L`` is never built: it is applied with box filters (He, Sun, Tang, "Fast matting using large kernel matting
Laplacian matrices", CVPR 2010). With window means ``mu_k``, covariances ``Sigma_k`` of the photo and
``Delta_k = Sigma_k + eps U``::

    a_k = Delta_k^{-1} (mean_k(I p) - mu_k mean_k(p)),   b_k = mean_k(p) - a_k^T mu_k,
    (L p)_i = sum over the windows k that hold i of (p_i - a_k^T I_i - b_k).

Only windows entirely inside a tile are used, so the operator of each tile is exactly symmetric positive
semi-definite and CG applies. The solve runs on batches of tiles along the edge (``_on_tiles``), each with a margin of
context wide enough that the known pixels on both sides of the band pin its solution, and starts from the guided-filter
alpha. Memory is bounded by one batch of tiles, whatever the photo's size.

Shapes: images ``(B, 3, H, W)`` float RGB in [0, 1]; masks and alphas ``(B, 1, H, W)`` float in [0, 1], 1 = object.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.filters import guided_blur

from .mask import binarize, check_image, check_mask, edge_band, snap_hard
from .matting import _on_tiles, soft_alpha

__all__ = ["matting_laplacian", "matting_alpha"]


def _box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean over every ``window x window`` square entirely inside ``x``: ``(N, C, h - window + 1, w - window + 1)``."""
    return F.avg_pool2d(x, kernel_size=window, stride=1)


def _box_sum_full(x: torch.Tensor, window: int) -> torch.Tensor:
    """For every pixel of the full-size map, the sum of ``x`` (given at the window centres, ``window - 1`` smaller)
    over the windows that hold that pixel: ``(N, C, h + window - 1, w + window - 1)``."""
    pad = window - 1
    return F.avg_pool2d(F.pad(x, (pad, pad, pad, pad)), kernel_size=window, stride=1) * float(window * window)


class _Laplacian:
    """The matting Laplacian of a batch of ``(N, 3, h, w)`` images, applied matrix-free (see the module docstring).

    The window statistics (means and the inverse of each regularised covariance, a symmetric 3x3 matrix stored as
    its six entries) are computed once; :meth:`apply` then costs eight box filters per call.
    """

    def __init__(self, image: torch.Tensor, window_radius: int, eps: float) -> None:
        self.image = image
        self.window = 2 * window_radius + 1
        self.mean = _box_mean(image, self.window)  # (N, 3, h', w')
        r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
        products = torch.cat([r * r, r * g, r * b, g * g, g * b, b * b], dim=1)
        second = _box_mean(products, self.window)
        mr, mg, mb = self.mean[:, 0:1], self.mean[:, 1:2], self.mean[:, 2:3]
        srr = second[:, 0:1] - mr * mr + eps
        srg = second[:, 1:2] - mr * mg
        srb = second[:, 2:3] - mr * mb
        sgg = second[:, 3:4] - mg * mg + eps
        sgb = second[:, 4:5] - mg * mb
        sbb = second[:, 5:6] - mb * mb + eps
        # Inverse of the symmetric [[srr, srg, srb], [srg, sgg, sgb], [srb, sgb, sbb]] by cofactors.
        crr = sgg * sbb - sgb * sgb
        crg = srb * sgb - srg * sbb
        crb = srg * sgb - srb * sgg
        cgg = srr * sbb - srb * srb
        cgb = srg * srb - srr * sgb
        cbb = srr * sgg - srg * srg
        det = srr * crr + srg * crg + srb * crb  # > 0: eps > 0 makes every Delta_k positive definite
        self.inverse = torch.cat([crr, crg, crb, cgg, cgb, cbb], dim=1) / det
        ones = torch.ones_like(image[:1, :1, self.window - 1 :, self.window - 1 :])
        self.count = _box_sum_full(ones, self.window)  # windows holding each pixel: (1, 1, h, w)

    def apply(self, p: torch.Tensor) -> torch.Tensor:
        """``L p`` for ``p`` of shape ``(N, 1, h, w)``."""
        means = _box_mean(torch.cat([p, self.image * p], dim=1), self.window)
        mean_p = means[:, :1]
        cov = means[:, 1:] - self.mean * mean_p  # cov_k(I, p): (N, 3, h', w')
        c0, c1, c2 = cov[:, 0:1], cov[:, 1:2], cov[:, 2:3]
        inv = self.inverse
        a = torch.cat([inv[:, 0:1] * c0 + inv[:, 1:2] * c1 + inv[:, 2:3] * c2,
                       inv[:, 1:2] * c0 + inv[:, 3:4] * c1 + inv[:, 4:5] * c2,
                       inv[:, 2:3] * c0 + inv[:, 4:5] * c1 + inv[:, 5:6] * c2], dim=1)
        b = mean_p - (a * self.mean).sum(dim=1, keepdim=True)
        sums = _box_sum_full(torch.cat([a, b], dim=1), self.window)
        return self.count * p - (sums[:, :3] * self.image).sum(dim=1, keepdim=True) - sums[:, 3:]


def matting_laplacian(image: torch.Tensor, p: torch.Tensor, *, window_radius: int = 1, eps: float = 1e-5
                      ) -> torch.Tensor:
    """The closed-form matting Laplacian of ``image`` applied to ``p``, without building it.

    Args:
        image: ``(N, 3, h, w)`` float RGB in [0, 1].
        p: ``(N, 1, h, w)`` float (any values).
        window_radius: windows are ``2 * window_radius + 1`` squares, only those entirely inside the image.
        eps: regularisation added to each window's colour covariance (squared RGB units); larger favours a
            smoother alpha (``a_k`` towards 0).

    Returns:
        ``(N, 1, h, w)``: ``L p``. ``L`` is symmetric positive semi-definite and ``L 1 = 0``.
    """
    return _Laplacian(image, window_radius, eps).apply(p)


def _conjugate_gradient(operator: _Laplacian, unknown: torch.Tensor, known: torch.Tensor, start: torch.Tensor,
                        iterations: int, tolerance: float) -> torch.Tensor:
    """Solve ``L_uu x = -L_uk known`` over the ``unknown`` pixels of every tile (its own CG per tile), from ``start``.

    ``A x = U L (U x)`` with ``U`` the unknown indicator is the Laplacian restricted to the unknown pixels;
    returns ``known + U x``. Stops after ``iterations`` or once every tile's residual norm is below ``tolerance``
    times that of its right-hand side.
    """

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return unknown * operator.apply(unknown * v)

    def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * v).sum(dim=(1, 2, 3), keepdim=True)

    rhs = -unknown * operator.apply(known)
    x = unknown * start
    residual = rhs - matvec(x)
    direction = residual.clone()
    rr = dot(residual, residual)
    goal = (tolerance * tolerance) * dot(rhs, rhs).clamp_min(1e-30)
    for _ in range(iterations):
        if bool((rr <= goal).all()):
            break
        ad = matvec(direction)
        curvature = dot(direction, ad)
        # Converged tiles stop moving; so does a tile whose direction has no curvature left (the Laplacian is only
        # semi-definite: an unknown region that touches no known pixel of its tile has a flat direction).
        active = (rr > goal) & (curvature > 1e-12 * rr)
        step = torch.where(active, rr / curvature.clamp_min(1e-30), 0.0)
        x = x + step * direction
        residual = residual - step * ad
        new_rr = dot(residual, residual)
        direction = residual + torch.where(active, new_rr / rr.clamp_min(1e-30), 0.0) * direction
        rr = torch.where(active, new_rr, 0.0)
    return known + unknown * x


def matting_alpha(
    image: torch.Tensor,
    mask: torch.Tensor,
    radius: int,
    *,
    window_radius: int = 1,
    eps: float = 1e-5,
    iterations: int = 60,
    tolerance: float = 1e-3,
    smooth_radius: int = 0,
    smooth_eps: float = 1e-2,
    tile: int | None = None,
    margin: int | None = None,
    chunk: int | None = None,
) -> torch.Tensor:
    """A soft edge for a binary mask by closed-form matting in the band of ``radius`` pixels on each side of the edge.

    Known object: the mask eroded by ``radius`` (square neighbourhood); known background: beyond the mask dilated by
    ``radius``; the band between is solved (see the module docstring) from the guided-filter alpha of
    :func:`~harmonization.ops.matting.soft_alpha` (same ``radius``), by at most ``iterations`` steps of conjugate
    gradients per tile. With ``smooth_radius`` the solution is then smoothed by a guided filter with the photo as
    guide (window ``2 * smooth_radius + 1``, regularisation ``smooth_eps``): the colour-line fit of 3x3 windows
    follows the photo's texture and noise too, and the guided filter (itself a local linear model of the alpha in the
    colour) averages that out while keeping the transition where the colour changes. The result is clamped to
    [0, 1], values within 0.5/255 of 0 or 1 are snapped to it, and every pixel outside the band keeps the binary
    value exactly (1 inside, 0 outside).

    Args:
        image: ``(B, 3, H, W)`` float RGB in [0, 1], the photo the mask was drawn on.
        mask: ``(B, 1, H, W)`` in [0, 1], binarised at 0.5.
        radius: half-width of the unknown band in pixels (>= 1).
        window_radius: the colour-line windows are ``2 * window_radius + 1`` squares.
        eps: regularisation of each window's colour covariance; larger gives a smoother, less colour-driven alpha.
        iterations: the most CG steps per tile; tolerance: relative residual at which a tile stops.
        smooth_radius: radius of the guided filter applied to the solution (0: none); smooth_eps: its
            regularisation in squared RGB units.
        tile: core size of a tile (default ``max(32, 4 * radius + 2)``); margin: context on each side (default
            ``3 * radius + 2 * window_radius + smooth_radius + 2``: the band and the known pixels beyond it);
            chunk: tiles per batch.

    Returns:
        ``(B, 1, H, W)`` float alpha in [0, 1] in ``image``'s dtype and device.
    """
    check_image(image, "image")
    check_mask(mask, image, "mask")
    if radius < 1 or window_radius < 1:
        raise ValueError(f"radius and window_radius must be at least 1 pixel; got {radius} and {window_radius}.")
    if smooth_radius < 0 or smooth_eps <= 0:
        raise ValueError(f"smooth_radius must be >= 0 and smooth_eps positive; got {smooth_radius} and {smooth_eps}.")
    if eps <= 0 or iterations < 0 or tolerance <= 0:
        raise ValueError(f"eps and tolerance must be positive and iterations >= 0; got eps={eps}, "
                         f"iterations={iterations}, tolerance={tolerance}.")
    hard = binarize(mask.to(image.dtype))
    band = edge_band(hard, radius)
    start = soft_alpha(image, hard, radius)
    out = hard.clone()
    tile = max(32, 4 * radius + 2) if tile is None else tile
    margin = 3 * radius + 2 * window_radius + smooth_radius + 2 if margin is None else margin

    def solve(image_tiles: torch.Tensor, hard_tiles: torch.Tensor, band_tiles: torch.Tensor,
              start_tiles: torch.Tensor) -> torch.Tensor:
        operator = _Laplacian(image_tiles, window_radius, eps)
        known = torch.where(band_tiles > 0, 0.0, hard_tiles)
        alpha = _conjugate_gradient(operator, band_tiles, known, start_tiles, iterations, tolerance).clamp(0.0, 1.0)
        if smooth_radius:
            alpha = guided_blur(image_tiles, alpha, 2 * smooth_radius + 1, smooth_eps).clamp(0.0, 1.0)
        alpha = snap_hard(alpha)
        return torch.where(band_tiles > 0, alpha, hard_tiles)

    band_float = band.to(image.dtype)
    for i in range(image.shape[0]):
        _on_tiles(solve, [image[i : i + 1], hard[i : i + 1], band_float[i : i + 1], start[i : i + 1]],
                  out[i : i + 1], band[i, 0], tile=tile, margin=margin, chunk=chunk)
    return out
