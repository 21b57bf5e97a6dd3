"""Serving over HTTP safely, through real HTTP against the real command on loopback addresses.

Host and Origin are checked on every endpoint of every HTTP server (MCP over streamable HTTP and SSE,
``missions-mcp api``) on every bind address; with authentication, a request without a valid token is
answered 401 with ``WWW-Authenticate`` pointing at the protected resource metadata; a bind beyond
loopback without authentication refuses to start; secrets never travel.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from httpserve import BIND_ADDRESSES, serving, shown
from support import clean_env

pytestmark = pytest.mark.slow

TOKEN = "mcp-client-token-5f1d8a"
CANARY = "KEY-canary-3b9e71c0d2"
FOREIGN_HOST = "rebound.attacker.example"
FOREIGN_ORIGIN = "http://rebound.attacker.example"

MCP_ENDPOINTS = {
    "streamable-http": [
        ("POST", "/mcp"),
        ("GET", "/mcp"),
        ("DELETE", "/mcp"),
        ("GET", "/.well-known/oauth-protected-resource/mcp"),
        ("GET", "/elsewhere"),
    ],
    "sse": [
        ("GET", "/sse"),
        ("POST", "/messages/?session_id=0123456789abcdef0123456789abcdef"),
        ("GET", "/.well-known/oauth-protected-resource/sse"),
        ("GET", "/elsewhere"),
    ],
}
API_ENDPOINTS = [
    ("GET", "/ai/missions"),
    ("POST", "/ai/missions"),
    ("GET", "/v2/ai/missions/runs"),
    ("GET", "/openapi.json"),
    ("GET", "/"),
    ("GET", "/elsewhere"),
]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "security-test", "version": "1"},
    },
}


def _request(method: str, url: str, headers: dict[str, str]) -> httpx2.Response:
    body = INITIALIZE if method == "POST" else None
    headers = {"Accept": "application/json, text/event-stream", **headers}
    # A refused request is answered at once; an accepted GET /sse would stream, so only the status is read.
    with httpx2.stream(method, url, json=body, headers=headers, timeout=10) as response:
        if response.status_code >= 400:
            response.read()
        return response


def _assert_refuses_foreign(base: str, endpoints: list[tuple[str, str]], auth: dict[str, str]) -> None:
    for method, path in endpoints:
        wrong_host = _request(method, base + path, {"Host": FOREIGN_HOST, **auth})
        assert wrong_host.status_code == 421, (method, path, wrong_host.status_code)
        wrong_port_name = _request(method, base + path, {"Host": f"{FOREIGN_HOST}:80", **auth})
        assert wrong_port_name.status_code == 421, (method, path)
        wrong_origin = _request(method, base + path, {"Origin": FOREIGN_ORIGIN, **auth})
        assert wrong_origin.status_code == 403, (method, path, wrong_origin.status_code)
        null_origin = _request(method, base + path, {"Origin": "null", **auth})
        assert null_origin.status_code == 403, (method, path)


@pytest.mark.parametrize("host", BIND_ADDRESSES)
@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_mcp_refuses_foreign_host_and_origin_everywhere(tmp_path, host, transport):
    env = {"MISSIONS_AUTH_TOKEN": TOKEN}  # with auth, so the metadata endpoint exists too
    with serving(["--transport", transport, "--db", str(tmp_path / "m.db")], host=host, env=env) as served:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        _assert_refuses_foreign(served.base, MCP_ENDPOINTS[transport], auth)
        # The server's own names and pages pass the guard (and reach the route).
        path = "/.well-known/oauth-protected-resource/" + ("mcp" if transport == "streamable-http" else "sse")
        for name in {shown(host), "localhost", "127.0.0.1"}:
            own = httpx2.get(
                served.base + path, headers={"Host": f"{name}:{served.port}", "Origin": f"http://{name}:{served.port}"}
            )
            assert own.status_code == 200, name
        assert served.stop() == 0


@pytest.mark.parametrize("host", BIND_ADDRESSES)
def test_mcp_without_auth_on_loopback_still_checks_hosts(tmp_path, host):
    with serving(["--transport", "streamable-http", "--db", str(tmp_path / "m.db")], host=host) as served:
        _assert_refuses_foreign(served.base, MCP_ENDPOINTS["streamable-http"][:3], {})
        ok = _request("POST", served.base + "/mcp", {"Origin": f"http://{shown(host)}:{served.port}"})
        assert ok.status_code == 200


@pytest.mark.parametrize("host", BIND_ADDRESSES)
def test_api_refuses_foreign_host_and_origin_everywhere(tmp_path, host):
    with serving(["--db", str(tmp_path / "m.db")], host=host, api=True) as served:
        _assert_refuses_foreign(served.base, API_ENDPOINTS, {})
        own = httpx2.get(served.base + "/ai/missions", headers={"Origin": f"http://localhost:{served.port}"})
        assert own.status_code == 200
        assert served.stop() == 0


def test_allowed_hosts_and_origins_widen_the_policy(tmp_path):
    args = [
        "--transport",
        "streamable-http",
        "--db",
        str(tmp_path / "m.db"),
        "--allowed-hosts",
        "mcp.team.example",
        "--allowed-origins",
        "https://console.team.example",
    ]
    with serving(args, env={"MISSIONS_AUTH_TOKEN": TOKEN}) as served:
        url = served.base + "/.well-known/oauth-protected-resource/mcp"
        assert httpx2.get(url, headers={"Host": "mcp.team.example"}).status_code == 200
        assert httpx2.get(url, headers={"Host": "mcp.team.example:8443"}).status_code == 200
        assert httpx2.get(url, headers={"Origin": "https://console.team.example"}).status_code == 200
        assert httpx2.get(url, headers={"Origin": "https://mcp.team.example"}).status_code == 200
        assert httpx2.get(url, headers={"Origin": "https://console.team.example.evil"}).status_code == 403
        assert httpx2.get(url, headers={"Host": "team.example"}).status_code == 421


# -- authentication


@pytest.mark.parametrize("transport", ["streamable-http", "sse"])
def test_missing_or_wrong_token_is_401_with_resource_metadata(tmp_path, transport):
    path = "/mcp" if transport == "streamable-http" else "/sse"
    with serving(
        ["--transport", transport, "--db", str(tmp_path / "m.db")], env={"MISSIONS_AUTH_TOKEN": TOKEN}
    ) as served:
        metadata_url = f"{served.base}/.well-known/oauth-protected-resource{path}"
        endpoints = (
            [("POST", path), ("GET", path)]
            if transport == "streamable-http"
            else [("GET", "/sse"), ("POST", "/messages/?session_id=0123456789abcdef0123456789abcdef")]
        )
        for method, endpoint in endpoints:
            for headers in (
                {},
                {"Authorization": "Bearer not-the-token"},
                {"Authorization": f"Bearer {TOKEN}x"},
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": TOKEN},
            ):
                refused = _request(method, served.base + endpoint, headers)
                assert refused.status_code == 401, (method, endpoint, headers)
                challenge = refused.headers["www-authenticate"]
                assert challenge.startswith("Bearer ") and 'error="invalid_token"' in challenge
                assert f'resource_metadata="{metadata_url}"' in challenge
                assert TOKEN not in refused.text and TOKEN not in challenge
        metadata = httpx2.get(metadata_url).json()
        assert metadata["resource"] == served.base + path
        assert metadata["authorization_servers"] and metadata["bearer_methods_supported"] == ["header"]
        assert served.stop() == 0
    assert all(TOKEN.encode() not in stream for stream in served.output), "the token is never logged"


def test_an_unidentified_request_is_refused_401_without_the_token_and_answered_400_with_it(tmp_path):
    """A request without a usable id gets its JSON-RPC error only from a client that presents a token:
    an anonymous one is told 401 first, whatever it sent."""
    with serving(
        ["--transport", "streamable-http", "--db", str(tmp_path / "m.db")], env={"MISSIONS_AUTH_TOKEN": TOKEN}
    ) as served:
        bad = {"jsonrpc": "2.0", "id": 1.5, "method": "tools/list"}
        headers = {"Accept": "application/json, text/event-stream"}
        anonymous = httpx2.post(served.base + "/mcp", json=bad, headers=headers, timeout=10)
        assert anonymous.status_code == 401
        bearer = {**headers, "Authorization": f"Bearer {TOKEN}"}
        answered = httpx2.post(served.base + "/mcp", json=bad, headers=bearer, timeout=10)
        assert answered.status_code == 400 and answered.json()["error"]["code"] == -32600
        assert TOKEN not in answered.text
        assert served.stop() == 0


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_client_with_the_token_works_and_its_header_never_reaches_the_api(tmp_path, mode):
    """The MCP server calls a real ``missions-mcp api`` that accepts only the server's own key: had the MCP
    client's Authorization header been passed on, the API would have refused the call."""
    with (
        serving(["--db", str(tmp_path / "api.db")], api=True, env={"MISSIONS_API_TOKENS": CANARY}) as api,
        serving(
            ["--transport", "streamable-http", "--base-url", api.base],
            env={"MISSIONS_AUTH_TOKEN": TOKEN, "TELNYX_API_KEY": CANARY},
        ) as mcp,
    ):
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(mcp.base + "/mcp", http_client=http), mode=mode) as client,
        ):
            made = await client.call_tool("create_mission", {"name": "through two layers of auth"})
            assert not made.is_error, made.content
            mission_id = made.structured_content["mission_id"]
            missing = await client.call_tool("get_mission", {"mission_id": "00000000-0000-4000-8000-000000000000"})
            assert missing.is_error
            everything = [made.model_dump_json(), missing.model_dump_json()]
        # The mission lives in the tenant of the server's key, and in no tenant of the client's token.
        async with httpx2.AsyncClient(base_url=api.base, timeout=10) as http:
            stored = await http.get(f"/ai/missions/{mission_id}", headers={"Authorization": f"Bearer {CANARY}"})
            assert stored.status_code == 200
            assert (await http.get("/ai/missions", headers={"Authorization": f"Bearer {TOKEN}"})).status_code == 401
        for text in everything:
            assert CANARY not in text
        assert mcp.stop() == 0 and api.stop() == 0
        for stream in mcp.output + api.output:
            assert CANARY.encode() not in stream and TOKEN.encode() not in stream


