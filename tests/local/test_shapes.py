"""Every answer of the embedded API has exactly the contract's fields: nothing internal leaks out
(the store's answers are sent as they are, without a second pass through the response models)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from support import CONTRACT


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT.read_text())["components"]["schemas"]


def _check(answer: Any, schema: str, schemas: dict[str, Any]) -> None:
    allowed = set(schemas[schema]["properties"])
    required = set(schemas[schema].get("required", ()))
    items = answer if isinstance(answer, list) else [answer]
    assert items, f"no {schema} to check"
    for item in items:
        assert set(item) <= allowed, f"{schema} has fields the contract does not: {set(item) - allowed}"
        assert required <= set(item), f"{schema} lacks {required - set(item)}"


@pytest.mark.anyio
async def test_answers_carry_exactly_the_contract_fields(client, schemas):
    mission = (await client.post("/ai/missions", json={"name": "m", "metadata": {"a": 1}})).json()
    _check(mission["data"], "MissionData", schemas)
    mid = mission["data"]["mission_id"]
    _check((await client.get("/ai/missions")).json()["data"], "MissionData", schemas)
    _check((await client.get("/ai/missions")).json()["meta"], "Meta", schemas)
    run = (await client.post(f"/ai/missions/{mid}/runs", json={"input": {"q": 1}})).json()["data"]
    _check(run, "MissionRunData", schemas)
    base = f"/ai/missions/{mid}/runs/{run['run_id']}"
    _check((await client.patch(base, json={"status": "running"})).json()["data"], "MissionRunData", schemas)
    _check((await client.get("/ai/missions/runs")).json()["data"], "MissionRunData", schemas)
    steps = (
        await client.post(base + "/plan", json={"steps": [{"step_id": "s", "description": "d", "sequence": 1}]})
    ).json()["data"]
    _check(steps, "PlanStepData", schemas)
    _check(
        (await client.patch(base + "/plan/steps/s", json={"status": "in_progress"})).json()["data"],
        "PlanStepData",
        schemas,
    )
    _check((await client.get(base + "/plan")).json()["data"], "PlanStepData", schemas)
    event = (
        await client.post(base + "/events", json={"type": "message", "summary": "x", "idempotency_key": "k"})
    ).json()["data"]
    _check(event, "EventData", schemas)
    _check((await client.get(base + "/events")).json()["data"], "EventData", schemas)
    _check((await client.get("/ai/missions/events")).json()["data"], "EventData", schemas)
    _check((await client.get(f"{base}/events/{event['event_id']}")).json()["data"], "EventData", schemas)
    _check(
        (await client.post(base + "/telnyx-agents", json={"telnyx_agent_id": "a"})).json()["data"],
        "TelnyxAgentData",
        schemas,
    )
    _check((await client.get(base + "/telnyx-agents")).json()["data"], "TelnyxAgentData", schemas)
    _check((await client.post(f"/ai/missions/{mid}/clone")).json()["data"], "MissionData", schemas)


def _nulls(value: Any, where: str = "") -> list[str]:
    if value is None:
        return [where]
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in _nulls(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [n for i, v in enumerate(value) for n in _nulls(v, f"{where}[{i}]")]
    return []


@pytest.mark.anyio
async def test_no_answer_sends_null_where_the_contract_types_a_value(client):
    """The contract has no nullable field: an optional field without a value is left out."""
    mid = (await client.post("/ai/missions", json={"name": "m"})).json()["data"]["mission_id"]
    run = (await client.post(f"/ai/missions/{mid}/runs", json={})).json()["data"]
    base = f"/ai/missions/{mid}/runs/" + run["run_id"]
    answers = [
        await client.get(f"/ai/missions/{mid}"),
        await client.put(f"/ai/missions/{mid}", json={"description": "", "metadata": {}}),
        await client.get("/ai/missions"),
        await client.patch(base, json={"status": "running", "error": ""}),
        await client.get("/ai/missions/runs"),
        await client.post(base + "/plan", json={"steps": [{"step_id": "s", "description": "d", "sequence": 1}]}),
        await client.patch(base + "/plan/steps/s", json={"status": "completed"}),
        await client.patch(base + "/plan/steps/s", json={"status": "in_progress"}),
        await client.get(base + "/plan"),
        await client.post(base + "/events", json={"type": "message", "summary": "x"}),
        await client.get(base + "/events"),
        await client.get("/ai/missions/events"),
        await client.post(base + "/telnyx-agents", json={"telnyx_agent_id": "a"}),
        await client.post(f"/ai/missions/{mid}/clone"),
    ]
    for r in answers:
        assert r.status_code < 300, r.text
        assert not _nulls(r.json()), (r.request.method, r.request.url.path, _nulls(r.json()))
