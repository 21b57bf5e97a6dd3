"""A request whose id is missing or not a string or an integer is answered -32600, never dropped.

The rule itself in process; over streamable HTTP and SSE through the real command (``slow``); the
stdio side is in ``test_stdio_framing.py``, the authenticated side in ``test_http_security.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from missions_mcp.unidentified import REQUEST_METHODS, unidentified_method

from support import running

ACCEPT = {"Accept": "application/json, text/event-stream"}
INIT = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}


@pytest.mark.parametrize("id_", [1.5, True, False, None, {"n": 1}, [1], 1.0])
def test_a_request_method_with_an_unusable_id_is_named(id_):
    body = json.dumps({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": "x"}}).encode()
    assert unidentified_method(body) == "tools/call"


@pytest.mark.parametrize(
    "body",
    [
        {"jsonrpc": "2.0", "id": 7, "method": "ping"},
        {"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        [{"jsonrpc": "2.0", "method": "ping"}],
    ],
)
def test_requests_with_ids_notifications_responses_and_batches_are_left_to_the_sdk(body):
    assert unidentified_method(json.dumps(body).encode()) is None


def test_broken_json_is_left_to_the_sdk():
    assert unidentified_method(b'{"method": "ping", ') is None
    assert unidentified_method(b"[" * 100_000 + b'"method"') is None


def test_the_request_methods_are_the_sdks_client_requests():
    assert {"initialize", "ping", "tools/list", "tools/call", "resources/read", "prompts/get"} <= REQUEST_METHODS
    assert not any(method.startswith("notifications/") for method in REQUEST_METHODS)


# -- the real command


def _serve(transport: str, db: Path) -> Iterator[str]:
    with running(["--transport", transport, "--port", "{port}", "--db", str(db)], "/") as (base, _, _output):
        yield base


@pytest.mark.slow
def test_streamable_http_answers_400_with_the_error_and_the_session_carries_on(tmp_path):
    for base in _serve("streamable-http", tmp_path / "m.db"):
        with httpx2.Client(base_url=base, headers=ACCEPT, timeout=10) as http:
            opened = http.post("/mcp", json=INIT)
            session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
            assert (
                http.post(
                    "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session
                ).status_code
                == 202
            )
            for id_ in (1.5, True, None):
                refused = http.post("/mcp", json={"jsonrpc": "2.0", "id": id_, "method": "tools/list"}, headers=session)
                assert refused.status_code == 400
                assert refused.json() == {
                    "jsonrpc": "2.0",
                    "id": None,
                    "error": {
                        "code": -32600,
                        "message": 'Invalid Request: "tools/list" is a request and needs "id" as a string or '
                        "an integer",
                    },
                }
            without = http.post("/mcp", json={"jsonrpc": "2.0", "method": "ping"}, headers=session)
            assert without.status_code == 400 and without.json()["error"]["code"] == -32600
            with http.stream("POST", "/mcp", json={"jsonrpc": "2.0", "id": 9, "method": "ping"}, headers=session) as ok:
                assert ok.status_code == 200
                answer = next(
                    json.loads(line[5:]) for line in ok.iter_lines() if line.startswith("data:") and line[5:].strip()
                )
            assert answer == {"jsonrpc": "2.0", "id": 9, "result": {}}


@pytest.mark.slow
def test_sse_answers_400_before_looking_for_the_session(tmp_path):
    for base in _serve("sse", tmp_path / "m.db"):
        url = f"{base}/messages/?session_id=0123456789abcdef0123456789abcdef"
        refused = httpx2.post(url, json={"jsonrpc": "2.0", "id": True, "method": "ping"}, timeout=10)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == -32600
        unknown = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=10)
        assert unknown.status_code == 404  # a usable request reaches the SDK, which looks for its session
