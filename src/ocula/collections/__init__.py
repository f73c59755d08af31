"""Persistent collections of embedded items: SQLite for the truth, FAISS for the answers."""

from .collection import (
    Collection,
    Erasure,
    FaceRows,
    Item,
    ItemFaces,
    Match,
    NewItem,
    collection_names,
    collection_path,
    drop_collection,
)
from .filters import Filter, parse_filter
from .swap import swap_collection

__all__ = [
    "Collection",
    "Erasure",
    "FaceRows",
    "Filter",
    "Item",
    "ItemFaces",
    "Match",
    "NewItem",
    "collection_names",
    "collection_path",
    "drop_collection",
    "parse_filter",
    "swap_collection",
]
