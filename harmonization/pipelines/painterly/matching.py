"""Style targets of painterly fusion from patch matches against the painting (Luan et al. 2018).

* pass 1 (:func:`independent_targets`): every style layer (relu3_1..relu5_1) is matched on its own, 3x3 patches
  by cosine similarity; the target is the Gram matrix of the painting features rearranged by the match;
* pass 2 (:func:`consistent_targets`): one mapping at the reference layer (relu4_1), made spatially consistent by
  neighbour voting and propagated to the shallower layers; Gram targets of the mapped features with duplicates
  suppressed (each painting position counts once) and histogram targets (256 quantiles) per layer;
* :func:`global_targets`: Gram matrices of the whole painting (the global baseline).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ...models.vgg import VGGFeatures
from ...ops.histogram import histogram_quantiles
from ...ops.matching import consistent_matches, gather_matches, map_matches, match_patches
from ...ops.style import gram_matrix

__all__ = ["StyleTargets", "consistent_targets", "global_targets", "independent_targets", "valid_candidates"]

HISTOGRAM_BINS = 256


@dataclass
class StyleTargets:
    """What one pass optimises towards.

    Attributes:
        grams: ``{layer: (1, C, C)}`` target Gram matrices.
        quantiles: ``{layer: (C, bins)}`` target feature distributions for the histogram loss.
        matches: ``{layer: (h * w,)}`` the match fields that built them (local modes; for the record and tests).
    """

    grams: dict[str, Tensor]
    quantiles: dict[str, Tensor] = field(default_factory=dict)
    matches: dict[str, Tensor] = field(default_factory=dict)


def valid_candidates(obj_mask_l: Tensor) -> Tensor:
    """Painting positions at one layer: where the carried-down (dilated) pasted region is (nearly) zero.

    The threshold is relaxed step by step if fewer than 4 positions remain (tiny images), so matching always has
    candidates.
    """
    for threshold in (0.02, 0.2, 0.5, 1.01):
        valid = obj_mask_l < threshold
        if int(valid.sum()) >= 4:
            return valid
    return torch.ones_like(obj_mask_l, dtype=torch.bool)


def global_targets(painting: Mapping[str, Tensor], candidates: Mapping[str, Tensor],
                   layers: Sequence[str]) -> StyleTargets:
    """Gram matrices of the painting's features outside the pasted region, per layer."""
    return StyleTargets(grams={n: gram_matrix(painting[n], candidates[n].float()) for n in layers})


def independent_targets(content: Mapping[str, Tensor], painting: Mapping[str, Tensor],
                        masks: Mapping[str, Tensor], candidates: Mapping[str, Tensor], layers: Sequence[str],
                        dtype: torch.dtype = torch.float32) -> StyleTargets:
    """Pass 1: independent nearest-neighbour matching of 3x3 patches at every layer; Gram of the matched features.

    Args:
        content: ``{layer: (1, C, h, w)}`` features of the image being fused (its start).
        painting: ``{layer: (1, C, hp, wp)}`` features of the painting (the whole composite).
        masks: ``{layer: (1, 1, h, w)}`` loss masks carried down; matched where > 0, Gram weights.
        candidates: ``{layer: (1, 1, hp, wp)}`` bool painting positions allowed as matches.
        layers: the style layers.
        dtype: dtype of the similarity products (see :func:`~harmonization.ops.matching.match_patches`).
    """
    grams: dict[str, Tensor] = {}
    matches: dict[str, Tensor] = {}
    for n in layers:
        matches[n] = match_patches(content[n], painting[n], masks[n], candidates[n], dtype=dtype)
        rearranged = gather_matches(painting[n], matches[n], tuple(content[n].shape[-2:]))
        grams[n] = gram_matrix(rearranged, masks[n])
    return StyleTargets(grams=grams, matches=matches)


def _unique_features(painting: Tensor, index: Tensor) -> Tensor:
    """``(1, C, 1, U)`` painting features at the distinct matched positions (duplicates suppressed)."""
    unique = torch.unique(index[index >= 0])
    c = painting.shape[1]
    return painting.reshape(c, -1)[:, unique].reshape(1, c, 1, -1)


def consistent_targets(vgg: VGGFeatures, content_ref: Tensor, painting: Mapping[str, Tensor],
                       masks: Mapping[str, Tensor], candidates: Mapping[str, Tensor], reference: str,
                       style_layers: Sequence[str], histogram_layers: Sequence[str],
                       dtype: torch.dtype = torch.float32) -> StyleTargets:
    """Pass 2: one consistent mapping at ``reference``, propagated to every shallower style layer.

    The nearest-neighbour field of ``content_ref`` at the reference layer is made consistent by neighbour voting
    (:func:`~harmonization.ops.matching.consistent_matches`, 5x5) and mapped to each shallower layer keeping the
    sub-positions (:func:`~harmonization.ops.matching.map_matches`). Targets per layer: the Gram matrix of the
    painting features at the DISTINCT mapped positions (a painting patch chosen by many positions counts once, so a
    few flat patches cannot dominate), and for ``histogram_layers`` their 256-quantile distribution.

    Args:
        vgg: the extractor (strides and layer order).
        content_ref: ``(1, C, h, w)`` features of the pass-1 result at the reference layer.
        painting: ``{layer: (1, C, hp, wp)}`` painting features (reference and every style/histogram layer).
        masks: ``{layer: (1, 1, h_l, w_l)}`` loss masks carried down.
        candidates: ``{layer: (1, 1, hp_l, wp_l)}`` bool allowed painting positions (reference layer used).
        reference: the reference layer (``"relu4_1"``); must be at least as deep as every other layer.
        style_layers, histogram_layers: layers that get Gram / histogram targets.
        dtype: dtype of the similarity products.
    """
    nn_field = match_patches(content_ref, painting[reference], masks[reference], candidates[reference], dtype=dtype)
    field_ref = consistent_matches(content_ref, painting[reference], nn_field, candidates[reference])
    ref_size = tuple(content_ref.shape[-2:])
    ref_style = tuple(painting[reference].shape[-2:])
    out = StyleTargets(grams={}, matches={reference: field_ref})
    for n in sorted({*style_layers, *histogram_layers}, key=vgg.layer_position):
        if vgg.layer_position(n) > vgg.layer_position(reference):
            raise ValueError(f"layer {n} is deeper than the reference layer {reference}; the mapping only goes down.")
        size = tuple(masks[n].shape[-2:])
        if n == reference:
            index = field_ref
        else:
            index = map_matches(field_ref, ref_size, ref_style, vgg.stride_of(reference) // vgg.stride_of(n), size,
                                tuple(painting[n].shape[-2:]), masks[n])
        out.matches[n] = index
        distinct = _unique_features(painting[n], index)
        if n in style_layers:
            out.grams[n] = gram_matrix(distinct)
        if n in histogram_layers:
            out.quantiles[n] = histogram_quantiles(distinct, bins=HISTOGRAM_BINS)
    return out
