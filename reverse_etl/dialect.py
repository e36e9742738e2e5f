"""The SQL the diff and the state spell differently per warehouse.

Only spelling lives here: the delta is one algorithm, written once in `diff.py`. This module
imports nothing from the package, so the diff and the state depend on the spelling, never on
a warehouse implementation.
"""

from __future__ import annotations

from collections.abc import Sequence


class Dialect:
    """DuckDB's spelling (and the default)."""

    name = "duckdb"
    anti_join = "anti join"
    semi_join = "semi join"

    def quote(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def quote_relation(self, relation: str) -> str:
        return ".".join(self.quote(part) for part in relation.split("."))

    def parameter(self, position: int) -> str:
        """The placeholder of the `position`-th (1-based) parameter; it may be repeated."""
        return f"${position}"

    def json_object(self, members: Sequence[tuple[str, str]]) -> str:
        """Compact JSON text of an object: (key, SQL expression) in this order, nulls kept."""
        pairs = ", ".join(f"{self.quote(key)} := {value}" for key, value in members)
        return f"cast(to_json(struct_pack({pairs})) as string)"


DUCKDB = Dialect()


def string_literal(value: str) -> str:
    """A Spark SQL string literal (backslash is an escape character in Spark literals)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class SparkDialect(Dialect):
    name = "spark"
    anti_join = "left anti join"
    semi_join = "left semi join"

    def quote(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def parameter(self, position: int) -> str:
        # Named markers, so one parameter can appear several times (`?` cannot).
        return f":p{position}"

    def json_object(self, members: Sequence[tuple[str, str]]) -> str:
        # Spark leaves null fields out of JSON unless told otherwise; DuckDB keeps them.
        pairs = ", ".join(f"{string_literal(key)}, {value}" for key, value in members)
        return f"to_json(named_struct({pairs}), map('ignoreNullFields', 'false'))"


SPARK = SparkDialect()
