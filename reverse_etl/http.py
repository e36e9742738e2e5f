"""The one HTTP client every destination uses.

It owns what no destination should reimplement: a timeout on every call, retries for 429,
5xx and connection errors with exponential backoff and full jitter, `Retry-After` (seconds
or an HTTP date), a token-bucket rate limit and the redaction of secrets from log messages.
Sleep and both clocks are injectable so tests run instantly.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from reverse_etl.redaction import REDACTED, Secret, register_secret
from reverse_etl.redaction import redact as _redact

__all__ = ["REDACTED", "HttpClient", "RequestFailed", "RetriesExhausted", "TokenBucket", "redact"]

log = logging.getLogger(__name__)


class RetriesExhausted(RuntimeError):
    """Every attempt failed with a retryable error; the message is already redacted."""

    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        super().__init__(message)
        self.response = response


class RequestFailed(RuntimeError):
    """A request requests refused or could not send (e.g. an invalid header); redacted."""


def redact(text: str, secrets: Iterable[str | Secret] = ()) -> str:
    """`text` without secrets (every rendering) or personal data; see reverse_etl.redaction."""
    return _redact(text, secrets)


def _invalid_header(headers: Any) -> str:
    """Which header requests refused, by name only (its value is never shown)."""
    names = [
        str(name)
        for name, value in dict(headers or {}).items()
        if isinstance(value, str) and (value != value.strip() or "\n" in value or "\r" in value)
    ]
    which = f" {', '.join(names)}" if names else ""
    return (
        f"InvalidHeader: the value of header{which} has leading or trailing whitespace or a line"
        " break (value not shown)"
    )


class TokenBucket:
    """Allows `rate` requests per second on average, with bursts of at most `capacity`."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._updated = clock()

    def acquire(self) -> None:
        while True:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return
            self._sleep((1 - self._tokens) / self.rate)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), if usable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status <= 599


class HttpClient:
    """A shared `requests.Session` with timeouts, retries, rate limiting and redaction."""

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_retry_after: float = 300.0,
        rate_limit_per_second: float | None = None,
        secrets: Iterable[str | Secret] = (),
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        jitter: Callable[[], float] = random.random,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.session = session or requests.Session()
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self.secrets: list[str] = []
        for secret in secrets:
            self.add_secret(secret)
        self._sleep = sleep
        self._now = now
        self._jitter = jitter
        self._bucket = (
            TokenBucket(rate_limit_per_second, clock=clock, sleep=sleep)
            if rate_limit_per_second
            else None
        )
        self.requests_sent = 0

    def add_secret(self, secret: str | Secret | None) -> None:
        """Hide `secret` (every rendering of it) from this client's and every other message."""
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            self.secrets.append(value)
            register_secret(value)

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(attempt-1)))."""
        return self._jitter() * min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """Send a request, retrying retryable failures; other responses are returned as-is.

        Raises `RetriesExhausted` once `max_attempts` retryable failures have happened.
        """
        kwargs.setdefault("timeout", self.timeout)
        safe_url = redact(url, self.secrets)
        last_response: requests.Response | None = None
        for attempt in range(1, self.max_attempts + 1):
            if self._bucket is not None:
                self._bucket.acquire()
            self.requests_sent += 1
            wait: float | None = None
            refused: str | None = None
            response: requests.Response | None = None
            try:
                response = self.session.request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as error:
                problem = redact(f"{type(error).__name__}: {error}", self.secrets)
                last_response = None
            except requests.RequestException as error:
                # Not retryable (an invalid header or URL...): requests quotes what it refused,
                # which for a header is its value, a secret more often than not.
                if isinstance(error, requests.exceptions.InvalidHeader):
                    refused = _invalid_header(kwargs.get("headers"))
                else:
                    refused = redact(f"{type(error).__name__}: {error}", self.secrets)
            if refused is not None:  # raised outside the handler: nothing of it is chained
                raise RequestFailed(f"{method} {safe_url}: {refused}")
            if response is not None:
                if not _is_retryable_status(response.status_code):
                    return response
                last_response = response
                problem = f"HTTP {response.status_code}"
                wait = parse_retry_after(response.headers.get("Retry-After"), self._now())
                if wait is not None:
                    wait = min(wait, self.max_retry_after)
            if attempt == self.max_attempts:
                message = f"{method} {safe_url} failed after {attempt} attempts: {problem}"
                raise RetriesExhausted(message, last_response)
            delay = wait if wait is not None else self.backoff(attempt)
            log.warning(
                "%s %s attempt %d/%d: %s; retrying in %.2fs",
                method,
                safe_url,
                attempt,
                self.max_attempts,
                problem,
                delay,
            )
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self.session.close()
