"""Settings: where ocula keeps data, how many threads it uses, whether it may go online.

Read from ``OCULA_*`` environment variables (e.g. ``OCULA_DATA_DIR``, ``OCULA_THREADS``,
``OCULA_OFFLINE=0``) or passed explicitly. Nothing here touches the disk; directories are
created by whoever writes into them.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "available_cpus"]


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var)
    return (Path(base) if base else Path.home() / fallback) / "ocula"


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and container cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    """Process-wide configuration. Immutable once built; make a new one to change it."""

    model_config = SettingsConfigDict(env_prefix="OCULA_", frozen=True, extra="forbid")

    data_dir: Path = Field(
        default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share"),
        description="Where downloaded models and (later) collections live.",
    )
    cache_dir: Path = Field(
        default_factory=lambda: _xdg("XDG_CACHE_HOME", ".cache"),
        description="Rebuildable files, e.g. ONNX graphs converted from .pth weights.",
    )
    vectors: str = Field(
        "faiss",
        description="Where new collections keep their vectors: 'faiss' (embedded), 'milvus://host:port' "
        "or a Milvus Lite file 'milvus-lite:PATH.db'. A collection remembers its store.",
    )
    threads: int = Field(0, ge=0, le=1024, description="Inference threads; 0 = all CPUs (never more are used).")
    offline: bool = Field(True, description="Refuse network downloads unless set to false.")
    max_image_bytes: int = Field(100 * 2**20, gt=0, description="Largest accepted file.")
    # Pillow refuses more than 2 * its MAX_IMAGE_PIXELS (178,956,970) itself, so a larger value
    # could not take effect; it is refused here rather than silently ignored.
    max_image_pixels: int = Field(100_000_000, gt=0, le=178_956_970, description="Largest width*height.")
    batch_size: int = Field(16, ge=1, le=1024, description="Images per inference batch.")
    download_timeout: float = Field(60.0, gt=0, description="Seconds without data before a download fails.")

    @field_validator("data_dir", "cache_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def models_dir(self) -> Path:
        """Downloaded or user-placed model files."""
        return self.data_dir / "models"

    @property
    def effective_threads(self) -> int:
        """Threads to use: the setting, capped at the CPUs available (more only adds contention)."""
        return min(self.threads, available_cpus()) if self.threads else available_cpus()
