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
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]
from bench_local import log_rate  # noqa: E402
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
                rows.append(
                    (
                        new_id(),
                        run["seq"],
                        run["tenant"],
                        kind,
                        f"event {i}",
                        ts + i,
                        f"s{i % 20}",
                        "bench",
                        f'{{"n":{i}}}',
                        i + 1,
                        i // 2 + 1,
                    )
                )
            tx.conn.cursor().executemany(sql, rows)
            tx.execute("UPDATE runs SET event_count = ? WHERE seq = ?", (count, run["seq"]))
    finally:
        store.close()
    return mission_id, big, empty


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


async def latencies(targets: dict[str, str], params: dict[str, dict[str, int]], n: int) -> dict[str, list[float]]:
    """Milliseconds per GET of each target URL, interleaved (one of each in turn, ``n`` rounds), so a
    busy moment of the machine slows them all alike."""
    out: dict[str, list[float]] = {name: [] for name in targets}
    async with httpx2.AsyncClient(timeout=30) as http:
        for name, url in targets.items():
            for _ in range(10):
                (await http.get(url, params=params[name])).raise_for_status()
        for _ in range(n):
            for name, url in targets.items():
                started = time.perf_counter()
                r = await http.get(url, params=params[name])
                out[name].append((time.perf_counter() - started) * 1000)
                r.raise_for_status()
    return out


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


async def set_status(port: int, mission_id: str, run_id: str, status: str) -> None:
    async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        (await http.patch(f"/ai/missions/{mission_id}/runs/{run_id}", json={"status": status})).raise_for_status()


async def measure(args: argparse.Namespace, sqlite_file: Path, pg_url: str) -> list[tuple[str, str, str]]:
    """All three set-ups are up at once and measured in turn, round after round (medians over the
    rounds): a busy moment of the machine then costs each of them alike."""
    seeded, ids = {}, {}
    for engine, target in (("sqlite", sqlite_file), ("postgresql", pg_url)):
        started = time.perf_counter()
        ids[engine] = seed(target, args.big)
        seeded[engine] = time.perf_counter() - started
    with replicas(sqlite_file, 1) as lite_ports, replicas(pg_url, 2) as pg_ports:
        setups = {
            "sqlite": ("sqlite", lite_ports),
            "pg1": ("postgresql", pg_ports[:1]),
            "pg2": ("postgresql", pg_ports),
        }
        for engine, ports in (("sqlite", lite_ports), ("postgresql", pg_ports)):
            mission_id, _, empty = ids[engine]
            await set_status(ports[0], mission_id, empty, "running")
        rates: dict[tuple[str, int], list[float]] = {(name, c): [] for name in setups for c in (1, 8)}
        for engine, ports in setups.values():  # warm-up: connections, prepared statements
            await log_rate(ports, f"/ai/missions/{ids[engine][0]}/runs/{ids[engine][2]}/events", 8, 20)
        for _ in range(args.rounds):
            for clients in (1, 8):
                for name, (engine, ports) in setups.items():
                    events = f"/ai/missions/{ids[engine][0]}/runs/{ids[engine][2]}/events"
                    rates[name, clients].append(await log_rate(ports, events, clients, args.events // clients))
        last = -(-args.big // 50)
        targets, params = {}, {}
        for engine, ports in (("sqlite", lite_ports), ("postgresql", pg_ports)):
            mission_id, big, _ = ids[engine]
            for label, number in (("first", 1), ("last", last)):
                targets[f"{engine} {label}"] = f"http://127.0.0.1:{ports[0]}/ai/missions/{mission_id}/runs/{big}/events"
                params[f"{engine} {label}"] = {"page[number]": number, "page[size]": 50}
        measured = await latencies(targets, params, args.samples)
        pages = {tuple(name.split()): values for name, values in measured.items()}

    def rate(name: str, clients: int) -> str:
        value, base = statistics.median(rates[name, clients]), statistics.median(rates["sqlite", clients])
        return f"{value:,.0f} events/s ({value / base:.2f}×)"

    def lat(engine: str, label: str) -> str:
        values, baseline = pages[engine, label], pages["sqlite", label]
        p50, p99 = statistics.median(values), p(values, 99)
        return f"{p50:.2f} / {p99:.2f} ms ({p50 / statistics.median(baseline):.2f}× / {p99 / p(baseline, 99):.2f}×)"

    rows = []
    for clients in (1, 8):
        rows.append(
            (
                f"log_event, {clients} client{'s' if clients > 1 else ''}",
                rate("sqlite", clients),
                f"1 replica: {rate('pg1', clients)} · 2 replicas: {rate('pg2', clients)}",
            )
        )
    rows.append(
        (f"list_events page 1 of {args.big:,} events, p50 / p99", lat("sqlite", "first"), lat("postgresql", "first"))
    )
    rows.append((f"list_events page {last:,} (the last), p50 / p99", lat("sqlite", "last"), lat("postgresql", "last")))
    rows.append(
        (
            f"seeding {args.big:,} events in one transaction",
            f"{seeded['sqlite']:.1f} s",
            f"{seeded['postgresql']:.1f} s",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000, help="events logged over HTTP per measurement")
    parser.add_argument("--big", type=int, default=100_000, help="events in the run that list_events reads")
    parser.add_argument("--samples", type=int, default=300, help="requests per latency measurement")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MISSIONS_TEST_POSTGRES_URL"),
        help="a PostgreSQL server to use (a schema is made and dropped); default: a throwaway cluster",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the set-ups (medians are given)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, postgres(args.postgres_url) as url:
        rows = asyncio.run(measure(args, Path(tmp) / "bench.db", url))
    print(
        f"cores: {os.cpu_count()} shared by the replicas, the database and the load generator;"
        f" medians of {args.rounds} rounds\n"
    )
    print("| measure | SQLite (baseline) | PostgreSQL (× SQLite) |\n|---|---|---|")
    for name, lite, pg in rows:
        print(f"| {name} | {lite} | {pg} |")


if __name__ == "__main__":
    main()
