"""Datasets and synthetic composite generation for training and evaluation."""

from __future__ import annotations

from .corpus import CorpusPairs
from .folders import HarmonizationSample, PhotoMaskFolder
from .readers import FFHQH, IHarmony4, PairRecord
from .splits import load_split, split_names
from .synthetic import (
    FFHQH_JITTER,
    FFHQH_PAIRS,
    JitterConfig,
    PairConfig,
    jitter_foreground,
    make_composite,
    transfer_foreground,
)
from .training import ReaderPairDataset, SyntheticPairDataset

__all__ = ["FFHQH", "FFHQH_JITTER", "FFHQH_PAIRS", "CorpusPairs", "HarmonizationSample", "IHarmony4", "JitterConfig",
           "PairConfig", "PairRecord", "PhotoMaskFolder", "ReaderPairDataset", "SyntheticPairDataset",
           "jitter_foreground", "load_split", "make_composite", "split_names", "transfer_foreground"]
