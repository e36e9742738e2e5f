"""UCI Online Retail (541,909 invoice lines of a UK online shop, 2010-12 to 2011-12) as landing.

`write_online_retail_landing` turns the raw `online_retail.csv.gz` into `shop/customers`,
`shop/orders` and `shop/order_items` landing files (every other landing table header-only), so
the whole pipeline can be built from real data. The conversion is set-based in DuckDB and
streams each table to CSV with `COPY ... TO`.

The mapping:

- A purchase is what the data set's README counts as one: an invoice line with a CustomerID,
  Quantity > 0 and UnitPrice > 0. That filter keeps 397,884 lines, 4,338 customers, 18,532
  invoices and 8,911,407.90 GBP. Cancellation invoices (InvoiceNo starting with `C`) carry
  negative quantities and adjustments have a zero or negative price, so the filter excludes
  them; the conversion checks that no kept line belongs to a cancellation invoice.
- `shop/orders`: one order per invoice with at least one kept line, status `paid`,
  subtotal = total = sum of Quantity x UnitPrice over its kept lines, summed as DECIMAL and
  rounded to 2 decimals, discount and refunded_amount 0. Four kept lines are priced 0.001, so
  the lines sum to 8,911,407.904 and the order totals to the README's 8,911,407.90. An invoice
  whose lines are stamped a minute apart is ordered at its earliest time.
- `shop/order_items`: the kept lines, numbered 1.. in file order within their invoice; sku is
  StockCode, product_name is Description (as delivered, untrimmed), quantity and unit_price as
  delivered (a few unit prices have three decimals, e.g. 0.001).
- `shop/customers`: one row per CustomerID in the file, including the few whose every line is a
  cancellation or adjustment (they have no purchase). customer_id is the integer id as text
  (`17850.0` becomes `17850`); country is the one on the customer's earliest line;
  created_at = updated_at = the customer's first invoice time.
- InvoiceDate is the shop's local time (UK, so GMT in winter and BST in summer) with no offset,
  as `YYYY-MM-DD HH:MM:SS` (the original workbook's `12/1/2010 8:26` is read too). It is
  written as `YYYY-MM-DD HH:MM:SS` without an offset, which the pipeline reads as UTC: times in
  British summer time are therefore an hour later than the true UTC instant.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from cdp import PROJECT_ROOT
from cdp.landing import LANDING_TABLES, write_csv_landing

DEFAULT_SOURCE = (
    PROJECT_ROOT.parent / "shared" / "datasets" / "online_retail" / "online_retail.csv.gz"
)
FILE_NAME = "part-00000.csv"
# Left in the output directory, so a later run may replace what an earlier one wrote.
MARKER = ".online_retail_landing"
SHOP_TABLES = ("shop/customers", "shop/orders", "shop/order_items")

RAW_COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
    "CustomerID", "Country",
)  # fmt: skip
INVOICE_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_lines_sql(source_csv_gz: Path) -> str:
    """Every raw line typed, with its position in the file (`file_row`)."""
    columns = ", ".join(f"{_literal(name)}: 'varchar'" for name in RAW_COLUMNS)
    formats = ", ".join(_literal(fmt) for fmt in INVOICE_DATE_FORMATS)
    return f"""
        create table raw_lines as
        select * from read_csv(
            {_literal(str(source_csv_gz))}, header = true, auto_detect = false,
            columns = {{{columns}}}, delim = ',', quote = '"', escape = '"'
        );

        create table lines as
        select
            rowid as file_row,
            nullif(trim(InvoiceNo), '') as invoice_no,
            StockCode as stock_code,
            Description as description,
            trim(Quantity) as quantity_text,
            try_cast(trim(Quantity) as bigint) as quantity,
            trim(UnitPrice) as unit_price_text,
            try_cast(trim(UnitPrice) as decimal(18, 4)) as unit_price,
            trim(InvoiceDate) as invoice_date_text,
            try_strptime(trim(InvoiceDate), [{formats}]) as invoiced_at,
            nullif(trim(CustomerID), '') as customer_id_text,
            nullif(regexp_extract(trim(CustomerID), '^([0-9]+)(\\.0*)?$', 1), '')
                as customer_id,
            nullif(trim(Country), '') as country
        from raw_lines;
    """


# Each check counts rows that would make the conversion wrong rather than merely odd.
CHECKS: dict[str, str] = {
    "lines without an InvoiceNo": "select count(*) from lines where invoice_no is null",
    "lines with an unreadable Quantity": "select count(*) from lines where quantity is null",
    "lines with a UnitPrice that is not a decimal with at most 4 places": """
        select count(*) from lines
        where unit_price is null
            or not regexp_matches(unit_price_text, '^-?[0-9]*(\\.[0-9]{0,4})?$')
    """,
    "lines with an unreadable InvoiceDate": "select count(*) from lines where invoiced_at is null",
    "lines with a CustomerID that is not an integer":
        "select count(*) from lines where customer_id_text is not null and customer_id is null",
    "kept lines on a cancellation invoice":
        "select count(*) from purchase_lines where invoice_no like 'C%'",
    "invoices with more than one CustomerID": """
        select count(*) from (
            select invoice_no from purchase_lines
            group by invoice_no having count(distinct customer_id) > 1
        )
    """,
}  # fmt: skip


def _check(connection: duckdb.DuckDBPyConnection, source_csv_gz: Path) -> None:
    problems = []
    for label, sql in CHECKS.items():
        [(count,)] = connection.execute(sql).fetchall()
        if count:
            problems.append(f"{count} {label}")
    if problems:
        raise ValueError(f"{source_csv_gz}: " + "; ".join(problems))


TABLES_SQL = f"""
    create table purchase_lines as
    select
        *,
        row_number() over (partition by invoice_no order by file_row) as line_number
    from lines
    where customer_id is not null and quantity > 0 and unit_price > 0;

    create table landing_order_items as
    select
        invoice_no as order_id,
        cast(line_number as varchar) as line_number,
        stock_code as sku,
        description as product_name,
        cast(null as varchar) as category,
        quantity_text as quantity,
        unit_price_text as unit_price
    from purchase_lines;

    create table landing_orders as
    select
        invoice_no as order_id,
        any_value(customer_id) as customer_id,
        cast(null as varchar) as email,
        strftime(min(invoiced_at), '{TIMESTAMP_FORMAT}') as ordered_at,
        'paid' as status,
        cast(cast(round(sum(quantity * unit_price), 2) as decimal(18, 2)) as varchar)
            as subtotal,
        '0.00' as discount,
        cast(cast(round(sum(quantity * unit_price), 2) as decimal(18, 2)) as varchar) as total,
        '0.00' as refunded_amount,
        strftime(min(invoiced_at), '{TIMESTAMP_FORMAT}') as updated_at
    from purchase_lines
    group by invoice_no;

    create table landing_customers as
    select
        customer_id,
        cast(null as varchar) as email,
        cast(null as varchar) as phone,
        cast(null as varchar) as first_name,
        cast(null as varchar) as last_name,
        first(country order by invoiced_at, file_row) as country,
        cast(null as varchar) as city,
        cast(null as varchar) as accepts_email_marketing,
        strftime(min(invoiced_at), '{TIMESTAMP_FORMAT}') as created_at,
        strftime(min(invoiced_at), '{TIMESTAMP_FORMAT}') as updated_at
    from lines
    where customer_id is not null
    group by customer_id;
