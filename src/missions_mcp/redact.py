"""Secrets out of every text the server emits: the configured API key and any ``Bearer`` token.

One redactor for the three places text leaves the process: the error formatter (what the API
said about a failure), the client (whatever the API answers, before a tool result, view, prompt
or completion is made of it) and the log records of every logger, ours and third-party alike.

A hosted API, or a proxy in front of it, may quote the ``Authorization`` header back in an error
``detail``, an HTML page or a header; redacting at these three choke points keeps the key out
whatever the source.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

__all__ = [
    "REDACTED",
    "add_secret",
    "add_secrets_of",
    "install_log_redaction",
    "needs_redaction",
    "quiet_third_party_loggers",
    "redact",
    "redact_json",
]

REDACTED = "[redacted]"

# A bearer token: at least 8 token68 characters with a digit among them, so "the bearer of" in
# prose is left alone while keys, JWTs and opaque tokens are caught.
_BEARER = r"(?i:\b(?P<scheme>bearer)(?:\s+|%20|\+)(?=[A-Za-z0-9\-._~+/]*\d)[A-Za-z0-9\-._~+/]{8,}=*)"

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()
_secrets_raw: tuple[bytes, ...] = ()
_text_pattern: re.Pattern[str] = re.compile(_BEARER)
_bytes_pattern: re.Pattern[bytes] = re.compile(_BEARER.encode())


def _forms(secret: str) -> Iterable[str]:
    """The secret as it may be quoted back: as is and percent-encoded (in a URL or a redirect)."""
    yield secret
    for encoded in (quote(secret, safe=""), quote(secret, safe="/")):
        if encoded != secret:
            yield encoded


def add_secret(secret: str | None) -> None:
    """Redact ``secret`` from now on, in every text of this process (idempotent, thread-safe)."""
    global _secrets, _secrets_raw, _text_pattern, _bytes_pattern
    if not secret or secret in _secrets:
        return
    with _lock:
        forms = set(_secrets) | set(_forms(secret))
        ordered = tuple(sorted(forms, key=len, reverse=True))  # longest first: no partial overlap left behind
        alternatives = "|".join(re.escape(s) for s in ordered)
        text = re.compile(f"{alternatives}|{_BEARER}")
        raw = re.compile(f"{alternatives}|{_BEARER}".encode())
        _secrets, _text_pattern, _bytes_pattern = ordered, text, raw
        _secrets_raw = tuple(secret.encode("utf-8", "surrogatepass") for secret in ordered)
    install_log_redaction()


def add_secrets_of(settings: Any) -> None:
    """Redact every field of a settings dataclass that is kept out of its ``repr``: the API key, the
    bearer token MCP clients send, the introspection client's secret."""
    for spec in dataclasses.fields(settings):
        value = getattr(settings, spec.name)
        if not spec.repr and isinstance(value, str):
            add_secret(value)


def _replace(match: re.Match[str]) -> str:
    scheme = match.group("scheme")
    return f"{scheme} {REDACTED}" if scheme else REDACTED


def _may_hold(text: str) -> bool:
    """A cheap first look (substring searches): the pattern runs only on text that may need it."""
    return any(secret in text for secret in _secrets) or "bearer" in text.lower()


def redact(text: str) -> str:
    """``text`` with every known secret and every bearer token replaced by ``[redacted]``."""
    if not text or not _may_hold(text):
        return text
    return _text_pattern.sub(_replace, text)


def needs_redaction(raw: bytes) -> bool:
    """Whether a raw body may hold a secret: one appears as is, or JSON escapes could hide one."""
    if b"\\u" in raw:
        return True
    if not (any(secret in raw for secret in _secrets_raw) or b"bearer" in raw.lower()):
        return False
    return _bytes_pattern.search(raw) is not None


def redact_json(value: Any) -> Any:
    """A decoded JSON value with :func:`redact` applied to every string, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k) if isinstance(k, str) else k: redact_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    return value


# --------------------------------------------------------------------------- logging

_formatter = logging.Formatter()
_installed = False


def _redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Redact a record in place. Untouched when it holds no secret, so formatters that read
    ``record.args`` (uvicorn's access log) keep working; otherwise its string arguments are
    redacted, and if the secret came from another argument the message is formatted now."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError, KeyError):  # a bad format string: logging reports it; keep the raw parts out
        message = str(record.msg)
        record.args = None
    if _may_hold(message) and _text_pattern.search(message):
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        try:
            still = _text_pattern.search(record.getMessage()) is not None
        except (TypeError, ValueError, KeyError):
            still = True
        if still:
            record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        text = _formatter.formatException(record.exc_info)
        if _may_hold(text):
            record.exc_text = redact(text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install_log_redaction() -> None:
    """Redact every log record of this process as it is made, whatever logger and handler it meets.

    A record factory rather than a filter on the root handler: uvicorn and others install handlers
    of their own with ``propagate=False``, which a root-handler filter would never see.
    """
    global _installed
    if _installed:
        return
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _redact_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True


def quiet_third_party_loggers(level: str) -> None:
    """Keep request and response content out of the logs, even at DEBUG.

    httpcore2's DEBUG lines carry raw response headers (where a proxy may quote the key back), and
    hpack's the header tables: never below WARNING. httpx2 says one line per request (method, URL,
    status) and only at DEBUG, since a poll would flood stderr otherwise.
    """
    debug = level.upper() == "DEBUG"
    for name in ("httpcore2", "hpack", "h11", "h2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("httpx2").setLevel(logging.DEBUG if debug else logging.WARNING)
