"""The embedded Missions API: the whole REST contract (``openapi.yaml``) served from SQLite.

    create_app(db_path)   the FastAPI app (in process: ``httpx.ASGITransport(app=create_app(...))``)
    serve(host, port, db_path)   run it with uvicorn (``missions-mcp api``)
    default_db_path()     where the database lives unless told otherwise
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app", "default_db_path", "serve"]

log = logging.getLogger("missions_mcp.local")


def default_db_path() -> Path:
    """``$MISSIONS_DB`` if set, else ``missions-mcp/missions.db`` in the user's data directory:
    ``$XDG_DATA_HOME`` or ``~/.local/share`` (Linux and other Unix), ``~/Library/Application
    Support`` (macOS), ``%LOCALAPPDATA%`` (Windows, falling back to ``~/AppData/Local``)."""
    override = os.environ.get("MISSIONS_DB")
    if override:
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


def serve(host: str = "127.0.0.1", port: int = 8700, db_path: str | os.PathLike[str] | None = None) -> None:
    """Serves the API with uvicorn until interrupted; logs go to stderr."""
    import uvicorn

    path = Path(db_path) if db_path is not None else default_db_path()
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    log.info("Missions API on http://%s:%d (database %s)", host, port, path)
    from .app import create_app

    uvicorn.run(create_app(path, page=True), host=host, port=port, log_level="info", access_log=False)
