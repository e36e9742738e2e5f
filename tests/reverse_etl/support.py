"""Helpers the reverse-ETL tests share: the members warehouse, its desired rows, and routing
a local HTTP server to a fake API."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from pytest_httpserver import HTTPServer

from reverse_etl.warehouse import DuckDBWarehouse


def vip_warehouse(tmp_path: Path | None, count: int) -> DuckDBWarehouse:
    """`segments.seg_vip` of `count` people: every 7th a holdout, every 5th without consent;
    `core.customers` says nobody is erased yet.

    In a DuckDB file under `tmp_path`, or in memory without one.
    """
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb") if tmp_path else ":memory:")
    connection.execute("create schema segments")
    connection.execute("create schema core")
    connection.execute(
        f"""
        create table segments.seg_vip as
        select
            printf('c%03d', n) as customer_id,
            n % 7 = 3 as is_holdout,
            n % 5 <> 4 as has_consent,
            'Person' || n || '@Example.com' as email,
            '+31 6 ' || (10000000 + n) as phone,
            'First' || n as first_name,
            'Last' || n as last_name,
            'Amsterdam' as city,
            '1017 CE' as zip,
            'NL' as country,
        from range({int(count)}) as numbers(n)
        """
    )
    connection.execute(
        "create table core.customers as"
        " select customer_id, false as is_erased from segments.seg_vip"
    )
    return DuckDBWarehouse(connection)


def desired_rows(warehouse: DuckDBWarehouse) -> dict[str, str]:
    """customer id -> email of the members a destination should hold: consented, not
    holdout, not erased."""
    rows = warehouse.fetchall(
        """
        select s.customer_id, s.email from segments.seg_vip as s
        inner join core.customers as c using (customer_id)
        where s.has_consent and not s.is_holdout and not c.is_erased
        """
    )
    return dict(rows)


def serve(server: HTTPServer, handle) -> str:
    """Route every request of `server` to `handle`; returns the server's base URL."""
    server.clear()
    server.expect_request(re.compile(r"^/.*")).respond_with_handler(handle)
    return f"http://127.0.0.1:{server.port}"
