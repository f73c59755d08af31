"""The Runner protocol every backend implements.

Pipelines only ever call :meth:`Runner.run` with named float32 arrays and read named outputs, so
a pipeline can be unit-tested with :class:`~ocula.models.backends.fake.FakeRunner`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["LazyRunner", "Runner"]


@runtime_checkable
class Runner(Protocol):
    name: str
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, inputs: Mapping[str, np.ndarray], outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Run one batch; returns the requested outputs (all if None) by name."""
        ...

    def close(self) -> None:
        """Release the backend's resources; the runner must not be used afterwards."""
        ...


class LazyRunner:
    """A Runner loaded on its first use, by ``load`` (e.g. ``Engine.runner`` of a model, which
    loads it once and keeps it): a pipeline can hold a model it may not need, such as a face
    descriptor on a photo where no face is found, without loading it. ``load`` owns what it
    returns, so :meth:`close` leaves the loaded runner alone."""

    def __init__(self, name: str, load: Callable[[], Runner]):
        self.name = name
        self._load = load

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._load().input_names

    @property
    def output_names(self) -> tuple[str, ...]:
        return self._load().output_names

    def run(self, inputs: Mapping[str, np.ndarray], outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        return self._load().run(inputs, outputs)

    def close(self) -> None:
        """Nothing to release: the runner belongs to whoever ``load`` got it from."""
