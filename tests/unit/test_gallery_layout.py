"""The galleries package keeps to its own objects: no module reaches into another instance's
private store (``other._coll``, ``other._store``); the cluster store has its own class."""

from __future__ import annotations

import ast
from pathlib import Path

import ocula.galleries

PRIVATE_STORE = {"_coll", "_store"}


def _reach_ins(path: Path) -> list[str]:
    """``x._coll`` / ``x._store`` where ``x`` is not ``self`` (or ``cls``), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.name}:{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in PRIVATE_STORE
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


def test_no_gallery_module_reaches_into_another_instances_store():
    modules = sorted(Path(ocula.galleries.__file__).parent.glob("*.py"))
    assert len(modules) > 5
    found = [hit for path in modules for hit in _reach_ins(path)]
    assert found == []


def test_the_cluster_store_is_its_own_class():
    from ocula.galleries.cluster_store import ClusterStore
    from ocula.galleries.gallery import Gallery

    assert not issubclass(ClusterStore, Gallery)
    for verb in ("clusters", "faces", "replace_all", "merge", "split", "forget_faces", "issue_ids", "close"):
        assert callable(getattr(ClusterStore, verb))
