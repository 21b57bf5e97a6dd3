"""Errors, split by who can fix them.

    MissionsError                      every error a tool call can end in; ``str()`` is model-facing
    ├── ConfigurationError             the server is not set up for this call (no API key, ...)
    ├── ArgumentError                  the arguments do not fit the tool's schema; no request was made
    ├── TransportError                 the API could not be reached or did not answer in time
    └── APIError                       the API answered with an error status
        ├── RedirectError              3xx: redirects are not followed (the key would go along)
        ├── BadRequestError            400 and other 4xx without a class of their own
        ├── AuthenticationError        401 / 403: the key was rejected
        ├── NotFoundError              404: the mission, run, step or event does not exist
        ├── ConflictError              409: not allowed in the current state
        ├── UnprocessableError         422: the API's validation ``detail`` entries
        ├── RateLimitError             429 (and a Retry-After past the cap)
        └── ServerError                5xx

Messages are built only from allow-listed parts: the status code, the API's ``detail``
(``detail``, ``detail[].msg``, ``message``, ``title``, ``errors[]``), the ids the caller gave and
our own words. Never from request objects, headers or bodies that are not JSON. Whatever the API
quotes back is redacted (:mod:`missions_mcp.redact`) before it is clipped, and every message is
redacted once more when the error is made, so the API key reaches no tool result or log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .redact import redact, redact_json

__all__ = [
    "APIError",
    "ArgumentError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "MissionsError",
    "NotFoundError",
    "RateLimitError",
    "RedirectError",
    "ServerError",
    "TransportError",
    "UnprocessableError",
    "api_error",
    "format_detail",
]

_MAX_DETAIL = 2000


class MissionsError(Exception):
    """Base of every error a tool call can end in. ``str(error)`` is written for the model."""

    may_be_stored: bool = False
    """A write failed after an attempt that may have reached the API: it may have been stored."""
    idempotency_key: str | None = None
    """The key of that write: repeating the call with it stores nothing twice."""

    def __init__(self, message: str = ""):
        super().__init__(redact(message))


class ConfigurationError(MissionsError):
    pass


class ArgumentError(MissionsError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid arguments; nothing was sent:\n" + "\n".join(f"- {p}" for p in problems))


class TransportError(MissionsError):
    pass


class APIError(MissionsError):
    status: int

    def __init__(self, status: int, message: str, detail: Any = None):
        self.status = status
        self.detail = redact_json(detail)
        super().__init__(message)


class RedirectError(APIError):
    pass


class BadRequestError(APIError):
    pass


class AuthenticationError(APIError):
    pass


class NotFoundError(APIError):
    pass


class ConflictError(APIError):
    pass


class UnprocessableError(APIError):
    pass


class RateLimitError(APIError):
    def __init__(self, status: int, message: str, detail: Any = None, retry_after: float | None = None):
        self.retry_after = retry_after
        super().__init__(status, message, detail)


class ServerError(APIError):
    pass


def _clip(text: str) -> str:
    """Redacted first: clipping first could cut a key in two and leave its start behind."""
    text = redact(text)
    return text if len(text) <= _MAX_DETAIL else text[:_MAX_DETAIL] + "…"


def _loc(loc: Any) -> str:
    """``["body", "steps", 0, "step_id"]`` → ``steps[0].step_id`` (the argument's name)."""
    if not isinstance(loc, list):
        return str(loc)
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "request"


def _entry(item: Mapping[str, Any]) -> str:
    """One entry of ``errors[]`` (JSON:API style): its detail, else its title, else the entry."""
    text = item.get("detail") or item.get("title") or item.get("message")
    return str(text) if text else str(dict(item))


def format_detail(detail: Any) -> str:
    """The API's ``detail`` as lines an LLM can act on (``field: message`` for 422 entries)."""
    if isinstance(detail, list):
        lines = []
        for item in detail:
            if isinstance(item, Mapping) and "msg" in item:
                lines.append(f"{_loc(item.get('loc'))}: {item['msg']}")
            elif isinstance(item, Mapping):
                lines.append(_entry(item))
            else:
                lines.append(str(item))
        return _clip("\n".join(lines))
    if isinstance(detail, Mapping):
        for key in ("detail", "message", "title"):
            if isinstance(detail.get(key), str):
                return _clip(detail[key])
        errors = detail.get("errors")
        if isinstance(errors, list):
            return _clip("\n".join(_entry(e) if isinstance(e, Mapping) else str(e) for e in errors if e))
        return ""
    if detail is None:
        return ""
    return _clip(str(detail))


def api_error(status: int, body: Any, *, what: str, retry_after: float | None = None) -> APIError:
    """The error for an API answer with an error status.

    ``body`` is the decoded JSON body (or ``None``); only its ``detail`` (or ``errors``) is read.
    ``what`` names what the call was about in the caller's own terms ("run 1234 of mission abcd").
    """
    detail = body.get("detail", body) if isinstance(body, Mapping) else None
    said = format_detail(detail)
    suffix = f"\n{said}" if said else ""
    if status in (401, 403):
        return AuthenticationError(
            status,
            f"The Missions API rejected the API key (HTTP {status}). Set a valid key in TELNYX_API_KEY "
            "(Telnyx portal → API Keys), or run with --local to use the embedded API." + suffix,
            detail,
        )
    if status == 404:
        return NotFoundError(
            status, f"Not found: {what}. Check the ids (list_missions, list_runs, get_plan).{suffix}", detail
        )
    if status == 409:
        return ConflictError(
            status,
            f"Conflict (HTTP 409) on {what}: not allowed in its current state.{suffix}\n"
            "Read its current state (get_run, get_plan) and retry with a change that fits it.",
            detail,
        )
    if status == 422:
        return UnprocessableError(
            status, f"The API rejected the arguments (HTTP 422):{suffix or ' no detail given.'}", detail
        )
    if status == 429:
        wait = f" Wait {retry_after:g} s before retrying." if retry_after is not None else " Wait, then retry."
        return RateLimitError(
            status, f"Rate limited by the Missions API (HTTP 429).{wait}{suffix}", detail, retry_after
        )
    if status >= 500:
        return ServerError(
            status,
            f"The Missions API failed (HTTP {status}) after retries. Try again shortly; "
            f"nothing suggests the arguments are wrong.{suffix}",
            detail,
        )
    return BadRequestError(status, f"The Missions API refused the request (HTTP {status}).{suffix}", detail)
