"""The mass-change guard: a run never takes most of an audience away by accident.

Every entry point goes through the engine (`run_sync`), so the guard is tested there, and
then through `cdp sync`, `python -m reverse_etl` and the Dagster checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml
from click.testing import CliRunner

from reverse_etl.__main__ import main as reverse_etl_main
from reverse_etl.config import MassChangeConfig, SyncConfigError, parse_syncs
from reverse_etl.engine import run_sync
from reverse_etl.guard import DeltaCounts, mass_change_reason
from reverse_etl.warehouse import DuckDBWarehouse
from tests.reverse_etl.test_engine import ListDestination, _desired, _state, _sync
from tests.reverse_etl.test_engine import warehouse as warehouse


def _runs(warehouse: DuckDBWarehouse) -> list[tuple]:
    return warehouse.fetchall(
        "select status, removed, changed, error, mass_change from reverse_etl.sync_runs"
        " order by started_at, finished_at"
    )


# --- the rule ---------------------------------------------------------------------------------


def _counts(held: int, removed: int = 0, changed: int = 0) -> DeltaCounts:
    return DeltaCounts(held, held - removed, 0, changed, removed, 0, 0)


def test_the_rule_refuses_more_than_the_share_from_the_minimum_on() -> None:
    config = MassChangeConfig()  # 50% of removals or changes, from 10 records on
    assert mass_change_reason(_counts(100, removed=50), config) is None  # the share itself
    reason = mass_change_reason(_counts(100, removed=51), config)
    assert reason == (
        "mass change: would remove 51 of the 100 records the destination holds (51%, more than 50%)"
    )
    assert "would change 60 of the 100" in str(mass_change_reason(_counts(100, changed=60), config))
    # A tiny audience is not blocked by a few people leaving, even all of them.
    assert mass_change_reason(_counts(9, removed=9), config) is None
    assert mass_change_reason(_counts(10, removed=10), config) is not None
    assert mass_change_reason(_counts(100, removed=100), MassChangeConfig(enabled=False)) is None
    assert mass_change_reason(_counts(0), config) is None


def test_the_guard_is_configured_globally_and_per_sync() -> None:
    base = {"source": "segments.seg_vip", "fields": {"email": "email"}}
    syncs = parse_syncs(
        {
            "mass_change": {"max_removed_share": 0.2, "min_records": 3},
            "syncs": [
                {"name": "a", **base},
                {"name": "b", **base, "mass_change": {"min_records": 50}},
            ],
        }
    )
    assert syncs[0].mass_change == MassChangeConfig(max_removed_share=0.2, min_records=3)
    assert syncs[1].mass_change == MassChangeConfig(max_removed_share=0.2, min_records=50)
    assert parse_syncs({"syncs": [{"name": "c", **base}]})[0].mass_change == MassChangeConfig()
    with pytest.raises(SyncConfigError, match=r"mass_change.*max_removed_share"):
        parse_syncs({"mass_change": {"max_removed_share": 2}, "syncs": []})


# --- the engine -------------------------------------------------------------------------------


def test_a_segment_that_empties_is_refused_every_run_until_overridden(warehouse) -> None:
    destination = ListDestination()
    first = run_sync(_sync(), warehouse, destination)
    held = _desired(warehouse)
    assert first.status == "success" and len(held) == first.added > 10
    warehouse.execute("delete from segments.seg_vip")  # a typo in a rule: nobody matches

    for _ in range(2):  # the refused run acknowledged nothing, so the next one is refused too
        blocked = run_sync(_sync(), warehouse, destination)
        assert blocked.status == "blocked"
        assert blocked.removed == 0
        assert destination.members == held
        assert _state(warehouse) == set(held)
    dry = run_sync(_sync(), warehouse, destination, dry_run=True)
    assert dry.planned["remove"] == len(held)
    assert dry.mass_change and "would remove" in dry.mass_change

    allowed = run_sync(_sync(), warehouse, destination, allow_mass_change=True)

    assert allowed.status == "success" and allowed.removed == len(held)
    assert destination.members == {} and _state(warehouse) == set()
    runs = _runs(warehouse)
    assert [run[0] for run in runs] == ["success", "blocked", "blocked", "success"]
    reason = f"mass change: would remove {len(held)} of the {len(held)} records"
    for _, removed, _, error, mass_change in runs[1:3]:
        assert removed == 0
        assert mass_change.startswith(reason)
        assert error.startswith(reason) and "held back" in error
    assert runs[3][4].startswith(f"allowed by override: {reason}")
    assert runs[3][3] is None


def test_a_change_of_every_record_is_refused_too(warehouse) -> None:
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    warehouse.execute("update segments.seg_vip set country = null")  # a broken upstream column

    result = run_sync(_sync(), warehouse, destination)

    assert result.status == "blocked" and result.changed == 0
    assert "would change" in str(result.mass_change)
    assert all(member["country"] is not None for member in destination.members.values())


def test_a_few_leavers_are_sent_as_usual(warehouse) -> None:
    destination = ListDestination()
    run_sync(_sync(), warehouse, destination)
    warehouse.execute("delete from segments.seg_vip where customer_id < 'c010'")

    result = run_sync(_sync(), warehouse, destination)

    assert result.status == "success" and result.removed > 0 and result.mass_change is None
    assert destination.members == _desired(warehouse)


def _with_recorded_consent(warehouse: DuckDBWarehouse) -> None:
    warehouse.execute("alter table core.customers add column consent_email_marketing boolean")
    warehouse.execute(
        "alter table core.customers add column consent_email_marketing_recorded_at timestamp"
    )
    warehouse.execute(
        "update core.customers set consent_email_marketing = true,"
        " consent_email_marketing_recorded_at = timestamp '2025-01-01'"
    )


def test_a_refused_run_still_sends_erasures_and_recorded_withdrawals(warehouse) -> None:
    _with_recorded_consent(warehouse)
    sync = _sync(consent_relation="core.customers", consent_purpose="email_marketing")
    destination = ListDestination()
    run_sync(sync, warehouse, destination)
    held = set(destination.members)
    erased, withdrawn, *_ = sorted(held)
    # An empty consent file: nobody's consent is recorded any more (missing, not withdrawn),
    # except one person who did withdraw, and one who asked to be erased.
    warehouse.execute(
        "update core.customers set consent_email_marketing = false,"
        " consent_email_marketing_recorded_at = null"
    )
    warehouse.execute(
        "update core.customers set consent_email_marketing_recorded_at = timestamp '2025-06-01'"
        " where customer_id = ?",
        [withdrawn],
    )
    warehouse.execute("update core.customers set is_erased = true where customer_id = ?", [erased])

    result = run_sync(sync, warehouse, destination)

    assert result.status == "blocked"
    assert sorted(destination.sent[-2:]) == [("erase", erased), ("remove", withdrawn)]
    assert set(destination.members) == held - {erased, withdrawn}
    assert _state(warehouse) == held - {erased, withdrawn}
    assert result.removed == 2
    # Recorded withdrawals are honoured, and not counted as a mass change: many at once pass.
    warehouse.execute(
        "update core.customers set consent_email_marketing_recorded_at = timestamp '2025-06-01'"
    )
    honoured = run_sync(sync, warehouse, destination)
    assert honoured.status == "success" and destination.members == {}


# --- the entry points -------------------------------------------------------------------------

MEMBERS = 30


def _project_warehouse(path: Path) -> None:
    """seg_champions and core.customers as the project's champions_to_file sync reads them."""
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute("create schema core")
        connection.execute(
            f"""
            create table segments.seg_champions as
            select 'cus_' || lpad(i::varchar, 3, '0') as customer_id, false as is_holdout,
                true as has_consent, 'p' || i || '@example.com' as email,
                'First' || i as first_name, 'Last' || i as last_name, 'NL' as country
            from range({MEMBERS}) as t(i)
            """
        )
        connection.execute(
            """
            create table core.customers as
            select customer_id, false as is_erased,
                {consents}
            from segments.seg_champions
            """.format(
                consents=", ".join(
                    f"true as consent_{purpose}, timestamp '2025-01-01' as consent_{purpose}"
                    "_recorded_at"
                    for purpose in (
                        "email_marketing",
                        "sms_marketing",
                        "ads_personalization",
                        "data_sale_sharing",
                    )
                )
            )
        )


