"""The sync engine against small DuckDB warehouses and an in-memory destination."""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pytest

from reverse_etl.config import SyncConfig, SyncConfigError
from reverse_etl.destinations.base import Batch, BatchResult
from reverse_etl.engine import run_sync
from reverse_etl.state import clear_dead_letters, dead_letters
from reverse_etl.warehouse import DuckDBWarehouse

FIELDS = {"email": "email", "first_name": "first_name", "country": "country"}
CUSTOMERS = 60
FAKE_MAX_BATCH = 25


class ListDestination:
    """A destination holding a list of members, like an audience or a mailing list."""

    rate_limit_per_second = None
    supports_erase = True  # an erase is a removal here, nothing more to delete
    secrets: list[str] = []  # noqa: RUF012  # it holds no credentials

    def __init__(self, max_batch_size: int = FAKE_MAX_BATCH) -> None:
        self.max_batch_size = max_batch_size
        self.members: dict[str, dict] = {}
        self.sent: list[tuple[str, str]] = []  # acknowledged (operation, key), in order
        self.batches: list[Batch] = []
        self.fail_after_batches: int | None = None
        self.reject: dict[str, str] = {}

    def send(self, batch: Batch) -> BatchResult:
        if self.fail_after_batches is not None and len(self.batches) >= self.fail_after_batches:
            raise ConnectionError("destination went away")
        self.batches.append(batch)
        result = BatchResult()
        for record in batch.records:
            if record.record_key in self.reject:
                result.rejected[record.record_key] = self.reject[record.record_key]
                continue
            if batch.operation in ("remove", "erase"):
                self.members.pop(record.record_key, None)
            else:
                self.members[record.record_key] = record.payload
            self.sent.append((batch.operation, record.record_key))
            result.acknowledged[record.record_key] = f"id-{record.record_key}"
        return result


def _customer_rows(count: int) -> list[tuple]:
    rows = []
    for number in range(count):
        rows.append(
            (
                f"c{number:03d}",
                "vip",
                1,
                number % 7 == 3,  # holdout
                number % 5 != 4,  # consent
                f"person{number}@example.com",
                None,
                f"First{number}",
                f"Last{number}",
                "NL" if number % 2 else "DE",
            )
        )
    return rows


@pytest.fixture
def warehouse(tmp_path: Path) -> DuckDBWarehouse:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute("create schema core")
        connection.execute(
            """
            create table segments.seg_vip (
                customer_id varchar, segment_name varchar, segment_version integer,
                is_holdout boolean, has_consent boolean, email varchar, phone varchar,
                first_name varchar, last_name varchar, country varchar
            )
            """
        )
        connection.executemany(
            "insert into segments.seg_vip values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            _customer_rows(CUSTOMERS),
        )
        connection.execute(
            "create table core.customers as"
            " select customer_id, false as is_erased from segments.seg_vip"
        )
    opened = DuckDBWarehouse.connect(path)
    yield opened
    opened.close()


def _sync(**overrides) -> SyncConfig:
    settings = {"name": "vip_list", "source": "segments.seg_vip", "fields": FIELDS}
    return SyncConfig(**(settings | overrides))


def _desired(warehouse: DuckDBWarehouse) -> dict[str, dict]:
    rows = warehouse.fetchall(
        """
        select s.customer_id, s.email, s.first_name, s.country
        from segments.seg_vip as s
        inner join core.customers as c on s.customer_id = c.customer_id
        where s.has_consent and not s.is_holdout and not c.is_erased
        """
    )
    return {row[0]: {"country": row[3], "email": row[1], "first_name": row[2]} for row in rows}


def _holdout_keys(warehouse: DuckDBWarehouse) -> set[str]:
    return {
        row[0]
        for row in warehouse.fetchall("select customer_id from segments.seg_vip where is_holdout")
    }


def _state(warehouse: DuckDBWarehouse) -> set[str]:
    return {row[0] for row in warehouse.fetchall("select record_key from reverse_etl.sync_state")}


