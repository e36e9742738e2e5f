"""What the orchestration package may import, and what importing it may do.

- orchestration imports the application (cdp) and the sync library (reverse_etl), nothing
  else of this repository; cdp never imports orchestration.
- importing every orchestration module changes no environment variable and neither parses
  nor runs dbt: the project, its manifest and the definitions are built when first needed.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from cdp import PROJECT_ROOT

FIRST_PARTY = {path.name for path in PROJECT_ROOT.iterdir() if (path / "__init__.py").exists()}
ORCHESTRATION_MAY_IMPORT = {"orchestration", "cdp", "reverse_etl"}


def _imported_roots(package: Path) -> dict[str, set[str]]:
    """Module file -> the top-level packages it imports (anywhere in the file)."""
    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        roots = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
        found[str(path.relative_to(PROJECT_ROOT))] = roots
    return found


def test_orchestration_imports_only_cdp_and_reverse_etl_of_this_repository() -> None:
    assert {"cdp", "reverse_etl", "orchestration"} <= FIRST_PARTY
    wrong = {
        module: sorted(roots & FIRST_PARTY - ORCHESTRATION_MAY_IMPORT)
        for module, roots in _imported_roots(PROJECT_ROOT / "orchestration").items()
        if roots & FIRST_PARTY - ORCHESTRATION_MAY_IMPORT
    }
    assert wrong == {}


def test_cdp_never_imports_orchestration() -> None:
    wrong = [
        module
        for module, roots in _imported_roots(PROJECT_ROOT / "cdp").items()
        if "orchestration" in roots
    ]
    assert wrong == []


PROBE = """
import json, os, pkgutil, importlib
before = dict(os.environ)
import orchestration
for module in pkgutil.iter_modules(orchestration.__path__):
    importlib.import_module(f"orchestration.{module.name}")
from orchestration import checks, dbt, schedules, syncs
after = dict(os.environ)
print(json.dumps({
    "changed": sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)),
    "built": [
        name for name, factory in [
            ("dbt_project", dbt.dbt_project), ("cdp_dbt_assets", dbt.cdp_dbt_assets),
            ("dbt_resource", dbt.dbt_resource), ("sync_assets", syncs.sync_assets),
            ("segment_checks", checks.segment_checks), ("jobs", schedules.jobs),
        ] if factory.cache_info().currsize
    ],
    "dbt_modules": sorted(m for m in __import__("sys").modules if m.split(".")[0] == "dbt"),
}))
"""


def test_importing_orchestration_writes_no_environment_and_builds_nothing(
    tmp_path: Path,
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    probe = json.loads(completed.stdout.strip().splitlines()[-1])
    assert probe == {"changed": [], "built": [], "dbt_modules": probe["dbt_modules"]}
    # dbt itself is not even loaded (dagster-dbt imports parts of it; the runner is not).
    assert "dbt.cli.main" not in probe["dbt_modules"]
