"""Block-quantised ONNX models (OpenCV Zoo's ``*_int8bq.onnx``) folded to plain fp32 graphs.

OpenCV Zoo ships YuNet and SFace with int8 weights: each weight is an int8 initializer followed
by a ``DequantizeLinear`` node with a ``block_size`` (one scale and zero point per 64 values
along an axis) and a ``Reshape`` to the convolution's shape. ONNX Runtime 1.32 cannot run them
as shipped: it rejects a ``block_size`` on the one-scale (per-tensor) biases of YuNet, and
SFace lists 174 graph inputs of which 29 no node reads (the fp32 weights the quantiser
replaced), which ONNX Runtime then demands as feeds.

This converter computes every constant ``DequantizeLinear`` (and the constant ``Reshape`` after
it) once, in NumPy, exactly as ONNX Runtime computes them (``float(int32(x) - int32(zero)) *
scale``), stores the results as fp32 initializers, and keeps only the graph inputs a node reads
that are not constants. The rest of the graph is untouched, so outputs differ from the shipped
int8 model only by the order of float operations (at most a few 1e-6). The result is the same
bytes for the same source file: nodes, initializers and inputs keep their original order.

Each ``PRelu`` (SFace has 27, one after every convolution) becomes ``Relu(x) + slope * Min(x, 0)``,
the same numbers bit for bit (one of the two terms is exactly 0). ONNX Runtime's PRelu kernel
broadcasts the per-channel slope element by element and cannot join the blocked (NCHWc) layout
of the convolutions around it: it took 58% of SFace's time, and the rewrite makes SFace about 1.5x
faster on one thread (41 -> 27 ms a chip, ``benchmarks/sface_speed.py``).
"""

from __future__ import annotations

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from ...errors import ConversionError
from . import CONVERTER_VERSIONS

__all__ = ["CONVERTER_VERSION", "dequantize_block", "fold_dequantized_weights"]

#: Bump when the graph this module builds changes, so cached graphs are rebuilt.
CONVERTER_VERSION = CONVERTER_VERSIONS["onnx_dequantize"]


