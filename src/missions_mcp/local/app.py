"""The FastAPI application of the embedded Missions API."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import __version__
from . import StoreUnavailable
from .idempotency import Replay
from .routes import allowed_methods, build_router
from .store import Conflict, Invalid, NotFound, Store, open_store

__all__ = ["create_app"]


def create_app(db_path: str | os.PathLike[str] | Store = ":memory:", *, page: bool = False) -> FastAPI:
    """The API over the store at ``db_path``: a SQLite file (created and migrated if needed), a
    ``postgresql://`` URL, or an open :class:`Store`. With ``page``, also the live web page of its
    missions and runs at ``/`` (``missions-mcp api``).

    The database is opened here, not in the lifespan, so the app also works where lifespan
    events do not run (``httpx2.ASGITransport``); the lifespan's shutdown closes it.
    """
    store = open_store(db_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="Telnyx AI Missions API (embedded)",
        version=__version__,
        description="The Missions API served by missions-mcp from its own store.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc load their scripts from a CDN (a blank page offline): off.
        # The contract stays at /openapi.json; the page at / shows the data.
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    # The operations are routes of the app's own router: an included router is matched through a
    # layer of its own on every request (about 0.06 ms of CPU per request, a sixth of a GET's).
    router = build_router(app.router)
    app.add_middleware(StripPrefix, prefix="/v2")
    if page:
        from ..ui.commands import attach

        attach(app, store)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> JSONResponse:
        # A state conflict (pausing a paused run, a second plan) does not go away by itself:
        # tell clients that retry 409s by default (ours, the SDKs) not to.
        return JSONResponse({"detail": exc.detail}, status_code=409, headers={"x-should-retry": "false"})

    @app.exception_handler(StoreUnavailable)
    async def unavailable(request: Request, exc: StoreUnavailable) -> JSONResponse:
        # The database server is away (restarting, unreachable). Clients that retry 503 (ours, the SDKs)
        # ask again shortly, with the same Idempotency-Key, so a write whose commit was cut off is not doubled.
        return JSONResponse(
            {"detail": f"The store is unavailable ({exc}); try again shortly."},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Replay)
    async def replay(request: Request, exc: Replay) -> Response:
        media_type = "application/json" if exc.body else None
        return Response(exc.body, exc.status, headers={"Idempotent-Replayed": "true"}, media_type=media_type)

    @app.exception_handler(Invalid)
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: Invalid | RequestValidationError) -> JSONResponse:
        errors = exc.errors if isinstance(exc, Invalid) else exc.errors()
        return JSONResponse({"detail": _sendable(jsonable_encoder(errors))}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            msg = "Body is not valid UTF-8; send JSON encoded as UTF-8"
            return JSONResponse({"detail": [{"type": "json_invalid", "loc": ["body"], "msg": msg}]}, status_code=422)
        if exc.status_code == 405:
            # Each operation is a route of its own: Starlette's Allow names only the first route
            # that matched the path, not every method the path has.
            allowed = allowed_methods(router, request.scope["path"])
            return JSONResponse({"detail": exc.detail}, status_code=405, headers={"Allow": ", ".join(allowed)})
        return await http_exception_handler(request, exc)

    @app.exception_handler(RecursionError)
    @app.exception_handler(UnicodeEncodeError)
    async def unreadable(request: Request, exc: Exception) -> JSONResponse:
        # Raised only by input the JSON parser accepts but nothing else can hold: arrays or
        # objects nested thousands deep, strings with lone surrogates (\ud800).
        msg = "JSON nested too deeply" if isinstance(exc, RecursionError) else "Strings must be valid Unicode"
        return JSONResponse({"detail": [{"type": "value_error", "loc": ["body"], "msg": msg}]}, status_code=422)

    return app


class StripPrefix:
    """Serves ``/v2/ai/missions…`` as ``/ai/missions…``, so a base URL may end in ``/v2`` as the
    hosted API's does. A path rewrite rather than a second copy of every route: routing cost grows
    with the number of routes, on every request."""

    def __init__(self, app: ASGIApp, prefix: str):
        self.app = app
        self.prefix = prefix
        self._raw = prefix.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == self.prefix or path.startswith(self.prefix + "/"):
                scope = dict(scope)
                scope["path"] = path[len(self.prefix) :] or "/"
                raw = scope.get("raw_path")
                if raw is not None and raw.startswith(self._raw):
                    scope["raw_path"] = raw[len(self._raw) :] or b"/"
        await self.app(scope, receive, send)


def _sendable(value: Any) -> Any:
    """``value`` with what Python's JSON parser accepts but JSON cannot carry (NaN, infinities,
    lone surrogates) written out as text, so a 422 that quotes such an input can be sent."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode()
        return value
    if isinstance(value, dict):
        return {_sendable(k): _sendable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sendable(v) for v in value]
    return value
