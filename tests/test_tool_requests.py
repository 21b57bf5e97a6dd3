"""Every tool, end to end: the exact HTTP request it produces, checked against the contract file,
and its result, valid against the tool's outputSchema (a read's whole object parsed with the
operation's model, a write's receipt with exactly its fields). Both protocol eras.

The expected request is written out here from the contract (paths from ``openapi.yaml``, query
names as the contract spells them), not computed by the code under test.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from missions_mcp.catalogue import OPERATIONS, Confirmation

from e2e import Recorder, call_ok, connect, recorded_server

# tool → (arguments beyond the path ids, expected query on the wire, which run the call targets)
CASES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "list_missions": ({"page": 1, "page_size": 5}, {"page[number]": "1", "page[size]": "5"}),
    "create_mission": (
        {"name": "Write report", "description": "d", "execution_mode": "managed", "metadata": {"team": "a"}},
        {},
    ),
    "get_mission": ({}, {}),
    "update_mission": ({"name": "Renamed", "instructions": "Be brief."}, {}),
    "delete_mission": ({}, {}),
    "clone_mission": ({}, {}),
    "list_recent_runs": ({"status": "running", "page_size": 10}, {"status": "running", "page[size]": "10"}),
    "list_recent_events": ({"type": "message", "page": 2}, {"type": "message", "page[number]": "2"}),
    "list_runs": ({"status": "running"}, {"status": "running"}),
    "start_run": ({"input": {"q": "why"}, "metadata": {"by": "test"}}, {}),
    "get_run": ({}, {}),
    "update_run": ({"metadata": {"note": "half way"}, "result_summary": "so far so good"}, {}),
    "cancel_run": ({}, {}),
    "pause_run": ({}, {}),
    "resume_run": ({}, {}),
    "list_events": (
        {"type": "message", "step_id": "s1", "agent_id": "agent-1", "page": 1, "page_size": 10},
        {"type": "message", "step_id": "s1", "agent_id": "agent-1", "page[number]": "1", "page[size]": "10"},
    ),
    "log_event": ({"type": "tool_call", "summary": "search('x')", "step_id": "s1", "payload": {"q": "x"}}, {}),
    "get_event": ({}, {}),
    "get_plan": ({}, {}),
    "create_plan": (
        {
            "steps": [
                {"step_id": "a", "description": "First", "sequence": 1},
                {"step_id": "a.1", "description": "Sub", "sequence": 2, "parent_step_id": "a"},
            ]
        },
        {},
    ),
    "add_plan_steps": (
        {"steps": [{"step_id": "s2", "description": "Second", "sequence": 2, "metadata": {"k": 1}}]},
        {},
    ),
    "get_plan_step": ({}, {}),
    "update_plan_step": ({"status": "in_progress", "metadata": {"k": 2}}, {}),
    "list_run_agents": ({}, {}),
    "link_agent": ({"telnyx_agent_id": "agent-2"}, {}),
    "unlink_agent": ({}, {}),
}
for _one, _many in (
    ("mission_tool", "mission_tools"),
    ("knowledge_base", "knowledge_bases"),
    ("mcp_server", "mcp_servers"),
):
    CASES[f"list_{_many}"] = ({}, {})
    CASES[f"create_{_one}"] = ({"body": {"name": "thing", "config": {"url": "https://example.test"}}}, {})
    CASES[f"get_{_one}"] = ({}, {})
    CASES[f"update_{_one}"] = ({"body": {"name": "thing 2"}}, {})
    CASES[f"delete_{_one}"] = ({}, {})


def test_every_tool_has_a_case():
    assert sorted(CASES) == sorted(op.name for op in OPERATIONS)


async def _fixture_data(client) -> dict[str, str]:
    """A mission with a running run (plan step s1, an event, a linked agent, one of each sub-resource),
    a pending run without a plan, and a paused run."""
    mission = await call_ok(client, "create_mission", {"name": "Fixture"})
    ids = {"mission_id": mission["mission_id"]}
    run = await call_ok(client, "start_run", {"mission_id": ids["mission_id"]})
    ids["run_id"] = run["run_id"]
    ref = {"mission_id": ids["mission_id"], "run_id": ids["run_id"]}
    await call_ok(client, "update_run", {**ref, "status": "running"})
    await call_ok(client, "create_plan", {**ref, "steps": [{"step_id": "s1", "description": "One", "sequence": 1}]})
    ids["step_id"] = "s1"
    event = await call_ok(
        client, "log_event", {**ref, "type": "message", "summary": "hello", "step_id": "s1", "agent_id": "agent-1"}
    )
    ids["event_id"] = event["event_id"]
    await call_ok(client, "link_agent", {**ref, "telnyx_agent_id": "agent-1"})
    ids["telnyx_agent_id"] = "agent-1"
    for one, field in (
        ("mission_tool", "tool_id"),
        ("knowledge_base", "knowledge_base_id"),
        ("mcp_server", "mcp_server_id"),
    ):
        made = await call_ok(client, f"create_{one}", {"mission_id": ids["mission_id"], "body": {"name": one}})
        ids[field] = made["data"][field]
    fresh = await call_ok(client, "start_run", {"mission_id": ids["mission_id"]})
    ids["fresh_run_id"] = fresh["run_id"]
    paused = await call_ok(client, "start_run", {"mission_id": ids["mission_id"]})
    ids["paused_run_id"] = paused["run_id"]
    pref = {"mission_id": ids["mission_id"], "run_id": paused["run_id"]}
    await call_ok(client, "update_run", {**pref, "status": "running"})
    await call_ok(client, "pause_run", pref)
    return ids


def _path_ids(op, ids: dict[str, str]) -> dict[str, str]:
    out = {name: ids[name] for name in op.path_fields}
    if op.name == "create_plan":
        out["run_id"] = ids["fresh_run_id"]
    if op.name == "resume_run":
        out["run_id"] = ids["paused_run_id"]
    return out


@pytest.mark.anyio
@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
async def test_tool_sends_the_contract_request_and_parses_the_answer(op, mode, contract, tmp_path):
    recorder = Recorder()
    missions = recorded_server(tmp_path / "m.db", recorder)
    async with connect(missions, mode) as client:
        ids = await _fixture_data(client)
        recorder.clear()
        extra, expected_query = CASES[op.name]
        path_ids = _path_ids(op, ids)
        structured = await call_ok(client, op.name, {**path_ids, **extra})
    await missions.aclose()

    assert len(recorder.exchanges) == 1, "one tool call, one HTTP request"
    sent = recorder.exchanges[0]
    spec_path = next(
        p
        for p, item in contract["paths"].items()
        if any(o.get("operationId") == op.operation_id for o in item.values() if isinstance(o, dict))
    )
    expected_path = spec_path
    for name, value in path_ids.items():
        expected_path = expected_path.replace("{" + name + "}", quote(value, safe=""))
    assert sent.method == op.method
    assert sent.raw_path == expected_path
    assert dict(sent.query) == expected_query and len(sent.query) == len(expected_query)
    assert sent.status == op.status

    spec = contract["paths"][spec_path][op.method.lower()]
    body_args = {k: v for k, v in extra.items() if k not in {n for n, _ in op.query_fields.items()}}
    if "requestBody" in spec:
        ref = spec["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        allowed = set(contract["components"]["schemas"][ref]["properties"])
        assert set(sent.body) <= allowed
        if op.name == "log_event":
            key = sent.body.pop("idempotency_key")
            assert key and sent.headers["idempotency-key"] == key
        assert sent.body == body_args
    elif op.whole_body_field:
        assert sent.body == extra["body"]
    else:
        assert sent.body is None
    if op.method == "GET":
        assert "idempotency-key" not in sent.headers
    else:
        assert sent.headers["idempotency-key"]

    jsonschema.validate(structured, op.output_schema)  # as clients check every result
    if op.result is None:
        assert Confirmation.model_validate(structured).ok is True
    elif op.answer_fields is None:
        op.result.model_validate(structured)
    else:  # a write's receipt: exactly the fields it promises
        items = structured["data"] if isinstance(structured.get("data"), list) else [structured]
        assert items and all(list(item) == list(op.answer_fields) for item in items), structured
