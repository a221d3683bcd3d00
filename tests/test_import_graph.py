"""Imports inside the package run one way: no import cycle, lazy (function-level) imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import audiolora

PACKAGE = Path(audiolora.__file__).resolve().parent

# Cycles outside the adapter engine, data, hub and separation modules, known and not yet broken.
# A cycle not listed here fails the test; one listed here that is gone fails it too (drop the entry).
KNOWN_CYCLES: list[set[str]] = []


def module_files() -> dict[str, tuple[Path, bool]]:
    """`{dotted module name: (file, is a package __init__)}` for every module of audiolora."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = [PACKAGE.name, *path.relative_to(PACKAGE).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph() -> dict[str, dict[str, int]]:
    """`{module: {imported audiolora module: line}}` from every import statement, at any depth.

    `from pkg import sub` where `sub` is a module is an edge to `pkg.sub` only: the package itself
    is already being imported then and its names are not read.
    """
    modules = module_files()
    graph: dict[str, dict[str, int]] = {}
    for module, (path, is_package) in modules.items():
        edges = graph.setdefault(module, {})
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                source = _absolute(module, is_package, node)
                subs = [f"{source}.{alias.name}" for alias in node.names]
                targets = [s for s in subs if s in modules]
                if len(targets) < len(subs):
                    targets.append(source)
            else:
                continue
            for target in targets:
                if target in modules and target != module:
                    edges.setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def describe(component: set[str], graph: dict[str, dict[str, int]]) -> str:
    edges = [
        f"  {a} -> {b} (line {graph[a][b]})"
        for a in sorted(component)
        for b in sorted(graph[a])
        if b in component
    ]
    return "\n".join([", ".join(sorted(component)), *edges])


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    # engine imports merge at module level, relative; family imports evaluate inside a method.
    assert "audiolora.adapters.merge" in graph["audiolora.adapters.engine"]
    assert "audiolora.families.separation.evaluate" in graph["audiolora.families.separation.family"]
    # `from ..data.stems import stem_datasets` inside SeparationFamily.datasets
    assert "audiolora.data.stems" in graph["audiolora.families.separation.family"]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [{"a", "b", "c"}]


def test_no_import_cycles_but_the_known_ones():
    graph = import_graph()
    found = cycles(graph)
    new = [c for c in found if c not in KNOWN_CYCLES]
    assert not new, "import cycles:\n" + "\n".join(describe(c, graph) for c in new)
    gone = [c for c in KNOWN_CYCLES if c not in found]
    assert not gone, f"known cycles that are gone, drop them from KNOWN_CYCLES: {gone}"


def test_the_engine_data_and_hub_modules_import_one_way():
    graph = import_graph()
    in_cycles = set().union(*cycles(graph))
    for module in [
        "audiolora.adapters.engine",
        "audiolora.adapters.merge",
        "audiolora.adapters.ranks",
        "audiolora.adapters.modules",
        "audiolora.data.stems",
        "audiolora.data.checks",
        "audiolora.hub",
        "audiolora.families.separation",
        "audiolora.families.separation.family",
        "audiolora.families.separation.loading",
    ]:
        assert module in graph
        assert module not in in_cycles, module
    # the low modules do not reach back up
    engine = {"audiolora.adapters.engine", "audiolora.adapters.merge", "audiolora.adapters.ranks"}
    assert not engine & set(graph["audiolora.adapters.modules"])
    assert "audiolora.data.stems" not in graph["audiolora.data.checks"]
    assert not [
        m
        for m in graph["audiolora.hub"]
        if m.startswith("audiolora.families.separation")
        and m != "audiolora.families.separation.loading"
    ]
