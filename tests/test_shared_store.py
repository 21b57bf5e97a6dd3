"""`missions-mcp api` serves one store to several MCP servers: what one agent writes, another reads."""

from __future__ import annotations

import sys

import pytest
from mcp import Client, StdioServerParameters

from support import clean_env, running

pytestmark = pytest.mark.slow


@pytest.fixture
def api(tmp_path):
    with running(["api", "--port", "{port}", "--db", str(tmp_path / "shared.db")], "/ai/missions") as (base, _, _):
        yield base


def _server(base: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-m", "missions_mcp", "--base-url", base], env=clean_env()
    )


@pytest.mark.anyio
async def test_two_mcp_servers_share_one_embedded_api(api):
    async with Client(_server(api), mode="legacy") as writer, Client(_server(api), mode="auto") as reader:
        made = await writer.call_tool("create_mission", {"name": "shared"})
        mission_id = made.structured_content["mission_id"]
        run = await writer.call_tool("start_run", {"mission_id": mission_id})
        run_id = run.structured_content["run_id"]
        await writer.call_tool(
            "log_event",
            {"mission_id": mission_id, "run_id": run_id, "type": "message", "summary": "written by the first server"},
        )

        seen = await reader.call_tool("list_events", {"mission_id": mission_id, "run_id": run_id})
        assert [e["summary"] for e in seen.structured_content["data"]] == ["written by the first server"]
