"""Who may reach the embedded API when it is served over HTTP (``missions-mcp api``).

Two checks, in front of every route:

- ``Host`` and ``Origin`` (:class:`~missions_mcp.hosts.HostGuard`): 421 for a name the server does not
  answer to, 403 for a page of a foreign origin, so a web page cannot read the store through DNS
  rebinding;
- with an accepted-token list, ``Authorization: Bearer <token>`` must carry one of those tokens
  (401 otherwise, in the API's error shape), so a store reachable from a network does not mint a tenant
  for any bearer string. Each accepted token is its own tenant, as without the list.

In process (``httpx2.ASGITransport``) neither applies: no network, no browser.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from ..hosts import HostGuard, HostPolicy

__all__ = ["ApiAccess", "TokenAllowList", "guarded"]


@dataclass(frozen=True)
class ApiAccess:
    policy: HostPolicy
    tokens: tuple[str, ...] = ()
    """Accepted bearer tokens; empty: any key (or none) is accepted, as on a laptop."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class TokenAllowList:
    """ASGI middleware: only requests bearing one of the accepted tokens pass."""

    def __init__(self, app: ASGIApp, tokens: tuple[str, ...]):
        self.app = app
        self._digests = [_digest(t) for t in tokens]

    def _accepted(self, authorization: str | None) -> bool:
        if authorization is None:
            return False
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        digest = _digest(token.strip())
        # Every digest is compared, so the time taken does not say which token (if any) matched.
        return sum(hmac.compare_digest(digest, d) for d in self._digests) > 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = next(
            (v.decode("latin-1") for k, v in scope.get("headers", ()) if k.lower() == b"authorization"), None
        )
        if self._accepted(authorization):
            await self.app(scope, receive, send)
            return
        detail = (
            "This Missions API accepts only its configured tokens: send 'Authorization: Bearer <token>' "
            "with one of them (MISSIONS_API_TOKENS of the server)."
        )
        body = json.dumps({"detail": detail}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="missions"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def guarded(app: ASGIApp, access: ApiAccess) -> ASGIApp:
    """``app`` behind the Host/Origin check and, with tokens configured, the token list. The app itself
    stays unguarded for in-process callers (the page at ``/`` reads the API through it)."""
    inner = TokenAllowList(app, access.tokens) if access.tokens else app
    return HostGuard(inner, access.policy)
