"""Landing intake: take each landed file in on its own, before dbt reads anything.

Every entry point that builds the warehouse (`cdp run`, `cdp dbt`, the Dagster jobs, the
tests' and benchmarks' builds) calls `take_in()` first (docs/adr/0007-landing-intake.md). It
walks `<raw_dir>/<source>/<table>/` and, for every file it has not taken in before:

- reads it with DuckDB on its own (CSV, TSV or Parquet, gzip or not, extensions in any case),
  with the delimiter sniffed from the header and the configured encoding
  (`CDP_LANDING_ENCODING`, or `CDP_LANDING_ENCODING_<SOURCE>_<TABLE>` for one table);
- checks the header against the table's contract (cdp/landing.py): a file missing a
  required column, or whose header is another table's, is quarantined whole with the reason;
- records the lines DuckDB cannot read (DuckDB's rejects tables) with file, line number and
  reason, never the line's content; a file that cannot be read at all is quarantined whole;
- writes the accepted rows, every contract column as text plus `_landed_file` (the file's
  path relative to the landing root), as one Parquet file under the intake directory, which
  the dbt sources read on DuckDB and on Spark.

A file is identified by its path relative to the landing root and its content hash, so
moving the landing root changes nothing. An appended file (its old content is a prefix of the
new) is taken in again only for its new lines, as a new part `<path>#<n>` that ranks after
the earlier parts; a file rewritten in place is taken in whole as a new part and reported.
The manifest (`landing_intake.files`) lists every file seen with its status and reason, and
`landing_intake.rejects` every line or file that was quarantined; the landing audit counts
both.
"""

from __future__ import annotations

import csv
import fcntl
import gzip
import hashlib
import io
import json
import os
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cdp.landing import LANDING_TABLES, header_problem, match_header

MANIFEST_VERSION = 1
INTAKE_SCHEMA = "landing_intake"
CSV_SUFFIXES = (".csv", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
COMPRESSED_SUFFIXES = {".gz": "gzip", ".zst": "zstd"}
DELIMITERS = (",", ";", "\t", "|")
DEFAULT_ENCODING = "utf-8"
SUPPORTED_ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
    "utf-16": "utf-16",
    "utf16": "utf-16",
}
NESTED_TYPE_MARKERS = ("STRUCT", "MAP", "UNION", "[]", "[", "LIST")

# DuckDB's rejects error types, as the reason a line is quarantined for.
REJECT_REASONS = {
    "CAST": "a value could not be read",
    "MISSING COLUMNS": "fewer fields than the header",
    "TOO MANY COLUMNS": "more fields than the header",
    "UNQUOTED VALUE": "a quoted field followed by other characters",
    "LINE SIZE OVER MAXIMUM": "line longer than the maximum line size",
    "INVALID ENCODING": "not valid in the file's encoding",
    "INVALID UNICODE": "not valid in the file's encoding",
}

REJECT_COLUMNS = {
    "landing_table": "VARCHAR",
    "landed_file": "VARCHAR",
    "line_number": "BIGINT",
    "reason": "VARCHAR",
}
FILE_COLUMNS = {
    "landing_table": "VARCHAR",
    "path": "VARCHAR",
    "landed_file": "VARCHAR",
    "content_hash": "VARCHAR",
    "bytes": "BIGINT",
    "rows_taken_in": "BIGINT",
    "rejected_lines": "BIGINT",
    "status": "VARCHAR",
    "reason": "VARCHAR",
    "taken_in_at": "VARCHAR",
}


class IntakeError(RuntimeError):
    """The intake itself cannot run (not a bad file: those are quarantined)."""


@dataclass(frozen=True)
class IntakeSummary:
    accepted: int
    quarantined: int
    skipped: int
    rejected_lines: int
    unchanged: int
    seconds: float

    def line(self) -> str:
        return (
            f"landing intake: {self.accepted} file(s) taken in, {self.quarantined} quarantined, "
            f"{self.skipped} skipped, {self.rejected_lines} line(s) rejected, "
            f"{self.unchanged} unchanged ({self.seconds:.1f}s)"
        )


