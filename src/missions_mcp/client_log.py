"""Log messages to the MCP client (``notifications/message``), at the level it asked for.

A client sets its level with ``logging/setLevel`` (protocol 2025-11-25; the level holds for its
connection) or per request in ``_meta`` (2026-07-28, where the SDK drops what is below it). Until a
client asks, it gets ``info`` and above. The server tells it what a person watching the host's log
wants to see: each tool call that failed (``warning``, the same redacted text the model gets) and each
call that changed something (``info``); reads are ``debug``.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPDeprecationWarning

__all__ = ["ClientLog", "LEVELS"]

LEVELS: tuple[types.LoggingLevel, ...] = (
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
DEFAULT_LEVEL: types.LoggingLevel = "info"

# 2026-07-28 deprecates the logging capability (SEP-2577), but 2025-11-25 clients rely on it: the SDK's
# warnings about declaring and using it are expected here, not news.
warnings.filterwarnings("ignore", message=r".*[Ll]ogging capability is deprecated", category=MCPDeprecationWarning)


class ClientLog:
    """The level each connection asked for, and sending messages at or above it."""

    def __init__(self) -> None:
        self._levels: weakref.WeakKeyDictionary[Any, types.LoggingLevel] = weakref.WeakKeyDictionary()

    async def set_level(self, ctx: ServerRequestContext[Any], params: types.SetLevelRequestParams) -> types.EmptyResult:
        self._levels[ctx.connection] = params.level
        return types.EmptyResult()

    def level(self, ctx: ServerRequestContext[Any]) -> types.LoggingLevel:
        return self._levels.get(ctx.connection, DEFAULT_LEVEL)

    async def log(self, ctx: ServerRequestContext[Any], level: types.LoggingLevel, message: str) -> None:
        """Sends ``message`` if the connection's level lets it through; never fails the request."""
        if LEVELS.index(level) < LEVELS.index(self.level(ctx)):
            return
        try:
            await ctx.log(level, message, logger="missions-mcp")
        except Exception:  # noqa: BLE001 - a log line that cannot be delivered is not the caller's problem
            pass
