"""Several ``missions-mcp api`` replicas on one PostgreSQL: nothing lost, nothing doubled, each sees the others.

Real processes on loopback, a real PostgreSQL (tests/pgcluster.py), real HTTP.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from api_process import ApiProcess

pytest.importorskip("psycopg", reason="pip install -e '.[test,postgres]'")

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def spawn_replica(db_url: str) -> ApiProcess:
    """``python -m missions_mcp api --db postgresql://…`` on a free loopback port, spawned, not yet ready."""
    return ApiProcess(db_url).spawn()


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[list[ApiProcess]]:
    started = [spawn_replica(postgres_url) for _ in range(2)]
    try:
        yield [r.wait_ready() for r in started]
    finally:
        for r in started:
            r.stop()


async def _all_events(http: httpx2.AsyncClient, events_path: str, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """Every event of a run, page by page, and the total the first page announced."""
    first = (await http.get(events_path, params={"page[number]": 1, "page[size]": page_size})).json()
    seen, total_pages = list(first["data"]), first["meta"]["total_pages"]
    for number in range(2, total_pages + 1):
        page = (await http.get(events_path, params={"page[number]": number, "page[size]": page_size})).json()
        assert page["meta"]["total_results"] == first["meta"]["total_results"]
        seen.extend(page["data"])
    return seen, first["meta"]["total_results"]


async def test_eight_agents_on_two_replicas_and_one_key_sent_to_both_at_once(replicas: list[ApiProcess]) -> None:
    a, b = replicas
    agents, per_agent = 8, 60
    async with httpx2.AsyncClient(base_url=a.base, timeout=30) as http:
        mission_id = (await http.post("/ai/missions", json={"name": "shared"})).json()["data"]["mission_id"]
        run_id = (await http.post(f"/ai/missions/{mission_id}/runs", json={})).json()["data"]["run_id"]
        run_path = f"/ai/missions/{mission_id}/runs/{run_id}"
        assert (await http.patch(run_path, json={"status": "running"})).status_code == 200
    events_path = run_path + "/events"
    acknowledged: dict[str, str] = {}  # idempotency key -> event id
    failures: list[str] = []
    twin_answers: list[dict[str, Any]] = []

    async def agent(n: int) -> None:
        base = (a, b)[n % 2].base  # agents spread across the replicas
        async with httpx2.AsyncClient(base_url=base, timeout=30) as own:
            for i in range(per_agent):
                key = f"agent{n}-{i}"
                r = await own.post(
                    events_path,
                    json={
                        "type": "message",
                        "summary": f"agent {n} event {i}",
                        "agent_id": f"agent-{n}",
                        "idempotency_key": key,
                    },
                )
                if r.status_code == 201:
                    acknowledged[key] = r.json()["data"]["event_id"]
                else:
                    failures.append(f"{r.status_code} {r.text}")
                if i % 10 == 0:  # the same key to both replicas at the same moment, in the body and in the header
                    twin = f"twin-{n}-{i}"
                    body = {"type": "message", "summary": f"twin {twin}", "idempotency_key": twin}
                    async with httpx2.AsyncClient(timeout=30) as left, httpx2.AsyncClient(timeout=30) as right:
                        answers: list[httpx2.Response] = []

                        async def send(
                            client: httpx2.AsyncClient,
                            replica: ApiProcess,
                            body: dict[str, Any] = body,
                            answers: list[httpx2.Response] = answers,
                        ) -> None:
                            answers.append(
                                await client.post(
                                    replica.base + events_path,
                                    json=body,
                                    headers={"Idempotency-Key": body["idempotency_key"]},
                                )
                            )

                        async with anyio.create_task_group() as tg:
                            tg.start_soon(send, left, a)
                            tg.start_soon(send, right, b)
                    assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
                    ids = {r.json()["data"]["event_id"] for r in answers}
                    assert len(ids) == 1, f"one key, two events: {ids}"
                    acknowledged[twin] = ids.pop()
                    twin_answers.extend(r.json()["data"] for r in answers)

    async with anyio.create_task_group() as tg:
        for n in range(agents):
            tg.start_soon(agent, n)
    assert failures == []
    expected = agents * per_agent + agents * (per_agent // 10)
    assert len(acknowledged) == expected

    # Both replicas tell the same story: every acknowledged event once, places 1..N without a gap,
    # identical pages whichever replica answers them.
    stories = []
    for replica in (a, b):
        async with httpx2.AsyncClient(base_url=replica.base, timeout=30) as http:
            events, total = await _all_events(http, events_path, page_size=37)
        assert total == len(events) == expected + 1  # + the status change to running
        ids = [e["event_id"] for e in events]
        assert len(set(ids)) == len(ids), "an event appears on two pages"
        assert set(acknowledged.values()) <= set(ids), "an acknowledged event is missing"
        keys = [e["idempotency_key"] for e in events if e.get("idempotency_key")]
        assert sorted(keys) == sorted(acknowledged), "a key stored twice or not at all"
        stamps = [e["timestamp"] for e in events]
        assert stamps == sorted(stamps), "the run's clock went back"
        stories.append(ids)
    assert stories[0] == stories[1]


async def test_mission_created_with_one_idempotency_key_on_both_replicas_at_once_is_created_once(
    replicas: list[ApiProcess],
) -> None:
    a, b = replicas
    for attempt in range(10):
        key = f"create-{attempt}"
        answers: list[httpx2.Response] = []

        async def send(replica: ApiProcess, key: str = key, answers: list[httpx2.Response] = answers) -> None:
            async with httpx2.AsyncClient(timeout=30) as http:
                answers.append(
                    await http.post(replica.base + "/ai/missions", json={"name": key}, headers={"Idempotency-Key": key})
                )

        async with anyio.create_task_group() as tg:
            tg.start_soon(send, a)
            tg.start_soon(send, b)
        assert sorted(r.status_code for r in answers) == [201, 201], [r.text for r in answers]
        assert len({r.json()["data"]["mission_id"] for r in answers}) == 1
    async with httpx2.AsyncClient(base_url=b.base, timeout=30) as http:
        listed = (await http.get("/ai/missions", params={"page[size]": 100})).json()
    assert sorted(m["name"] for m in listed["data"]) == sorted(f"create-{i}" for i in range(10))


async def test_concurrent_transitions_of_one_run_through_two_replicas_allow_exactly_one(
    replicas: list[ApiProcess],
) -> None:
    a, b = replicas
    async with httpx2.AsyncClient(timeout=30) as http:
        for _ in range(10):
            mission_id = (await http.post(a.base + "/ai/missions", json={"name": "race"})).json()["data"]["mission_id"]
            run = (await http.post(a.base + f"/ai/missions/{mission_id}/runs", json={})).json()["data"]
            path = f"/ai/missions/{mission_id}/runs/{run['run_id']}"
            await http.patch(a.base + path, json={"status": "running"})
            answers: dict[str, int] = {}

            async def move(
                replica: ApiProcess, status: str, path: str = path, answers: dict[str, int] = answers
            ) -> None:
                answers[status] = (await http.patch(replica.base + path, json={"status": status})).status_code

            async with anyio.create_task_group() as tg:
                tg.start_soon(move, a, "succeeded")
                tg.start_soon(move, b, "failed")
            assert sorted(answers.values()) == [200, 409], answers
            final = (await http.get(b.base + path)).json()["data"]["status"]
            assert answers[final] == 200
            changes = [
                e for e in (await http.get(b.base + path + "/events")).json()["data"] if e["type"] == "status_change"
            ]
            assert len(changes) == 2, "one status change to running, one to the winner"


async def test_a_replica_killed_during_a_burst_loses_no_acknowledged_write_and_the_other_keeps_serving(
    replicas: list[ApiProcess],
) -> None:
    a, b = replicas
    async with httpx2.AsyncClient(base_url=b.base, timeout=30) as http:
        mission_id = (await http.post("/ai/missions", json={"name": "burst"})).json()["data"]["mission_id"]
        run_id = (await http.post(f"/ai/missions/{mission_id}/runs", json={})).json()["data"]["run_id"]
    events_path = f"/ai/missions/{mission_id}/runs/{run_id}/events"
    acknowledged: list[str] = []
    on_b_failures: list[str] = []
    on_a_errors = 0
    killed = threading.Event()
    enough = anyio.Event()  # the kill comes once 200 writes are acknowledged: mid-burst

    async def agent(n: int, replica: ApiProcess) -> None:
        nonlocal on_a_errors
        side = "a" if replica is a else "b"
        async with httpx2.AsyncClient(base_url=replica.base, timeout=10) as own:
            for i in range(150):
                try:
                    r = await own.post(
                        events_path,
                        json={"type": "message", "summary": f"{side}{n}/{i}", "idempotency_key": f"{n}-{i}"},
                    )
                except httpx2.TransportError as exc:
                    if replica is a and killed.is_set():
                        on_a_errors += 1
                        return
                    on_b_failures.append(repr(exc))
                    return
                if r.status_code == 201:
                    acknowledged.append(r.json()["data"]["event_id"])
                    if len(acknowledged) >= 200:
                        enough.set()
                elif replica is b:
                    on_b_failures.append(f"{r.status_code} {r.text}")

    async def killer() -> None:
        await enough.wait()
        killed.set()
        await anyio.to_thread.run_sync(a.kill)

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(agent, n, a)
            tg.start_soon(agent, 10 + n, b)
        tg.start_soon(killer)
    assert killed.is_set() and a.proc.returncode == -signal.SIGKILL
    assert on_b_failures == [], "the surviving replica failed a request"
    async with httpx2.AsyncClient(base_url=b.base, timeout=30) as http:
        events, total = await _all_events(http, events_path, page_size=100)
    stored = [e["event_id"] for e in events]
    assert len(set(stored)) == len(stored) == total
    missing = set(acknowledged) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert sum(1 for e in events if e["summary"].startswith("b")) == 4 * 150  # every write through b


def test_replicas_starting_at_once_on_an_empty_database_all_come_up(postgres_url: str) -> None:
    started = [spawn_replica(postgres_url) for _ in range(4)]
    try:
        for replica in started:
            replica.wait_ready()
        for replica in started:
            assert httpx2.post(replica.base + "/ai/missions", json={"name": "up"}, timeout=10).status_code == 201
        listed = httpx2.get(started[0].base + "/ai/missions", timeout=10).json()
        assert listed["meta"]["total_results"] == 4
    finally:
        for replica in started:
            replica.stop()


def test_a_write_through_one_replica_reaches_the_live_page_of_another_within_a_second(
    replicas: list[ApiProcess],
) -> None:
    """The page's event stream on replica B (``/live/``) learns of a mission created through replica A."""
    a, b = replicas
    with httpx2.Client(timeout=httpx2.Timeout(10, read=5)) as http, http.stream("GET", b.base + "/live/") as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        first = _next_event(lines)  # the page as it is now
        assert "seen" not in first
        started = time.monotonic()
        assert http.post(a.base + "/ai/missions", json={"name": "seen from b"}).status_code == 201
        update = _next_event(lines)
        elapsed = time.monotonic() - started
    assert "seen from b" in update
    assert elapsed < 1.0, f"replica B's page learnt of the write after {elapsed:.2f} s"


def _next_event(lines: Iterator[str]) -> str:
    """The data of the next ``update`` event of a Server-Sent Events stream (pings left out)."""
    event, data = "", []
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data.append(line.split(":", 1)[1].strip())
        elif not line and event:
            if event == "update":
                return "\n".join(data)
            event, data = "", []
    raise AssertionError("the stream ended")
