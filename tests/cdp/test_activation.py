"""The project's syncs on the sample: every segment to the file destination, then nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cdp import DEFAULT_RAW_DIR
from cdp.activation import project_syncs, render_exposures, run_project_syncs
from cdp.cli import main
from cdp.pipeline import Settings
from reverse_etl.config import SyncConfigError, parse_syncs
from tests.conftest import build_warehouse, query


def test_the_generated_exposures_are_current() -> None:
    result = CliRunner().invoke(main, ["sync-exposures", "--check"])
    assert result.exit_code == 0, result.output


def test_every_shipped_segment_has_a_sync() -> None:
    segments = {path.stem for path in Path("dbt_project/models/segments").glob("seg_*.sql")}
    assert {sync.source.split(".")[-1] for sync in project_syncs()} == segments


@pytest.mark.slow
def test_syncs_send_consented_members_once_and_then_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_AS_OF", "2025-07-01")
    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    db = tmp_path / "warehouse.duckdb"
    build_warehouse(DEFAULT_RAW_DIR, db)
    settings = Settings(raw_dir=DEFAULT_RAW_DIR, duckdb_path=db)

    first = run_project_syncs(settings, on_line=lambda line: None)
    second = run_project_syncs(settings, on_line=lambda line: None)

    assert all(result.status == "success" for result in first + second)
    assert sum(result.added for result in first) > 100
    assert all(result.added == result.changed == result.removed == 0 for result in second)
    purposes = {sync.name: sync.consent_purpose for sync in project_syncs()}
    for result in first:
        segment = result.sync_name.removesuffix("_to_file")
        sent = set()
        for path in (tmp_path / "activation" / result.sync_name).glob("*.jsonl"):
            sent |= {json.loads(line)["record_key"] for line in path.read_text().splitlines()}
        expected = {
            row[0]
            for row in query(
                db,
                f"select segment.customer_id from segments.seg_{segment} as segment"
                " inner join core.customers as customers using (customer_id)"
                f" where customers.consent_{purposes[result.sync_name]}"
                " and not segment.is_holdout",
            )
        }
        assert sent == expected, segment

    listed = CliRunner().invoke(main, ["sync", "--dead-letters", "--duckdb-path", str(db)])
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip().endswith("0 dead letters")


def test_a_sync_with_an_unknown_consent_purpose_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "syncs.yml"
    path.write_text(
        "syncs:\n"
        "  - name: vip_to_file\n"
        "    source: segments.seg_champions\n"
        "    fields: {email: email}\n"
        "    consent_purpose: carrier_pigeons\n"
    )
    with pytest.raises(SyncConfigError, match="sync 'vip_to_file': field 'consent_purpose'"):
        project_syncs(path)


def test_exposures_name_the_destination_object_and_the_mapping() -> None:
    [sync] = parse_syncs(
        {
            "syncs": [
                {
                    "name": "champions_to_klaviyo",
                    "source": "segments.seg_champions",
                    "fields": {"email": "email", "first_name": "first_name"},
                    "consent_purpose": "email_marketing",
                    "schedule": "hourly",
                    "destination": {"type": "klaviyo", "options": {"list_id": "Y6nRLr"}},
                }
            ]
        }
    )
    [exposure] = yaml.safe_load(render_exposures([sync]))["exposures"]

    assert exposure["depends_on"] == ["ref('seg_champions')"]
    assert exposure["meta"]["destination"] == "klaviyo"
    assert exposure["meta"]["destination_object"] == "list_id: Y6nRLr"
    assert exposure["meta"]["fields"] == {"email": "email", "first_name": "first_name"}
    assert exposure["meta"]["schedule"] == "hourly"
