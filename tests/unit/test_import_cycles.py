"""No import cycle among ``src/ocula`` modules (issue 18): layers import only downward.

Every import counts, the ones inside functions too (a cycle closed by a function-level import
is still a cycle, only hidden); imports under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

import ocula

SRC = Path(ocula.__file__).resolve().parent


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree``, at any depth, except those under ``if TYPE_CHECKING``."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The ``ocula`` modules ``node`` (in ``module``) imports: ``from .a import b`` is ``a.b`` when
    that is a module, else ``a``."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name in known}
    if node.level:
        package = module if is_package else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
    targets = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
    if len(targets) < len(node.names) and base in known:
        targets.add(base)
    return targets


def import_graph(root: Path = SRC) -> dict[str, set[str]]:
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        graph[module] = set().union(*(_imported(module, is_package, n, known) for n in _import_nodes(tree)))
        graph[module].discard(module)
    return graph


def test_the_walker_sees_function_level_imports_and_skips_type_checking(tmp_path):
    pkg = tmp_path / "ocula"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import f\n")
    (pkg / "c.py").write_text("from . import a\nfrom .b import TYPE_CHECKING\n")
    graph = import_graph(pkg)
    assert graph == {"ocula": set(), "ocula.a": {"ocula.b"}, "ocula.b": set(), "ocula.c": {"ocula.a", "ocula.b"}}


def test_no_import_cycle_among_ocula_modules():
    graph = import_graph()
    assert len(graph) > 100 and graph["ocula.cli.search"]  # the walk found the package and its imports
    try:
        list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        pytest.fail(f"import cycle: {' -> '.join(reversed(cycle))}")
