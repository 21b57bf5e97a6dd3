"""Log messages to the client: ``logging/setLevel`` (2025-11-25) and the per-request level (2026-07-28)."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp_types import LoggingMessageNotificationParams

from missions_mcp import Settings, build_server

pytestmark = pytest.mark.anyio

MISSING = "00000000-0000-4000-8000-000000000000"


async def _session(mode: str, tmp_path, level: str | None) -> list[tuple[str, str]]:
    received: list[tuple[str, str]] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        received.append((params.level, str(params.data)))

    missions = build_server(Settings(backend="local", db_path=tmp_path / "m.db"))
    options = {"log_level": level} if mode != "legacy" and level else {}
    async with Client(missions.server, mode=mode, logging_callback=on_log, **options) as client:
        if mode == "legacy" and level:
            await client.set_logging_level(level)
        made = await client.call_tool("create_mission", {"name": "logged"})
        await client.call_tool("get_mission", {"mission_id": made.structured_content["mission_id"]})
        await client.call_tool("get_mission", {"mission_id": MISSING})
    await missions.aclose()
    return received


async def test_legacy_clients_get_failures_until_they_ask_for_more(tmp_path):
    received = await _session("legacy", tmp_path, None)
    assert [level for level, _ in received] == ["warning"]
    assert received[0][1].startswith("get_mission failed: ") and MISSING in received[0][1]
    writes = await _session("legacy", tmp_path, "info")
    assert [level for level, _ in writes] == ["info", "warning"]
    assert writes[0][1] == "create_mission done"


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_the_level_asked_for_is_honoured(tmp_path, mode):
    everything = await _session(mode, tmp_path, "debug")
    assert [level for level, _ in everything] == ["info", "debug", "warning"]
    only_warnings = await _session(mode, tmp_path, "warning")
    assert [level for level, _ in only_warnings] == ["warning"]
    nothing = await _session(mode, tmp_path, "error")
    assert nothing == []


async def test_modern_clients_get_nothing_unless_they_opt_in(tmp_path):
    assert await _session("auto", tmp_path, None) == []


async def test_logging_is_declared(tmp_path):
    missions = build_server(Settings(backend="local", db_path=tmp_path / "m.db"))
    async with Client(missions.server, mode="legacy") as client:
        assert client.server_capabilities.logging is not None
    await missions.aclose()
