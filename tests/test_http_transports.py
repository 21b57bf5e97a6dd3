"""The real command over streamable HTTP and SSE, on loopback, driven by mcp.Client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.sse import sse_client

from support import running

pytestmark = pytest.mark.slow


def _serve(transport: str, db: Path) -> Iterator[str]:
    with running(["--transport", transport, "--port", "{port}", "--db", str(db)], "/") as (base, _, output):
        yield base
    out, err = output
    assert out == b"", "HTTP transports print nothing on stdout"
    assert b"embedded Missions API" in err


@pytest.fixture
def streamable(tmp_path) -> Iterator[str]:
    yield from _serve("streamable-http", tmp_path / "m.db")


@pytest.fixture
def sse(tmp_path) -> Iterator[str]:
    yield from _serve("sse", tmp_path / "m.db")


async def _exercise(client: Client) -> None:
    tools = await client.list_tools()
    assert len(tools.tools) == 41
    made = await client.call_tool("create_mission", {"name": "over HTTP"})
    assert not made.is_error
    mission_id = made.structured_content["mission_id"]
    got = await client.call_tool("get_mission", {"mission_id": mission_id})
    assert got.structured_content["data"]["name"] == "over HTTP"
    bad = await client.call_tool("start_run", {"mission_id": mission_id, "input": "not an object"})
    assert bad.is_error and "input" in bad.content[0].text


@pytest.mark.anyio
async def test_streamable_http(streamable, mode):
    async with Client(streamable + "/mcp", mode=mode) as client:
        await _exercise(client)


@pytest.mark.anyio
async def test_sse(sse):
    async with Client(sse_client(sse + "/sse"), mode="legacy") as client:
        await _exercise(client)


# -- a request without a usable id (the rule: test_unidentified.py)

ACCEPT = {"Accept": "application/json, text/event-stream"}
INIT = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}


def test_streamable_http_answers_a_request_without_a_usable_id_400_and_the_session_carries_on(streamable):
    with httpx2.Client(base_url=streamable, headers=ACCEPT, timeout=10) as http:
        opened = http.post("/mcp", json=INIT)
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}
        initialized = http.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        assert initialized.status_code == 202
        for id_ in (1.5, True, None):
            refused = http.post("/mcp", json={"jsonrpc": "2.0", "id": id_, "method": "tools/list"}, headers=session)
            assert refused.status_code == 400
            assert refused.json() == {
                "jsonrpc": "2.0",
                "id": None,
                "error": {
                    "code": -32600,
                    "message": 'Invalid Request: "tools/list" is a request and needs "id" as a string or an integer',
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


def test_sse_answers_a_request_without_a_usable_id_400_before_looking_for_its_session(sse):
    url = f"{sse}/messages/?session_id=0123456789abcdef0123456789abcdef"
    refused = httpx2.post(url, json={"jsonrpc": "2.0", "id": True, "method": "ping"}, timeout=10)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == -32600
    unknown = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, timeout=10)
    assert unknown.status_code == 404  # a usable request reaches the SDK, which looks for its session
