"""Settings: where ocula keeps data, how many threads it uses, whether it may go online.

Read from ``OCULA_*`` environment variables (e.g. ``OCULA_DATA_DIR``, ``OCULA_THREADS``,
``OCULA_OFFLINE=0``) or passed explicitly. Nothing here touches the disk; directories are
created by whoever writes into them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["ENV_PREFIX", "Settings", "available_cpus"]


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var)
    return (Path(base) if base else Path.home() / fallback) / "ocula"


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity masks and container cpusets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


ENV_PREFIX = "OCULA_"


class Settings(BaseModel):
    """Process-wide configuration. Immutable once built; make a new one to change it.

    A setting not passed comes from the variable ``OCULA_<NAME>`` (any case), else its
    default. (Read here rather than by pydantic-settings, whose import costs every command of
    the CLI about 0.1 s of start-up for what these few lines do.)"""

    model_config = ConfigDict(frozen=True, extra="forbid")

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

    @model_validator(mode="before")
    @classmethod
    def _environment(cls, values: Any) -> Any:
        """Arguments, over ``OCULA_*`` variables for the settings not passed."""
        if not isinstance(values, dict):
            return values
        variables = {name.upper(): value for name, value in os.environ.items()}
        from_env = {
            field: variables[ENV_PREFIX + field.upper()]
            for field in cls.model_fields
            if field not in values and ENV_PREFIX + field.upper() in variables
        }
        return {**from_env, **values}

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
