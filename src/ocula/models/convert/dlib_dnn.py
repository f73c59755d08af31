"""Read a network saved by dlib's DNN module (``dlib::serialize(net)``) without dlib.

dlib writes a network from the outside in: the loss layer's header, then one version number per
nested layer, then the input layer, then each computational layer's record from the input
outwards. Tag and skip layers write only their version number, so the record stream is a flat
list of layers; the wiring between them comes from the network's type, which the caller knows.

Primitives (``dlib/serialize.h``): an integer is one byte holding its length in bytes (bit 7 =
negative) followed by that many little-endian bytes; a float is two integers, mantissa and
exponent (value = m * 2**e); a string is its length then its bytes; a bool is the character
``'0'`` or ``'1'``; a tensor (version 2) is four integers (n, k, rows, columns) then raw
little-endian float32 values; an alias_tensor (version 1) is the same four integers and no data.

The reader only understands the layer kinds listed in :data:`LAYER_FIELDS`; anything else is a
:class:`~ocula.errors.ConversionError`, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import ConversionError

__all__ = ["DlibInput", "DlibLayer", "DlibNet", "read_dlib_net"]

_MAX_TENSOR_VALUES = 1 << 27  # 512 MB of float32: far above any dlib model, stops a forged size

# Field layout of each layer record after its name ("version string"), in file order.
# i = integer, f = float, t = tensor, a = alias_tensor, b = bool.
_WINDOW = (("rows", "i"), ("cols", "i"), ("stride_y", "i"), ("stride_x", "i"), ("padding_y", "i"), ("padding_x", "i"))
_MULTIPLIERS = (("lr_mult", "f"), ("wd_mult", "f"), ("bias_lr_mult", "f"), ("bias_wd_mult", "f"))
LAYER_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "con_4": (("params", "t"), ("num_filters", "i"), *_WINDOW, ("filters", "a"), ("biases", "a"), *_MULTIPLIERS),
    "affine_": (("params", "t"), ("gamma", "a"), ("beta", "a"), ("mode", "i")),
    "relu_": (),
    "add_prev_": (),
    "max_pool_2": _WINDOW,
    "avg_pool_2": _WINDOW,
    "fc_2": (
        ("num_outputs", "i"), ("num_inputs", "i"), ("params", "t"), ("weights", "a"), ("biases", "a"),
        ("bias_mode", "i"), *_MULTIPLIERS,
    ),
}


@dataclass(frozen=True)
class DlibInput:
    kind: str
    mean_rgb: tuple[float, float, float]
    rows: int
    cols: int


@dataclass
class DlibLayer:
    kind: str
    fields: dict[str, object] = field(default_factory=dict)

    def tensor(self, name: str) -> np.ndarray:
        value = self.fields[name]
        assert isinstance(value, np.ndarray)
        return value

    def int(self, name: str) -> int:
        value = self.fields[name]
        assert isinstance(value, int)
        return value


@dataclass
class DlibNet:
    loss: str
    loss_params: tuple[float, ...]
    input: DlibInput
    layers: list[DlibLayer]


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise ConversionError(f"dlib model file ends early at byte {self.pos} (wanted {n} more)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        head = self._take(1)[0]
        size, negative = head & 0x0F, bool(head & 0x80)
        if size > 8 or head & 0x70:
            raise ConversionError(f"bad integer header 0x{head:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if negative else value

    def floating(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        if abs(exponent) > 2000:
            raise ConversionError(f"bad float exponent {exponent} at byte {self.pos}")
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        n = self.integer()
        if not 0 <= n <= 256:
            raise ConversionError(f"bad string length {n} at byte {self.pos}")
        try:
            return bytes(self._take(n)).decode("ascii")
        except UnicodeDecodeError:
            raise ConversionError(f"non-ASCII name at byte {self.pos - n}") from None

    def boolean(self) -> bool:
        c = bytes(self._take(1))
        if c not in (b"0", b"1"):
            raise ConversionError(f"bad bool {c!r} at byte {self.pos - 1}")
        return c == b"1"

    def _dims(self, expected_version: int, what: str) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != expected_version:
            raise ConversionError(f"unsupported {what} version {version} at byte {self.pos}")
        dims = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in dims):
            raise ConversionError(f"negative {what} size {dims} at byte {self.pos}")
        return dims  # type: ignore[return-value]

    def tensor(self) -> np.ndarray:
        dims = self._dims(2, "tensor")
        count = int(np.prod(dims, dtype=np.int64))
        if count > _MAX_TENSOR_VALUES:
            raise ConversionError(f"tensor of {count} values is too large")
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self) -> tuple[int, int, int, int]:
        return self._dims(1, "alias_tensor")

    def read(self, kind: str) -> object:
        return {"i": self.integer, "f": self.floating, "t": self.tensor, "a": self.alias, "b": self.boolean}[kind]()


def read_dlib_net(data: bytes, *, loss: str, input_kind: str) -> DlibNet:
    """Parse a serialized dlib network whose loss layer is ``loss`` (e.g. ``"loss_metric_2"``)
    and whose input layer is ``input_kind`` (e.g. ``"input_rgb_image_sized"``)."""
    r = _Reader(data)
    if r.integer() != 1:  # add_loss_layer's version
        raise ConversionError("not a dlib network file (unexpected loss layer version)")
    found = r.string()
    if found != loss:
        raise ConversionError(f"expected a {loss} network, found {found!r}")
    if loss == "loss_metric_2":
        loss_params: tuple[float, ...] = (r.floating(), r.floating())  # margin, distance threshold
    else:
        raise ConversionError(f"loss layer {loss!r} is not supported")
    # One version number per nested layer: 2 for a computational layer, 1 for a tag or skip
    # layer, and 3 for the innermost layer, which also holds the input layer.
    versions = []
    while not versions or versions[-1] != 3:
        versions.append(r.integer())
        if versions[-1] not in (1, 2, 3) or len(versions) > 100_000:
            raise ConversionError(f"unexpected layer version {versions[-1]} at byte {r.pos}")
    kind = r.string()
    if kind != input_kind or kind != "input_rgb_image_sized":
        raise ConversionError(f"expected input layer {input_kind!r}, found {kind!r}")
    net_input = DlibInput(kind, (r.floating(), r.floating(), r.floating()), r.integer(), r.integer())

    layers: list[DlibLayer] = []
    while r.pos < len(r.data):
        kind = r.string()
        if kind not in LAYER_FIELDS:
            raise ConversionError(f"dlib layer kind {kind!r} is not supported")
        layer = DlibLayer(kind, {name: r.read(code) for name, code in LAYER_FIELDS[kind]})
        # add_layer's bookkeeping: three flags and three (normally empty) training tensors.
        for _ in range(3):
            r.boolean()
        for _ in range(3):
            r.tensor()
        if not layers and r.integer() != 1:
            # The innermost layer (version 3) also stores the input's sample expansion factor.
            raise ConversionError("only networks with one tensor sample per input image are supported")
        layers.append(layer)
    return DlibNet(loss, loss_params, net_input, layers)
