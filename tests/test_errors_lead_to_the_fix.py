"""Errors a model makes, answered with the way out: through a real ``mcp.Client`` in both protocol eras."""

from __future__ import annotations

from typing import Any

import pytest

from scripted import call

pytestmark = pytest.mark.anyio


async def _run(client: Any, name: str = "m") -> dict[str, str]:
    mission_id = (await call(client, "create_mission", name=name))["mission_id"]
    run_id = (await call(client, "start_run", mission_id=mission_id))["run_id"]
    return {"mission_id": mission_id, "run_id": run_id}


async def _error(client: Any, tool: str, arguments: dict[str, Any]) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should fail: {result.structured_content}"
    return str(result.content[0].text)


async def test_an_unknown_key_in_a_plan_step_lists_the_step_fields(client: Any) -> None:
    ids = await _run(client)
    text = await _error(client, "create_plan", {**ids, "steps": [{"id": "s1", "description": "d", "sequence": 1}]})
    assert (
        "steps[0].id: unknown field; this object takes: step_id, description, sequence, parent_step_id, "
        "metadata" in text
    )
    assert "mission_id, run_id" not in text, "the step's own fields, not the tool's arguments"
    assert "steps[0].step_id: required" in text


async def test_a_name_given_as_an_id_says_where_the_id_is(client: Any) -> None:
    ids = await _run(client, "Release 1.4")
    text = await _error(client, "get_run", {"mission_id": "Release 1.4", "run_id": ids["run_id"]})
    assert "mission_id: must be a UUID" in text and "find the mission's id with list_missions" in text
    text = await _error(client, "get_plan", {"mission_id": ids["mission_id"], "run_id": "latest"})
    assert "find the run's id with list_runs" in text


@pytest.mark.parametrize(
    "guess, meant",
    [
        ("finish_run", "update_run"),
        ("complete_step", "update_plan_step"),
        ("create_run", "start_run"),
        ("log", "log_event"),
        ("mark_task_done", "update_plan_step"),
        ("add_step", "add_plan_steps"),
    ],
)
async def test_an_unknown_tool_is_answered_by_meaning(client: Any, guess: str, meant: str) -> None:
    text = await _error(client, guess, {})
    suggestions = text.split("Did you mean: ", 1)[1].split("?", 1)[0].split(", ")
    assert suggestions[0] == meant, text


async def test_a_run_of_another_mission_says_whose_it_is(client: Any) -> None:
    ids = await _run(client, "first")
    other = (await call(client, "create_mission", name="second"))["mission_id"]
    text = await _error(client, "get_run", {"mission_id": other, "run_id": ids["run_id"]})
    assert f"belongs to mission {ids['mission_id']}" in text and "that mission_id" in text


async def test_a_finished_run_keeps_its_plan_and_an_unplanned_step_id_is_logged(client: Any) -> None:
    ids = await _run(client)
    await call(client, "update_run", **ids, status="running")
    await call(client, "create_plan", **ids, steps=[{"step_id": "s1", "description": "only", "sequence": 1}])
    await call(client, "log_event", **ids, type="message", summary="outside the plan", step_id="s9")
    events = await client.read_resource(f"missions://missions/{ids['mission_id']}/runs/{ids['run_id']}/events")
    assert "step s9" in events.contents[0].text, "an accepted event shows in the views with its step id"
    await call(client, "update_run", **ids, status="failed", error="gave up")
    text = await _error(client, "update_plan_step", {**ids, "step_id": "s1", "status": "completed"})
    assert "its plan is final" in text and "before finishing the run" in text
    text = await _error(
        client, "add_plan_steps", {**ids, "steps": [{"step_id": "s2", "description": "late", "sequence": 2}]}
    )
    assert "its plan is final" in text
