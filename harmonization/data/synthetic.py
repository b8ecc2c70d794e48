"""Synthetic harmonization pairs: perturb the colours of a real photo's foreground (FFHQH's recipe).

The real photo is the target; the composite is the photo with its foreground replaced by a colour-jittered copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF

__all__ = ["JitterConfig", "FFHQH_JITTER", "jitter_foreground"]


@dataclass(frozen=True)
class JitterConfig:
    """Ranges of torchvision's ColorJitter (FFHQH: brightness 0.5, contrast 0.4, saturation 0.06, hue 0.05)."""

    brightness: float = 0.5
    contrast: float = 0.4
    saturation: float = 0.06
    hue: float = 0.05


FFHQH_JITTER = JitterConfig()


def _uniform(generator: torch.Generator, low: float, high: float) -> float:
    return float(torch.empty(1).uniform_(low, high, generator=generator))


def jitter_foreground(
    image: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator,
    config: JitterConfig = FFHQH_JITTER,
) -> torch.Tensor:
    """Colour-jitter the whole image with one random draw of ``config`` and paste it back inside ``mask``.

    Like ``torchvision.transforms.v2.ColorJitter``: brightness, contrast and saturation factors are drawn from
    ``[1 - x, 1 + x]``, hue from ``[-hue, hue]``, applied in a random order; the draw uses ``generator`` so results
    are reproducible.

    Args:
        image: ``(1, 3, H, W)`` float RGB in [0, 1] (the real photo, the target).
        mask: ``(1, 1, H, W)`` in [0, 1], the foreground.
        generator: the random source.
        config: the jitter ranges.

    Returns:
        ``(1, 3, H, W)`` composite: jittered foreground, untouched background.
    """
    steps = [
        (TF.adjust_brightness, _uniform(generator, 1 - config.brightness, 1 + config.brightness)),
        (TF.adjust_contrast, _uniform(generator, 1 - config.contrast, 1 + config.contrast)),
        (TF.adjust_saturation, _uniform(generator, 1 - config.saturation, 1 + config.saturation)),
        (TF.adjust_hue, _uniform(generator, -config.hue, config.hue)),
    ]
    order = torch.randperm(len(steps), generator=generator).tolist()
    jittered = image
    for index in order:
        fn, factor = steps[index]
        jittered = fn(jittered, factor)
    jittered = jittered.clamp(0.0, 1.0)
    return torch.lerp(image, jittered, mask)
