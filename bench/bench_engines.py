"""The store's engine as a dimension: SQLite against PostgreSQL with one and two ``missions-mcp api`` replicas.

    python bench/bench_engines.py [--events 2000] [--big 100000] [--samples 300] [--postgres-url URL]

1. Events logged per second through HTTP on loopback, 1 client and 8 concurrent clients (all on one
   run, as agents sharing a run do), on: SQLite (one process; the baseline), PostgreSQL behind one
   replica, PostgreSQL behind two replicas (the clients spread over both).
2. ``list_events`` latency p50 / p99 on a run of ``--big`` events (seeded through the store's own
   insert): the first page and the last, SQLite against PostgreSQL.

Every figure is given with its ratio to SQLite's in the same run. PostgreSQL is a throwaway cluster
started for the run (``initdb`` and ``pg_ctl`` as in the tests, but with fsync and full-page writes
on) unless ``--postgres-url`` or ``MISSIONS_TEST_POSTGRES_URL`` names a server to use. Both engines
acknowledge a commit before it is flushed to disk (SQLite ``synchronous=NORMAL`` in WAL mode,
PostgreSQL ``synchronous_commit=off``): a commit survives the process being killed, not a power cut.
Every replica, the database and this load generator share the machine's cores, so the two-replica
rows say what a second process costs or gains *here*, not on separate machines. Traffic stays on
127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from bench_local import latencies, p  # noqa: E402
from bench_tools import free_port, start_api  # noqa: E402

from missions_mcp.local import missions, runs  # noqa: E402
from missions_mcp.local.store import new_id, now_us, open_store, qmark_to_format, tenant_hash  # noqa: E402

KEY = tenant_hash(None)


def seed(target: str | Path, count: int) -> tuple[str, str, str]:
    """A mission, a run of ``count`` events and an empty run to log into. The events are written in
    bulk (the driver's ``executemany``) with the columns ``runs._insert_event`` would give them: one
    at a time through the store, PostgreSQL's round trips would make seeding take minutes."""
    store = open_store(target)
    try:
        mission_id = missions.create_mission(store, KEY, {"name": "bench"})["data"]["mission_id"]
        big = runs.create_run(store, KEY, mission_id, {})["data"]["run_id"]
        empty = runs.create_run(store, KEY, mission_id, {})["data"]["run_id"]
        sql = (
            "INSERT INTO events (event_id, run_seq, tenant, type, summary, ts, step_id, agent_id, payload,"
            " idempotency_key, body_hash, n, type_n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?)"
        )
        if store.dialect.name != "sqlite":
            sql = qmark_to_format(sql)
        with store.atomic(KEY) as tx:
            run = runs.find_run(tx, mission_id, big, lock=True)
            ts, rows = now_us(), []
            for i in range(count):
                kind = "tool_call" if i % 2 else "tool_result"
                rows.append((new_id(), run["seq"], run["tenant"], kind, f"event {i}", ts + i, f"s{i % 20}", "bench",
                             f'{{"n":{i}}}', i + 1, i // 2 + 1))
            tx.conn.cursor().executemany(sql, rows)
            tx.execute("UPDATE runs SET event_count = ? WHERE seq = ?", (count, run["seq"]))
    finally:
        store.close()
    return mission_id, big, empty


async def log_rate(ports: list[int], events_path: str, clients: int, per_client: int) -> float:
    """Events a second: ``clients`` keep-alive connections, spread over ``ports`` in turn, each logging
    ``per_client`` events one after the other (raw requests, as bench_local.py writes them: a Python
    HTTP client would spend more CPU than the server on the same cores)."""
    path = events_path.encode()

    async def client(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[n % len(ports)])
        try:
            for i in range(per_client):
                body = json.dumps({"type": "message", "summary": f"c{n} e{i}", "agent_id": f"c{n}"}).encode()
                writer.write(
                    b"POST " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
                )
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                if status != 201:
                    raise RuntimeError(f"HTTP {status}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return clients * per_client / (time.perf_counter() - started)


@contextmanager
def replicas(target: str | Path, count: int) -> Iterator[list[int]]:
    ports = [free_port() for _ in range(count)]
    procs = [start_api(target, port) for port in ports]  # type: ignore[arg-type]
    try:
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """A PostgreSQL database for this run: a fresh schema on the given server, or a throwaway cluster."""
    import psycopg

    from pgcluster import Cluster, _bindir, _in_schema

    cluster = None
    if url is None:
        bindir = _bindir()
        if bindir is None:
            raise SystemExit("no PostgreSQL found: install its server (apt-get install postgresql), or --postgres-url")
        cluster = Cluster.start(bindir, durable=True)
        url = cluster.url
    schema = "missions_bench_" + uuid.uuid4().hex[:8]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield _in_schema(url, schema)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
        if cluster is not None:
            cluster.stop()


async def engine_figures(target: str | Path, args: argparse.Namespace, replica_counts: list[int]) -> dict[str, Any]:
    figures: dict[Any, Any] = {}
    started = time.perf_counter()
    mission_id, big, empty = seed(target, args.big)

    async def set_status(port: int, status: str) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            (await http.patch(f"/ai/missions/{mission_id}/runs/{empty}", json={"status": status})).raise_for_status()

    figures["seeded"] = time.perf_counter() - started
    events = f"/ai/missions/{mission_id}/runs/{empty}/events"
    for count in replica_counts:
        with replicas(target, count) as ports:
            await set_status(ports[0], "running")
            await log_rate(ports, events, 1, 50)  # warm-up: connections, prepared statements
            figures[count, 1] = await log_rate(ports, events, 1, args.events)
            figures[count, 8] = await log_rate(ports, events, 8, args.events // 8)
            if count == 1:
                base = f"http://127.0.0.1:{ports[0]}"
                path = f"/ai/missions/{mission_id}/runs/{big}/events"
                figures["first"] = await latencies(base, path, {"page[number]": 1, "page[size]": 50}, args.samples)
                last = -(-args.big // 50)
                figures["last"] = await latencies(base, path, {"page[number]": last, "page[size]": 50}, args.samples)
            await set_status(ports[0], "paused")
    return figures


async def measure(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        lite = await engine_figures(Path(tmp) / "bench.db", args, [1])
    with postgres(args.postgres_url) as url:
        pg = await engine_figures(url, args, [1, 2])

    def rate(value: float, baseline: float) -> str:
        return f"{value:,.0f} events/s ({value / baseline:.2f}×)"

    def lat(values: list[float], baseline: list[float]) -> str:
        p50, p99 = statistics.median(values), p(values, 99)
        return f"{p50:.2f} / {p99:.2f} ms ({p50 / statistics.median(baseline):.2f}× / {p99 / p(baseline, 99):.2f}×)"

    rows = []
    for clients in (1, 8):
        base = lite[1, clients]
        rows.append((f"log_event, {clients} client{'s' if clients > 1 else ''}", f"{base:,.0f} events/s (1.00×)",
                     " · ".join(f"{n} replica{'s' if n > 1 else ''}: {rate(pg[n, clients], base)}" for n in (1, 2))))
    last = -(-args.big // 50)
    rows.append((f"list_events page 1 of {args.big:,} events, p50 / p99",
                 lat(lite["first"], lite["first"]), lat(pg["first"], lite["first"])))
    rows.append((f"list_events page {last:,} (the last), p50 / p99",
                 lat(lite["last"], lite["last"]), lat(pg["last"], lite["last"])))
    rows.append((f"seeding {args.big:,} events in one transaction", f"{lite['seeded']:.1f} s", f"{pg['seeded']:.1f} s"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000, help="events logged over HTTP per measurement")
    parser.add_argument("--big", type=int, default=100_000, help="events in the run that list_events reads")
    parser.add_argument("--samples", type=int, default=300, help="requests per latency measurement")
    parser.add_argument("--postgres-url", default=os.environ.get("MISSIONS_TEST_POSTGRES_URL"),
                        help="a PostgreSQL server to use (a schema is made and dropped); default: a throwaway cluster")
    args = parser.parse_args()
    rows = asyncio.run(measure(args))
    print(f"cores: {os.cpu_count()} shared by the replicas, the database and the load generator\n")
    print("| measure | SQLite (baseline) | PostgreSQL (× SQLite) |\n|---|---|---|")
    for name, lite, pg in rows:
        print(f"| {name} | {lite} | {pg} |")


if __name__ == "__main__":
    main()
