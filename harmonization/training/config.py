"""The configuration of a training run (saved as ``config.json`` in the run folder)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ARCHES", "OPTIMIZERS", "TrainConfig"]

ARCHES = ("phnet", "fmm")
OPTIMIZERS = ("lion", "adam", "adamw", "adadelta", "sgd")


@dataclass
class TrainConfig:
    """Everything a run depends on (saved as ``config.json`` in the run folder)."""

    arch: str = "phnet"
    model_config: str = "iharmony"
    corpus: str | None = None
    photos: str | None = None
    masks: str | None = None
    heldout: str | None = None
    exclude: str | None = None
    split_seed: int = 1
    iharmony4: str | None = None
    ffhqh: str | None = None
    val_split: str | None = None
    max_regions: int = 1
    val_transfer: str = ""
    size: int = 256
    batch: int = 8
    steps: int = 1000
    lr: float = 1e-4
    min_lr_ratio: float = 0.1
    warmup: int = 50
    optimizer: str = ""
    weight_decay: float = 0.0
    seed: int = 0
    transfer_p: float = 0.5
    crop_min: float = 0.25
    zero_init_head: bool = True
    loss_region: str = "full"
    loss: str = ""
    anchor: bool = False
    transfer: str = "affine"
    scene_color: float = 0.0
    init: str | None = None
    val_every: int = 100
    val_limit: int = 0
    val_resolution: int = 0
    log_every: int = 10
    save_every: int = 50
    threads: int = 0
    max_minutes: float = 0.0
    stop_after: int = 0
    bn_recalibrate: int = 0
    amp: str = "auto"
    channels_last: bool = False
    compile: bool = False
    workers: int = 1
    out: str = "runs/train"

    def resolved_loss(self) -> str:
        """The loss name (default PHNet's loss for PHNet, MSE for FMM)."""
        return self.loss or ("phnet" if self.arch == "phnet" else "mse")

    def resolved_optimizer(self) -> str:
        """The optimiser name (default Lion for PHNet, Adam for FMM)."""
        return self.optimizer or ("lion" if self.arch == "phnet" else "adam")
