"""The library's dependency rules, read from its source (every import, TYPE_CHECKING and
function-level ones included): no import of the application, the orchestration or the dbt
project; result types and SQL spelling depend on nothing in the package; destinations never
reach the engine, the state or a warehouse; no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "reverse_etl"


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    """module -> the package's modules (and the outside packages) it imports."""
    modules = {_module(path): path for path in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path):
            if imported.split(".")[0] != "reverse_etl" or (
                imported in modules and imported != name
            ):
                targets.add(imported)
        edges[name] = targets
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected, more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in edges:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_library_imports_no_application_orchestration_or_dbt_project():
    outside = {
        (module, target)
        for module, targets in graph().items()
        for target in targets
        if target.split(".")[0] in ("cdp", "orchestration", "dbt_project", "tests")
    }
    assert outside == set()


def test_result_types_and_sql_spelling_import_nothing_from_the_package():
    edges = graph()
    for module in ("reverse_etl.results", "reverse_etl.dialect"):
        assert {t for t in edges[module] if t.startswith("reverse_etl")} == set(), module


def test_destinations_never_import_the_engine_the_state_or_a_warehouse():
    forbidden = ("engine", "runner", "state", "log_state", "warehouse", "spark_warehouse", "diff")
    reached = {
        (module, target)
        for module, targets in graph().items()
        if module.startswith("reverse_etl.destinations")
        for target in targets
        if target.startswith("reverse_etl.") and target.split(".")[1] in forbidden
    }
    assert reached == set()


def test_no_import_cycle():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
