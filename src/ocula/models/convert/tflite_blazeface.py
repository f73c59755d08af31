"""MediaPipe's BlazeFace ``.tflite`` files read without TensorFlow and rebuilt as ONNX graphs.

A ``.tflite`` file is a FlatBuffer of the schema ``tensorflow/lite/schema/schema.fbs``. This
module reads the few tables a BlazeFace model needs by hand (no generated code): the Model's
operator codes, its first subgraph (tensors, inputs, outputs, operators) and its buffers. The
FlatBuffer rules it relies on: a table starts with a signed 32-bit offset back to its vtable;
the vtable holds its own size, the table's size, then one 16-bit offset per field (0 = absent,
the field's default applies); references to tables, vectors and strings are unsigned 32-bit
offsets from where they are stored; a vector is its 32-bit length followed by its elements;
all little-endian. A union field takes two slots: its type (a byte), then the table.

MediaPipe's face detectors (short-range 128 px, full-range 192 px, back-camera 256 px) use
only these operators, all float32 with float16 weights: DEQUANTIZE (of a float16 constant,
folded here to float32), CONV_2D, DEPTHWISE_CONV_2D, ADD, RELU, PAD, MAX_POOL_2D,
RESIZE_BILINEAR, RESHAPE, CONCATENATION. Anything else, or an option this module does not
implement, is a :class:`~ocula.errors.ConversionError`, never a guess. (The "sparse" full-range
model, with DENSIFY and DEPTH_TO_SPACE, is not supported.)

TFLite computes in NHWC; the ONNX graph keeps the same NHWC input (``input``, 1xHxWx3, values in
[-1, 1]) and transposes once to NCHW, the layout ONNX's convolutions take; 4-D activations stay
NCHW until a RESHAPE needs TFLite's element order, where they are transposed back. The two
outputs are named ``boxes`` (1 x anchors x 16: box centre offset, size, six keypoints, in input
pixels relative to each anchor) and ``scores`` (1 x anchors x 1, logits). The result is the same
bytes for the same file: nodes follow the TFLite operator order and names are derived from
tensor indices.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ConversionError
from . import CONVERTER_VERSIONS

__all__ = ["CONVERTER_VERSION", "TFLiteModel", "build_blazeface", "read_tflite"]

#: Bump when the graph this module builds changes, so cached graphs are rebuilt.
CONVERTER_VERSION = CONVERTER_VERSIONS["tflite_blazeface"]
OPSET = 17
IR_VERSION = 8  # readable by every onnxruntime >= 1.10

# schema.fbs: BuiltinOperator (the values used here), TensorType, Padding, ActivationFunctionType.
_OPS = {0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 6: "DEQUANTIZE", 17: "MAX_POOL_2D",
        19: "RELU", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 34: "PAD"}
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_SAME, _VALID = 0, 1
_ACT_NONE, _ACT_RELU, _ACT_RELU6 = 0, 1, 3
_NCHW, _NHWC = (0, 3, 1, 2), (0, 2, 3, 1)
_MAX_TENSORS = 100_000  # far above any BlazeFace model; stops a forged count early


class _Table:
    """One FlatBuffer table at ``pos`` of ``buf``; fields are read by slot number."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - _i32(buf, pos)
        self.vsize = _u16(buf, self.vtable)

    def _field(self, slot: int) -> int:
        entry = 4 + 2 * slot
        if entry >= self.vsize:
            return 0
        off = _u16(self.buf, self.vtable + entry)
        return self.pos + off if off else 0

    def scalar(self, slot: int, fmt: str, default: float = 0) -> float:
        at = self._field(slot)
        return struct.unpack_from("<" + fmt, self.buf, at)[0] if at else default

    def _ref(self, slot: int) -> int:
        at = self._field(slot)
        return at + _u32(self.buf, at) if at else 0

    def table(self, slot: int) -> _Table | None:
        at = self._ref(slot)
        return _Table(self.buf, at) if at else None

    def vector(self, slot: int) -> tuple[int, int]:
        """(position of the first element, length) of a vector field; (0, 0) when absent."""
        at = self._ref(slot)
        if not at:
            return 0, 0
        n = _u32(self.buf, at)
        if n > len(self.buf):
            raise ConversionError("a vector is longer than the file")
        return at + 4, n

    def ints(self, slot: int) -> list[int]:
        start, n = self.vector(slot)
        return list(struct.unpack_from(f"<{n}i", self.buf, start)) if n else []

    def tables(self, slot: int) -> list[_Table]:
        start, n = self.vector(slot)
        if n > _MAX_TENSORS:
            raise ConversionError(f"{n} entries in a table vector: not a BlazeFace model")
        return [_Table(self.buf, start + 4 * i + _u32(self.buf, start + 4 * i)) for i in range(n)]

    def bytes(self, slot: int) -> bytes:
        start, n = self.vector(slot)
        return self.buf[start:start + n]

    def string(self, slot: int) -> str:
        return self.bytes(slot).decode("utf-8", "replace")


