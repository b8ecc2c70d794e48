"""Convert MediaPipe's selfie-segmentation TFLite model into the safetensors file the package runs with PyTorch.

The model (``selfie_segmentation.tflite``, 256x256 general model, Apache-2.0) ships inside the ``mediapipe==0.10.14``
wheel under ``mediapipe/modules/selfie_segmentation/``. It cannot run in the stock TFLite interpreter (its last layer
is MediaPipe's custom ``Convolution2DTransposeBias`` op), so instead of a TFLite runtime we translate its graph into
the small op list that :class:`harmonization.models.segmentation.OpGraph` executes with torch (CPU or CUDA).

Usage (needs the ``tflite`` flatbuffer reader only for this conversion: ``pip install tflite==2.18.0``)::

    pip download --no-deps mediapipe==0.10.14 -d /tmp/mp
    python scripts/convert_selfie_segmentation.py /tmp/mp/mediapipe-0.10.14-*.whl \
        checkpoints/selfie_segmentation.safetensors

The first argument may be the ``.tflite`` file itself or the wheel. Constants are stored in float16, as in the
TFLite file (its weights are float16 with DEQUANTIZE ops), laid out for torch: convolutions ``(O, I, kH, kW)``,
depthwise ``(C, 1, kH, kW)``, transposed convolution ``(I, O, kH, kW)``.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"


def read_model_bytes(path: Path) -> bytes:
    """The ``.tflite`` bytes from the file itself or from inside a mediapipe wheel."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            return wheel.read(MEMBER)
    return path.read_bytes()


