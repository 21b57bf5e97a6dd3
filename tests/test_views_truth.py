"""Views a person can trust: last activity, where a finished run stopped, why a step failed, the
current step in plan.json, and resources/list naming mission and status — through ``mcp.Client``."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from scripted import call

pytestmark = pytest.mark.anyio


async def _started(client: Any, name: str = "Fix the flaky login test") -> tuple[dict[str, str], str]:
    mission_id = (await call(client, "create_mission", name=name))["mission_id"]
    run_id = (await call(client, "start_run", mission_id=mission_id))["run_id"]
    ids = {"mission_id": mission_id, "run_id": run_id}
    await call(client, "update_run", **ids, status="running")
    steps = [{"step_id": f"s{i}", "description": f"step {i}", "sequence": i} for i in (1, 2, 3)]
    await call(client, "create_plan", **ids, steps=steps)
    return ids, f"missions://missions/{mission_id}/runs/{run_id}"


async def _text(client: Any, uri: str) -> str:
    return str((await client.read_resource(uri)).contents[0].text)


async def test_a_busy_run_shows_its_last_activity_and_how_long_it_has_run(client: Any) -> None:
    ids, uri = await _started(client)
    await call(client, "update_plan_step", **ids, step_id="s1", status="in_progress")
    await anyio.sleep(1.1)  # the run itself is not updated again: only its step and its events move
    for i in range(20):
        await call(client, "log_event", **ids, type="tool_call", summary=f"call {i}", step_id="s1")
    text = await _text(client, uri)
    line = next(line for line in text.splitlines() if line.startswith("- Started"))
    started, rest = line.split(" · last activity ")
    assert started.removeprefix("- Started ") != rest.split(" · ")[0], "the last activity is the newest event"
    assert "not finished · active for 1 s" in line


async def test_a_finished_run_shows_where_it_stopped_and_why_a_step_failed(client: Any) -> None:
    ids, uri = await _started(client)
    await call(client, "update_plan_step", **ids, step_id="s1", status="completed")
    await call(client, "update_plan_step", **ids, step_id="s2", status="in_progress")
    await call(client, "log_event", **ids, type="error", summary="teardown still races", step_id="s2")
    await call(client, "update_plan_step", **ids, step_id="s2", status="failed")
    await call(
        client, "update_plan_step", **ids, step_id="s3", status="in_progress", metadata={"error": "never got here"}
    )
    await call(client, "update_run", **ids, status="failed", error="gave up")
    run = await _text(client, uri)
    assert "- Stopped at: s3: step 3 (in\\_progress)" in run or "- Stopped at: s3: step 3 (in_progress)" in run
    assert "Current step" not in run and "since" not in run, "a finished run is not at work"
    assert "- Failed step s2: teardown still races" in run
    plan = await _text(client, uri + "/plan")
    assert "[!] s2: step 2" in plan and "reason: teardown still races" in plan
    tree = json.loads(await _text(client, uri + "/plan.json"))
    assert tree["run_status"] == "failed" and tree["stopped_at"] == "s3" and tree["current_step"] is None
    assert [n.get("reason") for n in tree["steps"]] == [None, "teardown still races", None]


async def test_plan_json_carries_the_current_step(client: Any) -> None:
    ids, uri = await _started(client)
    await call(client, "update_plan_step", **ids, step_id="s2", status="in_progress")
    tree = json.loads(await _text(client, uri + "/plan.json"))
    assert tree["run_status"] == "running" and tree["current_step"] == "s2" and tree["stopped_at"] is None


async def test_resources_list_names_the_mission_and_the_status(client: Any) -> None:
    await _started(client, "Nightly backup")
    listed = (await client.list_resources()).resources
    titles = [r.title for r in listed if r.uri.startswith("missions://missions/")]
    assert titles and all("of Nightly backup (running, started" in t for t in titles), titles
