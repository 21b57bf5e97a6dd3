"""The FastAPI application of the embedded Missions API."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from .. import __version__
from .idempotency import IdempotencyMiddleware
from .routes import build_router
from .store import Conflict, Invalid, NotFound, Store

__all__ = ["create_app"]


def create_app(db_path: str | os.PathLike[str] = ":memory:") -> FastAPI:
    """The API over the SQLite database at ``db_path`` (created and migrated if needed).

    The database is opened here, not in the lifespan, so the app also works where lifespan
    events do not run (``httpx.ASGITransport``); the lifespan's shutdown closes it.
    """
    store = Store(db_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        title="Telnyx AI Missions API (embedded)",
        version=__version__,
        description="The Missions API served locally from SQLite by missions-mcp.",
        lifespan=lifespan,
    )
    app.state.store = store
    router = build_router()
    app.include_router(router)
    app.include_router(router, prefix="/v2", include_in_schema=False)
    app.add_middleware(IdempotencyMiddleware, store=store)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=404)

    @app.exception_handler(Conflict)
    async def conflict(request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=409)

    @app.exception_handler(Invalid)
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: Invalid | RequestValidationError) -> JSONResponse:
        errors = exc.errors if isinstance(exc, Invalid) else exc.errors()
        return JSONResponse({"detail": _finite(jsonable_encoder(errors))}, status_code=422)

    return app


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities (which Python's JSON parser accepts but JSON has not)
    written as strings, so a 422 that quotes such an input can still be sent."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