def convert(data: bytes) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Translate the TFLite graph; returns (tensors, safetensors metadata with the op list as JSON)."""
    import tflite  # conversion-time dependency only

    model = tflite.Model.GetRootAsModel(data, 0)
    graph = model.Subgraphs(0)
    builtin_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        custom = code.CustomCode()
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        codes.append(custom.decode() if custom else builtin_names[builtin])

    def buffer_array(index: int) -> np.ndarray | None:
        tensor = graph.Tensors(index)
        raw = model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(raw, int) or raw.size == 0:
            return None
        dtype = {0: np.float32, 1: np.float16, 2: np.int32}[tensor.Type()]
        return np.frombuffer(raw.tobytes(), dtype=dtype).reshape(tensor.ShapeAsNumpy())

    constants: dict[int, np.ndarray] = {}
    for i in range(graph.TensorsLength()):
        array = buffer_array(i)
        if array is not None:
            constants[i] = array

    tensors: dict[str, torch.Tensor] = {}
    ops: list[dict] = []
    alias: dict[int, int] = {}  # DEQUANTIZE output -> its constant input

    def const(index: int) -> np.ndarray:
        return constants[alias.get(index, index)]

    def name(index: int) -> str:
        return f"t{index}"

    activation = {0: None, 1: "relu", 3: "relu6"}
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        kind = codes[op.OpcodeIndex()]
        inputs = [int(j) for j in op.InputsAsNumpy()]
        outputs = [int(j) for j in op.OutputsAsNumpy()]
        options = op.BuiltinOptions()
        if kind == "DEQUANTIZE":
            alias[outputs[0]] = inputs[0]
            continue
        entry: dict = {"op": kind.lower(), "in": [name(inputs[0])], "out": name(outputs[0])}
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            opt = tflite.Conv2DOptions() if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions()
            opt.Init(options.Bytes, options.Pos)
            weight = const(inputs[1])  # CONV: (O, kH, kW, I); DEPTHWISE: (1, kH, kW, C)
            if kind == "CONV_2D":
                w = weight.transpose(0, 3, 1, 2)
                groups = 1
            else:
                w = weight.transpose(3, 0, 1, 2)  # (C, 1, kH, kW)
                groups = w.shape[0]
                if opt.DepthMultiplier() != 1:
                    raise ValueError("depth multiplier != 1 is not supported")
            tensors[f"op{i}.weight"] = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float16))
            tensors[f"op{i}.bias"] = torch.from_numpy(np.ascontiguousarray(const(inputs[2]), dtype=np.float16))
            entry.update(op="conv", param=f"op{i}", stride=[opt.StrideH(), opt.StrideW()], groups=groups,
                         padding="same" if opt.Padding() == tflite.Padding.SAME else "valid",
                         act=activation[opt.FusedActivationFunction()])
        elif kind == "AVERAGE_POOL_2D":
            opt = tflite.Pool2DOptions()
            opt.Init(options.Bytes, options.Pos)
            shape = graph.Tensors(inputs[0]).ShapeAsNumpy()
            if not (opt.FilterHeight() == shape[1] and opt.FilterWidth() == shape[2]):
                raise ValueError("only global average pooling is supported")
            entry.update(op="global_avg_pool", act=activation[opt.FusedActivationFunction()])
        elif kind in ("ADD", "MUL"):
            opt = tflite.AddOptions() if kind == "ADD" else tflite.MulOptions()
            opt.Init(options.Bytes, options.Pos)
            if any(j in constants or j in alias for j in inputs):
                raise ValueError(f"{kind} with a constant operand is not supported")
            entry.update(op=kind.lower(), act=activation[opt.FusedActivationFunction()],
                         **{"in": [name(j) for j in inputs]})
        elif kind == "RESIZE_BILINEAR":
            opt = tflite.ResizeBilinearOptions()
            opt.Init(options.Bytes, options.Pos)
            if opt.AlignCorners() or not opt.HalfPixelCenters():
                raise ValueError("only half-pixel-centre bilinear resizing is supported")
            entry.update(op="resize_bilinear", size=[int(v) for v in const(inputs[1])])
        elif kind in ("RELU", "HARD_SWISH", "LOGISTIC"):
            entry["op"] = {"RELU": "relu", "HARD_SWISH": "hardswish", "LOGISTIC": "sigmoid"}[kind]
        elif kind == "Convolution2DTransposeBias":
            raw = bytes(op.CustomOptionsAsNumpy())  # TfLiteTransposeConvParams: padding, stride_w, stride_h (int32)
            padding, stride_w, stride_h = np.frombuffer(raw[:12], dtype=np.int32)
            weight = const(inputs[1])  # (O, kH, kW, I)
            if weight.shape[1] != stride_h or weight.shape[2] != stride_w:
                raise ValueError("only non-overlapping transposed convolutions (kernel == stride) are supported")
            tensors[f"op{i}.weight"] = torch.from_numpy(np.ascontiguousarray(weight.transpose(3, 0, 1, 2),
                                                                              dtype=np.float16))
            tensors[f"op{i}.bias"] = torch.from_numpy(np.ascontiguousarray(const(inputs[2]), dtype=np.float16))
            entry.update(op="conv_transpose", param=f"op{i}", stride=[int(stride_h), int(stride_w)])
        else:
            raise ValueError(f"unsupported TFLite op {kind}")
        ops.append(entry)

    graph_input = name(int(graph.Inputs(0)))
    graph_output = name(int(graph.Outputs(0)))
    in_shape = [int(v) for v in graph.Tensors(int(graph.Inputs(0))).ShapeAsNumpy()]
    spec = {"input": graph_input, "output": graph_output, "input_size": in_shape[1:3], "ops": ops}
    metadata = {
        "format": "op-graph",
        "graph": json.dumps(spec, separators=(",", ":")),
        "source": "MediaPipe selfie_segmentation.tflite (general 256x256), mediapipe==0.10.14 wheel",
        "license": "Apache-2.0",
    }
    return tensors, metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="selfie_segmentation.tflite or the mediapipe 0.10.14 wheel")
    parser.add_argument("out", type=Path, help="output .safetensors")
    args = parser.parse_args(argv)
    tensors, metadata = convert(read_model_bytes(args.source))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out), metadata=metadata)
    ops = json.loads(metadata["graph"])["ops"]
    print(f"wrote {args.out}: {len(tensors)} tensors, {len(ops)} ops, {args.out.stat().st_size / 1e3:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
