"""Token verifiers and Host/Origin policy, in process; and introspection end to end against an authorization
server on loopback (a small RFC 7662 endpoint standing in for the one a team already runs)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from missions_mcp.auth import IntrospectionTokenVerifier, StaticTokenVerifier, authentication
from missions_mcp.config import Settings
from missions_mcp.hosts import HostPolicy, is_loopback, is_wildcard

from httpserve import free_port_on, serving

RESOURCE = "https://mcp.team.example/mcp"


class AuthorizationServer:
    """An RFC 7662 introspection endpoint: ``tokens`` maps a token to its claims; counts the calls."""

    def __init__(self, tokens: dict[str, dict], client: tuple[str, str] = ("missions-mcp", "s3cret")):
        self.tokens = tokens
        self.client = client
        self.calls = 0
        self.app = Starlette(routes=[Route("/introspect", self.introspect, methods=["POST"])])

    async def introspect(self, request: Request) -> JSONResponse:
        self.calls += 1
        expected = "Basic " + base64.b64encode(":".join(self.client).encode()).decode()
        if request.headers.get("authorization") != expected:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = await request.form()
        claims = self.tokens.get(str(form.get("token")))
        return JSONResponse({"active": True, **claims} if claims else {"active": False})


def _verifier(server: AuthorizationServer, **kw) -> IntrospectionTokenVerifier:
    return IntrospectionTokenVerifier(
        "http://as.test/introspect",
        resource=RESOURCE,
        client_id="missions-mcp",
        client_secret="s3cret",
        transport=httpx2.ASGITransport(app=server.app),
        **kw,
    )


# -- static token


@pytest.mark.anyio
async def test_static_token_accepts_only_itself():
    verifier = StaticTokenVerifier("team-token-0000042", resource=RESOURCE, scopes=("missions",))
    accepted = await verifier.verify_token("team-token-0000042")
    assert accepted is not None and accepted.resource == RESOURCE and accepted.scopes == ["missions"]
    for other in (
        "",
        "team-token-000004",
        "team-token-00000421",
        "TEAM-TOKEN-0000042",
        " team-token-0000042",
        "team-token-0000042\x00",
    ):
        assert await verifier.verify_token(other) is None, other


def test_static_token_must_be_long_enough():
    for short in ("", "  ", "fifteen-chars-x"):
        with pytest.raises(ValueError, match="at least 16 characters"):
            StaticTokenVerifier(short, resource=RESOURCE)


# -- introspection


@pytest.mark.anyio
async def test_introspection_accepts_active_tokens_for_this_resource():
    exp = int(time.time()) + 600
    server = AuthorizationServer(
        {
            "good": {
                "aud": [RESOURCE, "https://other.example"],
                "scope": "missions read",
                "client_id": "agent",
                "sub": "user-7",
                "exp": exp,
                "iss": "https://auth.team.example",
            },
            "other-audience": {"aud": "https://other.example/mcp", "client_id": "agent"},
        }
    )
    verifier = _verifier(server)
    good = await verifier.verify_token("good")
    assert good is not None
    assert (good.client_id, good.subject, good.scopes, good.expires_at, good.resource) == (
        "agent",
        "user-7",
        ["missions", "read"],
        exp,
        RESOURCE,
    )
    assert good.claims == {"iss": "https://auth.team.example"}
    foreign = await verifier.verify_token("other-audience")
    assert foreign is not None and foreign.resource is None  # the SDK's resource check refuses it
    assert await verifier.verify_token("unknown") is None


@pytest.mark.anyio
async def test_introspection_answers_are_cached_by_digest():
    server = AuthorizationServer({"good": {"aud": RESOURCE}})
    verifier = _verifier(server, cache_seconds=60)
    for _ in range(5):
        assert await verifier.verify_token("good") is not None
        assert await verifier.verify_token("bad") is None
    assert server.calls == 2
    expiring = _verifier(server, cache_seconds=0)
    await expiring.verify_token("good")
    await expiring.verify_token("good")
    assert server.calls == 4


@pytest.mark.anyio
async def test_a_failing_authorization_server_refuses_the_token():
    server = AuthorizationServer({"good": {"aud": RESOURCE}}, client=("someone", "else"))
    assert await _verifier(server).verify_token("good") is None  # 401 from the endpoint

    async def broken(request: Request) -> JSONResponse:
        return JSONResponse(["not", "an", "object"])

    odd = IntrospectionTokenVerifier(
        "http://as.test/x",
        resource=RESOURCE,
        transport=httpx2.ASGITransport(app=Starlette(routes=[Route("/x", broken, methods=["POST"])])),
    )
    assert await odd.verify_token("good") is None
    unreachable = IntrospectionTokenVerifier(f"http://127.0.0.1:{free_port_on('127.0.0.1')}/x", resource=RESOURCE)
    assert await unreachable.verify_token("good") is None


def test_authentication_settings_are_checked():
    def build(**kw) -> object:
        return authentication(Settings(transport="streamable-http", **kw), resource_url=RESOURCE)

    assert build() is None
    static = build(auth_token="settings-test-token-7d41c9")
    assert static is not None and static.kind == "static token"
    assert str(static.settings.resource_server_url) == RESOURCE
    assert str(static.settings.issuer_url) == "https://mcp.team.example"
    for kw, words in [
        ({"auth_token": "settings-test-token-7d41c9", "auth_introspection_url": "https://as.example/i"}, "not both"),
        ({"auth_introspection_url": "https://as.example/i"}, "--auth-issuer"),
        ({"auth_introspection_url": "http://as.example/i", "auth_issuer": "https://as.example"}, "https"),
        ({"auth_introspection_url": "ftp://as.example/i", "auth_issuer": "https://as.example"}, r"http\(s\) URL"),
    ]:
        with pytest.raises(ValueError, match=words):
            build(**kw)
    local = build(auth_introspection_url="http://127.0.0.1:9/i", auth_issuer="http://127.0.0.1:9")
    assert local is not None and local.kind == "token introspection"


# -- Host and Origin policy


def test_loopback_and_wildcard_addresses():
    assert all(map(is_loopback, ["127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost", "LOCALHOST"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "10.0.0.1", "example.com", "localhost.example"]))
    assert all(map(is_wildcard, ["0.0.0.0", "::", "[::]"]))
    assert not any(map(is_wildcard, ["127.0.0.1", "example.com"]))


def test_host_policy():
    policy = HostPolicy.for_bind(
        "127.0.0.2",
        allowed_hosts=["mcp.team.example", "proxy.example:8443"],
        allowed_origins=["https://console.team.example"],
    )
    for ok in [
        "127.0.0.2:8000",
        "127.0.0.1:1",
        "localhost",
        "[::1]:80",
        "MCP.team.example",
        "mcp.team.example:9",
        "proxy.example:8443",
    ]:
        assert policy.host_ok(ok), ok
    for bad in [
        None,
        "",
        "evil.example",
        "proxy.example",
        "proxy.example:8444",
        "127.0.0.3:8000",
        "mcp.team.example.evil",
        "mcp.team.example@evil",
        "[::2]:80",
    ]:
        assert not policy.host_ok(bad), bad
    for ok in [
        None,
        "http://localhost:3000",
        "https://mcp.team.example",
        "https://console.team.example",
        "HTTPS://CONSOLE.team.example",
    ]:
        assert policy.origin_ok(ok), ok
    for bad in [
        "null",
        "",
        "https://evil.example",
        "file://",
        "https://console.team.example:444",
        "chrome-extension://abc",
        "http://localhost:3000/path",
        "ws://localhost",
    ]:
        assert not policy.origin_ok(bad), bad
    assert policy.reaches_beyond_loopback and policy.names_beyond_loopback
    assert not HostPolicy.for_bind("127.0.0.1").reaches_beyond_loopback
    assert not HostPolicy.for_bind("127.0.0.2").reaches_beyond_loopback
    assert not HostPolicy.for_bind("0.0.0.0").host_ok("0.0.0.0:8000")
    # Another machine can send any Host it likes: listening beyond loopback is reaching beyond it.
    for exposed in ("0.0.0.0", "::", "10.1.2.3"):
        assert HostPolicy.for_bind(exposed).reaches_beyond_loopback, exposed
        assert not HostPolicy.for_bind(exposed).names_beyond_loopback or exposed == "10.1.2.3"


def test_sdk_patterns_say_the_same():
    hosts, origins = HostPolicy.for_bind("::1", allowed_hosts=["a.example:8443"]).sdk_patterns()
    assert {"[::1]", "[::1]:*", "a.example:8443", "127.0.0.1:*", "localhost:*"} <= set(hosts)
    assert {"http://[::1]:*", "https://a.example:8443", "http://localhost:*"} <= set(origins)


def test_bad_policy_entries_are_refused():
    with pytest.raises(ValueError, match="allowed hosts"):
        HostPolicy.for_bind("127.0.0.1", allowed_hosts=["a.example:notaport"])
    with pytest.raises(ValueError, match="allowed origins"):
        HostPolicy.for_bind("127.0.0.1", allowed_origins=["console.example"])


# -- end to end


@pytest.fixture
def authorization_server() -> Iterator[tuple[str, AuthorizationServer]]:
    port = free_port_on("127.0.0.1")
    server = AuthorizationServer({})
    config = uvicorn.Config(server.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        assert time.monotonic() < deadline, "the authorization server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", server
    runner.should_exit = True
    thread.join(timeout=10)


@pytest.mark.slow
@pytest.mark.anyio
async def test_introspection_end_to_end(tmp_path, authorization_server):
    issuer, server = authorization_server
    with serving(
        [
            "--transport",
            "streamable-http",
            "--db",
            str(tmp_path / "m.db"),
            "--auth-introspection-url",
            f"{issuer}/introspect",
            "--auth-issuer",
            issuer,
            "--auth-client-id",
            "missions-mcp",
            "--auth-scopes",
            "missions",
        ],
        env={"MISSIONS_AUTH_CLIENT_SECRET": "s3cret"},
    ) as mcp:
        endpoint = mcp.base + "/mcp"
        server.tokens.update(
            {
                "good": {"aud": endpoint, "scope": "missions", "client_id": "agent"},
                "no-scope": {"aud": endpoint, "scope": "other", "client_id": "agent"},
                "elsewhere": {"aud": "https://other.example/mcp", "scope": "missions", "client_id": "agent"},
            }
        )
        async with httpx2.AsyncClient(timeout=10) as http:
            metadata = (await http.get(mcp.base + "/.well-known/oauth-protected-resource/mcp")).json()
            assert metadata["resource"] == endpoint and metadata["authorization_servers"] == [issuer]
            assert metadata["scopes_supported"] == ["missions"]
            for token, status in (("elsewhere", 401), ("unknown", 401), ("no-scope", 403)):
                refused = await http.post(endpoint, json={}, headers={"Authorization": f"Bearer {token}"})
                assert refused.status_code == status, token
                assert "resource_metadata=" in refused.headers["www-authenticate"]
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer good"}, timeout=30) as http2,
            Client(streamable_http_client(endpoint, http_client=http2)) as client,
        ):
            assert len((await client.list_tools()).tools) == 41
        assert mcp.stop() == 0
    assert all(b"s3cret" not in stream and b"Bearer good" not in stream for stream in mcp.output)
