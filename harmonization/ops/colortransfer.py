"""Local affine colour models: carry a low-resolution colour change to full resolution.

A network predicts a harmonized image at its training resolution. Upsampling that prediction would blur the
object. Instead we fit, at low resolution, a smoothly varying affine colour map ``y = A(p) x + b(p)`` from the
low-resolution composite ``x`` to the prediction ``y`` (a weighted version of the colour guided filter of He et al.),
upsample the 12 coefficients, and apply them to the full-resolution composite: the object keeps every full-resolution
detail and takes the network's colour change (in the spirit of PCT-Net, CDTNet and Harmonizer).

Shapes: images ``(B, 3, H, W)``; weights ``(B, 1, H, W)``; coefficients ``(B, 12, h, w)`` laid out as the 9 entries of
``A`` (row-major, output channel first) followed by the 3 entries of ``b``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .checks import check_shapes
from .color import row_chunks

__all__ = ["fit_local_affine", "apply_local_affine", "fit_global_affine", "apply_global_affine",
           "anchor_to_background", "transfer_global_affine"]


def _box(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` window with zero padding (the caller normalises by the boxed weights)."""
    if radius <= 0:
        return x
    size = 2 * radius + 1
    x = F.avg_pool2d(x, kernel_size=(size, 1), stride=1, padding=(radius, 0), count_include_pad=True)
    return F.avg_pool2d(x, kernel_size=(1, size), stride=1, padding=(0, radius), count_include_pad=True)


def _solve_3x3(lhs: torch.Tensor, rhs: torch.Tensor) -> torch.Tensor:
    """Solve ``lhs @ X = rhs`` for stacks of 3x3 systems with the adjugate formula (far faster than a batched LU
    for millions of tiny systems). ``lhs``: ``(B, 3, 3, h, w)``; ``rhs``: ``(B, 3, k, h, w)``."""
    a, b, c = lhs[:, 0, 0], lhs[:, 0, 1], lhs[:, 0, 2]
    d, e, f = lhs[:, 1, 0], lhs[:, 1, 1], lhs[:, 1, 2]
    g, h, i = lhs[:, 2, 0], lhs[:, 2, 1], lhs[:, 2, 2]
    co00, co01, co02 = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * co00 + b * co01 + c * co02
    inverse = torch.stack([
        torch.stack([co00, c * h - b * i, b * f - c * e], dim=1),
        torch.stack([co01, a * i - c * g, c * d - a * f], dim=1),
        torch.stack([co02, b * g - a * h, a * e - b * d], dim=1),
    ], dim=1) / det[:, None, None]
    return torch.einsum("bijhw,bjkhw->bikhw", inverse, rhs)


def fit_local_affine(
    source: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor,
    *,
    radius: int = 8,
    eps: float = 1e-5,
    prior: float = 0.01,
    stride: int = 1,
) -> torch.Tensor:
    """Fit per-pixel affine colour maps ``target ~ A source + b`` over weighted windows.

    Every pixel's window statistics (means and covariances of ``source`` and ``target`` under ``weight``) are mixed
    with the statistics over the whole weighted region in proportion ``density : prior`` (``density`` = the window's
    mean weight), so windows with little or no weight fall back smoothly to one global affine map. The solution of
    the ridge-regularised least-squares problem ``(C_xx + eps I) A^T = C_xy`` is then averaged over the window again,
    as in the guided filter, so the coefficients vary smoothly.

    Args:
        source: ``(B, 3, h, w)`` the low-resolution input image (float, [0, 1]).
        target: ``(B, 3, h, w)`` the low-resolution prediction.
        weight: ``(B, 1, h, w)`` in [0, 1]: where the fit matters (e.g. the object's mask).
        radius: window radius in low-resolution pixels.
        eps: ridge regularisation of the colour covariance (larger = closer to a per-window offset).
        prior: weight of the global statistics relative to a fully weighted window.
        stride: compute the window statistics on a grid ``stride`` times coarser (moments are area-averaged first,
            and ``radius`` is then measured in coarse pixels), as in the fast guided filter; the coefficients are
            smooth, so a coarse grid loses little and saves most of the work.

    Returns:
        ``(B, 12, ceil(h / stride), ceil(w / stride))`` coefficients (``A`` row-major, then ``b``), float32.
    """
    check_shapes(source=(source, "B 3 h w"), target=(target, "B 3 h w"), weight=(weight, "B 1 h w"))
    x = source.float()
    y = target.float()
    w = weight.float()
    batch, _, height, width = x.shape
    # Second moments: x_i x_j (9) and x_i y_j (9), then first moments x (3), y (3), all weighted.
    xx = (x[:, :, None] * x[:, None, :]).reshape(batch, 9, height, width)
    xy = (x[:, :, None] * y[:, None, :]).reshape(batch, 9, height, width)
    moments = torch.cat([x, y, xx, xy], dim=1)  # 24 channels
    weighted = moments * w
    if stride > 1:
        weighted = F.avg_pool2d(weighted, stride, ceil_mode=True)
        w = F.avg_pool2d(w, stride, ceil_mode=True)
        height, width = w.shape[-2:]
    local = _box(weighted, radius)
    density = _box(w, radius)
    total = w.sum(dim=(-2, -1), keepdim=True)
    global_moments = weighted.sum(dim=(-2, -1), keepdim=True) / total.clamp_min(1e-6)
    mixed = (local + prior * global_moments) / (density + prior)
    mean_x, mean_y = mixed[:, 0:3], mixed[:, 3:6]
    exx = mixed[:, 6:15].reshape(batch, 3, 3, height, width)
    exy = mixed[:, 15:24].reshape(batch, 3, 3, height, width)
    cov_xx = exx - mean_x[:, :, None] * mean_x[:, None, :]
    cov_xy = exy - mean_x[:, :, None] * mean_y[:, None, :]
    eye = torch.eye(3, dtype=x.dtype, device=x.device).view(1, 3, 3, 1, 1)
    a_t = _solve_3x3(cov_xx + eps * eye, cov_xy)  # A^T: (B, 3in, 3out, h, w)
    a = a_t.transpose(1, 2).reshape(batch, 9, height, width)  # A row-major: (out, in)
    b = mean_y - torch.einsum("bijhw,bjhw->bihw", a.reshape(batch, 3, 3, height, width), mean_x)
    coefficients = torch.cat([a, b], dim=1)
    # Guided-filter style smoothing of the coefficients themselves (weighted the same way).
    smooth = (_box(coefficients * w, radius) + prior * (coefficients * w).sum(dim=(-2, -1), keepdim=True)
              / total.clamp_min(1e-6)) / (density + prior)
    return smooth


