"""Plans, plan steps and linked Telnyx agents."""

from __future__ import annotations

import uuid

import pytest

from missions_mcp.models import (
    PlanResponse,
    PlanStepResponse,
    PlanStepsCreatedResponse,
    TelnyxAgentResponse,
    TelnyxAgentsListResponse,
)

pytestmark = pytest.mark.anyio


def step(step_id, sequence, **extra):
    return {"step_id": step_id, "description": f"do {step_id}", "sequence": sequence, **extra}


async def test_create_get_and_extend_a_plan(client, api):
    mid, rid = await api.run()
    url = f"/ai/missions/{mid}/runs/{rid}/plan"
    assert (await client.get(url)).json() == {"data": []}
    r = await client.post(
        url, json={"steps": [step("b", 2), step("a", 1, metadata={"k": 1}), step("a1", 1, parent_step_id="a")]}
    )
    assert r.status_code == 201
    created = PlanStepsCreatedResponse.model_validate(r.json()).data
    assert [s.step_id for s in created] == ["a", "a1", "b"]
    assert all(s.status == "pending" and str(s.run_id) == rid and s.started_at is None for s in created)
    r = await client.post(url, json={"steps": [step("c", 0)]})
    assert r.status_code == 409 and "add_plan_steps" in r.json()["detail"]
    r = await client.post(f"{url}/steps", json={"steps": [step("c", 0), step("d", 2, parent_step_id="c")]})
    assert r.status_code == 201 and [s["step_id"] for s in r.json()["data"]] == ["c", "d"]
    plan = PlanResponse.model_validate((await client.get(url)).json()).data
    assert [s.step_id for s in plan] == ["c", "a", "a1", "b", "d"]
    got = await client.get(f"{url}/steps/a1")
    assert got.status_code == 200 and PlanStepResponse.model_validate(got.json()).data.parent_step_id == "a"
    r = await client.get(f"{url}/steps/zzz")
    assert r.status_code == 404 and r.json() == {"detail": "Plan step zzz not found."}


async def test_add_steps_to_an_empty_plan(client, api):
    mid, rid = await api.run()
    r = await client.post(f"/ai/missions/{mid}/runs/{rid}/plan/steps", json={"steps": [step("x", 1)]})
    assert r.status_code == 201 and r.json()["data"][0]["step_id"] == "x"


async def test_step_ids_unique_and_parents_must_exist(client, api):
    mid, rid = await api.run()
    url = f"/ai/missions/{mid}/runs/{rid}/plan"
    r = await client.post(url, json={"steps": [step("a", 1), step("a", 2)]})
    assert r.status_code == 409 and "more than once" in r.json()["detail"]
    r = await client.post(url, json={"steps": [step("a", 1), step("b", 2, parent_step_id="ghost")]})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "steps", 1, "parent_step_id"]
    r = await client.post(url, json={"steps": [step("a", 1, parent_step_id="a")]})
    assert r.status_code == 422 and "own parent" in r.json()["detail"][0]["msg"]
    assert (await client.get(url)).json() == {"data": []}
    await client.post(url, json={"steps": [step("a", 1)]})
    r = await client.post(f"{url}/steps", json={"steps": [step("a", 5)]})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    r = await client.post(f"{url}/steps", json={"steps": [step("z", 2**63)]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "steps", 0, "sequence"]
    for body in ({"steps": []}, {}, {"steps": [{"step_id": "q"}]}, {"steps": [step("", 1)]}):
        assert (await client.post(f"{url}/steps", json=body)).status_code == 422


async def test_step_status_timestamps_and_transitions(client, api):
    mid, rid = await api.run()
    url = f"/ai/missions/{mid}/runs/{rid}/plan"
    await client.post(url, json={"steps": [step("a", 1)]})
    r = await client.patch(f"{url}/steps/a", json={"status": "in_progress"})
    data = r.json()["data"]
    assert r.status_code == 200 and data["started_at"] is not None and data.get("completed_at") is None
    r = await client.patch(f"{url}/steps/a", json={"status": "failed", "metadata": {"why": "x"}})
    failed = r.json()["data"]
    assert failed["completed_at"] is not None and failed["started_at"] == data["started_at"]
    assert failed["metadata"] == {"why": "x"}
    r = await client.patch(f"{url}/steps/a", json={"status": "pending"})
    assert r.status_code == 409 and r.json()["detail"].startswith("Plan step a is failed;")
    r = await client.patch(f"{url}/steps/a", json={"status": "in_progress"})
    retried = r.json()["data"]
    assert retried["status"] == "in_progress" and retried.get("completed_at") is None
    assert retried["started_at"] == data["started_at"]
    r = await client.patch(f"{url}/steps/a", json={"status": "skipped"})
    assert r.json()["data"]["completed_at"] is not None
    assert (await client.patch(f"{url}/steps/a", json={})).json()["data"]["status"] == "skipped"
    assert (await client.patch(f"{url}/steps/a", json={"status": "done"})).status_code == 422
    assert (await client.patch(f"{url}/steps/nope", json={"status": "completed"})).status_code == 404


async def test_plan_on_unknown_run(client, api):
    mid = await api.mission()
    rid = uuid.uuid4()
    base = f"/ai/missions/{mid}/runs/{rid}/plan"
    assert (await client.get(base)).json() == {"detail": f"Run {rid} not found."}
    assert (await client.post(base, json={"steps": [step("a", 1)]})).status_code == 404
    assert (await client.post(f"{base}/steps", json={"steps": [step("a", 1)]})).status_code == 404
    assert (await client.get(f"{base}/steps/a")).status_code == 404
    assert (await client.patch(f"{base}/steps/a", json={})).status_code == 404


async def test_link_list_unlink_agents(client, api):
    mid, rid = await api.run()
    url = f"/ai/missions/{mid}/runs/{rid}/telnyx-agents"
    r = await client.post(url, json={"telnyx_agent_id": "agent-1"})
    assert r.status_code == 201
    link = TelnyxAgentResponse.model_validate(r.json()).data
    assert link.run_id == rid and link.telnyx_agent_id == "agent-1"
    again = await client.post(url, json={"telnyx_agent_id": "agent-1"})
    assert again.status_code == 201 and again.json() == r.json()
    await client.post(url, json={"telnyx_agent_id": "agent-2"})
    listed = TelnyxAgentsListResponse.model_validate((await client.get(url)).json()).data
    assert [a.telnyx_agent_id for a in listed] == ["agent-1", "agent-2"]
    r = await client.delete(f"{url}/agent-1")
    assert r.status_code == 204 and r.content == b""
    r = await client.delete(f"{url}/agent-1")
    assert r.status_code == 404 and r.json() == {"detail": "Linked agent agent-1 not found."}
    assert [a["telnyx_agent_id"] for a in (await client.get(url)).json()["data"]] == ["agent-2"]
    assert (await client.post(url, json={})).status_code == 422
    assert (await client.post(url, json={"telnyx_agent_id": ""})).status_code == 422
    other = f"/ai/missions/{mid}/runs/{uuid.uuid4()}/telnyx-agents"
    assert (await client.get(other)).status_code == 404
    assert (await client.post(other, json={"telnyx_agent_id": "a"})).status_code == 404