"""

ORDER_BY = {
    "shop/customers": "cast(customer_id as bigint)",
    "shop/orders": "ordered_at, order_id",
    "shop/order_items": "order_id, cast(line_number as bigint)",
}


def _refuse_foreign_files(out: Path) -> None:
    """Write only into an empty directory or one this converter wrote (its files replaced)."""
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise FileExistsError(f"{out} is not empty and was not written by this converter")
    foreign = [
        path
        for table in LANDING_TABLES
        if (out / table).is_dir()
        for path in sorted((out / table).iterdir())
        if path.name != FILE_NAME
    ]
    if foreign:
        raise FileExistsError(f"{out} holds landing files of its own, e.g. {foreign[0]}")


def write_online_retail_landing(source_csv_gz: Path, out: Path) -> dict[str, int]:
    """Write the Online Retail file as landing tables under `out`; returns rows per table."""
    source_csv_gz = Path(source_csv_gz)
    out = Path(out)
    if not source_csv_gz.is_file():
        raise FileNotFoundError(source_csv_gz)
    _refuse_foreign_files(out)

    counts = dict.fromkeys(LANDING_TABLES, 0)
    with duckdb.connect(config={"preserve_insertion_order": True}) as connection:
        connection.execute("set TimeZone = 'UTC'")
        connection.execute(_read_lines_sql(source_csv_gz))
        connection.execute(TABLES_SQL)
        _check(connection, source_csv_gz)
        # Only once the data has passed its checks: header-only files for every table (an
        # earlier run's files removed first), then the shop tables over them.
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text(f"{source_csv_gz.name}\n", encoding="utf-8")
        for table in LANDING_TABLES:
            (out / table / FILE_NAME).unlink(missing_ok=True)
        write_csv_landing(out, {}, file_name=FILE_NAME)
        for table in SHOP_TABLES:
            relation = "landing_" + table.split("/")[1]
            columns = ", ".join(LANDING_TABLES[table])
            target = out / table / FILE_NAME
            connection.execute(
                f"""
                copy (select {columns} from {relation} order by {ORDER_BY[table]})
                to {_literal(str(target))} (format csv, header true, delimiter ',', quote '"')
                """
            )
            [(counts[table],)] = connection.execute(f"select count(*) from {relation}").fetchall()
    return counts
