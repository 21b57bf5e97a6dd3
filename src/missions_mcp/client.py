"""The async HTTP client of the Missions API.

One pooled ``httpx2.AsyncClient`` per server, built lazily on the first call (so a missing API key
is a clear tool error, not a dead server). Every call of an :class:`~missions_mcp.catalogue.Operation`
goes through :meth:`MissionsClient.call`: arguments are validated against the operation's model,
the request is built from the catalogue entry, and retries, idempotency and error mapping happen
here, for the hosted API and the embedded one alike.
"""

from __future__ import annotations

import email.utils
import gc
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import httpx2
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from . import __version__
from .catalogue import FOUND_BY, ID_NOUNS, OPERATIONS, Operation
from .config import Settings
from .errors import (
    ArgumentError,
    ConfigurationError,
    MissionsError,
    RateLimitError,
    RedirectError,
    ServerError,
    TransportError,
    api_error,
)
from .models import NULL_IS_ABSENT
from .params import IDEMPOTENCY_KEY, check_idempotency_key, fields_at
from .redact import add_secrets_of, needs_redaction, redact_json

__all__ = [
    "ApiResult",
    "MissionsClient",
    "ParsedCall",
    "build_request",
    "describe_target",
    "parse_arguments",
    "parse_call",
]

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


@dataclass(frozen=True, slots=True)
class ApiResult:
    status: int
    data: Any
    """The decoded JSON body, or ``None`` for ``204 No Content``."""


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    method: str
    path: str
    """The path below the base URL, ids percent-encoded."""
    query: dict[str, Any]
    body: Any
    """The JSON body, or ``None`` when the operation sends none."""


# --------------------------------------------------------------------------- arguments → request


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "arguments"


@dataclass(frozen=True, slots=True)
class ParsedCall:
    """A tool call's arguments, validated: the operation's model and the caller's idempotency key."""

    args: BaseModel
    idempotency_key: str | None = None
    """The key the caller gave a write (``idempotency_key``), or ``None``: the client makes one."""


def _problems(op: Operation, exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False, include_input=False):
        where = _field_path(err["loc"])
        if err["type"] == "extra_forbidden" and len(err["loc"]) > 1:  # inside an object: name its own fields
            valid = ", ".join(fields_at(op.params, err["loc"][:-1]))
            problems.append(f"{where}: unknown field; this object takes: {valid}")
        elif err["type"] == "extra_forbidden":
            valid = ", ".join(op.input_schema.get("properties", op.params.model_fields))
            problems.append(f"{where}: unknown argument; this tool takes: {valid}")
        elif err["type"] == "missing":
            problems.append(f"{where}: required, missing")
        elif err["type"] == "uuid_parsing":
            problems.append(f"{where}: must be a UUID like 182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e{_finding(where)}")
        else:
            problems.append(f"{where}: {err['msg']}")
    return problems


def parse_call(op: Operation, arguments: Mapping[str, Any] | None) -> ParsedCall:
    """Validate tool arguments; :class:`ArgumentError` names each bad field, and nothing is sent.

    Every write takes ``idempotency_key``: it travels as the ``Idempotency-Key`` header (and in the
    body where the contract has the field, as ``log_event`` does), so it is checked here as a header
    value must be, whichever tool it came with.
    """
    raw = dict(arguments or {})
    problems: list[str] = []
    key = None
    if not op.read_only and raw.get(IDEMPOTENCY_KEY) is not None:
        try:
            key = check_idempotency_key(raw[IDEMPOTENCY_KEY])
        except ValueError as exc:
            problems.append(f"{IDEMPOTENCY_KEY}: {exc}")
    if (not op.read_only and IDEMPOTENCY_KEY not in op.params.model_fields) or problems:
        raw.pop(IDEMPOTENCY_KEY, None)
    try:
        args = op.params.model_validate(raw, context=NULL_IS_ABSENT)
    except ValidationError as exc:
        problems += _problems(op, exc)
    if problems:
        raise ArgumentError(problems)
    return ParsedCall(args, key)


def parse_arguments(op: Operation, arguments: Mapping[str, Any] | BaseModel | None) -> BaseModel:
    """The operation's model of tool arguments (see :func:`parse_call`)."""
    if isinstance(arguments, op.params):
        return arguments
    return parse_call(op, arguments).args  # type: ignore[arg-type]


def _finding(field: str) -> str:
    """How to get a valid id, for a field given something else (a mission's name as its id, often)."""
    finder = FOUND_BY.get(field)
    noun = ID_NOUNS.get(field, field)
    return f"; a name is not an id: find the {noun}'s id with {finder}" if finder else ""


