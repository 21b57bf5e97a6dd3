"""Which ``Host`` and ``Origin`` a server bound to an address accepts, and the ASGI guard that checks them.

A web page can reach a server on this machine or this network through DNS rebinding: the browser
sends the attacker's name as ``Host`` and the attacker's page as ``Origin``. Both HTTP servers of
this package (the MCP transports and ``missions-mcp api``) therefore answer only requests whose
``Host`` names the server (421 otherwise) and whose ``Origin``, when a browser sends one, is a page
of the server's own names or one allowed explicitly (403 otherwise) — on every route, whatever the
bind address.

The guard depends on nothing but the ASGI interface, so it sits in front of any app.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOOPBACK_NAMES", "HostGuard", "HostPolicy", "is_loopback", "is_wildcard"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """``localhost`` or an address of 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """An address that binds every interface (0.0.0.0, ::)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def _bracketed(name: str) -> str:
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def _split_host(value: str) -> tuple[str, int | None] | None:
    """``(name, port)`` of a ``Host`` header value or an allowed-hosts entry; ``None`` if malformed."""
    try:
        parts = urlsplit(f"//{value.strip()}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


@dataclass(frozen=True)
class HostPolicy:
    """The names a server answers to, and the extra origins it lets browsers call it from.

    ``hosts`` holds ``(name, port)`` pairs, ``port`` ``None`` for any port; an ``Origin`` is
    accepted when it is an ``http``/``https`` page of one of these names, or one of ``origins``.
    """

    hosts: frozenset[tuple[str, int | None]]
    origins: frozenset[str]
    bound_beyond_loopback: bool = False
    """The server listens on an address other machines reach (their requests can claim any Host)."""

    @classmethod
    def for_bind(
        cls, host: str, *, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = ()
    ) -> HostPolicy:
        """The policy of a server bound to ``host``: the loopback names, ``host`` itself unless it is a
        wildcard address, and whatever was allowed on top (``name`` or ``name:port``)."""
        names: set[tuple[str, int | None]] = {(n, None) for n in LOOPBACK_NAMES}
        if not is_wildcard(host):
            names.add((host.strip("[]").lower(), None))
        for entry in allowed_hosts:
            parsed = _split_host(entry)
            if parsed is None or not parsed[0]:
                raise ValueError(f"not a host name or name:port in the allowed hosts: {entry!r}")
            names.add(parsed)
        origins = set()
        for origin in allowed_origins:
            normal = _normal_origin(origin)
            if normal is None:
                raise ValueError(f"not an origin (scheme://host[:port]) in the allowed origins: {origin!r}")
            origins.add(normal)
        return cls(frozenset(names), frozenset(origins), bound_beyond_loopback=not is_loopback(host))

    @property
    def names_beyond_loopback(self) -> bool:
        """Whether any name other than a loopback one is accepted."""
        return any(not is_loopback(name) for name, _ in self.hosts)

    @property
    def reaches_beyond_loopback(self) -> bool:
        """Whether other machines can reach the server: it listens beyond loopback, or answers to a name
        that is not loopback (a proxy on this machine forwarding from the network)."""
        return self.bound_beyond_loopback or self.names_beyond_loopback

    def host_ok(self, value: str | None) -> bool:
        parsed = _split_host(value) if value else None
        if parsed is None:
            return False
        name, port = parsed
        return (name, None) in self.hosts or (port is not None and (name, port) in self.hosts)

    def origin_ok(self, value: str | None) -> bool:
        if value is None:
            return True  # not a browser, or a same-origin GET: nothing a page could abuse
        normal = _normal_origin(value)
        if normal is None:
            return False
        if normal in self.origins:
            return True
        scheme, _, rest = normal.partition("://")
        return scheme in ("http", "https") and self.host_ok(rest)

    def sdk_patterns(self) -> tuple[list[str], list[str]]:
        """The same policy as the mcp SDK's ``TransportSecuritySettings`` lists (``name:*`` patterns)."""
        hosts: list[str] = []
        origins: list[str] = sorted(self.origins)
        for name, port in sorted(self.hosts, key=lambda h: (h[0], h[1] or 0)):
            shown = _bracketed(name)
            suffixes = [f":{port}"] if port is not None else ["", ":*"]
            hosts += [shown + s for s in suffixes]
            origins += [f"{scheme}://{shown}{s}" for scheme in ("http", "https") for s in suffixes]
        return hosts, origins


def _normal_origin(value: str) -> str | None:
    """``scheme://host[:port]`` in lower case, or ``None`` for anything else (``null``, paths)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    netloc = _bracketed(parts.hostname.lower()) + (f":{port}" if port is not None else "")
    return f"{parts.scheme.lower()}://{netloc}"


class HostGuard:
    """ASGI middleware: 421 for a ``Host`` the policy does not name, 403 for a foreign ``Origin``.

    It sits in front of every route (metadata, SSE, the API), so no endpoint answers a rebound page.
    """

    def __init__(self, app: ASGIApp, policy: HostPolicy):
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = _headers(scope)
            if not self.policy.host_ok(headers.get("host")):
                await _refuse(scope, receive, send, 421, "Invalid Host header")
                return
            if not self.policy.origin_ok(headers.get("origin")):
                await _refuse(scope, receive, send, 403, "Invalid Origin header")
                return
        await self.app(scope, receive, send)


def _headers(scope: Scope) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        if name in ("host", "origin") and name not in found:
            found[name] = raw_value.decode("latin-1")
    return found


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = text.encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
