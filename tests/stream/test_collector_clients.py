"""The official Segment and RudderStack Python clients against a real collector on 127.0.0.1:
every call type goes client -> HTTP -> the event log -> the landing files, column by column."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics import Client as SegmentClient

from cdp.landing import LANDING_TABLES
from cdp.stream.eventlog import EventLog
from cdp.stream.landing import GROUP_COLUMNS, LandingWriter, landed_files
from tests.stream.conftest import WRITE_KEY

SENT_AT = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)


def _send_every_call(client, prefix: str) -> None:
    client.track(
        user_id=f"{prefix}-u1",
        event="Product Added",
        properties={"sku": "SKU-1", "price": 12.5},
        message_id=f"{prefix}-track",
        timestamp=SENT_AT,
    )
    client.identify(
        user_id=f"{prefix}-u1",
        anonymous_id=f"{prefix}-a1",
        traits={"email": "Person@Example.com", "first_name": "Ann"},
        message_id=f"{prefix}-identify",
        timestamp=SENT_AT,
    )
    client.page(
        anonymous_id=f"{prefix}-a1",
        category="Docs",
        name="Pricing",
        properties={"path": "/pricing"},
        message_id=f"{prefix}-page",
        timestamp=SENT_AT,
    )
    client.screen(
        user_id=f"{prefix}-u1",
        name="Home",
        properties={},
        message_id=f"{prefix}-screen",
        timestamp=SENT_AT,
    )
    client.group(
        user_id=f"{prefix}-u1",
        group_id=f"{prefix}-g1",
        traits={"name": "Acme"},
        message_id=f"{prefix}-group",
        timestamp=SENT_AT,
    )
    client.alias(
        previous_id=f"{prefix}-a1",
        user_id=f"{prefix}-u1",
        message_id=f"{prefix}-alias",
        timestamp=SENT_AT,
    )
    client.flush()


def _read_rows(path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    with path.open(newline="") as handle:
        return [
            {k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(handle)
        ]


def _rows(raw_dir, table) -> tuple[list[str], list[dict]]:
    files = landed_files(raw_dir, [table])
    assert files, f"no landed file in {table}"
    rows: list[dict] = []
    header: list[str] = []
    for path in files:
        if path.suffix == ".parquet":
            header = pq.read_schema(path).names
        else:
            with path.open(newline="") as handle:
                header = next(csv.reader(handle))
        rows += _read_rows(path)
    return header, rows


def _check_landing(raw_dir, prefix: str) -> None:
    header, tracks = _rows(raw_dir, "events/tracks")
    assert header == LANDING_TABLES["events/tracks"]
    by_id = {row["message_id"]: row for row in tracks}
    assert set(by_id) == {f"{prefix}-track", f"{prefix}-page", f"{prefix}-screen"}
    track = by_id[f"{prefix}-track"]
    assert (track["user_id"], track["anonymous_id"], track["event"]) == (
        f"{prefix}-u1",
        None,
        "Product Added",
    )
    assert json.loads(track["properties"]) == {"sku": "SKU-1", "price": 12.5}
    # the client's clock is the test's: the skew correction moves the time by the latency only
    landed_at = datetime.fromisoformat(track["timestamp"].replace("Z", "+00:00"))
    assert abs((landed_at - SENT_AT).total_seconds()) < 60
    page = by_id[f"{prefix}-page"]
    assert page["event"] == "Page Viewed" and page["anonymous_id"] == f"{prefix}-a1"
    assert json.loads(page["properties"]) == {
        "path": "/pricing",
        "name": "Pricing",
        "category": "Docs",
    }
    screen = by_id[f"{prefix}-screen"]
    assert screen["event"] == "Screen Viewed"
    assert json.loads(screen["properties"]) == {"name": "Home"}

    header, identifies = _rows(raw_dir, "events/identifies")
    assert header == LANDING_TABLES["events/identifies"]
    by_id = {row["message_id"]: row for row in identifies}
    assert set(by_id) == {f"{prefix}-identify", f"{prefix}-alias"}
    identify = by_id[f"{prefix}-identify"]
    assert (identify["user_id"], identify["anonymous_id"], identify["email"]) == (
        f"{prefix}-u1",
        f"{prefix}-a1",
        "Person@Example.com",
    )
    assert json.loads(identify["traits"]) == {"email": "Person@Example.com", "first_name": "Ann"}
    alias = by_id[f"{prefix}-alias"]
    assert (alias["anonymous_id"], alias["user_id"], alias["email"]) == (
        f"{prefix}-a1",
        f"{prefix}-u1",
        None,
    )

    header, groups = _rows(raw_dir, "events/groups")
    assert header == list(GROUP_COLUMNS)
    [group] = groups
    assert (group["message_id"], group["group_id"], group["user_id"]) == (
        f"{prefix}-group",
        f"{prefix}-g1",
        f"{prefix}-u1",
    )
    assert json.loads(group["traits"]) == {"name": "Acme"}


def _land(collector_server, tmp_path, fmt: str):
    raw_dir = tmp_path / "raw"
    writer = LandingWriter(
        EventLog(collector_server.paths.log_dir),
        raw_dir,
        collector_server.paths.checkpoint_dir,
        landing_format=fmt,
    )
    writer.flush()
    return raw_dir


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_segment_client_every_call_reaches_the_log_and_the_landing_files(
    collector_server, tmp_path, fmt
):
    errors = []
    client = SegmentClient(
        WRITE_KEY,
        host=collector_server.url,
        sync_mode=True,
        on_error=lambda error, batch: errors.append(error),
        max_retries=0,
    )
    _send_every_call(client, "seg")
    assert errors == []
    logged = list(collector_server.log.read())
    assert [event.type for event in logged] == [
        "track",
        "identify",
        "page",
        "screen",
        "group",
        "alias",
    ]
    assert all(event.message["receivedAt"] for event in logged)
    assert all(event.message["originalTimestamp"] for event in logged)
    _check_landing(_land(collector_server, tmp_path, fmt), "seg")


def test_rudderstack_client_every_call_reaches_the_landing_files(collector_server, tmp_path):
    errors = []
    client = RudderClient(
        WRITE_KEY,
        host=collector_server.url,
        sync_mode=True,
        on_error=lambda error, batch: errors.append(error),
        max_retries=0,
    )
    _send_every_call(client, "rudder")
    assert errors == []
    assert len(list(collector_server.log.read())) == 6
    _check_landing(_land(collector_server, tmp_path, "csv"), "rudder")


def test_segment_client_with_a_wrong_write_key_gets_401_and_nothing_is_logged(collector_server):
    errors = []
    client = SegmentClient(
        "not-the-key",
        host=collector_server.url,
        sync_mode=True,
        on_error=lambda error, batch: errors.append(error),
        max_retries=0,
    )
    with pytest.raises(Exception) as raised:
        client.track(user_id="u1", event="Signed Up")
    assert getattr(raised.value, "status", None) == 401
    assert collector_server.log.end_offset() == 0
