"""The Runner protocol every backend implements.

Pipelines only ever call :meth:`Runner.run` with named float32 arrays and read named outputs, so
a pipeline can be unit-tested with :class:`~ocula.models.backends.fake.FakeRunner`.
"""

from __future__ import annotations

from typing import Mapping, Protocol, runtime_checkable

import numpy as np

__all__ = ["Runner"]


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
