"""`cdp segment`: segment rules in plain words, and a preview of a rebuilt segment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cdp import DBT_PROJECT_DIR, DEFAULT_RAW_DIR
from cdp.cli import main
from cdp.pipeline import Settings, run_dbt
from cdp.segments import (
    describe_condition,
    humanize,
    join_naturally,
    load_segment_definitions,
    render_rule_docs,
)
from tests.conftest import SAMPLE_AS_OF, query

# Rule docs ------------------------------------------------------------------------------------


def test_the_committed_rule_docs_are_current(run_cdp) -> None:
    result = run_cdp("segment", "docs", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_rule_docs_have_one_block_per_segment_and_are_deterministic() -> None:
    definitions = load_segment_definitions(DBT_PROJECT_DIR)
    rendered = render_rule_docs(definitions)
    assert rendered == render_rule_docs(dict(reversed(definitions.items())))
    assert len(definitions) >= 10
    for name in definitions:
        assert rendered.count("{% docs " + name + "__rule %}") == 1
    assert rendered.count("{% enddocs %}") == len(definitions)


def test_the_champions_block_shows_metadata_and_who_is_in_and_out() -> None:
    rendered = render_rule_docs(load_segment_definitions(DBT_PROJECT_DIR))
    block = rendered.split("{% docs seg_champions__rule %}")[1].split("{% enddocs %}")[0]
    for row in (
        "| Owner | lifecycle-marketing |",
        "| KPI | referral and review rate |",
        "| Holdout share | 10% |",
        "| Consent purpose | email marketing |",
        "| Size bounds | 1 to 10,000,000 members |",
    ):
        assert row in block
    who_is_in, who_is_never_in = block.split("**Who is never in**")
    assert "- RFM segment is Champions" in who_is_in
    assert "- Has unsubscribed" in who_is_never_in  # the email hygiene exclusion
    assert "- Has bounced or complained" in who_is_never_in
    assert "- Customers whose personal data was erased" in who_is_never_in


def test_every_segment_description_references_its_rule_block() -> None:
    definitions = load_segment_definitions(DBT_PROJECT_DIR)
    for name, definition in definitions.items():
        text = (DBT_PROJECT_DIR / "models" / "segments" / f"{name}.yml").read_text()
        assert '{{ doc("' + name + '__rule") }}' in text
        assert "{{" not in definition.description  # the prose alone, for the preview


@pytest.mark.slow
def test_dbt_renders_the_rule_words_into_the_model_description(tmp_path: Path) -> None:
    settings = Settings(
        raw_dir=DEFAULT_RAW_DIR,
        duckdb_path=tmp_path / "parse.duckdb",
        dbt_target_path=tmp_path / "target",
    )
    outcome = run_dbt(["parse"], settings)
    assert outcome.success, outcome.failures
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    description = manifest["nodes"]["model.cdp.seg_cart_abandoners"]["description"]
    assert description.startswith("Added a product to the cart")
    assert "At least 1 Product Added event in the last 7 days" in description
    assert "No Purchase event since the last Product Added" in description
    assert "| Owner | ecommerce |" in description


# Plain words ----------------------------------------------------------------------------------


def test_names_read_as_people_say_them() -> None:
    assert humanize("rfm_segment") == "RFM segment"
    assert humanize("avg_order_value") == "average order value"
    assert humanize("last_order_at") == "last order"
    assert humanize("sessions_30d") == "sessions in the last 30 days"
    assert join_naturally(["a"]) == "a"
    assert join_naturally(["a", "b"], "or") == "a or b"
    assert join_naturally(["a", "b", "c"]) == "a, b and c"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # comparisons on text, numbers, booleans and timestamps
        ({"trait": "rfm_segment", "op": "eq", "value": "Champions"}, "RFM segment is Champions"),
        (
            {"trait": "lifecycle_stage", "op": "ne", "value": "prospect"},
            "lifecycle stage is not prospect",
        ),
        ({"trait": "orders_count", "op": "gte", "value": 2}, "orders count is at least 2"),
        ({"trait": "orders_count", "op": "gt", "value": 2}, "orders count is more than 2"),
        (
            {"trait": "avg_satisfaction_score", "op": "lte", "value": 2},
            "average satisfaction score is at most 2",
        ),
        (
            {"trait": "lifetime_revenue", "op": "lt", "value": 10000},
            "lifetime revenue is less than 10,000",
        ),
        (
            {"trait": "last_order_at", "op": "gte", "value": "2025-01-01"},
            "last order is on or after 2025-01-01",
        ),
        (
            {"trait": "first_order_at", "op": "lt", "value": "2024-06-30"},
            "first order is before 2024-06-30",
        ),
        ({"trait": "has_unsubscribed", "op": "eq", "value": True}, "has unsubscribed"),
        ({"trait": "has_unsubscribed", "op": "eq", "value": False}, "has not unsubscribed"),
        ({"trait": "is_erased", "op": "ne", "value": True}, "is not erased"),
        (
            {"trait": "consent_email_marketing", "op": "eq", "value": True},
            "consent email marketing is true",
        ),
        # lists and ranges
        ({"trait": "rfm_segment", "op": "in", "value": ["Champions"]}, "RFM segment is Champions"),
        (
            {
                "trait": "rfm_segment",
                "op": "in",
                "value": ["Champions", "Loyal Customers", "At Risk"],
            },
            "RFM segment is Champions, Loyal Customers or At Risk",
        ),
        (
            {"trait": "top_category", "op": "not_in", "value": ["Beauty"]},
            "top category is not Beauty",
        ),
        (
            {"trait": "top_category", "op": "not_in", "value": ["Beauty", "Home"]},
            "top category is none of Beauty or Home",
        ),
        (
            {"trait": "days_since_last_order", "op": "between", "value": [90, 365]},
            "days since last order is between 90 and 365",
        ),
        # nulls and time windows
        (
            {"trait": "avg_satisfaction_score", "op": "is_null"},
            "average satisfaction score is not set",
        ),
        ({"trait": "last_order_at", "op": "is_not_null"}, "last order is set"),
        (
            {"trait": "last_order_at", "op": "within_last_days", "value": 30},
            "last order is within the last 30 days",
        ),
        (
            {"trait": "last_seen_on_site_at", "op": "more_than_days_ago", "value": 1},
            "last seen on site is more than 1 day ago",
        ),
        # events: windows, counts, since_last, and their negation
        (
            {"event": "Product Added", "within_days": 7, "min_count": 1},
            "at least 1 Product Added event in the last 7 days",
        ),
        ({"event": "Email Clicked"}, "at least 1 Email Clicked event"),
        (
            {"event": "Product Viewed", "within_days": 7, "min_count": 2, "max_count": 3},
            "between 2 and 3 Product Viewed events in the last 7 days",
        ),
        ({"event": "Purchase", "min_count": 2, "max_count": 2}, "exactly 2 Purchase events"),
        ({"event": "Email Opened", "min_count": 0, "max_count": 1}, "at most 1 Email Opened event"),
        (
            {"event": "Purchase", "since_last": "Product Added"},
            "at least 1 Purchase event since the last Product Added",
        ),
        (
            {"not": {"event": "Purchase", "since_last": "Product Added"}},
            "no Purchase event since the last Product Added",
        ),
        (
            {"not": {"event": "Purchase", "within_days": 30}},
            "no Purchase event in the last 30 days",
        ),
        (
            {"not": {"event": "Email Opened", "within_days": 90, "min_count": 3}},
            "fewer than 3 Email Opened events in the last 90 days",
        ),
        # combinations, nesting and the escape hatch
        (
            {"not": {"trait": "lifecycle_stage", "op": "eq", "value": "prospect"}},
            "not: lifecycle stage is prospect",
        ),
        (
            {
                "any": [
                    {"trait": "tickets_90d", "op": "gte", "value": 2},
                    {"trait": "open_tickets_count", "op": "gte", "value": 1},
                ]
            },
            "any of: tickets in the last 90 days is at least 2; open tickets count is at least 1",
        ),
        (
            {
                "all": [
                    {"trait": "orders_count", "op": "eq", "value": 0},
                    {
                        "any": [
                            {"trait": "sessions_90d", "op": "gte", "value": 2},
                            {"event": "Email Clicked", "within_days": 90},
                        ]
                    },
                    {"not": {"all": [{"trait": "has_unsubscribed", "op": "eq", "value": True}]}},
                ]
            },
            "all of: orders count is 0; (any of: sessions in the last 90 days is at least 2; "
            "at least 1 Email Clicked event in the last 90 days); not: (all of: has unsubscribed)",
        ),
        (
            {"sql": "traits.lifetime_revenue >= 2 * traits.avg_order_value"},
            "custom SQL: `traits.lifetime_revenue >= 2 * traits.avg_order_value`",
        ),
    ],
)
def test_a_condition_reads_as_a_plain_sentence(condition: dict[str, Any], expected: str) -> None:
    assert describe_condition(condition) == expected


def test_an_exclusion_lists_each_reason_on_its_own() -> None:
    definitions = load_segment_definitions(DBT_PROJECT_DIR)
    rendered = render_rule_docs(definitions)
    block = rendered.split("{% docs seg_cart_abandoners__rule %}")[1].split("{% enddocs %}")[0]
    who_is_in, who_is_never_in = block.split("**Who is never in**")
    assert "Every one of these holds:" in who_is_in
    assert "- At least 1 Product Added event in the last 7 days" in who_is_in
    assert "- No Purchase event since the last Product Added" in who_is_in
    assert who_is_never_in.count("\n- ") == 3  # erased, unsubscribed, bounced or complained


@pytest.mark.parametrize(
    "condition",
    [
        "rfm_segment = 'Champions'",
        {"trait": "orders_count", "op": "gte", "value": 1, "event": "Purchase"},
        {"all": {"trait": "orders_count", "op": "gte", "value": 1}},
        {"trait": "orders_count", "op": "bigger", "value": 1},
    ],
)
def test_a_shape_that_is_not_a_condition_is_refused_rather_than_guessed(condition: Any) -> None:
    with pytest.raises(ValueError):
        describe_condition(condition)


# Preview --------------------------------------------------------------------------------------


def test_preview_of_an_unknown_segment_lists_the_known_ones_and_exits_2(run_cdp) -> None:
    result = run_cdp("segment", "preview", "unicorns")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown segment 'unicorns'" in result.stderr
    assert "champions" in result.stderr
    assert "cart_abandoners" in result.stderr


LIVE_RELATIONS = (
    "segments.seg_cart_abandoners",
    "segments.segment_memberships",
    "segments.segment_membership_history",
    "reverse_etl.sync_state",
    "reverse_etl.sync_runs",
    "audit.incremental_runs",
)


def _live_rows(duckdb_path: Path) -> dict[str, list[tuple]]:
    return {
        relation: sorted(query(duckdb_path, f"select * from {relation}"), key=repr)
        for relation in LIVE_RELATIONS
    }


@pytest.mark.slow
def test_a_preview_changes_no_live_table_and_what_a_sync_sends(
    sample_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Build, sync, preview a changed rule with no CDP_AS_OF, sync again: nothing removed."""
    import cdp
    from cdp.activation import run_project_syncs

    monkeypatch.setenv("CDP_ACTIVATION_DIR", str(tmp_path / "activation"))
    monkeypatch.delenv("CDP_AS_OF", raising=False)
    settings = Settings(duckdb_path=sample_warehouse)
    sync = "engaged_non_buyers_to_file"  # a rule on a 90-day window: "now" would change it
    [first] = run_project_syncs(settings, [sync], on_line=lambda line: None)
    assert first.status == "success" and first.added > 0
    before = _live_rows(sample_warehouse)
    # The rule as someone is editing it: a one-letter typo in the event name's window.
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    models = project / "models" / "segments" / "seg_engaged_non_buyers.yml"
    text = models.read_text(encoding="utf-8")
    edited = text.replace(
        "{trait: sessions_90d, op: gte, value: 2}",
        "{trait: sessions_90d, op: gte, value: 20}",
    )
    assert edited != text
    models.write_text(edited, encoding="utf-8")
    monkeypatch.setattr(cdp, "DBT_PROJECT_DIR", project)

    result = CliRunner().invoke(
        main, ["segment", "preview", "engaged_non_buyers", "--duckdb-path", str(sample_warehouse)]
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        "as of                     2025-07-01 00:00:00  (the last build's, from"
        " segments.segment_memberships)"
    ) in lines
    [members] = [
        int(line.split()[1].replace(",", "")) for line in lines if line.startswith("members ")
    ]
    assert _live_rows(sample_warehouse) == before
    [(live,)] = query(sample_warehouse, "select count(*) from segments.seg_engaged_non_buyers")
    assert members < live  # the edited rule is what was previewed
    [second] = run_project_syncs(settings, [sync], on_line=lambda line: None)
    assert second.status == "success"
    assert (second.added, second.changed, second.removed) == (0, 0, 0)


