"""The untyped sub-resources of a mission: tools, knowledge bases, MCP servers."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

KINDS = [
    ("tools", "tool_id", "Mission tool"),
    ("knowledge-bases", "knowledge_base_id", "Knowledge base"),
    ("mcp-servers", "mcp_server_id", "MCP server"),
]


@pytest.mark.parametrize(("segment", "id_field", "noun"), KINDS)
async def test_crud(client, api, segment, id_field, noun):
    mid = await api.mission()
    url = f"/ai/missions/{mid}/{segment}"
    assert (await client.get(url)).json() == {"data": []}
    r = await client.post(url, json={"name": "n", "config": {"a": [1, 2]}, id_field: "mine", "mission_id": "x"})
    assert r.status_code == 201
    doc = r.json()["data"]
    rid = doc[id_field]
    assert rid != "mine" and doc["mission_id"] == mid and doc["name"] == "n" and doc["config"] == {"a": [1, 2]}
    assert doc["created_at"] == doc["updated_at"]
    second = (await client.post(url, json={})).json()["data"]
    assert set(second) == {id_field, "mission_id", "created_at", "updated_at"}
    assert (await client.get(f"{url}/{rid}")).json() == {"data": doc}
    assert [d[id_field] for d in (await client.get(url)).json()["data"]] == [rid, second[id_field]]
    r = await client.put(f"{url}/{rid}", json={"other": True})
    replaced = r.json()["data"]
    assert r.status_code == 200 and replaced["other"] is True and "name" not in replaced
    assert replaced["created_at"] == doc["created_at"] and replaced["updated_at"] >= doc["updated_at"]
    assert (await client.delete(f"{url}/{rid}")).status_code == 204
    for method in ("GET", "PUT", "DELETE"):
        r = await client.request(method, f"{url}/{rid}", json={} if method == "PUT" else None)
        assert r.status_code == 404 and r.json() == {"detail": f"{noun} {rid} not found."}


@pytest.mark.parametrize(("segment", "id_field", "noun"), KINDS)
async def test_bad_bodies_and_unknown_missions(client, api, segment, id_field, noun):
    mid = await api.mission()
    url = f"/ai/missions/{mid}/{segment}"
    for content in (b"[1, 2]", b'"s"', b"{bad", b"", b'{"x": NaN}'):
        r = await client.post(url, content=content, headers={"content-type": "application/json"})
        assert r.status_code == 422, content
        assert r.json()["detail"][0]["loc"][0] == "body"
    rid = (await client.post(url, json={})).json()["data"][id_field]
    assert (await client.put(f"{url}/{rid}", content=b"[]")).status_code == 422
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        r = await client.get(f"/ai/missions/{bad}/{segment}")
        assert r.status_code == 404 and r.json() == {"detail": f"Mission {bad} not found."}
        assert (await client.post(f"/ai/missions/{bad}/{segment}", json={})).status_code == 404
        assert (await client.get(f"/ai/missions/{bad}/{segment}/{rid}")).status_code == 404
    other = await api.mission()
    assert (await client.get(f"/ai/missions/{other}/{segment}/{rid}")).status_code == 404
    stranger = {"Authorization": "Bearer another"}
    assert (await client.get(url, headers=stranger)).status_code == 404
    assert (await client.delete(f"{url}/{rid}", headers=stranger)).status_code == 404


async def test_kinds_do_not_mix(client, api):
    mid = await api.mission()
    tool = (await client.post(f"/ai/missions/{mid}/tools", json={})).json()["data"]["tool_id"]
    r = await client.get(f"/ai/missions/{mid}/knowledge-bases/{tool}")
    assert r.status_code == 404 and r.json()["detail"] == f"Knowledge base {tool} not found."
