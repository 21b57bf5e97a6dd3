"""The real command over streamable HTTP and SSE, on loopback, driven by mcp.Client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mcp import Client
from mcp.client.sse import sse_client

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(transport: str, db: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "MISSIONS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", "--transport", transport, "--port", str(port), "--db", str(db)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                httpx.get(base + "/", timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
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
    mission_id = made.structured_content["data"]["mission_id"]
    got = await client.call_tool("get_mission", {"mission_id": mission_id})
    assert got.structured_content["data"]["name"] == "over HTTP"
    bad = await client.call_tool("start_run", {"mission_id": mission_id, "input": "not an object"})
    assert bad.is_error and "input" in bad.content[0].text


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_streamable_http(streamable, mode):
    async with Client(streamable + "/mcp", mode=mode) as client:
        await _exercise(client)


@pytest.mark.anyio
async def test_sse(sse):
    async with Client(sse_client(sse + "/sse"), mode="legacy") as client:
        await _exercise(client)
