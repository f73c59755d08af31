"""Settings: where ocula keeps data, how many threads it uses, whether it may go online.

Read from ``OCULA_*`` environment variables (e.g. ``OCULA_DATA_DIR``, ``OCULA_THREADS``,
``OCULA_OFFLINE=0``) or passed explicitly. Nothing here touches the disk; directories are
created by whoever writes into them.

A frozen dataclass checked by hand, not a pydantic model: importing pydantic and building a
model cost every command of the CLI about 0.2 s of start-up (a third of ``ocula faces
verify``'s), for nine settings.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .environment import (
    ENV_PREFIX,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    PIL_MAX_PIXELS,
    available_cpus,
    environment_values,
)
from .errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "available_cpus"]


def _xdg(var: str, fallback: str) -> Path:
    base = os.environ.get(var)
    return (Path(base) if base else Path.home() / fallback) / "ocula"


#: What a variable may say for a boolean setting, in any case (what pydantic accepted when
#: Settings was a pydantic model).
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _path(value: object) -> Path:
    if isinstance(value, (str, os.PathLike)):
        return Path(value).expanduser()
    raise TypeError("not a path")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise TypeError("not a string")


def _whole(value: object) -> int:
    """An int, a numpy integer, or a whole number written as a number or a string ("16", "16.0")."""
    if isinstance(value, bool):
        raise TypeError("not a whole number")
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    else:
        try:
            return operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    number = _real(value, "not a whole number")
    if not number.is_integer():
        raise TypeError("not a whole number")
    return int(number)


def _number(value: object) -> float:
    """A finite number, or a string that writes one."""
    number = _real(value, "not a number")
    if not math.isfinite(number):
        raise TypeError("not a finite number")
    return number


def _real(value: object, problem: str) -> float:
    if isinstance(value, bool):
        raise TypeError(problem)
    try:
        return float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise TypeError(problem) from None


def _flag(value: object) -> bool:
    """A bool, 0 or 1 (any number type), or one of the words of _TRUE / _FALSE in any case."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE | _FALSE:
            return word in _TRUE
        raise TypeError("not true or false (1/0, true/false, yes/no, on/off)")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if number in (0.0, 1.0):
        return bool(number)
    raise TypeError("not true or false (1/0, true/false, yes/no, on/off)")


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _shown(bound: float) -> str:
    return f"{int(bound):,}" if float(bound).is_integer() else f"{bound:g}"


@dataclass(frozen=True)
class _Rule:
    """How one setting is read: its type, its range, and its default."""

    parse: Callable[[object], object]
    default: Callable[[], object]
    minimum: float | None = None  # inclusive
    maximum: float | None = None  # inclusive
    positive: bool = False  # > 0

    def check(self, name: str, value: object, source: str) -> object:
        try:
            parsed = self.parse(value)
        except TypeError as exc:
            raise ConfigError(f"invalid setting {name}{source}: {exc}: {_brief(value)}") from None
        number = parsed if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) else None
        problem = None
        if number is not None:
            if self.positive and not number > 0:
                problem = "must be greater than 0"
            elif self.minimum is not None and number < self.minimum:
                problem = f"must be at least {_shown(self.minimum)}"
            elif self.maximum is not None and number > self.maximum:
                problem = f"must be at most {_shown(self.maximum)}"
        if problem:
            raise ConfigError(f"invalid setting {name}{source}: {problem} (got {_brief(value)})")
        return parsed


