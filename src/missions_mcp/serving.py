"""Serving: the MCP server on stdio, SSE or streamable HTTP, and the embedded API alone, until a signal.

    serve(settings)             the MCP server on the configured transport (``missions-mcp serve``)
    serve_api(...)              the embedded Missions API over HTTP (``missions-mcp api``)
    streamable_http_app(...)    the MCP endpoint at ``/mcp`` as an ASGI app, guarded and authenticated
    sse_app(...)                the same over SSE (``GET /sse``, ``POST /messages/``)
    http_protection(settings)   the Host/Origin policy and the authentication a bind needs, or why it refuses

Every HTTP app sits behind :class:`~missions_mcp.hosts.HostGuard` (every route, every bind address)
and answers a request without a usable id itself (``unidentified.py``); with authentication, the
SDK's bearer middleware guards the MCP routes and the protected resource metadata is served. A
server that binds beyond loopback without authentication refuses to start.

SIGTERM and SIGINT stop the server cleanly: new connections are refused, a call in flight is given
``SHUTDOWN_GRACE`` seconds to finish and is cancelled after that, the HTTP client and the database
are closed, and the process exits 0. On stdio the server ends when stdin closes.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import secrets
import signal
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import (
    BearerAuthBackend,
    RequireAuthMiddleware,
)
from mcp.server.auth.routes import (
    build_resource_metadata_url,
    create_protected_resource_routes,
)
from mcp.server.streamable_http import (
    EventCallback,
    EventId,
    EventMessage,
    EventStore,
    StreamId,
)
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import JSONRPCMessage
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .auth import MIN_TOKEN_LENGTH, Authentication, authentication, describe
from .config import Settings
from .hosts import HostGuard, HostPolicy, is_loopback, is_wildcard
from .unidentified import AnswerUnidentifiedRequests

if TYPE_CHECKING:
    import uvicorn
    from mcp.server import Server

    from .server import MissionsServer

__all__ = [
    "SHUTDOWN_GRACE",
    "Draining",
    "HttpProtection",
    "MemoryEventStore",
    "http_protection",
    "serve",
    "serve_api",
    "sse_app",
    "streamable_http_app",
]

logger = logging.getLogger("missions_mcp")

SHUTDOWN_GRACE = 10.0
"""Seconds a call in flight (or an open stream) gets to finish after SIGTERM before it is cancelled."""

RETRY_INTERVAL_MS = 1000
"""The ``retry`` an SSE stream suggests, so a client that lost it reconnects soon with ``Last-Event-ID``."""


# -- what a bind needs


@dataclass(frozen=True)
class HttpProtection:
    policy: HostPolicy
    auth: Authentication | None
    endpoint: str
    """The MCP endpoint's URL as clients reach it (``--public-url``, else from host and port)."""


def _endpoint_path(settings: Settings) -> str:
    return "/mcp" if settings.transport == "streamable-http" else "/sse"


def http_protection(settings: Settings) -> HttpProtection:
    """What serving ``settings`` over HTTP needs, or ``ValueError`` saying why it cannot and how to fix it."""
    allowed = list(settings.allowed_hosts)
    if settings.public_url:
        public = httpx2.URL(settings.public_url)
        if public.scheme not in ("http", "https") or not public.host:
            raise ValueError(f"--public-url must be an http(s) URL (got {settings.public_url!r})")
        allowed.append(public.host if public.port is None else f"{public.host}:{public.port}")
    policy = HostPolicy.for_bind(settings.host, allowed_hosts=allowed, allowed_origins=settings.allowed_origins)
    if is_wildcard(settings.host) and not policy.names_beyond_loopback:
        raise ValueError(
            f"--host {settings.host} listens on every interface, but no host name clients use is allowed, so every "
            "request from another machine would be refused: add --allowed-hosts NAME (or --public-url URL)"
        )
    if settings.public_url:
        endpoint = settings.public_url.rstrip("/")
    else:
        shown = (
            settings.host
            if not is_wildcard(settings.host)
            else next(name for name, _ in sorted(policy.hosts, key=str) if not is_loopback(name))
        )
        shown = f"[{shown}]" if ":" in shown else shown
        endpoint = f"http://{shown}:{settings.port}{_endpoint_path(settings)}"
    auth = authentication(settings, resource_url=endpoint)
    if auth is None and policy.reaches_beyond_loopback:
        raise ValueError(
            f"refusing to serve MCP over HTTP on {settings.host} without authentication: anyone who reaches the "
            "port could call every tool with this server's API key. Set MISSIONS_AUTH_TOKEN (or --auth-token, "
            "or --auth-introspection-url with --auth-issuer), or bind to 127.0.0.1"
        )
    return HttpProtection(policy=policy, auth=auth, endpoint=endpoint)


