"""Synthetic harmonization pairs: perturb the colours of a real photo's foreground (FFHQH's recipe).

The real photo is the target; the composite is the photo with its foreground replaced by a colour-jittered copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF

from .augment import uniform

__all__ = ["JitterConfig", "FFHQH_JITTER", "jitter_foreground", "PairConfig", "FFHQH_PAIRS", "ffhqh_foreground",
           "object_lab_stats", "transfer_foreground", "make_composite"]


@dataclass(frozen=True)
class JitterConfig:
    """Ranges of torchvision's ColorJitter (FFHQH: brightness 0.5, contrast 0.4, saturation 0.06, hue 0.05)."""

    brightness: float = 0.5
    contrast: float = 0.4
    saturation: float = 0.06
    hue: float = 0.05


FFHQH_JITTER = JitterConfig()


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
        (TF.adjust_brightness, uniform(generator, 1 - config.brightness, 1 + config.brightness)),
        (TF.adjust_contrast, uniform(generator, 1 - config.contrast, 1 + config.contrast)),
        (TF.adjust_saturation, uniform(generator, 1 - config.saturation, 1 + config.saturation)),
        (TF.adjust_hue, uniform(generator, -config.hue, config.hue)),
    ]
    order = torch.randperm(len(steps), generator=generator).tolist()
    jittered = image
    for index in order:
        fn, factor = steps[index]
        jittered = fn(jittered, factor)
    jittered = jittered.clamp(0.0, 1.0)
    return torch.lerp(image, jittered, mask)


# ------------------------------------------------------------------------------------------------------------------
# Training pairs: the full FFHQH recipe and iHarmony4-style colour transfer
# ------------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PairConfig:
    """How a training composite is made from a real photo and its object mask.

    With probability ``transfer_p`` the foreground takes the Lab colour statistics of an object in another photo
    (iHarmony4-style colour transfer, strength drawn from ``transfer_strength``); otherwise the FFHQH recipe is
    applied to it: ColorJitter(``jitter``), RandomPosterize(``posterize_bits``, ``posterize_p``),
    RandomAdjustSharpness(``sharpness``, ``sharpness_p``), RandomAutocontrast(``autocontrast_p``).
    """

    jitter: JitterConfig = FFHQH_JITTER
    posterize_bits: int = 6
    posterize_p: float = 0.5
    sharpness: float = 4.0
    sharpness_p: float = 0.5
    autocontrast_p: float = 0.5
    transfer_p: float = 0.5
    transfer_strength: tuple[float, float] = (0.5, 1.0)

    def __post_init__(self) -> None:
        for name in ("posterize_p", "sharpness_p", "autocontrast_p", "transfer_p"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"PairConfig.{name} must be a probability in [0, 1]; got {value}.")
        if not 1 <= self.posterize_bits <= 8:
            raise ValueError(f"PairConfig.posterize_bits must be in 1..8; got {self.posterize_bits}.")


FFHQH_PAIRS = PairConfig()


def ffhqh_foreground(
    image: torch.Tensor, mask: torch.Tensor, generator: torch.Generator, config: PairConfig = FFHQH_PAIRS
) -> torch.Tensor:
    """The FFHQH recipe on the foreground: colour jitter, then posterize, sharpness, autocontrast (each random).

    The whole image is transformed with one random draw and pasted back inside ``mask`` (the background is
    bit-identical to ``image`` where ``mask == 0``).

    Args:
        image: ``(1, 3, H, W)`` float RGB in [0, 1] (the real photo).
        mask: ``(1, 1, H, W)`` in [0, 1].
        generator: the random source.
        config: probabilities and ranges.

    Returns:
        ``(1, 3, H, W)`` float32 composite in [0, 1].
    """
    jittered = jitter_foreground(image, torch.ones_like(mask), generator, config.jitter)
    draws = [uniform(generator, 0.0, 1.0) for _ in range(3)]
    if draws[0] < config.posterize_p:
        jittered = TF.posterize(jittered.clamp(0, 1).mul(255).round().to(torch.uint8),
                                config.posterize_bits).float().div(255)
    if draws[1] < config.sharpness_p:
        jittered = TF.adjust_sharpness(jittered, config.sharpness)
    if draws[2] < config.autocontrast_p:
        jittered = TF.autocontrast(jittered)
    return torch.lerp(image, jittered.clamp(0.0, 1.0).to(image.dtype), mask)


