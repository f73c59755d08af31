"""The Runner protocol every backend implements.

Pipelines only ever call :meth:`Runner.run` with named float32 arrays and read named outputs, so
a pipeline can be unit-tested with :class:`~ocula.models.backends.fake.FakeRunner`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["CHUNK", "LazyRunner", "Runner", "run_in_chunks"]


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


#: Images per network call for the image networks (EfficientNet-Lite: tagging and search), however
#: many a batch holds. A chunk's activations stay in the caches (the first block's are 8 MB an
#: image at 288 px); a batch of 16 streams 16 times that through memory at every layer. The
#: outputs are the same bits. ``benchmarks/network_chunks.py`` on this 2-core machine, CPU ms an
#: image, whole batch of 16 -> chunks of 2, over five runs: 288 px 14.5-17.2 -> 12.9-17.3 on one
#: thread (one run of five showed no gain), 18.1-18.7 -> 13.7-15.6 on two; 224 px 8.5-9.3 ->
#: 8.0-8.8; with six other busy processes, 288 px 25.7 -> 19.6.
CHUNK = 2


def run_in_chunks(
    runner: Runner, name: str, x: np.ndarray, outputs: tuple[str, ...], chunk: int = CHUNK
) -> dict[str, np.ndarray]:
    """``runner.run`` of the batch ``x`` (input ``name``), ``chunk`` images per call; the
    outputs joined along the batch axis, as one call on all of ``x`` gives them."""
    if len(x) <= chunk:
        return runner.run({name: x}, outputs)
    parts = [runner.run({name: x[i : i + chunk]}, outputs) for i in range(0, len(x), chunk)]
    return {out: np.concatenate([part[out] for part in parts]) for out in outputs}


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
