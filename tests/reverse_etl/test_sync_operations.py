"""Operating syncs: one at a time per warehouse, and settings that name what is wrong.

A second sync on a warehouse another process is syncing (or has open) exits non-zero with one
line on stderr saying which warehouse, which process and what to do, never a traceback. A
CDP_* setting the pipeline cannot use is refused with one line naming the variable, by every
entry point, before anything runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cdp.cli import main as cdp_main
from tests.reverse_etl.test_kill import (
    BATCH_SIZE,
    HOLD_REQUEST,
    HoldingWebhook,
    _warehouse,
    start_sync,
    sync_file,
    webhook,  # noqa: F401  (the fixture)
)

CDP = str(Path(sys.executable).parent / "cdp")


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def first_sync(tmp_path: Path, webhook: HoldingWebhook) -> Iterator[tuple[Path, Path, int]]:  # noqa: F811
    """A `python -m reverse_etl` holding its warehouse: its HOLD_REQUEST-th batch in flight."""
    database = tmp_path / "warehouse.duckdb"
    _warehouse(database)
    config = sync_file(tmp_path, webhook.url)
    process = start_sync(config, "--duckdb-path", str(database))
    try:
        assert webhook.holding.wait(timeout=120), process.communicate()[0]
        assert len(webhook.acknowledged) == (HOLD_REQUEST - 1) * BATCH_SIZE
        yield database, config, process.pid
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_a_second_sync_on_a_busy_warehouse_says_so_in_one_line(first_sync, webhook) -> None:  # noqa: F811
    database, config, pid = first_sync
    sent_before = len(webhook.acknowledged)
    second = subprocess.run(
        [sys.executable, "-m", "reverse_etl", str(config), "--duckdb-path", str(database)],
        env=os.environ | {"KILL_TEST_SECRET": "x"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert second.returncode != 0
    line = _one_line(second.stderr)
    assert f"warehouse {database.resolve()} is busy: another sync is running (pid {pid}" in line
    assert "wait for it to finish or stop that process" in line

    # `cdp sync` on the same warehouse: the same line.
    project = subprocess.run(
        [CDP, "sync", "--duckdb-path", str(database)],
        env=os.environ | {"CDP_ACTIVATION_DIR": str(database.parent / "activation")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert project.returncode != 0
    assert f"is busy: another sync is running (pid {pid}" in _one_line(project.stderr)
    assert len(webhook.acknowledged) == sent_before  # neither of them sent anything


def test_a_sync_on_a_warehouse_another_process_has_open_says_so_in_one_line(
    tmp_path: Path,
) -> None:
    database = tmp_path / "warehouse.duckdb"
    _warehouse(database)
    config = sync_file(tmp_path, "http://127.0.0.1:9/unused")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True);"
            " time.sleep(120)",
            str(database),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        second = subprocess.run(
            [sys.executable, "-m", "reverse_etl", str(config), "--duckdb-path", str(database)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert second.returncode != 0
    line = _one_line(second.stderr)
    assert f"warehouse {database.resolve()} is open in another process (pid {holder.pid}" in line


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CDP_AS_OF", "yesterday", "CDP_AS_OF='yesterday' is not a time: expected YYYY-MM-DD"),
        ("CDP_AS_OF", "30/06/2025", "CDP_AS_OF='30/06/2025' is not a time"),
        ("CDP_AS_OF", "2025-13-01", "CDP_AS_OF='2025-13-01' is not a time"),
        ("CDP_LANDING_FORMAT", "xlsx", "CDP_LANDING_FORMAT='xlsx' is not one of csv, parquet"),
        ("CDP_THREADS", "many", "CDP_THREADS='many' is not a whole number"),
        ("CDP_LANDING_ENCODING", "cp1252", "CDP_LANDING_ENCODING='cp1252' is not an encoding"),
        (
            "CDP_LANDING_ENCODING_CRM_CONTACT",
            "latin-1",
            "CDP_LANDING_ENCODING_CRM_CONTACT names no landing table",
        ),
        ("CDP_SYNC_MEMORY_LIMIT", "512", "CDP_SYNC_MEMORY_LIMIT='512' is not a memory size"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [["run"], ["sync"], ["sync", "--dry-run"], ["segment", "preview", "champions"], ["dbt", "ls"]],
)
def test_a_bad_setting_is_named_in_one_line(
    tmp_path: Path, command: list[str], variable: str, value: str, expected: str
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    database = tmp_path / "warehouse.duckdb"
    _warehouse(database)
    env = {variable: value, "CDP_ACTIVATION_DIR": str(tmp_path / "activation")}
    options = [] if command[0] == "dbt" else ["--duckdb-path", str(database)]
    if command == ["run"]:
        options += ["--raw-dir", str(landing)]
    result = CliRunner().invoke(cdp_main, [*command, *options], env=env)
    assert result.exit_code != 0
    assert expected in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_python_m_reverse_etl_names_a_bad_target_in_one_line(tmp_path: Path) -> None:
    # The library's command reads only its own settings (the warehouse it is pointed at);
    # the application's (CDP_AS_OF, ...) are checked by `cdp` (test above) and Dagster.
    database = tmp_path / "warehouse.duckdb"
    _warehouse(database)
    config = sync_file(tmp_path, "http://127.0.0.1:9/unused")
    result = subprocess.run(
        [sys.executable, "-m", "reverse_etl", str(config), "--dry-run"],
        env=os.environ | {"CDP_TARGET": "postgres", "CDP_DUCKDB_PATH": str(database)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "unknown target 'postgres' (duckdb or spark)" in _one_line(result.stderr)


def test_dagster_fails_the_step_with_a_line_naming_a_bad_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dagster import Failure

    from orchestration.checks import _env_float
    from orchestration.dbt import checked_settings

    monkeypatch.setenv("CDP_AS_OF", "last tuesday")
    with pytest.raises(Failure, match="CDP_AS_OF='last tuesday' is not a time"):
        checked_settings()
    monkeypatch.setenv("CDP_SEGMENT_MAX_CHANGE", "half")
    with pytest.raises(ValueError, match="CDP_SEGMENT_MAX_CHANGE='half' is not a number"):
        _env_float("CDP_SEGMENT_MAX_CHANGE", 0.5)
