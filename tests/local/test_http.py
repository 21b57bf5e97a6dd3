"""HTTP-level behaviour: routing (both prefixes, literal paths first), the Idempotency-Key
header, and that no operation answers 500 to bad input."""

from __future__ import annotations

import uuid

import anyio
import pytest

from missions_mcp.catalogue import OPERATIONS

pytestmark = pytest.mark.anyio


def concrete(path: str, **ids: str) -> str:
    for name in (
        "mission_id",
        "run_id",
        "event_id",
        "step_id",
        "telnyx_agent_id",
        "tool_id",
        "knowledge_base_id",
        "mcp_server_id",
    ):
        path = path.replace("{" + name + "}", ids.get(name, str(uuid.uuid4())))
    return path


@pytest.mark.parametrize("prefix", ["", "/v2"])
async def test_every_operation_is_routed_and_names_the_missing_thing(client, prefix):
    mid = (await client.post(f"{prefix}/ai/missions", json={"name": "m"})).json()["data"]["mission_id"]
    for op in sorted(OPERATIONS, key=lambda op: op.name == "delete_mission"):
        plan = op.name in ("create_plan", "add_plan_steps")
        body = {"steps": [{"step_id": "s", "description": "d", "sequence": 1}]} if plan else {}
        if op.name == "log_event":
            body = {"type": "message", "summary": "s"}
        if op.name == "link_agent":
            body = {"telnyx_agent_id": "a"}
        if op.name == "create_mission":
            body = {"name": "n"}
        r = await client.request(op.method, prefix + concrete(op.path, mission_id=mid), json=body)
        if set(op.path_fields) <= {"mission_id"}:
            assert r.status_code == op.status, (op.name, r.status_code, r.text)
        else:
            assert r.status_code == 404, (op.name, r.status_code, r.text)
            assert r.json()["detail"].endswith("not found.") and r.json()["detail"] != "Not Found", op.name


async def test_literal_paths_win_over_mission_id(client):
    for path in ("/ai/missions/runs", "/ai/missions/events", "/v2/ai/missions/runs", "/v2/ai/missions/events"):
        r = await client.get(path)
        assert r.status_code == 200 and "meta" in r.json(), path


async def test_v2_and_plain_share_data(client):
    mid = (await client.post("/v2/ai/missions", json={"name": "m"})).json()["data"]["mission_id"]
    assert (await client.get(f"/ai/missions/{mid}")).status_code == 200


async def test_idempotency_key_header_replays_creates(client):
    headers = {"Idempotency-Key": "abc"}
    first = await client.post("/ai/missions", json={"name": "m", "model": "x"}, headers=headers)
    again = await client.post(
        "/v2/ai/missions",
        content=b'{"model":"x",  "name":"m"}',
        headers={**headers, "content-type": "application/json"},
    )
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert (await client.get("/ai/missions")).json()["meta"]["total_results"] == 1
    r = await client.post("/ai/missions", json={"name": "other"}, headers=headers)
    assert r.status_code == 409 and "abc" in r.json()["detail"]
    other_tenant = await client.post(
        "/ai/missions", json={"name": "m", "model": "x"}, headers={**headers, "Authorization": "Bearer k"}
    )
    assert other_tenant.status_code == 201 and other_tenant.json() != first.json()
    mid = first.json()["data"]["mission_id"]
    run1 = await client.post(f"/ai/missions/{mid}/runs", headers=headers)
    run2 = await client.post(f"/ai/missions/{mid}/runs", headers=headers)
    assert run1.json() == run2.json()
    assert (await client.get(f"/ai/missions/{mid}/runs")).json()["meta"]["total_results"] == 1


async def test_idempotency_key_header_does_not_keep_failures(client):
    headers = {"Idempotency-Key": "fail-then-ok"}
    assert (await client.post("/ai/missions", json={}, headers=headers)).status_code == 422
    assert (await client.post("/ai/missions", json={"name": "ok"}, headers=headers)).status_code == 201


async def test_idempotency_key_header_concurrent_retries_create_once(client):
    results = []

    async def post():
        results.append(await client.post("/ai/missions", json={"name": "c"}, headers={"Idempotency-Key": "same"}))

    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(post)
    assert {r.json()["data"]["mission_id"] for r in results} and len({r.text for r in results}) == 1
    assert (await client.get("/ai/missions")).json()["meta"]["total_results"] == 1


@pytest.mark.parametrize(
    "content",
    [
        b"null",
        b"[]",
        b'{"name": "x", "extra": "\\udc80"}',
        b'{"name": "x", "metadata": {"k": "\\udc80"}, "q": "\\udc80"}',
        b"1e999",
        b'{"name": "\\ud800"}',
        b'{"name": "x", "metadata": {"a": Infinity}}',
        b"\xff\xfe",
        b'{"steps": [{"step_id": "a", "description": "d", "sequence": 1e400}]}',
        b'{"name": ' + b"[" * 2000 + b"]" * 2000 + b"}",
    ],
)
async def test_bad_input_never_500(client, content):
    mid = (await client.post("/ai/missions", json={"name": "m"})).json()["data"]["mission_id"]
    rid = (await client.post(f"/ai/missions/{mid}/runs")).json()["data"]["run_id"]
    for op in OPERATIONS:
        if op.method in ("POST", "PUT", "PATCH"):
            path = concrete(op.path, mission_id=mid, run_id=rid)
            r = await client.request(op.method, path, content=content, headers={"content-type": "application/json"})
            assert r.status_code < 500, (op.name, r.status_code, r.text)
    for op in OPERATIONS:
        if op.method == "GET":
            r = await client.get(concrete(op.path, mission_id=mid, run_id=rid))
            assert r.status_code < 500, (op.name, r.status_code, r.text)


@pytest.mark.anyio
async def test_state_conflicts_tell_clients_not_to_retry(client):
    mission = (await client.post("/ai/missions", json={"name": "m"})).json()["data"]
    run = (await client.post(f"/ai/missions/{mission['mission_id']}/runs", json={})).json()["data"]
    answer = await client.post(f"/ai/missions/{mission['mission_id']}/runs/{run['run_id']}/resume")
    assert answer.status_code == 409
    assert answer.headers["x-should-retry"] == "false"
    assert "pending" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/ai/missions", "GET, POST"),
        ("POST", "/ai/missions/{mid}", "DELETE, GET, PUT"),
        ("DELETE", "/v2/ai/missions/{mid}/runs/{rid}/events", "GET, POST"),
        ("PUT", "/ai/missions/{mid}/runs/{rid}", "GET, PATCH"),
        ("GET", "/ai/missions/{mid}/runs/{rid}/cancel", "POST"),
    ],
)
async def test_405_names_every_method_of_the_path(client, api, method, path, allow):
    mid, rid = await api.run()
    r = await client.request(method, path.format(mid=mid, rid=rid))
    assert r.status_code == 405 and r.headers["allow"] == allow


async def test_a_body_that_is_not_utf8_is_422(client, api):
    mid, rid = await api.run()
    for path in ("/ai/missions", f"/ai/missions/{mid}/runs/{rid}/events", f"/ai/missions/{mid}/tools"):
        r = await client.post(path, content=b'{"name": "\xff\xfe"}', headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "body", (path, r.text)


@pytest.mark.parametrize("path", ["/ai/missions/runs", "/ai/missions/events", "/v2/ai/missions/runs"])
@pytest.mark.parametrize("method", ["PUT", "DELETE", "POST", "PATCH"])
async def test_a_literal_path_is_not_taken_for_a_mission_id(client, method, path):
    r = await client.request(method, path, json={})
    assert r.status_code == 405 and r.headers["allow"] == "GET"
