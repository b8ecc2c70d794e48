"""Loss configuration of painterly fusion and the automatic style level.

Luan et al. (2018) chose their loss weights per painting from a "stylization level" predicted by a classifier
that was never released. Here the level is estimated from the painting itself (:func:`estimate_style_level`): how
much of the energy of its shallow VGG features is fine texture. ``style_strength`` 1..10 overrides it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DEFAULT_STEPS", "DEFAULT_STYLE_STRENGTH", "LEVEL_LAYERS", "LEVEL_SIZE", "FusionSettings", "PassSettings",
           "check_style_strength", "estimate_style_level", "settings_for", "texture_share"]

DEFAULT_STEPS: dict[str, int] = {"local": 60, "global": 100}
"""Default total L-BFGS iterations per mode (local: over both passes)."""
DEFAULT_STYLE_STRENGTH: int | None = None
"""``None``: the style level is estimated from the painting (:func:`estimate_style_level`)."""

LEVEL_LAYERS = ("relu1_1", "relu2_1")
"""Layers whose painting features set the automatic style level."""
LEVEL_SIZE = 256
"""Long side (px) at which the painting's features are taken for the style level, whatever the working size, so
that "preview" and "standard" estimate the same level."""
_SHARE_AT_LEVEL_1 = 0.14
_SHARE_AT_LEVEL_8 = 0.34
"""Texture shares (see :func:`estimate_style_level`) mapped to levels 1 and 8 (linear, clamped to 1..10)."""


@dataclass(frozen=True)
class PassSettings:
    """Losses of one optimisation pass.

    Attributes:
        style_layers: layers of the Gram (style) loss, equally weighted.
        histogram_layers: layers of the histogram loss (pass 2 only).
        content_weight, style_weight, histogram_weight, tv_weight: loss weights (losses are relative, see
            :mod:`harmonization.ops.style`).
        content_layer: layer of the content loss (against the naive composite).
        histogram_every: the histogram targets (features remapped to the painting's histogram) are recomputed
            every this many iterations (they move slowly; remapping costs as much as a Gram loss and its gradient).
    """

    style_layers: tuple[str, ...]
    histogram_layers: tuple[str, ...]
    content_weight: float
    style_weight: float
    histogram_weight: float
    tv_weight: float
    content_layer: str = "relu4_1"
    histogram_every: int = 2

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the pass reads."""
        return tuple(sorted({self.content_layer, *self.style_layers, *self.histogram_layers}))


@dataclass(frozen=True)
class FusionSettings:
    """Configuration of one mode at one style level (see :func:`settings_for`).

    Attributes:
        mode: ``"local"`` (two passes + post-process) or ``"global"`` (neural style transfer of the whole image).
        level: style level 1..10 the weights were derived from.
        passes: the optimisation passes (local: pass 1 then pass 2; global: one).
        match_layers: local pass 1: layers matched independently (3x3 patches, cosine).
        reference_layer: local pass 2: layer of the consistent mapping, propagated to the shallower layers.
        pass1_scale: working-size fraction of pass 1 (coarse reconstruction).
        pass1_share: fraction of the L-BFGS iterations spent in pass 1.
        color_init: amount (0..1) of Lab histogram matching of the region towards the painting around it before
            pass 1 (a head start for the colours).
        chroma_radius, chroma_eps: post-process chrominance denoising of the pass-2 result (guided filter radius in
            working pixels, regularisation); radius 0 = off.
        detail: post-process: amount (0..1) of the painting's fine texture that replaces the region's own.
        detail_sigma: cut-off of that texture (Gaussian sigma, full-resolution pixels).
        detail_layer: layer whose patches are matched for the detail step.
        structure: post-process: amount (0..1) of the photo's luminance structure put back between ``detail_sigma``
            and ``structure_px`` working pixels (see :func:`~.postprocess.restore_structure`); 0 = off.
        structure_px: the coarsest scale of that band, in working pixels (finer than this the optimisation cannot
            keep the photo's shapes: at a low working size, such as "preview", that band holds a face's features).
    """

    mode: str
    level: float
    passes: tuple[PassSettings, ...]
    match_layers: tuple[str, ...] = ("relu3_1", "relu4_1", "relu5_1")
    reference_layer: str = "relu4_1"
    pass1_scale: float = 0.5
    pass1_share: float = 0.5
    color_init: float = 0.0
    chroma_radius: int = 0
    chroma_eps: float = 1e-3
    detail: float = 0.0
    detail_sigma: float = 1.5
    detail_layer: str = "relu4_1"
    structure: float = 0.0
    structure_px: float = 2.0


def check_style_strength(style_strength: object) -> None:
    """Raise unless ``style_strength`` is None or a number from 1 to 10."""
    if style_strength is None:
        return
    if isinstance(style_strength, bool) or not isinstance(style_strength, (int, float)) \
            or not 1 <= style_strength <= 10:
        raise ValueError(f"style_strength must be a number from 1 (subtle) to 10 (strong), or None to estimate it "
                         f"from the painting; got {style_strength!r}.")


def settings_for(mode: Literal["local", "global"], style_level: float = 5.0) -> FusionSettings:
    """Loss configuration of a mode for a style level 1..10 (the practical replacement of Luan et al.'s classifier).

    The level scales the style and histogram weights geometrically (x1.5 per level around 5) and raises the colour
    head start and the texture amount linearly, so 1 keeps the photo almost intact and 10 repaints it heavily. The
    content weight stays 1.
    """
    check_style_strength(style_level)
    k = 1.5 ** (style_level - 5.0)
    if mode == "local":
        pass1 = PassSettings(style_layers=("relu3_1", "relu4_1", "relu5_1"), histogram_layers=(),
                             content_weight=1.0, style_weight=4.0 * k, histogram_weight=0.0, tv_weight=0.5)
        pass2 = PassSettings(style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1"),
                             histogram_layers=("relu1_1", "relu4_1"), content_weight=1.0, style_weight=4.0 * k,
                             histogram_weight=1.0 * k, tv_weight=0.5)
        return FusionSettings(mode="local", level=float(style_level), passes=(pass1, pass2),
                              color_init=min(1.0, 0.3 + 0.06 * style_level), chroma_radius=3,
                              detail=min(1.0, 0.55 + 0.15 * style_level), structure=1.0)
    if mode == "global":
        single = PassSettings(style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
                              histogram_layers=(), content_weight=1.0, style_weight=5.0 * k, histogram_weight=0.0,
                              tv_weight=0.1)
        return FusionSettings(mode="global", level=float(style_level), passes=(single,))
    raise ValueError(f"mode must be 'local' or 'global', got {mode!r}.")


def texture_share(features: Tensor, weight: Tensor | None = None) -> float:
    """Share of a feature map's energy above a 3x3 local mean: ``sum w |F - box3(F)|^2 / sum w |F - mean(F)|^2``.

    Scale-free (the same for torchvision and Caffe preprocessing); near 0 for smooth areas, near 1 for texture at
    the finest scale of the layer.

    Args:
        features: ``(1, C, H, W)`` activations.
        weight: optional ``(1, 1, H, W)`` weights (e.g. 1 = painting, 0 = pasted region).
    """
    f = features.detach().float()
    w = torch.ones_like(f[:, :1]) if weight is None else weight.float()
    fine = f - F.avg_pool2d(f, 3, stride=1, padding=1, count_include_pad=False)
    total = w.sum().clamp_min(1e-8)
    mean = (f * w).sum(dim=(2, 3), keepdim=True) / total
    num = (fine.square() * w).sum()
    den = ((f - mean).square() * w).sum().clamp_min(1e-12)
    return float(num / den)


def estimate_style_level(features: Mapping[str, Tensor], weights: Mapping[str, Tensor | None]) -> float:
    """The painting's style level 1..10 from its own VGG statistics.

    The level is a linear map of the mean :func:`texture_share` of the painting's :data:`LEVEL_LAYERS` features
    (outside the pasted region, taken at :data:`LEVEL_SIZE` px): a smooth, photo-like painting (Renoir's soft
    modelling, the Mona Lisa) has most of its feature energy in broad shapes and gets a low level; a painting of
    visible strokes or patterns (Van Gogh, Hiroshige's snow, Bruegel's wheat) has much of it at the finest scale and
    gets a high level. Shares 0.14 and 0.34 map to levels 1 and 8 (set on the benchmark paintings, see the README).

    Args:
        features: ``{layer: (1, C, H, W)}`` painting activations, at least :data:`LEVEL_LAYERS`.
        weights: ``{layer: (1, 1, H, W) or None}`` painting weights per layer.

    Returns:
        Level in [1, 10] (a float).
    """
    share = sum(texture_share(features[n], weights.get(n)) for n in LEVEL_LAYERS) / len(LEVEL_LAYERS)
    level = 1.0 + 7.0 * (share - _SHARE_AT_LEVEL_1) / (_SHARE_AT_LEVEL_8 - _SHARE_AT_LEVEL_1)
    return float(min(10.0, max(1.0, level))) if math.isfinite(level) else 5.0
