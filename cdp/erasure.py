"""Erasure in the warehouse file: after a build that applied new erasures, rewrite the file.

The dbt build masks an erased person's rows, but DuckDB keeps the old row versions in the
blocks it freed until they happen to be reused, so their bytes (emails, phones, names) stay
readable in the .duckdb file. A CHECKPOINT or VACUUM does not overwrite them. So when the set
of erased records has grown since the last rewrite, the whole database is copied into a new
file (`COPY FROM DATABASE`: only live rows are written) which then replaces the old one with
one rename. The run that does it is logged in `audit.erasure_reclaims`; a run without new
erasures only reads two numbers (see docs/adr/0008-erasure-reaches-every-copy.md).

DuckDB only: on other warehouses the storage is the platform's (Spark rewrites a table's
Parquet files on every build; time travel, snapshots and trash are the platform's to purge).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from cdp.pipeline import release_dbt_connection

ERASED_RECORDS = "privacy.int_privacy__erased_records"
RECLAIMS = "audit.erasure_reclaims"

_FINGERPRINT = f"""
    select count(*), coalesce(sum(hash(record_source || '|' || record_key)), 0)::varchar
    from {ERASED_RECORDS}
"""


@dataclass(frozen=True)
class Reclaim:
    """What a call did: `reclaimed` is False when there was nothing new to reclaim."""

    reclaimed: bool
    erased_records: int
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    reason: str = ""


def _relation_exists(connection: duckdb.DuckDBPyConnection, relation: str) -> bool:
    schema, name = relation.split(".")
    [(found,)] = connection.execute(
        "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?"
        " and database_name = current_database()",
        [schema, name],
    ).fetchall()
    return bool(found)


def _files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + ".wal")]


def reclaim_erased_data(duckdb_path: Path, *, force: bool = False) -> Reclaim:
    """Rewrite the warehouse file when the erased records changed since the last rewrite.

    Holds the file's write lock from the check to the rename, so no other process writes to
    the old file meanwhile. `force` rewrites even without new erasures.
    """
    path = Path(duckdb_path)
    if not path.exists():
        return Reclaim(False, 0, reason="no warehouse file")
    compacted = path.with_name(path.name + ".compacting")
    for leftover in _files(compacted):  # from a rewrite killed before its rename
        leftover.unlink(missing_ok=True)
    # A DuckDB instance still open in this process on the file (dbt-duckdb keeps one) would be
    # shared by the connection below and keep reading the old file after the rename.
    release_dbt_connection()
    started = time.perf_counter()
    connection = duckdb.connect(str(path))
    try:
        if not _relation_exists(connection, ERASED_RECORDS):
            return Reclaim(False, 0, reason="no erasure model built")
        erased_records, fingerprint = connection.execute(_FINGERPRINT).fetchone()
        last = None
        if _relation_exists(connection, RECLAIMS):
            last = connection.execute(
                f"select erased_records, fingerprint from {RECLAIMS}"
                " order by reclaimed_at desc limit 1"
            ).fetchone()
        if not force and (
            (last is None and erased_records == 0)
            or (last is not None and tuple(last) == (erased_records, fingerprint))
        ):
            return Reclaim(False, int(erased_records), reason="no new erasures")
        connection.execute("checkpoint")
        wal = _files(path)[1]
        if wal.exists() and wal.stat().st_size:
            # Never swap the file under a log that would be replayed against the new one.
            return Reclaim(False, int(erased_records), reason="the WAL could not be emptied")
        bytes_before = sum(file.stat().st_size for file in _files(path) if file.exists())
        [(database,)] = connection.execute("select current_database()").fetchall()
        connection.execute(f"attach '{compacted}' as cdp_compacting")
        connection.execute(f'copy from database "{database}" to cdp_compacting')
        connection.execute(
            f"create table if not exists cdp_compacting.{RECLAIMS} ("
            " reclaimed_at timestamp, erased_records bigint, fingerprint varchar,"
            " bytes_before bigint)"
        )
        connection.execute(
            f"insert into cdp_compacting.{RECLAIMS} values (current_timestamp::timestamp, ?, ?, ?)",
            [erased_records, fingerprint, bytes_before],
        )
        connection.execute("detach cdp_compacting")
        with compacted.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(compacted, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        connection.close()
    return Reclaim(
        True,
        int(erased_records),
        bytes_before=bytes_before,
        bytes_after=path.stat().st_size,
        seconds=time.perf_counter() - started,
    )
