"""The words a model reads: instructions that work when followed literally, field descriptions where a
model must choose, and the byte budget of the tool list — all through a real ``mcp.Client``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from missions_mcp.catalogue import BY_NAME, tool_names_in
from missions_mcp.config import Settings
from missions_mcp.server import build_server
from missions_mcp.tools import BUDGET_ALL, BUDGET_CORE, model_facing_bytes

from support import Client

pytestmark = pytest.mark.anyio


@pytest.fixture
async def listed(tmp_path: Any, mode: str) -> Any:
    missions = build_server(Settings(backend="local", db_path=tmp_path / "m.db"))
    try:
        async with Client(missions.server, mode=mode) as client:
            yield client, {t.name: t for t in (await client.list_tools()).tools}
    finally:
        await missions.aclose()


async def test_byte_budgets(listed: Any) -> None:
    _, tools = listed
    everything = sum(model_facing_bytes(t) for t in tools.values())
    core = sum(model_facing_bytes(t) for t in tools.values() if BY_NAME[t.name].core)
    assert everything <= BUDGET_ALL == 13_000, f"all tools: {everything} bytes"
    assert core <= BUDGET_CORE == 5_000, f"self-reporting core: {core} bytes"
    assert {n for n in tools if BY_NAME[n].core} == {
        "list_missions",
        "create_mission",
        "start_run",
        "update_run",
        "create_plan",
        "add_plan_steps",
        "update_plan_step",
        "log_event",
        "get_plan",
        "get_run",
    }


def _field(tools: dict[str, Any], path: str) -> dict[str, Any]:
    tool, *keys = path.split(".")
    node = tools[tool].input_schema
    for key in keys:
        node = node["items"] if key == "[]" else node["properties"][key]
    return node


DESCRIBED = {
    "create_plan.steps.[].sequence": ("whole plan", "get_plan"),
    "create_plan.steps.[].parent_step_id": ("parent",),
    "create_plan.steps.[].step_id": ("unique",),
    "log_event.step_id": ("step",),
    "log_event.agent_id": ("agent",),
    "log_event.idempotency_key": ("same key", "retry"),
    "update_run.status": ("running", "final"),
    "update_run.result_summary": ("succeeded",),
    "update_run.result_payload": ("succeeded",),
    "update_run.error": ("failed",),
    "update_run.metadata": ("replaces",),
    "update_mission.metadata": ("replaces",),
    "update_plan_step.metadata": ("replaces",),
    "start_run.input": ("goal",),
    "log_event.summary": ("one line",),
}


async def test_fields_a_model_must_fill_say_what_they_are_for(listed: Any) -> None:
    _, tools = listed
    for path, words in DESCRIBED.items():
        text = _field(tools, path).get("description", "").lower()
        assert all(w in text for w in words), f"{path}: {text!r} should speak of {words}"


async def test_tool_descriptions_say_what_a_repeat_does_and_what_is_final(listed: Any) -> None:
    _, tools = listed
    assert "second" in tools["create_mission"].description, "a repeat makes a second mission"
    assert "before create_mission" in tools["list_missions"].description
    assert "pending" in tools["start_run"].description and "running" in tools["start_run"].description
    assert "flat list" in tools["get_plan"].description and "parent_step_id" in tools["get_plan"].description
    assert "once" in tools["create_plan"].description and "add_plan_steps" in tools["create_plan"].description
    assert "final" in _field(tools, "update_run.status")["description"]


# --------------------------------------------------------------------------- the literal model


def _steps(instructions: str) -> list[str]:
    """The numbered steps of the instructions, in order."""
    return [m.group(1) for m in re.finditer(r"^\d\. (.*(?:\n   .*)*)", instructions, re.M)]


async def test_a_literal_model_finishes_a_run_succeeded(listed: Any) -> None:
    """Follows only the instructions and the tool descriptions, word for word: every call succeeds."""
    client, _ = listed
    steps = _steps(client.instructions or "")
    assert len(steps) == 5, client.instructions
    calls: list[str] = []

    async def call(tool: str, **arguments: Any) -> Any:
        calls.append(tool)
        result = await client.call_tool(tool, arguments)
        assert not result.is_error, f"{tool} failed although the instructions say to call it: {result.content}"
        answer = result.structured_content
        return answer.get("data", answer)  # a read's objects, or a write's receipt

    # 1. find your mission with list_missions, or create it once with create_mission
    assert tool_names_in(steps[0]) == {"list_missions", "create_mission"}
    found = [m for m in await call("list_missions") if m["name"] == "Literal"]
    mission = found[0] if found else await call("create_mission", name="Literal")
    ids = {"mission_id": mission["mission_id"]}
    # 2. start_run, then update_run with status running
    assert re.search(r"start_run.*update_run.*status running", steps[1])
    ids["run_id"] = (await call("start_run", **ids))["run_id"]
    await call("update_run", **ids, status="running")
    # 3. write the plan with create_plan: step_id s1, s2, ..., sequence 1, 2, 3, ...
    assert "create_plan" in steps[2] and "s1" in steps[2] and "sequence 1" in steps[2]
    await call(
        "create_plan", **ids, steps=[{"step_id": f"s{i}", "description": f"step {i}", "sequence": i} for i in (1, 2)]
    )
    # 4. for each step: in_progress, log_event with its step_id, then completed
    assert re.search(r"update_plan_step in_progress.*log_event.*step_id.*update_plan_step completed", steps[3], re.S)
    for step_id in ("s1", "s2"):
        await call("update_plan_step", **ids, step_id=step_id, status="in_progress")
        await call("log_event", **ids, type="tool_call", summary="ran the tests", step_id=step_id)
        await call("log_event", **ids, type="tool_result", summary="all green", step_id=step_id)
        await call("update_plan_step", **ids, step_id=step_id, status="completed")
    # 5. finish with update_run: status succeeded + result_summary
    assert "update_run" in steps[4] and "succeeded + result_summary" in steps[4]
    run = await call("update_run", **ids, status="succeeded", result_summary="done")
    assert run["status"] == "succeeded"
    assert set(calls) <= tool_names_in(client.instructions or "")


async def test_skipping_running_is_refused_with_the_fix(listed: Any) -> None:
    client, _ = listed
    mission = (await client.call_tool("create_mission", {"name": "hasty"})).structured_content
    run = (await client.call_tool("start_run", {"mission_id": mission["mission_id"]})).structured_content
    result = await client.call_tool(
        "update_run", {"mission_id": mission["mission_id"], "run_id": run["run_id"], "status": "succeeded"}
    )
    assert result.is_error
    assert "update_run status=running" in result.content[0].text