ENCODING_VARIABLE = "CDP_LANDING_ENCODING"


def encoding_variable(table: str) -> str:
    """The variable setting one table's encoding: CDP_LANDING_ENCODING_SHOP_CUSTOMERS."""
    return f"{ENCODING_VARIABLE}_" + table.replace("/", "_").upper()


def encoding_for(table: str, environ: Mapping[str, str] | None = None) -> str:
    """The configured encoding of a table's files: per table, else per deployment, else UTF-8."""
    env = os.environ if environ is None else environ
    return (
        env.get(encoding_variable(table)) or env.get(ENCODING_VARIABLE) or DEFAULT_ENCODING
    ).strip()


def file_kind(path: Path) -> tuple[str | None, str | None, str]:
    """(format, compression, reason): format is 'csv' or 'parquet', or None with the reason."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if path.name.startswith((".", "_")):
        return None, None, "hidden or marker file (name starts with '.' or '_')"
    compression = None
    if suffixes and suffixes[-1] in COMPRESSED_SUFFIXES:
        compression = COMPRESSED_SUFFIXES[suffixes[-1]]
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in CSV_SUFFIXES:
        return "csv", compression, ""
    if last in PARQUET_SUFFIXES and compression is None:
        return "parquet", None, ""
    shown = "".join(path.suffixes) or "no extension"
    return None, None, f"unsupported file type ({shown}): not CSV, TSV or Parquet"


def is_landing_file(path: Path) -> bool:
    return path.is_file() and file_kind(path)[0] is not None


def landing_paths(raw_dir: Path) -> Iterator[tuple[str, Path]]:
    """(table, path) of every file directly under a landing table's folder, sorted."""
    for table in LANDING_TABLES:
        folder = raw_dir / table
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.is_file():
                    yield table, path


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class _Scan:
    """What one pass over a file's bytes found."""

    content_hash: str
    size: int
    lines: int
    blank_lines: int
    ends_with_newline: bool
    prefix_hash: str | None  # hash of the first `prefix_bytes` bytes, when asked for
    # Valid UTF-8 with at least one non-ASCII character: text Latin-1 would misread ("Ã©").
    utf8_non_ascii: bool = False


def _scan(path: Path, prefix_bytes: int | None = None) -> _Scan:
    digest = hashlib.sha256()
    prefix_hash = None
    size = lines = blank = 0
    last = b""
    non_ascii = False
    valid_utf8 = True
    with path.open("rb") as handle:
        for line in handle:
            digest.update(line)
            if valid_utf8 and not line.isascii():
                # A line break never falls inside a UTF-8 sequence, so lines decode alone.
                non_ascii = True
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    valid_utf8 = False
            size += len(line)
            if line.endswith(b"\n"):
                lines += 1
            if line in (b"\n", b"\r\n"):
                blank += 1
            last = line
            if prefix_bytes is not None and size == prefix_bytes:
                prefix_hash = digest.copy().hexdigest()
    if last and not last.endswith(b"\n"):
        lines += 1
    return _Scan(
        digest.hexdigest(),
        size,
        lines,
        blank,
        last.endswith(b"\n"),
        prefix_hash,
        non_ascii and valid_utf8,
    )


def _decode_header(raw: bytes, encoding: str) -> str:
    python_encoding = {"utf-16": "utf-16"}.get(encoding, encoding)
    text = raw.decode(python_encoding, errors="replace")
    return text.lstrip("\ufeff").rstrip("\r\n")


def _header_line(path: Path, compression: str | None) -> bytes:
    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rb") as handle:  # type: ignore[operator]
        return handle.readline(1 << 20)


def _sniff(header: str, table: str) -> tuple[str, list[str]]:
    """The delimiter that splits the header into the most contract columns, and the fields."""
    best: tuple[int, str, list[str]] | None = None
    for delimiter in DELIMITERS:
        fields = next(csv.reader(io.StringIO(header), delimiter=delimiter), [])
        score = len(match_header(table, fields)[0])
        if best is None or score > best[0]:
            best = (score, delimiter, fields)
    assert best is not None
    return best[1], best[2]


