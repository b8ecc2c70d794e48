"""One optimisation pass of painterly fusion: L-BFGS on the pixels of the region against VGG losses.

Losses (all relative, see :mod:`harmonization.ops.style` and :mod:`harmonization.ops.histogram`): content at one
layer against the naive composite, Gram matrices against the style targets, the histogram loss (the relative
squared distance to the features remapped to the target histogram, :func:`~harmonization.ops.histogram.
histogram_loss`; the remapped copy is refreshed every ``histogram_every`` iterations) and total variation; in the
local mode each is restricted to the loss mask carried down the network. VGG passes run under autocast
(:func:`compute_dtype`); losses are computed in float32.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from ...models.vgg import VGGFeatures
from ...ops.histogram import match_histograms
from ...ops.style import content_loss, gram_loss, tv_loss
from .matching import StyleTargets
from .settings import PassSettings

__all__ = ["Tick", "autocast", "compute_dtype", "features", "optimise"]

Tick = Callable[[str, float], None]
"""``tick(message, loss)``: called after every L-BFGS iteration."""
logger = logging.getLogger(__name__)


def _bf16_cpu_supported() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def compute_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """Autocast dtype of the VGG passes: ``None`` (float32) for ``precision="fp32"``; for ``"auto"`` bf16 on CPUs
    with native bf16 (AVX512-BF16 / AMX) and on CUDA devices that support it, else fp16 on CUDA, else float32."""
    if precision == "fp32":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and _bf16_cpu_supported():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[None]:
    """Autocast for the VGG passes (a no-op for float32). Thread-local, so concurrent calls do not interfere."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def features(vgg: VGGFeatures, image: Tensor, layers: tuple[str, ...] | list[str],
             dtype: torch.dtype | None) -> dict[str, Tensor]:
    """Float32 activations of ``image`` at ``layers`` without gradients (autocast VGG pass)."""
    with torch.no_grad(), autocast(image.device, dtype):
        return {k: v.float() for k, v in vgg(image, layers).items()}


@dataclass
class PassInputs:
    """Inputs of one pass at its working size (all on the working device, float32).

    Attributes:
        content: ``(1, 3, h, w)`` naive composite (crop): the content target and the pixels kept fixed.
        init: ``(1, 3, h, w)`` starting image.
        opt_mask: ``(1, 1, h, w)`` 1 where pixels are optimised.
        layer_masks: ``{layer: (1, 1, h_l, w_l)}`` loss masks carried down; ``None`` = whole image (global).
    """

    content: Tensor
    init: Tensor
    opt_mask: Tensor
    layer_masks: Mapping[str, Tensor] | None


def _gather(x: Tensor, index: Tensor) -> Tensor:
    """``(1, C, H, W)`` -> contiguous float32 ``(1, C, 1, N)``: the values at the flat positions ``index``."""
    c = x.shape[1]
    rows = x.permute(0, 2, 3, 1).reshape(-1, c).index_select(0, index)  # a view for channels-last activations
    return rows.T.to(torch.float32, memory_format=torch.contiguous_format).reshape(1, c, 1, -1)


def optimise(vgg: VGGFeatures, inputs: PassInputs, targets: StyleTargets, cfg: PassSettings, steps: int,
             dtype: torch.dtype | None, tick: Tick, label: str,
             history: list[dict[str, float]] | None = None) -> Tensor:
    """Run ``steps`` L-BFGS iterations; returns the optimised ``(1, 3, h, w)`` image in [0, 1].

    Pixels outside ``opt_mask`` stay those of ``content``. ``history``, when given, receives one dict of the
    unweighted terms (``content``, ``style``, ``histogram``, ``tv``) and the weighted ``total`` per evaluation.
    """
    base = inputs.content
    masks = inputs.layer_masks
    # Local mode: every loss reads only the positions inside its layer's mask, gathered once per evaluation, so the
    # element-wise work of the losses (and of their backward) scales with the region, not with the crop.
    where = {} if masks is None else {n: torch.nonzero(masks[n].reshape(-1) > 0).flatten() for n in cfg.layers}
    weight = {n: _gather(masks[n], idx) for n, idx in where.items()} if masks is not None else {}

    def select(layer: str, x: Tensor) -> Tensor:
        return x if masks is None else _gather(x, where[layer])

    c_target = select(cfg.content_layer, features(vgg, base, [cfg.content_layer], dtype)[cfg.content_layer])
    x = inputs.init.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=1, history_size=20, tolerance_grad=0.0, tolerance_change=0.0)
    tv_mask = None if masks is None else inputs.opt_mask
    last: list[float] = [math.nan]
    evaluations = [0]
    remapped: dict[str, Tensor] = {}

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        img = base + inputs.opt_mask * (x - base)
        with autocast(img.device, dtype):
            raw = vgg(img, cfg.layers)
        feats = {n: select(n, v).float() for n, v in raw.items()}  # float32 losses
        c_loss = content_loss(feats[cfg.content_layer], c_target, weight.get(cfg.content_layer))
        s_loss = sum(gram_loss(feats[n], targets.grams[n], weight.get(n)) for n in cfg.style_layers)
        s_loss = s_loss / max(1, len(cfg.style_layers))
        if evaluations[0] % cfg.histogram_every == 0:  # the remapped targets move slowly: refresh every few steps
            remapped.update({n: match_histograms(feats[n], targets.quantiles[n]) for n in cfg.histogram_layers})
        evaluations[0] += 1
        h_loss = sum((content_loss(feats[n], remapped[n]) for n in cfg.histogram_layers),
                     torch.zeros((), device=img.device))
        h_loss = h_loss / max(1, len(cfg.histogram_layers))
        t_loss = tv_loss(img, tv_mask)
        loss = (cfg.content_weight * c_loss + cfg.style_weight * s_loss + cfg.histogram_weight * h_loss
                + cfg.tv_weight * t_loss)
        loss.backward()
        if x.grad is not None and not x.grad.is_contiguous():  # conv backward may return channels-last strides
            x.grad = x.grad.contiguous()
        last[0] = float(loss.detach())
        if history is not None:
            history.append({"content": float(c_loss.detach()), "style": float(s_loss.detach()),
                            "histogram": float(h_loss.detach()), "tv": float(t_loss.detach()), "total": last[0]})
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s: content=%.3g style=%.3g histogram=%.3g tv=%.3g total=%.4g", label, float(c_loss),
                         float(s_loss), float(h_loss), float(t_loss), last[0])
        return loss

    for i in range(steps):
        opt.step(closure)
        tick(f"{label}: step {i + 1}/{steps}", last[0])
    with torch.no_grad():
        return (base + inputs.opt_mask * (x - base)).clamp(0.0, 1.0)
