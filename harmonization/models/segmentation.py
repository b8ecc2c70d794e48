"""A small op-graph network, used for MediaPipe's selfie-segmentation model (automatic subject masks).

The graph comes from a converted TFLite model (``scripts/convert_selfie_segmentation.py``): a list of ops in execution
order, each reading named tensors and writing one, with TFLite semantics (``"same"`` padding puts the extra pixel
after, as TensorFlow does; bilinear resizing with half-pixel centres). Activations are kept in NCHW; weights are stored
in torch layouts by the converter. Running it with torch means no TFLite runtime is needed and CUDA works.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["OpGraph", "PRETRAINED", "SUPPORTED_OPS"]

SUPPORTED_OPS = ("conv", "conv_transpose", "global_avg_pool", "add", "mul", "resize_bilinear", "relu", "relu6",
                 "hardswish", "sigmoid")


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _activation(x: torch.Tensor, name: str | None) -> torch.Tensor:
    if name is None:
        return x
    if name == "relu":
        return F.relu(x)
    if name == "relu6":
        return F.relu6(x)
    raise ValueError(f"unknown fused activation {name!r}")


class OpGraph(nn.Module):
    """Execute a converted op list.

    Args:
        spec: ``{"input", "output", "input_size": [h, w], "ops": [...]}`` (the ``graph`` metadata of the file).
        tensors: parameters named ``op<i>.weight`` / ``op<i>.bias`` (any float dtype; stored as float32 buffers).
    """

    def __init__(self, spec: Mapping, tensors: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        self.spec = dict(spec)
        self.ops = list(spec["ops"])
        unknown = sorted({op["op"] for op in self.ops} - set(SUPPORTED_OPS))
        if unknown:
            raise ValueError(f"Unsupported ops in the graph: {', '.join(unknown)}; "
                             f"supported: {', '.join(SUPPORTED_OPS)}.")
        needed = {f"{op['param']}.{part}" for op in self.ops if "param" in op for part in ("weight", "bias")}
        missing, unexpected = sorted(needed - set(tensors)), sorted(set(tensors) - needed)
        if missing or unexpected:
            raise ValueError(f"Graph weights do not match the op list: missing {missing[:5]}, unexpected "
                             f"{unexpected[:5]}.")
        self.params = nn.ParameterDict({k.replace(".", "_"): nn.Parameter(v.float(), requires_grad=False)
                                        for k, v in tensors.items()})
        self.input_size = tuple(int(v) for v in spec["input_size"])

    @classmethod
    def from_file_contents(cls, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]) -> OpGraph:
        """Build from a safetensors file's tensors and metadata (``format: op-graph``)."""
        if metadata.get("format") != "op-graph" or "graph" not in metadata:
            raise ValueError(f"Not an op-graph file (metadata format {metadata.get('format')!r}); convert the model "
                             "with scripts/convert_selfie_segmentation.py.")
        return cls(json.loads(metadata["graph"]), tensors)

    def _param(self, name: str, part: str) -> torch.Tensor:
        return self.params[f"{name}_{part}"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the graph.

        Args:
            x: ``(B, C, H, W)`` input in the model's range (for the selfie model: RGB in [0, 1], 256x256).

        Returns:
            The graph output, NCHW (for the selfie model: ``(B, 1, 256, 256)`` person probability).
        """
        values: dict[str, torch.Tensor] = {self.spec["input"]: x}
        for op in self.ops:
            kind = op["op"]
            a = values[op["in"][0]]
            if kind == "conv":
                weight, bias = self._param(op["param"], "weight"), self._param(op["param"], "bias")
                stride = tuple(op["stride"])
                if op["padding"] == "same":
                    top, bottom = _same_padding(a.shape[-2], weight.shape[-2], stride[0])
                    left, right = _same_padding(a.shape[-1], weight.shape[-1], stride[1])
                    if top or bottom or left or right:
                        a = F.pad(a, (left, right, top, bottom))
                out = _activation(F.conv2d(a, weight.to(a.dtype), bias.to(a.dtype), stride, groups=op["groups"]),
                                  op["act"])
            elif kind == "conv_transpose":
                weight, bias = self._param(op["param"], "weight"), self._param(op["param"], "bias")
                out = F.conv_transpose2d(a, weight.to(a.dtype), bias.to(a.dtype), stride=tuple(op["stride"]))
            elif kind == "global_avg_pool":
                out = _activation(a.mean(dim=(-2, -1), keepdim=True), op["act"])
            elif kind in ("add", "mul"):
                b = values[op["in"][1]]
                out = _activation(a + b if kind == "add" else a * b, op["act"])
            elif kind == "resize_bilinear":
                out = F.interpolate(a, size=tuple(op["size"]), mode="bilinear", align_corners=False)
            elif kind == "relu":
                out = F.relu(a)
            elif kind == "relu6":
                out = F.relu6(a)
            elif kind == "hardswish":
                out = F.hardswish(a)
            else:  # sigmoid
                out = torch.sigmoid(a)
            values[op["out"]] = out
        return values[self.spec["output"]]


#: The shipped checkpoint of this family, as plain data (registered by ``harmonization.hub.catalog``).
PRETRAINED: tuple[dict, ...] = (
    dict(name="selfie-segmentation", resolution=256, format="op-graph",
         sources=(dict(kind="local", filename="selfie_segmentation.safetensors", shipped=True),),
         description="MediaPipe selfie segmentation (general model, 256x256), converted to an op graph run with "
                     "torch; the app's automatic subject mask (people)",
         license="Apache-2.0 (Google, mediapipe 0.10.14); see checkpoints/MODEL_CARD_selfie-segmentation.md",
         redistributable=True),
)