def build_request(op: Operation, args: BaseModel) -> PreparedRequest:
    """The HTTP request of one call: path ids percent-encoded, query on its wire names, JSON body."""
    given = args.model_dump(mode="json", exclude_unset=True, exclude_none=True)  # null: not given
    full = args.model_dump(mode="json")
    path = op.path
    for name in op.path_fields:
        path = path.replace("{" + name + "}", quote(str(full[name]), safe=""))
    query = {wire: given[name] for name, wire in op.query_fields.items() if given.get(name) is not None}
    body: Any = None
    if op.whole_body_field is not None:
        body = full[op.whole_body_field]
    elif op.body_fields:
        body = {name: given[name] for name in op.body_fields if name in given}
    return PreparedRequest(op.method, path, query, body)


def _not_json(value: Any, where: str) -> str | None:
    """The first place in ``value`` that JSON (UTF-8, no NaN) cannot carry, as ``field: why``."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{where}: must be valid Unicode text; it holds a lone surrogate (\\ud800-\\udfff)"
    elif isinstance(value, float) and not math.isfinite(value):
        return f"{where}: must be a finite number; NaN and infinity are not JSON"
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _not_json(key, f"{where} key") or _not_json(item, f"{where}.{key}" if where else str(key))
            if problem:
                return problem
    elif isinstance(value, list):
        for i, item in enumerate(value):
            problem = _not_json(item, f"{where}[{i}]")
            if problem:
                return problem
    return None


def encode_body(body: Any) -> bytes:
    """The JSON body as UTF-8 bytes, encoded once for every attempt; :class:`ArgumentError` naming the
    field when a value cannot travel as JSON (a lone surrogate, NaN, nesting deeper than JSON allows)."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError, TypeError):
        try:
            problem = _not_json(body, "")
        except RecursionError:
            problem = None
        raise ArgumentError([problem or "arguments: nested too deeply or not plain JSON values"]) from None


def describe_target(op: Operation, args: BaseModel) -> str:
    """What a call is about, in the caller's terms: ``plan step 's1' of run … of mission …``."""
    values = args.model_dump(mode="json")
    parts = [f"{ID_NOUNS.get(name, name)} {values[name]}" for name in reversed(op.path_fields)]
    return " of ".join(parts) if parts else op.name


# --------------------------------------------------------------------------- retry plumbing


class _Retryable(Exception):
    """An attempt that may succeed if repeated: a retryable status or a transport failure."""

    def __init__(
        self, response: httpx2.Response | None = None, error: Exception | None = None, retry_after: float | None = None
    ):
        self.response = response
        self.error = error
        self.retry_after = retry_after

    @property
    def may_have_reached(self) -> bool:
        """Whether the API may have received the request and acted on it (its answer lost or failed).

        Not when the connection was never made, nor on 408 and 429, which say the request was
        not taken up; a 5xx, a 409 (a write with this key still under way) or a connection lost
        after the request was sent may each have followed a stored write."""
        if self.response is not None:
            return self.response.status_code not in (408, 429)
        return not isinstance(self.error, (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout))


def _may_follow_a_stored_write(error: MissionsError) -> bool:
    """Whether ``error`` could be the answer to a repeat of a write that was stored: every error but
    the client errors a repeat of the same request cannot cause (400, 401, 403, 422, ...)."""
    status = getattr(error, "status", None)
    return status is None or not 400 <= status < 500 or status in (404, 408, 409, 429)


def check_tool(op: Operation) -> str:
    """The read that shows whether a write of ``op`` took effect: the GET on its path or the nearest
    one above it (for a creation, a list rather than the parent's get)."""
    creates = op.method == "POST" and op.status == 201
    path = op.path
    while path:
        if not (creates and path.endswith("}")):
            for other in OPERATIONS:
                if other.method == "GET" and other.path == path:
                    return other.name
        path = path.rsplit("/", 1)[0]
    return "the list tools"  # pragma: no cover - every path of the catalogue has a read above it


def repeat_note(op: Operation, key: str) -> str:
    """What an agent is told when a write may have been stored although the call failed."""
    check = check_tool(op)
    look = f"call {check} (not found means it is gone)" if op.method == "DELETE" else f"call {check}"
    return (
        f"\n\nThe write may have been stored: an attempt reached the Missions API but its answer was lost. It was "
        f'sent with idempotency_key "{key}". To check, {look}. To repeat it safely, call {op.name} again with '
        f'the same arguments and idempotency_key "{key}": if the first attempt was stored, the API answers with '
        "what it stored and stores nothing twice."
    )


def _number(text: str) -> float:
    value = float(text)
    if value != value:
        raise ValueError("NaN is not a wait")
    return value


