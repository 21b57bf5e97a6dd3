"""The embedded Missions API: the whole REST contract (``openapi.yaml``) served from a store —
SQLite by default, PostgreSQL for a team (``store.py`` says how an engine plugs in).

    create_app(db_path)   the FastAPI app (in process: ``httpx2.ASGITransport(app=create_app(...))``)
    serve(host, port, db_path)   run it with uvicorn (``missions-mcp api``)
    default_db_path()     where the database lives unless told otherwise
    db_target(value)      what --db / MISSIONS_DB names: a postgresql:// URL as it is, else a file path
    describe_target(t)    the same for logs and messages, without a password
    StoreUnavailable      the store cannot be opened; its message is one line saying what to do
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = [
    "StoreUnavailable",
    "check_target",
    "create_app",
    "db_target",
    "default_db_path",
    "describe_target",
    "serve",
]

DATABASE_URL_SCHEMES = ("postgresql://", "postgres://")


class StoreUnavailable(RuntimeError):
    """The store cannot be opened (a driver missing, a server unreachable, credentials refused):
    the message is one line saying what to install or check, fit to print as the command's error."""


log = logging.getLogger("missions_mcp.local")


def default_db_path() -> Path:
    """``$MISSIONS_DB`` if set, else ``missions-mcp/missions.db`` in the user's data directory:
    ``$XDG_DATA_HOME`` or ``~/.local/share`` (Linux and other Unix), ``~/Library/Application
    Support`` (macOS), ``%LOCALAPPDATA%`` (Windows, falling back to ``~/AppData/Local``)."""
    override = os.environ.get("MISSIONS_DB")
    if override and not override.startswith(DATABASE_URL_SCHEMES):
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "missions-mcp" / "missions.db"


def __getattr__(name: str) -> Any:
    # FastAPI is imported on first use of the app, not by whoever only needs default_db_path (the MCP
    # server prints it on start, before any call reaches the API).
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def db_target(value: str | os.PathLike[str] | None = None) -> str | Path:
    """The store ``--db`` or ``MISSIONS_DB`` names: a ``postgresql://`` URL kept as text (as a path
    its ``//`` would fold), anything else a file path; ``None``: ``MISSIONS_DB``, else the default file."""
    if value is None:
        value = os.environ.get("MISSIONS_DB") or default_db_path()
    text = os.fspath(value)
    return text if text.startswith(DATABASE_URL_SCHEMES) else Path(text).expanduser()


def describe_target(target: str | os.PathLike[str]) -> str:
    """``target`` fit for a log line: a database URL without its password."""
    text = os.fspath(target)
    if text.startswith(DATABASE_URL_SCHEMES):
        from .postgres import safe_target

        return safe_target(text)
    return text


def check_target(target: str | os.PathLike[str]) -> None:
    """Raises :class:`StoreUnavailable` now if the store at ``target`` cannot be reached (a database
    URL: one connection, made and closed); a file is created on first use, so there is nothing to check."""
    text = os.fspath(target)
    if text.startswith(DATABASE_URL_SCHEMES):
        from .postgres import probe

        probe(text)


def serve(host: str = "127.0.0.1", port: int = 8700, db_path: str | os.PathLike[str] | None = None) -> None:
    """Serves the API with uvicorn until interrupted; logs go to stderr. Raises
    :class:`StoreUnavailable` before serving anything when the store cannot be opened.

    Host and Origin are checked as ``missions-mcp api`` checks them; with no accepted-token list here,
    it serves loopback only (``missions-mcp api`` is the way to serve a network)."""
    import uvicorn

    from ..hosts import HostPolicy
    from .security import ApiAccess, guarded

    policy = HostPolicy.for_bind(host)
    if policy.reaches_beyond_loopback:
        raise ValueError(f"serve() binds loopback only (got {host!r}): use 'missions-mcp api' with accepted tokens")

    target = db_target(db_path)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    from .app import create_app

    app = create_app(target, page=True)
    log.info("Missions API on http://%s:%d (database %s)", host, port, describe_target(target))
    uvicorn.run(guarded(app, ApiAccess(policy=policy)), host=host, port=port, log_level="info", access_log=False)