def test_first_run_adds_every_consenting_member_and_never_a_holdout(warehouse):
    destination = ListDestination()

    result = run_sync(_sync(), warehouse, destination)

    desired = _desired(warehouse)
    assert destination.members == desired
    assert not _holdout_keys(warehouse) & {key for _, key in destination.sent}
    assert result.status == "success"
    assert (result.added, result.changed, result.removed, result.failed) == (len(desired), 0, 0, 0)
    assert result.skipped_holdout == 9
    assert result.skipped_consent == 10  # 12 without consent, 2 of them holdout
    assert _state(warehouse) == set(desired)


def test_second_run_sends_only_additions_changes_and_removals(warehouse):
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    destination.sent.clear()
    # c000 changes, c001 leaves the segment, c004 (no consent before) now consents,
    # c002 withdraws consent, c006 is erased.
    warehouse.execute("update segments.seg_vip set country = 'FR' where customer_id = 'c000'")
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c001'")
    warehouse.execute("update segments.seg_vip set has_consent = true where customer_id = 'c004'")
    warehouse.execute("update segments.seg_vip set has_consent = false where customer_id = 'c002'")
    warehouse.execute("update core.customers set is_erased = true where customer_id = 'c006'")

    result = run_sync(_sync(), warehouse, destination)

    assert sorted(destination.sent) == [
        ("add", "c004"),
        ("change", "c000"),
        ("erase", "c006"),
        ("remove", "c001"),
        ("remove", "c002"),
    ]
    assert (result.added, result.changed, result.removed) == (1, 1, 3)
    assert destination.members == _desired(warehouse)
    assert _state(warehouse) == set(_desired(warehouse))


def test_upsert_mode_keeps_leavers_but_removes_consent_withdrawals(warehouse):
    destination = ListDestination()
    run_sync(_sync(mode="upsert"), warehouse, destination)
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c001'")
    warehouse.execute("update segments.seg_vip set has_consent = false where customer_id = 'c002'")

    result = run_sync(_sync(mode="upsert"), warehouse, destination)

    assert result.removed == 1
    assert "c001" in destination.members
    assert "c002" not in destination.members


def test_an_unchanged_warehouse_sends_nothing(warehouse):
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    batches_before = len(destination.batches)

    result = run_sync(_sync(), warehouse, destination)

    assert len(destination.batches) == batches_before
    assert (result.added, result.changed, result.removed) == (0, 0, 0)


