"""ocula: self-hosted visual recognition on a laptop CPU, offline.

Importing ocula loads no model and touches no file or network; work starts on the first call.
"""

from ._version import __version__
from .api import tag
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
    OculaError,
    UnknownName,
)
from .io import load_image
from .models.registry import ModelSpec, get_model, list_models
from .types import Tag, TagResult, Tags

__all__ = [
    "ConfigError",
    "ConversionError",
    "DatasetError",
    "DownloadError",
    "Engine",
    "ImageDecodeError",
    "ImageError",
    "ImageNotFound",
    "ImageTooLarge",
    "InputError",
    "IntegrityError",
    "ModelError",
    "ModelSpec",
    "ModelUnavailable",
    "OculaError",
    "Settings",
    "Tag",
    "TagResult",
    "Tags",
    "UnknownName",
    "__version__",
    "get_model",
    "list_models",
    "load_image",
    "tag",
]
