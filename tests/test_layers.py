"""The import graph of the project's packages: no cycle, and every import pointing down the
layers of docs/architecture.md. Imports inside functions count too: a lazy import is still a
dependency."""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

from testkit.processes import ROOT

# What each package may import of ours (besides itself).
LAYERS: dict[str, set[str]] = {
    "mappers": set(),
    "config": {"mappers"},
    "sinks": {"mappers"},
    "streams": {"mappers", "config", "sinks"},
    "testkit": {"mappers", "config", "sinks"},
    "ops": {"mappers", "config", "sinks", "streams", "testkit"},
}
HARNESSES = {"bench", "chaos", "scripts", "tests"}  # may import anything; nothing imports them
# Harnesses held to the package rules too (no import cycle, no other harness imported, no
# function over 60 lines); tests are only held to the layers' being importable by them.
SUPPORT = ("bench", "chaos", "scripts")
CHECKED = (*LAYERS, *SUPPORT)  # every Python file of the repository but tests'
# Third-party libraries a layer must not use: the core is pure, delivery knows no Faust.
FORBIDDEN = {
    "mappers": {"faust", "aiokafka", "httpx", "aiohttp", "mode"},
    "config": {"faust", "aiokafka", "httpx", "aiohttp", "mode"},
    "sinks": {"faust", "aiokafka", "mode"},
}
Graph = dict[str, set[str]]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: Collection[str] = ()) -> Iterator[str]:
    """The modules `path` imports. `from pkg import sub` of a submodule `sub` (one of
    `modules`) imports `pkg.sub`, not `pkg`'s other re-exports."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else ""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = (package or module_name(path)).split(".")
                base = ".".join([*anchor[: len(anchor) - node.level + 1], base]).strip(".")
            named = [f"{base}.{alias.name}" for alias in node.names]
            submodules = [name for name in named if name in modules]
            yield from submodules
            if len(submodules) < len(named):
                yield base


def project_graph(packages: Collection[str] = CHECKED) -> Graph:
    modules = {
        module_name(path): path for package in packages for path in (ROOT / package).rglob("*.py")
    }
    graph: Graph = {}
    for name, path in modules.items():
        graph[name] = {target for target in imports_of(path, modules) if target in modules}
    return graph


def third_party_of(package: str) -> set[str]:
    return {
        target.split(".")[0]
        for path in (ROOT / package).rglob("*.py")
        for target in imports_of(path)
    }


def layer_violations(graph: Graph) -> list[str]:
    """Imports against the layers; a harness may import every layer, but no other harness
    (chaos, bench and the scripts share code through testkit, not with each other)."""
    found = []
    for source, targets in sorted(graph.items()):
        layer = source.split(".")[0]
        allowed = set(LAYERS) if layer in HARNESSES else LAYERS.get(layer, set())
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != layer and other not in allowed:
                found.append(f"{source} imports {target}")
    return found


def cycles(graph: Graph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package_of(module: str) -> str:
    return module.split(".")[0]


def test_no_import_cycles() -> None:
    assert cycles(project_graph()) == []


def test_imports_point_down_the_layers() -> None:
    assert layer_violations(project_graph()) == []


def test_no_package_imports_a_harness() -> None:
    imported = {
        _package_of(target)
        for package in LAYERS
        for path in (ROOT / package).rglob("*.py")
        for target in imports_of(path)
    }
    assert imported & HARNESSES == set()


def test_pure_layers_use_no_io_frameworks() -> None:
    used = {package: third_party_of(package) & banned for package, banned in FORBIDDEN.items()}
    assert used == {package: set() for package in FORBIDDEN}


def test_the_checks_can_fail() -> None:
    graph: Graph = {
        "mappers.a": {"mappers.b"},
        "mappers.b": {"mappers.a"},
        "sinks.client": {"streams.app"},
        "streams.app": {"sinks.client"},
        "chaos.run": {"bench.common", "chaos.load", "ops.cli", "testkit.kafka"},
    }
    assert cycles(graph) == [["mappers.a", "mappers.b"], ["sinks.client", "streams.app"]]
    assert layer_violations(graph) == [
        "chaos.run imports bench.common",
        "sinks.client imports streams.app",
    ]


def long_functions(limit: int = 60, packages: Collection[str] = CHECKED) -> list[str]:
    """Functions of the packages and the harnesses but tests over `limit` lines, unless a
    comment on the line above their `def` (or decorator) says why they must be
    (`# long: ...`)."""
    found = []
    for package in packages:
        for path in (ROOT / package).rglob("*.py"):
            lines = path.read_text().splitlines()
            for node in ast.walk(ast.parse("\n".join(lines))):
                if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                above = lines[first - 2].strip() if first >= 2 else ""
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > limit and not above.startswith("# long:"):
                    found.append(f"{module_name(path)}.{node.name}: {size} lines")
    return found


def test_no_function_is_over_60_lines_without_a_reason() -> None:
    assert long_functions() == []
    assert long_functions(limit=20)  # the check sees functions at all
    # ... and the harnesses' too (config has none over 20 lines to see).
    assert all(long_functions(limit=20, packages=[package]) for package in SUPPORT)
