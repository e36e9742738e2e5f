"""The landing contract: the tables raw data arrives in, their columns and keys.

Files live under the landing directory as `<source>/<table>/*.csv|*.parquet`, every column
text. This module is the one place the contract is written (docs/adr/0013): the intake reads
it here, and the dbt side (the `landing_tables()` macro and the sources) is generated from it
by `cdp landing-contract`; a test fails while the committed dbt files differ from it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path


@dataclass(frozen=True)
class LandingTable:
    """One landing table: what its files hold and what the warehouse makes of them.

    The landing side (`columns`, `landing_key`, `optional_columns`) is what a file carries,
    every column text. The dbt side names the base model that reads the table and gives SQL
    expressions over that model's output: the record key, the time a record was observed,
    the version that ranks a key's rows, and the columns carrying identity-graph identifiers.
    """

    name: str
    description: str
    columns: tuple[str, ...]
    # The column that keys a record in a file (none: order lines, keyed by order and line).
    landing_key: str | None
    # The base model that reads the table, its record key and when a record was observed.
    model: str
    key: str
    observed_at: str
    # Identifier type -> SQL over the base model (the types of IDENTIFIER_TYPES).
    identifiers: Mapping[str, str] = dataclass_field(default_factory=dict)
    # What ranks a key's rows, latest first; none: every repeat is a duplicate delivery.
    version: str | None = None
    # (table, key column): the rows carry no identifier but belong to a record of another
    # table (an order line to its order); a new or changed row changes what the parent
    # record's customer has, so identity rewrites the parent record (docs/adr/0004).
    parent: tuple[str, str] | None = None
    # Columns a file may lack (read as empty). Every other column is required: a file without
    # it would blank that field of every entity it carries.
    optional_columns: frozenset[str] = frozenset()
    # The table's staging model is incremental, so its base model stops before dispositions
    # (the staging model ranks only new files against what it staged before) and
    # int_landing__row_dispositions ranks every row of it by `version` (docs/adr/0002).
    incremental: bool = True

    @property
    def source(self) -> str:
        return self.name.split("/")[0]

    @property
    def identifier(self) -> str:
        return self.name.split("/")[1]


# The identifier types of the identity graph, in a fixed order.
IDENTIFIER_TYPES: tuple[str, ...] = (
    "email", "phone", "crm_contact_id", "shop_customer_id", "anonymous_id",
)  # fmt: skip

# Each source (the first folder of a table) and what it is.
LANDING_SOURCES: dict[str, str] = {
    "crm": "CRM contacts exported from the CRM (HubSpot-like), append-only files.",
    "shop": "Storefront accounts, orders and order lines.",
    "events": "Segment-spec web events, delivered at least once.",
    "email": "Email service provider engagement events.",
    "support": "Helpdesk tickets.",
    "consent": "Consent decisions from forms, checkout, preference centre and CRM.",
    "privacy": "Data-subject requests.",
}


def _typed_identifier(identifier_type: str) -> str:
    return f"case when identifier_type = '{identifier_type}' then identifier_value end"


LANDING_CONTRACT: tuple[LandingTable, ...] = (
    LandingTable(
        name="crm/contacts",
        description="One row per contact version; a later updated_at supersedes an earlier one.",
        columns=(
            "contact_id", "email", "phone", "first_name", "last_name", "company", "job_title",
            "country", "city", "lifecycle_stage", "is_deleted", "created_at", "updated_at",
        ),
        landing_key="contact_id",
        model="base_crm__contacts",
        key="contact_id",
        observed_at="coalesce(created_at, updated_at)",
        version="updated_at",
        identifiers={"crm_contact_id": "contact_id", "email": "email", "phone": "phone"},
    ),
    LandingTable(
        name="shop/customers",
        description="Storefront accounts; customer_id is also the app's user_id in events.",
        columns=(
            "customer_id", "email", "phone", "first_name", "last_name", "country", "city",
            "accepts_email_marketing", "created_at", "updated_at",
        ),
        landing_key="customer_id",
        model="base_shop__customers",
        key="customer_id",
        observed_at="coalesce(created_at, updated_at)",
        version="updated_at",
        identifiers={"shop_customer_id": "customer_id", "email": "email", "phone": "phone"},
    ),
    LandingTable(
        name="shop/orders",
        description="Orders; customer_id is empty for guest checkouts.",
        columns=(
            "order_id", "customer_id", "email", "ordered_at", "status", "subtotal", "discount",
            "total", "refunded_amount", "updated_at",
        ),
        landing_key="order_id",
        model="base_shop__orders",
        key="order_id",
        observed_at="ordered_at",
        version="updated_at",
        identifiers={"shop_customer_id": "customer_id", "email": "email"},
    ),
    LandingTable(
        name="shop/order_items",
        description="Order lines.",
        columns=(
            "order_id", "line_number", "sku", "product_name", "category", "quantity",
            "unit_price",
        ),
        landing_key=None,
        model="base_shop__order_items",
        key="order_item_id",
        observed_at="null",
        parent=("shop/orders", "order_id"),
    ),
    LandingTable(
        name="events/tracks",
        description="Track calls; properties is a JSON object as text; message_id may repeat.",
        columns=("message_id", "anonymous_id", "user_id", "event", "timestamp", "properties"),
        landing_key="message_id",
        model="base_events__tracks",
        key="message_id",
        observed_at="event_at",
        identifiers={"anonymous_id": "anonymous_id", "shop_customer_id": "user_id"},
    ),
    LandingTable(
        name="events/identifies",
        description="Identify calls linking an anonymous browser to a user id and/or email.",
        columns=("message_id", "anonymous_id", "user_id", "email", "timestamp", "traits"),
        landing_key="message_id",
        model="base_events__identifies",
        key="message_id",
        observed_at="identified_at",
        identifiers={
            "anonymous_id": "anonymous_id", "shop_customer_id": "user_id", "email": "email",
        },
    ),
    LandingTable(
        name="email/events",
        description="sent, delivered, open, click, bounce, unsubscribe, spam_report.",
        columns=("event_id", "email", "campaign_id", "event_type", "occurred_at"),
        landing_key="event_id",
        model="base_email__events",
        key="email_event_id",
        observed_at="occurred_at",
        identifiers={"email": "email"},
    ),
    LandingTable(
        name="support/tickets",
        description="One row per ticket.",
        columns=(
            "ticket_id", "requester_email", "channel", "priority", "status", "created_at",
            "solved_at", "satisfaction_score",
        ),
        landing_key="ticket_id",
        model="base_support__tickets",
        key="ticket_id",
        observed_at="created_at",
        version="coalesce(solved_at, created_at)",
        identifiers={"email": "requester_email"},
    ),
    LandingTable(
        name="consent/events",
        description="One row per consent decision for an identifier and a purpose.",
        columns=(
            "consent_event_id", "identifier_type", "identifier_value", "purpose", "status",
            "recorded_at", "source",
        ),
        landing_key="consent_event_id",
        model="base_consent__events",
        key="consent_event_id",
        observed_at="recorded_at",
        identifiers={
            identifier_type: _typed_identifier(identifier_type)
            for identifier_type in ("email", "phone", "shop_customer_id", "crm_contact_id")
        },
    ),
    LandingTable(
        name="privacy/deletion_requests",
        description="Right-to-erasure requests by identifier.",
        columns=("request_id", "identifier_type", "identifier_value", "requested_at"),
        landing_key="request_id",
        model="base_privacy__deletion_requests",
        key="deletion_request_id",
        observed_at="requested_at",
    ),
)  # fmt: skip

# Views of the contract for the Python code.
LANDING_TABLES: dict[str, list[str]] = {
    table.name: list(table.columns) for table in LANDING_CONTRACT
}
LANDING_KEYS: dict[str, str] = {
    table.name: table.landing_key for table in LANDING_CONTRACT if table.landing_key
}
LANDING_OPTIONAL_COLUMNS: dict[str, frozenset[str]] = {
    table.name: table.optional_columns for table in LANDING_CONTRACT
}


def write_csv_landing(
    raw_dir: Path,
    rows_by_table: Mapping[str, Iterable[Mapping[str, str | None]]],
    file_name: str = "part-00000.csv",
) -> None:
    """Write one CSV file per landing table (header-only where no rows are given).

    Missing columns are written empty, so callers only name what matters to them.
    """
    for table, columns in LANDING_TABLES.items():
        folder = raw_dir / table
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / file_name
        rows = list(rows_by_table.get(table, []))
        if path.exists() and not rows:
            continue
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            for row in rows:
                unknown = set(row) - set(columns)
                if unknown:
                    raise ValueError(f"{table}: unknown landing columns {sorted(unknown)}")
                writer.writerow({column: row.get(column) or "" for column in columns})


def _column_name(field: str) -> str:
    return field.strip().lstrip("\ufeff").strip().strip('"').strip().lower()


def match_header(table: str, fields: list[str]) -> tuple[dict[str, int], list[str]]:
    """Contract column -> position in a file's header (names matched case-insensitively),
    and the header's fields that are not in the table's contract."""
    columns = set(LANDING_TABLES[table])
    mapping: dict[str, int] = {}
    unknown: list[str] = []
    for index, field in enumerate(fields):
        name = _column_name(field)
        if name in columns and name not in mapping:
            mapping[name] = index
        else:
            unknown.append(field)
    return mapping, unknown


def header_problem(table: str, fields: list[str]) -> str | None:
    """Why a file with this header cannot land in `table`, or None when it can.

    A header that is another table's (a file dropped in the wrong folder) or that lacks a
    required column is refused: read anyway, it would overwrite real values with nulls.
    Extra columns are ignored.
    """
    names = [_column_name(field) for field in fields]
    duplicates = sorted({name for name in names if name and names.count(name) > 1})
    if duplicates:
        return f"header repeats column(s) {', '.join(duplicates)}"
    mapping, unknown = match_header(table, fields)
    for other, other_columns in LANDING_TABLES.items():
        if other == table:
            continue
        other_matched = len(set(names) & set(other_columns))
        if other_matched > len(mapping) and other_matched >= len(names) - other_matched:
            return f"header is {other}'s, not {table}'s (a file in the wrong folder?)"
    missing = [
        column
        for column in LANDING_TABLES[table]
        if column not in mapping and column not in LANDING_OPTIONAL_COLUMNS[table]
    ]
    if missing and len(mapping) < len(names) / 2:
        return (
            f"foreign header: {len(unknown)} of {len(names)} column(s) are not in {table}'s "
            f"contract and it lacks {', '.join(missing)}"
        )
    if missing:
        return f"header lacks required column(s) {', '.join(missing)}"
    return None


# ---- the dbt side, generated from the contract (`cdp landing-contract`) ----------------------
DBT_LANDING_MACRO = Path("macros") / "landing_tables.sql"
DBT_LANDING_SOURCES = Path("models") / "staging" / "_landing__sources.yml"
GENERATED_NOTICE = "Generated from cdp/landing.py by `cdp landing-contract`: do not edit."


def _jinja(value: object) -> str:
    """A Jinja literal of a string, flag, list or mapping of them."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        if "'" not in value:
            return f"'{value}'"
        if '"' in value or "\\" in value:
            raise ValueError(f"cannot quote {value!r} for Jinja")
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_jinja(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_jinja(k)}: {_jinja(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no Jinja literal for {value!r}")


def _wrapped(items: Iterable[str], indent: str, width: int = 100) -> list[str]:
    """`items` joined by commas over lines of at most `width` characters."""
    lines: list[str] = []
    line = indent
    for item in items:
        piece = f"{item}, "
        if line.strip() and len(line) + len(piece.rstrip()) > width:
            lines.append(line.rstrip())
            line = indent
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    return lines


def _macro_entry(table: LandingTable) -> list[str]:
    lines = ["        {"]
    for name, value in [
        ("name", table.name),
        ("model", table.model),
        ("key", table.key),
        ("observed_at", table.observed_at),
        ("incremental", table.incremental),
        ("version", table.version),
    ]:
        if value is not None:
            lines.append(f"            '{name}': {_jinja(value)},")
    lines.append("            'columns': [")
    lines += _wrapped((_jinja(column) for column in table.columns), " " * 16)
    lines.append("            ],")
    if table.identifiers:
        lines.append("            'identifiers': {")
        lines += [
            f"                {_jinja(kind)}: {_jinja(expression)},"
            for kind, expression in table.identifiers.items()
        ]
        lines.append("            },")
    else:
        lines.append("            'identifiers': {},")
    if table.parent:
        parent = {"table": table.parent[0], "key": table.parent[1]}
        lines.append(f"            'parent': {_jinja(parent)},")
    lines.append("        },")
    return lines


_MACRO_DOC = """\
    The landing tables of the contract (cdp/landing.py, docs/adr/0013): the base model that
    reads each, its record key, the time a record was observed, which columns carry which
    identity-graph identifiers (SQL expressions over the base model), and the columns its
    files carry. Staging, identity, the landing audit and erasure all read this.

    `parent`: a table whose rows carry no identifier but belong to a record of another table
    (an order line to its order): a new or changed row changes what its parent record's
    customer has, so identity rewrites the parent record (docs/adr/0004).

    `incremental`: the table's staging model is incremental, so its base model stops before
    dispositions (the staging model ranks only new files against what it staged before) and
    int_landing__row_dispositions ranks every row of it by `version` (docs/adr/0002)."""


def render_landing_macro(contract: Iterable[LandingTable] = LANDING_CONTRACT) -> str:
    """The text of dbt_project/macros/landing_tables.sql."""
    entries = [line for table in contract for line in _macro_entry(table)]
    return "\n".join(
        [
            "{#",
            f"    {GENERATED_NOTICE}",
            "",
            *_MACRO_DOC.splitlines(),
            "#}",
            "{% macro landing_tables() -%}",
            "    {{ return([",
            *entries,
            "    ]) }}",
            "{%- endmacro %}",
            "",
            "",
            "{#- The landing table named `name` (e.g. 'crm/contacts'). -#}",
            "{% macro landing_table(name) -%}",
            "    {%- for table in landing_tables() if table.name == name -%}",
            "        {{ return(table) }}",
            "    {%- endfor -%}",
            "    {{ exceptions.raise_compiler_error(",
            "        name ~ ': not a landing table of the contract (cdp/landing.py)'",
            "    ) }}",
            "{%- endmacro %}",
            "",
            "",
            "{#- The identifier types of the identity graph, in a fixed order. -#}",
            "{% macro identity_identifier_types() -%}",
            f"    {{{{ return({_jinja(list(IDENTIFIER_TYPES))}) }}}}",
            "{%- endmacro %}",
            "",
        ]
    )


# The head of the generated sources file: where the sources read the landing data.
SOURCES_HEADER = """\
# {notice}
#
# Landing (contract): raw files under CDP_RAW_DIR, one folder per table, <source>/<table>/.
# The landing intake (cdp/intake.py, run before dbt by every entry point) reads each file on
# its own, checks it against the contract and writes its accepted rows, every column as text
# plus `_landed_file` (the file's path relative to the landing root), as Parquet under
# CDP_LANDING_INTAKE_DIR/data/<source>/<table>/; the sources read those, on DuckDB here and
# on Spark through macros/landing/landing_relations.sql. Where the landing tables are
# ordinary warehouse tables, drop the `external_location` config (in SOURCES_HEADER, in
# cdp/landing.py), set each source's `database`/`schema`, give each table a `_landed_file`
# column, and run `cdp landing-contract`.
x-landing-location: &landing_location
  external_location: >-
    read_parquet('{intake_dir}/data/{{schema}}/{{identifier}}/*.parquet',
    union_by_name = true)

sources:
"""

_INTAKE_SOURCE = """\
  - name: landing_intake
    description: >
      What the landing intake saw: every landed file with its status, and every line or file
      it quarantined (cdp/intake.py). File names, line numbers and reasons only.
    config: *landing_location
    tables:
      - name: files
        description: >
          One row per part of every file seen under the landing root: its path, the part's
          `landed_file`, content hash, bytes, rows taken in, rejected lines, status (accepted,
          quarantined, skipped) and reason.
      - name: rejects
        description: >
          Lines the intake could not read (`line_number`) and files it quarantined whole
          (`line_number` null), with the reason; never the line's content.
"""


def render_landing_sources(contract: Iterable[LandingTable] = LANDING_CONTRACT) -> str:
    """The text of dbt_project/models/staging/_landing__sources.yml."""
    tables = list(contract)
    lines: list[str] = []
    for source, description in LANDING_SOURCES.items():
        lines += [
            f"  - name: {source}",
            f"    description: {json.dumps(description)}",
            "    config: *landing_location",
            "    tables:",
        ]
        for table in (table for table in tables if table.source == source):
            if table.landing_key in table.optional_columns:
                raise ValueError(f"{table.name}: its key {table.landing_key} cannot be optional")
            lines += [
                f"      - name: {table.identifier}",
                f"        description: {json.dumps(table.description)}",
                "        columns:",
            ]
            for column in table.columns:
                lines.append(f"          - name: {column}")
                if column == table.landing_key:
                    lines.append('            description: "The record\'s key in a file."')
                if column in table.optional_columns:
                    lines.append('            description: "Optional: a file may lack it."')
        lines.append("")
    unknown = {table.source for table in tables} - set(LANDING_SOURCES)
    if unknown:
        raise ValueError(f"landing sources without a description: {sorted(unknown)}")
    intake_dir = "{{ env_var('CDP_LANDING_INTAKE_DIR', '../warehouse/cdp.landing') }}"
    header = SOURCES_HEADER.format(notice=GENERATED_NOTICE, intake_dir=intake_dir)
    return header + "\n".join(lines) + "\n" + _INTAKE_SOURCE


def dbt_contract_files(project_dir: Path) -> dict[Path, str]:
    """Each generated dbt file of the contract and the text it must hold."""
    return {
        project_dir / DBT_LANDING_MACRO: render_landing_macro(),
        project_dir / DBT_LANDING_SOURCES: render_landing_sources(),
    }


def stale_dbt_contract_files(project_dir: Path) -> list[Path]:
    """The generated dbt files that differ from what the contract generates."""
    return [
        path
        for path, text in dbt_contract_files(project_dir).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def write_dbt_contract(project_dir: Path) -> list[Path]:
    """Rewrite the stale generated dbt files; returns the files written."""
    written = []
    for path, text in dbt_contract_files(project_dir).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
