"""One settings object, from flags and environment, checked once at start."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["DEFAULT_BASE_URL", "LOCAL_BASE_URL", "Settings", "add_backend_flags", "db_flag"]

DEFAULT_BASE_URL = "https://api.telnyx.com/v2"
LOCAL_BASE_URL = "http://missions.local"
"""Base URL of the embedded API when it is served in process (never resolved: ASGI transport)."""

Backend = Literal["remote", "local"]
Transport = Literal["stdio", "sse", "streamable-http"]


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _db_path(value: str) -> Path | str:
    # a postgresql:// URL stays text: as a Path its "//" would fold into one "/"
    return value if value.startswith(("postgresql://", "postgres://")) else Path(value)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know, resolved once.

    ``api_key`` is kept out of ``repr`` so it cannot end up in a log line or a traceback.
    """

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    """Set: talk HTTP to this URL (the hosted API, or ``missions-mcp api`` on loopback)."""
    backend: Backend | None = None
    """``None``: hosted API when an API key or a base URL is given, else the embedded API."""
    db_path: Path | str | None = None
    """Database of the embedded API (a file, or a ``postgresql://`` URL); ``None``: ``MISSIONS_DB``
    or the user's data directory."""
    timeout: float = 30.0
    connect_timeout: float = 5.0
    max_retries: int = 2
    retry_after_cap: float = 30.0
    """Longest ``Retry-After`` the client waits for; a longer one is returned as an error at once."""
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    """The MCP endpoint's URL as clients reach it (behind a proxy, say); default from host and port."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names (``name`` or ``name:port``) the HTTP transports answer to besides the bind address."""
    allowed_origins: tuple[str, ...] = ()
    """Browser origins allowed besides pages of the allowed hosts."""
    auth_token: str | None = field(default=None, repr=False)
    """The one bearer token MCP clients must send over HTTP."""
    auth_introspection_url: str | None = None
    """Token introspection endpoint (RFC 7662) of the authorization server that issues client tokens."""
    auth_issuer: str | None = None
    auth_client_id: str | None = None
    auth_client_secret: str | None = field(default=None, repr=False)
    auth_scopes: tuple[str, ...] = ()
    toolsets: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    read_only: bool = False
    watch_interval: float = 0.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, then ``overrides`` (flags); ``None`` overrides are ignored."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {
            "api_key": env.get("TELNYX_API_KEY") or None,
            "base_url": env.get("TELNYX_BASE_URL") or None,
            "db_path": _db_path(env["MISSIONS_DB"]) if env.get("MISSIONS_DB") else None,
            "toolsets": _split(env.get("MISSIONS_TOOLSETS")),
            "tools": _split(env.get("MISSIONS_TOOLS")),
            "exclude_tools": _split(env.get("MISSIONS_EXCLUDE_TOOLS")),
            "read_only": _truthy(env.get("MISSIONS_READ_ONLY")),
            "public_url": env.get("MISSIONS_PUBLIC_URL") or None,
            "allowed_hosts": _split(env.get("MISSIONS_ALLOWED_HOSTS")),
            "allowed_origins": _split(env.get("MISSIONS_ALLOWED_ORIGINS")),
            "auth_token": env.get("MISSIONS_AUTH_TOKEN") or None,
            "auth_introspection_url": env.get("MISSIONS_AUTH_INTROSPECTION_URL") or None,
            "auth_issuer": env.get("MISSIONS_AUTH_ISSUER") or None,
            "auth_client_id": env.get("MISSIONS_AUTH_CLIENT_ID") or None,
            "auth_client_secret": env.get("MISSIONS_AUTH_CLIENT_SECRET") or None,
            "auth_scopes": _split(env.get("MISSIONS_AUTH_SCOPES")),
        }
        if env.get("MISSIONS_BACKEND") in ("local", "remote"):
            values["backend"] = env["MISSIONS_BACKEND"]
        for name, parse in (("timeout", float), ("max_retries", int), ("watch_interval", float)):
            raw = env.get(f"MISSIONS_{name.upper()}")
            if raw:
                values[name] = parse(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot work, with a message that says what to change."""
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive seconds")
        if not 0 <= self.max_retries <= 10:
            raise ValueError("max retries must be between 0 and 10")
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base URL must start with http:// or https:// (got {self.base_url!r})")
        if self.backend == "local" and self.base_url is not None:
            raise ValueError("--local serves the embedded API in process; it cannot be combined with --base-url")

    @property
    def resolved_backend(self) -> Backend:
        if self.backend is not None:
            return self.backend
        return "remote" if (self.api_key or self.base_url) else "local"

    @property
    def resolved_base_url(self) -> str:
        if self.resolved_backend == "local":
            return LOCAL_BASE_URL
        return (self.base_url or DEFAULT_BASE_URL).rstrip("/")

    @property
    def needs_api_key(self) -> bool:
        """The hosted API needs a key; a loopback ``missions-mcp api`` does not."""
        return self.resolved_backend == "remote" and self.base_url is None


def db_flag(value: str) -> str | Path:
    from .local import db_target  # checked as the flags are read: a bad URL is a one-line usage error

    return db_target(value)


def add_backend_flags(parser: argparse.ArgumentParser, *, reads: bool) -> None:
    """``--local``/``--remote``/``--base-url``/``--db``/``--timeout``: which Missions API a command talks
    to. ``reads``: the command only reads it (``ui``, ``runs``, ``show``), so the help says so."""
    verb = "read" if reads else "use"
    embedded = "the embedded Missions API's database" if reads else "the embedded Missions API in process"
    backend = parser.add_mutually_exclusive_group()
    backend.add_argument(
        "--local",
        dest="backend",
        action="store_const",
        const="local",
        help=f"{verb} {embedded}, even when TELNYX_API_KEY is set",
    )
    backend.add_argument(
        "--remote",
        dest="backend",
        action="store_const",
        const="remote",
        help=f"{verb} the hosted Missions API (needs TELNYX_API_KEY)",
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="Missions API base URL, e.g. a shared 'missions-mcp api' (env TELNYX_BASE_URL)"
        if reads
        else f"Missions API base URL (env TELNYX_BASE_URL; default {DEFAULT_BASE_URL})",
    )
    parser.add_argument(
        "--db",
        type=db_flag,
        default=None,
        help="database of the embedded API: a file, or a postgresql:// URL (env MISSIONS_DB)",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per HTTP request (default 30)")
