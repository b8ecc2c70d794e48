"""One loader per network and one process-wide cache of loaded weights.

- :func:`load_network` builds PHNet or FMM from a registry name or a weights file. Everything the pipeline needs
  to run it comes from one place: for a name, the registry entry (resolution, config) plus the file's metadata
  (``transfer``, ``output``, ``strength``); for a path, the file's safetensors metadata (``arch``, ``resolution``,
  ``transfer``, ``output``, ``strength``), falling back to the family's published defaults for plain ``.pth``
  files, which carry none.
- :func:`load_segmenter` builds the shipped person segmenter.
- :func:`load_cached` is the cache behind both (and behind painterly fusion's VGG): one entry per (kind, file,
  device), keyed by the file's size and modification time, so a file rewritten in place (e.g. new metadata from
  ``harmonization calibrate --write``) is loaded afresh. Loaded modules are shared between threads and never
  modified after loading.
- :func:`resolve_device` is the package's one device default: CUDA when available, else CPU.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import torch
from torch import nn

from ..errors import CheckpointFileError, CheckpointNotFoundError, MethodUnavailableError
from ..models import build_from_state_dict
from .files import check_regular_file, load_state_dict, read_metadata
from .registry import ResolvedCheckpoint, get_checkpoint_spec, list_checkpoints
from .resolve import resolve_checkpoint

__all__ = ["ANCHORED_OUTPUT", "LoadedNetwork", "NETWORKS", "NetworkKind", "TRANSFERS", "check_finite",
           "clear_cache", "default_checkpoint", "load_cached", "load_network", "load_segmenter",
           "network_metadata_defaults", "resolve_device"]

Transfer = Literal["affine", "global", "upsample"]
TRANSFERS = ("affine", "global", "upsample")
ANCHORED_OUTPUT = "background-anchored"
"""Checkpoint metadata ``output`` value: the network's output is defined up to a global colour transform, fixed by
matching its background to the composite's (:func:`harmonization.ops.colortransfer.anchor_to_background`)."""
SEGMENTATION_CHECKPOINT = "selfie-segmentation"
MAX_CACHED = 8


@dataclass(frozen=True)
class NetworkKind:
    """What the loader needs to know about one network family.

    Attributes:
        arch: architecture name in :data:`harmonization.models.ARCHITECTURES` and the checkpoint registry.
        label: human-readable name.
        default_resolution: the published training resolution, for files whose metadata does not say.
    """

    arch: str
    label: str
    default_resolution: int


NETWORKS: dict[str, NetworkKind] = {
    "phnet": NetworkKind("phnet", "PHNet", 512),
    "fmm": NetworkKind("fmm", "FMM", 256),
}


@dataclass(frozen=True)
class LoadedNetwork:
    """An eval-mode network with how to run it and where its weights came from.

    Attributes:
        model: the network (eval mode, no gradients), on its device.
        resolution: the long side it runs at.
        description: where the weights came from, for notes under results.
        anchored: trained with background anchoring (metadata ``output: background-anchored``).
        transfer: the default way back to full resolution (metadata ``transfer``, else ``"affine"``).
        strength: the default strength (metadata ``strength``, else 1.0).
    """

    model: nn.Module
    resolution: int
    description: str
    anchored: bool = False
    transfer: Transfer = "affine"
    strength: float = 1.0