def _transport_security(policy: HostPolicy) -> TransportSecuritySettings:
    # The HostGuard in front already checked every request; the SDK's own check of its endpoint gets
    # the same lists, so the two can never disagree (and the SDK's check stays on beyond loopback).
    hosts, origins = policy.sdk_patterns()
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


# -- SSE stream resumption (SEP-1699)


class MemoryEventStore(EventStore):
    """The last ``max_events`` SSE events of all streams, so a client that lost a stream mid-call
    reconnects with ``Last-Event-ID`` and gets what it missed.

    Event ids are random, so one session cannot replay another's stream by guessing; the oldest
    events go first when the store is full (a client that comes back later than that starts over).
    """

    def __init__(self, max_events: int = 2048):
        self.max_events = max_events
        self._events: OrderedDict[EventId, tuple[StreamId, JSONRPCMessage | None]] = OrderedDict()

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        event_id = secrets.token_urlsafe(12)
        self._events[event_id] = (stream_id, message)
        while len(self._events) > self.max_events:
            self._events.popitem(last=False)
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        if last_event_id not in self._events:
            return None
        stream_id = self._events[last_event_id][0]
        after = False
        for event_id, (stream, message) in list(self._events.items()):
            if after and stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
            after = after or event_id == last_event_id
        return stream_id


# -- the HTTP apps


def _metadata_routes(auth: Authentication | None) -> list[BaseRoute]:
    if auth is None or auth.settings.resource_server_url is None:
        return []
    return list(
        create_protected_resource_routes(
            resource_url=auth.settings.resource_server_url,
            authorization_servers=[auth.settings.issuer_url],
            scopes_supported=auth.settings.required_scopes,
            resource_name="missions-mcp",
        )
    )


def _protected(app: ASGIApp, auth: Authentication | None) -> ASGIApp:
    """``app`` behind the SDK's bearer check: 401/403 with ``WWW-Authenticate`` naming the metadata."""
    if auth is None:
        return app
    metadata = (
        build_resource_metadata_url(auth.settings.resource_server_url) if auth.settings.resource_server_url else None
    )
    return RequireAuthMiddleware(app, auth.settings.required_scopes or [], metadata)


def _auth_middleware(auth: Authentication | None) -> list[Middleware]:
    if auth is None:
        return []
    backend = BearerAuthBackend(auth.verifier, resource_server_url=auth.settings.resource_server_url)
    return [Middleware(AuthenticationMiddleware, backend=backend), Middleware(AuthContextMiddleware)]


def streamable_http_app(server: Server[Any], protection: HttpProtection) -> ASGIApp:
    """The MCP endpoint ``/mcp`` (both protocol eras), resumable SSE streams, and the resource metadata."""
    auth = protection.auth
    app = server.streamable_http_app(
        transport_security=_transport_security(protection.policy),
        event_store=MemoryEventStore(),
        retry_interval=RETRY_INTERVAL_MS,
        auth=auth.settings if auth else None,
        token_verifier=auth.verifier if auth else None,
    )
    # The SDK registers the metadata route itself when ``auth`` is set.
    return HostGuard(AnswerUnidentifiedRequests(app, authenticated=auth is not None), protection.policy)


