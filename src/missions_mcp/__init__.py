"""missions-mcp: the Telnyx AI Missions API as an MCP server, with an embedded offline API.

The public surface of the library: :func:`build_server` (an MCP server, ``.server`` for any SDK
transport or ``mcp.Client``), :class:`Settings`, :class:`MissionsClient` (the API client the
server uses) and the error classes (``MissionsError`` and its subclasses, drawn in
:mod:`missions_mcp.errors`). The server and the client are imported on first use, so importing
the package (as the command line does) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .config import Settings
from .errors import (
    APIError,
    ArgumentError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    MissionsError,
    NotFoundError,
    RateLimitError,
    RedirectError,
    ServerError,
    TransportError,
    UnprocessableError,
)

if TYPE_CHECKING:
    from .client import MissionsClient
    from .server import MissionsServer, build_server

__all__ = [
    "__version__",
    "build_server",
    "MissionsServer",
    "Settings",
    "MissionsClient",
    "MissionsError",
    "ConfigurationError",
    "ArgumentError",
    "TransportError",
    "APIError",
    "RedirectError",
    "BadRequestError",
    "AuthenticationError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableError",
    "RateLimitError",
    "ServerError",
]

_LAZY = {"build_server": "server", "MissionsServer": "server", "MissionsClient": "client"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