class Intake:
    """The intake directory: normalized data, rejects, the manifest; one process at a time."""

    def __init__(self, raw_dir: Path, intake_dir: Path, environ: Mapping[str, str] | None = None):
        self.raw_dir = raw_dir
        self.root = intake_dir
        self.data = intake_dir / "data"
        self.environ = os.environ if environ is None else environ
        self.manifest_path = intake_dir / "manifest.json"
        self.state: dict = {"version": MANIFEST_VERSION, "files": {}}
        self.connection = None

    # ---- layout -------------------------------------------------------------------------
    def table_dir(self, table: str) -> Path:
        return self.data / table

    def rejects_dir(self) -> Path:
        return self.data / INTAKE_SCHEMA / "rejects"

    def files_dir(self) -> Path:
        return self.data / INTAKE_SCHEMA / "files"

    @staticmethod
    def part_name(landed_file: str) -> str:
        return hashlib.sha256(landed_file.encode()).hexdigest()[:24] + ".parquet"

    # ---- state --------------------------------------------------------------------------
    def load(self) -> None:
        if self.manifest_path.exists():
            state = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            if state.get("version") == MANIFEST_VERSION:
                self.state = state

    def save(self) -> None:
        temporary = self.manifest_path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.state, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(temporary, self.manifest_path)

    def _connect(self):  # type: ignore[no-untyped-def]
        import duckdb

        if self.connection is None:
            self.connection = duckdb.connect()
            self.connection.execute("set preserve_insertion_order = false")
        return self.connection

    def _empty_parquet(self, path: Path, columns: Mapping[str, str]) -> None:
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        select = ", ".join(
            f"cast(null as {kind}) as {_identifier(name)}" for name, kind in columns.items()
        )
        self._write(f"select {select} where 1 = 0", path)

    def _write(self, select_sql: str, path: Path) -> int:
        temporary = path.with_name(path.name + ".tmp")
        written = (
            self._connect()
            .execute(f"copy ({select_sql}) to {_sql_string(str(temporary))} (format parquet)")
            .fetchone()
        )
        os.replace(temporary, path)
        return int(written[0]) if written else 0

    def _write_rejects(self, landed_file: str, rows: list[tuple]) -> None:
        """rows: (landing_table, landed_file, line_number, reason)."""
        path = self.rejects_dir() / self.part_name(landed_file)
        if not rows:
            path.unlink(missing_ok=True)
            return
        values = ", ".join(
            f"({_sql_string(t)}, {_sql_string(f)}, "
            f"{'null' if n is None else int(n)}::bigint, {_sql_string(r)})"
            for t, f, n, r in rows
        )
        self.rejects_dir().mkdir(parents=True, exist_ok=True)
        self._write(
            "select * from (values " + values + ") as r(landing_table, landed_file, "
            "line_number, reason)",
            path,
        )

    # ---- one file -------------------------------------------------------------------------
    def _read_csv(
        self,
        table: str,
        source: Path,
        landed_file: str,
        compression: str | None,
        header_raw: bytes,
        line_offset: int,
        target: Path,
        encoding: str,
    ) -> tuple[int, list[tuple], str | None]:
        """Read one CSV part into `target`: (rows, rejects, reason it was quarantined whole)."""
        header = _decode_header(header_raw, encoding)
        delimiter, fields = _sniff(header, table)
        problem = header_problem(table, fields)
        if problem:
            return 0, [], problem
        mapping, _ = match_header(table, fields)
        names = [f"c{index}" for index in range(len(fields))]
        columns = "{" + ", ".join(f"{_sql_string(name)}: 'VARCHAR'" for name in names) + "}"
        options = (
            f"header = true, auto_detect = false, columns = {columns}, "
            f"delim = {_sql_string(delimiter)}, quote = '\"', escape = '\"', "
            "null_padding = true, strict_mode = true, parallel = false, "
            f"encoding = {_sql_string(encoding)}, "
            f"compression = {_sql_string(compression or 'none')}, "
            "store_rejects = true, rejects_table = 'intake_rejects', "
            "rejects_scan = 'intake_scans'"
        )
        selected = ", ".join(
            (f"c{mapping[column]}" if column in mapping else "cast(null as varchar)")
            + f" as {_identifier(column)}"
            for column in LANDING_TABLES[table]
        )
        connection = self._connect()

        def read(path: Path, compressed: str | None) -> tuple[int, list[tuple]]:
            connection.execute("drop table if exists intake_rejects")
            connection.execute("drop table if exists intake_scans")
            read_options = options.replace(
                f"compression = {_sql_string(compression or 'none')}",
                f"compression = {_sql_string(compressed or 'none')}",
            )
            written = self._write(
                f"select {selected}, {_sql_string(landed_file)} as _landed_file "
                f"from read_csv({_sql_string(str(path))}, {read_options})",
                target,
            )
            return written, connection.execute(
                "select line, error_type from intake_rejects order by line"
            ).fetchall()

        try:
            rows, found = read(source, compression)
        except Exception:
            # DuckDB's strict parser refuses a file whose lines end in both \r\n and \n (a
            # file appended to by another tool): read it again with every \r\n as \n.
            normalized = self.root / "tmp" / (self.part_name(landed_file) + ".lf.csv")
            try:
                _normalize_newlines(source, compression, normalized)
                rows, found = read(normalized, None)
            except Exception as error:
                target.unlink(missing_ok=True)
                return 0, [], "unreadable file: " + _safe_reason(error)
            finally:
                normalized.unlink(missing_ok=True)
        rejects: dict[int | None, tuple] = {}
        for line, error_type in found:
            # DuckDB reports each bad field of a line; the line is quarantined once.
            number = int(line) + line_offset if line is not None else None
            kind = str(error_type).upper()
            reason = REJECT_REASONS.get(kind, kind.lower()) + (
                f" (read as {encoding})" if "ENCOD" in kind or "UNICODE" in kind else ""
            )
            rejects.setdefault(number, (table, landed_file, number, reason))
        return rows, list(rejects.values()), None

    def _lines_read(self, target: Path) -> int:
        """Physical lines the rows of a part span (a quoted line break adds one)."""
        connection = self._connect()
        described = connection.execute(
            f"describe select * from read_parquet({_sql_string(str(target))})"
        ).fetchall()
        parts = [
            f"coalesce(length({_identifier(name)}) - length(replace({_identifier(name)}, "
            "chr(10), '')), 0)"
            for name, *_ in described
            if name != "_landed_file"
        ]
        found = connection.execute(
            f"select count(*) + coalesce(sum({' + '.join(parts) or '0'}), 0) "
            f"from read_parquet({_sql_string(str(target))})"
        ).fetchone()
        return int(found[0]) if found else 0

    def _read_parquet(
        self, table: str, source: Path, landed_file: str, target: Path
    ) -> tuple[int, list[tuple], str | None]:
        connection = self._connect()
        try:
            described = connection.execute(
                f"describe select * from read_parquet({_sql_string(str(source))})"
            ).fetchall()
        except Exception as error:
            return 0, [], "unreadable file: " + _safe_reason(error)
        fields = [row[0] for row in described]
        types = {row[0]: str(row[1]).upper() for row in described}
        problem = header_problem(table, fields)
        if problem:
            return 0, [], problem
        mapping, _ = match_header(table, fields)

        def as_text(column: str) -> str:
            if column not in mapping:
                return f"cast(null as varchar) as {_identifier(column)}"
            name = fields[mapping[column]]
            if any(marker in types[name] for marker in NESTED_TYPE_MARKERS):
                expression = f"cast(to_json({_identifier(name)}) as varchar)"
            else:
                expression = f"cast({_identifier(name)} as varchar)"
            return f"{expression} as {_identifier(column)}"

        selected = ", ".join(as_text(column) for column in LANDING_TABLES[table])
        try:
            rows = self._write(
                f"select {selected}, {_sql_string(landed_file)} as _landed_file "
                f"from read_parquet({_sql_string(str(source))})",
                target,
            )
        except Exception as error:
            target.unlink(missing_ok=True)
            return 0, [], "unreadable file: " + _safe_reason(error)
        return rows, [], None

    def take_in_file(self, table: str, path: Path) -> dict:
        """Take one landed file in (or nothing when it is unchanged); its manifest entry."""
        relative = path.relative_to(self.raw_dir).as_posix()
        previous = self.state["files"].get(relative)
        stat = path.stat()
        fmt, compression, skip_reason = file_kind(path)
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        if fmt is None:
            entry = {
                "table": table,
                "status": "skipped",
                "reason": skip_reason,
                "bytes": stat.st_size,
                "parts": [],
            }
            self.state["files"][relative] = entry
            return entry
        configured = encoding_for(table, self.environ)
        encoding = SUPPORTED_ENCODINGS.get(configured.lower())
        # A file whose lines were not valid in the encoding it was read in is read again once
        # the configured encoding is another (the fix for them): nothing else would re-read it.
        reread = bool(
            previous
            and fmt == "csv"
            and encoding is not None
            and (
                previous.get("encoding_rejected_lines", 0) > 0
                or str(previous.get("reason") or "").startswith("unsupported encoding")
            )
            and previous.get("configured_encoding") not in (None, encoding)
        )
        if (
            previous
            and not reread
            and previous.get("status") != "skipped"
            and previous.get("bytes") == stat.st_size
            and previous.get("mtime_ns") == stat.st_mtime_ns
        ):
            previous["unchanged"] = True
            return previous
        plain_csv = fmt == "csv" and compression is None
        prefix = previous.get("bytes") if previous and previous.get("parts") else None
        scan = _scan(path, prefix if plain_csv else None)
        if previous and not reread and previous.get("content_hash") == scan.content_hash:
            previous["mtime_ns"] = stat.st_mtime_ns
            previous["unchanged"] = True
            return previous
        parts = list(previous.get("parts", [])) if previous else []
        appended = bool(
            previous
            and not reread
            and plain_csv
            and parts
            and previous.get("ends_with_newline")
            and scan.prefix_hash is not None
            and scan.prefix_hash == previous.get("content_hash")
        )
        number = len(parts) + 1
        landed_file = relative if number == 1 else f"{relative}#{number}"
        target = self.table_dir(table) / self.part_name(landed_file)
        target.parent.mkdir(parents=True, exist_ok=True)
        notes = []
        line_offset = 0
        rows, rejects, reason = 0, [], None
        read_as = encoding
        if fmt == "parquet":
            rows, rejects, reason = self._read_parquet(table, path, landed_file, target)
        elif encoding is None:
            reason = f"unsupported encoding {configured!r} (use utf-8, latin-1 or utf-16)"
        else:
            header_raw = _header_line(path, compression)
            source = path
            temporary = None
            if appended:
                temporary = self.root / "tmp" / (self.part_name(landed_file) + ".csv")
                temporary.parent.mkdir(parents=True, exist_ok=True)
                with path.open("rb") as reader, temporary.open("wb") as writer:
                    writer.write(header_raw if header_raw.endswith(b"\n") else header_raw + b"\n")
                    reader.seek(int(previous["bytes"]))
                    shutil.copyfileobj(reader, writer)
                source = temporary
                line_offset = int(previous.get("lines", 0)) - 1
                notes.append(
                    f"appended after {previous['bytes']} bytes: only the new lines taken in"
                )
            elif reread:
                assert previous is not None
                notes.append(
                    f"read in {previous['configured_encoding']} before, the configured "
                    f"encoding is now {encoding}: taken in again whole as a new part"
                )
            elif previous and parts:
                notes.append("rewritten in place: taken in again whole as a new part")
            if encoding == "latin-1" and plain_csv and scan.utf8_non_ascii:
                # Latin-1 accepts every byte, so a UTF-8 file read in it would be garbled
                # quietly ("RenÃ©e"): text that is valid UTF-8 is read as UTF-8.
                read_as = "utf-8"
                notes.append(
                    "read as utf-8 although latin-1 is configured: the file is valid UTF-8 "
                    "with non-ASCII text"
                )
            try:
                rows, rejects, reason = self._read_csv(
                    table,
                    source,
                    landed_file,
                    compression,
                    header_raw,
                    line_offset,
                    target,
                    read_as,
                )
                if reason is None and compression is None:
                    # DuckDB can end a file early on an unterminated quote without a reject:
                    # every line must be a row, a rejected line, the header or blank.
                    read = self._lines_read(target) + len(rejects)
                    expected = scan.lines - line_offset - 1 - scan.blank_lines
                    if appended:
                        expected = (scan.lines - int(previous.get("lines", 0))) - (
                            scan.blank_lines - int(previous.get("blank_lines", 0))
                        )
                    if read < expected:
                        target.unlink(missing_ok=True)
                        rows, rejects = 0, []
                        reason = (
                            f"unreadable file: {expected - read} line(s) not read after line "
                            f"{line_offset + 1 + read} (an unterminated quote?)"
                        )
            finally:
                if temporary is not None:
                    temporary.unlink(missing_ok=True)
        if reason is not None:
            target.unlink(missing_ok=True)
            rejects = [(table, landed_file, None, reason)]
            status = "quarantined"
        else:
            status = "accepted"
        self._write_rejects(landed_file, rejects)
        note = "; ".join(notes)
        encoding_rejects = sum(
            1 for reject in rejects if reject[3].startswith(REJECT_REASONS["INVALID ENCODING"])
        )
        if appended and previous:
            encoding_rejects += int(previous.get("encoding_rejected_lines", 0))
        parts.append(
            {
                "landed_file": landed_file,
                "status": status,
                "reason": reason or note,
                "rows": rows,
                "rejected_lines": sum(1 for reject in rejects if reject[2] is not None),
                "taken_in_at": now,
            }
        )
        entry = {
            "table": table,
            "status": status,
            "reason": reason or note,
            "content_hash": scan.content_hash,
            "bytes": scan.size,
            "lines": scan.lines,
            "blank_lines": scan.blank_lines,
            "ends_with_newline": scan.ends_with_newline,
            "mtime_ns": stat.st_mtime_ns,
            "configured_encoding": (encoding or configured) if fmt == "csv" else None,
            "encoding_rejected_lines": encoding_rejects,
            "parts": parts,
        }
        self.state["files"][relative] = entry
        return entry

    # ---- the whole landing folder ------------------------------------------------------------
    def run(self) -> IntakeSummary:
        started = time.perf_counter()
        self.load()
        seen: set[str] = set()
        accepted = quarantined = skipped = rejected = unchanged = 0
        for table in LANDING_TABLES:
            self._empty_parquet(
                self.table_dir(table) / "empty.parquet",
                {**dict.fromkeys(LANDING_TABLES[table], "VARCHAR"), "_landed_file": "VARCHAR"},
            )
        self._empty_parquet(self.rejects_dir() / "empty.parquet", REJECT_COLUMNS)
        for table, path in landing_paths(self.raw_dir):
            relative = path.relative_to(self.raw_dir).as_posix()
            seen.add(relative)
            entry = self.take_in_file(table, path)
            if entry.pop("unchanged", False):
                unchanged += 1
            elif entry["status"] == "accepted":
                accepted += 1
                rejected += entry["parts"][-1]["rejected_lines"]
            elif entry["status"] == "quarantined":
                quarantined += 1
            else:
                skipped += 1
            self.save()
        for relative, entry in self.state["files"].items():
            # A file no longer in the landing folder keeps the rows it landed (they were
            # counted); a skipped one is simply forgotten.
            entry["present"] = relative in seen
        self.state["files"] = {
            relative: entry
            for relative, entry in self.state["files"].items()
            if entry["present"] or entry["status"] != "skipped"
        }
        self._remove_orphans()
        self._write_files_table()
        self.save()
        return IntakeSummary(
            accepted, quarantined, skipped, rejected, unchanged, time.perf_counter() - started
        )

    def _remove_orphans(self) -> None:
        """Parts no manifest entry names (a run that stopped between writing and recording)."""
        known = {
            self.part_name(part["landed_file"])
            for entry in self.state["files"].values()
            for part in entry["parts"]
        }
        for table in [*LANDING_TABLES, f"{INTAKE_SCHEMA}/rejects"]:
            folder = self.data / table
            for path in folder.glob("*.parquet*"):
                # Only files: Spark's table over the folder leaves a directory named after the
                # glob (`*.parquet`) there.
                if path.is_file() and path.name != "empty.parquet" and path.name not in known:
                    path.unlink()

    def _write_files_table(self) -> None:
        rows = []
        for relative, entry in sorted(self.state["files"].items()):
            parts = entry["parts"] or [
                {
                    "landed_file": None,
                    "status": entry["status"],
                    "reason": entry["reason"],
                    "rows": 0,
                    "rejected_lines": 0,
                    "taken_in_at": None,
                }
            ]
            for part in parts:
                reason = part["reason"]
                if not entry.get("present", True):
                    reason = (reason + "; " if reason else "") + "no longer in the landing folder"
                rows.append(
                    (
                        entry["table"],
                        relative,
                        part["landed_file"],
                        entry.get("content_hash"),
                        entry.get("bytes"),
                        part["rows"],
                        part["rejected_lines"],
                        part["status"],
                        reason or None,
                        part["taken_in_at"],
                    )
                )
        self.files_dir().mkdir(parents=True, exist_ok=True)
        path = self.files_dir() / "files.parquet"
        if not rows:
            path.unlink(missing_ok=True)
            self._empty_parquet(path, FILE_COLUMNS)
            return

        def literal(value: object, kind: str) -> str:
            if value is None:
                return f"cast(null as {kind})"
            if kind == "BIGINT":
                return f"{int(value)}::bigint"  # type: ignore[call-overload]
            return _sql_string(str(value))

        values = ", ".join(
            "("
            + ", ".join(
                literal(value, kind) for value, kind in zip(row, FILE_COLUMNS.values(), strict=True)
            )
            + ")"
            for row in rows
        )
        self._write(
            f"select * from (values {values}) as f({', '.join(FILE_COLUMNS)})",
            path,
        )


