"""From a registry entry to a ready Runner: resolve files, convert if needed, open a session.

Converted graphs are a rebuildable cache under ``settings.cache_dir/onnx``, named by the model,
the weights' sha256 and the converter version, and written atomically, so concurrent processes
and crashes never leave a half-written graph that later loads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import ConfigError, ConversionError, ModelUnavailable
from .backends.base import Runner
from .convert import CONVERTER_VERSIONS
from .files import resolve_files
from .registry import Backend, ModelSpec

if TYPE_CHECKING:
    import onnx

    from .backends.dlib import FaceDetectorModel, ShapePredictorModel

__all__ = ["CONVERTERS", "Converter", "converted_graph_path", "load_dlib_model", "load_runner"]


def converted_graph_path(spec: ModelSpec, settings: Settings) -> Path:
    sha = spec.file("weights").sha256
    return settings.cache_dir / "onnx" / f"{spec.name}-{sha[:16]}-c{_converter(spec).version}.onnx"


def _efficientnet_lite(spec: ModelSpec, weights: Path) -> onnx.ModelProto:
    from .convert.efficientnet_lite import build_efficientnet_lite
    from .convert.torch_checkpoint import load_state_dict

    arch = spec.architecture
    return build_efficientnet_lite(
        load_state_dict(weights), width=float(arch["width"]), depth=float(arch["depth"]), name=spec.name
    )


def _dlib_face_resnet(spec: ModelSpec, weights: Path) -> onnx.ModelProto:
    from .convert.dlib_face_resnet import build_dlib_face_resnet

    return build_dlib_face_resnet(_read(spec, weights), name=spec.name)


def _onnx_dequantize(spec: ModelSpec, weights: Path) -> onnx.ModelProto:
    from .convert.onnx_dequantize import fold_dequantized_weights

    # A detector whose architecture names a size multiple takes any such size (YuNet).
    free_size = "size_multiple" in spec.architecture
    return fold_dequantized_weights(_read(spec, weights), name=spec.name, free_size=free_size)


def _tflite_blazeface(spec: ModelSpec, weights: Path) -> onnx.ModelProto:
    from .convert.tflite_blazeface import build_blazeface

    return build_blazeface(_read(spec, weights), name=spec.name)


@dataclass(frozen=True)
class Converter:
    """A registry entry's ``converter``: its version (part of a cached graph's name) and its build
    (which imports the converter's module only when a graph has to be made)."""

    version: int
    build: Callable[[ModelSpec, Path], onnx.ModelProto]


#: Converters by the name a registry entry gives. The versions are kept in ``CONVERTER_VERSIONS``,
#: where each converter module reads its own without importing this one.
CONVERTERS: dict[str, Converter] = {
    name: Converter(CONVERTER_VERSIONS[name], build)
    for name, build in (
        ("efficientnet_lite", _efficientnet_lite),
        ("dlib_face_resnet", _dlib_face_resnet),
        ("onnx_dequantize", _onnx_dequantize),
        ("tflite_blazeface", _tflite_blazeface),
    )
}


def _converter(spec: ModelSpec) -> Converter:
    try:
        return CONVERTERS[spec.converter or ""]
    except KeyError:
        raise ConversionError(f"model {spec.name}: no converter named {spec.converter!r}") from None


def _read(spec: ModelSpec, weights: Path) -> bytes:
    try:
        return weights.read_bytes()
    except OSError as exc:
        raise ModelUnavailable(f"model {spec.name}: cannot read {weights} ({exc})") from None


def _convert(spec: ModelSpec, weights: Path, dest: Path) -> None:
    model = _converter(spec).build(spec, weights)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write converted models to the cache directory {dest.parent} ({exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def onnx_graph(spec: ModelSpec, settings: Settings) -> Path:
    """The ONNX file to run for ``spec``: the weights themselves or their cached conversion."""
    weights = resolve_files(spec, settings)["weights"]
    if spec.converter is None:
        return weights
    graph = converted_graph_path(spec, settings)
    if not graph.is_file():
        _convert(spec, weights, graph)
    return graph


def load_runner(spec: ModelSpec, settings: Settings) -> Runner:
    if spec.backend is not Backend.ONNX:
        raise ConversionError(f"model {spec.name}: backend Backend.{spec.backend.name} is not supported")
    from .backends.onnx import OnnxRunner

    graph = onnx_graph(spec, settings)
    try:
        return OnnxRunner(graph, name=spec.name, threads=settings.effective_threads)
    except ModelUnavailable:
        if spec.converter is None:
            raise
        # The cached conversion is unreadable (disk trouble, a foreign file): it is only a
        # cache, so rebuild it once from the verified weights.
        graph.unlink(missing_ok=True)
        return OnnxRunner(onnx_graph(spec, settings), name=spec.name, threads=settings.effective_threads)


def load_dlib_model(spec: ModelSpec, settings: Settings) -> FaceDetectorModel | ShapePredictorModel:
    """A dlib detector or shape predictor for a registry entry, from sha256-verified files."""
    from .backends.dlib import FaceDetectorModel, ShapePredictorModel
    from .registry import Task

    if spec.backend is not Backend.DLIB:
        raise ConversionError(f"model {spec.name}: not a dlib model")
    paths = resolve_files(spec, settings)
    if spec.task is Task.FACE_DETECT:
        return FaceDetectorModel(str(spec.architecture["kind"]), paths.get("weights"))
    if spec.task is Task.FACE_LANDMARKS:
        return ShapePredictorModel(paths["weights"], int(spec.architecture["points"]))
    raise ConversionError(f"model {spec.name}: dlib task {spec.task.value} is not supported")
