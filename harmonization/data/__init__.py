"""Datasets and synthetic composite generation for training and evaluation."""

from __future__ import annotations

from .folders import HarmonizationSample, PhotoMaskFolder
from .synthetic import FFHQH_JITTER, JitterConfig, jitter_foreground

__all__ = ["FFHQH_JITTER", "HarmonizationSample", "JitterConfig", "PhotoMaskFolder", "jitter_foreground"]