def apply_local_affine(
    image: torch.Tensor, coefficients: torch.Tensor, *, rows_per_chunk: int | None = None
) -> torch.Tensor:
    """Apply low-resolution affine colour maps to a full-resolution image.

    The coefficients are upsampled bilinearly (``align_corners=False``, i.e. as ``F.interpolate``) chunk by chunk of
    rows, so memory stays bounded for large images.

    Args:
        image: ``(B, 3, H, W)`` float in [0, 1].
        coefficients: ``(B, 12, h, w)`` from :func:`fit_local_affine`, fitted on a resized copy of ``image``.
        rows_per_chunk: output rows processed at once (default 512, fewer for images wider than 4096 px, so a
            band stays near :data:`harmonization.ops.color.CHUNK_PIXELS` pixels).

    Returns:
        ``(B, 3, H, W)`` in [0, 1] (clamped), same dtype as ``image``.
    """
    check_shapes(image=(image, "B 3 H W"), coefficients=(coefficients, "B 12 h w"))
    batch, _, height, width = image.shape
    coefficients = coefficients.to(device=image.device, dtype=torch.float32)
    # Normalised sampling positions of pixel centres (align_corners=False convention of grid_sample).
    xs = (torch.arange(width, device=image.device, dtype=torch.float32) + 0.5) / width * 2 - 1
    out = torch.empty_like(image)
    if rows_per_chunk is None:
        rows_per_chunk = min(512, max(1, row_chunks(height, width)[0].stop))
    for top in range(0, height, rows_per_chunk):
        bottom = min(height, top + rows_per_chunk)
        ys = (torch.arange(top, bottom, device=image.device, dtype=torch.float32) + 0.5) / height * 2 - 1
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)  # (rows, W, 2) as (x, y)
        grid = grid.unsqueeze(0).expand(batch, -1, -1, -1)
        coeff = F.grid_sample(coefficients, grid, mode="bilinear", padding_mode="border", align_corners=False)
        a = coeff[:, :9].reshape(batch, 3, 3, bottom - top, width)
        b = coeff[:, 9:]
        x = image[:, :, top:bottom].float()
        y = torch.einsum("bijhw,bjhw->bihw", a, x) + b
        out[:, :, top:bottom] = y.clamp(0.0, 1.0).to(image.dtype)
    return out


def fit_global_affine(
    source: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, *, ridge: float = 1e-2
) -> torch.Tensor:
    """Fit one affine colour map ``target ~ A source + b`` per image by weighted ridge least squares.

    The ridge pulls ``A`` towards the identity (not towards zero), so a region with little colour variety gives a
    near-identity gain with a fitted offset instead of a degenerate map. Differentiable (used in training).

    Args:
        source: ``(B, 3, h, w)`` float images.
        target: ``(B, 3, h, w)`` float images.
        weight: ``(B, 1, h, w)`` in [0, 1]: which pixels count (e.g. the background).
        ridge: strength of the pull of ``A`` towards the identity, relative to the colour variance.

    Returns:
        ``(B, 3, 4)`` float32: ``A`` in columns 0-2 (row = output channel), ``b`` in column 3.
    """
    check_shapes(source=(source, "B 3 h w"), target=(target, "B 3 h w"), weight=(weight, "B 1 h w"))
    x = source.float().flatten(2)  # (B, 3, N)
    y = target.float().flatten(2)
    w = weight.float().flatten(2)
    total = w.sum(dim=-1, keepdim=True).clamp_min(1e-6)  # (B, 1, 1)
    mean_x = (x * w).sum(-1, keepdim=True) / total  # (B, 3, 1)
    mean_y = (y * w).sum(-1, keepdim=True) / total
    xc, yc = x - mean_x, y - mean_y
    cov_xx = (xc * w) @ xc.transpose(1, 2) / total  # (B, 3, 3)
    cov_xy = (xc * w) @ yc.transpose(1, 2) / total  # (B, 3in, 3out)
    eye = torch.eye(3, dtype=x.dtype, device=x.device).expand_as(cov_xx)
    # (C_xx + r I) A^T = C_xy + r I  ->  A = I when the region has no colour variance.
    a_t = torch.linalg.solve(cov_xx + ridge * eye, cov_xy + ridge * eye)
    a = a_t.transpose(1, 2)
    b = mean_y - a @ mean_x
    return torch.cat([a, b], dim=-1)


