"""Post-processing of the local mode: chrominance denoising, the painting's fine texture at full resolution, blend.

1. (in :mod:`.fuse`, on the pass-2 result at the working size) :func:`~harmonization.ops.denoise.denoise_chroma`
   inside the region (Lab a/b: median, then a guided filter guided by the luminance), which removes the colour
   speckles of the optimisation.
2. :func:`rebuild_detail`: the optimisation works at a reduced size and with smooth losses, so the region lacks the
   painting's finest strokes. The result is matched once more against the painting (3x3 patches at
   ``detail_layer``, relu4_1 by default: it picks painting places of similar structure rather than merely similar
   smoothness, and copies coherent pieces of strokes; made consistent by neighbour voting); the painting's own fine
   texture (image minus a Gaussian blur) is fetched at FULL resolution through that match field, scaled to the
   stroke strength of the painting around the region, and replaces the region's fine texture.
3. :func:`restore_structure`: the optimisation cannot keep the photo's structure finer than a few working pixels
   (at "preview", 256 px for the whole image, a face's eyes and mouth are one or two pixels), so the luminance band
   between the fine texture's cut-off and ``structure_px`` working pixels (in full-resolution pixels) is taken from
   the photo: the object stays recognisable while its colours and strokes stay the painting's.
4. :func:`blend_band`: a feathered blend that is exactly 0 beyond ``2 * band`` pixels, so the painting there is
   bit-identical to the input.
"""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d
from torch import Tensor

from ...models.vgg import VGGFeatures
from ...ops.color import lab_to_rgb, rgb_to_lab
from ...ops.mask import blend, dilate, erode, feather
from ...ops.matching import consistent_matches, match_patches, resample_by_matches
from ...ops.style import carry_mask_down, resize_mask
from .matching import valid_candidates
from .optimise import features
from .settings import FusionSettings

__all__ = ["blend_band", "fine_texture", "rebuild_detail", "restore_structure"]

_MAX_DETAIL_GAIN = 2.5


def fine_texture(image: Tensor, sigma: float) -> Tensor:
    """``image - gaussian_blur(image, sigma)``: the detail layer (replicate border); ``(B, C, H, W)``."""
    size = 2 * max(1, math.ceil(3.0 * sigma)) + 1
    return image - gaussian_blur2d(image, (size, size), (sigma, sigma), border_type="replicate")


def rebuild_detail(vgg: VGGFeatures, cfg: FusionSettings, result: Tensor, fused_crop: Tensor, region: Tensor,
                   painting_work: Tensor, painting_feat: Tensor, painting_obj: Tensor, composite: Tensor,
                   origin: tuple[int, int], dtype: torch.dtype | None) -> Tensor:
    """Replace the fine texture of the region by the painting's, matched by patches and copied at full resolution.

    Args:
        vgg: the extractor.
        cfg: settings (``detail``, ``detail_sigma``, ``detail_layer``).
        result: ``(1, 3, h, w)`` pass-2 result at the working size (the crop).
        fused_crop: ``(1, 3, H, W)`` the result at full resolution (the crop), after chroma denoising.
        region: ``(1, 1, H, W)`` where texture is replaced (full resolution, the crop).
        painting_work: ``(1, 3, hp, wp)`` the whole composite at the working size (for the grid scales).
        painting_feat: ``(1, C, hp_l, wp_l)`` its features at ``detail_layer`` (computed once in pass 2).
        painting_obj: ``(1, 1, hp, wp)`` dilated pasted region of the whole composite (excluded as a source).
        composite: ``(1, 3, Hf, Wf)`` the whole composite at full resolution (the source of the texture).
        origin: ``(y0, x0)`` of the crop in the composite.
        dtype: autocast / matching dtype.

    Returns:
        ``(1, 3, H, W)`` in [0, 1].
    """
    layer = cfg.detail_layer
    pos = vgg.layer_position(layer)
    kinds = vgg.kinds()
    f_res = features(vgg, result, [layer], dtype)[layer]
    work_mask = (resize_mask(region, tuple(result.shape[-2:])) > 0).float()
    res_mask = carry_mask_down(work_mask, kinds)[pos] > 0
    candidates = valid_candidates(carry_mask_down(painting_obj, kinds)[pos])
    nn_field = match_patches(f_res, painting_feat, res_mask, candidates, dtype=dtype or torch.float32)
    index = consistent_matches(f_res, painting_feat, nn_field, candidates)
    crop_hw = tuple(fused_crop.shape[-2:])
    content_scale = (result.shape[-2] / crop_hw[0], result.shape[-1] / crop_hw[1])
    style_scale = (painting_work.shape[-2] / composite.shape[-2], painting_work.shape[-1] / composite.shape[-1])
    texture = fine_texture(composite, cfg.detail_sigma)
    copied, weight = resample_by_matches(texture, index, tuple(f_res.shape[-2:]), tuple(painting_feat.shape[-2:]),
                                         vgg.stride_of(layer), crop_hw, content_scale, style_scale, origin)
    inside = region * (weight > 1e-3).float()
    # Stroke strength of the painting AROUND the region (the crop outside the dilated region): the copied texture is
    # scaled to it, since averaging neighbouring cells' copies lowers their energy and the matched places may be
    # calmer or busier than the surroundings the eye compares the region with.
    y0, x0 = origin
    around = 1.0 - dilate(region, math.ceil(3 * cfg.detail_sigma) + 2)  # beyond the paste edge's own detail
    local = texture[..., y0:y0 + crop_hw[0], x0:x0 + crop_hw[1]]
    want = (local.square() * around).sum() / around.sum().clamp_min(1.0)
    have = (copied.square() * inside).sum() / inside.sum().clamp_min(1.0)
    gain = float((want / have.clamp_min(1e-12)).sqrt().clamp(1.0 / _MAX_DETAIL_GAIN, _MAX_DETAIL_GAIN))
    own = fine_texture(fused_crop, cfg.detail_sigma)
    return (fused_crop + cfg.detail * inside * (gain * copied - own)).clamp(0.0, 1.0)


