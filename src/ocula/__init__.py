"""ocula: self-hosted visual recognition on a laptop CPU, offline.

Importing ocula loads no model and touches no file or network; work starts on the first call.
"""

from . import video  # noqa: F401  (ocula.video.analyze; loads no model)
from ._version import __version__
from .api import face_similarity, faces, tag, verify
from .collections import Collection
from .config import Settings
from .engine import Engine
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
from .face_types import FaceResult, Faces, QualityGate, Verification
from .galleries import Gallery
from .io import load_image
from .models.registry import ModelSpec, get_model, list_models
from .types import Tag, TagResult, Tags

__all__ = [
    "Collection",
    "ConfigError",
    "ConversionError",
    "DatasetError",
    "DownloadError",
    "Engine",
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
    "VideoError",
    "Verification",
    "__version__",
    "face_similarity",
    "faces",
    "get_model",
    "list_models",
    "load_image",
    "tag",
    "verify",
]
