"""Segments as code, for people: their rules in plain words, and a preview of a segment's rules.

A segment's rules live in YAML (`config.meta.segment`) and compile to SQL in the `segment()`
macro, which also validates them. This module reads the same YAML to explain the rules to the
people who act on a segment (dbt docs blocks, so the explanation sits next to the model), and
previews what the rules as written select, against the warehouse, before anyone sends to it.

A preview never writes to the warehouse: dbt only compiles the segment's SQL (into a scratch
target directory), and the query runs on a read-only connection into a temporary table of
that connection. So `seg_<name>`, segment_memberships, the history snapshot and the sync state
stay exactly as the last build left them, and the next sync sends what it would have sent.
The as_of is the one the last build computed traits and segments at (read from the built
tables), unless one is given, so a preview never compares the warehouse with "now".
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from cdp.pipeline import Settings, dbt_environment, dbt_invocation, release_dbt_connection

SEGMENTS_DIR = Path("models") / "segments"  # relative to the dbt project
RULE_DOCS_FILE = SEGMENTS_DIR / "_segments__rules.md"
SEGMENT_PREFIX = "seg_"
CONDITION_KINDS = ("all", "any", "not", "trait", "event", "sql")
SAMPLE_SIZE = 5


def doc_name(model_name: str) -> str:
    """The docs block holding a segment's rule in words, referenced from its description."""
    return f"{model_name}__rule"


def doc_reference(model_name: str) -> str:
    return '{{ doc("' + doc_name(model_name) + '") }}'


@dataclass(frozen=True)
class SegmentDefinition:
    """One segment as written in YAML: the model's name and prose, its metadata and its rules."""

    name: str  # the model's name, e.g. seg_champions
    description: str  # the model's prose, without the reference to its rule docs block
    metadata: dict[str, Any]  # everything under config.meta.segment except rules and exclude
    rules: Any
    exclude: Any = None

    @property
    def short_name(self) -> str:
        """The name people type (`champions`), which is the model name without its prefix."""
        return self.name.removeprefix(SEGMENT_PREFIX)


def _model_segment(model: Mapping[str, Any]) -> Any:
    """config.meta.segment, or the older top-level meta.segment dbt still accepts."""
    for meta in ((model.get("config") or {}).get("meta"), model.get("meta")):
        if isinstance(meta, Mapping) and "segment" in meta:
            return meta["segment"]
    return None


