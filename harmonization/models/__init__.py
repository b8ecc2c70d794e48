"""Networks (``nn.Module``s only; they import torch, :mod:`harmonization.ops` and the error types, never PIL, NumPy,
files or the Hub).

Each model file holds its architecture, a builder that picks the configuration from a state dict and loads it
strictly, and ``PRETRAINED``: its checkpoints as plain data (registered by :mod:`harmonization.hub`). Files are read
and networks loaded by :func:`harmonization.hub.load_network`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from . import fmm, phnet
from ._loading import StateDictMismatchError, clean_state_dict, load_strict

__all__ = [
    "ARCHITECTURES",
    "StateDictMismatchError",
    "build_from_state_dict",
    "clean_state_dict",
    "load_strict",
]

#: architecture name -> ``build(state_dict, what=...) -> eval-mode nn.Module``
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "phnet": phnet.build_from_state_dict,
    "fmm": fmm.build_from_state_dict,
}


def build_from_state_dict(arch: str, state_dict: Mapping[str, Any], *, what: str = "checkpoint",
                          **kwargs: Any) -> nn.Module:
    """Build the ``arch`` network whose configuration fits ``state_dict`` and load it strictly (eval mode).

    Args:
        arch: ``"phnet"`` or ``"fmm"``.
        state_dict: the weights (a plain state dict, or the original files' wrappers: FMM's
            ``{'epoch', 'state_dict', 'optimizer'}``, ``module.`` prefixes).
        what: a name for the weights in error messages (e.g. the file name).
        **kwargs: passed to the architecture's builder (e.g. ``resolution=`` for PHNet).

    Returns:
        The network in eval mode on CPU, float32, with gradients off.
    """
    try:
        build = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"Unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}.") from None
    model = build(state_dict, what=what, **kwargs)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model.float().eval()
