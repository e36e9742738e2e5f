"""Incremental trait and segment models say how they depend on the as_of (docs/adr/0005).

An incremental model recomputes the customers whose timestamps crossed one of its declared
windows as the as_of moved, so every use of the as_of in such a model must go through the
macros that check the declaration: as_of_cut(), as_of_window() and days_before_as_of().
Their configuration is read from the manifest: most of it is set for their folder in
dbt_project.yml.
"""

from __future__ import annotations

import re

import pytest
import yaml

from cdp import PROJECT_ROOT

MODELS = PROJECT_ROOT / "dbt_project" / "models"

# Full tables: they recompute everything each run, so they may use the as_of directly.
FULL_TABLES = {"customer_traits", "int_traits__rfm", "segment_memberships", "segment_lift"}
# The trait and segment models, wherever their folder is in the flow.
PREFIXES = ("customer_traits", "int_traits__", "int_segments__", "seg_", "segment_")


def is_segment(node: dict) -> bool:
    return node["name"].startswith("seg_")


@pytest.fixture(scope="module")
def trait_and_segment_models(dbt_manifest: dict) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in dbt_manifest["nodes"].values()
        if node["resource_type"] == "model" and node["name"].startswith(PREFIXES)
    }


@pytest.fixture(scope="module")
def incremental_models(trait_and_segment_models: dict[str, dict]) -> dict[str, dict]:
    return {
        name: node
        for name, node in trait_and_segment_models.items()
        if node["config"]["materialized"] == "incremental"
        and node["config"].get("incremental_strategy") == "replace"
    }


def test_the_trait_and_segment_models_are_incremental_except_the_full_tables(
    trait_and_segment_models: dict[str, dict], incremental_models: dict[str, dict]
) -> None:
    names = set(trait_and_segment_models)
    assert len(names) > 20
    assert set(incremental_models) == names - FULL_TABLES - {"segment_overlap"}


def test_incremental_models_use_the_as_of_only_through_declared_windows(
    incremental_models: dict[str, dict],
) -> None:
    for name, node in incremental_models.items():
        text = node["raw_code"]
        assert not re.search(r"(?<!\w)as_of\(\)", text), name
        assert "days_between(" not in text, name
        assert "CDP_AS_OF" not in text and "var('as_of'" not in text, name


def test_incremental_models_declare_the_replace_contract(
    incremental_models: dict[str, dict],
) -> None:
    for name, node in incremental_models.items():
        config = node["config"]
        assert "segment(" in node["raw_code"] if is_segment(node) else True, name
        affected = "affected_segment_customers" if is_segment(node) else "affected_customers_as_of"
        for setting, value in (
            ("materialized", "incremental"),  # a table on Spark: dbt_project.yml
            ("unique_key", "customer_id"),
            ("affected_keys", affected),
        ):
            assert config.get(setting) == value, (name, setting)
        hooks = [hook["sql"] for hook in config["post-hook"]]
        assert "{{ record_incremental_run() }}" in hooks, name
        if is_segment(node):
            continue
        assert re.search(r"\{\{ run_stamp\(\) \}\} as changed_at", node["raw_code"]), name


def test_their_folders_rebuild_whole_tables_on_spark() -> None:
    """Spark's Parquet tables cannot delete rows: the folders' engine choice says so."""
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())
    for folder in ("customers", "traits", "segments"):
        materialized = project["models"]["cdp"][folder]["+materialized"]
        assert materialized == "{{ 'table' if target.type == 'spark' else 'incremental' }}", folder
