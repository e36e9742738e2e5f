"""Secrets and personal data never reach a log: one place that knows what to hide.

Two kinds of text are hidden from every message that leaves the process (stderr, the run
log's `error` column, rejection reasons, Python logging, Dagster's event log):

- **Secrets.** Every secret is read once, by `resolve_secret`, into a `Secret` (its `str` and
  `repr` are `***`): surrounding whitespace is stripped, a value with whitespace or control
  characters inside is refused with an error naming the variable (never the value). Resolving
  registers the secret, and `redact` then hides every rendering of it that libraries produce:
  the raw and the stripped value, Python's `repr` escaping (what requests puts in an
  `InvalidHeader` message) once and twice, JSON escaping, percent-encoding (`quote`,
  `quote_plus`, either hex case), and base64, including inside `base64(user:secret)` of HTTP
  Basic auth whatever the user name (the base64 characters that depend on the secret only).
  Header-looking `Authorization: ...`/`api_key=...` values are hidden too, secret or not.
- **Personal data.** Email addresses (also `%40`-encoded) and phone-number-looking values
  (a `+`/`00` prefix with 8 to 15 digits, or 9 to 15 digits in groups; dates and decimals are
  left alone) become `***`, and a caller that knows what it sent (the engine knows the batch)
  passes those values so a vendor that echoes the request (names included) has them hidden.

`install_log_redaction()` applies `redact` to every Python log record of the process (message,
arguments, traceback) and to uncaught exceptions; the CLIs and the Dagster code install it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
import traceback
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "***"

# Values shorter than this are not hidden by the process-wide registry (they would mangle every
# message); a caller can still pass them to `redact` explicitly.
MIN_REGISTERED_LENGTH = 4
# Base64 fragments shorter than this are not used (they could match unrelated text).
_MIN_BASE64_FRAGMENT = 8
# What a recorded error or reason may hold at most, after redaction.
MAX_DETAIL_LENGTH = 500

_AUTH_HEADER = re.compile(
    r"(?i)(authorization|x-api-key|api[-_]key|access[-_]token|developer[-_]token)"
    r"(['\"]?\s*[:=]\s*['\"]?)"
    r"(?:(?:bearer|basic|token|klaviyo-api-key)\s+)?[^'\",}&\s]+"
)
# The local part starts at a token boundary, so a long token fails in linear time.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+(?:@|%40)[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+"
)
# Atomic, so a long run of digits fails in linear time.
_PHONE = re.compile(
    r"(?<![\w+.\-/])(?:\+|00)?(?>\(?\d{1,4}\)?(?:[ \-]?\(?\d{1,4}\)?){1,7})(?![\w.])"
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class SecretError(ValueError):
    """A secret that is missing or unusable; the message names the variable, never the value."""


class Secret:
    """A secret value that shows as `***` wherever it is printed; `reveal()` gives the value."""

    __slots__ = ("_value", "name")

    def __init__(self, value: str, name: str | None = None) -> None:
        self._value = value
        self.name = name
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return REDACTED

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, {REDACTED!r})" if self.name else f"Secret({REDACTED!r})"

    def __format__(self, spec: str) -> str:
        return REDACTED

    def __bool__(self) -> bool:
        return bool(self._value)


def reveal(value: Secret | str) -> str:
    """The value of a `Secret` (or of a plain string, e.g. one a test put in its place)."""
    return value.reveal() if isinstance(value, Secret) else value


def resolve_secret(
    name: str, *, what: str = "", environ: Mapping[str, str] | None = None
) -> Secret:
    """The secret in environment variable `name`, stripped and checked.

    Raises `SecretError` naming the variable (and `what` it is, e.g. "HubSpot private app
    token") when it is unset or blank, or when whitespace or a control character remains inside
    the value once the surrounding whitespace is stripped.
    """
    import os

    env = os.environ if environ is None else environ
    label = f"environment variable {name}" + (f" ({what})" if what else "")
    raw = env.get(name)
    if raw is None or not raw.strip():
        raise SecretError(f"{label} is not set")
    register_secret(raw)  # whatever else prints the raw value is covered too
    value = raw.strip()
    if any(ch.isspace() or unicodedata.category(ch).startswith("C") for ch in value):
        raise SecretError(
            f"{label} has whitespace or a control character inside its value; a secret must be"
            " a single token (the value is not shown)"
        )
    return Secret(value, name)


def register_env_secret(name: str, environ: Mapping[str, str] | None = None) -> None:
    """Register the value of environment variable `name`, if set, as a secret to hide."""
    import os

    value = (os.environ if environ is None else environ).get(name)
    if value:
        register_secret(value)


# -- the registry and the renderings of a secret ------------------------------------------------

_lock = threading.Lock()
_registered: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _escaped(value: str) -> set[str]:
    once = repr(value)[1:-1]
    forms = {value, once, repr(once)[1:-1]}
    json_once = json.dumps(value)[1:-1]
    forms |= {json_once, json.dumps(json_once)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    forms |= {value.encode("unicode_escape").decode("ascii")}
    return forms


def _percent_encoded(value: str) -> set[str]:
    forms = {quote(value, safe=""), quote(value), quote_plus(value), quote(value, safe="/:")}
    lower = {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), form) for form in forms}
    return forms | lower


def _base64_forms(value: str) -> set[str]:
    """base64 of the value, and the characters of base64(anything + value) that only it decides.

    A secret inside `base64(user ":" secret)` starts at one of three alignments; for each, the
    base64 characters covering only the secret's bits are the same whatever precedes it.
    """
    data = value.encode()
    forms = {base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode().rstrip("=")
        first = -(-8 * offset // 6)  # ceil: the first character made of the secret's bits only
        last = (8 * (offset + len(data)) - 6) // 6  # the last such character
        fragment = encoded[first : last + 1]
        if len(fragment) >= _MIN_BASE64_FRAGMENT:
            forms |= {fragment, fragment.replace("+", "-").replace("/", "_")}
    return forms


def secret_renderings(value: str) -> set[str]:
    """Every form of `value` (and of its stripped value) that may end up in a message."""
    forms: set[str] = set()
    for variant in {value, value.strip()}:
        if not variant:
            continue
        for escaped in _escaped(variant):
            forms.add(escaped)
            forms |= _percent_encoded(escaped)
        forms |= _base64_forms(variant)
    return {form for form in forms if form}


def register_secret(value: str | Secret | None) -> None:
    """Hide every rendering of `value` from everything `redact` cleans, in this process."""
    if isinstance(value, Secret):
        value = value.reveal()
    if not value or len(value.strip()) < MIN_REGISTERED_LENGTH:
        return
    global _pattern
    forms = {form for form in secret_renderings(value) if len(form) >= MIN_REGISTERED_LENGTH}
    with _lock:
        if forms <= _registered:
            return
        _registered.update(forms)
        _pattern = None


def _registry_pattern() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _registered:
            alternatives = sorted(_registered, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(form) for form in alternatives))
        return _pattern


# -- redaction -----------------------------------------------------------------------------------


def redact_secrets(text: str, secrets: Iterable[str | Secret | None] = ()) -> str:
    """`text` with every rendering of every known secret (and of `secrets`) replaced."""
    extra: set[str] = set()
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            extra |= secret_renderings(value)
    for form in sorted(extra, key=len, reverse=True):
        text = text.replace(form, REDACTED)
    pattern = _registry_pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return _AUTH_HEADER.sub(lambda match: match.group(1) + match.group(2) + REDACTED, text)


def _phone(match: re.Match[str]) -> str:
    candidate = match.group(0)
    digits = sum(ch.isdigit() for ch in candidate)
    prefixed = candidate.startswith(("+", "00"))
    if _DATE.match(candidate) or not (8 if prefixed else 9) <= digits <= 15:
        return candidate
    return REDACTED


def _known_values(values: Iterable[Any]) -> list[str]:
    found: set[str] = set()
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set):
            stack.extend(value)
        elif isinstance(value, str) and len(value.strip()) >= 2:
            found.add(value.strip())
    return sorted(found, key=len, reverse=True)


def scrub_personal_data(text: str, values: Iterable[Any] = ()) -> str:
    """`text` with emails, phone-looking numbers and the given values (e.g. the payloads that
    were sent, nested dicts and lists included) replaced by `***`."""
    for value in _known_values(values):
        text = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", REDACTED, text)
    text = _EMAIL.sub(REDACTED, text)
    return _PHONE.sub(_phone, text)


def redact(
    text: str,
    secrets: Iterable[str | Secret | None] = (),
    *,
    values: Iterable[Any] = (),
    limit: int | None = None,
) -> str:
    """`text` without secrets or personal data; cut to `limit` characters when given."""
    text = scrub_personal_data(redact_secrets(str(text), secrets), values)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def describe_error(error: BaseException, *, values: Iterable[Any] = ()) -> str:
    """`Type: message` of an exception, redacted and cut to MAX_DETAIL_LENGTH."""
    return redact(f"{type(error).__name__}: {error}", values=values, limit=MAX_DETAIL_LENGTH)


class RedactedError(RuntimeError):
    """An error whose message was redacted; raise it `from None` so no original is chained."""


# -- sinks: Python logging and uncaught exceptions --------------------------------------------


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to logging's own error handling
        return record
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


class RedactingFilter(logging.Filter):
    """A logging filter that redacts a record's message, arguments and traceback in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


_installed = False


def install_log_redaction() -> None:
    """Redact every log record this process makes, and uncaught exceptions' tracebacks.

    Idempotent. Records are redacted when they are created (a record factory), so every handler
    sees clean text, including handlers added later (Dagster's, pytest's); the root logger's
    current handlers and logging's last-resort handler also get a `RedactingFilter`.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redact_record(previous_factory(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    for handler in [*logging.getLogger().handlers, logging.lastResort]:
        if handler is not None and not any(
            isinstance(existing, RedactingFilter) for existing in handler.filters
        ):
            handler.addFilter(RedactingFilter())

    def excepthook(kind, value, tb):  # type: ignore[no-untyped-def]
        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))

    sys.excepthook = excepthook


def redact_exception(error: BaseException) -> RedactedError:
    """A `RedactedError` standing for `error` (its type and redacted message, nothing chained)."""
    redacted = RedactedError(describe_error(error))
    redacted.__suppress_context__ = True
    return redacted
