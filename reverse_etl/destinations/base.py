"""What the engine hands a destination and what it expects back, and the bases destinations
are built on.

- `Destination`: the protocol the engine calls (`send`) and the capabilities every
  destination declares (`max_batch_size`, `rate_limit_per_second`, `supports_erase`,
  `secrets`); the engine reads them and never branches on a destination's type.
- `DestinationOptions`: the config base with the fields every destination repeats; a vendor
  config redeclares a field only to set its own default or limit.
- `HttpDestinationOptions`: plus the `credentials` the config names (options
  holding an environment variable's name), resolved by `resolve_credentials`.
- `HttpDestination`: owns the resolved `Credentials`, the HTTP client (retries, rate limit,
  redaction of the credentials), the dispatch on operation (`upsert`, `remove`, `erase`) and
  the request count of each batch. A vendor module only builds requests and reads answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from reverse_etl.http import HttpClient
from reverse_etl.redaction import Secret, SecretError, resolve_secret
from reverse_etl.results import ADD, CHANGE, ERASE, REMOVE, Batch, BatchResult, Record

__all__ = [
    "AsyncJobOptions",
    "Batch",
    "BatchResult",
    "Credential",
    "Credentials",
    "Destination",
    "DestinationError",
    "DestinationOptions",
    "HttpDestination",
    "HttpDestinationOptions",
    "Record",
    "resolve_credentials",
]

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class DestinationError(RuntimeError):
    """The destination refused a whole batch; the run stops and nothing of it is committed."""


def env_secret(name: str, what: str = "") -> Secret:
    """The secret in environment variable `name` (stripped, checked, registered for redaction).

    Raises DestinationError naming the variable, never its value, when it is unset or unusable.
    """
    try:
        return resolve_secret(name, what=what)
    except SecretError as error:
        raise DestinationError(str(error)) from None


def body_summary(response: Any) -> str:
    """A response body without known error fields, described by size and type, never shown.

    A vendor's error body may echo the request (emails, names): an error keeps the status,
    the vendor's error code and reason text (each destination extracts its known fields), and
    the rest of the body only as this description.
    """
    kind = (response.headers.get("Content-Type") or "").split(";")[0].strip() or "untyped"
    return f"({len(response.content or b'')}-byte {kind} body not shown)"


# The fields of a generic JSON error body worth keeping: codes and reason texts.
GENERIC_ERROR_FIELDS = (
    "code",
    "error_code",
    "status",
    "type",
    "title",
    "error",
    "message",
    "reason",
    "detail",
    "error_description",
)


def generic_error_detail(response: Any) -> str:
    """Codes and reasons from a JSON error body (`{"error": ..., "message": ...}`, also under
    `error` or in an `errors` list); else `body_summary`. Nested request data is never kept."""
    document = json_object(response.text if response.content else None)
    sources: list[dict[str, Any]] = [document]
    for nested in (document.get("error"), document.get("errors")):
        if isinstance(nested, dict):
            sources.append(nested)
        elif isinstance(nested, list):
            sources.extend(item for item in nested[:5] if isinstance(item, dict))
    parts: list[str] = []
    for source in sources:
        for name in GENERIC_ERROR_FIELDS:
            value = source.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                text = f"{name}={value}" if name in ("code", "error_code", "status") else str(value)
                if text not in parts:
                    parts.append(text)
    return "; ".join(parts) if parts else body_summary(response)


class Destination(Protocol):
    """Sends batches, and declares what it can do.

    `supports_erase`: the destination has a deletion API, so an `erase` is more than a
    removal; without one the base sends an erase as a removal. `secrets`: every credential it
    holds, hidden from whatever the engine records. `max_batch_size` caps the sync's
    `batch_size`.
    """

    max_batch_size: int
    rate_limit_per_second: float | None
    supports_erase: bool

    @property
    def secrets(self) -> list[str]: ...

    def send(self, batch: Batch) -> BatchResult: ...


class DestinationOptions(BaseModel):
    """The fields every destination config has; extra fields are refused."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(default=1000, ge=1)
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    timeout_seconds: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)


@dataclass(frozen=True)
class Credential:
    """A secret a destination needs: `option` is the config field naming its environment
    variable; `what` describes it in the error when it is missing."""

    name: str
    option: str
    what: str = ""


class HttpDestinationOptions(DestinationOptions):
    """The config of an HTTP destination: the common fields and the credentials it names."""

    # The secrets this destination needs, by the options that name their variables.
    credentials: ClassVar[tuple[Credential, ...]] = ()


class AsyncJobOptions(HttpDestinationOptions):
    """An HTTP destination whose writes are jobs it polls until they finish (`poll`); a job
    still running after `max_poll_seconds` fails the batch, which goes out again next run."""

    poll_interval_seconds: float = Field(default=5.0, gt=0)
    max_poll_seconds: float = Field(default=3600.0, gt=0)


def lowercase_email(value: Any) -> str | None:
    """An email trimmed and lower-cased (as list vendors store it); None when empty."""
    if value is None:
        return None
    text = str(value).strip().lower()
    return text or None


class Credentials(Mapping[str, Secret]):
    """A destination's resolved secrets, by credential name (typed `Secret`s: never shown)."""

    def __init__(self, secrets: Mapping[str, Secret]) -> None:
        self._secrets = dict(secrets)

    def __getitem__(self, name: str) -> Secret:
        return self._secrets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._secrets)

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"Credentials({', '.join(self._secrets)})"