def _blur(image: Tensor, sigma: float) -> Tensor:
    size = 2 * max(1, math.ceil(3.0 * sigma)) + 1
    return gaussian_blur2d(image, (size, size), (sigma, sigma), border_type="replicate")


def restore_structure(fused_crop: Tensor, composite_crop: Tensor, support_crop: Tensor, low_sigma: float,
                      high_sigma: float, amount: float = 1.0) -> Tensor:
    """Put the photo's luminance structure between two scales back into the region (Lab L only).

    The band is ``blur(L, low_sigma) - blur(L, high_sigma)`` (Gaussian sigmas in pixels); ``amount`` of the
    result's band is replaced by the photo's inside the support (eroded by 2 px and feathered, so the paste edge and
    the painting around it are untouched). Nothing changes when ``high_sigma <= low_sigma`` or ``amount <= 0``.

    Args:
        fused_crop: ``(1, 3, H, W)`` the fused result in [0, 1] (full resolution, the crop).
        composite_crop: ``(1, 3, H, W)`` the naive composite there (the photo inside the support).
        support_crop: ``(1, 1, H, W)`` binary pasted region.
        low_sigma, high_sigma: the band's finest and coarsest scale (pixels).
        amount: 0..1.

    Returns:
        ``(1, 3, H, W)`` in [0, 1].
    """
    if amount <= 0 or high_sigma <= low_sigma:
        return fused_crop
    lab = rgb_to_lab(fused_crop)
    light, photo = lab[:, :1], rgb_to_lab(composite_crop)[:, :1]
    band = (_blur(photo, low_sigma) - _blur(photo, high_sigma)) - (_blur(light, low_sigma) - _blur(light, high_sigma))
    weight = amount * _blur(erode(support_crop, 2), 2.0)
    return lab_to_rgb(torch.cat([light + weight * band, lab[:, 1:]], dim=1)).clamp(0.0, 1.0)


def blend_band(fused: Tensor, composite: Tensor, support: Tensor, band: int) -> Tensor:
    """Feathered blend of ``fused`` into ``composite``: alpha ~1 on the support, exactly 0 beyond ``2 * band`` px.

    Args:
        fused: ``(1, 3, H, W)``; composite: ``(1, 3, H, W)``; support: ``(1, 1, H, W)`` binary pasted region.
        band: half-width of the transition in pixels.
    """
    alpha = feather(dilate(support, 2 * band), band)
    return blend(fused, composite, alpha)