def _sent_lines(directory: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(directory.glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def test_cdp_sync_refuses_an_emptied_segment_twice_and_sends_it_with_the_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cdp.cli import main

    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    db = tmp_path / "warehouse.duckdb"
    _project_warehouse(db)
    args = ["sync", "champions_to_file", "--duckdb-path", str(db)]
    sent = tmp_path / "activation" / "champions_to_file"

    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert len(_sent_lines(sent)) == MEMBERS
    with duckdb.connect(str(db)) as connection:
        connection.execute("delete from segments.seg_champions")

    for _ in range(2):
        refused = CliRunner().invoke(main, args)
        assert refused.exit_code == 1, refused.output
        assert "blocked by the mass-change guard: champions_to_file" in refused.stderr
        assert f"would remove {MEMBERS} of the {MEMBERS} records" in refused.stdout
        assert [line["operation"] for line in _sent_lines(sent)] == ["add"] * MEMBERS

    allowed = CliRunner().invoke(main, [*args, "--allow-mass-change"])

    assert allowed.exit_code == 0, allowed.output
    operations = [line["operation"] for line in _sent_lines(sent)]
    assert operations == ["add"] * MEMBERS + ["remove"] * MEMBERS
    with duckdb.connect(str(db)) as connection:
        runs = connection.execute(
            "select status, removed, mass_change from reverse_etl.sync_runs order by started_at"
        ).fetchall()
        [(held,)] = connection.execute("select count(*) from reverse_etl.sync_state").fetchall()
    assert [(status, removed) for status, removed, _ in runs] == [
        ("success", 0),
        ("blocked", 0),
        ("blocked", 0),
        ("success", MEMBERS),
    ]
    assert (
        runs[1][2]
        == runs[2][2]
        == (
            f"mass change: would remove {MEMBERS} of the {MEMBERS} records the destination holds"
            " (100%, more than 50%)"
        )
    )
    assert runs[3][2] == f"allowed by override: {runs[1][2]}"
    assert held == 0


def test_python_m_reverse_etl_is_guarded_too(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path))
    db = tmp_path / "warehouse.duckdb"
    _project_warehouse(db)
    config = tmp_path / "syncs.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "mass_change": {"max_removed_share": 0.3},
                "syncs": [
                    {
                        "name": "champions",
                        "source": "segments.seg_champions",
                        "fields": {"email": "email"},
                        "destination": {
                            "type": "file",
                            "options": {"directory": "out"},
                        },
                    }
                ],
            }
        )
    )
    args = [str(config), "--duckdb-path", str(db)]
    assert CliRunner().invoke(reverse_etl_main, args).exit_code == 0
    with duckdb.connect(str(db)) as connection:  # 40% leave: more than this file's 30%
        connection.execute("delete from segments.seg_champions where customer_id < 'cus_012'")

    refused = CliRunner().invoke(reverse_etl_main, args)
    assert refused.exit_code == 1
    assert "champions: blocked: mass change: would remove 12 of the 30" in refused.stderr
    allowed = CliRunner().invoke(reverse_etl_main, [*args, "--allow-mass-change"])
    assert allowed.exit_code == 0, allowed.output
    assert "12 removed" in allowed.stdout


