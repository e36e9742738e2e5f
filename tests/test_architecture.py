"""The import architecture: the contracts in pyproject.toml hold, and no module imports itself
back through a chain of imports (docs/adr/0016-import-architecture.md)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import networkx as nx
import pytest

from cdp import PROJECT_ROOT

PACKAGES = ("cdp", "orchestration", "reverse_etl", "sample_data")
CONTRACTS = ("layers", "sample-data", "result-types", "destinations")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

_FROM_IMPORT = re.compile(r"^\s*from\s+(\.*)([\w.]*)\s+import\b")


def declared_contracts() -> dict[str, dict]:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["id"]: contract for contract in config["contracts"]}


def test_every_contract_is_declared() -> None:
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    assert sorted(config["root_packages"]) == sorted(PACKAGES)
    assert sorted(declared_contracts()) == sorted(CONTRACTS)


@pytest.mark.parametrize("contract", CONTRACTS)
def test_contract_is_kept(contract: str) -> None:
    """`lint-imports` (what `make lint` runs), one contract at a time, so a broken one names
    itself and does not hide the others."""
    result = subprocess.run(
        [str(LINT_IMPORTS), "--config", "pyproject.toml", "--contract", contract, "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def _package_of_from_import(graph: grimp.ImportGraph, importer: str, line: str) -> str | None:
    """The package a `from P import name` statement reads `name` from, when it is a module
    of the graph (`from . import x` resolved against the importer)."""
    match = _FROM_IMPORT.match(line)
    if match is None:
        return None
    dots, name = match.groups()
    if dots:
        parts = importer.split(".")
        is_package = bool(graph.find_children(importer))
        base = parts[: len(parts) - len(dots) + (1 if is_package else 0)]
        name = ".".join([*base, name] if name else base)
    return name if name in graph.modules else None


def import_edges(graph: grimp.ImportGraph) -> nx.DiGraph:
    """Every import between the graph's modules, as Python runs them.

    grimp records `from package import module` as an import of the module only; Python also
    runs the package's `__init__` first, and a package that re-exports its modules then
    imports them back (the sample-data generator's modules formed one cycle that way). So
    such a statement is also an edge to the package here.
    """
    edges = nx.DiGraph()
    for importer in graph.modules:
        edges.add_node(importer)
        for imported in graph.find_modules_directly_imported_by(importer):
            edges.add_edge(importer, imported)
            for detail in graph.get_import_details(importer=importer, imported=imported):
                package = _package_of_from_import(graph, importer, detail["line_contents"])
                if package is not None and package != importer:
                    edges.add_edge(importer, package)
    return edges


def import_cycles(edges: nx.DiGraph) -> list[list[str]]:
    """The strongly connected components of more than one module, largest first."""
    components = [sorted(c) for c in nx.strongly_connected_components(edges) if len(c) > 1]
    return sorted(components, key=lambda component: (-len(component), component))


def test_no_import_cycle() -> None:
    edges = import_edges(grimp.build_graph(*PACKAGES, cache_dir=None))
    assert {module.split(".")[0] for module in edges} == set(PACKAGES)
    cycles = import_cycles(edges)
    described = []
    for component in cycles:
        cycle = nx.find_cycle(edges.subgraph(component))
        described.append(" -> ".join([*(a for a, _ in cycle), cycle[0][0]]))
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(described)


def test_the_cycle_measure_sees_a_package_that_imports_its_modules_back() -> None:
    """`pkg` re-exports `pkg.api`, which reads its sibling through the package: a cycle that
    the edge added for `from package import module` shows and grimp's edges alone do not."""
    graph = grimp.ImportGraph()
    for module in ("pkg", "pkg.api", "pkg.util"):
        graph.add_module(module)
    graph.add_import(
        importer="pkg", imported="pkg.api", line_number=1, line_contents="from .api import run"
    )
    graph.add_import(
        importer="pkg.api", imported="pkg.util", line_number=1, line_contents="from pkg import util"
    )
    assert not graph.find_shortest_chain(importer="pkg.api", imported="pkg")
    assert import_cycles(import_edges(graph)) == [["pkg", "pkg.api"]]
    assert _package_of_from_import(graph, "pkg.api", "from . import util") == "pkg"
    assert _package_of_from_import(graph, "pkg.util", "from .api import run") == "pkg.api"
    assert _package_of_from_import(graph, "pkg", "from .api import run") == "pkg.api"
    assert _package_of_from_import(graph, "pkg.api", "import pkg.util as util") is None


def test_importing_the_application_does_not_load_the_sample_data() -> None:
    """`cdp generate` imports the generator inside the command: the CLI, and every other
    module of `cdp`, load without it."""
    modules = sorted(
        ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        for path in (PROJECT_ROOT / "cdp").rglob("*.py")
        if path.name != "__init__.py"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'sample_data')\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "cdp.cli" in modules
    assert result.stdout.strip() == "", f"importing cdp loaded {result.stdout.strip()}"
