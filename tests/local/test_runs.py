"""Runs: start, list (per mission and recent, status filter), update, the lifecycle actions."""

from __future__ import annotations

import uuid

import pytest

from missions_mcp.models import EventsListResponse, MissionRunResponse, MissionRunsListResponse

pytestmark = pytest.mark.anyio


async def test_start_run_with_and_without_body(client, api):
    mid = await api.mission()
    r = await client.post(f"/ai/missions/{mid}/runs")
    assert r.status_code == 201
    run = MissionRunResponse.model_validate(r.json()).data
    assert run.status == "pending" and str(run.mission_id) == mid and run.finished_at is None
    assert run.started_at == run.updated_at
    r = await client.post(f"/ai/missions/{mid}/runs", json={"input": {"q": 1}, "metadata": {"m": True}})
    assert r.json()["data"]["input"] == {"q": 1} and r.json()["data"]["metadata"] == {"m": True}
    assert (await client.post(f"/ai/missions/{mid}/runs", json={"input": 3})).status_code == 422
    assert (await client.post(f"/ai/missions/{mid}/runs", json={"bogus": 3})).status_code == 422
    got = await client.get(f"/ai/missions/{mid}/runs/{r.json()['data']['run_id']}")
    assert got.status_code == 200 and got.json() == r.json()


async def test_run_not_found_names_what_is_missing(client, api):
    mid, rid = await api.run()
    other = str(uuid.uuid4())
    r = await client.get(f"/ai/missions/{mid}/runs/{other}")
    assert r.status_code == 404 and r.json() == {"detail": f"Run {other} not found."}
    r = await client.get(f"/ai/missions/{other}/runs/{rid}")
    assert r.status_code == 404 and r.json() == {"detail": f"Mission {other} not found."}
    mid2 = await api.mission()
    assert (await client.get(f"/ai/missions/{mid2}/runs/{rid}")).status_code == 404
    assert (await client.post(f"/ai/missions/{other}/runs")).status_code == 404
    assert (await client.get(f"/ai/missions/{other}/runs")).status_code == 404
    r = await client.get(f"/ai/missions/{mid}/runs/xyz")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "run_id"]


async def test_lists_of_runs_newest_first_with_status_filter(client, api):
    mid = await api.mission()
    other = await api.mission()
    _, r1 = await api.run(mid)
    _, r2 = await api.run(mid, status="running")
    _, r3 = await api.run(other)
    body = MissionRunsListResponse.model_validate((await client.get(f"/ai/missions/{mid}/runs")).json())
    assert [str(r.run_id) for r in body.data] == [r2, r1] and body.meta.total_results == 2
    recent = (await client.get("/ai/missions/runs")).json()
    assert [r["run_id"] for r in recent["data"]] == [r3, r2, r1]
    running = (await client.get("/ai/missions/runs", params={"status": "running"})).json()
    assert [r["run_id"] for r in running["data"]] == [r2]
    pending = (await client.get(f"/ai/missions/{mid}/runs", params={"status": "pending"})).json()
    assert [r["run_id"] for r in pending["data"]] == [r1]
    page = (await client.get("/ai/missions/runs", params={"page[size]": 2, "page[number]": 2})).json()
    assert [r["run_id"] for r in page["data"]] == [r1]
    assert page["meta"] == {"page_number": 2, "page_size": 2, "total_pages": 2, "total_results": 3}
    for url in ("/ai/missions/runs", f"/ai/missions/{mid}/runs"):
        r = await client.get(url, params={"status": "done"})
        assert r.status_code == 422 and "'succeeded'" in r.json()["detail"][0]["msg"]
        assert r.json()["detail"][0]["loc"] == ["query", "status"]


async def status_events(client, mid, rid):
    r = await client.get(f"/ai/missions/{mid}/runs/{rid}/events", params={"type": "status_change"})
    return [(e["summary"], e["payload"]) for e in EventsListResponse.model_validate(r.json()).model_dump()["data"]]