def _batch_count(result, batch_size: int) -> int:
    size = min(batch_size, FAKE_MAX_BATCH)
    return sum(-(-count // size) for count in result.planned.values())


@pytest.mark.parametrize("batch_size", [1, 10, 23, FAKE_MAX_BATCH])
@pytest.mark.parametrize("wave", ["initial load", "mixed changes"])
@pytest.mark.parametrize("fail_at", ["after the first batch", "in the middle"])
def test_a_run_killed_mid_stream_resumes_without_loss_or_resending(
    warehouse, batch_size, wave, fail_at
):
    destination = ListDestination()
    if wave == "mixed changes":
        run_sync(_sync(), warehouse, destination)
        destination.sent.clear()
        destination.batches.clear()
        warehouse.execute("update segments.seg_vip set country = 'FR' where customer_id < 'c020'")
        warehouse.execute(
            "delete from segments.seg_vip where customer_id between 'c040' and 'c049'"
        )
        warehouse.execute(
            "update segments.seg_vip set has_consent = true where customer_id > 'c050'"
        )
    sync = _sync(batch_size=batch_size)
    planned = run_sync(sync, warehouse, destination, dry_run=True)
    batches = _batch_count(planned, batch_size)
    assert batches >= 2
    destination.fail_after_batches = 1 if fail_at == "after the first batch" else batches // 2

    with pytest.raises(ConnectionError):
        run_sync(sync, warehouse, destination)

    acknowledged_before_crash = list(destination.sent)
    assert len(destination.batches) == destination.fail_after_batches
    assert all(
        len(batch.records) <= min(batch_size, FAKE_MAX_BATCH) for batch in destination.batches
    )
    # The saved position is exactly what was acknowledged: state minus/plus those records.
    state = dict(warehouse.fetchall("select record_key, payload_hash from reverse_etl.sync_state"))
    for operation, key in acknowledged_before_crash:
        assert (key in state) == (operation != "remove")
    failed_run = warehouse.fetchall(
        "select status, error from reverse_etl.sync_runs order by started_at desc limit 1"
    )[0]
    assert failed_run[0] == "failed"
    assert "destination went away" in failed_run[1]

    destination.fail_after_batches = None
    result = run_sync(sync, warehouse, destination)

    assert result.status == "success"
    assert destination.members == _desired(warehouse)
    assert len(destination.sent) == len(set(destination.sent)), "a record was sent twice"
    assert _state(warehouse) == set(_desired(warehouse))
    follow_up = run_sync(sync, warehouse, destination)
    assert (follow_up.added, follow_up.changed, follow_up.removed) == (0, 0, 0)


def test_rejected_records_are_retried_then_dead_lettered(warehouse):
    destination = ListDestination()
    destination.reject = {"c000": "invalid email"}
    sync = _sync(max_rejection_attempts=2)

    first = run_sync(sync, warehouse, destination)
    second = run_sync(sync, warehouse, destination)
    third = run_sync(sync, warehouse, destination)

    assert (first.failed, second.failed, third.failed) == (1, 1, 0)
    rejection = warehouse.fetchall(
        "select operation, reason, attempts, is_dead_letter from reverse_etl.sync_rejections"
    )
    assert rejection == [("add", "invalid email", 2, True)]
    assert "c000" not in _state(warehouse)
    assert (
        sum(1 for batch in destination.batches for r in batch.records if r.record_key == "c000")
        == 2
    )

    [letter] = dead_letters(warehouse, [sync.name])
    assert (letter.record_key, letter.operation, letter.reason, letter.attempts) == (
        "c000",
        "add",
        "invalid email",
        2,
    )
    assert dead_letters(warehouse, ["another_sync"]) == []

    destination.reject = {}
    assert clear_dead_letters(warehouse, sync.name) == 1
    fourth = run_sync(sync, warehouse, destination)
    assert fourth.added == 1
    assert "c000" in destination.members
    assert warehouse.fetchall("select count(*) from reverse_etl.sync_rejections") == [(0,)]


def test_a_rejection_that_later_succeeds_is_cleared(warehouse):
    destination = ListDestination()
    destination.reject = {"c000": "temporarily locked"}
    run_sync(_sync(), warehouse, destination)
    destination.reject = {}

    result = run_sync(_sync(), warehouse, destination)

    assert result.added == 1
    assert warehouse.fetchall("select count(*) from reverse_etl.sync_rejections") == [(0,)]


def test_dry_run_calls_nothing_and_writes_nothing(warehouse):
    destination = ListDestination()

    result = run_sync(_sync(), warehouse, destination, dry_run=True)

    assert destination.batches == []
    assert result.status == "dry_run"
    assert result.planned["add"] == len(_desired(warehouse))
    assert len(result.sample_payloads) == 5
    assert result.sample_payloads[0]["payload"]["email"] == "person0@example.com"
    assert not warehouse.relation_exists("reverse_etl.sync_state")
    assert warehouse.fetchall(
        "select count(*) from information_schema.schemata where schema_name = 'reverse_etl'"
    ) == [(0,)]


def test_dry_run_after_a_real_run_shows_only_the_delta_and_changes_no_state(warehouse):
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    warehouse.execute("update segments.seg_vip set country = 'FR' where customer_id = 'c000'")
    runs_before = warehouse.fetchall("select count(*) from reverse_etl.sync_runs")

    result = run_sync(_sync(), warehouse, destination, dry_run=True)

    assert result.planned == {"add": 0, "change": 1, "remove": 0, "erase": 0}
    assert warehouse.fetchall("select count(*) from reverse_etl.sync_runs") == runs_before


def test_full_resync_sends_everything_again_and_removes_what_is_no_longer_desired(warehouse):
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c001'")
    destination.sent.clear()

    result = run_sync(_sync(), warehouse, destination, full_resync=True)

    desired = _desired(warehouse)
    assert result.added == len(desired)
    assert result.removed == 1
    assert destination.members == desired
    assert _state(warehouse) == set(desired)


def test_an_erased_person_is_removed_even_after_leaving_the_source(warehouse):
    destination = ListDestination()
    run_sync(_sync(mode="upsert"), warehouse, destination)
    warehouse.execute("update core.customers set is_erased = true where customer_id = 'c000'")
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c000'")
    destination.sent.clear()

    result = run_sync(_sync(mode="upsert"), warehouse, destination)

    assert result.removed == 1
    assert destination.sent == [("erase", "c000")]
    assert "c000" not in destination.members
    assert "c000" not in _state(warehouse)


def test_secrets_never_reach_the_state_the_run_log_or_the_logs(warehouse, monkeypatch, caplog):
    secret = "s3cr3t-token-value"
    monkeypatch.setenv("VIP_LIST_TOKEN", secret)

    class LeakyDestination(ListDestination):
        def send(self, batch: Batch) -> BatchResult:
            raise RuntimeError(f"401 for Authorization: Bearer {secret}")

    with caplog.at_level(logging.DEBUG), pytest.raises(RuntimeError):
        run_sync(_sync(secret_env=["VIP_LIST_TOKEN"]), warehouse, LeakyDestination())

    assert "failed" in caplog.text
    assert secret not in caplog.text

    for table in ("sync_state", "sync_runs", "sync_rejections"):
        for row in warehouse.fetchall(f"select * from reverse_etl.{table}"):
            assert secret not in repr(row)
    error = warehouse.fetchall("select error from reverse_etl.sync_runs")[0][0]
    assert "***" in error


def test_each_run_writes_one_row_to_the_run_log(warehouse):
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    run_sync(_sync(), warehouse, destination)

    rows = warehouse.fetchall(
        "select status, added, skipped_holdout, finished_at is not null"
        " from reverse_etl.sync_runs order by started_at"
    )
    assert [row[0] for row in rows] == ["success", "success"]
    assert rows[0][1] == len(_desired(warehouse))
    assert rows[1][1] == 0
    assert all(row[3] for row in rows)


def test_consent_is_read_for_the_syncs_own_purpose_from_the_consent_relation(warehouse):
    # The segment was built for email; this sync sends to ads, which needs its own consent.
    warehouse.execute(
        "alter table core.customers add column consent_ads_personalization boolean default false"
    )
    warehouse.execute(
        "update core.customers set consent_ads_personalization = true"
        " where customer_id in ('c000', 'c001', 'c002')"
    )
    sync = _sync(consent_purpose="ads_personalization", consent_relation="core.customers")
    destination = ListDestination()

    first = run_sync(sync, warehouse, destination)

    expected = {"c000", "c001", "c002"} - _holdout_keys(warehouse)
    assert set(destination.members) == expected
    assert first.skipped_consent == CUSTOMERS - len(_holdout_keys(warehouse)) - len(expected)

    # Withdrawing that purpose removes the member; the segment's own consent does not matter.
    warehouse.execute(
        "update core.customers set consent_ads_personalization = false where customer_id = 'c000'"
    )
    run_sync(sync, warehouse, destination)
    assert set(destination.members) == expected - {"c000"}


def test_a_consent_purpose_the_relation_does_not_record_is_a_clear_error(warehouse):
    sync = _sync(consent_purpose="postal_marketing", consent_relation="core.customers")

    with pytest.raises(SyncConfigError, match="consent_postal_marketing"):
        run_sync(sync, warehouse, ListDestination())


def test_a_key_on_several_source_rows_is_sent_once_with_the_same_payload_every_run(warehouse):
    warehouse.execute(
        "insert into segments.seg_vip select * replace ('AA' as country)"
        " from segments.seg_vip where customer_id = 'c000'"
    )
    destination = ListDestination()

    first = run_sync(_sync(), warehouse, destination)
    second = run_sync(_sync(), warehouse, destination)

    sent = [key for operation, key in destination.sent if key == "c000"]
    assert sent == ["c000"]
    assert destination.members["c000"]["country"] == "AA"  # the smallest payload wins
    assert first.added == len(_desired(warehouse))  # one record per person
    assert (second.added, second.changed, second.removed) == (0, 0, 0)


def test_the_sync_connection_has_a_memory_limit_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "limited.duckdb"
    opened = DuckDBWarehouse.connect(path)
    assert opened.fetchall("select current_setting('memory_limit')") == [("488.2 MiB",)]
    opened.close()

    monkeypatch.setenv("CDP_SYNC_MEMORY_LIMIT", "1GB")
    opened = DuckDBWarehouse.connect(path)
    assert opened.fetchall("select current_setting('memory_limit')") == [("953.6 MiB",)]
    opened.close()


def _recipients(warehouse: DuckDBWarehouse) -> dict[str, tuple]:
    rows = warehouse.fetchall(
        "select record_key, destination_id, erased_at is not null from reverse_etl.sync_recipients"
    )
    return {row[0]: row[1:] for row in rows}


@pytest.mark.parametrize("mode", ["mirror", "upsert"])
def test_an_erased_person_removed_earlier_is_erased_once_where_they_were_sent(warehouse, mode):
    destination = ListDestination()
    run_sync(_sync(mode=mode), warehouse, destination)
    # c000 withdraws consent and is removed; c001 leaves the segment (mirror: removed).
    warehouse.execute("update segments.seg_vip set has_consent = false where customer_id = 'c000'")
    warehouse.execute("delete from segments.seg_vip where customer_id = 'c001'")
    run_sync(_sync(mode=mode), warehouse, destination)
    assert "c000" not in _state(warehouse)
    # Both are erased afterwards, and c001 is gone from the source.
    warehouse.execute(
        "update core.customers set is_erased = true where customer_id in ('c000', 'c001')"
    )
    destination.sent.clear()

    result = run_sync(_sync(mode=mode), warehouse, destination)
    again = run_sync(_sync(mode=mode), warehouse, destination)

    # mirror removed c001 when it left; upsert kept it, so it is erased from the state.
    assert destination.sent == [("erase", "c000"), ("erase", "c001")]
    assert [record.destination_id for record in destination.batches[-1].records] == [
        "id-c000",
        "id-c001",
    ]
    assert result.removed == 2 and again.removed == 0
    recipients = _recipients(warehouse)
    assert recipients["c000"] == (None, True) and recipients["c001"] == (None, True)
    assert recipients["c002"] == ("id-c002", False)


def test_a_late_erasure_resumes_after_a_crash_without_repeating_an_acknowledged_one(warehouse):
    destination = ListDestination(max_batch_size=5)
    run_sync(_sync(), warehouse, destination)
    sent_before = {key for _, key in destination.sent}
    warehouse.execute("update segments.seg_vip set has_consent = false")
    # Everyone losing consent at once is a mass change: allowed explicitly here.
    run_sync(_sync(), warehouse, destination, allow_mass_change=True)
    assert _state(warehouse) == set()
    warehouse.execute("update core.customers set is_erased = true")
    destination.sent.clear()
    destination.fail_after_batches = len(destination.batches) + 2

    with pytest.raises(ConnectionError):
        run_sync(_sync(), warehouse, destination)
    assert len(destination.sent) == 10
    destination.fail_after_batches = None
    run_sync(_sync(), warehouse, destination)
    run_sync(_sync(), warehouse, destination)

    erased = [key for operation, key in destination.sent if operation == "erase"]
    assert sorted(erased) == sorted(sent_before), "every past recipient erased exactly once"
    assert all(erased_at for _, erased_at in _recipients(warehouse).values())


def test_a_dry_run_shows_late_erasures_and_changes_nothing(warehouse):
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    warehouse.execute("update segments.seg_vip set has_consent = false where customer_id = 'c000'")
    run_sync(_sync(), warehouse, destination)
    warehouse.execute("update core.customers set is_erased = true where customer_id = 'c000'")

    result = run_sync(_sync(), warehouse, destination, dry_run=True)

    assert result.planned["erase"] == 1
    assert _recipients(warehouse)["c000"] == ("id-c000", False)