# ------------------------------------------------------------------------------------------------------ the cache
_CACHE: OrderedDict[tuple, object] = OrderedDict()
_CACHE_LOCK = threading.Lock()
T = TypeVar("T")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`; ``None`` = CUDA when available, else CPU. ``"cuda"`` gets its index.

    Raises:
        ValueError: an unknown device string, or CUDA asked for on a machine without it.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"Unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'.") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for, but CUDA is not available here; use 'cpu'.")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    elif dev.type != "cpu" and dev.type != "mps":
        raise ValueError(f"Unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'.")
    return dev


def load_cached(kind: str, path: str | os.PathLike[str], device: str | torch.device | None,
                build: Callable[[Path], T]) -> T:
    """``build(path)`` moved to ``device``, built once per (kind, file contents' identity, device).

    The key holds the file's resolved path, size and modification time, so rewriting the file (new weights or
    new metadata) gives a fresh entry. At most :data:`MAX_CACHED` entries are kept (least recently used dropped).

    Args:
        kind: what is built (``"network:phnet"``, ``"vgg19"``, ``"segmenter"``); part of the key.
        path: the weights file.
        device: where the module goes (see :func:`resolve_device`).
        build: reads the file and returns a module on CPU.
    """
    path = check_regular_file(path)
    status = path.stat()
    dev = resolve_device(device)
    key = (kind, str(path.resolve()), status.st_size, status.st_mtime_ns, str(dev))
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]  # type: ignore[return-value]
        value = build(path)
        if isinstance(value, nn.Module):
            value = value.to(dev)
        _CACHE[key] = value
        while len(_CACHE) > MAX_CACHED:
            _CACHE.popitem(last=False)
        return value


def clear_cache() -> None:
    """Forget every loaded module (tests; freeing memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _finite_enough(key: str, value: torch.Tensor) -> bool:
    if not value.is_floating_point() or bool(value.isfinite().all()):
        return True
    # A BatchNorm variance above float16's range is stored as +inf by an fp16 export; the layer then outputs its
    # bias, which is finite (our first PHNet export has such a layer). NaN or -inf anywhere is damage.
    return key.endswith("running_var") and not bool(value.isnan().any()) and bool((value > 0).all())


def check_finite(state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """Refuse weights holding NaN or infinity (they would turn every result black or white).

    Raises:
        CheckpointFileError: naming how many tensors are affected and the first few.
    """
    bad = [key for key, value in state_dict.items() if not _finite_enough(key, value)]
    if bad:
        shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise CheckpointFileError(f"{what} holds NaN or infinite weights in {len(bad)} tensor(s) ({shown}); the "
                                  "file is damaged or came from a diverged training run. Use another checkpoint.")


# ------------------------------------------------------------------------------------------------------- networks
def network_metadata_defaults(metadata: Mapping[str, str], what: str) -> tuple[bool, Transfer, float]:
    """``(anchored, transfer, strength)`` from a checkpoint's metadata (defaults: False, ``"affine"``, 1.0).

    Raises:
        CheckpointFileError: an unknown ``transfer`` or a ``strength`` that is not a number in [0, 2].
    """
    anchored = metadata.get("output") == ANCHORED_OUTPUT
    transfer = metadata.get("transfer", "affine")
    if transfer not in TRANSFERS:
        raise CheckpointFileError(f"{what}: unknown transfer {transfer!r} in its metadata; expected one of "
                                  f"{', '.join(TRANSFERS)}.")
    text = metadata.get("strength", "1")
    try:
        strength = float(text)
    except ValueError:
        strength = float("nan")
    if not 0.0 <= strength <= 2.0:
        raise CheckpointFileError(f"{what}: metadata strength {text!r} is not a number in [0, 2]. Fix the file's "
                                  "metadata (harmonization.hub.update_metadata) or re-export it.")
    return anchored, transfer, strength  # type: ignore[return-value]


def _checkpoint_names(arch: str) -> list[str]:
    """Registered checkpoints of ``arch`` in preference order: published ones first, then ours (shipped)."""
    return sorted(list_checkpoints(arch), key=lambda n: get_checkpoint_spec(n).shipped)


def default_checkpoint(arch: str) -> ResolvedCheckpoint:
    """The first registered checkpoint of ``arch`` found locally (files, caches, packages; no network).

    Raises:
        MethodUnavailableError: naming every checkpoint tried and how to supply one.
    """
    tried = []
    for name in _checkpoint_names(arch):
        try:
            return resolve_checkpoint(name, allow_network=False)
        except CheckpointNotFoundError:
            tried.append(name)
    raise MethodUnavailableError(
        f"no {NETWORKS[arch].label} checkpoint was found on this machine (tried {', '.join(tried) or 'none'}). "
        f"Download one with `harmonization download {tried[0] if tried else '<name>'}` or put the file "
        "into checkpoints/ (see checkpoints/README.md)."
    )


def _build_network(arch: str, what: str) -> Callable[[Path], nn.Module]:
    def build(path: Path) -> nn.Module:
        state_dict = load_state_dict(path)
        check_finite(state_dict, what)
        return build_from_state_dict(arch, state_dict, what=what)

    return build


def _resolution_from(metadata: Mapping[str, str], fallback: int, what: str) -> int:
    text = metadata.get("resolution")
    if text is None:
        return fallback
    if not text.isdigit() or not 8 <= int(text) <= 4096:
        raise CheckpointFileError(f"{what}: metadata resolution {text!r} is not a whole number of pixels in "
                                  "[8, 4096]; fix the file's metadata.")
    return int(text)


def load_network(name_or_path: str | os.PathLike[str] | None = None, device: str | torch.device | None = None, *,
                 arch: str | None = None, allow_network: bool = True) -> LoadedNetwork:
    """Load (once per process, file and device) a PHNet or FMM network and how to run it.

    Args:
        name_or_path: a registry name (resolved, downloading if needed and allowed), the path of a weights file
            (``.safetensors`` of ours carry their settings in the metadata; published ``.pth`` files run at the
            family's published resolution), or ``None`` for the first checkpoint of ``arch`` found locally.
        device: where to run; default CUDA when available, else CPU.
        arch: ``"phnet"`` or ``"fmm"``; required with ``None`` and with files whose metadata names no ``arch``,
            checked against the entry or the metadata otherwise.
        allow_network: False never downloads.

    Raises:
        ValueError: unknown name, wrong architecture, bad device.
        CheckpointNotFoundError / MethodUnavailableError: no file.
        CheckpointFileError: a damaged, non-regular or non-finite file, or bad metadata.
    """
    if arch is not None and arch not in NETWORKS:
        raise ValueError(f"arch must be one of {', '.join(NETWORKS)}; got {arch!r}.")
    spec = None
    if name_or_path is None:
        if arch is None:
            raise ValueError("load_network(None) needs arch='phnet' or arch='fmm' to pick the default checkpoint.")
        resolved = default_checkpoint(arch)
        spec, path, origin = resolved.spec, resolved.path, resolved.origin
    elif isinstance(name_or_path, os.PathLike) or _looks_like_path(str(name_or_path)):
        path, origin = check_regular_file(name_or_path, "Checkpoint file"), "file"
    else:
        spec = get_checkpoint_spec(str(name_or_path))
        if spec.arch not in NETWORKS or (arch is not None and spec.arch != arch):
            raise ValueError(f"{spec.name} is a {spec.arch} checkpoint, not {arch or 'a harmonization network'}.")
        resolved = resolve_checkpoint(spec, allow_network=allow_network)
        path, origin = resolved.path, resolved.origin
    what = path.name
    metadata = read_metadata(path)
    file_arch = spec.arch if spec is not None else metadata.get("arch")
    if file_arch is not None and arch is not None and file_arch != arch:
        raise ValueError(f"{what} is a {file_arch} checkpoint, not {arch}.")
    arch = arch or file_arch
    if arch not in NETWORKS:
        raise ValueError(f"{what} does not say which network it holds (no 'arch' in its metadata); pass "
                         "arch='phnet' or arch='fmm'.")
    kind = NETWORKS[arch]
    resolution = (spec.resolution if spec is not None and spec.resolution else
                  _resolution_from(metadata, kind.default_resolution, what))
    anchored, transfer, strength = network_metadata_defaults(metadata, what)
    model = load_cached(f"network:{arch}", path, device, _build_network(arch, what))
    details = [f"{origin}: {what}"] if spec is not None else []
    details.append(f"{kind.label} at {resolution} px")
    if strength != 1.0:
        details.append(f"strength {strength:g}")
    head = f"checkpoint `{spec.name}`" if spec is not None else f"file `{what}`"
    description = f"{head} ({', '.join(details)})"
    return LoadedNetwork(model, resolution, description, anchored, transfer, strength)


def _looks_like_path(text: str) -> bool:
    """A registry name has no path separator and no weights-file suffix; anything else is taken as a path."""
    return os.sep in text or "/" in text or text.endswith((".safetensors", ".pth", ".pt", ".bin")) or Path(
        text).is_file()


# ------------------------------------------------------------------------------------------------------ segmenter
def load_segmenter(device: str | torch.device | None = None) -> nn.Module:
    """The shipped selfie-segmentation network (MediaPipe, converted; loaded once per process and device).

    Raises:
        CheckpointNotFoundError: the shipped file is missing (the message says where it was looked for).
    """
    from ..models.segmentation import OpGraph

    resolved = resolve_checkpoint(SEGMENTATION_CHECKPOINT, allow_network=False)

    def build(path: Path) -> nn.Module:
        return OpGraph.from_file_contents(load_state_dict(path), read_metadata(path)).eval()

    return load_cached("segmenter", resolved.path, device, build)
