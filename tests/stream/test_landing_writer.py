"""The landing writer: offset-named files written atomically, a crash at any point rewrites the
same files (nothing landed twice or lost), flushes by size and by time, and the batch path's
intake takes the files in like any other landed file."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from cdp.intake import take_in
from cdp.landing import LANDING_TABLES
from cdp.stream import landing as landing_module
from cdp.stream.eventlog import EventLog
from cdp.stream.landing import LandingWriter, landed_files


def _fill(log: EventLog, count: int, start: int = 0) -> None:
    entries = []
    for number in range(start, start + count):
        if number % 3 == 2:
            entries.append(
                (
                    "identify",
                    {
                        "messageId": f"m{number}",
                        "anonymousId": f"a{number}",
                        "userId": f"u{number}",
                        "traits": {"email": f"p{number}@example.com"},
                        "timestamp": "2026-12-01T10:00:00.000Z",
                    },
                )
            )
        else:
            entries.append(
                (
                    "track",
                    {
                        "messageId": f"m{number}",
                        "anonymousId": f"a{number}",
                        "event": "Product Viewed",
                        "properties": {"sku": f"S{number}", "note": 'comma, "quote"\nline'},
                        "timestamp": "2026-12-01T10:00:00.000Z",
                    },
                )
            )
    log.append(entries)


def _landed_ids(raw_dir) -> list[str]:
    ids = []
    for path in landed_files(raw_dir):
        with path.open(newline="") as handle:
            ids += [row["message_id"] for row in csv.DictReader(handle)]
    return ids


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _writer(tmp_path, **options) -> LandingWriter:
    return LandingWriter(
        EventLog(tmp_path / "log"), tmp_path / "raw", tmp_path / "checkpoints", **options
    )


def test_flushes_by_size_and_by_time_into_offset_named_files(tmp_path):
    log = EventLog(tmp_path / "log")
    clock = Clock()
    writer = _writer(tmp_path, max_events=10, flush_seconds=5, clock=clock)
    _fill(log, 4)
    assert writer.step() is False  # fewer than max_events, not yet due
    clock.now = 4.9
    assert writer.step() is False
    clock.now = 5.0
    assert writer.step() is True
    _fill(log, 25, start=4)
    assert writer.step() is True and writer.step() is True  # two full chunks of 10
    assert writer.step() is False  # 9 left, waiting
    names = sorted({path.name for path in landed_files(tmp_path / "raw")})
    assert names == [
        "stream-00000000000000000000-00000000000000000004.csv",
        "stream-00000000000000000004-00000000000000000014.csv",
        "stream-00000000000000000014-00000000000000000024.csv",
    ]
    writer.close()  # flushes the rest
    assert sorted(_landed_ids(tmp_path / "raw")) == sorted(f"m{n}" for n in range(29))
    assert not list((tmp_path / "raw").rglob(".*"))  # no temporary left behind


@pytest.mark.parametrize("crash_at", ["second_file", "checkpoint"])
def test_a_crash_during_a_flush_rewrites_the_same_files_and_lands_nothing_twice(
    tmp_path, monkeypatch, crash_at
):
    log = EventLog(tmp_path / "log")
    _fill(log, 6)
    writer = _writer(tmp_path)
    real_write = landing_module.write_atomically
    calls = []

    def failing_write(path, *args, **kwargs):
        calls.append(path)
        if crash_at == "second_file" and len(calls) == 2:
            raise OSError("simulated crash")
        return real_write(path, *args, **kwargs)

    monkeypatch.setattr(landing_module, "write_atomically", failing_write)
    if crash_at == "checkpoint":
        monkeypatch.setattr(
            writer.checkpoint, "save", lambda offset: (_ for _ in ()).throw(OSError)
        )
    with pytest.raises(OSError):
        writer.step(force=True)
    monkeypatch.undo()
    first_files = {path: path.read_bytes() for path in landed_files(tmp_path / "raw")}
    # more events arrive before the restart: the unfinished range is redone as it was
    _fill(log, 3, start=6)
    restarted = _writer(tmp_path)
    assert restarted.step(force=True) is True
    for path, content in first_files.items():
        assert path.read_bytes() == content
    restarted.flush()
    ids = _landed_ids(tmp_path / "raw")
    assert sorted(ids) == sorted(f"m{n}" for n in range(9))
    assert len(ids) == len(set(ids))


def test_landed_files_are_taken_in_by_the_intake_with_the_contract_columns(tmp_path):
    log = EventLog(tmp_path / "log")
    _fill(log, 9)
    writer = _writer(tmp_path)
    writer.flush()
    summary = take_in(tmp_path / "raw", tmp_path / "intake")
    assert (summary.accepted, summary.quarantined, summary.rejected_lines) == (2, 0, 0)
    manifest = json.loads((tmp_path / "intake" / "manifest.json").read_text())
    statuses = {path: entry["status"] for path, entry in manifest["files"].items()}
    assert statuses == {
        "events/identifies/stream-00000000000000000000-00000000000000000009.csv": "accepted",
        "events/tracks/stream-00000000000000000000-00000000000000000009.csv": "accepted",
    }
    parquet = sorted(str(path) for path in (tmp_path / "intake").rglob("*.parquet"))
    connection = duckdb.connect()
    tracks = [path for path in parquet if "tracks" in path]
    rows = connection.execute(
        f"select * from read_parquet({tracks!r}) order by message_id"
    ).fetchall()
    columns = [column[0] for column in connection.description]
    assert columns[: len(LANDING_TABLES["events/tracks"])] == LANDING_TABLES["events/tracks"]
    assert len(rows) == 6
    first = dict(zip(columns, rows[0], strict=True))
    assert json.loads(first["properties"]) == {"note": 'comma, "quote"\nline', "sku": "S0"}
    # a second intake run finds nothing new: the files are not taken in twice
    again = take_in(tmp_path / "raw", tmp_path / "intake")
    assert (again.accepted, again.unchanged) == (0, 2)


def test_parquet_landing_is_taken_in(tmp_path):
    log = EventLog(tmp_path / "log")
    _fill(log, 5)
    _writer(tmp_path, landing_format="parquet").flush()
    summary = take_in(tmp_path / "raw", tmp_path / "intake")
    assert (summary.accepted, summary.quarantined, summary.rejected_lines) == (2, 0, 0)


@pytest.mark.slow
def test_dbt_staging_reads_the_landed_stream_events(tmp_path):
    """The batch path's own staging (intake, then the incremental stg_ models) stages what the
    stream landed, beside the sample's files."""
    root = Path(__file__).resolve().parents[2]
    raw_dir = tmp_path / "raw"
    shutil.copytree(root / "seeds", raw_dir)
    log = EventLog(tmp_path / "log")
    at = "2026-12-01T10:00:00.123Z"
    log.append(
        [
            (
                "track",
                {
                    "messageId": "s-track",
                    "userId": "u_0000001",
                    "event": "Product Added",
                    "properties": {"sku": "OUT-1503"},
                    "timestamp": at,
                },
            ),
            (
                "page",
                {
                    "messageId": "s-page",
                    "anonymousId": "s-anon",
                    "name": "Pricing",
                    "timestamp": at,
                },
            ),
            (
                "identify",
                {
                    "messageId": "s-identify",
                    "anonymousId": "s-anon",
                    "userId": "u_0000001",
                    "traits": {"email": "S.Person@Example.com"},
                    "timestamp": at,
                },
            ),
            (
                "alias",
                {
                    "messageId": "s-alias",
                    "previousId": "s-old",
                    "userId": "u_0000001",
                    "timestamp": at,
                },
            ),
        ],
    )
    LandingWriter(log, raw_dir, tmp_path / "checkpoints").flush()
    duckdb_path = tmp_path / "cdp.duckdb"
    environment = {
        **os.environ,
        "CDP_RAW_DIR": str(raw_dir),
        "CDP_DUCKDB_PATH": str(duckdb_path),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
    }
    selector = "+stg_events__tracks +stg_events__identifies"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cdp.cli",
            "dbt",
            "build",
            "--select",
            selector,
            "--exclude",
            "test_type:singular",
        ],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        tracks = connection.execute(
            "select message_id, user_id, anonymous_id, event_name, event_at"
            " from staging.stg_events__tracks where message_id like 's-%' order by message_id"
        ).fetchall()
        identifies = connection.execute(
            "select message_id, user_id, anonymous_id, email from staging.stg_events__identifies"
            " where message_id like 's-%' order by message_id"
        ).fetchall()
    moment = datetime(2026, 12, 1, 10, 0, 0, 123000)
    assert tracks == [
        ("s-page", None, "s-anon", "Page Viewed", moment),
        ("s-track", "u_0000001", None, "Product Added", moment),
    ]
    assert identifies == [
        ("s-alias", "u_0000001", "s-old", None),
        ("s-identify", "u_0000001", "s-anon", "s.person@example.com"),
    ]
