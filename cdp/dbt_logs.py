"""What dbt prints and writes keeps the reason of an error, never the row it was about.

A database error can quote the data it failed on: DuckDB's CSV reader adds the offending line
("Original Line: 2,alice@example.com,Alice,..."), a cast quotes the value ("Could not convert
string 'Alice' to INT32"), a JSON error the input ("Input: {...}"). dbt prints that text, writes
it to logs/dbt.log and to run_results.json, and dagster-dbt copies it into the event log.

dbt passes every line it logs (console and file, text and JSON) through a scrubber, the one it
uses for `DBT_ENV_SECRET_*` values; `install_dbt_log_scrubbing()` extends that scrubber with
`scrub_dbt_text`, and `scrub_run_results()` cleans the `message` (and every other text) of the
results in run_results.json once dbt has written it. `run_dbt` (cdp/pipeline.py) does both in
process; Dagster runs dbt through the `cdp-dbt` executable (`main` below), which does the same
around dbt's own command line. The rules, in order:

1. `Original Line: ...` keeps its label and loses the line (and the lines a quoted line break
   carried into it, up to DuckDB's next explanation line);
2. `Input: ...` (JSON errors) loses the input;
3. a quoted value after `string`, `value`, `key` or `format:` becomes `"***"`;
4. a line that a caret line (`   ^`) points into becomes `***`, except dbt's `LINE n:` SQL;
5. secrets, emails and phone-looking values anywhere become `***` (reverse_etl.redaction).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from reverse_etl.redaction import REDACTED, redact

NOT_SHOWN = "(not shown)"

# The lines DuckDB writes after an "Original Line:"; anything else before them was part of it.
_EXPLANATION = (
    r"\s*$|\s*(?:Error when|Expected Number|Value with|Maximum line|Invalid unicode|Column |"
    r"Possible|This type|\* |\w+ = |The Column|CSV Error|Consider|Please|Parser options|LINE \d)"
)
_ORIGINAL_LINE = re.compile(rf"(?m)^(\s*Original Line:)[^\n]*(?:\n(?!{_EXPLANATION})[^\n]*)*")
_INPUT = re.compile(r"(?m)\b(Input:)[ \t]*\S[^\n]*")
# Not after a dot: `rules.all[1].value 'two'` names a field of a segment's rule (git, not data).
_QUOTED_VALUE = re.compile(
    r"""(?i)(?<!\.)\b(string|value|key|format:)(\s+)(["'])(?:(?!\3)[^\n])*\3"""
)
_CARET = re.compile(r"^\s*\^+\s*$")
_SQL_LINE = re.compile(r"^\s*LINE \d+:")


def scrub_dbt_text(text: str) -> str:
    """`text` without the row content a database error quoted (see the module's rules)."""
    if not text:
        return text
    text = _ORIGINAL_LINE.sub(lambda match: f"{match.group(1)} {NOT_SHOWN}", text)
    text = _INPUT.sub(lambda match: f"{match.group(1)} {NOT_SHOWN}", text)
    text = _QUOTED_VALUE.sub(
        lambda match: f"{match.group(1)}{match.group(2)}{match.group(3)}{REDACTED}{match.group(3)}",
        text,
    )
    lines = text.split("\n")
    for index in range(1, len(lines)):
        above = lines[index - 1]
        if _CARET.match(lines[index]) and above.strip() and not _SQL_LINE.match(above):
            lines[index - 1] = REDACTED
    return redact("\n".join(lines))


def scrub_value(value: Any) -> Any:
    """Every string inside a JSON-like value scrubbed; the structure is kept."""
    if isinstance(value, str):
        return scrub_dbt_text(value)
    if isinstance(value, dict):
        return {key: scrub_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_value(item) for item in value]
    return value


def scrub_log_line(line: str) -> str:
    """One line dbt logs: a JSON event (`--log-format json`) field by field, else as text."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            event = json.loads(stripped)
        except ValueError:
            pass
        else:
            return json.dumps(scrub_value(event), sort_keys=True)
    return scrub_dbt_text(line)


_lock = threading.Lock()
_installed = False


def install_dbt_log_scrubbing() -> None:
    """Make dbt's log scrubber (console and file loggers, text and JSON) scrub row content.

    dbt builds its loggers at the start of every invocation with `scrubber=env_scrubber`, read
    from these two modules; both names are replaced by a scrubber that runs dbt's own first.
    """
    global _installed
    with _lock:
        if _installed:
            return
        import dbt.events.logging as dbt_logging
        import dbt_common.events.functions as dbt_functions

        original = dbt_functions.env_scrubber

        def scrubber(message: str) -> str:
            return scrub_log_line(original(message))

        dbt_functions.env_scrubber = scrubber
        dbt_logging.env_scrubber = scrubber
        _installed = True


def scrub_run_results(target_path: Path) -> None:
    """Scrub every text of the results in `target_path`/run_results.json, if it exists."""
    path = Path(target_path) / "run_results.json"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        return
    scrubbed = dict(document, results=scrub_value(document["results"]))
    if scrubbed != document:
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(scrubbed), encoding="utf-8")
        temporary.replace(path)


def target_path(args: list[str], project_dir: Path | None = None) -> Path:
    """Where dbt writes its artifacts for `args`: --target-path, DBT_TARGET_PATH, or target/."""
    for index, arg in enumerate(args):
        if arg == "--target-path" and index + 1 < len(args):
            chosen = Path(args[index + 1])
            break
        if arg.startswith("--target-path="):
            chosen = Path(arg.split("=", 1)[1])
            break
    else:
        chosen = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    if chosen.is_absolute():
        return chosen
    for index, arg in enumerate(args):
        if arg == "--project-dir" and index + 1 < len(args):
            project_dir = Path(args[index + 1])
    project = project_dir or Path(os.environ.get("DBT_PROJECT_DIR") or ".")
    return project / chosen


def main() -> None:
    """`cdp-dbt ARGS`: dbt's own command line, with its logs and run_results.json scrubbed.

    Dagster (orchestration/dbt.py) runs dbt through this, so what dagster-dbt reads from dbt's
    output, shows in the event log and copies to the compute logs is already clean.
    """
    from dbt.cli.main import cli

    install_dbt_log_scrubbing()
    args = sys.argv[1:]
    try:
        cli(args, standalone_mode=True)
    finally:
        scrub_run_results(target_path(args))
