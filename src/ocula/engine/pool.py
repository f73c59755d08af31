"""The models an Engine has loaded, and what it built from them.

One :class:`ModelPool` per Engine, never a module-level cache: two Engines with different
settings (threads, data dir) coexist, and ``close()`` frees what the pool holds. Everything
loads once, on first use, under the pool's lock, so the services sharing a pool are safe to call
from several threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..config import Settings
from ..models.backends.base import Runner
from ..models.loading import load_dlib_model, load_runner
from ..models.registry import ModelSpec, get_model

if TYPE_CHECKING:
    from ..models.backends.dlib import FaceDetectorModel, ShapePredictorModel

    DlibModel = FaceDetectorModel | ShapePredictorModel

__all__ = ["ModelPool"]


class Closeable(Protocol):
    def close(self) -> None: ...


T = TypeVar("T")
C = TypeVar("C", bound=Closeable)


class ModelPool:
    """Settings, loaded runners and dlib models, the objects built from them, and one lock.

    ``runner_factory`` builds a Runner for a model, ``dlib_factory`` a dlib detector or shape
    predictor; tests of the layers above pass ones that return fakes.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        runner_factory: Callable[[ModelSpec, Settings], Runner] = load_runner,
        dlib_factory: Callable[[ModelSpec, Settings], DlibModel] = load_dlib_model,
    ):
        self.settings = settings
        self.lock = threading.RLock()  # re-entrant: a build loads the models it needs under it
        self._runner_factory = runner_factory
        self._dlib_factory = dlib_factory
        self._runners: dict[str, Runner] = {}
        self._owned: dict[str, Closeable] = {}  # dlib models and the like: closed by close()
        self._derived: dict[tuple[str, Hashable], object] = {}  # taggers, analyzers: dropped by close()
        self._closed = False

    def runner(self, model: str) -> Runner:
        """The loaded runner for a registered model (loaded on first use)."""
        with self.lock:
            self._check_open()
            if model not in self._runners:
                self._runners[model] = self._runner_factory(get_model(model), self.settings)
            return self._runners[model]

    def dlib_model(self, model: str) -> DlibModel:
        """The loaded dlib detector or shape predictor for a registered model."""
        return self.owned(model, lambda: self._dlib_factory(get_model(model), self.settings))

    def owned(self, key: str, build: Callable[[], C]) -> C:
        """The object ``build`` made for ``key`` (built on first use), closed by :meth:`close`."""
        with self.lock:
            self._check_open()
            if key not in self._owned:
                self._owned[key] = build()
            return self._owned[key]  # type: ignore[return-value]

    def derived(self, kind: str, key: Hashable, build: Callable[[], T]) -> T:
        """The object of ``kind`` that ``build`` made for ``key`` from loaded models (built on
        first use, kept until :meth:`forget` or :meth:`close`)."""
        with self.lock:
            self._check_open()
            if (kind, key) not in self._derived:
                self._derived[(kind, key)] = build()
            return self._derived[(kind, key)]  # type: ignore[return-value]

    def forget(self, kind: str) -> None:
        """Drop the built objects of ``kind`` (rebuilt on next use, e.g. with new options)."""
        with self.lock:
            for key in [k for k in self._derived if k[0] == kind]:
                del self._derived[key]

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("Engine is closed")

    def close(self) -> None:
        with self.lock:
            for runner in self._runners.values():
                runner.close()
            for model in self._owned.values():
                model.close()
            self._runners.clear()
            self._owned.clear()
            self._derived.clear()
            self._closed = True
