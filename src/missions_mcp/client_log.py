"""Log messages to the MCP client (``notifications/message``), at the level it asked for.

A client sets its level with ``logging/setLevel`` (protocol 2025-11-25; the level holds for its
connection) or per request in ``_meta`` (2026-07-28, where the SDK drops what is below it). The server
tells it what a person watching the host's log wants to see: each tool call that failed (``warning``,
the same redacted text the model gets) and each call that changed something (``info``); reads are
``debug``. Until a 2025-11-25 client asks for more, it gets only the failures: a routine write is not
worth a message the client must read on every call (it costs a ``log_event`` about a quarter of the
SDK's floor, ``bench/bench_session.py``), and 2026-07-28 made all logging opt-in for the same reason.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

__all__ = ["ClientLog", "LEVELS"]

LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
)
DEFAULT_LEVEL: types.LoggingLevel = "warning"

# 2026-07-28 deprecates the logging capability (SEP-2577), but 2025-11-25 clients rely on it: the SDK's
# warnings about declaring and using it are expected here, not news.
warnings.filterwarnings("ignore", message=r".*[Ll]ogging capability is deprecated", category=MCPDeprecationWarning)


def _connection(ctx: ServerRequestContext[Any]) -> str | None:
    """Which connection a request came on: its HTTP session id (streamable HTTP ``Mcp-Session-Id``, SSE
    ``session_id``), or ``None`` on stdio, where the process serves one connection."""
    request = ctx.request
    headers = getattr(request, "headers", None)
    if headers is None:
        return None
    query = getattr(request, "query_params", None) or {}
    return headers.get("mcp-session-id") or query.get("session_id")


class ClientLog:
    """The level each connection asked for, and sending messages at or above it."""

    def __init__(self, max_connections: int = 4096) -> None:
        self._levels: OrderedDict[str | None, types.LoggingLevel] = OrderedDict()
        self._max = max_connections

    async def set_level(self, ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
        key = _connection(ctx)
        self._levels[key] = params.level
        self._levels.move_to_end(key)
        while len(self._levels) > self._max:  # sessions that ended long ago
            self._levels.popitem(last=False)
        return types.EmptyResult()

    def level(self, ctx: ServerRequestContext[Any]) -> types.LoggingLevel:
        return self._levels.get(_connection(ctx), DEFAULT_LEVEL)

    async def log(self, ctx: ServerRequestContext[Any], level: types.LoggingLevel, message: str) -> None:
        """Sends ``message`` if the connection's level lets it through; never fails the request."""
        # On 2026-07-28 each request's _meta carries its level and the SDK applies it; setLevel is older.
        modern = ctx.protocol_version in MODERN_PROTOCOL_VERSIONS
        if not modern and LEVELS.index(level) < LEVELS.index(self.level(ctx)):
            return
        try:
            await ctx.session.send_log_message(level, message, logger="missions-mcp")
        except Exception:
            pass
