"""ocula: self-hosted visual recognition on a laptop CPU, offline.

Importing ocula loads no model and touches no file or network; work starts on the first call.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import (
    ConfigError,
    ConversionError,
    DatasetError,
    DownloadError,
    ImageDecodeError,
    ImageError,
    ImageNotFound,
    ImageTooLarge,
    InputError,
    IntegrityError,
    ModelError,
    ModelUnavailable,
    NoFaceFound,
    OculaError,
    UnknownName,
    VideoError,
)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports them on first use
    from . import video  # noqa: F401
    from .api import face_similarity, faces, tag, verify
    from .collections import Collection
    from .config import Settings
    from .engine import Engine
    from .face_types import Face, FaceResult, Faces, QualityGate, Verification
    from .galleries import Gallery
    from .io import load_image
    from .models.registry import ModelSpec, get_model, list_models
    from .types import Tag, TagResult, Tags

#: Public names imported on first use (PEP 562), not by ``import ocula``: the command line
#: starts without importing numpy, pydantic or the video and search code it does not run.
#: The errors and the version are imported eagerly: they are small and have no dependencies.
_LAZY = {
    "face_similarity": ".api",
    "faces": ".api",
    "tag": ".api",
    "verify": ".api",
    "Collection": ".collections",
    "Settings": ".config",
    "Engine": ".engine",
    "Face": ".face_types",
    "FaceResult": ".face_types",
    "Faces": ".face_types",
    "QualityGate": ".face_types",
    "Verification": ".face_types",
    "Gallery": ".galleries",
    "load_image": ".io",
    "ModelSpec": ".models.registry",
    "get_model": ".models.registry",
    "list_models": ".models.registry",
    "Tag": ".types",
    "TagResult": ".types",
    "Tags": ".types",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value  # the next lookup is a plain module attribute
        return value
    # A submodule (ocula.video.analyze, ocula.io.load_reduced, ...) without importing it first,
    # as when this module imported them all.
    if not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "video"})


__all__ = [
    "Collection",
    "ConfigError",
    "ConversionError",
    "DatasetError",
    "DownloadError",
    "Engine",
    "Face",
    "FaceResult",
    "Faces",
    "Gallery",
    "ImageDecodeError",
    "ImageError",
    "ImageNotFound",
    "ImageTooLarge",
    "InputError",
    "IntegrityError",
    "ModelError",
    "ModelSpec",
    "ModelUnavailable",
    "NoFaceFound",
    "OculaError",
    "QualityGate",
    "Settings",
    "Tag",
    "TagResult",
    "Tags",
    "UnknownName",
    "Verification",
    "VideoError",
    "__version__",
    "face_similarity",
    "faces",
    "get_model",
    "list_models",
    "load_image",
    "tag",
    "verify",
]
