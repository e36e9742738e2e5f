"""A dbt error that quotes the data it failed on keeps its reason and loses the data.

DuckDB quotes the value it cannot cast ("Could not convert string 'Roberto' to INT32"), the
offending line of a CSV it cannot read ("Original Line: ..."), the input of a JSON error. The
landing intake reads landed files before dbt, so these tests make a copy of the dbt project
whose probe model casts a person's first name to a number: a real dbt build over a tiny landing
directory fails with such an error, and the person's email and name must appear in none of what
dbt prints, its dbt.log, or run_results.json, whether dbt runs in process (`run_dbt`, what
`cdp run` uses), as the `cdp-dbt` executable Dagster runs (JSON log lines), or in a Dagster run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cdp import DBT_PROJECT_DIR
from cdp.dbt_logs import scrub_dbt_text, scrub_log_line
from cdp.landing import write_csv_landing
from cdp.pipeline import Settings, run_dbt, take_in_landing

PERSONAL = ["roberto.jonesworth@example.com", "Roberto", "Jonesworth", "Alícia", "Smithers"]


PROBE = (
    "select cast(first_name as integer) as first_name_number from {{ source('crm', 'contacts') }}"
)


def _landing(raw_dir: Path) -> None:
    write_csv_landing(raw_dir, {})
    (raw_dir / "crm/contacts/part-00000.csv").write_text(
        "contact_id,email,phone,first_name,last_name,company,job_title,country,city,"
        "lifecycle_stage,is_deleted,created_at,updated_at\n"
        "c1,roberto.jonesworth@example.com,,Roberto,Jonesworth,,,NL,,lead,false,"
        "2025-01-01T00:00:00,2025-01-01T00:00:00\n"
        "c2,alicia@example.com,,Alícia,Smithers,,,NL,,lead,false,"
        "2025-01-01T00:00:00,2025-01-01T00:00:00\n",
        encoding="utf-8",
    )


def _project_copy(tmp_path: Path, model: str = "scrub_probe") -> Path:
    """A copy of the dbt project whose `model` casts the landed first names to numbers."""
    copy = tmp_path / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    found = list((copy / "models").rglob(f"{model}.sql"))
    path = found[0] if found else copy / "models" / f"{model}.sql"
    path.write_text(PROBE + "\n", encoding="utf-8")
    return copy


def _leaks(text: str) -> list[str]:
    return [value for value in PERSONAL if value in text]


def test_duckdb_error_texts_keep_the_reason_and_lose_the_values():
    text = (
        "Invalid Input Error: CSV Error on Line: 3\n"
        'Original Line: c1,roberto.jonesworth@example.com,Roberto,"Jones\nworth"\n'
        "Invalid unicode (byte sequence mismatch) detected.\n"
        "Conversion Error: Could not convert string 'Roberto' to INT32\n"
        'invalid date field format: "Smithers", expected format is (YYYY-MM-DD)\n'
        'Malformed JSON at byte 3 of input: unexpected character.  Input: {"n": "Alícia"\n'
        'Could not parse string "Jonesworth" according to format specifier "%Y"\n'
        "Jonesworth\n^\nLINE 1: select 1\n        ^"
    )
    cleaned = scrub_dbt_text(text)
    assert _leaks(cleaned) == [] and "worth" not in cleaned
    for kept in ("CSV Error on Line: 3", "Invalid unicode", "to INT32", '"%Y"', "LINE 1"):
        assert kept in cleaned
    event = json.dumps({"info": {"msg": text}, "data": {"node_info": {"n": "x"}}})
    assert _leaks(scrub_log_line(event)) == [] and json.loads(scrub_log_line(event))["data"]


def _artefacts(log_dir: Path, target_dir: Path) -> dict[str, str]:
    found = {"dbt.log": (log_dir / "dbt.log").read_text(encoding="utf-8", errors="replace")}
    found["run_results.json"] = (target_dir / "run_results.json").read_text(encoding="utf-8")
    return found


@pytest.mark.parametrize("runner", ["run_dbt", "the dbt executable Dagster runs"])
def test_a_failing_dbt_build_prints_and_writes_no_row_content(runner, tmp_path, capfd, monkeypatch):
    raw_dir, log_dir, target_dir = tmp_path / "raw", tmp_path / "logs", tmp_path / "target"
    _landing(raw_dir)
    duckdb_path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("DBT_LOG_PATH", str(log_dir))
    settings = Settings(raw_dir=raw_dir, duckdb_path=duckdb_path, dbt_target_path=target_dir)
    project = _project_copy(tmp_path)

    if runner == "run_dbt":
        lines: list[str] = []
        outcome = run_dbt(
            ["build", "--select", "scrub_probe"],
            settings,
            on_line=lines.append,
            project_dir=project,
        )
        success, reported = outcome.success, "\n".join(lines + outcome.failures)
        printed = capfd.readouterr()
        printed_text = printed.out + printed.err + reported
    else:  # with the JSON log format dagster-dbt asks for
        from orchestration.dbt import dbt_resource

        dbt_resource = dbt_resource()
        executable = dbt_resource.dbt_executable
        take_in_landing(settings)  # as the Dagster asset does before dbt
        completed = subprocess.run(
            [executable, "build", "--project-dir", str(project), "--select", "scrub_probe"],
            env={
                **os.environ,
                **settings.as_env(),
                "DBT_LOG_FORMAT": "json",
                "DBT_PROFILES_DIR": str(project),
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        success = completed.returncode == 0
        printed_text = completed.stdout + completed.stderr

    assert not success
    assert "Could not convert string" in printed_text  # the reason is kept
    artefacts = _artefacts(log_dir, target_dir)
    assert "to INT32" in artefacts["run_results.json"]
    for sink, text in {"stdout and stderr": printed_text, **artefacts}.items():
        assert _leaks(text) == [], f"personal data reached {sink}"


def test_a_failing_dagster_dbt_run_keeps_row_content_out_of_its_event_log(tmp_path, monkeypatch):
    from dagster import instance_for_test, materialize
    from dagster._serdes import serialize_value
    from dagster_dbt import DbtCliResource

    from orchestration.dbt import cdp_dbt_assets, dbt_resource

    cdp_dbt_assets, dbt_resource = cdp_dbt_assets(), dbt_resource()
    raw_dir, target_dir, dagster_dir = tmp_path / "raw", tmp_path / "target", tmp_path / "dagster"
    _landing(raw_dir)
    dagster_dir.mkdir()
    # The selected model of the project's assets, in a copy where it casts names to numbers.
    project = _project_copy(tmp_path, "int_landing__row_dispositions")
    settings = Settings(raw_dir=raw_dir, duckdb_path=tmp_path / "warehouse.duckdb")
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DBT_TARGET_PATH", str(target_dir))  # dagster-dbt's per-run folders
    selection = [
        key for key in cdp_dbt_assets.keys if key.path[-1] == "int_landing__row_dispositions"
    ]
    assert selection

    with instance_for_test(temp_dir=str(dagster_dir)) as instance:
        result = materialize(
            [cdp_dbt_assets],
            selection=selection,
            resources={
                "dbt": DbtCliResource(
                    project_dir=str(project),
                    profiles_dir=str(project),
                    dbt_executable=dbt_resource.dbt_executable,
                )
            },
            instance=instance,
            raise_on_error=False,
        )
        records = instance.all_logs(result.run_id)

    assert not result.success
    event_log = "\n".join(serialize_value(record) for record in records)
    assert "Could not convert string" in event_log  # the reason reaches the event log
    stored = {
        str(path): path.read_bytes().decode("utf-8", "replace")
        for folder in (dagster_dir, target_dir)
        for path in folder.rglob("*")
        if path.is_file() and path.suffix in ("", ".log", ".json", ".out", ".err", ".db")
    }
    assert any(name.endswith("dbt.log") for name in stored)
    assert any(name.endswith(".err") or name.endswith(".out") for name in stored)
    for sink, text in {"the event log": event_log, **stored}.items():
        assert _leaks(text) == [], f"personal data reached {sink}"