@pytest.mark.slow
def test_a_preview_as_of_another_time_says_so(sample_warehouse: Path) -> None:
    result = CliRunner().invoke(
        main,
        [
            "segment",
            "preview",
            "cart_abandoners",
            "--duckdb-path",
            str(sample_warehouse),
            "--as-of",
            "2026-01-01",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "as of                     2026-01-01  (given with --as-of)" in result.stdout
    assert any(line.split()[:2] == ["members", "0"] for line in result.stdout.splitlines())
    bad = CliRunner().invoke(
        main,
        [
            "segment",
            "preview",
            "champions",
            "--duckdb-path",
            str(sample_warehouse),
            "--as-of",
            "01/07/2025",
        ],
    )
    assert bad.exit_code == 2 and "--as-of" in bad.output


def preview(name: str, duckdb_path: Path) -> Result:
    """`cdp segment preview`, run in this process.

    dbt-duckdb keeps the warehouse open (and locked) in the process that built it, so another
    process could not open it while the module's fixture lives.
    """
    return CliRunner().invoke(
        main,
        ["segment", "preview", name, "--duckdb-path", str(duckdb_path)],
        env={"CDP_AS_OF": SAMPLE_AS_OF},
    )


@pytest.mark.slow
def test_preview_prints_size_holdout_overlap_and_a_sample(sample_warehouse: Path) -> None:
    result = preview("champions", sample_warehouse)
    assert result.exit_code == 0, result.output
    out = result.stdout
    [(size, holdout, consent)] = query(
        sample_warehouse,
        """
        select count(*), count(*) filter (where is_holdout), count(*) filter (where has_consent)
        from segments.seg_champions
        """,
    )
    assert size > 0
    lines = out.splitlines()
    assert any(line.split()[:2] == ["members", str(size)] for line in lines)
    assert any(line.split()[:2] == ["holdout", str(holdout)] for line in lines)
    assert any(line.split()[:3] == ["with", "consent", str(consent)] for line in lines)
    assert "purpose: email marketing" in out
    assert "RFM segment is Champions" in out
    # Overlap with every other built segment, from their current tables.
    [(shared,)] = query(
        sample_warehouse,
        """
        select count(*) from segments.seg_champions
        inner join segments.seg_new_customers using (customer_id)
        """,
    )
    overlap = [line.split() for line in lines if line.strip().startswith("seg_new_customers")]
    assert overlap and overlap[0][1] == str(shared)
    others = [name for name in load_segment_definitions(DBT_PROJECT_DIR) if name != "seg_champions"]
    for other in others:
        assert f"  {other} " in out
    # The warehouse was built as of the same date, so nobody entered or left.
    assert any(line.split()[:4] == ["entered", "since", "history", "0"] for line in lines)
    assert any(line.split()[:4] == ["exited", "since", "history", "0"] for line in lines)
    # A sample of members: ids and traits, never contact details.
    sample = out.split("sample members")[1].splitlines()
    assert "lifecycle_stage" in sample[1] and "lifetime_revenue" in sample[1]
    assert 1 <= len([line for line in sample if line.strip().startswith("cus_")]) <= 5
    assert "@" not in out


@pytest.mark.slow
def test_preview_accepts_the_model_name_and_counts_entries_and_exits(
    sample_warehouse: Path,
) -> None:
    # Make the recorded history disagree with the segment: one member forgotten, one member
    # replaced by someone who is not in it.
    current = "segment_name = 'seg_support_heavy' and exited_at is null"
    members = query(
        sample_warehouse,
        f"select customer_id from segments.segment_membership_history where {current} "
        "order by customer_id limit 2",
    )
    assert len(members) == 2
    (forgotten,), (replaced,) = members
    query(
        sample_warehouse,
        f"delete from segments.segment_membership_history where {current} "
        f"and customer_id = '{forgotten}'",
    )
    query(
        sample_warehouse,
        f"update segments.segment_membership_history set customer_id = 'cus_gone' "
        f"where {current} and customer_id = '{replaced}'",
    )
    result = preview("seg_support_heavy", sample_warehouse)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(line.split()[:4] == ["entered", "since", "history", "2"] for line in lines)
    assert any(line.split()[:4] == ["exited", "since", "history", "1"] for line in lines)


@pytest.mark.slow
def test_preview_says_so_when_a_segment_has_no_history(sample_warehouse: Path) -> None:
    query(
        sample_warehouse,
        "delete from segments.segment_membership_history where segment_name = 'seg_new_customers'",
    )
    result = preview("new_customers", sample_warehouse)
    assert result.exit_code == 0, result.output
    assert "no history recorded for seg_new_customers yet" in result.stdout
