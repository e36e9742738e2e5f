"""The real-time segments' rules, compiled by dbt from the same segment macro as the build.

`segment_realtime()` (dbt_project/macros/segments/segment.sql) renders a `refresh: realtime`
segment's membership query over relations the evaluator names. It is compiled once per
snapshot with a placeholder as_of, which `RealtimeRule.sql` replaces by the DuckDB variable
`cdp_as_of` (set to the evaluation time before each query): no rule is translated in Python.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from cdp import DBT_PROJECT_DIR
from cdp.pipeline import Settings, dbt_environment, dbt_invocation, release_dbt_connection
from cdp.segments import SegmentDefinition, load_segment_definitions
from cdp.stream.snapshot import EventNeed, events_needed

# A time no build uses; the compiled `cast('<it>' as timestamp)` becomes the variable.
AS_OF_PLACEHOLDER = "1970-01-01 00:00:07"
_PLACEHOLDER_CAST = re.compile(
    r"cast\(\s*'" + re.escape(AS_OF_PLACEHOLDER) + r"'\s+as\s+timestamp\s*\)", re.IGNORECASE
)
AS_OF_VARIABLE = "getvariable('cdp_as_of')"
_SEPARATOR = "-- cdp realtime segment boundary --"


@dataclass(frozen=True)
class RuleRelations:
    """What the compiled rules read: traits, customers and events relations, and the query of
    the customers to evaluate."""

    traits: str
    customers: str
    events: str
    affected_sql: str


# In the DuckDB evaluator's state database (cdp/stream/evaluator.py).
DUCKDB_RELATIONS = RuleRelations(
    traits="rt.traits_all",
    customers="rt.customers_all",
    events="rt.events_all",
    affected_sql="select touched.customer_id from rt_touched as touched",
)


class RuleCompileError(RuntimeError):
    """dbt refused a real-time segment (its rules or metadata are invalid)."""


@dataclass(frozen=True)
class Window:
    """An event condition with a window: an event leaves it `days` after it happened."""

    event_name: str
    days: int


@dataclass(frozen=True)
class RealtimeRule:
    name: str
    sql: str  # the membership query over the relations, as_of = the as_of expression
    consent_purpose: str
    windows: tuple[Window, ...]
    definition: Mapping[str, Any]


def realtime_definitions(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, SegmentDefinition]:
    """The segments whose metadata says `refresh: realtime`."""
    return {
        name: definition
        for name, definition in load_segment_definitions(project_dir).items()
        if definition.metadata.get("refresh") == "realtime"
    }


def windows_of(definition: Mapping[str, Any]) -> tuple[Window, ...]:
    found: list[Window] = []

    def walk(node: Any) -> None:
        if not isinstance(node, Mapping):
            return
        if "event" in node and node.get("within_days") is not None:
            found.append(Window(str(node["event"]), int(node["within_days"])))
        for key in ("all", "any"):
            for child in node.get(key) or []:
                walk(child)
        if "not" in node:
            walk(node["not"])

    walk(definition.get("rules"))
    walk(definition.get("exclude"))
    return tuple(dict.fromkeys(found))


def rule_definition(definition: SegmentDefinition) -> dict[str, Any]:
    return {**definition.metadata, "rules": definition.rules, "exclude": definition.exclude}


def _inline(names: Sequence[str], relations: RuleRelations) -> str:
    calls = [
        "{{ segment_realtime("
        + ", ".join(
            json.dumps(value)
            for value in (
                name,
                relations.traits,
                relations.customers,
                relations.events,
                relations.affected_sql,
            )
        )
        + ") }}"
        for name in names
    ]
    return ("\n" + _SEPARATOR + "\n").join(calls)


def compile_realtime_rules(
    settings: Settings,
    names: Iterable[str] | None = None,
    project_dir: Path | None = None,
    *,
    relations: RuleRelations = DUCKDB_RELATIONS,
    as_of_expression: str = AS_OF_VARIABLE,
) -> dict[str, RealtimeRule]:
    """Compile the real-time segments (all, or `names`) in one dbt invocation, for the
    settings' target (DuckDB, or Spark for the Spark evaluator), over `relations`, with
    `as_of_expression` where the rules read the as_of.

    On DuckDB, dbt runs against a scratch file and target directory, so it neither opens the
    warehouse nor touches the build's artifacts.
    """
    from dbt.cli.main import dbtRunner

    definitions = realtime_definitions(project_dir or DBT_PROJECT_DIR)
    selected = sorted(definitions if names is None else names)
    unknown = [name for name in selected if name not in definitions]
    if unknown:
        raise RuleCompileError(f"not a realtime segment: {', '.join(unknown)}")
    if not selected:
        return {}
    console = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="cdp-realtime-") as scratch:
        scratch_settings = dataclasses.replace(
            settings,
            duckdb_path=Path(scratch) / "compile.duckdb",
            dbt_target_path=Path(scratch) / "target",
        )
        with dbt_environment(scratch_settings), contextlib.redirect_stdout(console):
            result = dbtRunner().invoke(
                dbt_invocation(
                    [
                        "compile",
                        "--inline",
                        _inline(selected, relations),
                        "--vars",
                        json.dumps({"as_of": AS_OF_PLACEHOLDER}),
                        "--target-path",
                        str(Path(scratch) / "target"),
                        "--log-path",
                        scratch,
                        "--quiet",
                    ],
                    project_dir,
                )
            )
        release_dbt_connection()
    if not result.success:
        detail = console.getvalue().strip() or str(result.exception)
        raise RuleCompileError(f"dbt could not compile the realtime segments: {detail}")
    compiled = result.result.results[0].node.compiled_code
    parts = compiled.split(_SEPARATOR)
    if len(parts) != len(selected):
        raise RuleCompileError("dbt's compiled realtime segments do not split one per segment")
    rules = {}
    for name, sql in zip(selected, parts, strict=True):
        definition = rule_definition(definitions[name])
        rules[name] = RealtimeRule(
            name=name,
            sql=_PLACEHOLDER_CAST.sub(as_of_expression, sql.strip()),
            consent_purpose=str(definition["consent_purpose"]),
            windows=windows_of(definition),
            definition=definition,
        )
    return rules


class CompiledRules:
    """For an evaluator: the real-time rules compiled by dbt the first time they are needed
    (`cdp stream` answers events meanwhile), and the events they count. Set `settings`,
    `_rules` (None, or rules given by a test) and `_need` (None); `_compile_options` go to
    `compile_realtime_rules`."""

    settings: Settings
    _rules: dict[str, RealtimeRule] | None
    _need: EventNeed | None
    _compile_options: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    @property
    def rules(self) -> dict[str, RealtimeRule]:
        if self._rules is None:
            self._rules = dict(compile_realtime_rules(self.settings, **self._compile_options))
        return self._rules

    @property
    def need(self) -> EventNeed:
        if self._need is None:
            self._need = events_needed(rule.definition for rule in self.rules.values())
        return self._need