def retry_after_seconds(headers: httpx2.Headers, now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, ``Retry-After`` seconds or HTTP date."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(_number(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(_number(raw), 0.0)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None  # not a date either: fall back to the ordinary backoff
    now = time.time() if now is None else now
    return max(parsed.timestamp() - now, 0.0)


class MissionsClient:
    """Calls the Missions API for the operations of the catalogue."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
    ):
        self.settings = settings
        add_secrets_of(settings)
        self._transport = transport
        self._sleep = sleep
        self._event_hooks = dict(event_hooks or {})
        self._http: httpx2.AsyncClient | None = None
        self._embedded_store: Any = None
        self._lock = anyio.Lock()
        self._backoff = wait_exponential_jitter(multiplier=0.5, max=8.0, jitter=0.5)

    # -- lifecycle

    async def _client(self) -> httpx2.AsyncClient:
        if self._http is not None:
            return self._http
        async with self._lock:
            if self._http is None:
                self._http = self._build()
        return self._http

    def _build(self) -> httpx2.AsyncClient:
        s = self.settings
        if s.needs_api_key and not s.api_key:
            raise ConfigurationError(
                "No Telnyx API key is set, so the hosted Missions API cannot be called. Set TELNYX_API_KEY "
                "in the server's environment (in the MCP host's config, the \"env\" of this server), or start "
                "the server with --local to use the embedded API on this machine."
            )
        headers = {"Accept": "application/json", "User-Agent": f"missions-mcp/{__version__}"}
        if s.api_key:
            headers["Authorization"] = f"Bearer {s.api_key}"
        transport = self._transport
        if transport is None and s.resolved_backend == "local":
            from .local import create_app, db_target

            app = create_app(db_target(s.db_path))
            self._embedded_store = app.state.store  # ASGI has no lifespan here: aclose() closes it
            transport = httpx2.ASGITransport(app=app)
            if gc.get_freeze_count():  # the server froze its start-up heap (serving.serve): the embedded API,
                gc.freeze()  # built on the first call, lives as long, so keep it out of full collections too
        return httpx2.AsyncClient(
            base_url=s.resolved_base_url,
            headers=headers,
            timeout=httpx2.Timeout(s.timeout, connect=s.connect_timeout),
            limits=httpx2.Limits(max_connections=32, max_keepalive_connections=16),
            transport=transport,
            event_hooks=self._event_hooks,
            follow_redirects=False,  # a redirect is an error the model reads; the key never follows it
        )

    def change_marker(self) -> object:
        """A value that changes after any commit to the embedded store, by any process (``None`` until the
        store is open, and for an API over HTTP): how views notice writes made elsewhere."""
        store = self._embedded_store
        return store.change_marker() if store is not None else None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        store, self._embedded_store = self._embedded_store, None
        if store is not None:
            store.close()

    # -- calls

    async def call(
        self,
        op: Operation,
        arguments: Mapping[str, Any] | BaseModel | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> ApiResult:
        """Perform one operation. Raises a :class:`MissionsError` with a model-facing message.

        A write carries one ``Idempotency-Key`` on every attempt: ``idempotency_key``, the one in the
        arguments, or a new one. When it fails after an attempt that may have reached the API, the
        error says so and names the key that makes its repeat safe."""
        if isinstance(arguments, BaseModel):
            args = parse_arguments(op, arguments)
        else:
            parsed = parse_call(op, arguments)
            args, idempotency_key = parsed.args, idempotency_key or parsed.idempotency_key
        prepared = build_request(op, args)
        if op.read_only:
            return await self.send(prepared, what=describe_target(op, args))
        key = idempotency_key or uuid.uuid4().hex
        if op.idempotency_field and isinstance(prepared.body, dict):
            if prepared.body.get(op.idempotency_field) is None:  # left out or an explicit null
                prepared.body[op.idempotency_field] = key
            key = prepared.body[op.idempotency_field]
        return await self.send(prepared, what=describe_target(op, args), idempotency_key=key, write=op)

    async def send(
        self, req: PreparedRequest, *, what: str, idempotency_key: str | None = None, write: Operation | None = None
    ) -> ApiResult:
        """Send a prepared request with retries; map the outcome to a result or an error.

        ``write``: the operation of a write, so that a failure after an attempt that may have
        reached the API says how to check it and repeat it safely."""
        http = await self._client()
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        content = None
        if req.body is not None:
            content = encode_body(req.body)
            headers["Content-Type"] = "application/json"
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        reached = False
        try:
            async for attempt in retrying:
                with attempt:
                    try:
                        return await self._attempt(
                            http, req, content, headers, what, attempt.retry_state.attempt_number
                        )
                    except _Retryable as failed:
                        reached = reached or failed.may_have_reached
                        raise
        except _Retryable as last:
            error = self._final_error(last, what)
        except MissionsError as failed:
            error = failed
        if reached and write is not None and idempotency_key and _may_follow_a_stored_write(error):
            error.args = (str(error) + repeat_note(write, idempotency_key),)
            error.may_be_stored, error.idempotency_key = True, idempotency_key
        raise error

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return float(self._backoff(state))

    async def _attempt(
        self,
        http: httpx2.AsyncClient,
        req: PreparedRequest,
        content: bytes | None,
        headers: dict[str, str],
        what: str,
        attempt: int,
    ) -> ApiResult:
        started = time.perf_counter()
        try:
            response = await http.request(
                req.method, req.path, params=req.query or None, content=content, headers=headers or None
            )
        except httpx2.TimeoutException as exc:
            logger.info("%s %s: timeout (attempt %d)", req.method, req.path, attempt)
            raise _Retryable(error=exc) from None
        except httpx2.TransportError as exc:
            logger.info("%s %s: %s (attempt %d)", req.method, req.path, type(exc).__name__, attempt)
            raise _Retryable(error=exc) from None
        logger.debug(
            "%s %s → %d in %.1f ms (attempt %d)",
            req.method,
            req.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            attempt,
        )
        status = response.status_code
        if 300 <= status < 400:
            raise _redirect_error(req, response, what)
        if status < 400:
            if status == 204 or not response.content:
                return ApiResult(status, None)
            try:
                data = response.json()
            except ValueError:
                message = f"The Missions API answered HTTP {status} with a body that is not JSON."
                raise ServerError(status, message) from None
            if needs_redaction(response.content):
                data = redact_json(data)
            return ApiResult(status, data)
        body = _json_or_none(response)
        retry_after = retry_after_seconds(response.headers)
        if self._should_retry(response):
            if retry_after is not None and retry_after > self.settings.retry_after_cap:
                raise self._too_long(status, body, what, retry_after)
            raise _Retryable(response=response, retry_after=retry_after)
        raise api_error(status, body, what=what, retry_after=retry_after)

    @staticmethod
    def _should_retry(response: httpx2.Response) -> bool:
        hint = response.headers.get("x-should-retry")
        if hint == "true":
            return True
        if hint == "false":
            return False
        return response.status_code in RETRY_STATUSES

    def _too_long(self, status: int, body: Any, what: str, retry_after: float) -> MissionsError:
        message = (
            f"The Missions API asked to wait {retry_after:.0f} s before retrying (HTTP {status}), longer than "
            f"this server waits ({self.settings.retry_after_cap:g} s). Wait {retry_after:.0f} s, then call again."
        )
        if status == 429:
            return RateLimitError(status, message, body, retry_after)
        error = api_error(status, body, what=what, retry_after=retry_after)
        error.args = (message,)
        return error

    def _final_error(self, last: _Retryable, what: str) -> MissionsError:
        attempts = self.settings.max_retries + 1
        if last.response is not None:
            return api_error(
                last.response.status_code, _json_or_none(last.response), what=what, retry_after=last.retry_after
            )
        if isinstance(last.error, httpx2.TimeoutException):
            return TransportError(
                f"The Missions API did not answer in time ({attempts} attempts, {self.settings.timeout:g} s each). "
                "Try again shortly."
            )
        kind = type(last.error).__name__ if last.error else "connection error"
        return TransportError(
            f"Could not reach the Missions API ({kind}, {attempts} attempts). Check the network or the base URL "
            "(TELNYX_BASE_URL / --base-url), then try again."
        )


def _redirect_error(req: PreparedRequest, response: httpx2.Response, what: str) -> RedirectError:
    status = response.status_code
    target = "another address"
    location = response.headers.get("location", "")
    try:
        url = response.request.url.join(location) if location else None
    except (httpx2.InvalidURL, ValueError):
        url = None
    if url is not None and url.scheme in ("http", "https") and url.host:
        port = f":{url.port}" if url.port else ""
        target = f"{url.scheme}://{url.host}{port}{url.path}"[:300]  # no query: it may carry a token
    done = "Nothing was read" if req.method == "GET" else f"The request on {what} was not carried out here"
    return RedirectError(
        status,
        f"The Missions API answered with a redirect (HTTP {status}) to {target}. This server does not follow "
        f"redirects, so the API key is never sent to another address. {done}. If the API has moved, set the "
        "base URL (TELNYX_BASE_URL / --base-url) to its new address and call again.",
        _json_or_none(response),
    )


def _json_or_none(response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