def _u16(buf: bytes, at: int) -> int:
    return struct.unpack_from("<H", buf, at)[0]


def _u32(buf: bytes, at: int) -> int:
    return struct.unpack_from("<I", buf, at)[0]


def _i32(buf: bytes, at: int) -> int:
    return struct.unpack_from("<i", buf, at)[0]


@dataclass(frozen=True)
class TFLiteTensor:
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None  # the constant's value, None for activations


@dataclass(frozen=True)
class TFLiteOp:
    kind: str  # one of _OPS' names
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: _Table | None


@dataclass
class TFLiteModel:
    tensors: list[TFLiteTensor]
    inputs: list[int]
    outputs: list[int]
    ops: list[TFLiteOp] = field(default_factory=list)


def read_tflite(data: bytes, *, name: str) -> TFLiteModel:
    """The first subgraph of the ``.tflite`` file in ``data`` (see the module doc).

    Raises:
        ConversionError: not a TFLite file, or an operator or tensor type this module does not
            read.
    """
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ConversionError(f"model {name}: not a TFLite file (no TFL3 identifier)")
    try:
        return _read_model(data, name)
    except (struct.error, IndexError, ValueError) as exc:
        raise ConversionError(f"model {name}: malformed TFLite file ({exc})") from None


def _read_model(data: bytes, name: str) -> TFLiteModel:
    root = _Table(data, _u32(data, 0))
    codes = []
    for code in root.tables(1):
        # schema.fbs: builtin_code (slot 3, int32) supersedes the byte deprecated_builtin_code
        # (slot 0) from 127 up; readers take the larger of the two.
        builtin = max(int(code.scalar(0, "b")), int(code.scalar(3, "i")))
        codes.append(_OPS.get(builtin, f"builtin {builtin}"))
    buffers = root.tables(4)
    subgraphs = root.tables(2)
    if not subgraphs:
        raise ConversionError(f"model {name}: no subgraph")
    graph = subgraphs[0]
    tensors = [_read_tensor(t, buffers, name) for t in graph.tables(0)]
    ops = []
    for op in graph.tables(3):
        kind = codes[int(op.scalar(0, "I"))]
        if kind not in _OPS.values():
            raise ConversionError(f"model {name}: operator {kind} is not supported")
        ops.append(TFLiteOp(kind, tuple(op.ints(1)), tuple(op.ints(2)), op.table(4)))
    return TFLiteModel(tensors, graph.ints(1), graph.ints(2), ops)


