"""Training PHNet and FMM: configuration, builders, checkpointing, the loop and the losses.

``harmonization train ...`` (see :mod:`.cli`) or from Python::

    from harmonization.training import TrainConfig, train
    train(TrainConfig(arch="fmm", photos="photos/", masks="masks/", steps=100, out="runs/fmm"))
"""

from __future__ import annotations

from .builders import batches, build_datasets, build_model, build_optimizer, corpus_training_pairs, lr_at
from .checkpointing import export_fp16, load_checkpoint, save_checkpoint
from .cli import build_parser, main
from .config import ARCHES, OPTIMIZERS, TrainConfig
from .loop import recalibrate_batchnorm, train, validate

__all__ = ["ARCHES", "OPTIMIZERS", "TrainConfig", "batches", "build_datasets", "build_model", "build_optimizer",
           "build_parser", "corpus_training_pairs", "export_fp16", "load_checkpoint", "lr_at", "main",
           "recalibrate_batchnorm", "save_checkpoint", "train", "validate"]
