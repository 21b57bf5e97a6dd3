"""`missions-mcp api` serves one store to several MCP servers: what one agent writes, another reads."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api(tmp_path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", "api", "--port", str(port), "--db", str(tmp_path / "shared.db")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    try:
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                httpx.get(base + "/ai/missions", timeout=0.5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "missions-mcp api did not start"
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _server(base: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "MISSIONS_"))}
    return StdioServerParameters(command=sys.executable, args=["-m", "missions_mcp", "--base-url", base], env=env)


@pytest.mark.anyio
async def test_two_mcp_servers_share_one_embedded_api(api):
    async with Client(_server(api), mode="legacy") as writer, Client(_server(api), mode="auto") as reader:
        made = await writer.call_tool("create_mission", {"name": "shared"})
        mission_id = made.structured_content["data"]["mission_id"]
        run = await writer.call_tool("start_run", {"mission_id": mission_id})
        run_id = run.structured_content["data"]["run_id"]
        await writer.call_tool("log_event", {"mission_id": mission_id, "run_id": run_id, "type": "message",
                                             "summary": "written by the first server"})

        seen = await reader.call_tool("list_events", {"mission_id": mission_id, "run_id": run_id})
        assert [e["summary"] for e in seen.structured_content["data"]] == ["written by the first server"]
