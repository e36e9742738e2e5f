"""The event collector: Segment's HTTP Tracking API in front of the durable event log.

Clients written for Segment (analytics-python, RudderStack's SDKs, analytics.js, plain HTTP)
send here by changing only the host. Endpoints: `POST /v1/track`, `/v1/identify`, `/v1/page`,
`/v1/screen`, `/v1/group`, `/v1/alias`, `/v1/batch` (and `/v1/import`, its older name);
`GET /health` for readiness.

- The write key (`CDP_WRITE_KEY`) is the HTTP Basic user name, or `writeKey` in the body, as
  Segment accepts both; without a configured key every request is accepted (`cdp stream`
  allows that on a loopback host only).
- Limits as Segment's: 32 KB per message, 500 KB per batch request; larger gets 400.
- Every message needs `userId` or `anonymousId`; `track` needs `event`, `group` `groupId`,
  `alias` `previousId` and `userId`. `messageId` is generated when absent, `timestamp`
  defaults to the time the collector received the message, and a client clock that is off
  is corrected the way Segment does it: with `sentAt`, `timestamp` becomes
  `receivedAt - (sentAt - timestamp)` and the client's value is kept as `originalTimestamp`.
- 200 `{"success": true}` means every message of the request is in the event log on disk.
  Concurrent requests are committed together (group commit: one write and one fsync for
  all of them), and no request is answered before its fsync.
- A bad request gets 400 (401 for the write key) with `{"success": false, "code", "message"}`,
  the body Segment's clients read. In a batch the valid messages are kept and each bad one
  is listed by index with its reason (`rejected`); the answer is then 400 so the client
  knows. Every rejected message is kept in the reject log (`rejects/*.jsonl`, mode 0600)
  and never written to the application log, which names reasons and counts only.
- More pending work than the bound, a log that cannot be written (disk full) or a
  collector shutting down: 503 with `Retry-After`, and nothing of the request is accepted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import gzip
import hmac
import json
import logging
import os
import shutil
import threading
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cdp.stream.eventlog import EventLog

logger = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
CALL_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# Kept of a request body that could not be read as messages (too large, not JSON).
REJECT_PAYLOAD_BYTES = 64 * 1024


class Unavailable(Exception):
    """The request cannot be made durable now (overload, disk, shutdown): answer 503."""

    def __init__(self, reason: str, retry_after: int = 1):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Invalid(Exception):
    """A message or request that cannot be accepted; the reason is safe to log."""

    def __init__(self, reason: str, code: str = "invalid_request"):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.payload: Any = None  # what of the request is kept in the reject log


# ---- validation ---------------------------------------------------------------------------


def _identifier(message: Mapping[str, Any], field: str) -> str | None:
    value = message.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Invalid(f"{field} must be a string")
    text = str(value).strip()
    return text or None


def _object(message: Mapping[str, Any], field: str) -> None:
    value = message.get(field)
    if value is not None and not isinstance(value, dict):
        raise Invalid(f"{field} must be an object")


def _string(message: Mapping[str, Any], field: str) -> None:
    value = message.get(field)
    if value is not None and not isinstance(value, str):
        raise Invalid(f"{field} must be a string")


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise Invalid(f"{field} must be an ISO 8601 string")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{field} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def validate_message(
    call: str,
    message: Any,
    received_at: datetime,
    batch_sent_at: Any = None,
) -> dict[str, Any]:
    """The message as it goes into the log, or Invalid with the reason.

    Segment's spelling (camelCase) is kept; `messageId`, `timestamp` and `receivedAt` are
    always present afterwards.
    """
    if not isinstance(message, dict):
        raise Invalid("a message must be a JSON object")
    if call not in CALL_TYPES:
        raise Invalid(f"type must be one of {', '.join(CALL_TYPES)}")
    cleaned = dict(message)
    cleaned["type"] = call
    user_id = _identifier(message, "userId")
    anonymous_id = _identifier(message, "anonymousId")
    if user_id is None and anonymous_id is None:
        raise Invalid("userId or anonymousId is required")
    for field, value in (("userId", user_id), ("anonymousId", anonymous_id)):
        if value is None:
            cleaned.pop(field, None)
        else:
            cleaned[field] = value
    for field in ("context", "integrations", "properties", "traits"):
        _object(message, field)
    for field in ("name", "category"):
        _string(message, field)
    if call == "track":
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            raise Invalid("track needs an event name (event)")
    elif call == "group":
        group_id = _identifier(message, "groupId")
        if group_id is None:
            raise Invalid("group needs a groupId")
        cleaned["groupId"] = group_id
    elif call == "alias":
        previous_id = _identifier(message, "previousId")
        if previous_id is None:
            raise Invalid("alias needs a previousId")
        if user_id is None:
            raise Invalid("alias needs a userId")
        cleaned["previousId"] = previous_id
    message_id = message.get("messageId")
    if message_id is None or message_id == "":
        cleaned["messageId"] = str(uuid.uuid4())
    elif not isinstance(message_id, str):
        raise Invalid("messageId must be a string")
    received = _iso(received_at)
    cleaned["receivedAt"] = received
    if message.get("timestamp") is None:
        cleaned["timestamp"] = received
    else:
        timestamp = _time(message["timestamp"], "timestamp")
        sent_value = message.get("sentAt", batch_sent_at)
        if sent_value is not None:
            sent_at = _time(sent_value, "sentAt")
            cleaned["originalTimestamp"] = message["timestamp"]
            timestamp = received_at - (sent_at - timestamp)
        cleaned["timestamp"] = _iso(timestamp)
    if message.get("sentAt") is not None:
        _time(message["sentAt"], "sentAt")
    size = len(orjson.dumps(cleaned, default=str))
    if size > MAX_MESSAGE_BYTES:
        raise Invalid(f"message is {size} bytes, over the {MAX_MESSAGE_BYTES} byte limit")
    return cleaned


# ---- the reject log -----------------------------------------------------------------------


class RejectLog:
    """Rejected messages with their reason, one JSON line each, in files only the owner reads.

    `rejects/<UTC date>.jsonl` under the stream directory: `received_at`, `endpoint`,
    `reason`, `payload` (the message as sent, or the first 64 KB of a body that was not
    JSON or was over the size limit).
    """

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self.count = 0

    def write(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        path = self.directory / f"{day}.jsonl"
        data = "".join(
            json.dumps(record, separators=(",", ":"), default=str) + "\n" for record in records
        ).encode()
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.fchmod(descriptor, 0o600)
                os.write(descriptor, data)
            finally:
                os.close(descriptor)
            self.count += len(records)


# ---- group commit -------------------------------------------------------------------------


@dataclass
class _Pending:
    entries: list[tuple[str, dict[str, Any]]]
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


def _resolve(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the request went away (client disconnect); nothing to answer
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class GroupCommitter:
    """Appends the messages of concurrent requests to the log together: one fsync for many.

    Requests wait on a future; one thread takes everything pending, appends it in one call
    and answers each request with its offsets (or the error). At most `max_pending`
    messages wait or are being written; beyond that a request is refused (Unavailable),
    not queued, so memory stays bounded under any load. Below `min_free_bytes` of free disk
    nothing more is accepted.
    """

    def __init__(
        self,
        log: EventLog,
        *,
        max_pending: int = 50_000,
        min_free_bytes: int = 64 * 1024 * 1024,
    ):
        self.log = log
        self.max_pending = max_pending
        self.min_free_bytes = min_free_bytes
        self._condition = threading.Condition()
        self._queue: list[_Pending] = []
        self._pending = 0
        self._closed = False
        self.committed = 0
        self.commits = 0
        self._thread = threading.Thread(target=self._run, name="event-log-commit", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    async def commit(self, entries: list[tuple[str, dict[str, Any]]]) -> range:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._condition:
            if self._closed:
                raise Unavailable("the collector is shutting down", retry_after=5)
            if self._pending + len(entries) > self.max_pending:
                raise Unavailable("too many messages waiting to be written", retry_after=1)
            self._pending += len(entries)
            self._queue.append(_Pending(entries, future, loop))
            self._condition.notify()
        return await future

    def _disk_has_room(self) -> bool:
        directory = self.log.directory
        while not directory.exists() and directory != directory.parent:
            directory = directory.parent  # the log's folder is made at the first append
        try:
            return shutil.disk_usage(directory).free >= self.min_free_bytes
        except OSError:
            return False

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._queue and not self._closed:
                    self._condition.wait()
                if not self._queue and self._closed:
                    return
                taken, self._queue = self._queue, []
            entries = [entry for pending in taken for entry in pending.entries]
            error: BaseException | None = None
            offsets: range | None = None
            if not self._disk_has_room():
                error = Unavailable("not enough free disk for the event log", retry_after=30)
            else:
                try:
                    offsets = self.log.append(entries)
                except OSError as failure:
                    logger.error("event log append failed: %s", type(failure).__name__)
                    error = Unavailable("the event log cannot be written", retry_after=30)
            start = offsets.start if offsets is not None else 0
            for pending in taken:
                result = range(start, start + len(pending.entries))
                start += len(pending.entries)
                pending.loop.call_soon_threadsafe(_resolve, pending.future, result, error)
            with self._condition:
                self._pending -= len(entries)
                if offsets is not None:
                    self.committed += len(entries)
                    self.commits += 1

    def close(self) -> None:
        """Refuse new work, finish what is pending, stop the thread."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join()


