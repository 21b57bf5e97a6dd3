"""Every line on stdin gets an answer: what the SDK's stdio transport cannot parse is answered too.

The SDK's ``stdio_server`` turns each line into a JSON-RPC message, or into the exception that
parsing raised, and the server drops those exceptions without a word, so a client that sent a
line it cannot parse waits for ever. :class:`AnsweringReadStream` wraps the transport's read
stream and answers each of them on the write stream, as JSON-RPC 2.0 requires, with ``id: null``:

    -32700 Parse error        not JSON the server can read: broken JSON, a lone surrogate escape,
                              nesting deeper than the parser's limit (200), an integer over 4,300
                              digits
    -32600 Invalid Request    JSON, but not one JSON-RPC message: no ``"jsonrpc": "2.0"``, no
                              ``method``, a batch (an array), a bare value

A request whose ``id`` is missing or not a string or an integer reaches the server as a
notification of the same method and would go unanswered too: it is answered ``-32600`` as well
(see ``unidentified.py``).

Blank lines are skipped. The SDK itself is not changed: this wraps the stream it yields.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Self

import mcp_types as types
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from .unidentified import invalid_request, unidentified

__all__ = ["AnsweringReadStream", "error_for"]

logger = logging.getLogger(__name__)


def _invalid_request_reason(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    received = errors[0].get("input") if errors else None
    if isinstance(received, list):
        return "a batch (a JSON array) is not supported; send one JSON-RPC message per line"
    if not isinstance(received, dict):
        kind = {bool: "true or false", int: "a number", float: "a number", str: "a string"}.get(type(received), "null")
        return f"a JSON-RPC message is a JSON object, not {kind}"
    if received.get("jsonrpc") != "2.0":
        return 'a JSON-RPC message needs "jsonrpc": "2.0"'
    if "method" in received:
        return 'a request needs "method" as a string, and "id" as a string or an integer'
    return 'not a request ("method"), a response ("result") or an error ("error")'


def _blank(exc: Exception) -> bool:
    if not isinstance(exc, ValidationError):
        return False
    errors = exc.errors(include_url=False)
    received = errors[0].get("input") if len(errors) == 1 else None
    return isinstance(received, str) and not received.strip()


def error_for(exc: Exception) -> types.JSONRPCError:
    """The JSON-RPC answer to a line the transport could not turn into a message."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_url=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            reason = next(e["msg"] for e in errors if e["type"] == "json_invalid")
            code, message = types.PARSE_ERROR, f"Parse error: {reason}"
        else:
            code, message = types.INVALID_REQUEST, f"Invalid Request: {_invalid_request_reason(exc)}"
    elif isinstance(exc, (ValueError, UnicodeError, RecursionError)):
        code, message = types.PARSE_ERROR, f"Parse error: {type(exc).__name__}"
    else:
        code, message = types.INVALID_REQUEST, "Invalid Request: the message could not be read"
    return types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(code=code, message=message))


class AnsweringReadStream:
    """The transport's read stream, minus the exceptions: each is answered on ``write_stream``.

    Duck-type compatible with the SDK's receive stream (``receive``, iteration, ``aclose``, the
    async context manager, and ``last_context``, which the server reads to run each request in the
    context its message was sent from).
    """

    def __init__(self, inner: Any, write_stream: Any):
        self._inner = inner
        self._write = write_stream

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage:
        while True:
            item = await self._inner.receive()
            if isinstance(item, Exception) and _blank(item):
                continue  # an empty line between messages is not a message
            if isinstance(item, Exception):
                answer: types.JSONRPCError | None = error_for(item)
            else:
                method = unidentified(item.message)
                answer = invalid_request(method) if method else None
            if answer is None:
                return item  # type: ignore[no-any-return]
            logger.info("stdin: answered a line that is not a JSON-RPC message it can take (%d)", answer.error.code)
            await self._write.send(SessionMessage(answer))

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage:
        import anyio

        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
