"""EfficientNet-Lite as an ONNX graph, built from a lukemelas-layout state dict.

EfficientNet-Lite (Google, 2020) is EfficientNet without squeeze-excite, with ReLU6 instead of
swish, and with the stem (32 channels) and head (1280 channels) kept at their base width. Weights
use the key layout of lukemelas/EfficientNet-PyTorch (``_conv_stem``, ``_blocks.N._expand_conv``,
``_depthwise_conv``, ``_project_conv``, ``_bn0..2``, ``_conv_head``, ``_fc``).

The graph folds every BatchNorm (eps 1e-3) into the convolution before it and pads like
TensorFlow's "SAME" (extra row/column at the end, ONNX ``SAME_UPPER``), which is what the
original TF checkpoints were trained with. Spatial size is dynamic, so the same graph serves
test-time augmentation at other resolutions.

Outputs: ``logits`` (N, classes), ``features`` (N, 1280), the pooled head activations, and
``head`` (N, 1280, h, w), the head activations before pooling (for search's GeM pooling).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ConversionError
from . import CONVERTER_VERSIONS

__all__ = ["CONVERTER_VERSION", "Block", "build_efficientnet_lite", "lite_blocks"]

#: Bump when the graph this module builds changes, so cached graphs are rebuilt.
CONVERTER_VERSION = CONVERTER_VERSIONS["efficientnet_lite"]
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.10
BN_EPS = 1e-3

# (repeats, kernel, stride, expand_ratio, in, out) of the seven stages, from the TF
# efficientnet_lite_builder (identical to EfficientNet-B0 without squeeze-excite).
_BASE_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280


@dataclass(frozen=True)
class Block:
    kernel: int
    stride: int
    expand_ratio: int
    in_channels: int
    out_channels: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def lite_blocks(width: float, depth: float) -> list[Block]:
    """The MBConv blocks of EfficientNet-Lite at a width/depth multiplier.

    Lite keeps the first and last stages' repeats and the stem/head widths fixed.
    """
    blocks: list[Block] = []
    last = len(_BASE_STAGES) - 1
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(_BASE_STAGES):
        cin = STEM_CHANNELS if i == 0 else _round_filters(cin, width)
        cout = _round_filters(cout, width)
        n = repeats if i in (0, last) else math.ceil(depth * repeats)
        for j in range(n):
            blocks.append(Block(kernel, stride if j == 0 else 1, expand, cin if j == 0 else cout, cout))
    return blocks


class _GraphBuilder:
    def __init__(self, state: Mapping[str, np.ndarray]):
        self.state = state
        self.used: set[str] = set()
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def tensor(self, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        if key not in self.state:
            raise ConversionError(f"state dict lacks {key}")
        value = np.asarray(self.state[key], dtype=np.float32)
        if shape is not None and value.shape != shape:
            raise ConversionError(f"{key} has shape {value.shape}, expected {shape}")
        self.used.add(key)
        return value

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def conv_bn(self, x: str, conv: str, bn: str, cin: int, cout: int, kernel: int, stride: int,
                groups: int = 1, relu6: bool = True) -> str:
        """Conv (no bias) followed by BatchNorm, folded into one Conv with bias, then ReLU6."""
        weight = self.tensor(f"{conv}.weight", (cout, cin // groups, kernel, kernel))
        gamma = self.tensor(f"{bn}.weight", (cout,))
        beta = self.tensor(f"{bn}.bias", (cout,))
        mean = self.tensor(f"{bn}.running_mean", (cout,))
        var = self.tensor(f"{bn}.running_var", (cout,))
        self.used.add(f"{bn}.num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)
        w = self.const(f"{conv}.w", weight * scale[:, None, None, None])
        b = self.const(f"{conv}.b", beta - mean * scale)
        out = self.fresh(conv)
        self.nodes.append(
            helper.make_node(
                "Conv", [x, w, b], [out], name=conv, kernel_shape=[kernel, kernel], strides=[stride, stride],
                group=groups, auto_pad="SAME_UPPER",
            )
        )
        if not relu6:
            return out
        act = self.fresh(f"{conv}_relu6")
        self.nodes.append(helper.make_node("Clip", [out, "relu6_min", "relu6_max"], [act], name=f"{conv}.relu6"))
        return act


def build_efficientnet_lite(
    state: Mapping[str, np.ndarray], *, width: float, depth: float, name: str = "efficientnet_lite"
) -> onnx.ModelProto:
    """Build the inference graph for a state dict; every tensor in it must be used."""
    g = _GraphBuilder(state)
    g.initializers.append(numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"))
    g.initializers.append(numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"))

    x = g.conv_bn("input", "_conv_stem", "_bn0", 3, STEM_CHANNELS, 3, 2)
    for i, blk in enumerate(lite_blocks(width, depth)):
        p = f"_blocks.{i}"
        inp = x
        hidden = blk.in_channels * blk.expand_ratio
        if blk.expand_ratio != 1:
            x = g.conv_bn(x, f"{p}._expand_conv", f"{p}._bn0", blk.in_channels, hidden, 1, 1)
        x = g.conv_bn(x, f"{p}._depthwise_conv", f"{p}._bn1", hidden, hidden, blk.kernel, blk.stride, groups=hidden)
        x = g.conv_bn(x, f"{p}._project_conv", f"{p}._bn2", hidden, blk.out_channels, 1, 1, relu6=False)
        if blk.residual:
            out = g.fresh(f"{p}_add")
            g.nodes.append(helper.make_node("Add", [x, inp], [out], name=f"{p}.add"))
            x = out
    last_channels = lite_blocks(width, depth)[-1].out_channels
    x = g.conv_bn(x, "_conv_head", "_bn1", last_channels, HEAD_CHANNELS, 1, 1)

    fc_w = g.tensor("_fc.weight")
    if fc_w.ndim != 2 or fc_w.shape[1] != HEAD_CHANNELS:
        raise ConversionError(f"_fc.weight has shape {fc_w.shape}, expected (classes, {HEAD_CHANNELS})")
    classes = fc_w.shape[0]
    fc_b = g.tensor("_fc.bias", (classes,))
    g.nodes.append(helper.make_node("Identity", [x], ["head"], name="head"))
    g.nodes.append(helper.make_node("GlobalAveragePool", ["head"], ["pooled"], name="pool"))
    g.nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], name="flatten", axis=1))
    g.nodes.append(
        helper.make_node(
            "Gemm", ["features", g.const("_fc.w", fc_w), g.const("_fc.b", fc_b)], ["logits"], name="fc", transB=1
        )
    )

    unused = sorted(set(state) - g.used)
    if unused:
        raise ConversionError(f"state dict has tensors this architecture does not use: {unused[:5]}")

    graph = helper.make_graph(
        g.nodes,
        name,
        inputs=[helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        outputs=[
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", HEAD_CHANNELS]),
            helper.make_tensor_value_info("head", TensorProto.FLOAT, ["batch", HEAD_CHANNELS, "h", "w"]),
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        producer_name="ocula",
        producer_version=str(CONVERTER_VERSION),
        opset_imports=[helper.make_operatorsetid("", OPSET)],
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model