# ---- the HTTP application -----------------------------------------------------------------


def _error(status: int, reason: str, code: str = "invalid_request", **extra: Any) -> JSONResponse:
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
    body = {"success": False, "code": code, "message": reason, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def _without_write_key(payload: Any) -> Any:
    """A rejected payload as kept: the write key (a secret) taken out of it."""
    if isinstance(payload, dict) and "writeKey" in payload:
        return {key: value for key, value in payload.items() if key != "writeKey"}
    return payload


def _basic_user(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0]


class Collector:
    """The Starlette app and what it writes to: the log (via group commit) and the reject log."""

    def __init__(
        self,
        log: EventLog,
        reject_dir: Path,
        *,
        write_key: str | None = None,
        max_pending: int = 50_000,
        min_free_bytes: int = 64 * 1024 * 1024,
    ):
        self.log = log
        self.rejects = RejectLog(reject_dir)
        self.write_key = write_key or None
        self.committer = GroupCommitter(log, max_pending=max_pending, min_free_bytes=min_free_bytes)
        self.accepted = 0
        self.refused = 0
        routes = [Route("/health", self.health, methods=["GET"])]
        for call in (*CALL_TYPES, "batch", "import"):
            routes.append(Route(f"/v1/{call}", self._endpoint(call), methods=["POST"]))
        self.app = Starlette(routes=routes)

    def close(self) -> None:
        self.committer.close()

    # -- helpers

    def _reject(self, endpoint: str, received_at: datetime, items: list[tuple[str, Any]]) -> None:
        """Keep rejected messages (reason, payload) in the reject log; log reasons and counts."""
        self.rejects.write(
            [
                {
                    "received_at": received_at.isoformat(),
                    "endpoint": endpoint,
                    "reason": reason,
                    "payload": _without_write_key(payload),
                }
                for reason, payload in items
            ]
        )
        reasons: dict[str, int] = {}
        for reason, _payload in items:
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, count in reasons.items():
            logger.warning("rejected %d message(s) on /v1/%s: %s", count, endpoint, reason)

    def _authorized(self, request: Request, body: Any) -> bool:
        if self.write_key is None:
            return True
        candidates = [_basic_user(request.headers.get("authorization"))]
        if isinstance(body, dict) and isinstance(body.get("writeKey"), str):
            candidates.append(body["writeKey"])
        return any(
            candidate is not None
            and hmac.compare_digest(candidate.encode(), self.write_key.encode())
            for candidate in candidates
        )

    async def _read_body(self, request: Request, limit: int) -> bytes:
        """The request body (decompressed), or Invalid; over the limit, reading stops there and
        the start of the body is kept on the error (`payload`) for the reject log."""
        compressed = request.headers.get("content-encoding") not in (None, "", "identity")
        # a compressed body is smaller than what it holds; this bounds reading it
        read_limit = 2 * limit + 1024 if compressed else limit
        declared = request.headers.get("content-length")
        declared_size = f"{declared} bytes, " if declared and declared.isdigit() else ""
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            chunks.append(chunk)
            if size > read_limit:
                invalid = Invalid(
                    f"request is {declared_size}over the {limit} byte limit", "too_large"
                )
                prefix = b"".join(chunks)[:REJECT_PAYLOAD_BYTES]
                invalid.payload = prefix.decode("utf-8", errors="replace")
                raise invalid
        data = b"".join(chunks)
        encoding = (request.headers.get("content-encoding") or "").strip().lower()
        if encoding in ("gzip", "x-gzip", "deflate"):
            try:
                inflater = (
                    zlib.decompressobj(wbits=31) if encoding != "deflate" else zlib.decompressobj()
                )
                data = inflater.decompress(data, limit + 1)
            except (zlib.error, gzip.BadGzipFile, EOFError):
                raise Invalid("the body is not valid gzip", "invalid_encoding") from None
            if len(data) <= limit and not inflater.eof:
                raise Invalid("the gzip body is truncated", "invalid_encoding")
        elif encoding not in ("", "identity"):
            raise Invalid(f"unsupported Content-Encoding {encoding}", "invalid_encoding")
        if len(data) > limit:
            raise Invalid(f"request is over the {limit} byte limit", "too_large")
        return data

    def _endpoint(self, endpoint: str):
        async def handle(request: Request) -> JSONResponse:
            return await self.handle(endpoint, request)

        return handle

    # -- requests

    def counters(self) -> dict[str, int]:
        """What the collector did since it started (the heartbeat, GET /health)."""
        return {
            "end_offset": self.log.end_offset(),
            "pending": self.committer.pending,
            "commits": self.committer.commits,
            "accepted": self.accepted,
            "rejected": self.rejects.count,
        }

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", **self.counters()})

    async def handle(self, endpoint: str, request: Request) -> JSONResponse:
        received_at = datetime.now(UTC)
        is_batch = endpoint in ("batch", "import")
        limit = MAX_BATCH_BYTES if is_batch else MAX_MESSAGE_BYTES
        try:
            raw = await self._read_body(request, limit)
        except ClientDisconnect:
            return _error(400, "the client went away before the body was read")
        except Invalid as invalid:
            self._reject(endpoint, received_at, [(invalid.reason, invalid.payload)])
            return _error(400, invalid.reason, invalid.code)
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            text = raw[:REJECT_PAYLOAD_BYTES].decode("utf-8", errors="replace")
            if not self._authorized(request, None):
                return _error(401, "invalid write key", "unauthorized")
            self._reject(endpoint, received_at, [("invalid JSON", text)])
            return _error(400, "invalid JSON")
        if not self._authorized(request, body):
            # not kept: whoever sent it is not allowed to write, not even to the reject log
            logger.warning("refused a request on /v1/%s: invalid write key", endpoint)
            return _error(401, "invalid write key", "unauthorized")
        if not isinstance(body, dict):
            self._reject(endpoint, received_at, [("the body must be a JSON object", body)])
            return _error(400, "the body must be a JSON object")

        accepted: list[tuple[str, dict[str, Any]]] = []
        rejected: list[tuple[int, str, Any]] = []
        if is_batch:
            batch = body.get("batch")
            if not isinstance(batch, list):
                self._reject(endpoint, received_at, [("batch must be a list", body)])
                return _error(400, "batch must be a list of messages")
            items = list(enumerate(batch))
        else:
            items = [(0, {**body, "type": endpoint})]
        for index, message in items:
            call = message.get("type") if isinstance(message, dict) else None
            try:
                cleaned = validate_message(call, message, received_at, body.get("sentAt"))
            except Invalid as invalid:
                rejected.append((index, invalid.reason, message))
                continue
            cleaned.pop("writeKey", None)
            accepted.append((call, cleaned))

        if accepted:
            try:
                await self.committer.commit(accepted)
            except Unavailable as unavailable:
                self.refused += len(accepted)
                logger.warning(
                    "answered 503 to %d message(s): %s", len(accepted), unavailable.reason
                )
                return _error(
                    503, unavailable.reason, "unavailable", retry_after=unavailable.retry_after
                )
            self.accepted += len(accepted)
        if rejected:
            self._reject(
                endpoint, received_at, [(reason, payload) for _i, reason, payload in rejected]
            )
            if not is_batch:
                return _error(400, rejected[0][1])
            return _error(
                400,
                f"{len(rejected)} of {len(items)} message(s) rejected",
                accepted=len(accepted),
                rejected=[{"index": index, "reason": reason} for index, reason, _p in rejected],
            )
        return JSONResponse({"success": True})
