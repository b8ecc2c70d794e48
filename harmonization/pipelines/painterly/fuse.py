"""The painterly fusion entry point, :func:`painterly_fuse`, and the orchestration of its passes.

Local mode (default; Luan et al. 2018, made fast): the image is cropped to the region plus context and worked on at
``size`` (long side of the whole image); the style source is the whole composite outside the (dilated) region; the
style level comes from the painting (:func:`~.settings.estimate_style_level`) unless ``style_strength`` is given.

* pass 1 at half the working size: the region's Lab histogram moved part of the way to the painting's around it;
  3x3 patches matched independently at relu3_1, relu4_1, relu5_1; Gram + content (relu4_1) + TV losses;
* pass 2 at the working size, from the upsampled pass-1 result: one consistent mapping at relu4_1 propagated to
  relu1_1..relu4_1; Gram (relu1_1..relu4_1) + histogram (relu1_1, relu4_1) + content + TV losses;
* post-process: chrominance denoising (working size), the painting's fine texture (full resolution), the photo's
  luminance structure between that texture's scale and a few working pixels (the object stays recognisable at a
  low working size), feathered blend (the painting beyond ``2 * max(2, ceil(2 / working_scale))`` pixels of the
  mask is bit-identical).

Global mode: neural style transfer of the whole composite towards the painting's Gram matrices, coarse to fine.

Nothing here changes process-wide state: no thread-count changes, no global seeding (the method is deterministic
for given inputs and thread count), autocast and gradient modes are thread-local; two calls may run at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ...models.vgg import VGGFeatures
from ...ops.color import lab_to_rgb, rgb_to_lab
from ...ops.denoise import denoise_chroma
from ...ops.histogram import histogram_quantiles, match_histograms
from ...ops.mask import check_image, check_mask, dilate, mask_bbox
from ...ops.style import carry_mask_down, resize_mask
from .matching import consistent_targets, global_targets, independent_targets, valid_candidates
from .optimise import PassInputs, compute_dtype, features, optimise
from .postprocess import blend_band, rebuild_detail, restore_structure
from .settings import (
    DEFAULT_STEPS,
    DEFAULT_STYLE_STRENGTH,
    LEVEL_LAYERS,
    LEVEL_SIZE,
    FusionSettings,
    check_style_strength,
    estimate_style_level,
    settings_for,
)
from .weights import load_vgg

__all__ = ["painterly_fuse"]

ProgressFn = Callable[[float, str], None]

_SUPPORT_THRESHOLD = 1.0 / 255.0
"""Mask values above this count as pasted (soft edges included)."""
_MIN_PAINTING_FRACTION = 0.05
"""At least this fraction of the image must stay painting (outside the dilated mask) to take the style from."""


def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image.clone()
    down = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=down).clamp(0.0, 1.0)


def _scaled(hw: tuple[int, int], factor: float) -> tuple[int, int]:
    return max(1, round(hw[0] * factor)), max(1, round(hw[1] * factor))


def _check_inputs(composite: Tensor, mask: Tensor, mode: str, steps: int | None, size: int, precision: str) -> None:
    check_image(composite, "composite")
    check_mask(mask, composite)
    if min(composite.shape[-2:]) < 16:
        raise ValueError(f"composite is too small ({composite.shape[-2]}x{composite.shape[-1]}); "
                         "painterly fusion needs at least 16x16 pixels.")
    if mode not in ("local", "global"):
        raise ValueError(f"mode must be 'local' or 'global', got {mode!r}.")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ValueError(f"size (working long side) must be an integer >= 32, got {size!r}.")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 2):
        raise ValueError(f"steps must be an integer >= 2 or None (the default), got {steps!r}.")
    if precision not in ("auto", "fp32"):
        raise ValueError(f"precision must be 'auto' or 'fp32', got {precision!r}.")
    for b in range(mask.shape[0]):
        support = mask[b:b + 1] > _SUPPORT_THRESHOLD
        if not bool(support.any()):
            raise ValueError(f"mask {b} is empty (no value above {_SUPPORT_THRESHOLD:.4f}); "
                             "mark the pasted region with 1 before painterly fusion.")
        painting = 1.0 - float(dilate(support.float(), 2).mean())
        if painting < _MIN_PAINTING_FRACTION:
            raise ValueError(f"mask {b} covers {100 * (1 - painting):.1f}% of the image (after dilation); painterly "
                             f"fusion takes the style from the painting around the region, so at least "
                             f"{100 * _MIN_PAINTING_FRACTION:.0f}% must stay outside the mask. Shrink the mask.")


def painterly_fuse(composite: Tensor, mask: Tensor, *, mode: Literal["local", "global"] = "local",
                   style_strength: float | None = DEFAULT_STYLE_STRENGTH, steps: int | None = None, size: int = 512,
                   progress: ProgressFn | None = None, device: str | torch.device | None = None,
                   vgg: str | VGGFeatures = "vgg19", precision: Literal["auto", "fp32"] = "auto") -> Tensor:
    """Fuse a pasted photo region into the painting around it.

    Args:
        composite: ``(B, 3, H, W)`` float32 RGB in [0, 1] at full resolution: the painting with the photo region
            pasted in (the naive composite).
        mask: ``(B, 1, H, W)`` float in [0, 1], 1 = pasted region (soft edges allowed; values above 1/255 count).
        mode: ``"local"``: two passes + post-process, only the mask and a band of a few pixels around it change
            (beyond the band the output is bit-identical to ``composite``); ``"global"``: neural style transfer of
            the whole image (the background changes on purpose).
        style_strength: 1 (subtle) .. 10 (strong) overrides the style level; ``None`` (default) estimates it from
            the painting's VGG statistics (:func:`~.settings.estimate_style_level`) in the local mode and uses 5 for
            the global baseline.
        steps: total L-BFGS iterations (local: over both passes, ``pass1_share`` of them in pass 1); None = the
            default (:data:`~.settings.DEFAULT_STEPS`).
        size: working long side in pixels of the whole image (the optimisation never upsamples a smaller image).
        progress: called as ``progress(fraction in [0, 1], message)``; messages name the pass ("pass 1/2: ...",
            "pass 2/2: ...", "post-process: ...").
        device: where to compute (default: the composite's device).
        vgg: ``"vgg19"`` (default) or ``"vgg16"`` (weights through the checkpoint resolver), or a ready
            :class:`~harmonization.models.vgg.VGGFeatures` on ``device`` (e.g. randomly initialised in tests).
        precision: ``"auto"``: VGG passes and patch matching in bf16 on CPUs with native bf16 (AVX512-BF16/AMX) and
            bf16/fp16 on CUDA, about 2x faster; ``"fp32"``: full precision everywhere.

    Returns:
        ``(B, 3, H, W)`` float32 RGB in [0, 1] at the input resolution, on the composite's device.

    Raises:
        ValueError: wrong shapes, an empty mask, a mask covering (almost) everything, a bad option.
        TypeError: non-tensor inputs.
    """
    _check_inputs(composite, mask, mode, steps, size, precision)
    check_style_strength(style_strength)
    n_steps = DEFAULT_STEPS[mode] if steps is None else steps
    dev = torch.device(device) if device is not None else composite.device
    report = progress or (lambda _f, _m: None)
    report(0.0, "loading VGG")
    model = vgg if isinstance(vgg, VGGFeatures) else load_vgg(vgg, dev)
    weights_device = next(model.parameters()).device
    if weights_device.type != dev.type:  # never move a caller's (possibly shared) module
        raise ValueError(f"the VGGFeatures passed as vgg is on {weights_device}, the fusion runs on {dev}; move it "
                         f"first (vgg.to({str(dev)!r})) or pass vgg='vgg19'.")
    dtype = compute_dtype(dev, precision)
    outputs = []
    n = composite.shape[0]
    for b in range(n):
        def item_report(f: float, m: str, _b: int = b) -> None:
            report((_b + f) / n, m if n == 1 else f"image {_b + 1}/{n}: {m}")

        comp = composite[b:b + 1].to(dev, torch.float32)
        support = (mask[b:b + 1].to(dev, torch.float32) > _SUPPORT_THRESHOLD).float()
        run = _fuse_local if mode == "local" else _fuse_global
        outputs.append(run(model, comp, support, style_strength, n_steps, size, dtype, item_report)
                       .to(composite.device))
    report(1.0, "done")
    return torch.cat(outputs, dim=0)


class _Progress:
    """Progress fractions that follow the estimated cost (pixels x iterations) of the parts of one fusion."""

    def __init__(self, report: ProgressFn, costs: list[float]) -> None:
        self.report, self.costs, self.done, self.part = report, costs, 0.0, 0

    def tick(self, message: str, loss: float) -> None:
        self.done += self.costs[self.part]
        self.part += 1
        self.report(min(self.done / sum(self.costs), 0.999), f"{message} (loss {loss:.4g})")


def _color_init(content: Tensor, region: Tensor, painting: Tensor, painting_weight: Tensor, amount: float) -> Tensor:
    """Move the Lab histogram of ``content`` inside ``region`` ``amount`` of the way to the painting's."""
    if amount <= 0:
        return content
    lab = rgb_to_lab(content)
    quantiles = histogram_quantiles(rgb_to_lab(painting), painting_weight, bins=256)
    moved = match_histograms(lab, quantiles, region)
    out = lab_to_rgb(torch.lerp(lab, moved, amount)).clamp(0.0, 1.0)
    return content + region * (out - content)


def _painting_level(vgg: VGGFeatures, comp: Tensor, support: Tensor, dtype: torch.dtype | None) -> float:
    """The automatic style level from the painting's features at :data:`~.settings.LEVEL_SIZE` px."""
    hw = _scaled(tuple(comp.shape[-2:]), LEVEL_SIZE / max(comp.shape[-2:]))
    painting = _resize(comp, hw)
    obj = dilate((resize_mask(support, hw) > 0).float(), 2)
    carried = carry_mask_down(obj, vgg.kinds())
    weights = {n: valid_candidates(carried[vgg.layer_position(n)]).float() for n in LEVEL_LAYERS}
    return estimate_style_level(features(vgg, painting, LEVEL_LAYERS, dtype), weights)


@dataclass(frozen=True)
class _Crop:
    """Where the local mode works: the mask's bounding box plus context, at working scale ``scale``."""

    y0: int
    y1: int
    x0: int
    x1: int
    scale: float  # working / full resolution
    band: int  # full-resolution half-width of the blend band

    @staticmethod
    def around(support: Tensor, size: int) -> _Crop:
        full_h, full_w = support.shape[-2:]
        s = min(1.0, size / max(full_h, full_w))
        band = max(2, math.ceil(2.0 / s))
        top, left, bottom, right = mask_bbox(support)  # type: ignore[misc]  # the mask was checked non-empty
        ctx = math.ceil(40 / s) + 2 * band  # receptive field of the deep layers, and the colour reference
        return _Crop(max(0, top - ctx), min(full_h, bottom + ctx), max(0, left - ctx), min(full_w, right + ctx), s,
                     band)

    @property
    def hw(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


@dataclass(frozen=True)
class _ScaleInputs:
    content: Tensor  # (1, 3, h, w) composite crop at this scale
    region: Tensor  # (1, 1, h, w) pasted region
    opt_mask: Tensor  # (1, 1, h, w) dilated region: optimised pixels and loss mask
    painting: Tensor  # (1, 3, hp, wp) the whole composite at this scale (style source)
    painting_obj: Tensor  # (1, 1, hp, wp) dilated pasted region in it (excluded from the style)


def _scale_inputs(comp: Tensor, support: Tensor, crop: _Crop, f: float) -> _ScaleInputs:
    """Inputs at ``f`` times the working size."""
    hw = _scaled(_scaled(crop.hw, crop.scale), f)
    region = (resize_mask(support[..., crop.y0:crop.y1, crop.x0:crop.x1], hw) > 0).float()
    dil = max(1, round(4 * f))
    painting = _resize(comp, _scaled(_scaled(tuple(comp.shape[-2:]), crop.scale), f))
    obj = dilate((resize_mask(support, tuple(painting.shape[-2:])) > 0).float(), dil)
    return _ScaleInputs(_resize(comp[..., crop.y0:crop.y1, crop.x0:crop.x1], hw), region, dilate(region, dil),
                        painting, obj)


def _layer_maps(vgg: VGGFeatures, mask: Tensor, layers: tuple[str, ...] | list[str]) -> dict[str, Tensor]:
    carried = carry_mask_down(mask, vgg.kinds())
    return {n: carried[vgg.layer_position(n)] for n in layers}


def _fuse_local(vgg: VGGFeatures, comp: Tensor, support: Tensor, style_strength: float | None, steps: int,
                size: int, dtype: torch.dtype | None, report: ProgressFn) -> Tensor:
    started = time.perf_counter()
    crop = _Crop.around(support, size)
    level = _painting_level(vgg, comp, support, dtype) if style_strength is None else float(style_strength)
    cfg = settings_for("local", level)
    pass1, pass2 = cfg.passes
    f1 = cfg.pass1_scale if min(_scaled(crop.hw, crop.scale)) * cfg.pass1_scale >= 32 else 1.0
    n1 = max(1, round(steps * cfg.pass1_share))
    n2 = max(1, steps - n1)
    progress = _Progress(report, [f1 * f1] * n1 + [1.0] * n2 + [2.0])
    match_dtype = dtype or torch.float32

    # ---- pass 1 (robust, coarse): independent matches at relu3_1..relu5_1, at the reduced size
    sc1 = _scale_inputs(comp, support, crop, f1)
    paint1 = features(vgg, sc1.painting, cfg.match_layers, dtype)
    cand1 = {n: valid_candidates(m) for n, m in _layer_maps(vgg, sc1.painting_obj, cfg.match_layers).items()}
    around = 1.0 - dilate(sc1.region, max(1, round(8 * f1)))  # the painting inside the crop
    init1 = _color_init(sc1.content, sc1.opt_mask, sc1.content, around, cfg.color_init)
    masks1 = _layer_maps(vgg, sc1.opt_mask, sorted({*pass1.layers, *cfg.match_layers}))
    targets1 = independent_targets(features(vgg, init1, cfg.match_layers, dtype), paint1, masks1, cand1,
                                   cfg.match_layers, match_dtype)
    label1 = f"pass 1/2: robust, {max(sc1.content.shape[-2:])} px, style level {level:.1f}"
    result1 = optimise(vgg, PassInputs(sc1.content, init1, sc1.opt_mask, masks1), targets1, pass1, n1, dtype,
                       progress.tick, label1)

    # ---- pass 2 (quality): consistent mapping at relu4_1 propagated to relu1_1..relu4_1, histogram losses
    sc2 = _scale_inputs(comp, support, crop, 1.0)
    up = F.interpolate(result1, size=tuple(sc2.content.shape[-2:]), mode="bicubic", align_corners=False)
    init2 = sc2.content + sc2.opt_mask * (up.clamp(0.0, 1.0) - sc2.content)
    layers2 = sorted({*pass2.layers, cfg.detail_layer, cfg.reference_layer}, key=vgg.layer_position)
    paint2 = features(vgg, sc2.painting, layers2, dtype)  # once for pass 2 and the post-process
    cand2 = {n: valid_candidates(m) for n, m in _layer_maps(vgg, sc2.painting_obj, layers2).items()}
    masks2 = _layer_maps(vgg, sc2.opt_mask, layers2)
    ref = cfg.reference_layer
    targets2 = consistent_targets(vgg, features(vgg, init2, [ref], dtype)[ref], paint2, masks2, cand2, ref,
                                  pass2.style_layers, pass2.histogram_layers, match_dtype)
    label2 = f"pass 2/2: quality, {max(sc2.content.shape[-2:])} px"
    result2 = optimise(vgg, PassInputs(sc2.content, init2, sc2.opt_mask, masks2), targets2, pass2, n2, dtype,
                       progress.tick, label2)

    # ---- post-process at full resolution: chrominance denoising, the painting's fine texture, blend
    report(min(progress.done / sum(progress.costs), 0.999), "post-process: chrominance denoising, painting texture")
    if cfg.chroma_radius > 0:  # at the working size, where the optimisation left its colour speckles
        result2 = denoise_chroma(result2, sc2.opt_mask, radius=cfg.chroma_radius, eps=cfg.chroma_eps)
    fused_crop = result2 if tuple(result2.shape[-2:]) == crop.hw else _resize(result2, crop.hw)
    region = (resize_mask(sc2.opt_mask, crop.hw) > 0.5).float()
    if cfg.detail > 0:
        fused_crop = rebuild_detail(vgg, cfg, result2, fused_crop, region, sc2.painting, paint2[cfg.detail_layer],
                                    sc2.painting_obj, comp, (crop.y0, crop.x0), dtype)
    window = (..., slice(crop.y0, crop.y1), slice(crop.x0, crop.x1))
    fused_crop = restore_structure(fused_crop, comp[window], support[window], cfg.detail_sigma,
                                   cfg.structure_px / crop.scale, cfg.structure)
    fused = comp.clone()
    fused[..., crop.y0:crop.y1, crop.x0:crop.x1] = fused_crop
    out = blend_band(fused, comp, support, crop.band)
    report(0.999, f"post-process: done; local fusion finished in {time.perf_counter() - started:.1f} s")
    return out


def _fuse_global(vgg: VGGFeatures, comp: Tensor, support: Tensor, style_strength: float | None, steps: int,
                 size: int, dtype: torch.dtype | None, report: ProgressFn) -> Tensor:
    """Whole-image neural style transfer, coarse to fine (up to three scales, each twice the previous)."""
    started = time.perf_counter()
    full_h, full_w = comp.shape[-2:]
    s = min(1.0, size / max(full_h, full_w))
    work_hw = _scaled((full_h, full_w), s)
    scales = [1.0]
    while len(scales) < 3 and max(work_hw) * scales[0] / 2 >= 128 and min(work_hw) * scales[0] / 2 >= 32:
        scales.insert(0, scales[0] / 2)
    shares = {1: [1.0], 2: [0.6, 0.4], 3: [0.5, 0.3, 0.2]}[len(scales)]
    plan = [max(1, round(steps * sh)) for sh in shares[:-1]]
    plan.append(max(1, steps - sum(plan)))
    kinds = vgg.kinds()
    level = 5.0 if style_strength is None else float(style_strength)
    cfg: FusionSettings = settings_for("global", level)
    single = cfg.passes[0]
    progress = _Progress(report, [f * f for f, k in zip(scales, plan, strict=True) for _ in range(k)])
    result: Tensor | None = None
    for i, (f, n_steps) in enumerate(zip(scales, plan, strict=True)):
        hw = _scaled(work_hw, f)
        content = _resize(comp, hw)
        obj = dilate((resize_mask(support, hw) > 0).float(), max(1, round(4 * f)))
        carried = carry_mask_down(obj, kinds)
        paint = features(vgg, content, single.style_layers, dtype)
        cand = {n: valid_candidates(carried[vgg.layer_position(n)]) for n in single.style_layers}
        targets = global_targets(paint, cand, single.style_layers)
        init = content if result is None else F.interpolate(result, size=hw, mode="bicubic",
                                                            align_corners=False).clamp(0.0, 1.0)
        ones = torch.ones_like(obj)
        label = f"global: scale {i + 1}/{len(scales)} ({max(hw)} px)"
        result = optimise(vgg, PassInputs(content, init, ones, None), targets, single, n_steps, dtype,
                          progress.tick, label)
    assert result is not None
    out = result if tuple(result.shape[-2:]) == (full_h, full_w) else _resize(result, (full_h, full_w))
    report(0.999, f"global fusion finished in {time.perf_counter() - started:.1f} s")
    return out