@pytest.mark.anyio
async def test_sse_client_with_the_token_works(tmp_path):
    with serving(["--transport", "sse", "--db", str(tmp_path / "m.db")], env={"MISSIONS_AUTH_TOKEN": TOKEN}) as s:
        async with Client(
            sse_client(s.base + "/sse", headers={"Authorization": f"Bearer {TOKEN}"}), mode="legacy"
        ) as client:
            assert len((await client.list_tools()).tools) == 41


def test_canary_key_never_appears_over_http(tmp_path):
    """With the hosted API's key set and the hosted API unreachable (a loopback port nobody listens on),
    every answer the server gives over HTTP — errors included — is free of the key."""
    dead = f"http://127.0.0.1:{_closed_port()}/v2"
    with serving(
        ["--transport", "streamable-http", "--base-url", dead, "--max-retries", "0"], env={"TELNYX_API_KEY": CANARY}
    ) as served:
        seen: list[str] = []
        with httpx2.Client(
            base_url=served.base, timeout=10, headers={"Accept": "application/json, text/event-stream"}
        ) as http:
            init = http.post("/mcp", json=INITIALIZE)
            seen.append(init.text + str(init.headers))
            session = {"mcp-session-id": init.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
            for i, (name, args) in enumerate(
                [
                    ("list_missions", {}),
                    ("get_mission", {"mission_id": "x"}),
                    ("create_mission", {"name": CANARY[:3]}),
                    ("nope", {}),
                ]
            ):
                answer = http.post(
                    "/mcp",
                    headers=session,
                    json={
                        "jsonrpc": "2.0",
                        "id": 10 + i,
                        "method": "tools/call",
                        "params": {"name": name, "arguments": args},
                    },
                )
                seen.append(answer.text + str(answer.headers))
            read = http.post(
                "/mcp",
                headers=session,
                json={
                    "jsonrpc": "2.0",
                    "id": 99,
                    "method": "resources/read",
                    "params": {"uri": "missions://runs/recent"},
                },
            )
            seen.append(read.text)
        assert any("isError" in s or "error" in s for s in seen[1:])
        for text in seen:
            assert CANARY not in text
        served.stop()
        assert all(CANARY.encode() not in stream for stream in served.output)


def _closed_port() -> int:
    from httpserve import free_port_on

    return free_port_on("127.0.0.1")


# -- refusing to start


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "missions_mcp", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean_env(), **(env or {})},
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--transport", "streamable-http", "--host", "0.0.0.0", "--allowed-hosts", "mcp.team.example"],
        ["--transport", "sse", "--host", "::", "--allowed-hosts", "mcp.team.example"],
        ["--transport", "streamable-http", "--host", "192.0.2.10"],
        ["--transport", "streamable-http", "--allowed-hosts", "mcp.team.example"],
        ["serve", "--transport", "streamable-http", "--public-url", "https://mcp.team.example/mcp"],
    ],
)
def test_beyond_loopback_without_auth_refuses_to_start(args):
    done = _start(args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "without authentication" in lines[0] and "MISSIONS_AUTH_TOKEN" in lines[0] and "127.0.0.1" in lines[0]
    assert "Traceback" not in done.stderr


def test_every_interface_without_a_name_refuses_to_start():
    done = _start(["--transport", "streamable-http", "--host", "0.0.0.0"], env={"MISSIONS_AUTH_TOKEN": TOKEN})
    assert done.returncode == 2 and "--allowed-hosts" in done.stderr and len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["api", "--host", "0.0.0.0", "--allowed-hosts", "store.team.example"],
        ["api", "--allowed-hosts", "store.team.example"],
    ],
)
def test_api_beyond_loopback_without_tokens_refuses_to_start(args):
    done = _start(args)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "MISSIONS_API_TOKENS" in done.stderr and "Traceback" not in done.stderr


