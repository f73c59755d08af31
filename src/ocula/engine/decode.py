"""Decode ahead: inputs decoded on worker threads while the caller works on earlier ones.

The one loop behind tagging, search embedding and face finding: each decodes a stream of
photos in order, a few ahead of the model, and turns a bad input into an error for that input
instead of stopping the stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from ..errors import ImageError, OculaError
from ..io import ImageSource, source_name

__all__ = ["DECODE_AHEAD", "Decoded", "decode_ahead"]

#: Inputs decoded ahead of the caller when it takes them one at a time.
DECODE_AHEAD = 4

T = TypeVar("T")


@dataclass(frozen=True)
class Decoded(Generic[T]):
    """One input, in order: its ``name``, the ``source`` itself, and either what ``decode`` made
    of it (``value``) or why it could not (``error``)."""

    name: str
    source: ImageSource
    value: T | None
    error: OculaError | None


def decode_ahead(
    sources: Iterable[ImageSource], decode: Callable[[ImageSource], T], *, ahead: int
) -> Iterator[Decoded[T]]:
    """``decode`` of each input, in order, run on two worker threads up to ``ahead`` inputs
    ahead of the caller. An :class:`~ocula.errors.OculaError` (or running out of memory) while
    decoding becomes that input's ``error``."""
    it = iter(sources)
    pending: deque[tuple[str, ImageSource, Future[T]]] = deque()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ocula-decode") as pool:

        def refill() -> None:
            while len(pending) < ahead:
                try:
                    source = next(it)
                except StopIteration:
                    return
                pending.append((source_name(source), source, pool.submit(decode, source)))

        refill()
        while pending:
            name, source, future = pending.popleft()
            refill()  # the next inputs decode while the caller works on this one
            try:
                value = future.result()
            except OculaError as exc:
                yield Decoded(name, source, None, exc)
            except MemoryError:
                yield Decoded(name, source, None, ImageError(f"{name}: out of memory while decoding"))
            else:
                yield Decoded(name, source, value, None)
