"""The embedded API as a real server on loopback: eight agents at once, and a SIGKILL right after a 201."""

from __future__ import annotations

import anyio
import httpx2
import pytest
from api_process import ApiProcess

pytestmark = pytest.mark.slow


@pytest.fixture
def api(tmp_path):
    server = ApiProcess(tmp_path / "m.db").start()
    yield server
    server.stop()


@pytest.mark.anyio
async def test_eight_agents_logging_at_once_lose_nothing(api):
    agents, per_agent = 8, 200
    async with httpx2.AsyncClient(base_url=api.base, timeout=30) as http:
        mission = (await http.post("/ai/missions", json={"name": "busy"})).json()["data"]
        run = (await http.post(f"/ai/missions/{mission['mission_id']}/runs", json={})).json()["data"]
        events = f"/ai/missions/{mission['mission_id']}/runs/{run['run_id']}/events"
        failures: list[str] = []

        async def agent(n: int) -> None:
            async with httpx2.AsyncClient(base_url=api.base, timeout=30) as own:  # one connection pool each
                for i in range(per_agent):
                    r = await own.post(
                        events,
                        json={
                            "type": "message",
                            "summary": f"agent {n} event {i}",
                            "agent_id": f"agent-{n}",
                            "idempotency_key": f"{n}-{i}",
                        },
                    )
                    if r.status_code != 201:
                        failures.append(f"{r.status_code} {r.text}")

        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for n in range(agents):
                    tg.start_soon(agent, n)
        assert failures == []
        listed = (await http.get(events, params={"page[size]": 1000, "page[number]": 1})).json()
        assert listed["meta"]["total_results"] == agents * per_agent
        for n in range(agents):
            mine = (await http.get(events, params={"agent_id": f"agent-{n}", "page[size]": 1000})).json()
            assert [e["summary"] for e in mine["data"]] == [f"agent {n} event {i}" for i in range(per_agent)]
    assert "database is locked" not in api.stop()


def test_an_acknowledged_event_survives_sigkill(tmp_path):
    server = ApiProcess(tmp_path / "m.db").start()
    with httpx2.Client(base_url=server.base, timeout=10) as http:
        mission = http.post("/ai/missions", json={"name": "durable"}).json()["data"]
        run = http.post(f"/ai/missions/{mission['mission_id']}/runs", json={}).json()["data"]
        events = f"/ai/missions/{mission['mission_id']}/runs/{run['run_id']}/events"
        answer = http.post(events, json={"type": "tool_result", "summary": "the last word"})
        assert answer.status_code == 201
    server.kill()  # no shutdown, no checkpoint: straight after the 201

    again = ApiProcess(tmp_path / "m.db").start()
    try:
        with httpx2.Client(base_url=again.base, timeout=10) as http:
            stored = http.get(events).json()
            assert [e["event_id"] for e in stored["data"]] == [answer.json()["data"]["event_id"]]
            assert http.get(f"/ai/missions/{mission['mission_id']}").json()["data"]["name"] == "durable"
    finally:
        again.stop()
