"""Swapping a rebuilt collection in for the one it replaces (``ocula reindex``, gallery reindex)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from ..config import Settings
from .collection import RETIRED_SUFFIX, collection_path, drop_collection

__all__ = ["RETIRED_SUFFIX", "swap_collection"]


def swap_collection(
    name: str,
    replacement: str,
    settings: Settings,
    *,
    kind: str = "collections",
    hold: Callable[[Path], AbstractContextManager[object]] | None = None,
) -> None:
    """Put the complete collection ``replacement`` in the place of ``name``: ``name`` is renamed
    aside, ``replacement`` renamed in (the old one is put back if that fails) and the old one
    then dropped. ``hold(path of name)`` is entered around the renames (a gallery holds its
    store's write lock there and refuses the swap if the store changed meanwhile)."""
    target, temporary = collection_path(name, settings, kind=kind), collection_path(replacement, settings, kind=kind)
    retired = target.with_name(f"{name}{RETIRED_SUFFIX}")
    # Left by a crashed swap after its second rename (one killed between the two is restored
    # when the collection is opened: Collection.open).
    drop_collection(retired.name, settings, kind=kind, missing_ok=True)
    with hold(target) if hold is not None else contextlib.nullcontext():
        target.rename(retired)
        try:
            temporary.rename(target)
        except OSError:
            retired.rename(target)  # put the old one back
            raise
    drop_collection(retired.name, settings, kind=kind, missing_ok=True)
