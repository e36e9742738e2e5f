"""After a Dagster build that applied new erasures, rewrite the DuckDB file, as `cdp run` does.

dbt masks an erased person's rows, but DuckDB keeps the old row versions in the blocks it
freed, so their bytes stay in the file until it is rewritten (cdp/erasure.py,
docs/adr/0008-erasure-reaches-every-copy.md). The dbt asset calls `reclaim_after_build` at the
end of its step: dbt has finished writing, and no check or sync of the run has opened the file
yet, so the rewrite never races them; a blocking check that fails later does not keep erased
values in the file. The rewrite itself is cdp.erasure's (nothing is rewritten without new
erasures); a file held by another process is left for the next run, with a warning.

On Spark nothing is rewritten: the storage is the platform's (Spark rewrites a table's Parquet
files on every build), and the step logs why.
"""

from __future__ import annotations

import logging

import duckdb

from cdp.erasure import Reclaim, reclaim_erased_data
from cdp.pipeline import Settings


def reclaim_after_build(settings: Settings, log: logging.Logger) -> Reclaim | None:
    """Rewrite the DuckDB file when the erased records grew since its last rewrite.

    Returns what cdp.erasure did, or None when nothing was tried (Spark, or the file in use).
    """
    if settings.target == "spark":
        log.info(
            "erasure: no file rewrite on Spark (every build rewrites the tables' Parquet files;"
            " time travel, snapshots and trash are the platform's to purge)"
        )
        return None
    try:
        outcome = reclaim_erased_data(settings.duckdb_path)
    except duckdb.IOException as error:  # another process holds the file: retried next run
        log.warning(
            f"erasure: the warehouse file was not rewritten ({type(error).__name__}: in use?);"
            " erased people's old row versions stay in its freed blocks until the next run or"
            " `cdp reclaim-erased`"
        )
        return None
    if outcome.reclaimed:
        log.info(
            f"erasure: warehouse file rewritten without freed blocks ({outcome.erased_records:,}"
            f" erased records; {outcome.bytes_before:,} -> {outcome.bytes_after:,} bytes,"
            f" {outcome.seconds:.1f}s)"
        )
    else:
        log.info(f"erasure: nothing rewritten ({outcome.reason})")
    return outcome
