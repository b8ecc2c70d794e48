"""State-dict helpers shared by every model file: prefix cleaning and strict loading with a readable report.

Only torch is imported here; reading files from disk or the Hub is the job of :mod:`harmonization.hub`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..errors import StateDictMismatchError

__all__ = ["clean_state_dict", "load_strict", "StateDictMismatchError"]


def clean_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip wrapper prefixes added by DataParallel/DDP (``module.``) and ``torch.compile`` (``_orig_mod.``).

    Args:
        state_dict: mapping from parameter name to tensor.

    Returns:
        A new dict with the prefixes removed from every key.
    """
    cleaned: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        for prefix in ("module.", "_orig_mod."):
            while key.startswith(prefix):
                key = key[len(prefix) :]
        cleaned[key] = value
    return cleaned


def _describe(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *, what: str = "checkpoint") -> nn.Module:
    """Load ``state_dict`` into ``module`` requiring an exact match of keys and shapes.

    Args:
        module: the freshly built network.
        state_dict: tensors keyed exactly as ``module.state_dict()``; values are cast to the module's dtype.
        what: a name for the checkpoint used in the error message (for example its file name).

    Returns:
        ``module`` itself, with the weights loaded.

    Raises:
        StateDictMismatchError: listing every missing key, unexpected key and shape mismatch, so that a user
            can tell a wrong file (another architecture) from a damaged one.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or mismatched:
        lines = [f"The {what} does not match {type(module).__name__} ({len(expected)} tensors expected, "
                 f"{len(state_dict)} found)."]
        if missing:
            lines.append(f"Missing keys ({len(missing)}): {_describe(missing)}")
        if unexpected:
            lines.append(f"Unexpected keys ({len(unexpected)}): {_describe(unexpected)}")
        if mismatched:
            lines.append(f"Shape mismatches ({len(mismatched)}): {_describe(mismatched)}")
        lines.append("Check that the file is a checkpoint of this architecture and configuration.")
        raise StateDictMismatchError("\n".join(lines))
    module.load_state_dict(dict(state_dict), strict=True)
    return module