def _segment_models(project_dir: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(name, YAML properties) of every `seg_*` model with a segment definition.

    Reads every YAML file in models/segments, sorted, so nothing depends on the file system's
    order (one file per segment: seg_<name>.yml, beside its SQL).
    """
    for path in sorted((project_dir / SEGMENTS_DIR).glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for model in document.get("models") or []:
            name = str(model.get("name", ""))
            if name.startswith(SEGMENT_PREFIX) and _model_segment(model) is not None:
                yield name, model


def load_segment_definitions(project_dir: Path) -> dict[str, SegmentDefinition]:
    """Every segment defined in the segments YAML, by model name, sorted.

    Shapes the macro would reject are kept as written: dbt is the validator, and neither the
    docs nor the preview should hide its error (which names the field) behind one of their own.
    """
    definitions: dict[str, SegmentDefinition] = {}
    for name, model in _segment_models(project_dir):
        segment = _model_segment(model)
        mapping = segment if isinstance(segment, Mapping) else {}
        description = str(model.get("description") or "").replace(doc_reference(name), "")
        definitions[name] = SegmentDefinition(
            name=name,
            description=description.strip(),
            metadata={
                key: value for key, value in mapping.items() if key not in ("rules", "exclude")
            },
            rules=mapping.get("rules") if mapping else segment,
            exclude=mapping.get("exclude"),
        )
    return dict(sorted(definitions.items()))


def missing_doc_references(project_dir: Path) -> list[str]:
    """Segments whose description does not show their rule docs block (so dbt docs would not)."""
    return sorted(
        name
        for name, model in _segment_models(project_dir)
        if doc_reference(name) not in str(model.get("description") or "")
    )


# Plain words ----------------------------------------------------------------------------------

_WORDS = {"rfm": "RFM", "avg": "average", "kpi": "KPI", "id": "ID", "sms": "SMS"}
_DATE_LIKE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def humanize(name: str) -> str:
    """`avg_order_value` -> `average order value`: trait and field names as people say them.

    A trailing `_at` is dropped (`last_order_at` is "last order") and a trailing `_<N>d` reads
    as a window (`sessions_30d` is "sessions in the last 30 days").
    """
    name = re.sub(r"_at$", "", name)
    window = re.fullmatch(r"(.+)_(\d+)d", name)
    if window:
        return f"{humanize(window.group(1))} in the last {_days(int(window.group(2)))}"
    return " ".join(_WORDS.get(word, word) for word in name.split("_") if word)


def _days(count: Any) -> str:
    return f"{_format_value(count)} day" + ("" if count == 1 else "s")


def join_naturally(items: Sequence[str], conjunction: str = "and") -> str:
    """`a`, `a and b`, `a, b and c`: how a list reads in a sentence."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return f"{value:,}"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _is_time(value: Any) -> bool:
    """A timestamp trait is compared with text such as 2025-01-01 (or a YAML date)."""
    return isinstance(value, datetime | date) or (
        isinstance(value, str) and bool(_DATE_LIKE.match(value))
    )


def _condition_kind(condition: Any) -> str:
    if not isinstance(condition, Mapping):
        raise ValueError(f"not a condition (all, any, not, trait, event or sql): {condition!r}")
    kinds = [kind for kind in CONDITION_KINDS if kind in condition]
    if len(kinds) != 1:
        raise ValueError(
            f"a condition has exactly one of {', '.join(CONDITION_KINDS)}; "
            f"this one has {', '.join(kinds) or 'none'}: {dict(condition)!r}"
        )
    return kinds[0]


def _describe_boolean(name: str, value: bool) -> str:
    """`has_unsubscribed = true` reads "has unsubscribed", `= false` "has not unsubscribed"."""
    words = humanize(name)
    for verb in ("has", "is"):
        if name.startswith(f"{verb}_"):
            return words if value else f"{verb} not {words.removeprefix(verb + ' ')}"
    return f"{words} is {_format_value(value)}"


def _describe_trait(condition: Mapping[str, Any]) -> str:
    name = str(condition["trait"])
    op = condition.get("op")
    value = condition.get("value")
    trait = humanize(name)
    is_time = _is_time(value) or (isinstance(value, list) and any(_is_time(item) for item in value))
    if op in ("eq", "ne") and isinstance(value, bool):
        return _describe_boolean(name, value if op == "eq" else not value)
    if op == "eq":
        return f"{trait} is {_format_value(value)}"
    if op == "ne":
        return f"{trait} is not {_format_value(value)}"
    comparisons = {
        "gt": ("after", "more than"),
        "gte": ("on or after", "at least"),
        "lt": ("before", "less than"),
        "lte": ("on or before", "at most"),
    }
    if op in comparisons:
        words = comparisons[op][0 if is_time else 1]
        return f"{trait} is {words} {_format_value(value)}"
    if op in ("in", "not_in") and isinstance(value, list):
        values = [_format_value(item) for item in value]
        if op == "in":
            return f"{trait} is {join_naturally(values, 'or')}"
        if len(values) == 1:
            return f"{trait} is not {values[0]}"
        return f"{trait} is none of {join_naturally(values, 'or')}"
    if op == "between" and isinstance(value, list) and len(value) == 2:
        low, high = (_format_value(item) for item in value)
        return f"{trait} is between {low} and {high}"
    if op == "is_null":
        return f"{trait} is not set"
    if op == "is_not_null":
        return f"{trait} is set"
    if op == "within_last_days":
        return f"{trait} is within the last {_days(value)}"
    if op == "more_than_days_ago":
        return f"{trait} is more than {_days(value)} ago"
    raise ValueError(f"trait condition with an operator or value it cannot have: {condition!r}")


def _event_scope(condition: Mapping[str, Any]) -> str:
    scope = ""
    if condition.get("within_days") is not None:
        scope += f" in the last {_days(condition['within_days'])}"
    if condition.get("since_last") is not None:
        scope += f" since the last {condition['since_last']}"
    return scope


def _events(count: Any, event: str) -> str:
    return f"{_format_value(count)} {event} event" + ("" if count == 1 else "s")


def _describe_event(condition: Mapping[str, Any]) -> str:
    event = str(condition["event"])
    low = condition.get("min_count", 1)
    high = condition.get("max_count")
    if high is None:
        counted = f"at least {_events(low, event)}"
    elif high == 0:
        counted = f"no {event} event"
    elif low == high:
        counted = f"exactly {_events(low, event)}"
    elif not low:
        counted = f"at most {_events(high, event)}"
    else:
        counted = f"between {_format_value(low)} and {_events(high, event)}"
    return counted + _event_scope(condition)


def _describe_negated_event(condition: Mapping[str, Any]) -> str | None:
    """`not` over a plain count reads as "no ... event" or "fewer than N ... events"."""
    if condition.get("max_count") is not None:
        return None
    low = condition.get("min_count", 1)
    event = str(condition["event"])
    if low == 1:
        return f"no {event} event" + _event_scope(condition)
    if isinstance(low, int) and not isinstance(low, bool) and low > 1:
        return f"fewer than {_events(low, event)}" + _event_scope(condition)
    return None


def _describe_nested(condition: Any) -> str:
    """A combination inside a combination goes in parentheses so it reads unambiguously."""
    text = describe_condition(condition)
    return f"({text})" if _condition_kind(condition) in ("all", "any") else text


def describe_condition(condition: Any) -> str:
    """One rule condition in plain English, e.g. "RFM segment is Champions".

    Raises ValueError on a shape that is not a condition: the macro names the exact field when
    dbt compiles it, so this only needs to refuse to guess.
    """
    kind = _condition_kind(condition)
    if kind in ("all", "any"):
        children = condition[kind]
        if isinstance(children, str | bytes | Mapping) or not isinstance(children, Sequence):
            raise ValueError(f"{kind} must be a list of conditions: {children!r}")
        return f"{kind} of: " + "; ".join(_describe_nested(child) for child in children)
    if kind == "not":
        inner = condition["not"]
        if _condition_kind(inner) == "event":
            negated = _describe_negated_event(inner)
            if negated is not None:
                return negated
        return f"not: {_describe_nested(inner)}"
    if kind == "sql":
        return f"custom SQL: `{str(condition['sql']).strip()}`"
    if kind == "trait":
        return _describe_trait(condition)
    return _describe_event(condition)


def _bullets(condition: Any, combination: str) -> list[str]:
    """The top-level `combination` (all for who is in, any for who is out) becomes bullets."""
    if isinstance(condition, Mapping) and _condition_kind(condition) == combination:
        return [describe_condition(child) for child in condition[combination]]
    return [describe_condition(condition)]


# Rule docs ------------------------------------------------------------------------------------


def _table_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _percent(share: Any) -> str:
    if isinstance(share, bool) or not isinstance(share, int | float | Decimal):
        return _format_value(share)
    return f"{float(share) * 100:.4g}%"


def _size_bounds(bounds: Any) -> str:
    if isinstance(bounds, Mapping) and "min" in bounds and "max" in bounds:
        return f"{_format_value(bounds['min'])} to {_format_value(bounds['max'])} members"
    return _format_value(bounds)


def metadata_rows(definition: SegmentDefinition) -> list[tuple[str, str]]:
    """The metadata as (label, value) pairs in the order people read them."""
    metadata = definition.metadata
    missing = "(not set)"

    def shown(key: str, render: Any = _format_value) -> str:
        return render(metadata[key]) if metadata.get(key) is not None else missing

    return [
        ("Owner", shown("owner")),
        ("KPI", shown("kpi")),
        ("Version", shown("version")),
        ("Refresh", shown("refresh")),
        ("Holdout share", shown("holdout_share", _percent)),
        ("Consent purpose", shown("consent_purpose", lambda value: humanize(str(value)))),
        ("Size bounds", shown("size_bounds", _size_bounds)),
    ]


def _sentence(text: str) -> str:
    """A bullet starts with a capital; the rest keeps its case (trait values, event names)."""
    return text[:1].upper() + text[1:]


def who_is_in(definition: SegmentDefinition) -> tuple[str, list[str]]:
    """A lead-in (empty for a single condition) and the bullets saying who is in."""
    rules = definition.rules
    kind = _condition_kind(rules)
    if kind == "any":
        return "At least one of these holds:", [_sentence(b) for b in _bullets(rules, "any")]
    if kind == "all":
        return "Every one of these holds:", [_sentence(b) for b in _bullets(rules, "all")]
    return "", [_sentence(describe_condition(rules))]


def who_is_never_in(definition: SegmentDefinition) -> list[str]:
    """Each bullet alone keeps a customer out, whatever the rules say."""
    bullets = ["customers whose personal data was erased"]
    if definition.exclude is not None:
        bullets += _bullets(definition.exclude, "any")
    return [_sentence(bullet) for bullet in bullets]


def render_rule_doc(definition: SegmentDefinition) -> str:
    """One dbt docs block: the metadata table, then who is in and who is never in."""
    lines = [
        "{% docs " + doc_name(definition.name) + " %}",
        "| Metadata | Value |",
        "| --- | --- |",
        *(f"| {label} | {_table_cell(value)} |" for label, value in metadata_rows(definition)),
        "",
        "**Who is in**",
        "",
    ]
    lead_in, bullets = who_is_in(definition)
    lines += [lead_in, ""] if lead_in else []
    lines += [*(f"- {bullet}" for bullet in bullets), ""]
    lines += ["**Who is never in**", "", "Anyone for whom one of these holds:", ""]
    lines += [f"- {bullet}" for bullet in who_is_never_in(definition)]
    lines += ["{% enddocs %}"]
    return "\n".join(lines) + "\n"


def render_rule_docs(definitions: Mapping[str, SegmentDefinition]) -> str:
    """The whole rule docs file: one docs block per segment, sorted by name."""
    header = (
        "{#- Every segment's rule in plain words, one docs block per segment, referenced from its\n"
        "    description. Rendered from each seg_<name>.yml by `cdp segment docs`: edit the\n"
        "    rules there, then run it again (`cdp segment docs --check` finds a stale file). -#}\n"
    )
    blocks = [render_rule_doc(definitions[name]) for name in sorted(definitions)]
    return header + "".join("\n" + block for block in blocks)


# Preview --------------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# Where the last build's as_of is read from, in order: the segments' own, then the traits'.
AS_OF_RELATIONS = ("segments.segment_memberships", "core.customer_traits")
_AS_OF = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$")


@dataclass
class SegmentBuild:
    """The outcome of compiling one segment: its SQL, or dbt's own words when it failed."""

    success: bool
    error: str = ""
    sql: str = ""


def check_as_of(value: str) -> str:
    """`YYYY-MM-DD[ HH:MM[:SS]]`, the form CDP_AS_OF takes; raises ValueError otherwise."""
    value = value.strip()
    if not _AS_OF.match(value):
        raise ValueError(f"not a UTC time of the form YYYY-MM-DD[ HH:MM:SS]: {value!r}")
    datetime.fromisoformat(value)  # a real date (no 2025-02-30)
    return value


def last_build_as_of(duckdb_path: Path) -> tuple[str, str] | None:
    """(as_of, relation it was read from) of the last build, or None if nothing is built.

    segment_memberships carries the as_of the segments were computed at on every row, and
    customer_traits the one of the traits; the latest of the first relation that has any.
    """
    import duckdb

    release_dbt_connection()
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        for relation in AS_OF_RELATIONS:
            schema, name = relation.split(".")
            (exists,) = connection.execute(
                "select count(*) from information_schema.tables"
                " where table_schema = ? and table_name = ?",
                [schema, name],
            ).fetchone()
            if not exists:
                continue
            (value,) = connection.execute(f"select max(as_of) from {relation}").fetchone()
            if value is not None:
                return f"{value:%Y-%m-%d %H:%M:%S}", relation
    return None


def compile_segment(
    model_name: str, settings: Settings, as_of: str, project_dir: Path | None = None
) -> SegmentBuild:
    """The segment's SQL as a full build would run it at `as_of`; dbt writes no relation.

    `dbt compile --full-refresh` renders the whole segment (not an incremental slice) and
    validates its rules; its artifacts go to a scratch target directory, so the build's own
    manifest and run results are left alone. dbt's console output is captured and handed
    back only on failure.
    """
    import json
    import tempfile

    from dbt.cli.main import dbtRunner

    console = io.StringIO()
    with (
        tempfile.TemporaryDirectory(prefix="cdp-preview-") as scratch,
        dbt_environment(settings),
        contextlib.redirect_stdout(console),
    ):
        result = dbtRunner().invoke(
            dbt_invocation(
                [
                    "compile",
                    "--select",
                    model_name,
                    "--full-refresh",
                    "--vars",
                    json.dumps({"as_of": as_of}),
                    "--target-path",
                    scratch,
                    "--log-path",
                    scratch,
                ],
                project_dir,
            )
        )
    release_dbt_connection()
    nodes = [
        node_result.node
        for node_result in getattr(result.result, "results", None) or []
        if getattr(node_result.node, "name", None) == model_name
    ]
    if result.success and nodes and nodes[0].compiled_code:
        return SegmentBuild(success=True, sql=nodes[0].compiled_code)
    text = _ANSI.sub("", console.getvalue()).strip()
    extra = [f"dbt: {result.exception}"] if result.exception is not None else []
    extra = [failure for failure in extra if failure.removeprefix("dbt: ").strip() not in text]
    if not text and not extra:
        extra = [f"dbt compiled nothing for {model_name}"]
    return SegmentBuild(success=False, error="\n".join([text, *extra]).strip())


@dataclass
class SegmentPreview:
    """What a segment's rules select, from the warehouse, as of a given time."""

    size: int
    holdout: int
    with_consent: int
    consent_and_not_holdout: int
    overlaps: list[tuple[str, int]] = field(default_factory=list)  # (other segment, shared)
    not_built: list[str] = field(default_factory=list)
    history: tuple[int, int, Any] | None = None  # (entered, exited, last recorded) or none
    history_note: str = ""
    sample: list[tuple[Any, ...]] = field(default_factory=list)
    as_of: str = ""
    as_of_source: str = ""  # e.g. "the last build's, from segments.segment_memberships"


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def preview_segment(
    duckdb_path: Path, definition: SegmentDefinition, others: Sequence[str], sql: str
) -> SegmentPreview:
    """Size, holdout, consent, overlap, change since the recorded history, and a sample.

    `sql` is the segment's compiled SQL (`compile_segment`); it runs on a read-only
    connection into a temporary table that lives as long as the connection, so nothing in
    the warehouse changes. Overlap and history are the other segments' current tables and the
    recorded history: the rules as written now, against what is live now.
    """
    import duckdb

    table = "cdp_segment_preview"
    release_dbt_connection()
    with duckdb.connect(str(duckdb_path), read_only=True) as connection:
        connection.execute(f"create temporary table {table} as select * from (\n{sql}\n)")
        built = {
            row[0]
            for row in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'segments'"
            ).fetchall()
        }
        size, holdout, with_consent, sendable = connection.execute(
            f"""
            select
                count(*),
                count(*) filter (where is_holdout),
                count(*) filter (where has_consent),
                count(*) filter (where has_consent and not is_holdout)
            from {table}
            """
        ).fetchone()
        preview = SegmentPreview(
            size=size, holdout=holdout, with_consent=with_consent, consent_and_not_holdout=sendable
        )
        for other in sorted(others):
            if other == definition.name:
                continue
            if other not in built:
                preview.not_built.append(other)
                continue
            (shared,) = connection.execute(
                f"""
                select count(*)
                from {table} as this
                inner join segments.{_quoted(other)} as other using (customer_id)
                """
            ).fetchone()
            preview.overlaps.append((other, shared))
        preview.overlaps.sort(key=lambda item: (-item[1], item[0]))
        if "segment_membership_history" not in built:
            preview.history_note = "no history recorded yet (no segment_membership_history)"
        else:
            recorded, last_recorded = connection.execute(
                """
                select count(*), greatest(max(entered_at), max(exited_at))
                from segments.segment_membership_history
                where segment_name = ?
                """,
                [definition.name],
            ).fetchone()
            if recorded == 0:
                preview.history_note = f"no history recorded for {definition.name} yet"
            else:
                entered, exited = connection.execute(
                    f"""
                    with
                    current_members as (
                        select customer_id
                        from segments.segment_membership_history
                        where segment_name = ? and exited_at is null
                    ),
                    new_members as (select customer_id from {table})
                    select
                        (select count(*) from new_members
                         where customer_id not in (select customer_id from current_members)),
                        (select count(*) from current_members
                         where customer_id not in (select customer_id from new_members))
                    """,
                    [definition.name],
                ).fetchone()
                preview.history = (entered, exited, last_recorded)
        preview.sample = connection.execute(
            f"""
            select
                members.customer_id,
                traits.lifecycle_stage,
                traits.orders_count,
                traits.lifetime_revenue,
                members.is_holdout
            from {table} as members
            left join core.customer_traits as traits using (customer_id)
            order by members.customer_id
            limit {SAMPLE_SIZE}
            """
        ).fetchall()
    return preview


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


