"""A segment definition that cannot mean what its author thinks fails the build, naming the field.

Each case adds a `seg_broken` model to a copy of the dbt project and compiles only it: the
`segment()` macro must reject the definition with `segment seg_broken: <path> <message>`, so
the author finds the exact field instead of a SQL error (or, worse, a silently wrong segment).
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from copy import deepcopy
from pathlib import Path
from typing import Any

import pytest
import yaml

from cdp import DBT_PROJECT_DIR, DEFAULT_RAW_DIR
from cdp.pipeline import Settings, run_dbt
from cdp.segments import compile_segment as compile_for_preview

pytestmark = pytest.mark.slow

VALID: dict[str, Any] = {
    "owner": "quality",
    "kpi": "nothing; a test fixture",
    "version": 1,
    "refresh": "nightly",
    "holdout_share": 0.1,
    "consent_purpose": "email_marketing",
    "size_bounds": {"min": 0, "max": 10},
    "rules": {
        "all": [
            {"trait": "orders_count", "op": "gte", "value": 1},
            {"trait": "rfm_segment", "op": "in", "value": ["Champions", "Loyal Customers"]},
            {"not": {"event": "Purchase", "within_days": 30, "since_last": "Product Added"}},
        ]
    },
    "exclude": {"any": [{"trait": "has_unsubscribed", "op": "eq", "value": True}]},
}


def with_rule(condition: dict[str, Any]) -> dict[str, Any]:
    """VALID with its second rule replaced, so the bad field sits at rules.all[1]."""
    definition = deepcopy(VALID)
    definition["rules"]["all"][1] = condition
    return definition


def with_metadata(**changes: Any) -> dict[str, Any]:
    """VALID with metadata changed; a value of None removes the key."""
    definition = deepcopy(VALID)
    for key, value in changes.items():
        if value is None:
            definition.pop(key)
        else:
            definition[key] = value
    return definition


def project_with_segment(tmp_path: Path, definition: dict[str, Any]) -> Path:
    """A copy of the dbt project with one more segment, seg_broken, defined as given."""
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    segments = project / "models" / "segments"
    # Every segment's SQL is the same call of segment() with the relations it reads.
    (segments / "seg_broken.sql").write_text((segments / "seg_champions.sql").read_text())
    properties = {
        "models": [
            {
                "name": "seg_broken",
                "description": "A segment under test.",
                "config": {"meta": {"segment": definition}},
            }
        ]
    }
    (segments / "seg_broken.yml").write_text(yaml.safe_dump(properties, sort_keys=False))
    return project


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        raw_dir=DEFAULT_RAW_DIR,
        duckdb_path=tmp_path / "warehouse.duckdb",
        dbt_target_path=tmp_path / "target",
    )


def compile_segment(tmp_path: Path, definition: dict[str, Any]) -> tuple[bool, str]:
    """Compile seg_broken in a project copy; (success, everything dbt said)."""
    project = project_with_segment(tmp_path, definition)
    lines: list[str] = []
    console = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(console):
        outcome = run_dbt(
            ["compile", "--select", "seg_broken"],
            settings_for(tmp_path),
            lines.append,
            project_dir=project,
        )
    print(f"dbt compile took {time.perf_counter() - started:.1f}s")
    return outcome.success, "\n".join([console.getvalue(), *lines, *outcome.failures])


def test_a_valid_definition_compiles(tmp_path: Path) -> None:
    success, said = compile_segment(tmp_path, VALID)
    assert success, said
    compiled = next((tmp_path / "target" / "compiled").rglob("seg_broken.sql")).read_text()
    assert "traits.orders_count >= 1" in compiled
    assert "traits.rfm_segment in ('Champions', 'Loyal Customers')" in compiled


@pytest.mark.parametrize(
    ("definition", "path", "message"),
    [
        pytest.param(
            with_rule({"trait": "shoe_size", "op": "eq", "value": 42}),
            "rules.all[1].trait",
            "unknown trait 'shoe_size'",
            id="unknown-trait",
        ),
        pytest.param(
            with_rule({"trait": "rfm_segment", "op": "gt", "value": "Champions"}),
            "rules.all[1].op",
            "'gt' does not apply to text trait 'rfm_segment'",
            id="operator-not-for-the-trait-type",
        ),
        pytest.param(
            with_rule({"trait": "orders_count", "op": "gte", "value": "two"}),
            "rules.all[1].value",
            "'two' is not a number value for trait 'orders_count'",
            id="value-of-the-wrong-type",
        ),
        pytest.param(
            with_rule({"trait": "days_since_last_order", "op": "between", "value": [90]}),
            "rules.all[1].value",
            "must be a list of two values [low, high]",
            id="between-with-one-value",
        ),
        pytest.param(
            with_rule({"event": "Product Teleported", "within_days": 7}),
            "rules.all[1].event",
            "unknown event 'Product Teleported'",
            id="unknown-event",
        ),
        pytest.param(
            with_rule({"event": "Purchase", "within_day": 7}),
            "rules.all[1].within_day",
            "is not a field of an event condition",
            id="unknown-field-in-an-event-condition",
        ),
        pytest.param(
            with_metadata(owner=None),
            "owner",
            "is required",
            id="missing-owner",
        ),
        pytest.param(
            with_metadata(holdout_share=1),
            "holdout_share",
            "must be a number in [0, 1)",
            id="holdout-share-of-one",
        ),
        pytest.param(
            with_metadata(consent_purpose="carrier_pigeon"),
            "consent_purpose",
            "is not a known purpose: 'carrier_pigeon'",
            id="unknown-consent-purpose",
        ),
        pytest.param(
            with_metadata(
                exclude={
                    "any": [{"trait": "has_unsubscribed", "op": "eq", "value": True, "event": "x"}]
                }
            ),
            "exclude.any[0]",
            "must have exactly one of all, any, not, trait, event, sql; has trait, event",
            id="a-condition-with-two-kinds",
        ),
    ],
)
def test_a_bad_definition_fails_naming_the_segment_and_the_field(
    tmp_path: Path, definition: dict[str, Any], path: str, message: str
) -> None:
    success, said = compile_segment(tmp_path, definition)
    assert not success, said
    assert f"segment seg_broken: {path} {message}" in said, said


def test_preview_hands_back_dbts_error_for_a_bad_definition(tmp_path: Path) -> None:
    project = project_with_segment(
        tmp_path, with_rule({"trait": "rfm_segment", "op": "gt", "value": "Champions"})
    )
    build = compile_for_preview(
        "seg_broken", settings_for(tmp_path), "2025-07-01", project_dir=project
    )
    assert not build.success
    assert "segment seg_broken: rules.all[1].op 'gt' does not apply" in build.error
    assert "\x1b[" not in build.error  # no terminal colours in what the CLI prints to stderr