def sse_app(server: Server[Any], protection: HttpProtection) -> ASGIApp:
    """The MCP server over SSE (``GET /sse``, ``POST /messages/``), guarded and authenticated like ``/mcp``."""
    from mcp.server.sse import SseServerTransport

    sse = SseServerTransport("/messages/", security_settings=_transport_security(protection.policy))

    class HandleSse:  # an ASGI app, not a request handler: the SSE response is the SDK's to send
        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            async with sse.connect_sse(scope, receive, send) as (read, write):
                await server.run(read, write, server.create_initialization_options())

    routes: list[BaseRoute] = [
        Route("/sse", endpoint=_protected(HandleSse(), protection.auth), methods=["GET"]),
        Mount("/messages/", app=_protected(sse.handle_post_message, protection.auth)),
        *_metadata_routes(protection.auth),
    ]
    app = Starlette(routes=routes, middleware=_auth_middleware(protection.auth))
    return HostGuard(AnswerUnidentifiedRequests(app, authenticated=protection.auth is not None), protection.policy)


# -- running until a signal


def _uvicorn_server(app: ASGIApp, *, host: str, port: int, log_level: str, **options: Any) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        # Signals are ours (``_stop_on_signal``): uvicorn would re-raise SIGTERM after its graceful
        # shutdown, and the process would die by the signal instead of exiting 0.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=int(SHUTDOWN_GRACE),
        **options,
    )
    return Server(config)


async def _stop_on_signal(stop: Callable[[int], None]) -> None:
    """Calls ``stop`` with each SIGTERM or SIGINT received (where signals can be received at all)."""
    try:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("%s received: shutting down", signal.Signals(signum).name)
                stop(signum)
    except (NotImplementedError, ValueError, RuntimeError):  # Windows, or not the main thread
        await anyio.sleep_forever()


class Draining:
    """ASGI middleware that knows the requests in flight, so a shutdown waits for calls, not for streams.

    On streamable HTTP a call is a POST, answered when the call ends; a GET is a stream of
    notifications that ends only when the client leaves. :meth:`drain` waits up to ``grace`` seconds
    for the calls, then ends the streams, so the server exits as soon as the calls are done.
    """

    def __init__(self, app: ASGIApp):
        self.app = app
        self._calls = 0
        self._idle = anyio.Event()
        self._idle.set()
        self._streams: set[anyio.CancelScope] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["method"] == "GET":
            with anyio.CancelScope() as stream:
                self._streams.add(stream)
                try:
                    await self.app(scope, receive, send)
                finally:
                    self._streams.discard(stream)
        else:
            if self._calls == 0:
                self._idle = anyio.Event()
            self._calls += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self._calls -= 1
                if self._calls == 0:
                    self._idle.set()

    async def drain(self, grace: float) -> None:
        with anyio.move_on_after(grace):
            await self._idle.wait()
        for stream in list(self._streams):
            stream.cancel()


async def _run_uvicorn(server: uvicorn.Server, draining: Draining | None = None) -> None:
    async with anyio.create_task_group() as tg:

        def stop(signum: int) -> None:
            if server.should_exit:
                server.force_exit = True  # a second signal: stop waiting for calls in flight
            server.should_exit = True  # no new connections; uvicorn waits up to SHUTDOWN_GRACE for the rest
            if draining is not None:
                tg.start_soon(draining.drain, SHUTDOWN_GRACE)

        tg.start_soon(_stop_on_signal, stop)
        await server.serve()
        tg.cancel_scope.cancel()