_RULES: dict[str, _Rule] = {
    "data_dir": _Rule(_path, lambda: _xdg("XDG_DATA_HOME", ".local/share")),
    "cache_dir": _Rule(_path, lambda: _xdg("XDG_CACHE_HOME", ".cache")),
    "vectors": _Rule(_text, lambda: "faiss"),
    "threads": _Rule(_whole, lambda: 0, minimum=0, maximum=1024),
    "offline": _Rule(_flag, lambda: True),
    "max_image_bytes": _Rule(_whole, lambda: MAX_IMAGE_BYTES, positive=True),
    # Pillow refuses more than 2 * its MAX_IMAGE_PIXELS (178,956,970) itself, so a larger value
    # could not take effect; it is refused here rather than silently ignored.
    "max_image_pixels": _Rule(_whole, lambda: MAX_IMAGE_PIXELS, positive=True, maximum=PIL_MAX_PIXELS),
    "batch_size": _Rule(_whole, lambda: 16, minimum=1, maximum=1024),
    "download_timeout": _Rule(_number, lambda: 60.0, positive=True),
}


@dataclass(frozen=True, init=False)
class Settings:
    """Process-wide configuration. Immutable once built; :meth:`replace` makes a changed copy.

    A setting not passed (or passed as None) comes from the variable ``OCULA_<NAME>`` (the
    name in any case), else its default. A value of the wrong type or out of range, from an
    argument or a variable, is a :class:`~ocula.errors.ConfigError` naming the setting; an
    unknown name is a TypeError."""

    data_dir: Path  # where downloaded models, collections and galleries live
    cache_dir: Path  # rebuildable files, e.g. ONNX graphs converted from .pth weights
    # Where new collections keep their vectors: "faiss" (embedded), "milvus://host:port" or a
    # Milvus Lite file "milvus-lite:PATH.db". A collection remembers its store.
    vectors: str
    threads: int  # inference threads; 0 = all CPUs (never more are used)
    offline: bool  # refuse network downloads unless false
    max_image_bytes: int  # the largest accepted file
    max_image_pixels: int  # the largest width * height
    batch_size: int  # images per inference batch
    download_timeout: float  # seconds without data before a download fails

    def __init__(
        self,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        vectors: str | None = None,
        threads: int | None = None,
        offline: bool | None = None,
        max_image_bytes: int | None = None,
        max_image_pixels: int | None = None,
        batch_size: int | None = None,
        download_timeout: float | None = None,
    ):
        given = {
            "data_dir": data_dir,
            "cache_dir": cache_dir,
            "vectors": vectors,
            "threads": threads,
            "offline": offline,
            "max_image_bytes": max_image_bytes,
            "max_image_pixels": max_image_pixels,
            "batch_size": batch_size,
            "download_timeout": download_timeout,
        }
        variables = environment_values(name for name, value in given.items() if value is None)
        for name, rule in _RULES.items():
            if given[name] is not None:
                value = rule.check(name, given[name], "")
            elif name in variables:
                value = rule.check(name, variables[name], f" (from {ENV_PREFIX}{name.upper()})")
            else:
                value = rule.default()
            object.__setattr__(self, name, value)

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` (checked like arguments); the other settings as they are."""
        return replace(self, **changes)

    def model_copy(self, *, update: Mapping[str, object] | None = None) -> Settings:
        """:meth:`replace`, by pydantic's name for it (Settings was a pydantic model until
        pydantic's import cost the command line its start-up time)."""
        return self.replace(**(update or {}))

    def model_dump(self, *, mode: str = "python") -> dict[str, object]:
        """The settings as a dict, by pydantic's name: paths as paths, or as strings in mode
        "json" (:meth:`as_dict`)."""
        return dict(self.as_dict()) if mode == "json" else {f.name: getattr(self, f.name) for f in fields(self)}

    def as_dict(self) -> dict[str, str | int | float | bool]:
        """The settings as JSON values (paths as strings): ``Settings(**as_dict())`` rebuilds them."""
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), Path) else v) for f in fields(self)}

    @property
    def models_dir(self) -> Path:
        """Downloaded or user-placed model files."""
        return self.data_dir / "models"

    @property
    def effective_threads(self) -> int:
        """Threads to use: the setting, capped at the CPUs available (more only adds contention)."""
        return min(self.threads, available_cpus()) if self.threads else available_cpus()
