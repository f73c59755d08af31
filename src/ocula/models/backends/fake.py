"""A Runner for unit tests of the layers above: returns what a given function computes."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["FakeRunner"]


class FakeRunner:
    def __init__(
        self,
        fn: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]],
        *,
        name: str = "fake",
        input_names: tuple[str, ...] = ("input",),
        output_names: tuple[str, ...] = ("logits",),
    ):
        self._fn = fn
        self.name = name
        self.input_names = input_names
        self.output_names = output_names
        self.calls: list[dict[str, tuple[int, ...]]] = []
        self.closed = False

    def run(self, inputs: Mapping[str, np.ndarray], outputs: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        if self.closed:
            raise RuntimeError("FakeRunner used after close()")
        self.calls.append({k: v.shape for k, v in inputs.items()})
        result = self._fn(inputs)
        return {k: result[k] for k in (outputs or self.output_names)}

    def close(self) -> None:
        self.closed = True
