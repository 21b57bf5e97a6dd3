"""Requests without a usable id are answered, not dropped.

MCP requests carry an ``id`` that is a string or an integer. The SDK reads a request whose id is
anything else (``1.5``, ``true``, ``null``, an object) or that has none as a *notification* of the
same method, and a notification gets no answer: the client waits for ever (stdio), or receives
``202 Accepted`` for a request (HTTP). A message whose method only exists as a request (``ping``,
``tools/call``, …, from the SDK's own ``ClientRequest`` types) but that reaches the server without
a usable id is answered ``-32600 Invalid Request`` with ``"id": null``, naming the method, as
JSON-RPC 2.0 answers a request whose id cannot be read. Real notifications are untouched.

- stdio: :class:`~missions_mcp.stdio.AnsweringReadStream` answers the notification the SDK made of it;
- HTTP: :class:`AnswerUnidentifiedRequests` answers the POST with ``400`` before the SDK reads it.
"""

from __future__ import annotations

import typing

import mcp_types as types
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_METHODS", "AnswerUnidentifiedRequests", "invalid_request", "unidentified", "unidentified_method"]

REQUEST_METHODS = frozenset(
    method
    for request in typing.get_args(types.ClientRequest)
    for method in typing.get_args(request.model_fields["method"].annotation)
)
"""The methods a client may only call as requests, never notify."""


def unidentified(message: types.JSONRPCMessage) -> str | None:
    """The method of ``message`` when the SDK made a notification of a request, its id unusable or
    missing (a notification of a method that only exists as a request); else ``None``."""
    if isinstance(message, types.JSONRPCNotification) and message.method in REQUEST_METHODS:
        return message.method
    return None


def unidentified_method(body: bytes) -> str | None:
    """:func:`unidentified` of the message in a POSTed ``body``, read as the SDK reads it; ``None``
    for a body the SDK cannot read either (it answers those itself)."""
    try:
        message = types.jsonrpc_message_adapter.validate_json(body, by_name=False)
    except ValueError:  # pydantic's ValidationError, broken JSON and nesting too deep included
        return None
    return unidentified(message)


def invalid_request(method: str) -> types.JSONRPCError:
    """The answer to a request of ``method`` whose id is missing or unusable."""
    reason = f'"{method}" is a request and needs "id" as a string or an integer'
    return types.JSONRPCError(
        jsonrpc="2.0", id=None, error=types.ErrorData(code=types.INVALID_REQUEST, message=f"Invalid Request: {reason}")
    )


class AnswerUnidentifiedRequests:
    """ASGI middleware in front of the MCP HTTP endpoints: a POSTed request without a usable id is
    answered ``400`` with the JSON-RPC error; every other request reaches ``app`` unchanged, its
    body replayed. With authentication, a POST that carries no ``Authorization`` header goes
    straight to ``app``, so an anonymous client is told ``401`` first, whatever it sent."""

    def __init__(self, app: ASGIApp, *, authenticated: bool = False):
        self.app = app
        self.authenticated = authenticated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or (self.authenticated and not _has_auth(scope)):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: nothing to answer
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        method = unidentified_method(body)
        if method is not None:
            answer = invalid_request(method).model_dump_json(by_alias=True, exclude_unset=True).encode()
            headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": answer})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _has_auth(scope: Scope) -> bool:
    return any(name.lower() == b"authorization" for name, _ in scope.get("headers", ()))
