"""The landing contract is written once, in cdp/landing.py; the dbt side is generated from it.

The committed dbt files (the landing_tables() macro and the landing sources) must be exactly
what `cdp landing-contract` generates, so a column, key or table changed in the contract and
not regenerated fails here. The base and staging models read the contract rather than
restating it: each base model hashes its table's contract columns, each staging model is the
staged_landing_table() skeleton of its table and has no config() block of its own.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import yaml
from click.testing import CliRunner

from cdp import DBT_PROJECT_DIR
from cdp.cli import main
from cdp.landing import (
    DBT_LANDING_MACRO,
    DBT_LANDING_SOURCES,
    IDENTIFIER_TYPES,
    LANDING_CONTRACT,
    LANDING_SOURCES,
    LANDING_TABLES,
    render_landing_macro,
    render_landing_sources,
    stale_dbt_contract_files,
    write_dbt_contract,
)

STAGING = DBT_PROJECT_DIR / "models" / "staging"


def test_the_committed_dbt_files_are_what_the_contract_generates() -> None:
    assert stale_dbt_contract_files(DBT_PROJECT_DIR) == []
    result = CliRunner().invoke(main, ["landing-contract", "--check"])
    assert result.exit_code == 0, result.output


def test_the_sources_list_every_table_and_column_of_the_contract_in_order() -> None:
    sources = yaml.safe_load((DBT_PROJECT_DIR / DBT_LANDING_SOURCES).read_text())["sources"]
    by_name = {source["name"]: source for source in sources}
    assert set(by_name) == {*LANDING_SOURCES, "landing_intake"}
    found = {}
    for name in LANDING_SOURCES:
        source = by_name[name]
        assert "read_parquet(" in source["config"]["external_location"]
        for table in source["tables"]:
            found[f"{name}/{table['name']}"] = [column["name"] for column in table["columns"]]
    assert found == LANDING_TABLES


def test_the_macro_carries_every_table_key_and_identifier_of_the_contract() -> None:
    text = (DBT_PROJECT_DIR / DBT_LANDING_MACRO).read_text()
    for table in LANDING_CONTRACT:
        assert f"'name': '{table.name}'" in text
        assert f"'model': '{table.model}'" in text
        for identifier_type in table.identifiers:
            assert identifier_type in IDENTIFIER_TYPES
    assert text.count("'name': ") == len(LANDING_CONTRACT)


def test_a_changed_contract_makes_the_dbt_files_stale_until_rewritten(tmp_path: Path) -> None:
    (tmp_path / DBT_LANDING_MACRO).parent.mkdir(parents=True)
    (tmp_path / DBT_LANDING_SOURCES).parent.mkdir(parents=True)
    assert len(write_dbt_contract(tmp_path)) == 2
    assert stale_dbt_contract_files(tmp_path) == []
    assert write_dbt_contract(tmp_path) == []

    macro = tmp_path / DBT_LANDING_MACRO
    macro.write_text(macro.read_text().replace("'updated_at'", "'modified_at'", 1))
    assert stale_dbt_contract_files(tmp_path) == [macro]

    # A column added to the contract changes both generated files.
    wider = [replace(LANDING_CONTRACT[0], columns=(*LANDING_CONTRACT[0].columns, "nickname"))]
    assert "'nickname'" in render_landing_macro(wider)
    assert "- name: nickname" in render_landing_sources(wider)
    assert "'nickname'" not in render_landing_macro()


def test_each_base_model_hashes_the_columns_of_its_contract_table() -> None:
    for table in LANDING_CONTRACT:
        sql = (STAGING / "base" / f"{table.model}.sql").read_text()
        assert f"source('{table.source}', '{table.identifier}')" in sql, table.name
        assert f"row_hash('source', landing_table('{table.name}').columns)" in sql, table.name


def test_each_staging_model_is_the_skeleton_of_its_table_with_no_config_block() -> None:
    models = sorted(STAGING.glob("*/stg_*.sql"))
    assert len(models) == len(LANDING_CONTRACT)
    for table in LANDING_CONTRACT:
        path = STAGING / table.source / f"stg_{table.source}__{table.identifier}.sql"
        sql = path.read_text()
        assert re.search(r"\bconfig\(", sql) is None, path.name
        call = re.search(r"staged_landing_table\(\s*'([^']+)',\s*ref\('(\w+)'\)", sql)
        assert call is not None, path.name
        assert call.groups() == (table.name, table.model), path.name