def resolve_credentials(config: HttpDestinationOptions) -> Credentials:
    """Every credential `config` declares, read from the environment variable its option names
    (stripped, checked, registered for redaction). A missing or unusable one raises
    DestinationError naming the variable, never its value."""
    return Credentials(
        {
            credential.name: env_secret(getattr(config, credential.option), credential.what)
            for credential in type(config).credentials
        }
    )


class HttpDestination:
    """The base of a destination behind an HTTP API; see the module docstring.

    Subclasses set `supports_erase` and implement `upsert` (add and change) and `remove`, or
    `take_out` (the removal, with `erase` true for an erasure) in place of `remove` and
    `erase`; each returns the batch's `BatchResult` (its `requests` are
    counted here). `response_hooks` are added to the client's session (e.g. to mark a vendor's
    throttling answer as a 429). The engine resolves the credentials once and passes them;
    without them (a test building a destination by hand) they are resolved here.
    """

    supports_erase: ClassVar[bool] = False
    response_hooks: ClassVar[tuple[Callable[..., Any], ...]] = ()

    def __init__(
        self,
        config: HttpDestinationOptions,
        client: HttpClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        *,
        credentials: Credentials | None = None,
    ) -> None:
        self.config = config
        self.sleep = sleep  # between polls of a vendor's asynchronous job
        self.credentials = credentials if credentials is not None else resolve_credentials(config)
        self.max_batch_size = config.max_batch_size
        self.rate_limit_per_second = config.rate_limit_per_second
        self.client = client or HttpClient(
            timeout=config.timeout_seconds,
            max_attempts=config.max_attempts,
            rate_limit_per_second=config.rate_limit_per_second,
        )
        for secret in self.credentials.values():
            self.client.add_secret(secret)
        for hook in self.response_hooks:
            self.client.session.hooks["response"].append(hook)

    @property
    def secrets(self) -> list[str]:
        return self.client.secrets

    def send(self, batch: Batch) -> BatchResult:
        before = self.client.requests_sent
        if batch.operation in (ADD, CHANGE):
            result = self.upsert(batch)
        elif batch.operation == REMOVE:
            result = self.remove(batch)
        elif batch.operation == ERASE:
            result = self.erase(batch) if self.supports_erase else self.remove(batch)
        else:
            raise DestinationError(f"unknown operation {batch.operation!r}")
        result.requests = self.client.requests_sent - before
        return result

    def upsert(self, batch: Batch) -> BatchResult:
        raise NotImplementedError

    def remove(self, batch: Batch) -> BatchResult:
        return self.take_out(batch, erase=False)

    def erase(self, batch: Batch) -> BatchResult:
        """Remove, then delete through the destination's deletion API (`supports_erase`)."""
        return self.take_out(batch, erase=True)

    def take_out(self, batch: Batch, *, erase: bool) -> BatchResult:
        raise NotImplementedError

    def poll(
        self,
        what: str,
        check: Callable[[], tuple[bool, Any, str]],
        *,
        interval: float,
        max_seconds: float,
    ) -> Any:
        """Call `check` every `interval` seconds until it says (True, value, status); return
        the value. DestinationError once `max_seconds` have passed (the batch goes out again
        on the next run)."""
        waited = 0.0
        while True:
            finished, value, status = check()
            if finished:
                return value
            if waited >= max_seconds:
                raise DestinationError(f"{what} still {status} after {waited:.0f}s")
            self.sleep(interval)
            waited += interval


def mark_as_429(response: Any, original_header: str, retry_after: int | None) -> None:
    """Make a vendor's throttling answer a 429 for the shared client's retry (with
    `Retry-After` when the vendor said how long, unless it set one), keeping its own status
    in `original_header`. For a `response_hooks` entry."""
    response.headers[original_header] = str(response.status_code)
    response.status_code = 429
    if retry_after and "Retry-After" not in response.headers:
        response.headers["Retry-After"] = str(retry_after)


def upsert_in_chunks(
    records: list[Record],
    item_for: Callable[[Record], Any],
    send_chunk: Callable[[list[Any], list[str], BatchResult], None],
    *,
    max_items: int,
    max_bytes: int,
) -> BatchResult:
    """Build each record's item (`item_for` raising ValueError rejects the record with that
    reason, before any request), then send them in chunks of at most `max_items` whose JSON
    stays under `max_bytes`; `send_chunk(items, their record keys, result)` fills `result`."""
    result = BatchResult()
    items: list[Any] = []
    keys: list[str] = []
    for record in records:
        try:
            items.append(item_for(record))
        except ValueError as problem:
            result.rejected[record.record_key] = str(problem)
            continue
        keys.append(record.record_key)
    position = 0
    for chunk in chunks_within(items, max_items, max_bytes):
        send_chunk(chunk, keys[position : position + len(chunk)], result)
        position += len(chunk)
    return result


def moved_ids(records: list[Record], result: BatchResult) -> list[str]:
    """The destination ids acknowledged records had before this batch, where the batch
    acknowledged them under another id (a changed email made a new contact)."""
    return [
        record.destination_id
        for record in records
        if record.destination_id
        and record.record_key in result.acknowledged
        and result.acknowledged[record.record_key] != record.destination_id
    ]


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def chunks_within(items: list[Any], max_items: int, max_bytes: int) -> Iterator[list[Any]]:
    """Consecutive chunks of at most `max_items` whose JSON stays under `max_bytes`."""
    chunk: list[Any] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":")).encode()) + 1
        if chunk and (len(chunk) == max_items or size + item_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def compact_json(value: dict[str, Any]) -> str:
    """Canonical JSON text (sorted keys, no spaces), e.g. hashes kept as a destination id."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def json_object(value: str | None) -> dict[str, Any]:
    """The JSON object in `value`, or {} when it is empty, not JSON or not an object."""
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
