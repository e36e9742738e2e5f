"""After a Dagster run that erases a person, no byte of them is left in the DuckDB file.

A tiny landing dir with two people is built; then one of them asks to be erased and the hourly
job runs in process. Its dbt step applies the erasure and rewrites the file (cdp.erasure, as
`cdp run` does), so a byte scan of the .duckdb file and its WAL finds none of the person's
email, phone or name, while the other person is still there.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from dagster import Definitions, instance_for_test

from cdp.landing import write_csv_landing
from cdp.pipeline import Settings, release_dbt_connection
from orchestration.dbt import dbt_project
from orchestration.erasure import reclaim_after_build
from tests.conftest import build_warehouse, query

EMAIL = "Ximena.Ortolani@Example.NET"
PHONE = "(503) 555-0142"
FIRST_NAME, LAST_NAME = "Ximena", "Ortolani-Vasquez"
KEPT_EMAIL = "stays.here@example.org"


def _contact(number: int, email: str, phone: str, first: str, last: str) -> dict[str, str]:
    at = f"2025-03-0{number}T10:00:00Z"
    return {
        "contact_id": f"crm-{number}",
        "email": email,
        "phone": phone,
        "first_name": first,
        "last_name": last,
        "country": "US",
        "city": "Portland",
        "is_deleted": "false",
        "created_at": at,
        "updated_at": at,
    }


def _erased_values() -> list[bytes]:
    texts = {EMAIL, EMAIL.lower(), EMAIL.upper(), PHONE, "5035550142", FIRST_NAME, LAST_NAME}
    return sorted({text.encode() for text in texts} | {t.encode("utf-16-le") for t in texts})


def _found(path: Path) -> list[bytes]:
    files = [path, path.with_name(path.name + ".wal")]
    data = b"".join(file.read_bytes() for file in files if file.exists())
    return [value for value in _erased_values() if value in data]


@pytest.mark.slow
def test_an_hourly_run_that_erases_a_person_leaves_no_bytes_of_them_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, defs: Definitions
) -> None:
    raw = tmp_path / "landing"
    # DuckDB names the database after the file, and the manifest's relations carry that name.
    db = tmp_path / "cdp.duckdb"
    monkeypatch.setenv("CDP_RAW_DIR", str(raw))
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(db))
    monkeypatch.setenv("CDP_AS_OF", "2025-07-01")
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    monkeypatch.setenv("CDP_THREADS", "1")
    write_csv_landing(
        raw,
        {
            "crm/contacts": [
                _contact(1, EMAIL, PHONE, FIRST_NAME, LAST_NAME),
                _contact(2, KEPT_EMAIL, "(212) 555-0123", "Kept", "Person"),
            ]
        },
    )
    build_warehouse(raw, db)
    # dbt ran in this process and its DuckDB adapter still holds the file; the Dagster run's
    # dbt is a process of its own, as in production.
    release_dbt_connection()
    assert _found(db), "the scan must see the person before the erasure"

    write_csv_landing(
        raw,
        {
            "privacy/deletion_requests": [
                {
                    "request_id": "dsr-1",
                    "identifier_type": "email",
                    "identifier_value": EMAIL.lower(),
                    "requested_at": "2025-06-01T00:00:00Z",
                }
            ]
        },
        file_name="part-00001.csv",
    )
    targets = dbt_project().project_dir / "target"
    before = {path.name for path in targets.glob("cdp_dbt_assets-*")}
    try:
        (tmp_path / "dagster").mkdir()
        with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            result = defs.resolve_job_def("hourly_refresh").execute_in_process(
                instance=instance, raise_on_error=False
            )
            messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    finally:
        for path in targets.glob("cdp_dbt_assets-*"):
            if path.name not in before:
                shutil.rmtree(path, ignore_errors=True)

    succeeded = {
        event.step_key for event in result.all_events if event.event_type_value == "STEP_SUCCESS"
    }
    assert "cdp_dbt_assets" in succeeded
    assert _found(db) == []
    erasure_lines = [message for message in messages if message.startswith("erasure:")]
    assert any(line.startswith("erasure: warehouse file rewritten") for line in erasure_lines), (
        erasure_lines
    )
    assert query(db, "select count(*) from core.customers where is_erased") == [(1,)]
    assert query(db, f"select count(*) from core.customers where email = '{KEPT_EMAIL}'") == [(1,)]
    assert query(db, "select count(*) from audit.erasure_reclaims") == [(1,)]


def test_on_spark_nothing_is_rewritten_and_the_step_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(target="spark", spark_dir=tmp_path / "spark")
    with caplog.at_level(logging.INFO):
        assert reclaim_after_build(settings, logging.getLogger("test")) is None
    assert "no file rewrite on Spark" in caplog.text
    assert not (tmp_path / "spark").exists()


def test_a_file_without_erasures_is_left_as_it_is(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "cdp.duckdb"
    with caplog.at_level(logging.INFO):
        outcome = reclaim_after_build(Settings(duckdb_path=db), logging.getLogger("test"))
    assert outcome is not None and not outcome.reclaimed
    assert "erasure: nothing rewritten (no warehouse file)" in caplog.text
