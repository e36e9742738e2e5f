"""How dbt resources become Dagster assets: groups, owners and descriptions from dbt."""

from __future__ import annotations

import json
from pathlib import Path

from orchestration.dbt import CdpDbtTranslator, manifest_database

translator = CdpDbtTranslator()


def _model(name: str, folder: str | None, **props) -> dict:
    fqn = ["cdp", folder, name] if folder else ["cdp", name]
    return {"resource_type": "model", "name": name, "fqn": fqn, "config": {}, **props}


def test_group_is_the_model_folder() -> None:
    assert translator.get_group_name(_model("customers", "customers")) == "customers"
    assert translator.get_group_name(_model("stg_crm__contacts", "staging")) == "staging"


def test_meta_dagster_group_overrides_the_folder() -> None:
    model = _model("customers", "customers", meta={"dagster": {"group": "single-view"}})
    assert translator.get_group_name(model) == "single_view"


def test_a_model_outside_any_folder_is_grouped_by_its_schema() -> None:
    model = _model("lonely", None, config={"schema": "core"})
    assert translator.get_group_name(model) == "core"


def test_seeds_and_snapshots_have_groups_of_their_own() -> None:
    seed = {"resource_type": "seed", "name": "rfm_segments", "fqn": ["cdp", "rfm_segments"]}
    assert translator.get_group_name(seed) == "reference"


def test_owner_comes_from_the_segment_then_the_model_meta() -> None:
    segment = _model("seg_x", "segments", meta={"segment": {"owner": "retention"}})
    assert translator.get_owners(segment) == ["team:retention"]
    owned = _model("customers", "customers", meta={"owner": "data@example.com"})
    assert translator.get_owners(owned) == ["data@example.com"]
    assert translator.get_owners(_model("customers", "customers")) is None


def test_description_is_the_dbt_description_without_generated_sql() -> None:
    model = _model("customers", "customers", description="One row per person.\n", raw_code="x")
    assert translator.get_description(model) == "One row per person."


def test_manifest_database_is_read_from_its_nodes(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    assert manifest_database(manifest) is None
    manifest.write_text(json.dumps({"nodes": {"model.cdp.a": {"database": "warehouse"}}}))
    assert manifest_database(manifest) == "warehouse"
