"""Networks (``nn.Module``s only; they import torch and :mod:`harmonization.ops`, never PIL, NumPy or the Hub).

``from_original_checkpoint(arch, path)`` reads a published checkpoint file of the original code (or one of our
safetensors files with the same layout), builds the matching configuration and loads it strictly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import fmm, phnet
from ._loading import StateDictMismatchError, clean_state_dict, load_strict

__all__ = [
    "ARCHITECTURES",
    "StateDictMismatchError",
    "build_from_state_dict",
    "clean_state_dict",
    "from_original_checkpoint",
    "load_strict",
    "read_weights_file",
]

#: architecture name -> ``build(state_dict, what=...) -> eval-mode nn.Module``
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "phnet": phnet.build_from_state_dict,
    "fmm": fmm.build_from_state_dict,
}


def read_weights_file(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """Read an original ``.pth`` checkpoint on CPU with ``torch.load(weights_only=True)``, which refuses pickled
    objects other than tensors and plain containers. (``.safetensors`` files are read by
    :func:`harmonization.checkpoints.load_state_dict`; pass the result to :func:`build_from_state_dict`.)"""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {path}.")
    if path.suffix == ".safetensors":
        raise ValueError(
            f"{path.name} is a safetensors file, not an original checkpoint. Load it with "
            "harmonization.checkpoints.load_state_dict(path) and build_from_state_dict(arch, state_dict)."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError subclasses
        raise ValueError(
            f"Could not read {path.name} as a weights file with torch.load(weights_only=True): {exc}. "
            "Only plain state dicts (tensors in dicts) are accepted; pickled code is refused."
        ) from exc


def build_from_state_dict(arch: str, state_dict: Mapping[str, Any], *, what: str = "checkpoint",
                          **kwargs: Any) -> nn.Module:
    """Build the ``arch`` network whose configuration fits ``state_dict`` and load it strictly (eval mode)."""
    try:
        build = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"Unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}.") from None
    model = build(state_dict, what=what, **kwargs)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.float().eval()


def from_original_checkpoint(arch: str, path: str | os.PathLike[str], **kwargs: Any) -> nn.Module:
    """Load a published checkpoint file of the original code as an eval-mode module.

    Args:
        arch: ``"phnet"`` (a plain state dict; iharmony or ffhqh configuration picked from the tensors) or ``"fmm"``
            (``{'epoch', 'state_dict', 'optimizer'}`` with optional ``module.`` prefixes).
        path: the file (``.pth`` or ``.safetensors``).
        **kwargs: passed to the architecture's builder (e.g. ``resolution=`` for PHNet).

    Returns:
        The network in eval mode on CPU, float32; ``module(composite, mask)`` returns what the original returns.
    """
    return build_from_state_dict(arch, read_weights_file(path), what=Path(path).name, **kwargs)
