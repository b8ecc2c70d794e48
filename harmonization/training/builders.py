"""What a run is built from: the network, the optimiser, the learning-rate schedule, the datasets and the batches."""

from __future__ import annotations

import csv
import fnmatch
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from ..data.folders import IMAGE_SUFFIXES, CorpusComposites, HarmonizationSample, PhotoMaskFolder, corpus_split_names
from ..data.readers import FFHQH, IHarmony4
from ..data.splits import load_split, split_names, write_split
from ..data.synthetic import PairConfig
from ..data.training import PairListDataset, ReaderPairDataset, SyntheticPairDataset, collate
from .config import ARCHES, OPTIMIZERS, TrainConfig

__all__ = ["batches", "build_datasets", "build_model", "build_optimizer", "corpus_training_pairs", "lr_at"]


def build_model(arch: str, model_config: str = "", *, zero_init_head: bool = False) -> nn.Module:
    """A freshly initialised network in training mode.

    Args:
        arch: ``"phnet"`` or ``"fmm"``.
        model_config: PHNet preset (``"iharmony"``, ``"ffhqh"``, ``"tiny"``) or FMM preset (``"released"``,
            ``"tiny"``); empty = the published configuration.
        zero_init_head: FMM only: zero the output convolution so the untrained network returns its input
            (``clamp(image + tanh(0))``); training then starts from the composite instead of noise.
    """
    if arch == "phnet":
        from ..models.phnet import PHNET_PRESETS, PHNet

        name = model_config or "iharmony"
        if name not in PHNET_PRESETS:
            raise ValueError(f"Unknown PHNet configuration {name!r}; use one of {', '.join(PHNET_PRESETS)}.")
        return PHNet(PHNET_PRESETS[name]).train()
    if arch == "fmm":
        from ..models.fmm import FMM, FMMConfig

        name = model_config or "released"
        presets = {"released": FMMConfig.released(), "tiny": FMMConfig.tiny()}
        if name not in presets:
            raise ValueError(f"Unknown FMM configuration {name!r}; use one of {', '.join(presets)}.")
        model = FMM(presets[name])
        if zero_init_head:
            nn.init.zeros_(model.output.weight)
            nn.init.zeros_(model.output.bias)
        return model.train()
    raise ValueError(f"Unknown architecture {arch!r}; use one of {ARCHES}.")