def object_lab_stats(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab mean and std of the object in ``image``.

    Args:
        image: ``(1, 3, H, W)`` float RGB in [0, 1].
        mask: ``(1, 1, H, W)`` in [0, 1] (the object).

    Returns:
        ``(mean, std)``, each ``(1, 3, 1, 1)`` float32 in Lab units (L in 0..100).
    """
    from ..ops.color import masked_mean_std, rgb_to_lab

    return masked_mean_std(rgb_to_lab(image.float()), mask.float())


def transfer_foreground(
    image: torch.Tensor,
    mask: torch.Tensor,
    reference_mean: torch.Tensor,
    reference_std: torch.Tensor,
    strength: float = 1.0,
) -> torch.Tensor:
    """iHarmony4-style colour transfer: the foreground takes the Lab mean/std of a reference object.

    ``lab' = (lab - mu_fg) * (sd_ref / sd_fg) ** strength + mu_fg + strength * (mu_ref - mu_fg)`` inside ``mask``
    (std ratio clamped to [1/4, 4]); back to RGB, clamped to [0, 1] and blended with ``mask``.

    Args:
        image: ``(1, 3, H, W)`` float RGB in [0, 1].
        mask: ``(1, 1, H, W)`` in [0, 1].
        reference_mean: ``(1, 3, 1, 1)`` Lab mean of the reference object (:func:`object_lab_stats`).
        reference_std: ``(1, 3, 1, 1)`` Lab std of the reference object.
        strength: 0 keeps the image, 1 is the full transfer.

    Returns:
        ``(1, 3, H, W)`` float32 composite in [0, 1].
    """
    from ..ops.color import lab_to_rgb, masked_mean_std, rgb_to_lab, transfer_mean_std

    lab = rgb_to_lab(image.float())
    mean, std = masked_mean_std(lab, mask.float())
    moved = transfer_mean_std(lab, mean, std, reference_mean, reference_std, mean_strength=strength,
                              std_strength=strength)
    moved = torch.cat([moved[:, :1].clamp(0.0, 100.0), moved[:, 1:].clamp(-128.0, 127.0)], dim=1)
    rgb = lab_to_rgb(moved).clamp(0.0, 1.0)
    return torch.lerp(image.float(), rgb, mask.float())


def make_composite(
    image: torch.Tensor,
    mask: torch.Tensor,
    generator: torch.Generator,
    config: PairConfig = FFHQH_PAIRS,
    references: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """One synthetic composite: colour transfer from a random reference (prob. ``transfer_p``) or the FFHQH recipe.

    The composite is quantised to 8 bits like a saved image. Every random number comes from ``generator``.

    Args:
        image: ``(1, 3, H, W)`` float RGB in [0, 1] (the target).
        mask: ``(1, 1, H, W)`` in [0, 1].
        generator: the random source.
        config: recipe.
        references: Lab ``(mean, std)`` of objects in other photos; without any, the FFHQH recipe is always used.

    Returns:
        ``(1, 3, H, W)`` float32 composite in [0, 1]; equal to ``image`` (after 8-bit rounding) where ``mask == 0``.
    """
    use_transfer = uniform(generator, 0.0, 1.0) < config.transfer_p
    pick = int(torch.randint(0, max(1, len(references or [])), (1,), generator=generator))
    strength = uniform(generator, *config.transfer_strength)
    if use_transfer and references:
        mean, std = references[pick]
        composite = transfer_foreground(image, mask, mean, std, strength)
    else:
        composite = ffhqh_foreground(image, mask, generator, config)
    return composite.mul(255).round().div(255)
