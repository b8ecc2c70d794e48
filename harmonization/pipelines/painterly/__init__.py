"""Painterly fusion: paste a photo region into a painting so that it takes the painting's colours and strokes.

Modules by concern: :mod:`.settings` (loss configuration, automatic style level), :mod:`.weights` (the VGG
extractor through the checkpoint resolver), :mod:`.matching` (style targets from patch matches), :mod:`.optimise`
(one L-BFGS pass), :mod:`.postprocess` (chrominance denoising, the painting's fine texture, blend) and
:mod:`.fuse` (the entry point :func:`painterly_fuse` and the two-pass orchestration).
"""

from __future__ import annotations

from .fuse import painterly_fuse
from .settings import (
    DEFAULT_STEPS,
    DEFAULT_STYLE_STRENGTH,
    FusionSettings,
    PassSettings,
    estimate_style_level,
    settings_for,
)
from .weights import load_vgg, preload, vgg_source_info, vgg_unavailable_reason

__all__ = [
    "DEFAULT_STEPS",
    "DEFAULT_STYLE_STRENGTH",
    "FusionSettings",
    "PassSettings",
    "estimate_style_level",
    "load_vgg",
    "painterly_fuse",
    "preload",
    "settings_for",
    "vgg_source_info",
    "vgg_unavailable_reason",
]
