"""Tool filters: the exact tool set each filter gives, through ``mcp.Client`` in both protocol eras.

``--toolsets`` (default all) and ``--tools`` add, ``--exclude-tools`` removes, ``--read-only`` keeps
only GET tools whatever else was asked; the same through the environment (and so through the
``env`` of a host's ``mcp.json``); unknown names stop the server at start.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from missions_mcp import cli
from missions_mcp.catalogue import OPERATIONS, TOOLSETS
from missions_mcp.config import Settings
from missions_mcp.server import build_server, select_operations

from support import Client

pytestmark = pytest.mark.anyio

ALL = [op.name for op in OPERATIONS]
READS = [op.name for op in OPERATIONS if op.method == "GET"]


def _of(*toolsets: str) -> list[str]:
    return [op.name for op in OPERATIONS if op.toolset in toolsets]


async def _listed(settings: Settings, mode: str) -> list[str]:
    missions = build_server(settings)
    try:
        async with Client(missions.server, mode=mode) as client:
            return [tool.name for tool in (await client.list_tools()).tools]
    finally:
        await missions.aclose()


def _settings(tmp_path: Any, **filters: Any) -> Settings:
    return Settings(backend="local", db_path=tmp_path / "m.db", **filters)


async def test_default_is_every_tool_in_catalogue_order(tmp_path: Any, mode: str) -> None:
    assert await _listed(_settings(tmp_path), mode) == ALL
    assert len(ALL) == 41


@pytest.mark.parametrize("toolset", TOOLSETS)
async def test_each_toolset_alone(tmp_path: Any, mode: str, toolset: str) -> None:
    listed = await _listed(_settings(tmp_path, toolsets=(toolset,)), mode)
    assert listed == _of(toolset) and listed


@pytest.mark.parametrize(
    "filters, expected",
    [
        (
            {"toolsets": ("runs",), "tools": ("get_plan",), "exclude_tools": ("cancel_run",)},
            [n for n in _of("runs") if n != "cancel_run"] + ["get_plan"],
        ),
        ({"tools": ("log_event", "get_run")}, ["get_run", "log_event"]),  # catalogue order, not the order asked
        (
            {"toolsets": ("all",), "exclude_tools": ("delete_mission", "cancel_run")},
            [n for n in ALL if n not in ("delete_mission", "cancel_run")],
        ),
        (
            {"toolsets": ("plan", "events"), "exclude_tools": ("get_event",)},
            [n for n in _of("plan", "events") if n != "get_event"],
        ),
        ({"read_only": True}, READS),
        ({"read_only": True, "toolsets": ("plan",)}, ["get_plan", "get_plan_step"]),
        ({"read_only": True, "tools": ("update_run", "get_run")}, ["get_run"]),
    ],
)
async def test_filter_combinations(tmp_path: Any, mode: str, filters: dict[str, Any], expected: list[str]) -> None:
    assert await _listed(_settings(tmp_path, **filters), mode) == [n for n in ALL if n in expected]
    assert sorted(await _listed(_settings(tmp_path, **filters), mode)) == sorted(expected)


async def test_read_only_refuses_a_write_tool_even_when_named(tmp_path: Any, mode: str) -> None:
    missions = build_server(_settings(tmp_path, read_only=True, toolsets=("missions",), tools=("create_mission",)))
    try:
        async with Client(missions.server, mode=mode) as client:
            result = await client.call_tool("create_mission", {"name": "x"})
            tools = [tool.name for tool in (await client.list_tools()).tools]
            listed = await client.call_tool("list_missions", {})
            prompts = [p.name for p in (await client.list_prompts()).prompts]
    finally:
        await missions.aclose()
    assert result.is_error and tools == ["list_missions", "get_mission"]
    assert "'create_mission' is not enabled on this server (read-only mode or a tool filter)" in result.content[0].text
    assert not listed.is_error and listed.structured_content["data"] == [], "the refused call wrote nothing"
    assert prompts == ["review_run"], "track_work needs write tools, so read-only mode does not offer it"


def test_environment_variables(tmp_path: Any) -> None:
    env = {
        "MISSIONS_TOOLSETS": "plan, events",
        "MISSIONS_TOOLS": "get_run",
        "MISSIONS_EXCLUDE_TOOLS": "get_event",
        "MISSIONS_READ_ONLY": "true",
        "MISSIONS_WATCH_INTERVAL": "2.5",
    }
    settings = Settings.from_env(env)
    assert (settings.toolsets, settings.tools, settings.exclude_tools) == (
        ("plan", "events"),
        ("get_run",),
        ("get_event",),
    )
    assert settings.read_only and settings.watch_interval == 2.5
    assert [op.name for op in select_operations(settings)] == [
        "list_recent_events",
        "get_run",
        "list_events",
        "get_plan",
        "get_plan_step",
    ]
    assert not Settings.from_env({"MISSIONS_READ_ONLY": "0"}).read_only


def test_flags_override_the_environment_as_an_mcp_json_entry_would_set_them(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = json.loads("""{"mcpServers": {"missions": {"command": "missions-mcp",
        "args": ["--local", "--toolsets", "runs,plan", "--exclude-tools", "cancel_run"],
        "env": {"MISSIONS_TOOLSETS": "missions", "MISSIONS_READ_ONLY": "1"}}}}""")["mcpServers"]["missions"]
    for name, value in entry["env"].items():
        monkeypatch.setenv(name, value)
    settings = cli.settings_from_args(cli.build_parser().parse_args(entry["args"]))
    assert settings.toolsets == ("runs", "plan") and settings.exclude_tools == ("cancel_run",)
    assert settings.read_only, "a flag left out keeps the environment's value"
    assert [op.name for op in select_operations(settings)] == [n for n in _of("runs", "plan") if n in READS]


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--toolsets", "runs,nope"], ["unknown toolset(s): nope", "Valid toolsets: missions, runs, plan", "all"]),
        (["--tools", "get_rn"], ["unknown tool(s): get_rn", "Valid tools: list_missions", "get_run"]),
        (["--exclude-tools", "drop_everything"], ["unknown tool(s): drop_everything", "delete_mcp_server"]),
    ],
)
def test_unknown_names_stop_the_server_at_start(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("MISSIONS_TOOLSETS", "MISSIONS_TOOLS", "MISSIONS_EXCLUDE_TOOLS", "MISSIONS_READ_ONLY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--local", *argv])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err
