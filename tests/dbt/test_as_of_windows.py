"""Incremental trait and segment models say how they depend on the as_of (docs/adr/0005).

An incremental model recomputes the customers whose timestamps crossed one of its declared
windows as the as_of moved, so every use of the as_of in such a model must go through the
macros that check the declaration: as_of_cut(), as_of_window() and days_before_as_of().
"""

from __future__ import annotations

import re

from cdp import PROJECT_ROOT

MODELS = PROJECT_ROOT / "dbt_project" / "models"

# Full tables: they recompute everything each run, so they may use the as_of directly.
FULL_TABLES = {"customer_traits", "int_traits__rfm", "segment_memberships", "segment_lift"}


def incremental_models() -> dict[str, str]:
    models = {}
    for folder in ("traits", "segments"):
        for path in sorted((MODELS / folder).glob("*.sql")):
            text = path.read_text()
            if "incremental_strategy='replace'" in text or "{{ segment() }}" in text:
                models[path.stem] = text
    return models


def test_the_trait_and_segment_models_are_incremental_except_the_full_tables() -> None:
    names = {
        path.stem for folder in ("traits", "segments") for path in (MODELS / folder).glob("*.sql")
    }
    assert set(incremental_models()) == names - FULL_TABLES - {"segment_overlap"}


def test_incremental_models_use_the_as_of_only_through_declared_windows() -> None:
    for name, text in incremental_models().items():
        assert not re.search(r"(?<!\w)as_of\(\)", text), name
        assert "days_between(" not in text, name
        assert "CDP_AS_OF" not in text and "var('as_of'" not in text, name


def test_incremental_models_declare_the_replace_contract() -> None:
    for name, text in incremental_models().items():
        if text.strip() == "{{ segment() }}":
            continue
        for setting in (
            "materialized='table' if target.type == 'spark' else 'incremental'",
            "unique_key='customer_id'",
            "affected_keys='affected_customers_as_of'",
            'post_hook="{{ record_incremental_run() }}"',
        ):
            assert setting in text, (name, setting)
        assert re.search(r"\{\{ run_stamp\(\) \}\} as changed_at", text), name
