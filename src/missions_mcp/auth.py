"""Who may call the server over HTTP: the MCP authorization spec's resource-server side, through the SDK.

The server is an OAuth 2.1 resource server: a request without a valid bearer token is answered 401
with ``WWW-Authenticate: Bearer … resource_metadata="…"``, and the protected resource metadata
(RFC 9728) names the authorization server that issues tokens. Two token verifiers plug into the mcp
SDK's ``TokenVerifier`` / ``AuthSettings``:

    StaticTokenVerifier         one shared token (``--auth-token`` / ``MISSIONS_AUTH_TOKEN``), for a team
    IntrospectionTokenVerifier  asks the authorization server about each token (RFC 7662), cached briefly

A token is compared in constant time and is never logged; the MCP client's ``Authorization`` header
stays at this layer — calls to the Missions API carry the server's own key, nothing of the client's.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx2
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings

from .config import Settings
from .hosts import is_loopback

__all__ = [
    "MIN_TOKEN_LENGTH",
    "Authentication",
    "IntrospectionTokenVerifier",
    "StaticTokenVerifier",
    "authentication",
    "describe",
]

logger = logging.getLogger(__name__)


MIN_TOKEN_LENGTH = 16
"""Shorter shared tokens are guessable, and could not be redacted from text without mangling it."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _same_resource(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class StaticTokenVerifier(TokenVerifier):
    """Accepts exactly one token. Digests are compared, so the time taken says nothing about the
    token, not even its length."""

    def __init__(self, token: str, *, resource: str, scopes: tuple[str, ...] = ()):
        if len(token.strip()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"the auth token must be at least {MIN_TOKEN_LENGTH} characters, e.g. from 'openssl rand -hex 32'"
            )
        self._digest = _digest(token)
        self._resource = resource
        self._scopes = list(scopes)

    async def verify_token(self, token: str) -> AccessToken | None:
        if not hmac.compare_digest(_digest(token), self._digest):
            return None
        return AccessToken(
            token=token, client_id="missions-mcp-static-token", scopes=self._scopes, resource=self._resource
        )


class IntrospectionTokenVerifier(TokenVerifier):
    """Asks the authorization server's introspection endpoint (RFC 7662) whether a token is active.

    A token counts only if the answer is ``active: true`` and its ``aud`` names this server's
    resource URL (RFC 8707), so a token minted for another service is refused. Answers are cached
    by the token's digest for ``cache_seconds`` (never past the token's ``exp``), so a busy session
    does not ask on every request; an unreachable or failing endpoint refuses the token.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        resource: str,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout: float = 5.0,
        cache_seconds: float = 60.0,
        cache_size: int = 1024,
        transport: httpx2.AsyncBaseTransport | None = None,
    ):
        self.endpoint = endpoint
        self._resource = resource
        self._auth = httpx2.BasicAuth(client_id, client_secret or "") if client_id else None
        self._timeout = timeout
        self._cache_seconds = cache_seconds
        self._cache_size = cache_size
        self._cache: OrderedDict[bytes, tuple[float, AccessToken | None]] = OrderedDict()
        self._transport = transport

    async def verify_token(self, token: str) -> AccessToken | None:
        key = _digest(token)
        now = time.time()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await self._introspect(token)
        until = now + self._cache_seconds
        if found is not None and found.expires_at is not None:
            until = min(until, found.expires_at)
        self._cache[key] = (until, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found

    async def _introspect(self, token: str) -> AccessToken | None:
        try:
            async with httpx2.AsyncClient(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            ) as http:
                response = await http.post(
                    self.endpoint,
                    data={"token": token, "token_type_hint": "access_token"},
                    auth=self._auth or httpx2.USE_CLIENT_DEFAULT,
                    headers={"Accept": "application/json"},
                )
        except httpx2.HTTPError as exc:
            logger.warning("token introspection at %s failed: %s", self.endpoint, type(exc).__name__)
            return None
        if response.status_code != 200:
            logger.warning("token introspection at %s answered %d", self.endpoint, response.status_code)
            return None
        try:
            claims = response.json()
        except ValueError:
            logger.warning("token introspection at %s answered something other than JSON", self.endpoint)
            return None
        if not isinstance(claims, dict) or claims.get("active") is not True:
            return None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        resource = next((a for a in audiences if isinstance(a, str) and _same_resource(a, self._resource)), None)
        scope = claims.get("scope")
        exp = claims.get("exp")
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or "unknown"),
            scopes=scope.split() if isinstance(scope, str) else [],
            expires_at=int(exp) if isinstance(exp, int | float) else None,
            resource=self._resource if resource is not None else None,
            subject=str(claims["sub"]) if claims.get("sub") is not None else None,
            claims={k: claims[k] for k in ("iss",) if k in claims},
        )


@dataclass(frozen=True)
class Authentication:
    """What the HTTP apps need to protect themselves: the SDK's settings and a verifier."""

    settings: AuthSettings
    verifier: TokenVerifier
    kind: str
    """``static token`` or ``token introspection``: for the start-up log line."""


def _check_endpoint(name: str, url: str) -> None:
    parsed = httpx2.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{name} must be an http(s) URL (got {url!r})")
    if parsed.scheme == "http" and not is_loopback(parsed.host):
        raise ValueError(f"{name} must use https unless it is on this machine (got {url!r})")


def authentication(settings: Settings, *, resource_url: str) -> Authentication | None:
    """The authentication the settings ask for, or ``None`` for an open server.

    ``resource_url`` is this server's MCP endpoint as clients reach it (``--public-url``); tokens
    must have been issued for it. Raises ``ValueError`` with the fix for settings that cannot work.
    """
    if settings.auth_token and settings.auth_introspection_url:
        raise ValueError("choose one of --auth-token and --auth-introspection-url, not both")
    if settings.auth_introspection_url:
        _check_endpoint("--auth-introspection-url", settings.auth_introspection_url)
        if not settings.auth_issuer:
            raise ValueError(
                "--auth-introspection-url needs --auth-issuer, the authorization server that issues "
                "the tokens (clients find it in this server's protected resource metadata)"
            )
        verifier: TokenVerifier = IntrospectionTokenVerifier(
            settings.auth_introspection_url,
            resource=resource_url,
            client_id=settings.auth_client_id,
            client_secret=settings.auth_client_secret,
        )
        kind = "token introspection"
    elif settings.auth_token:
        verifier = StaticTokenVerifier(settings.auth_token, resource=resource_url, scopes=settings.auth_scopes)
        kind = "static token"
    else:
        return None
    if settings.auth_issuer:
        _check_endpoint("--auth-issuer", settings.auth_issuer)
    # A static token comes from no authorization server; the metadata then names this server's own
    # origin, where a client that tries OAuth discovery finds nothing and asks its user for the token.
    issuer = settings.auth_issuer or str(httpx2.URL(resource_url).copy_with(path="/", query=None)).rstrip("/")
    auth_settings = AuthSettings(
        issuer_url=issuer,  # pydantic parses the string
        resource_server_url=resource_url,
        required_scopes=list(settings.auth_scopes) or None,
        validate_token_resource=True,
    )
    return Authentication(settings=auth_settings, verifier=verifier, kind=kind)


def describe(auth: Authentication | None) -> str:
    return "no authentication" if auth is None else f"bearer tokens checked by {auth.kind}"