def format_preview(definition: SegmentDefinition, preview: SegmentPreview) -> list[str]:
    """Aligned lines for a terminal; customer ids and traits only, never contact details."""
    metadata = definition.metadata
    purpose = humanize(str(metadata.get("consent_purpose", "")))
    target = metadata.get("holdout_share")
    lines = [
        f"{definition.name}  (version {_format_value(metadata.get('version', '-'))}, "
        f"{metadata.get('refresh', '-')}, owner {metadata.get('owner', '-')})"
    ]
    if definition.description:
        lines.append(" ".join(definition.description.split()))
    lead_in, bullets = who_is_in(definition)
    lines += ["", f"Who is in: {lead_in or ''}".rstrip(), *(f"  - {bullet}" for bullet in bullets)]
    lines += ["Who is never in (any one is enough):"]
    lines += [f"  - {bullet}" for bullet in who_is_never_in(definition)]
    label = 26
    lines += [
        "",
        f"{'as of':<{label}}{preview.as_of}  ({preview.as_of_source})",
        f"{'members':<{label}}{preview.size:>8,}",
        f"{'holdout':<{label}}{preview.holdout:>8,}  ({_share(preview.holdout, preview.size)} "
        f"of members; target {_percent(target) if target is not None else '-'})",
        f"{'with consent':<{label}}{preview.with_consent:>8,}  "
        f"({_share(preview.with_consent, preview.size)}; purpose: {purpose})",
        f"{'with consent, not holdout':<{label}}{preview.consent_and_not_holdout:>8,}  "
        "(reachable by a send)",
    ]
    if preview.history is None:
        lines.append(f"{'since last history':<{label}}{preview.history_note}")
    else:
        entered, exited, last_recorded = preview.history
        when = f"recorded up to {last_recorded}" if last_recorded is not None else "recorded"
        lines += [
            f"{'entered since history':<{label}}{entered:>8,}  ({when})",
            f"{'exited since history':<{label}}{exited:>8,}",
        ]
    lines += ["", "overlap with other segments (members shared, share of this segment):"]
    width = max([len(name) for name, _ in preview.overlaps] + [0])
    for other, shared in preview.overlaps:
        lines.append(f"  {other:<{width}}  {shared:>8,}  {_share(shared, preview.size):>6}")
    if not preview.overlaps:
        lines.append("  (no other segment is built)")
    if preview.not_built:
        lines.append(f"  not built yet: {', '.join(preview.not_built)}")
    lines += ["", f"sample members (up to {SAMPLE_SIZE}):"]
    if not preview.sample:
        lines.append("  (none: the segment is empty)")
    else:
        headers = ("customer_id", "lifecycle_stage", "orders_count", "lifetime_revenue", "holdout")
        rows = [
            (
                str(customer_id),
                str(stage if stage is not None else "-"),
                _format_value(orders) if orders is not None else "-",
                f"{revenue:,.2f}" if revenue is not None else "-",
                "yes" if is_holdout else "no",
            )
            for customer_id, stage, orders, revenue, is_holdout in preview.sample
        ]
        widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
        right = (False, False, True, True, False)  # numbers align right

        def aligned(row: Sequence[str]) -> str:
            cells = [
                cell.rjust(width) if is_right else cell.ljust(width)
                for cell, width, is_right in zip(row, widths, right, strict=True)
            ]
            return "  " + "  ".join(cells).rstrip()

        lines += [aligned(headers), *(aligned(row) for row in rows)]
    return lines