# --- Dagster ----------------------------------------------------------------------------------


def _segment_check_job():
    from dagster import AssetKey, AssetSelection, Definitions, define_asset_job

    from orchestration import checks
    from orchestration.dbt import cdp_dbt_assets, dbt_resource

    key = AssetKey(["segments", "seg_champions"])
    check = next(c for c in checks.segment_checks() if key in {k.asset_key for k in c.check_keys})
    job = define_asset_job("segment_check_only", selection=AssetSelection.checks(check))
    defs = Definitions(
        assets=[cdp_dbt_assets()],
        asset_checks=[check],
        jobs=[job],
        resources={"dbt": dbt_resource(), **checks.resources()},
    )
    return defs.resolve_job_def("segment_check_only")


def _evaluation(job, instance, **tags):
    result = job.execute_in_process(instance=instance, raise_on_error=False, tags=tags)
    [evaluation] = [
        event.asset_check_evaluation_data
        for event in result.all_events
        if event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    return evaluation


@pytest.mark.parametrize(
    "breakage",
    [
        # A rule that still matches a few: the size drops once, then stays there.
        "delete from segments.seg_champions where customer_id >= 'cus_005'",
        # An empty consent file: every member stays, none is reachable any more.
        "update core.customers set consent_email_marketing = false,"
        " consent_email_marketing_recorded_at = null",
    ],
    ids=["segment shrinks", "consent empties"],
)
def test_the_dagster_segment_check_blocks_every_run_until_the_destination_agrees(
    breakage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster import instance_for_test

    from cdp.activation import run_project_syncs
    from cdp.pipeline import Settings

    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    db = tmp_path / "warehouse.duckdb"
    _project_warehouse(db)
    monkeypatch.setenv("CDP_DUCKDB_PATH", str(db))
    settings = Settings(duckdb_path=db)
    [sent] = run_project_syncs(settings, ["champions_to_file"], on_line=lambda line: None)
    assert sent.added == MEMBERS
    job = _segment_check_job()

    with instance_for_test() as instance:
        assert _evaluation(job, instance).passed
        with duckdb.connect(str(db)) as connection:
            connection.execute(breakage)
        for _ in range(2):  # compared with what was acknowledged, not with the last check
            evaluation = _evaluation(job, instance)
            assert not evaluation.passed
            assert "sync champions_to_file: mass change: would remove" in evaluation.description
            assert evaluation.metadata["champions_to_file:acknowledged"].value == MEMBERS
            reachable = evaluation.metadata["champions_to_file:reachable"].value
            assert reachable < MEMBERS / 2
        overridden = _evaluation(job, instance, **{"cdp/allow_mass_change": "true"})
        assert overridden.passed
        assert "allowed by the run tag cdp/allow_mass_change" in overridden.description
        # The sync itself is refused as well until it is overridden; then the check agrees.
        [refused] = run_project_syncs(settings, ["champions_to_file"], on_line=lambda line: None)
        assert refused.status == "blocked"
        [allowed] = run_project_syncs(
            settings, ["champions_to_file"], allow_mass_change=True, on_line=lambda line: None
        )
        assert allowed.status == "success" and allowed.removed == MEMBERS - reachable
        assert _evaluation(job, instance).passed
