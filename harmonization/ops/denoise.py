"""Chrominance denoising inside a region (the first post-processing step of Luan et al. 2018).

Style optimisation leaves colour speckles (high-frequency noise in the chroma) that a painting does not have; the
luminance carries the brush strokes and must stay. :func:`denoise_chroma` filters only the a/b channels of CIELAB:
a median filter removes isolated speckles, then a guided filter (He et al.) guided by the luminance smooths the
chroma except across luminance edges, so colour boundaries stay where the strokes are.
"""

from __future__ import annotations

import torch
from kornia.filters import guided_blur, median_blur
from torch import Tensor

from .color import lab_to_rgb, rgb_to_lab
from .mask import blend, check_image, check_mask

__all__ = ["denoise_chroma"]


def denoise_chroma(image: Tensor, weight: Tensor, *, radius: int = 3, eps: float = 1e-3,
                   median_size: int = 3) -> Tensor:
    """Smooth the chroma (Lab a/b) of ``image`` inside ``weight``, keeping its luminance.

    Args:
        image: ``(B, 3, H, W)`` float RGB in [0, 1].
        weight: ``(B, 1, H, W)`` in [0, 1]: 1 = filter fully, 0 = keep the pixel bit-identical.
        radius: guided-filter window radius in pixels (window ``2 r + 1``); 0 skips the guided filter.
        eps: guided-filter regularisation in squared units of the guide ``L / 100`` (larger = smoother across
            luminance edges).
        median_size: odd median window applied to a/b first; 1 skips it.

    Returns:
        ``(B, 3, H, W)`` float RGB in [0, 1] (same dtype as ``image``): ``blend(filtered, image, weight)``.

    Raises:
        ValueError: bad shapes, an even ``median_size`` or a negative ``radius``.
    """
    check_image(image)
    check_mask(weight, image, "weight")
    if median_size < 1 or median_size % 2 == 0:
        raise ValueError(f"median_size must be a positive odd integer, got {median_size}.")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}.")
    lab = rgb_to_lab(image.float().clamp(0.0, 1.0))
    lum, ab = lab[:, :1], lab[:, 1:]
    if median_size > 1:
        ab = median_blur(ab, median_size)
    if radius > 0:
        ab = guided_blur(lum / 100.0, ab, 2 * radius + 1, eps, border_type="reflect", separable=True)
    filtered = lab_to_rgb(torch.cat([lum, ab], dim=1)).clamp(0.0, 1.0).to(image.dtype)
    return blend(filtered, image, weight.to(image.dtype))
