"""The real command over streamable HTTP and SSE, on loopback, driven by mcp.Client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