def apply_global_affine(image: torch.Tensor, coefficients: torch.Tensor, *, rows_per_chunk: int | None = None
                        ) -> torch.Tensor:
    """Apply per-image affine colour maps from :func:`fit_global_affine`.

    A large image is mapped a band of rows at a time into the output (each pixel on its own, so the result is the
    same), which keeps the temporaries small; gradients flow as through the one-piece computation.

    Args:
        image: ``(B, 3, H, W)`` float.
        coefficients: ``(B, 3, 4)``.
        rows_per_chunk: rows mapped at once (default: about :data:`harmonization.ops.color.CHUNK_PIXELS` pixels).

    Returns:
        ``(B, 3, H, W)`` float32, not clamped (the caller decides).
    """
    if coefficients.shape != (image.shape[0], 3, 4):
        raise ValueError(f"coefficients must be (B, 3, 4) with the image's batch; got {tuple(coefficients.shape)}.")
    a, b = coefficients[..., :3], coefficients[..., 3:]
    height, width = image.shape[-2:]
    chunks = row_chunks(height, width) if rows_per_chunk is None else \
        [slice(top, min(height, top + rows_per_chunk)) for top in range(0, height, max(1, rows_per_chunk))]
    if len(chunks) <= 1 or torch.is_grad_enabled() and (image.requires_grad or coefficients.requires_grad):
        return torch.einsum("bij,bjhw->bihw", a, image.float()) + b[..., None]
    out = torch.empty(image.shape, dtype=torch.float32, device=image.device)
    for rows in chunks:
        out[:, :, rows] = torch.einsum("bij,bjhw->bihw", a, image[:, :, rows].float()) + b[..., None]
    return out


def anchor_to_background(
    prediction: torch.Tensor, composite: torch.Tensor, mask: torch.Tensor, *, ridge: float = 1e-2
) -> torch.Tensor:
    """Map a whole-image prediction with one affine colour transform so that its background matches the composite's.

    A network whose every input path is instance-normalised (PHNet) cannot see the image's global colour level: its
    output is nearly the same for ``x`` and ``0.5 x``. The background of the composite is known to be right, so the
    transform that takes the predicted background onto the real one is fitted (:func:`fit_global_affine` over
    ``1 - mask``) and applied to the whole prediction; the object then sits at the right level relative to the
    scene. Differentiable; used in training and in the pipeline for checkpoints trained this way.

    Args:
        prediction: ``(B, 3, h, w)`` float network output.
        composite: ``(B, 3, h, w)`` float input of the network, [0, 1].
        mask: ``(B, 1, h, w)`` in [0, 1], 1 = object (excluded from the fit).
        ridge: see :func:`fit_global_affine`.

    Returns:
        ``(B, 3, h, w)`` float32 (not clamped).
    """
    coefficients = fit_global_affine(prediction, composite, 1.0 - mask.float(), ridge=ridge)
    return apply_global_affine(prediction, coefficients)


def transfer_global_affine(
    source: torch.Tensor, prediction: torch.Tensor, mask: torch.Tensor, image: torch.Tensor | None = None,
    *, ridge: float = 1e-2
) -> torch.Tensor:
    """Carry a prediction's colour change over the object as ONE affine colour map of the input.

    The map ``prediction ~ A source + b`` is fitted over ``mask`` (:func:`fit_global_affine`) and applied to
    ``image`` (default ``source``), e.g. the full-resolution composite: the object keeps all its detail and takes
    the prediction's colour statistics. Differentiable.

    Args:
        source: ``(B, 3, h, w)`` the network's input (composite) at the working size.
        prediction: ``(B, 3, h, w)`` the network's output.
        mask: ``(B, 1, h, w)`` in [0, 1], the object.
        image: ``(B, 3, H, W)`` the image to recolour (any size); default ``source``.
        ridge: see :func:`fit_global_affine`.

    Returns:
        ``(B, 3, H, W)`` float32 (not clamped).
    """
    coefficients = fit_global_affine(source, prediction, mask.float(), ridge=ridge)
    return apply_global_affine(source if image is None else image, coefficients)