async def _serve_stdio(missions: MissionsServer) -> None:
    from mcp.server.stdio import stdio_server

    from .stdio import AnsweringReadStream

    async with anyio.create_task_group() as tg:
        cancel = tg.cancel_scope

        def stop(signum: int) -> None:
            # On stdio the host owns the process: a signal means stop now; a call in flight is cancelled.
            cancel.cancel()

        tg.start_soon(_stop_on_signal, stop)
        async with stdio_server() as (read_stream, write_stream):
            await missions.server.run(
                AnsweringReadStream(read_stream, write_stream),
                write_stream,
                missions.server.create_initialization_options(),
            )
        cancel.cancel()  # stdin closed


async def _serve_http(missions: MissionsServer, settings: Settings, protection: HttpProtection) -> None:
    draining = None
    app: ASGIApp
    if settings.transport == "streamable-http":
        app = draining = Draining(streamable_http_app(missions.server, protection))
    else:
        app = sse_app(missions.server, protection)  # calls are answered on the GET stream: all wait the grace
    logger.info("MCP over %s at %s (%s)", settings.transport, protection.endpoint, describe(protection.auth))
    # h11, not httptools: httptools keeps trailing spaces in header values, and the SDK compares
    # headers such as Mcp-Name exactly against the body.
    server = _uvicorn_server(app, host=settings.host, port=settings.port, log_level=settings.log_level, http="h11")
    await _run_uvicorn(server, draining)


async def serve(settings: Settings, protection: HttpProtection | None = None) -> None:
    """Runs the MCP server on ``settings.transport`` until stdin closes (stdio) or a signal arrives."""
    from .server import build_server

    if settings.transport != "stdio" and protection is None:
        protection = http_protection(settings)
    missions = build_server(settings)
    # Everything built so far lives as long as the server: keep it out of every later collection (the
    # first full one would otherwise walk ~90,000 start-up objects in the middle of a tools/list).
    gc.freeze()
    gc.enable()
    try:
        if protection is None:
            await _serve_stdio(missions)
        else:
            await _serve_http(missions, settings, protection)
    finally:
        with anyio.CancelScope(shield=True):
            await missions.aclose()


# -- the embedded API alone


def api_protection(
    host: str, tokens: Sequence[str], allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = ()
) -> HostPolicy:
    """The Host/Origin policy of ``missions-mcp api`` on ``host``; refuses an open store beyond loopback."""
    policy = HostPolicy.for_bind(host, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins)
    if is_wildcard(host) and not policy.names_beyond_loopback:
        raise ValueError(
            f"--host {host} listens on every interface, but no host name clients use is allowed: "
            "add --allowed-hosts NAME"
        )
    short = [t for t in tokens if len(t) < MIN_TOKEN_LENGTH]
    if short:
        raise ValueError(
            f"{len(short)} accepted token(s) shorter than {MIN_TOKEN_LENGTH} characters: use long random "
            "ones, e.g. from 'openssl rand -hex 32'"
        )
    if policy.reaches_beyond_loopback and not tokens:
        raise ValueError(
            f"refusing to serve the Missions API on {host} without an accepted-token list: anyone who reaches the "
            "port could create tenants and data. Set MISSIONS_API_TOKENS=token1,token2 (or --accept-tokens), "
            "or bind to 127.0.0.1"
        )
    return policy


async def serve_api(
    host: str,
    port: int,
    db_path: str | os.PathLike[str],
    *,
    tokens: Sequence[str] = (),
    policy: HostPolicy | None = None,
    log_level: str = "INFO",
) -> None:
    """Serves the embedded API until a signal; the database is closed on the way out."""
    from .local import create_app, describe_target
    from .local.security import ApiAccess, guarded

    policy = policy or api_protection(host, tokens)
    app = guarded(create_app(db_path, page=True), ApiAccess(policy=policy, tokens=tuple(tokens)))
    logger.info(
        "embedded Missions API on http://%s:%d, database %s (%s)",
        f"[{host}]" if ":" in host else host,
        port,
        describe_target(db_path),
        f"{len(tokens)} accepted token(s)" if tokens else "one local tenant, any bearer key",
    )
    await _run_uvicorn(_uvicorn_server(app, host=host, port=port, log_level=log_level, access_log=False))
