"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) as an ONNX graph.

The network type is ``anet_type`` of dlib's ``dnn_face_recognition_ex.cpp``: a 7x7/2 stem, a 3x3/2
max-pool, residual blocks ``conv-affine-relu-conv-affine (+ shortcut) relu`` of 32, 64, 128, 256
and 256 filters, a global average pool and a 128-unit fully connected layer without bias. A
down-sampling block (first 3x3 convolution with stride 2, no padding) adds a 2x2/2 average pool
of its input; dlib's ``add_prev`` adds tensors of different shapes by zero-padding the smaller
one at the end of each axis (channels, rows, columns), which the graph reproduces with ``Pad``.

Every ``affine`` layer (a frozen batch norm: ``gamma * x + beta``) is folded into the
convolution before it. The input is what dlib feeds the net: 150x150 RGB chips, 0..255, here as
float32 NHWC; the graph subtracts the mean colour stored in the file and divides by 256 like
``input_rgb_image_sized``. The output ``descriptor`` (N, 128) is dlib's raw descriptor (not
L2-normalised), so it can be compared with ``dlib.face_recognition_model_v1`` directly.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ConversionError
from . import CONVERTER_VERSIONS
from .dlib_dnn import DlibLayer, DlibNet, read_dlib_net

__all__ = ["CONVERTER_VERSION", "build_dlib_face_resnet"]

#: Bump when the graph this module builds changes, so cached graphs are rebuilt.
CONVERTER_VERSION = CONVERTER_VERSIONS["dlib_face_resnet"]
OPSET = 17
IR_VERSION = 8


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], prefix: str, **attrs) -> str:
        out = self.name(prefix)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


class _Walker:
    """Turns the flat layer records into graph nodes, tracking static (C, H, W) shapes."""

    def __init__(self, net: DlibNet, g: _Graph):
        self.layers = net.layers
        self.i = 0
        self.g = g

    def take(self, kind: str) -> DlibLayer:
        if self.i >= len(self.layers) or self.layers[self.i].kind != kind:
            found = self.layers[self.i].kind if self.i < len(self.layers) else "the end"
            raise ConversionError(f"layer {self.i}: expected {kind}, found {found} (not dlib's face ResNet)")
        self.i += 1
        return self.layers[self.i - 1]

    def peek(self) -> str | None:
        return self.layers[self.i].kind if self.i < len(self.layers) else None

    def conv_affine(self, x: str, shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
        con, aff = self.take("con_4"), self.take("affine_")
        n, k, rows, cols = con.fields["filters"]  # type: ignore[misc]
        if k != shape[0]:
            raise ConversionError(f"layer {self.i}: {k} input channels, previous layer gives {shape[0]}")
        params = con.tensor("params").reshape(-1)
        w = params[: n * k * rows * cols].reshape(n, k, rows, cols)
        b = params[n * k * rows * cols : n * k * rows * cols + n]
        ab = aff.tensor("params").reshape(-1)
        gamma, beta = ab[:n], ab[n : 2 * n]
        sy, sx, py, px = (con.int(f) for f in ("stride_y", "stride_x", "padding_y", "padding_x"))
        y = self.g.op(
            "Conv",
            [
                x,
                self.g.const("w", (w * gamma[:, None, None, None]).astype(np.float32)),
                self.g.const("b", (b * gamma + beta).astype(np.float32)),
            ],
            "conv",
            kernel_shape=[rows, cols],
            strides=[sy, sx],
            pads=[py, px, py, px],
        )
        h = (shape[1] + 2 * py - rows) // sy + 1
        wd = (shape[2] + 2 * px - cols) // sx + 1
        return y, (n, h, wd)

    def pool(self, op: str, x: str, shape: tuple[int, int, int], layer: DlibLayer) -> tuple[str, tuple[int, int, int]]:
        rows, cols, sy, sx, py, px = (
            layer.int(f) for f in ("rows", "cols", "stride_y", "stride_x", "padding_y", "padding_x")
        )
        if (py, px) != (0, 0):
            # dlib pools over the valid part of a padded window; ONNX would count the padding.
            raise ConversionError("padded pooling layers are not supported")
        y = self.g.op(op, [x], "pool", kernel_shape=[rows, cols], strides=[sy, sx])
        return y, (shape[0], (shape[1] - rows) // sy + 1, (shape[2] - cols) // sx + 1)

    def pad_to(self, x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
        extra = [t - s for s, t in zip(shape, target, strict=False)]
        if not any(extra):
            return x
        pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)
        return self.g.op("Pad", [x, self.g.const("pads", pads)], "pad", mode="constant")

    def block(self, x: str, shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
        y, s1 = self.conv_affine(x, shape)
        self.take("relu_")
        y = self.g.op("Relu", [y], "relu")
        y, s2 = self.conv_affine(y, s1)
        shortcut, ss = x, shape
        if self.peek() == "avg_pool_2":
            shortcut, ss = self.pool("AveragePool", x, shape, self.take("avg_pool_2"))
        self.take("add_prev_")
        target = tuple(max(a, b) for a, b in zip(s2, ss, strict=False))
        out = self.g.op("Add", [self.pad_to(y, s2, target), self.pad_to(shortcut, ss, target)], "add")
        self.take("relu_")
        return self.g.op("Relu", [out], "relu"), target  # type: ignore[return-value]


def build_dlib_face_resnet(data: bytes, *, name: str = "dlib_face_resnet") -> onnx.ModelProto:
    """The ONNX model for a serialized dlib face-recognition ResNet (raw file bytes)."""
    net = read_dlib_net(data, loss="loss_metric_2", input_kind="input_rgb_image_sized")
    size = (net.input.rows, net.input.cols)
    g = _Graph()
    mean = np.array(net.input.mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = g.op("Transpose", ["chips"], "nchw", perm=[0, 3, 1, 2])
    x = g.op(
        "Mul", [g.op("Sub", [x, g.const("mean", mean)], "centred"), g.const("scale", np.float32(1 / 256))], "input"
    )

    walk = _Walker(net, g)
    x, shape = walk.conv_affine(x, (3, *size))
    walk.take("relu_")
    x = g.op("Relu", [x], "relu")
    x, shape = walk.pool("MaxPool", x, shape, walk.take("max_pool_2"))
    while walk.peek() == "con_4":
        x, shape = walk.block(x, shape)

    gap = walk.take("avg_pool_2")
    if (gap.int("rows"), gap.int("cols")) != (0, 0):
        raise ConversionError("expected a global average pool before the descriptor layer")
    x = g.op("Flatten", [g.op("GlobalAveragePool", [x], "gap")], "pooled")
    fc = walk.take("fc_2")
    if fc.int("num_inputs") != shape[0] or fc.int("bias_mode") != 1:
        raise ConversionError("expected a fully connected layer without bias on the pooled features")
    weights = fc.tensor("params").reshape(fc.int("num_inputs"), fc.int("num_outputs"))
    g.nodes.append(
        helper.make_node("MatMul", [x, g.const("fc", weights.astype(np.float32))], ["descriptor"], name="descriptor")
    )
    if walk.peek() is not None:
        raise ConversionError(f"unexpected layer {walk.peek()} after the descriptor layer")

    graph = helper.make_graph(
        g.nodes,
        name,
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT, ["N", size[0], size[1], 3])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", fc.int("num_outputs")])],
        initializer=g.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ocula")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model