def dequantize_block(
    x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, *, axis: int, block_size: int
) -> np.ndarray:
    """ONNX ``DequantizeLinear`` (opset 21) of constant int8/uint8 tensors, as float32.

    One scale (per tensor), one per slice along ``axis`` (per axis), or with ``block_size`` one
    per ``block_size`` consecutive values along ``axis``: ``scale`` then has the shape of ``x``
    except ``ceil(x.shape[axis] / block_size)`` along ``axis``.
    """
    if x.dtype not in (np.int8, np.uint8):
        raise ConversionError(f"DequantizeLinear of {x.dtype} is not supported (int8/uint8 only)")
    zero = np.zeros_like(scale, dtype=np.int32) if zero_point is None else zero_point.astype(np.int32)
    if zero.shape != scale.shape:
        raise ConversionError(f"zero point {zero.shape} and scale {scale.shape} differ in shape")
    axis = axis % max(x.ndim, 1)
    if scale.size == 1:  # per tensor (YuNet's biases also carry a block_size; it does not matter)
        scale_full, zero_full = scale.reshape(()), zero.reshape(())
    elif block_size > 0:
        expected = list(x.shape)
        expected[axis] = -(-x.shape[axis] // block_size)
        if list(scale.shape) != expected:
            raise ConversionError(f"block scale {scale.shape} does not fit {x.shape} in blocks of {block_size}")
        n = x.shape[axis]
        scale_full = np.repeat(scale, block_size, axis=axis).take(np.arange(n), axis=axis)
        zero_full = np.repeat(zero, block_size, axis=axis).take(np.arange(n), axis=axis)
    else:
        if scale.ndim != 1 or scale.shape[0] != x.shape[axis]:
            raise ConversionError(f"per-axis scale {scale.shape} does not fit {x.shape} along axis {axis}")
        shape = [1] * x.ndim
        shape[axis] = -1
        scale_full, zero_full = scale.reshape(shape), zero.reshape(shape)
    return ((x.astype(np.int32) - zero_full).astype(np.float32) * scale_full.astype(np.float32)).astype(np.float32)


def _attributes(node: onnx.NodeProto) -> dict[str, int]:
    return {
        a.name: int(onnx.helper.get_attribute_value(a)) for a in node.attribute if a.type == onnx.AttributeProto.INT
    }


def _fold_node(node: onnx.NodeProto, constants: dict[str, np.ndarray]) -> np.ndarray | None:
    """The constant value of ``node``'s output, or None if the node stays in the graph."""
    names = [i for i in node.input if i]
    if not names or not all(i in constants for i in names):
        return None
    if node.op_type == "DequantizeLinear":
        attrs = _attributes(node)
        zero = constants[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        return dequantize_block(
            constants[node.input[0]], constants[node.input[1]], zero,
            axis=attrs.get("axis", 1), block_size=attrs.get("block_size", 0),
        )
    if node.op_type == "Reshape" and node.input[0] in constants and _attributes(node).get("allowzero", 0) == 0:
        data, shape = constants[node.input[0]], constants[node.input[1]].astype(np.int64)
        # ONNX Reshape: 0 copies the input's dimension, -1 is inferred.
        target = [data.shape[i] if d == 0 else int(d) for i, d in enumerate(shape)]
        return data.reshape(target)
    return None


def _prelu_as_relu(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """``nodes`` with each ``PRelu(x, slope)`` written as ``Relu(x) + slope * Min(x, 0)`` (see
    the module doc); the zero is one shared scalar constant, added only when needed."""
    if not any(node.op_type == "PRelu" for node in nodes):
        return nodes
    zero = "ocula_prelu_zero"
    out = [onnx.helper.make_node("Constant", [], [zero], value=numpy_helper.from_array(np.array(0, np.float32)))]
    for node in nodes:
        if node.op_type != "PRelu":
            out.append(node)
            continue
        (x, slope), y = node.input, node.output[0]
        out += [
            onnx.helper.make_node("Relu", [x], [f"{y}_positive"]),
            onnx.helper.make_node("Min", [x, zero], [f"{y}_negative"]),
            onnx.helper.make_node("Mul", [f"{y}_negative", slope], [f"{y}_scaled"]),
            onnx.helper.make_node("Add", [f"{y}_positive", f"{y}_scaled"], [y]),
        ]
    return out


def fold_dequantized_weights(data: bytes, *, name: str, split_prelu: bool = True) -> onnx.ModelProto:
    """The model in ``data`` with its constant weights dequantised to fp32 and, with
    ``split_prelu`` (the cached graphs; False only to measure the difference), its PRelus
    written as Relu and Min (see the module doc).

    Raises:
        ConversionError: ``data`` is not an ONNX model, or a quantised weight is malformed.
    """
    try:
        model = onnx.load_from_string(data)
    except DecodeError as exc:
        raise ConversionError(f"model {name}: not an ONNX model ({exc})") from None
    graph = model.graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    kept_nodes: list[onnx.NodeProto] = []
    folded: dict[str, np.ndarray] = {}
    for node in graph.node:
        try:
            value = _fold_node(node, constants)
        except ConversionError as exc:
            raise ConversionError(f"model {name}: node {node.name or node.op_type}: {exc}") from None
        if value is None:
            kept_nodes.append(node)
            continue
        constants[node.output[0]] = value
        folded[node.output[0]] = value
    if not folded:
        raise ConversionError(f"model {name}: no quantised weights to fold")
    read = {i for node in kept_nodes for i in node.input if i} | {o.name for o in graph.output}
    initializers = [init for init in graph.initializer if init.name in read]
    initializers += [numpy_helper.from_array(value, out) for out, value in folded.items() if out in read]
    constant_names = {init.name for init in initializers}
    inputs = [i for i in graph.input if i.name in read and i.name not in constant_names]
    value_info = [v for v in graph.value_info if v.name not in constant_names and v.name in read]

    del graph.node[:]
    graph.node.extend(_prelu_as_relu(kept_nodes) if split_prelu else kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]
    graph.value_info.extend(value_info)
    model.producer_name, model.producer_version = "ocula onnx_dequantize", str(CONVERTER_VERSION)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"model {name}: the folded graph is not valid ONNX ({exc})") from None
    return model
