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

Each ``PRelu`` (SFace has 27, one after every convolution) is rewritten with operations that
ONNX Runtime runs in the blocked (NCHWc) layout of the convolutions around it, with the same
numbers bit for bit. Its PRelu kernel cannot join that layout: it broadcasts the per-channel
slope element by element, and every PRelu costs two layout reorders. As shipped, PRelu took 58% of
SFace's time. Two rewrites, both exact because one of their two terms is exactly 0:

- ``Relu(x) + (-slope) * Relu(-x)``, both scalings as ``BatchNormalization`` (scale ``-1``, then
  ``-slope``; mean 0, variance 1, epsilon 0: an exact multiplication), which ONNX Runtime turns
  into 1x1 depthwise convolutions in the blocked layout, fusing the Relu and the Add into them.
  For a slope that is a per-channel constant ``(C, 1, 1)`` (all of SFace's).
- ``Relu(x) + slope * Min(x, 0)`` (plain layout) for any other slope, and for a PRelu whose output
  a ``BatchNormalization`` reads: in the blocked layout ONNX Runtime would run that BN as a
  convolution too, which rounds differently (3e-7 apart on SFace's descriptors).

On one thread (``benchmarks/sface_speed.py``, 2-core machine, load ~5): PRelu 38 ms a chip, the
``Min`` form everywhere 27 ms, these rewrites 18 ms (2.1x); descriptors identical bit for bit.

With ``free_image_size`` (YuNet) the graph's input height and width, and its outputs' cell
counts, are left open: YuNet is fully convolutional (its reshapes are ``(1, -1, c)``, its
upsamplings by scale), so it runs at any size whose sides are multiples of its coarsest stride,
as OpenCV's ``FaceDetectorYN`` runs it. At 640x640 the outputs are the same bits as the fixed
graph's, in the same time.
"""

from __future__ import annotations

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import numpy_helper

from ...errors import ConversionError
from . import CONVERTER_VERSIONS

__all__ = ["CONVERTER_VERSION", "dequantize_block", "fold_dequantized_weights", "free_image_size"]

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


def _channel_slope(slope: str, constants: dict[str, np.ndarray]) -> np.ndarray | None:
    """The per-channel slope ``(C,)`` of a PRelu whose slope is a constant ``(C, 1, 1)``, else None."""
    value = constants.get(slope)
    if value is None or value.ndim != 3 or value.shape[1:] != (1, 1) or value.dtype != np.float32:
        return None
    return value.reshape(-1)


def _scaled(x: str, scale_name: str, zero: str, one: str, y: str) -> onnx.NodeProto:
    """``y = scale * x`` per channel, as a BatchNormalization that only multiplies."""
    return onnx.helper.make_node("BatchNormalization", [x, scale_name, zero, zero, one], [y], epsilon=0.0)


def _prelus_rewritten(
    nodes: list[onnx.NodeProto], constants: dict[str, np.ndarray]
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """``nodes`` with each ``PRelu(x, slope)`` rewritten as the module doc says, and the constants
    the rewrites read (the scalar zero of the ``Min`` form, the per-channel scales of the BN form)."""
    if not any(node.op_type == "PRelu" for node in nodes):
        return nodes, []
    read_by_bn = {i for node in nodes if node.op_type == "BatchNormalization" for i in node.input[:1]}
    zero = "ocula_prelu_zero"
    out: list[onnx.NodeProto] = []
    added: dict[str, np.ndarray] = {zero: np.array(0, np.float32)}
    for node in nodes:
        if node.op_type != "PRelu":
            out.append(node)
            continue
        (x, slope), y = node.input, node.output[0]
        channel_slope = _channel_slope(slope, constants)
        if channel_slope is None or y in read_by_bn:
            out += [
                onnx.helper.make_node("Relu", [x], [f"{y}_positive"]),
                onnx.helper.make_node("Min", [x, zero], [f"{y}_negative"]),
                onnx.helper.make_node("Mul", [f"{y}_negative", slope], [f"{y}_scaled"]),
                onnx.helper.make_node("Add", [f"{y}_positive", f"{y}_scaled"], [y]),
            ]
            continue
        c = len(channel_slope)
        names = {k: f"ocula_prelu_{k}_{c}" for k in ("zeros", "ones", "minus_ones")}
        added |= {names["zeros"]: np.zeros(c, np.float32), names["ones"]: np.ones(c, np.float32),
                  names["minus_ones"]: -np.ones(c, np.float32), f"{y}_minus_slope": -channel_slope}  # fmt: skip
        out += [
            onnx.helper.make_node("Relu", [x], [f"{y}_positive"]),
            _scaled(x, names["minus_ones"], names["zeros"], names["ones"], f"{y}_minus_x"),
            onnx.helper.make_node("Relu", [f"{y}_minus_x"], [f"{y}_minus_negative"]),
            _scaled(f"{y}_minus_negative", f"{y}_minus_slope", names["zeros"], names["ones"], f"{y}_scaled"),
            onnx.helper.make_node("Add", [f"{y}_positive", f"{y}_scaled"], [y]),
        ]
    used = {i for node in out for i in node.input}
    return out, [numpy_helper.from_array(v, k) for k, v in added.items() if k in used]


def fold_dequantized_weights(
    data: bytes, *, name: str, split_prelu: bool = True, free_size: bool = False
) -> onnx.ModelProto:
    """The model in ``data`` with its constant weights dequantised to fp32 and, with
    ``split_prelu`` (the cached graphs; False only to measure the difference), its PRelus
    rewritten in operations that join the convolutions' blocked layout (see the module doc);
    with ``free_size``, taking images of any size (:func:`free_image_size`).

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
    kept_nodes, prelu_constants = _prelus_rewritten(kept_nodes, constants) if split_prelu else (kept_nodes, [])
    read = {i for node in kept_nodes for i in node.input if i} | {o.name for o in graph.output}
    initializers = [init for init in graph.initializer if init.name in read]
    initializers += [numpy_helper.from_array(value, out) for out, value in folded.items() if out in read]
    constant_names = {init.name for init in initializers}
    inputs = [i for i in graph.input if i.name in read and i.name not in constant_names]
    value_info = [v for v in graph.value_info if v.name not in constant_names and v.name in read]

    del graph.node[:]
    graph.node.extend(kept_nodes)
    del graph.initializer[:]
    graph.initializer.extend(initializers + prelu_constants)
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]
    graph.value_info.extend(value_info)
    if free_size:
        free_image_size(model)
    model.producer_name, model.producer_version = "ocula onnx_dequantize", str(CONVERTER_VERSION)
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"model {name}: the folded graph is not valid ONNX ({exc})") from None
    return model


def free_image_size(model: onnx.ModelProto) -> None:
    """Leave open, in place, the height and width of a fully convolutional graph's one image input
    (N, C, H, W) and the second axis of its outputs (one row per grid cell: (N, cells, k)); the
    recorded shapes of intermediate values, fixed by the old size, are dropped (ONNX Runtime
    infers them)."""
    graph = model.graph
    if len(graph.input) != 1 or len(graph.input[0].type.tensor_type.shape.dim) != 4:
        raise ConversionError("a graph whose image size can be freed has one (N, C, H, W) input")
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "height", "width"  # setting dim_param clears dim_value
    for output in graph.output:
        shape = output.type.tensor_type.shape.dim
        if len(shape) != 3:
            raise ConversionError(f"output {output.name}: not (N, cells, k)")
        shape[1].dim_param = "cells"
    del graph.value_info[:]
