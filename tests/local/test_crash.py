"""Proofs under crashes and races, against real ``missions-mcp api`` processes on loopback.

- SIGKILL during a burst of writes from four clients, restart, resend what was in flight with its
  Idempotency-Key: no acknowledged write lost, none stored twice, the file intact.
- Several processes starting at once on a new database file all come up.
- Two processes given the same Idempotency-Key at once create one resource.

Each prints its figures (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx2
import pytest
from api_process import ApiProcess

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CLIENTS = 4
KILLS = 10


@dataclass
class Write:
    """One write a client means to make exactly once."""

    ident: str
    kind: str  # "mission" or "event"
    answer: dict | None = None  # the acknowledged object


@dataclass
class Ledger:
    acknowledged: dict[str, Write] = field(default_factory=dict)
    in_flight: list[Write] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def request_of(write: Write, events_path: str) -> tuple[str, str, dict]:
    if write.kind == "mission":
        return "POST", "/ai/missions", {"name": write.ident}
    return "POST", events_path, {"type": "message", "summary": write.ident}


async def send(http: httpx2.AsyncClient, write: Write, events_path: str) -> httpx2.Response:
    method, path, body = request_of(write, events_path)
    return await http.request(method, path, json=body, headers={"Idempotency-Key": write.ident})


async def burst(
    base: str, events_path: str, ledger: Ledger, round_: int, kill_after: int, kill: Callable[[], None]
) -> None:
    """Four clients writing as fast as they are answered; once ``kill_after`` writes of this round
    are acknowledged, the server is killed while the other clients' requests are in flight."""
    acknowledged = 0

    async def client(n: int) -> None:
        nonlocal acknowledged
        async with httpx2.AsyncClient(base_url=base, timeout=10) as http:
            i = 0
            while True:
                write = Write(f"r{round_}-c{n}-w{i}", "mission" if i % 4 == 0 else "event")
                i += 1
                try:
                    r = await send(http, write, events_path)
                except httpx2.TransportError:
                    ledger.in_flight.append(write)  # no answer: it may or may not have been stored
                    return
                if r.status_code >= 300:
                    ledger.refused.append(f"{write.ident}: {r.status_code} {r.text}")
                    return
                write.answer = r.json()["data"]
                ledger.acknowledged[write.ident] = write
                acknowledged += 1
                if acknowledged == kill_after:
                    kill()

    async with anyio.create_task_group() as tg:
        for n in range(CLIENTS):
            tg.start_soon(client, n)


def stored(db: Path, run_seq: int) -> tuple[Counter[str], Counter[str], str]:
    conn = sqlite3.connect(db)
    try:
        missions = Counter(name for (name,) in conn.execute("SELECT name FROM missions"))
        events = Counter(
            s for (s,) in conn.execute("SELECT summary FROM events WHERE run_seq = ? AND type = 'message'", (run_seq,))
        )
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    return missions, events, integrity


