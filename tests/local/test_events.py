"""Events: log, idempotency_key, filters, ordering, the recent-events list, terminal runs."""

from __future__ import annotations

import uuid

import pytest

from missions_mcp.models import EventResponse, EventsListResponse

pytestmark = pytest.mark.anyio


async def test_log_and_get_event(client, api):
    mid, rid = await api.run(status="running")
    r = await api.event(mid, rid, type="tool_call", summary="search", step_id="s1", agent_id="a1", payload={"q": "x"})
    assert r.status_code == 201
    event = EventResponse.model_validate(r.json()).data
    assert event.run_id == rid and event.type == "tool_call" and event.payload == {"q": "x"}
    assert event.timestamp.tzinfo is not None and event.idempotency_key is None
    uuid.UUID(event.event_id)
    got = await client.get(f"/ai/missions/{mid}/runs/{rid}/events/{event.event_id}")
    assert got.status_code == 200 and got.json() == r.json()
    r = await client.get(f"/ai/missions/{mid}/runs/{rid}/events/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Event nope not found."}
    _, other_run = await api.run(mid)
    assert (await client.get(f"/ai/missions/{mid}/runs/{other_run}/events/{event.event_id}")).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"type": "message"},
        {"summary": "x"},
        {"type": "chat", "summary": "x"},
        {"type": "message", "summary": ""},
        {"type": "message", "summary": "x", "payload": "p"},
        {"type": "message", "summary": "x", "extra": 1},
    ],
)
async def test_log_event_rejects_bad_bodies(client, api, body):
    mid, rid = await api.run()
    r = await client.post(f"/ai/missions/{mid}/runs/{rid}/events", json=body)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "body"


async def test_events_accepted_on_open_runs_refused_on_ended_runs(client, api):
    for status in ("pending", "running", "paused"):
        mid, rid = await api.run(status=status)
        assert (await api.event(mid, rid)).status_code == 201
    for status in ("succeeded", "failed", "cancelled"):
        mid, rid = await api.run(status=status)
        r = await api.event(mid, rid)
        assert r.status_code == 409 and r.json()["detail"].startswith(f"Run {rid} is {status};")
    r = await api.event(mid, str(uuid.uuid4()))
    assert r.status_code == 404


async def test_idempotency_key_replays_or_conflicts(client, api):
    mid, rid = await api.run(status="running")
    first = await api.event(mid, rid, idempotency_key="k1", payload={"a": 1, "b": 2})
    again = await api.event(mid, rid, idempotency_key="k1", payload={"b": 2, "a": 1})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert first.json()["data"]["idempotency_key"] == "k1"
    r = await api.event(mid, rid, idempotency_key="k1", summary="different")
    assert r.status_code == 409 and "k1" in r.json()["detail"] and "different" in r.json()["detail"]
    _, other = await api.run(mid, status="running")
    again = await api.event(mid, other, idempotency_key="k1")
    assert again.json()["data"]["event_id"] != first.json()["data"]["event_id"]
    total = (await client.get(f"/ai/missions/{mid}/runs/{rid}/events", params={"type": "message"})).json()["meta"]
    assert total["total_results"] == 1
    await client.patch(f"/ai/missions/{mid}/runs/{rid}", json={"status": "succeeded"})
    late = await api.event(mid, rid, idempotency_key="k1", payload={"a": 1, "b": 2})
    assert late.status_code == 201 and late.json() == first.json()


async def test_run_events_ordered_filtered_and_paginated(client, api):
    mid, rid = await api.run()
    ids = []
    for i in range(7):
        r = await api.event(
            mid,
            rid,
            type="tool_call" if i % 2 else "message",
            summary=f"e{i}",
            step_id=f"s{i % 3}",
            agent_id="x" if i < 3 else "y",
        )
        ids.append(r.json()["data"]["event_id"])
    url = f"/ai/missions/{mid}/runs/{rid}/events"
    body = EventsListResponse.model_validate((await client.get(url)).json())
    assert [e.event_id for e in body.data] == ids and body.meta.page_size == 50
    stamps = [e.timestamp for e in body.data]
    assert stamps == sorted(stamps)
    page = (await client.get(url, params={"page[size]": 3, "page[number]": 3})).json()
    assert [e["event_id"] for e in page["data"]] == ids[6:]
    assert page["meta"] == {"page_number": 3, "page_size": 3, "total_pages": 3, "total_results": 7}
    tools = (await client.get(url, params={"type": "tool_call"})).json()
    assert [e["event_id"] for e in tools["data"]] == ids[1::2] and tools["meta"]["total_results"] == 3
    s0 = (await client.get(url, params={"step_id": "s0", "agent_id": "y"})).json()
    assert [e["event_id"] for e in s0["data"]] == [ids[3], ids[6]] and s0["meta"]["total_results"] == 2
    r = await client.get(url, params={"type": "chat"})
    assert r.status_code == 422 and "'tool_call'" in r.json()["detail"][0]["msg"]
    assert (await client.get(url, params={"page[size]": 1001})).status_code == 422
    empty = (await client.get(url, params={"page[number]": 2})).json()
    assert empty["data"] == [] and empty["meta"]["total_pages"] == 1


async def test_recent_events_newest_first_across_runs_and_tenant_scoped(client, api):
    mid, r1 = await api.run()
    _, r2 = await api.run(mid)
    e1 = (await api.event(mid, r1, summary="one")).json()["data"]
    e2 = (await api.event(mid, r2, summary="two", type="error")).json()["data"]
    e3 = (await api.event(mid, r1, summary="three")).json()["data"]
    r = await client.get("/ai/missions/events")
    body = EventsListResponse.model_validate(r.json())
    assert [e.event_id for e in body.data] == [e3["event_id"], e2["event_id"], e1["event_id"]]
    assert [e.run_id for e in body.data] == [r1, r2, r1]
    assert body.meta.page_size == 50 and body.meta.total_results == 3
    errors = (await client.get("/ai/missions/events", params={"type": "error"})).json()
    assert [e["event_id"] for e in errors["data"]] == [e2["event_id"]]
    paged = (await client.get("/ai/missions/events", params={"page[size]": 2, "page[number]": 2})).json()
    assert [e["event_id"] for e in paged["data"]] == [e1["event_id"]]
    assert (await client.get("/ai/missions/events", params={"type": "x"})).status_code == 422
    other = await client.get("/ai/missions/events", headers={"Authorization": "Bearer someone-else"})
    assert other.json()["data"] == [] and other.json()["meta"]["total_results"] == 0
