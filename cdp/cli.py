"""The `cdp` command line: generate sample data, run the pipeline, inspect results."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def main() -> None:
    """Composable customer data platform."""


@main.command()
@click.option("--people", type=click.IntRange(min=1), required=True, help="Number of real people.")
@click.option("--seed", type=int, default=42, show_default=True, help="Random seed.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Landing directory to write (<source>/<table>/*.csv|parquet).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
)
@click.option(
    "--truth",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the ground truth (default: <out>/_truth).",
)
@click.option(
    "--drop",
    type=click.IntRange(min=1),
    default=None,
    help="Write later drop number K (new files) instead of the initial load.",
)
def generate(
    people: int, seed: int, out: Path, fmt: str, truth: Path | None, drop: int | None
) -> None:
    """Write every landing table with realistic mess, plus the ground truth."""
    from cdp.generator import generate_drop, generate_landing

    truth_dir = truth if truth is not None else out / "_truth"
    if drop is None:
        summary = generate_landing(people=people, seed=seed, out=out, fmt=fmt, truth_dir=truth_dir)
    else:
        summary = generate_drop(
            people=people, seed=seed, out=out, fmt=fmt, truth_dir=truth_dir, drop=drop
        )
    for table, rows in summary.items():
        click.echo(f"{table:<28} {rows:>12,} rows")


if __name__ == "__main__":
    main()