async def test_sigkill_during_a_write_burst_loses_and_doubles_nothing(tmp_path):
    db = tmp_path / "crash.db"
    server = ApiProcess(db).start()
    async with httpx2.AsyncClient(base_url=server.base, timeout=10) as http:
        mission = (await http.post("/ai/missions", json={"name": "crash"})).json()["data"]
        run = (await http.post(f"/ai/missions/{mission['mission_id']}/runs", json={})).json()["data"]
    events_path = f"/ai/missions/{mission['mission_id']}/runs/{run['run_id']}/events"
    ledger = Ledger()
    resent = replayed = 0
    rng = random.Random(8)
    for round_ in range(KILLS):
        proc = server.proc
        assert proc is not None
        with anyio.fail_after(120):
            await burst(
                server.base,
                events_path,
                ledger,
                round_,
                rng.randint(100, 300),
                lambda pid=proc.pid: os.kill(pid, signal.SIGKILL),
            )
        proc.wait(timeout=10)
        server = ApiProcess(db).start()
        async with httpx2.AsyncClient(base_url=server.base, timeout=10) as http:
            while ledger.in_flight:
                write = ledger.in_flight.pop()
                r = await send(http, write, events_path)
                assert r.status_code == 201, r.text
                resent += 1
                replayed += r.headers.get("idempotent-replayed") == "true"
                write.answer = r.json()["data"]
                ledger.acknowledged[write.ident] = write
    server.stop()

    assert ledger.refused == []
    conn = sqlite3.connect(db)
    run_seq = conn.execute("SELECT seq FROM runs WHERE run_id = ?", (run["run_id"],)).fetchone()[0]
    conn.close()
    missions, events, integrity = stored(db, run_seq)
    expected = {w.ident: w for w in ledger.acknowledged.values()}
    lost = [i for i, w in expected.items() if (missions if w.kind == "mission" else events)[i] == 0]
    doubled = [name for name, n in (missions + events).items() if n > 1]
    unasked = set(missions) - set(expected) - {"crash"} | set(events) - set(expected)
    print(
        f"\ncrash proof: {len(expected)} writes acknowledged ({sum(w.kind == 'mission' for w in expected.values())}"
        f" missions, {sum(w.kind == 'event' for w in expected.values())} events) by {CLIENTS} clients across"
        f" {KILLS} SIGKILLs; {resent} in-flight resent ({replayed} replayed as stored before the kill);"
        f" lost {len(lost)}, doubled {len(doubled)}, integrity {integrity}"
    )
    assert lost == [] and doubled == [] and not unasked
    assert integrity == "ok"
    assert resent >= KILLS - 1, "each kill should catch requests in flight"
    by_answer = {w.answer["mission_id"] if w.kind == "mission" else w.answer["event_id"] for w in expected.values()}
    assert len(by_answer) == len(expected), "a resent write answers the object stored the first time"


def test_processes_starting_at_once_on_a_new_database_all_come_up(tmp_path):
    """Eight ``api`` processes at once on a file that does not exist yet, three times over."""
    for attempt in range(3):
        db = tmp_path / f"fresh-{attempt}.db"
        servers = [ApiProcess(db).spawn() for _ in range(8)]
        try:
            for server in servers:
                server.wait_ready(timeout=60)
            for n, server in enumerate(servers):
                r = httpx2.post(server.base + "/ai/missions", json={"name": f"from {n}"}, timeout=30)
                assert r.status_code == 201, r.text
            listed = httpx2.get(servers[0].base + "/ai/missions", timeout=30).json()
            assert listed["meta"]["total_results"] == len(servers)
        finally:
            errors = [server.stop() for server in servers]
        assert not [e for e in errors if "Traceback" in e or "locked" in e or "already exists" in e]
    print(f"\nfresh database: 3 × {len(servers)} processes started at once, all came up")


async def test_two_processes_given_the_same_key_at_once_create_one_resource(tmp_path):
    db = tmp_path / "shared.db"
    first = ApiProcess(db).start()
    second = ApiProcess(db).start()
    tries = 40
    try:
        async with httpx2.AsyncClient(timeout=30) as http:
            mission = (await http.post(first.base + "/ai/missions", json={"name": "base"})).json()["data"]
            created: list[set[str]] = []
            runs_path = f"/ai/missions/{mission['mission_id']}/runs"

            async def post(base: str, key: str, answers: list[httpx2.Response]) -> None:
                answers.append(await http.post(base + runs_path, json={}, headers={"Idempotency-Key": key}))

            for t in range(tries):
                answers: list[httpx2.Response] = []
                async with anyio.create_task_group() as tg:
                    for base in (first.base, second.base) * 2:
                        tg.start_soon(post, base, f"same-{t}", answers)
                assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
                assert sum(r.headers.get("idempotent-replayed") == "true" for r in answers) == 3
                created.append({r.json()["data"]["run_id"] for r in answers})
            runs = (
                await http.get(second.base + f"/ai/missions/{mission['mission_id']}/runs", params={"page[size]": 1000})
            ).json()
    finally:
        first.stop()
        second.stop()
    print(f"\nsame key, two processes: {tries} tries × 4 requests, {runs['meta']['total_results']} runs created")
    assert all(len(ids) == 1 for ids in created)
    assert runs["meta"]["total_results"] == tries
