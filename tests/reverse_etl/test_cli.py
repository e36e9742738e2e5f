"""`python -m reverse_etl` on a small warehouse with the default file destination."""

from __future__ import annotations

import json

import duckdb
from click.testing import CliRunner

from reverse_etl.__main__ import main


def _setup(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute(
            "create table segments.seg_vip as select * from (values"
            " ('c1', false, true, 'a@example.com'), ('c2', false, false, 'b@example.com'))"
            " as t(customer_id, is_holdout, has_consent, email)"
        )
    # CDP_ACTIVATION_DIR unset: the files go next to the warehouse, under activation/warehouse.
    output = tmp_path / "activation" / "warehouse" / "out"
    config = tmp_path / "syncs.yml"
    config.write_text(
        "syncs:\n"
        "  - name: vip_file\n"
        "    source: segments.seg_vip\n"
        "    fields: {email: email}\n"
        "    destination: {type: file, options: {directory: out}}\n"
    )
    return path, config, output


def test_the_cli_dry_runs_then_runs_a_sync_to_files(tmp_path):
    path, config, output = _setup(tmp_path)
    runner = CliRunner()

    dry = runner.invoke(main, [str(config), "--dry-run", "--duckdb-path", str(path)])
    assert dry.exit_code == 0, dry.output
    assert '"add": 1' in dry.output
    assert not output.exists()

    real = runner.invoke(main, [str(config), "--duckdb-path", str(path)])
    assert real.exit_code == 0, real.output
    assert "vip_file: 1 added" in real.output
    lines = [
        json.loads(line)
        for file in sorted((output / "vip_file").glob("*.jsonl"))
        for line in file.read_text().splitlines()
    ]
    assert lines == [
        {"operation": "add", "payload": {"email": "a@example.com"}, "record_key": "c1"}
    ]


def test_the_cli_names_an_unknown_sync(tmp_path):
    path, config, _ = _setup(tmp_path)
    result = CliRunner().invoke(main, [str(config), "--sync", "nope", "--duckdb-path", str(path)])
    assert result.exit_code != 0
    assert "no such sync: nope" in result.output


def test_the_cli_lists_dead_letters_and_replays_them(tmp_path):
    path, config, _ = _setup(tmp_path)
    runner = CliRunner()
    runner.invoke(main, [str(config), "--duckdb-path", str(path)])
    # c1 was parked as a dead letter for its addition after the destination kept refusing it.
    with duckdb.connect(str(path)) as connection:
        connection.execute("delete from reverse_etl.sync_state")
        connection.execute(
            "insert into reverse_etl.sync_rejections values ('vip_file', 'c1', 'add',"
            " 'mailbox does not exist', 3, now()::timestamp, now()::timestamp, true)"
        )

    parked = runner.invoke(main, [str(config), "--duckdb-path", str(path)])
    assert "vip_file: 0 added" in parked.output

    listed = runner.invoke(main, [str(config), "--dead-letters", "--duckdb-path", str(path)])
    assert listed.exit_code == 0, listed.output
    assert "vip_file\tc1\tadd\t3\t" in listed.output
    assert "mailbox does not exist" in listed.output
    assert listed.output.strip().endswith("1 dead letters")

    replayed = runner.invoke(
        main, [str(config), "--replay-dead-letters", "--duckdb-path", str(path)]
    )
    assert replayed.exit_code == 0, replayed.output
    assert "vip_file: replaying 1" in replayed.output
    assert "vip_file: 1 added" in replayed.output
    again = runner.invoke(main, [str(config), "--dead-letters", "--duckdb-path", str(path)])
    assert again.output.strip().endswith("0 dead letters")
