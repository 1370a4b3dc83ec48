"""The architecture holds: no import cycles (every import counts, local and type-checking ones too),
and package façades are honest — each name in `__all__` exists and is imported through the façade."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import grimp

import llmops

SRC = Path(llmops.__file__).parent


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm over the module graph: components of more than one module are cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(component)

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_there_are_no_import_cycles() -> None:
    graph = grimp.build_graph("llmops", cache_dir=None)
    cycles = _strongly_connected(graph)
    assert cycles == [], [sorted(cycle) for cycle in cycles]


def _facades() -> dict[str, list[str]]:
    """Packages whose `__init__` declares `__all__`, with that list."""
    found = {}
    for info in pkgutil.walk_packages([str(SRC)], prefix="llmops."):
        if info.ispkg:
            module = importlib.import_module(info.name)
            if hasattr(module, "__all__"):
                found[info.name] = list(module.__all__)
    return found


def test_facades_export_what_they_name_and_are_used() -> None:
    facades = _facades()
    assert "llmops.redaction" in facades
    bypassed = []
    for package, names in facades.items():
        module = importlib.import_module(package)
        assert all(hasattr(module, name) for name in names), package
        for path in SRC.rglob("*.py"):
            relative = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
            if relative.startswith(package):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
                    bypassed += [
                        f"{relative}: {node.module}.{alias.name}"
                        for alias in node.names
                        if alias.name in names
                    ]
    assert bypassed == []
