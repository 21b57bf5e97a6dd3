"""The ``Idempotency-Key`` request header: a retried POST answers what the first one answered.

For a POST carrying the header, the first successful (2xx) answer is kept for 24 hours under
(tenant, method, path, key), the path taken without the ``/v2`` prefix. The same key again with
the same body (compared as JSON, so key order and spacing do not matter) replays the stored
status and body, with the header ``Idempotent-Replayed: true``, and runs nothing; with a
different body it answers 409. Requests with the same key that arrive while the first is still
being answered wait for it. Answers that are not 2xx are not kept, so a failed call can be
retried with the same key.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import anyio
from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .routes import tenant_key
from .store import Store

__all__ = ["IdempotencyMiddleware", "TTL_SECONDS"]

TTL_SECONDS = 24 * 3600


def _request_hash(body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def _lookup(store: Store, tenant: str, path: str, key: str) -> tuple[str, int, bytes] | None:
    tenant_id = store.tenant_id(tenant)
    with store.read() as conn:
        row = conn.execute(
            "SELECT request_hash, status, body FROM idempotency"
            " WHERE tenant = ? AND method = 'POST' AND path = ? AND key = ? AND created_at >= ?",
            (tenant_id, path, key, time.time() - TTL_SECONDS),
        ).fetchone()
    return None if row is None else (row[0], row[1], bytes(row[2]))


def _save(store: Store, tenant: str, path: str, key: str, request_hash: str, status: int, body: bytes) -> None:
    tenant_id = store.tenant_id(tenant)
    now = time.time()
    with store.write() as conn:
        conn.execute("DELETE FROM idempotency WHERE created_at < ?", (now - TTL_SECONDS,))
        conn.execute(
            "INSERT OR REPLACE INTO idempotency (tenant, method, path, key, request_hash, status, body, created_at)"
            " VALUES (?, 'POST', ?, ?, ?, ?, ?, ?)",
            (tenant_id, path, key, request_hash, status, body, now),
        )


class IdempotencyMiddleware:
    """Pure ASGI middleware (it must see the raw body and the whole answer)."""

    def __init__(self, app: ASGIApp, store: Store):
        self.app = app
        self.store = store
        self._locks: dict[tuple[str, str, str], tuple[anyio.Lock, list[int]]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        try:
            tenant = tenant_key(headers.get("authorization"))
        except HTTPException:
            key = None  # the app answers 401
        if not key:
            return await self.app(scope, receive, send)
        body = await _read_body(receive)
        ident = (tenant, scope["path"], key)  # /v2 is already stripped (app.StripPrefix)
        lock, users = self._locks.setdefault(ident, (anyio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                await self._answer(scope, receive, send, ident, body)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._locks[ident]

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, ident: tuple[str, str, str], body: bytes
    ) -> None:
        tenant, path, key = ident
        request_hash = _request_hash(body)
        stored = await self.store.run(_lookup, self.store, tenant, path, key)
        if stored is not None:
            stored_hash, status, stored_body = stored
            if stored_hash == request_hash:
                return await _send_json(send, status, stored_body, replayed=True)
            detail = {
                "detail": f"Idempotency-Key {key!r} was already used for a different request to {path};"
                " send a new key for a new request."
            }
            return await _send_json(send, 409, json.dumps(detail).encode())

        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, _replay(body, receive), capture)
        status = started.get("status", 500)
        content_type = Headers(raw=started.get("headers", [])).get("content-type", "")
        if 200 <= status < 300 and content_type.startswith("application/json"):
            await self.store.run(_save, self.store, tenant, path, key, request_hash, status, b"".join(chunks))


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_json(send: Send, status: int, body: bytes, replayed: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    if status == 409:
        headers.append((b"x-should-retry", b"false"))  # a reused key stays reused
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
