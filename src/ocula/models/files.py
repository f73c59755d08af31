"""Resolving a model's files to verified local paths (and telling what is installed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import IntegrityError, ModelUnavailable
from .registry import FileSpec, ModelSpec
from .sources import ProgressCallback, UrlFile, download_file, require_online, sha256_file

__all__ = ["FileStatus", "download_model", "file_status", "resolve_files"]


@dataclass(frozen=True)
class FileStatus:
    model: str
    role: str
    filename: str
    source: str
    path: Path | None
    expected_sha256: str
    actual_sha256: str | None = None  # only filled in when verified

    @property
    def installed(self) -> bool:
        return self.path is not None

    @property
    def verified(self) -> bool | None:
        """True/False once hashed; None if not installed or not hashed."""
        if self.actual_sha256 is None:
            return None
        return self.actual_sha256 == self.expected_sha256


def _locate(spec: ModelSpec, f: FileSpec, settings: Settings) -> Path | None:
    return f.source.locate(settings, spec.name, f.filename)


def file_status(spec: ModelSpec, settings: Settings, *, verify: bool = False) -> list[FileStatus]:
    """Where each of ``spec``'s files is (if anywhere), and with ``verify`` its actual sha256."""
    out = []
    for f in spec.files:
        path = _locate(spec, f, settings)
        actual = sha256_file(path) if (verify and path is not None) else None
        out.append(FileStatus(spec.name, f.role, f.filename, f.source.describe(), path, f.sha256, actual))
    return out


def resolve_files(
    spec: ModelSpec,
    settings: Settings,
    *,
    allow_download: bool | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Path]:
    """Map each file role of ``spec`` to a local path whose sha256 matches the registry.

    Missing files with a URL source are downloaded only if ``allow_download`` (default: when
    ``settings.offline`` is false).

    Raises:
        ModelUnavailable: a file is missing and cannot (or may not) be fetched.
        IntegrityError: a file is present but its content differs from the registry's sha256.
    """
    if allow_download is None:
        allow_download = not settings.offline
    paths: dict[str, Path] = {}
    for f in spec.files:
        path = _locate(spec, f, settings)
        if path is None:
            if isinstance(f.source, UrlFile):
                if not allow_download:
                    require_online(settings, f"model {spec.name}")
                    raise ModelUnavailable(
                        f"model {spec.name}: {f.filename} is not downloaded; {f.source.missing_hint(spec.name)}"
                    )
                path = download_file(
                    f.source.url,
                    f.source.target(settings, spec.name, f.filename),
                    f.sha256,
                    timeout=settings.download_timeout,
                    expected_size=f.size,
                    progress=progress,
                )
            else:
                raise ModelUnavailable(
                    f"model {spec.name}: {f.filename} is not installed; {f.source.missing_hint(spec.name)}"
                )
        else:
            actual = sha256_file(path)
            if actual != f.sha256:
                raise IntegrityError(
                    f"model {spec.name}: {path} has sha256 {actual}, the registry expects {f.sha256}; "
                    "reinstall or delete the file"
                )
        paths[f.role] = path
    return paths


def download_model(spec: ModelSpec, settings: Settings, *, progress: ProgressCallback | None = None) -> dict[str, Path]:
    """Explicitly fetch a model's missing downloadable files (the user's opt-in)."""
    return resolve_files(spec, settings, allow_download=True, progress=progress)