def build_optimizer(name: str, parameters: Any, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """``lion`` (lion-pytorch), ``adam``, ``adamw``, ``adadelta`` or ``sgd`` (momentum 0.9)."""
    if name == "lion":
        try:
            from lion_pytorch import Lion
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("The Lion optimiser needs the lion-pytorch package: pip install lion-pytorch") from exc
        return Lion(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adadelta":
        return torch.optim.Adadelta(parameters, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ValueError(f"Unknown optimiser {name!r}; use one of {OPTIMIZERS}.")


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""
    if config.warmup > 0 and step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    span = max(1, config.steps - config.warmup)
    progress = min(1.0, (step - config.warmup) / span)
    ratio = config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return config.lr * ratio


def _photo_names(photos: str) -> list[str]:
    return sorted(p.stem for p in Path(photos).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def build_datasets(config: TrainConfig, split_out: str | None = None, rank: int = 0
                   ) -> tuple[Dataset, list[HarmonizationSample]]:
    """The training dataset and the (loaded) validation samples for ``config``."""
    if config.iharmony4:
        train_set: Dataset = ReaderPairDataset(IHarmony4(config.iharmony4, "train"), size=config.size,
                                               seed=config.seed)
        val_reader = IHarmony4(config.iharmony4, "test")
        limit = config.val_limit or 200
        val = [val_reader[i] for i in range(min(limit, len(val_reader)))]
        return train_set, val
    if config.ffhqh:
        reader = FFHQH(config.ffhqh)
        train_set = ReaderPairDataset(reader, size=config.size, seed=config.seed)
        limit = config.val_limit or 100
        val = [reader[i] for i in range(max(0, len(reader) - limit), len(reader))]
        return train_set, val
    if config.corpus:
        return _corpus_datasets(config)
    if not config.photos or not config.masks:
        raise ValueError("Give --photos and --masks (a folder of photos with object masks), --iharmony4 ROOT or "
                         "--ffhqh ROOT.")
    names = _photo_names(config.photos)
    if config.heldout:
        heldout = sorted(set(load_split(config.heldout)) & set(names))
        train_names = [n for n in names if n not in set(heldout)]
    else:
        train_names, heldout = split_names(names, 0.2, seed=config.split_seed)
    if config.exclude:
        excluded = set(load_split(config.exclude))
        train_names = [n for n in train_names if n not in excluded]
    if split_out and rank == 0:
        write_split(split_out, heldout)
    pair_config = PairConfig(transfer_p=config.transfer_p)
    train_set = SyntheticPairDataset(config.photos, config.masks, train_names, size=config.size, seed=config.seed,
                                     config=pair_config, crop_scale=(config.crop_min, 1.0),
                                     scene_color=config.scene_color)
    val_folder = PhotoMaskFolder(config.photos, config.masks, names=heldout, seed=0)
    val = list(val_folder)
    if config.val_limit:
        val = val[: config.val_limit]
    return train_set, val


def _split_items(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def corpus_training_pairs(config: TrainConfig) -> tuple[list[tuple[Path, Path]], dict[str, int]]:
    """The ``(photo, mask)`` pairs a corpus run trains on, and counts of where they come from.

    The corpus's training split (every photo outside ``corpus_heldout.txt``) minus the photos of ``--exclude``
    (comma-separated corpus split names such as ``calibration-a,calibration-b``, or files of stems). With
    ``--photos/--masks`` as well, the photos of that folder (one mask ``<stem>.png`` each) are added as a second
    source, except any that the corpus build found to be a near-duplicate of a corpus photo
    (``CorpusPairs.shared_matches``): those are either in the corpus already or must stay out (held-out and fold
    photos); except the photos of ``--heldout`` when given; and except photos from the sources reserved for
    independent evaluation (checked against the folder's ``SOURCES.csv``; photos it does not list are left out).
    """
    from ..data.corpus import CorpusPairs

    excluded: set[str] = set()
    for item in _split_items(config.exclude):
        excluded |= set(corpus_split_names(item))
    corpus = CorpusPairs(config.corpus, "train", exclude=excluded, min_fraction=0.01, max_fraction=0.9)
    pairs: list[tuple[Path, Path]] = list(corpus)
    counts = {"corpus_photos": len(corpus.photos), "corpus_pairs": len(pairs), "shared_photos": 0}
    if config.photos and config.masks:
        near = {stem for stems in corpus.shared_matches.values() for stem in stems}
        if config.heldout:
            near |= set(load_split(config.heldout))
        masks = Path(config.masks)
        found = {p.stem: p for p in sorted(Path(config.photos).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
        allowed = _unreserved_stems(Path(config.photos))
        extra = [(found[s], masks / f"{s}.png") for s in sorted(found)
                 if s not in near and s in allowed and (masks / f"{s}.png").is_file()]
        pairs += extra
        counts["shared_photos"] = len(extra)
        counts["shared_reserved_or_unlisted"] = len(set(found) - allowed)
    return pairs, counts


#: Sources reserved for independent evaluation (the corpus build's rules, issue 16): Debian packages (globs) and
#: (package glob, path glob) pairs; a second photo source is checked against them through its SOURCES.csv.
_RESERVED_PACKAGES = ("lomiri-wallpapers*", "darknet", "visp-images-data")
_RESERVED_FILES = (
    *((pkg, f"*{name}*") for pkg in ("scikit-image", "python3-skimage*", "python-skimage*")
      for name in ("chelsea", "coffee", "rocket", "motorcycle", "hubble_deep_field")),
    *((pkg, f"*{name}*") for pkg in ("scikit-learn", "python3-sklearn*", "python-sklearn*")
      for name in ("china", "flower")),
    ("*opencv*", "*messi5*"),
    ("gcompris*", "*explore_world_music*"),
)


def _reserved(package: str, path: str) -> bool:
    package, path = package.lower(), path.lower()
    return any(fnmatch.fnmatchcase(package, p) for p in _RESERVED_PACKAGES) or any(
        fnmatch.fnmatchcase(package, p) and fnmatch.fnmatchcase(path, q) for p, q in _RESERVED_FILES)


def _unreserved_stems(photos: Path) -> set[str]:
    """Stems of the photos that ``SOURCES.csv`` (next to the photo folder, columns ``path``, ``package``,
    ``path_in_package``) lists as coming from a source that is not reserved; unlisted photos are left out."""
    table = photos.parent / "SOURCES.csv"
    if not table.is_file():
        raise FileNotFoundError(f"A second photo source needs {table} (path, package, path_in_package per photo) to "
                                "keep the sources reserved for independent evaluation out of training.")
    with table.open(newline="") as handle:
        return {Path(row["path"]).stem for row in csv.DictReader(handle)
                if not _reserved(row.get("package", ""), row.get("path_in_package", ""))}


def _corpus_datasets(config: TrainConfig) -> tuple[Dataset, list[HarmonizationSample]]:
    pairs, _ = corpus_training_pairs(config)
    train_set = PairListDataset(pairs, size=config.size, seed=config.seed,
                                config=PairConfig(transfer_p=config.transfer_p), crop_scale=(config.crop_min, 1.0),
                                scene_color=config.scene_color)
    val_split = config.val_split if config.val_split is not None else (config.exclude or "")
    if not val_split or val_split == "none":
        return train_set, []
    if "heldout" in _split_items(val_split):
        raise ValueError("Validating on the corpus held-out split is not allowed (it is for the final report); "
                         "validate on the calibration folds the run leaves out.")
    val = list(CorpusComposites(config.corpus, val_split, max_regions=config.max_regions))
    if config.val_limit:
        val = val[: config.val_limit]
    return train_set, val


def _steps(dataset: Dataset, batch: int, seed: int, rank: int, world: int, start_step: int
           ) -> Iterator[tuple[int, int, list[int]]]:
    """Endless ``(step, epoch, indices)`` from ``start_step`` on (see :func:`batches`)."""
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    per_epoch = len(sampler) // batch
    if per_epoch < 1:
        raise ValueError(f"The dataset ({len(dataset)} items over {world} ranks) is smaller than one batch of "
                         f"{batch}; lower --batch.")
    step = start_step
    while True:
        epoch, position = divmod(step, per_epoch)
        sampler.set_epoch(epoch)
        indices = list(iter(sampler))
        for offset in range(position, per_epoch):
            yield step, epoch, indices[offset * batch:(offset + 1) * batch]
            step += 1


class _KeyedItems(Dataset):
    """``dataset.sample(index, epoch)`` addressed by ``(epoch, index)`` keys, for DataLoader workers."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        epoch, index = key
        return self.dataset.sample(index, epoch)


class _KeyBatches:
    """The batch sampler of the worker path: each step's ``[(epoch, index), ...]``."""

    def __init__(self, steps: Iterator[tuple[int, int, list[int]]]) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for _, epoch, chunk in self.steps:
            yield [(epoch, i) for i in chunk]


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def batches(dataset: Dataset, batch: int, seed: int, rank: int, world: int, start_step: int, workers: int = 0
            ) -> Iterator[tuple[int, int, dict[str, torch.Tensor]]]:
    """Endless ``(step, epoch, batch)`` stream from ``start_step`` on, identical across runs and resumes.

    Each epoch is a :class:`DistributedSampler` permutation (seeded, ``drop_last``) sharded over ranks; a step is
    ``batch`` consecutive indices of this rank's shard. With ``workers > 0`` (and a dataset with
    ``sample(index, epoch)``) the items are built in that many DataLoader worker processes, ahead of the training
    step; the batches are the same as in-loop building, since an item is a pure function of (seed, epoch, index).
    """
    if workers <= 0 or not hasattr(dataset, "sample"):
        for step, epoch, chunk in _steps(dataset, batch, seed, rank, world, start_step):
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            yield step, epoch, collate([dataset[i] for i in chunk])
        return
    loader = DataLoader(_KeyedItems(dataset), batch_sampler=_KeyBatches(_steps(dataset, batch, seed, rank, world,
                                                                               start_step)),
                        num_workers=workers, collate_fn=collate, worker_init_fn=_worker_init, prefetch_factor=2)
    for (step, epoch, _), data in zip(_steps(dataset, batch, seed, rank, world, start_step), loader, strict=False):
        yield step, epoch, data