def test_bad_auth_settings_are_one_line_errors():
    for args, env, words in [
        (["--transport", "streamable-http", "--auth-introspection-url", "http://auth.example/introspect"], {}, "https"),
        (
            ["--transport", "streamable-http", "--auth-introspection-url", "https://auth.example/introspect"],
            {},
            "--auth-issuer",
        ),
        (["--transport", "streamable-http", "--allowed-origins", "not an origin"], {}, "origin"),
        (["--transport", "streamable-http", "--public-url", "ftp://x"], {}, "--public-url"),
        (["--transport", "streamable-http"], {"MISSIONS_AUTH_TOKEN": "short"}, "at least 16 characters"),
        (["api"], {"MISSIONS_API_TOKENS": "long-enough-token-0001,short"}, "shorter than 16 characters"),
    ]:
        done = _start(args, env)
        assert done.returncode == 2 and words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done


# -- the embedded API's accepted tokens


def test_api_accepts_only_its_tokens_one_tenant_each(tmp_path: Path):
    tokens = "alpha-token-000001,beta-token-0000002"
    with serving(["--db", str(tmp_path / "m.db")], api=True, env={"MISSIONS_API_TOKENS": tokens}) as api:

        def call(method: str, path: str, token: str | None, **kw) -> httpx2.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return httpx2.request(method, api.base + path, headers=headers, timeout=10, **kw)

        for token in (None, "gamma-token-0000003", "alpha-token-000001x", "alpha-token-00000"):
            refused = call("POST", "/ai/missions", token, json={"name": "minted?"})
            assert refused.status_code == 401 and "detail" in refused.json()
            assert refused.headers["www-authenticate"].startswith("Bearer")
        alpha = call("POST", "/ai/missions", "alpha-token-000001", json={"name": "alpha's"})
        assert alpha.status_code == 201
        mission_id = alpha.json()["data"]["mission_id"]
        assert call("GET", f"/v2/ai/missions/{mission_id}", "alpha-token-000001").status_code == 200
        assert call("GET", f"/ai/missions/{mission_id}", "beta-token-0000002").status_code == 404
        assert call("GET", "/ai/missions", "beta-token-0000002").json()["meta"]["total_results"] == 0
        api.stop()
    assert all(b"alpha-token-000001" not in stream for stream in api.output)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_the_library_serve_binds_loopback_only(tmp_path, host):
    code = f"from missions_mcp.local import serve; serve(host={host!r}, port=0, db_path={str(tmp_path / 'm.db')!r})"
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert done.returncode != 0 and "ValueError" in done.stderr and "missions-mcp api" in done.stderr
    assert "Uvicorn running" not in done.stderr
