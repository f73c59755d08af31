"""The one exception tree of ocula.

Everything ocula raises on purpose derives from :class:`OculaError`, so callers can catch one
type; the subclasses say what went wrong. The CLI prints ``str(error)`` as one line and exits
non-zero; the service (later) maps the classes to 4xx/5xx problem responses.

::

    OculaError
    ├── InputError                  the caller gave something unusable (maps to 4xx)
    │   ├── ImageError              an image could not be used
    │   │   ├── ImageNotFound       no such file
    │   │   ├── ImageDecodeError    not an image, corrupt, truncated, unsupported format
    │   │   └── ImageTooLarge       over the byte or pixel limit (decompression bombs)
    │   ├── NoFaceFound             a photo that must show a face shows none
    │   ├── DatasetError            an evaluation data set (CSV, folder) is malformed
    │   ├── UnknownName             a name that is not known: model, preset, concept
    │   ├── NotCalibrated           no shipped FMR table for the chosen face descriptor (also a ConfigError)
    │   ├── DescriptorMismatch      a gallery built with another face descriptor (reindex it)
    │   └── VideoError              a video source that cannot be opened or decoded
    ├── ModelError                  a model cannot be provided (maps to 5xx / setup problem)
    │   ├── ModelUnavailable        not installed, or needs a download while offline
    │   ├── IntegrityError          a file's sha256 differs from the registry's
    │   ├── DownloadError           an opt-in download failed
    │   └── ConversionError         a weights file could not be read or converted
    └── ConfigError                 invalid settings
        └── StoreError              a collection or gallery cannot be read or written
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConversionError",
    "DatasetError",
    "DescriptorMismatch",
    "DownloadError",
    "ImageDecodeError",
    "ImageError",
    "ImageNotFound",
    "ImageTooLarge",
    "InputError",
    "IntegrityError",
    "ModelError",
    "ModelUnavailable",
    "NoConceptScores",
    "NoFaceFound",
    "NotCalibrated",
    "OculaError",
    "StoreError",
    "UnknownName",
    "VideoError",
]


class OculaError(Exception):
    """Base class of every error ocula raises on purpose."""


class InputError(OculaError, ValueError):
    """The caller passed something ocula cannot use."""


class ImageError(InputError):
    """An image could not be used."""


class ImageNotFound(ImageError):
    """The image path does not exist or is not a file."""


class ImageDecodeError(ImageError):
    """The data is not a decodable image of a supported format (or is corrupt/truncated)."""


class ImageTooLarge(ImageError):
    """The image exceeds the configured byte size or pixel count."""


class NoFaceFound(InputError):
    """No face was found where one is needed (verification, enrolment)."""

    def __init__(self, source: str, detail: str = ""):
        self.source = source
        super().__init__(f"{source}: no face found{detail}")


class DatasetError(InputError):
    """An evaluation data set (labels CSV, folder layout) is malformed."""


class UnknownName(InputError, LookupError):
    """A model, preset or concept name that ocula does not know."""

    def __init__(
        self, kind: str, name: str, known: list[str] | tuple[str, ...] = (), *, suggestions: list[str] | None = None
    ):
        """``suggestions``: the did-you-mean names, when the caller has its own way of finding
        them; else up to three of ``known`` closest to ``name``."""
        self.kind, self.name, self.known = kind, name, tuple(known)
        if suggestions is None:
            import difflib

            suggestions = difflib.get_close_matches(name, list(known), n=3) if known else []
        self.suggestions = tuple(suggestions)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown {kind} {name!r}{hint}")

    def __str__(self) -> str:  # LookupError would quote the message otherwise
        return str(self.args[0])


class DescriptorMismatch(InputError):
    """Descriptors of one face model were to be compared with (or stored beside) another's."""


class ModelError(OculaError):
    """A model cannot be provided."""


class ModelUnavailable(ModelError):
    """A model's files are not installed, or would need a download while offline."""


class IntegrityError(ModelError):
    """A file's sha256 digest differs from the one the registry declares."""


class DownloadError(ModelError):
    """An opt-in download failed (network, HTTP status, size)."""


class ConversionError(ModelError):
    """A weights file could not be read safely or converted to a runnable graph."""


class ConfigError(OculaError):
    """Invalid settings."""


class StoreError(ConfigError):
    """A collection or gallery cannot be read or written: a half-created or damaged store, a
    full disk, a store locked by another process for too long."""


class NotCalibrated(InputError, ConfigError):
    """A decision at a false-match rate was asked of a face descriptor that ships no
    calibration table (pass one measured with ``ocula eval pairs --calibration``). Also a
    ConfigError, which a missing shipped table raised before faces v2."""

    def __init__(self, model: str, table: str):
        self.model, self.table = model, table
        super().__init__(
            f"no calibration table ships for face descriptor {model} ({table} is missing): a decision "
            "at a false-match rate cannot be made with it; measure one with `ocula eval pairs "
            "--calibration` and pass it, or use the dlib descriptor"
        )


class NoConceptScores(InputError):
    """A search by words in a collection that stores no concept scores (made before they were
    stored, or under another concept numbering): ``ocula reindex`` gives it them."""

    def __init__(self, collection: str, why: str = "stores no concept scores"):
        self.collection = collection
        super().__init__(
            f"collection {collection} {why}, so it cannot be searched by words; "
            f"run `ocula reindex --collection {collection}` to add them"
        )


class VideoError(InputError):
    """A video source could not be opened or decoded (missing, corrupt, unsupported codec)."""
