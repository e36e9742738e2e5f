"""The file destination writes only inside its root, and each warehouse has its own root."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from reverse_etl.__main__ import main
from reverse_etl.config import SyncConfigError, parse_syncs
from reverse_etl.destinations import build_destination

OWNER_FILE = ".cdp-warehouse"


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work three folders deep in tmp_path, so a path that escapes stays in tmp_path."""
    scratch = tmp_path / "cwd" / "a" / "b"
    scratch.mkdir(parents=True)
    monkeypatch.chdir(scratch)


def _sync(directory: str) -> dict:
    return {
        "name": "vip_file",
        "source": "segments.seg_vip",
        "fields": {"email": "email"},
        "destination": {"type": "file", "options": {"directory": directory}},
    }


def _warehouse(path: Path) -> Path:
    with duckdb.connect(str(path)) as connection:
        connection.execute("create schema segments")
        connection.execute(
            "create table segments.seg_vip as select * from (values"
            " ('c1', false, true, 'a@example.com'), ('c2', false, true, 'b@example.com'))"
            " as t(customer_id, is_holdout, has_consent, email)"
        )
    return path


def _config(path: Path, directory: str = ".") -> Path:
    path.write_text(
        "syncs:\n"
        "  - name: vip_file\n"
        "    source: segments.seg_vip\n"
        "    fields: {email: email}\n"
        f"    destination: {{type: file, options: {{directory: '{directory}'}}}}\n"
    )
    return path


def _run(config: Path, database: Path, activation_dir: Path | None = None):
    env = {"CDP_ACTIVATION_DIR": str(activation_dir) if activation_dir else None}
    return CliRunner().invoke(main, [str(config), "--duckdb-path", str(database)], env=env)


def _written(root: Path) -> list[Path]:
    return sorted(root.rglob("*.jsonl"))


@pytest.mark.parametrize(
    ("directory", "reason"),
    [("../..", "leaves CDP_ACTIVATION_DIR"), ("out/../../x", "leaves"), ("/tmp/x", "absolute")],
)
def test_a_directory_outside_the_root_is_refused_when_the_file_is_loaded(directory, reason):
    with pytest.raises(
        SyncConfigError, match=f"sync 'vip_file': field 'destination.options'.*{reason}"
    ):
        parse_syncs({"syncs": [_sync(directory)]})


def test_the_cli_refuses_a_directory_outside_the_root_and_writes_nothing(tmp_path: Path) -> None:
    database = _warehouse(tmp_path / "warehouse.duckdb")
    root = tmp_path / "root" / "activation"
    result = _run(_config(tmp_path / "syncs.yml", "../.."), database, root)
    assert result.exit_code != 0
    assert "leaves CDP_ACTIVATION_DIR" in result.output
    assert _written(tmp_path) == []  # neither inside nor outside the root


def test_a_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "activation"
    outside = tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    database = _warehouse(tmp_path / "warehouse.duckdb")

    result = _run(_config(tmp_path / "syncs.yml", "link"), database, root)
    assert result.exit_code != 0
    assert "outside CDP_ACTIVATION_DIR" in result.output
    assert _written(outside) == []

    [sync] = parse_syncs({"syncs": [_sync("link")]})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_ACTIVATION_DIR", str(root))
        with pytest.raises(SyncConfigError, match="outside CDP_ACTIVATION_DIR"):
            build_destination(sync, database)

    # A symlink at the sync's own folder is caught too, when the batch is written.
    (root / "vip_file").symlink_to(outside, target_is_directory=True)
    result = _run(_config(tmp_path / "syncs.yml", "."), database, root)
    assert result.exit_code != 0
    assert _written(outside) == []


def test_two_warehouses_with_default_settings_never_share_a_folder(tmp_path: Path) -> None:
    config = _config(tmp_path / "syncs.yml")
    first = _warehouse(tmp_path / "first.duckdb")
    second = _warehouse(tmp_path / "second.duckdb")

    assert _run(config, first).exit_code == 0
    assert _run(config, second).exit_code == 0

    first_files = _written(tmp_path / "activation" / "first")
    second_files = _written(tmp_path / "activation" / "second")
    assert first_files and second_files
    assert set(_written(tmp_path)) == set(first_files) | set(second_files)
    for files in (first_files, second_files):
        sent = [
            json.loads(line)["record_key"] for f in files for line in f.read_text().splitlines()
        ]
        assert sorted(sent) == ["c1", "c2"]  # each warehouse's own folder has each member once
    owner = json.loads((tmp_path / "activation" / "first" / OWNER_FILE).read_text())
    assert owner == {"warehouse": str(first.resolve())}


def test_a_warehouse_refuses_a_root_another_warehouse_writes_to(tmp_path: Path) -> None:
    config = _config(tmp_path / "syncs.yml")
    shared = tmp_path / "shared"
    first = _warehouse(tmp_path / "first.duckdb")
    second = _warehouse(tmp_path / "second.duckdb")
    assert _run(config, first, shared).exit_code == 0
    written = _written(shared)

    result = _run(config, second, shared)

    assert result.exit_code != 0
    assert f"holds the files of warehouse {first.resolve()}" in result.output
    assert "give each warehouse its own CDP_ACTIVATION_DIR" in result.output
    assert _written(shared) == written  # nothing sent again into the first warehouse's folder
    assert _run(config, first, shared).exit_code == 0  # its owner still writes there
