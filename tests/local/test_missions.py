"""Missions: create, list (pagination), get, partial update, delete (cascade), clone, tenancy."""

from __future__ import annotations

import uuid

import pytest

from missions_mcp.models import MissionResponse, MissionsListResponse

pytestmark = pytest.mark.anyio


async def test_create_and_get_mission(client):
    r = await client.post("/ai/missions", json={"name": "Triage", "model": "m1", "metadata": {"a": [1, None]}})
    assert r.status_code == 201
    data = MissionResponse.model_validate(r.json()).data
    assert data.name == "Triage" and data.execution_mode == "external" and data.metadata == {"a": [1, None]}
    assert data.created_at == data.updated_at and data.created_at.tzinfo is not None
    got = await client.get(f"/ai/missions/{data.mission_id}")
    assert got.status_code == 200 and got.json() == r.json()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": "x", "execution_mode": "bogus"},
        {"name": "x", "extra": 1},
        {"name": "x", "metadata": [1]},
        {"name": 5},
    ],
)
async def test_create_mission_rejects_bad_bodies(client, body):
    r = await client.post("/ai/missions", json=body)
    assert r.status_code == 422
    assert all({"loc", "msg", "type"} <= set(e) for e in r.json()["detail"])


async def test_create_mission_rejects_missing_and_malformed_json(client):
    assert (await client.post("/ai/missions")).status_code == 422
    r = await client.post("/ai/missions", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "json_invalid"
    r = await client.post("/ai/missions", content=b'{"name": NaN}', headers={"content-type": "application/json"})
    assert r.status_code == 422


async def test_nan_in_metadata_is_422_not_500(client):
    r = await client.post(
        "/ai/missions", content=b'{"name": "x", "metadata": {"v": NaN}}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422


async def test_list_missions_newest_first_and_paginated(client, api):
    ids = [await api.mission(name=f"m{i}") for i in range(5)]
    r = await client.get("/ai/missions", params={"page[size]": 2})
    body = MissionsListResponse.model_validate(r.json())
    assert [str(d.mission_id) for d in body.data] == ids[::-1][:2]
    assert body.meta.model_dump() == {"page_number": 1, "page_size": 2, "total_pages": 3, "total_results": 5}
    r = await client.get("/ai/missions", params={"page[number]": 3, "page[size]": 2})
    assert [d["mission_id"] for d in r.json()["data"]] == [ids[0]]
    past = await client.get("/ai/missions", params={"page[number]": 9, "page[size]": 2})
    assert past.json() == {"data": [], "meta": {"page_number": 9, "page_size": 2, "total_pages": 3, "total_results": 5}}
    default = (await client.get("/ai/missions")).json()["meta"]
    assert default["page_size"] == 20 and default["page_number"] == 1


async def test_list_missions_empty_has_zero_pages(client):
    r = await client.get("/ai/missions")
    assert r.json() == {"data": [], "meta": {"page_number": 1, "page_size": 20, "total_pages": 0, "total_results": 0}}


@pytest.mark.parametrize(
    "params",
    [{"page[number]": 0}, {"page[size]": 0}, {"page[size]": 1001}, {"page[number]": "x"}, {"page[size]": -1}],
)
async def test_page_bounds(client, params):
    r = await client.get("/ai/missions", params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][0] == "query"


async def test_huge_page_number_is_an_empty_page(client, api):
    await api.mission()
    r = await client.get("/ai/missions", params={"page[number]": 10**15, "page[size]": 1000})
    assert r.status_code == 200 and r.json()["data"] == []
    r = await client.get("/ai/missions", params={"page[number]": 10**30})
    assert r.status_code in (200, 422)


async def test_update_mission_is_partial(client, api):
    mid = await api.mission(name="a", description="d", model="m", metadata={"k": 1})
    before = (await client.get(f"/ai/missions/{mid}")).json()["data"]
    r = await client.put(f"/ai/missions/{mid}", json={"instructions": "go", "execution_mode": "managed"})
    assert r.status_code == 200
    after = r.json()["data"]
    assert after["instructions"] == "go" and after["execution_mode"] == "managed"
    assert after["name"] == "a" and after["description"] == "d" and after["metadata"] == {"k": 1}
    assert after["created_at"] == before["created_at"] and after["updated_at"] > before["updated_at"]
    r = await client.put(f"/ai/missions/{mid}", json={"description": None, "name": None})
    assert r.status_code == 422  # the contract types neither as nullable: a null is refused, by name
    assert {tuple(e["loc"]) for e in r.json()["detail"]} == {("body", "description"), ("body", "name")}
    r = await client.put(f"/ai/missions/{mid}", json={"description": ""})
    assert r.json()["data"].get("description", "") == "" and r.json()["data"]["name"] == "a"
    assert (await client.put(f"/ai/missions/{mid}", json={})).status_code == 200
    assert (await client.put(f"/ai/missions/{mid}", json={"name": ""})).status_code == 422
    assert (await client.put(f"/ai/missions/{mid}")).status_code == 422


@pytest.mark.parametrize("method", ["get", "put", "delete"])
async def test_unknown_and_malformed_mission_ids(client, method):
    unknown = str(uuid.uuid4())
    kwargs = {"json": {}} if method == "put" else {}
    r = await client.request(method.upper(), f"/ai/missions/{unknown}", **kwargs)
    assert r.status_code == 404 and r.json() == {"detail": f"Mission {unknown} not found."}
    r = await client.request(method.upper(), "/ai/missions/not-a-uuid", **kwargs)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "mission_id"]


async def test_delete_mission_cascades(client, api, app):
    mid, rid = await api.run(status="running")
    await api.event(mid, rid)
    await client.post(
        f"/ai/missions/{mid}/runs/{rid}/plan", json={"steps": [{"step_id": "s", "description": "d", "sequence": 1}]}
    )
    await client.post(f"/ai/missions/{mid}/runs/{rid}/telnyx-agents", json={"telnyx_agent_id": "a"})
    await client.post(f"/ai/missions/{mid}/tools", json={"name": "t"})
    r = await client.delete(f"/ai/missions/{mid}")
    assert r.status_code == 204 and r.content == b""
    assert (await client.get(f"/ai/missions/{mid}")).status_code == 404
    assert (await client.get(f"/ai/missions/{mid}/runs/{rid}")).status_code == 404
    assert (await client.get("/ai/missions/events")).json()["meta"]["total_results"] == 0
    assert (await client.get("/ai/missions/runs")).json()["meta"]["total_results"] == 0
    with app.state.store.atomic(None, read_only=True) as tx:
        for table in ("runs", "events", "plan_steps", "linked_agents", "resources"):
            assert tx.value(f"SELECT COUNT(*) FROM {table}") == 0, table
    assert (await client.delete(f"/ai/missions/{mid}")).status_code == 404


async def test_clone_copies_definition_and_sub_resources_not_runs(client, api):
    mid = await api.mission(name="Base", instructions="i", metadata={"x": 1}, execution_mode="managed")
    await api.run(mid)
    tool = (await client.post(f"/ai/missions/{mid}/tools", json={"name": "t", "cfg": {"a": 1}})).json()["data"]
    await client.post(f"/ai/missions/{mid}/knowledge-bases", json={"kb": "k"})
    await client.post(f"/ai/missions/{mid}/mcp-servers", json={"url": "http://127.0.0.1:1"})
    r = await client.post(f"/ai/missions/{mid}/clone")
    assert r.status_code == 201
    clone = MissionResponse.model_validate(r.json()).data
    cid = str(clone.mission_id)
    assert cid != mid and clone.name == "Base (copy)" and clone.instructions == "i"
    assert clone.metadata == {"x": 1} and clone.execution_mode == "managed"
    tools = (await client.get(f"/ai/missions/{cid}/tools")).json()["data"]
    assert [(t["name"], t["cfg"], t["mission_id"]) for t in tools] == [("t", {"a": 1}, cid)]
    assert tools[0]["tool_id"] != tool["tool_id"]
    assert len((await client.get(f"/ai/missions/{cid}/knowledge-bases")).json()["data"]) == 1
    assert len((await client.get(f"/ai/missions/{cid}/mcp-servers")).json()["data"]) == 1
    assert (await client.get(f"/ai/missions/{cid}/runs")).json()["meta"]["total_results"] == 0
    listed = (await client.get("/ai/missions")).json()["data"]
    assert [m["mission_id"] for m in listed] == [cid, mid]


async def test_clone_unknown_mission_is_404_even_if_not_a_uuid(client):
    r = await client.post("/ai/missions/whatever/clone")
    assert r.status_code == 404 and r.json() == {"detail": "Mission whatever not found."}


async def test_tenants_are_isolated(client, api):
    alice = {"Authorization": "Bearer key-alice"}
    bob = {"Authorization": "Bearer key-bob"}
    r = await client.post("/ai/missions", json={"name": "a"}, headers=alice)
    mid = r.json()["data"]["mission_id"]
    local = await api.mission()
    assert (await client.get(f"/ai/missions/{mid}", headers=alice)).status_code == 200
    assert (await client.get(f"/ai/missions/{mid}", headers=bob)).status_code == 404
    assert (await client.get(f"/ai/missions/{mid}")).status_code == 404
    assert (await client.get(f"/ai/missions/{local}", headers=alice)).status_code == 404
    assert (await client.delete(f"/ai/missions/{mid}", headers=bob)).status_code == 404
    assert (await client.post(f"/ai/missions/{mid}/runs", headers=bob)).status_code == 404
    assert (await client.get(f"/ai/missions/{mid}/tools", headers=bob)).status_code == 404
    assert [m["mission_id"] for m in (await client.get("/ai/missions", headers=alice)).json()["data"]] == [mid]
    assert (await client.get("/ai/missions", headers=bob)).json()["data"] == []
    r = await client.post(f"/ai/missions/{mid}/runs", headers=alice)
    rid = r.json()["data"]["run_id"]
    assert (await client.get(f"/ai/missions/{mid}/runs/{rid}", headers=bob)).status_code == 404
    assert (await client.get("/ai/missions/runs", headers=bob)).json()["meta"]["total_results"] == 0
    assert (await client.get("/ai/missions/runs", headers=alice)).json()["meta"]["total_results"] == 1


async def test_the_bearer_key_is_not_stored(client, app, db_path, engine):
    secret = "sk-very-secret-value-123"
    await client.post("/ai/missions", json={"name": "a"}, headers={"Authorization": f"Bearer {secret}"})
    if engine == "postgresql":  # every row of every table, as text
        with app.state.store.atomic(None, read_only=True) as tx:
            rows = tx.all("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            tables = [r["tablename"] for r in rows]
            assert "tenants" in tables
            for table in tables:
                assert not any(secret in r["t"] for r in tx.all(f"SELECT t::text AS t FROM {table} t")), table
        return
    app.state.store._conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in db_path.parent.iterdir():
        assert secret.encode() not in path.read_bytes()


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer   ", "token"])
async def test_malformed_authorization_is_401(client, header):
    r = await client.get("/ai/missions", headers={"Authorization": header})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