def _read_tensor(t: _Table, buffers: list[_Table], name: str) -> TFLiteTensor:
    shape = tuple(t.ints(0))
    type_code = int(t.scalar(1, "b"))
    tensor_name = t.string(3)
    if type_code not in _DTYPES:
        raise ConversionError(f"model {name}: tensor {tensor_name} has TFLite type {type_code}, not supported")
    dtype = _DTYPES[type_code]
    buffer = int(t.scalar(2, "I"))
    raw = buffers[buffer].bytes(0) if 0 < buffer < len(buffers) else b""
    data = None
    if raw:
        count = int(np.prod(shape)) if shape else 1
        if len(raw) != count * np.dtype(dtype).itemsize:
            raise ConversionError(f"model {name}: tensor {tensor_name} holds {len(raw)} bytes for shape {shape}")
        data = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype).reshape(shape)
    return TFLiteTensor(tensor_name, shape, dtype, data)


class _Builder:
    """TFLite operators to ONNX nodes; 4-D activations are kept NCHW (see the module doc)."""

    def __init__(self, model: TFLiteModel, name: str):
        self.model, self.name = model, name
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.constants: dict[int, np.ndarray] = {i: t.data for i, t in enumerate(model.tensors) if t.data is not None}
        self.values: dict[int, str] = {}  # tensor index -> ONNX value name (NCHW if 4-D)

    def fail(self, message: str) -> ConversionError:
        return ConversionError(f"model {self.name}: {message}")

    def const(self, key: str, value: np.ndarray) -> str:
        name = f"c{len(self.initializers)}_{key}"
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs: object) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"n{len(self.nodes)}_{op}", **attrs))
        return output

    def value(self, index: int) -> str:
        if index not in self.values:
            raise self.fail(f"tensor {self.model.tensors[index].name} is read before it is computed")
        return self.values[index]

    def shape(self, index: int) -> tuple[int, ...]:
        return self.model.tensors[index].shape

    def activation(self, out: str, code: int, result: int) -> None:
        if code == _ACT_NONE:
            self.values[result] = out
        elif code == _ACT_RELU:
            self.values[result] = self.node("Relu", [out], f"t{result}")
        elif code == _ACT_RELU6:
            self.values[result] = self.node(
                "Clip", [out, self.const("zero", np.float32(0)), self.const("six", np.float32(6))], f"t{result}"
            )
        else:
            raise self.fail(f"fused activation {code} is not supported")

    def pads(
        self, index_in: int, kernel: tuple[int, int], strides: tuple[int, int], dilations: tuple[int, int], padding: int
    ) -> list[int]:
        """ONNX pads (top, left, bottom, right) for TFLite's SAME/VALID (TensorFlow's rule: the
        odd pixel goes at the bottom/right)."""
        if padding == _VALID:
            return [0, 0, 0, 0]
        if padding != _SAME:
            raise self.fail(f"padding {padding} is not supported")
        begin, end = [], []
        for size, k, s, d in zip(self.shape(index_in)[1:3], kernel, strides, dilations, strict=False):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            begin.append(total // 2)
            end.append(total - total // 2)
        return begin + end

    def op(self, op: TFLiteOp) -> None:
        handler = getattr(self, "_" + op.kind.lower())
        handler(op)

    def _options(self, op: TFLiteOp) -> _Table:
        if op.options is None:
            raise self.fail(f"{op.kind} without options")
        return op.options

    def _dequantize(self, op: TFLiteOp) -> None:
        src = op.inputs[0]
        if src not in self.constants or self.model.tensors[src].dtype is not np.float16:
            raise self.fail("DEQUANTIZE of anything but a float16 constant is not supported")
        self.constants[op.outputs[0]] = self.constants[src].astype(np.float32)

    def _weights(self, index: int) -> np.ndarray:
        if index not in self.constants:
            raise self.fail(f"weights {self.model.tensors[index].name} are not constant")
        return self.constants[index].astype(np.float32)

    def _conv(self, op: TFLiteOp, depthwise: bool) -> None:
        o = self._options(op)
        # Conv2DOptions: padding, stride_w, stride_h, activation, dilation_w, dilation_h.
        # DepthwiseConv2DOptions: padding, stride_w, stride_h, depth_multiplier, activation,
        # dilation_w, dilation_h.
        act_slot, dil_slot = (4, 5) if depthwise else (3, 4)
        strides = (int(o.scalar(2, "i")), int(o.scalar(1, "i")))
        dilations = (int(o.scalar(dil_slot + 1, "i", 1)), int(o.scalar(dil_slot, "i", 1)))
        w = self._weights(op.inputs[1])  # OHWI (conv) or 1HW(I*M) (depthwise)
        kernel = (w.shape[1], w.shape[2])
        pads = self.pads(op.inputs[0], kernel, strides, dilations, int(o.scalar(0, "b")))
        channels_in = self.shape(op.inputs[0])[3]
        if depthwise:
            if w.shape[0] != 1:
                raise self.fail("a depthwise kernel must have a leading 1")
            w_onnx, group = w.transpose(3, 0, 1, 2), channels_in  # (I*M, 1, kh, kw)
        else:
            w_onnx, group = w.transpose(0, 3, 1, 2), 1
        inputs = [self.value(op.inputs[0]), self.const(f"w{op.outputs[0]}", w_onnx)]
        if len(op.inputs) > 2 and op.inputs[2] >= 0:
            inputs.append(self.const(f"b{op.outputs[0]}", self._weights(op.inputs[2])))
        out = self.node("Conv", inputs, f"conv{op.outputs[0]}", kernel_shape=list(kernel), strides=list(strides),
                        dilations=list(dilations), pads=pads, group=group)
        self.activation(out, int(o.scalar(act_slot, "b")), op.outputs[0])

    def _conv_2d(self, op: TFLiteOp) -> None:
        self._conv(op, depthwise=False)

    def _depthwise_conv_2d(self, op: TFLiteOp) -> None:
        self._conv(op, depthwise=True)

    def _add(self, op: TFLiteOp) -> None:
        if any(i in self.constants for i in op.inputs) or len({self.shape(i) for i in op.inputs}) != 1:
            raise self.fail("ADD of constants or of tensors of different shapes is not supported")
        out = self.node("Add", [self.value(i) for i in op.inputs], f"add{op.outputs[0]}")
        act = int(op.options.scalar(0, "b")) if op.options is not None else _ACT_NONE
        self.activation(out, act, op.outputs[0])

    def _relu(self, op: TFLiteOp) -> None:
        self.values[op.outputs[0]] = self.node("Relu", [self.value(op.inputs[0])], f"t{op.outputs[0]}")

    def _pad(self, op: TFLiteOp) -> None:
        src = op.inputs[0]
        if len(self.shape(src)) != 4 or op.inputs[1] not in self.constants:
            raise self.fail("PAD of a non-4-D tensor or by non-constant amounts is not supported")
        nhwc = self.constants[op.inputs[1]].astype(np.int64).reshape(4, 2)
        nchw = nhwc[list(_NCHW)]
        pads = np.concatenate([nchw[:, 0], nchw[:, 1]])
        self.values[op.outputs[0]] = self.node("Pad", [self.value(src), self.const("pads", pads)], f"t{op.outputs[0]}")

    def _max_pool_2d(self, op: TFLiteOp) -> None:
        o = self._options(op)
        # Pool2DOptions: padding, stride_w, stride_h, filter_width, filter_height, activation.
        strides = (int(o.scalar(2, "i")), int(o.scalar(1, "i")))
        kernel = (int(o.scalar(4, "i")), int(o.scalar(3, "i")))
        pads = self.pads(op.inputs[0], kernel, strides, (1, 1), int(o.scalar(0, "b")))
        out = self.node("MaxPool", [self.value(op.inputs[0])], f"pool{op.outputs[0]}", kernel_shape=list(kernel),
                        strides=list(strides), pads=pads)
        self.activation(out, int(o.scalar(5, "b")), op.outputs[0])

    def _resize_bilinear(self, op: TFLiteOp) -> None:
        o = self._options(op)
        # ResizeBilinearOptions: new_height, new_width (deprecated), align_corners,
        # half_pixel_centers.
        align, half = bool(o.scalar(2, "B")), bool(o.scalar(3, "B"))
        mode = "align_corners" if align else "half_pixel" if half else "asymmetric"
        n, h, w, c = self.shape(op.outputs[0])
        sizes = self.const("sizes", np.array([n, c, h, w], np.int64))
        self.values[op.outputs[0]] = self.node("Resize", [self.value(op.inputs[0]), "", "", sizes], f"t{op.outputs[0]}",
                                               mode="linear", coordinate_transformation_mode=mode)

    def _reshape(self, op: TFLiteOp) -> None:
        src = self.value(op.inputs[0])
        if len(self.shape(op.inputs[0])) == 4:
            src = self.node("Transpose", [src], f"nhwc{op.inputs[0]}", perm=list(_NHWC))
        target = np.array(self.shape(op.outputs[0]), np.int64)
        out = self.node("Reshape", [src, self.const("shape", target)], f"r{op.outputs[0]}")
        if len(target) == 4:  # back to NCHW, the layout 4-D values keep
            out = self.node("Transpose", [out], f"t{op.outputs[0]}", perm=list(_NCHW))
        self.values[op.outputs[0]] = out

    def _concatenation(self, op: TFLiteOp) -> None:
        o = self._options(op)
        rank = len(self.shape(op.outputs[0]))
        axis = int(o.scalar(0, "i")) % rank
        if rank == 4:
            axis = _NCHW.index(axis)
        out = self.node("Concat", [self.value(i) for i in op.inputs], f"cat{op.outputs[0]}", axis=axis)
        self.activation(out, int(o.scalar(1, "b")), op.outputs[0])


def build_blazeface(data: bytes, *, name: str) -> onnx.ModelProto:
    """The ONNX graph of the BlazeFace ``.tflite`` model in ``data`` (see the module doc).

    Raises:
        ConversionError: not a TFLite file, not a BlazeFace-shaped model (one NHWC image input,
            a box regressor and a score output over the same anchors), or an unsupported operator.
    """
    model = read_tflite(data, name=name)
    if len(model.inputs) != 1 or len(model.outputs) != 2:
        raise ConversionError(f"model {name}: BlazeFace has one input and two outputs")
    image = model.tensors[model.inputs[0]]
    if len(image.shape) != 4 or image.shape[0] != 1 or image.shape[3] != 3 or image.dtype is not np.float32:
        raise ConversionError(f"model {name}: input {image.shape} is not one float32 NHWC RGB image")
    outs = {model.tensors[i].shape[-1]: i for i in model.outputs}
    shapes = [model.tensors[i].shape for i in model.outputs]
    if set(outs) != {16, 1} or len({s[:-1] for s in shapes}) != 1:
        raise ConversionError(f"model {name}: outputs {shapes} are not BlazeFace's boxes and scores")
    b = _Builder(model, name)
    b.values[model.inputs[0]] = b.node("Transpose", ["input"], "input_nchw", perm=list(_NCHW))
    for op in model.ops:
        b.op(op)
    for out_name, index in (("boxes", outs[16]), ("scores", outs[1])):
        b.node("Identity", [b.value(index)], out_name)
    graph = helper.make_graph(
        b.nodes, f"{name}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(image.shape))],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(model.tensors[i].shape))
         for n, i in (("boxes", outs[16]), ("scores", outs[1]))],
        b.initializers,
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ocula",
                                   producer_version=str(CONVERTER_VERSION))
    onnx_model.ir_version = IR_VERSION
    try:
        onnx.checker.check_model(onnx_model)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"model {name}: the converted graph is not valid ONNX ({exc})") from None
    return onnx_model