def _normalize_newlines(source: Path, compression: str | None, target: Path) -> None:
    """Copy a CSV file with every \r\n line ending as \n (streaming, decompressed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if compression == "gzip" else open
    with opener(source, "rb") as reader, target.open("wb") as writer:  # type: ignore[operator]
        carry = b""
        while chunk := reader.read(1 << 20):
            chunk = carry + chunk
            carry = b"\r" if chunk.endswith(b"\r") else b""
            if carry:
                chunk = chunk[:-1]
            writer.write(chunk.replace(b"\r\n", b"\n"))
        writer.write(carry)


def _safe_reason(error: BaseException) -> str:
    """DuckDB's message without any quoted line content (personal data never reaches a log)."""
    message = str(error).split("\n", 1)[0]
    for marker in ("Original Line", "original line", "Line:"):
        message = message.split(marker, 1)[0]
    return message.strip().rstrip(":")[:300]


@contextmanager
def _locked(intake_dir: Path) -> Iterator[None]:
    intake_dir.mkdir(parents=True, exist_ok=True)
    with (intake_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def take_in(
    raw_dir: Path,
    intake_dir: Path,
    *,
    full_refresh: bool = False,
    environ: Mapping[str, str] | None = None,
) -> IntakeSummary:
    """Take in every new or changed landed file; `full_refresh` starts the intake afresh."""
    with _locked(intake_dir):
        if full_refresh:
            shutil.rmtree(intake_dir / "data", ignore_errors=True)
            (intake_dir / "manifest.json").unlink(missing_ok=True)
        intake = Intake(raw_dir, intake_dir, environ)
        try:
            return intake.run()
        finally:
            if intake.connection is not None:
                intake.connection.close()