async def test_lifecycle_actions_and_status_change_events(client, api):
    mid, rid = await api.run()
    base = f"/ai/missions/{mid}/runs/{rid}"
    r = await client.post(f"{base}/pause")
    assert r.status_code == 409 and r.json() == {"detail": f"Run {rid} is pending; pause needs a running run."}
    r = await client.post(f"{base}/resume")
    assert r.status_code == 409 and "resume needs a paused run" in r.json()["detail"]
    r = await client.patch(base, json={"status": "running"})
    assert r.status_code == 200 and r.json()["data"]["status"] == "running"
    r = await client.post(f"{base}/pause")
    assert r.status_code == 200 and r.json()["data"]["status"] == "paused"
    r = await client.post(f"{base}/pause")
    assert r.status_code == 409 and r.json()["detail"] == f"Run {rid} is paused; pause needs a running run."
    r = await client.post(f"{base}/resume")
    assert r.status_code == 200 and r.json()["data"]["status"] == "running"
    assert r.json()["data"].get("finished_at") is None
    r = await client.post(f"{base}/cancel")
    run = MissionRunResponse.model_validate(r.json()).data
    assert r.status_code == 200 and run.status == "cancelled" and run.finished_at is not None
    assert run.updated_at >= run.started_at
    r = await client.post(f"{base}/cancel")
    assert r.status_code == 409
    assert r.json()["detail"] == f"Run {rid} is cancelled; cancel needs a pending, running or paused run."
    assert await status_events(client, mid, rid) == [
        ("pending → running", {"from": "pending", "to": "running"}),
        ("running → paused", {"from": "running", "to": "paused"}),
        ("paused → running", {"from": "paused", "to": "running"}),
        ("running → cancelled", {"from": "running", "to": "cancelled"}),
    ]


async def test_cancel_from_pending_and_paused(client, api):
    for status in ("pending", "paused"):
        mid, rid = await api.run(status=status)
        r = await client.post(f"/ai/missions/{mid}/runs/{rid}/cancel")
        assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled"


ALLOWED = {
    "pending": {"running", "cancelled", "failed"},
    "running": {"paused", "succeeded", "failed", "cancelled"},
    "paused": {"running", "cancelled", "failed"},
    "succeeded": set(),
    "failed": set(),
    "cancelled": set(),
}


@pytest.mark.parametrize("start", list(ALLOWED))
async def test_update_run_transitions(client, api, start):
    for target in ALLOWED:
        mid, rid = await api.run(status=start)
        r = await client.patch(f"/ai/missions/{mid}/runs/{rid}", json={"status": target})
        if target == start:
            assert r.status_code == 200 and r.json()["data"]["status"] == start
        elif target in ALLOWED[start]:
            assert r.status_code == 200, (start, target, r.text)
            data = r.json()["data"]
            assert data["status"] == target
            assert (data.get("finished_at") is not None) == (target in ("succeeded", "failed", "cancelled"))
        else:
            assert r.status_code == 409, (start, target)
            assert f"is {start}" in r.json()["detail"] and target in r.json()["detail"]
            assert (await client.get(f"/ai/missions/{mid}/runs/{rid}")).json()["data"]["status"] == start


async def test_update_run_fields_are_partial_and_allowed_after_the_end(client, api):
    mid, rid = await api.run(status="running")
    base = f"/ai/missions/{mid}/runs/{rid}"
    r = await client.patch(base, json={"status": "succeeded", "result_summary": "ok", "result_payload": {"n": 1}})
    data = r.json()["data"]
    assert data["status"] == "succeeded" and data["result_summary"] == "ok" and data["result_payload"] == {"n": 1}
    r = await client.patch(base, json={"metadata": {"note": "late"}})
    data2 = r.json()["data"]
    assert r.status_code == 200 and data2["metadata"] == {"note": "late"} and data2["result_summary"] == "ok"
    assert data2["finished_at"] == data["finished_at"] and data2["updated_at"] >= data["updated_at"]
    assert (await client.patch(base, json={"status": "bogus"})).status_code == 422
    assert (await client.patch(base, json={"error": None})).status_code == 422  # no field is nullable
    assert (await client.patch(base, json={"unknown": 1})).status_code == 422
    assert (await client.patch(base)).status_code == 422
    r = await client.patch(f"/ai/missions/{mid}/runs/{uuid.uuid4()}", json={})
    assert r.status_code == 404


@pytest.mark.parametrize("action", ["cancel", "pause", "resume"])
async def test_actions_on_unknown_run(client, api, action):
    mid = await api.mission()
    rid = uuid.uuid4()
    r = await client.post(f"/ai/missions/{mid}/runs/{rid}/{action}")
    assert r.status_code == 404 and r.json() == {"detail": f"Run {rid} not found."}
    assert (await client.post(f"/ai/missions/{mid}/runs/bad/{action}")).status_code == 422
