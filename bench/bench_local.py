"""The embedded Missions API, measured.

    python bench/bench_local.py [--events 2000] [--big 100000]

1. Events logged per second through HTTP on loopback (``missions-mcp api`` in a subprocess), one
   client (without a key, with an ``Idempotency-Key`` header, with the key in header and body) and
   eight concurrent clients, next to the bare store's rate in this process (the same ``log_event``
   function, no HTTP) as the baseline.
2. ``list_events`` latency p50 / p99 on a run holding ``--big`` events (seeded straight into the
   store), first page and last page, unfiltered, filtered by type and by step, next to a GET of one
   mission as the baseline.
3. Database bytes per 100,000 events.
4. CPU time of the API process per request (its own clock, one client back to back): a GET of a
   mission and ``log_event`` without a key, with an ``Idempotency-Key`` header, and with the key in
   header and body, next to uvicorn alone answering a fixed body (``bare_asgi.py``) as the baseline.

Prints a markdown table. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx2

sys.path.insert(0, str(Path(__file__).parent))
from bench_tools import cpu_ms, free_port, start_api, start_bare

from missions_mcp.local import missions, runs
from missions_mcp.local.sqlite import SQLiteStore
from missions_mcp.local.store import tenant_hash

KEY = tenant_hash(None)


def seed(db: Path, count: int) -> tuple[str, str, float]:
    """A mission and a run with ``count`` events, inserted through the store's own insert in
    batches of 10,000 per transaction. Returns the ids and the bare per-event rate of ``log_event``."""
    store = SQLiteStore(db)
    mission_id = missions.create_mission(store, KEY, {"name": "bench"})["data"]["mission_id"]
    run_id = runs.create_run(store, KEY, mission_id, {})["data"]["run_id"]
    bare = 2000
    started = time.perf_counter()
    for i in range(bare):
        runs.log_event(store, KEY, mission_id, run_id, {"type": "message", "summary": f"bare {i}"})
    bare_rate = bare / (time.perf_counter() - started)
    done = bare
    while done < count:
        with store.atomic(KEY) as tx:
            run = runs.find_run(tx, mission_id, run_id, lock=True)
            for i in range(done, min(done + 10_000, count)):
                runs._insert_event(
                    tx,
                    run,
                    "tool_call" if i % 2 else "tool_result",
                    f"event {i}",
                    step_id=f"s{i % 20}",
                    agent_id="bench",
                    payload=f'{{"n":{i}}}',
                )
        done = min(done + 10_000, count)
    store.close()
    return mission_id, run_id, bare_rate


async def log_rate(
    ports: Sequence[int], events_path: str, clients: int, per_client: int, keyed: str | None = None
) -> float:
    """Events a second, ``clients`` keep-alive connections (spread over ``ports`` in turn, one per API
    replica) each logging ``per_client`` events to ``events_path`` one after the other.

    ``keyed="header"``: each request carries an ``Idempotency-Key`` header (the API claims it and
    stores the answer in the write's transaction); ``keyed="both"``: the same key in the header and
    as the event's ``idempotency_key``, as the MCP client sends ``log_event`` (the run deduplicates
    on it; no claim).

    The load comes from plain asyncio streams with the request bytes written out: a Python HTTP
    client would spend more CPU per request than the server does, on the same two cores, and the
    figure would measure the client.
    """

    async def client(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", ports[n % len(ports)])
        try:
            for i in range(per_client):
                event = {"type": "message", "summary": f"c{n} e{i}", "agent_id": f"c{n}"}
                token = f"{n}-{i}-{time.monotonic_ns()}"
                if keyed == "both":
                    event["idempotency_key"] = token
                writer.write(request("POST", events_path, event, key=token if keyed else None))
                await writer.drain()
                if (status := await read_answer(reader)) != 201:
                    raise RuntimeError(f"HTTP {status}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client(n) for n in range(clients)))
    return clients * per_client / (time.perf_counter() - started)


async def read_answer(reader: asyncio.StreamReader) -> int:
    """The status of the next answer on a keep-alive connection, its body read past."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


def request(method: str, path: str, body: dict[str, Any] | None = None, key: str | None = None) -> bytes:
    """An HTTP/1.1 request written out, as a keep-alive client sends it."""
    content = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n"
    if key:
        head += f"Idempotency-Key: {key}\r\n"
    return (head + "\r\n").encode() + content


async def cpu_per_request(
    port: int, pid: int, kinds: dict[str, Callable[[int], bytes]], rounds: int
) -> dict[str, float]:
    """Mean CPU milliseconds the process ``pid`` listening on ``port`` spends on each kind of request:
    the kinds in turn on one keep-alive connection, each sent once the one before is answered, after
    20 rounds of warm-up. The process's own clock (``/proc/PID/schedstat``), read around each request."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    spent = dict.fromkeys(kinds, 0.0)
    try:
        for i in range(-20, rounds):
            for kind, make in kinds.items():
                before = cpu_ms(pid)
                writer.write(make(i))
                await writer.drain()
                if (status := await read_answer(reader)) >= 300:
                    raise RuntimeError(f"{kind}: HTTP {status}")
                if i >= 0:
                    spent[kind] += cpu_ms(pid) - before
    finally:
        writer.close()
    return {kind: total / rounds for kind, total in spent.items()}


async def latencies(base: str, targets: dict[str, tuple[str, dict[str, Any] | None]], n: int) -> dict[str, list[float]]:
    """Milliseconds per GET of each target, interleaved (one of each in turn, ``n`` rounds), so a
    busy machine slows them all alike and the ratios between them hold."""
    out: dict[str, list[float]] = {name: [] for name in targets}
    async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
        for path, params in targets.values():
            for _ in range(10):
                (await http.get(path, params=params)).raise_for_status()
        for _ in range(n):
            for name, (path, params) in targets.items():
                t = time.perf_counter()
                r = await http.get(path, params=params)
                out[name].append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
    return out


def api_requests(mission_id: str, events: str) -> dict[str, Callable[[int], bytes]]:
    """The requests whose cost to the API process is measured, on ``mission_id`` and the run of ``events``."""
    serial = itertools.count()  # a new key for every keyed request
    event = {"type": "message", "summary": "measured"}

    def both(i: int) -> bytes:
        key = f"b{next(serial)}"
        return request("POST", events, {**event, "idempotency_key": key}, key=key)

    return {
        "GET of a mission": lambda i: request("GET", f"/ai/missions/{mission_id}"),
        "log_event, no key": lambda i: request("POST", events, event),
        "log_event, Idempotency-Key header (a claim)": lambda i: request("POST", events, event, key=f"h{next(serial)}"),
        "log_event, the key in header and body (as the MCP client sends it)": both,
    }


async def api_cpu(
    args: argparse.Namespace, tmp: Path, api_pid: int, port: int, mission_id: str, events: str
) -> list[tuple[str, str]]:
    """CPU time of the API process per request, next to uvicorn alone answering a fixed body
    (``bare_asgi.py``) and, with ``--compare``, to the API of another version, measured in turn,
    five rounds each."""
    bare_port = free_port()
    targets = [("api", api_pid, port, api_requests(mission_id, events))]
    started = [bare := start_bare(bare_port)]
    body = {"type": "message", "summary": "measured"}
    targets.append(
        (
            "bare",
            bare.pid,
            bare_port,
            {"GET": lambda i: request("GET", "/"), "POST": lambda i: request("POST", "/", body)},
        )
    )
    try:
        if args.compare:
            other_port = free_port()
            started.append(other := start_api(tmp / "compare.db", other_port, pythonpath=args.compare))
            async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{other_port}") as http:
                other_mission = (await http.post("/ai/missions", json={"name": "compare"})).json()["data"]["mission_id"]
                run = (await http.post(f"/ai/missions/{other_mission}/runs", json={})).json()["data"]["run_id"]
            other_events = f"/ai/missions/{other_mission}/runs/{run}/events"
            targets.append(("other", other.pid, other_port, api_requests(other_mission, other_events)))
        spent: dict[tuple[str, str], float] = {}
        rounds = max(args.samples // 5, 1)
        for _ in range(5):
            for tag, pid, target, kinds in targets:
                for kind, ms in (await cpu_per_request(target, pid, kinds, rounds)).items():
                    spent[tag, kind] = spent.get((tag, kind), 0.0) + ms / 5
    finally:
        for proc in started:
            proc.terminate()
            proc.wait(timeout=10)
    rows = []
    for kind in targets[0][3]:
        alone = spent["bare", "GET" if kind.startswith("GET") else "POST"]
        mine = spent["api", kind]
        versus = f"; {args.compare}: {spent['other', kind]:.2f} ms" if args.compare else ""
        rows.append(
            (
                f"CPU time of the API process per request, {kind}, 1 client back to back",
                f"{mine:.2f} ms ({mine / alone:.1f}× uvicorn alone: {alone:.2f} ms{versus})",
            )
        )
    return rows


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def database_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.glob("bench.db*"))


async def measure(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    db = tmp / "bench.db"
    t = time.perf_counter()
    mission_id, big_run, bare_rate = seed(db, args.big)
    seeded = time.perf_counter() - t
    size = database_bytes(tmp)
    port = free_port()
    api = start_api(db, port)
    base = f"http://127.0.0.1:{port}"
    try:

        async def fresh_events() -> str:
            """The events of a new run: each rate is measured on a run of its own, from its first event."""
            async with httpx2.AsyncClient(base_url=base) as http:
                run = (await http.post(f"/ai/missions/{mission_id}/runs", json={})).json()["data"]["run_id"]
            return f"/ai/missions/{mission_id}/runs/{run}/events"

        # The three single-client kinds in turn, five rounds each, so that a busy moment falls on all alike.
        rounds, spent = 5, dict.fromkeys((None, "header", "both"), 0.0)
        for _ in range(rounds):
            for kind in spent:
                events_path = await fresh_events()
                spent[kind] += (
                    args.events / rounds / await log_rate([port], events_path, 1, args.events // rounds, kind)
                )
        one, header_keyed, both_keyed = (args.events / spent[kind] for kind in (None, "header", "both"))
        eight = await log_rate([port], await fresh_events(), 8, args.events // 8)
        rows.append(("bare store log_event, in process (baseline)", f"{bare_rate:,.0f} events/s"))
        rows.append(("log_event over HTTP, 1 client", f"{one:,.0f} events/s ({one / bare_rate:.2f}× bare)"))
        rows.append(
            (
                "log_event over HTTP, 1 client, each with an Idempotency-Key header (a claim)",
                f"{header_keyed:,.0f} events/s ({header_keyed / one:.2f}× without)",
            )
        )
        rows.append(
            (
                "log_event over HTTP, 1 client, the key in header and body (as the MCP client sends it)",
                f"{both_keyed:,.0f} events/s ({both_keyed / one:.2f}× without)",
            )
        )
        rows.append(
            ("log_event over HTTP, 8 concurrent clients", f"{eight:,.0f} events/s ({eight / bare_rate:.2f}× bare)")
        )

        rows += await api_cpu(args, tmp, api.pid, port, mission_id, await fresh_events())

        events = f"/ai/missions/{mission_id}/runs/{big_run}/events"
        last_page = -(-args.big // 50)
        last_typed = -(-args.big // 100)  # half the events are tool calls
        last_step = -(-args.big // 20 // 50)  # the seeded events cycle through 20 steps
        lat = await latencies(
            base,
            {
                "mission": (f"/ai/missions/{mission_id}", None),
                "first": (events, {"page[number]": 1, "page[size]": 50}),
                "last": (events, {"page[number]": last_page, "page[size]": 50}),
                "typed first": (events, {"page[number]": 1, "page[size]": 50, "type": "tool_call"}),
                "typed last": (events, {"page[number]": last_typed, "page[size]": 50, "type": "tool_call"}),
                "step first": (events, {"page[number]": 1, "page[size]": 50, "step_id": "s3"}),
                "step last": (events, {"page[number]": last_step, "page[size]": 50, "step_id": "s3"}),
            },
            args.samples,
        )
        unfiltered = statistics.median(lat["first"])

        def cell(name: str, against: str = "") -> str:
            values = lat[name]
            ratio = f" ({statistics.median(values) / unfiltered:.2f}× page 1 unfiltered)" if against else ""
            return f"{statistics.median(values):.2f} / {p(values, 99):.2f} ms{ratio}"

        rows.append((f"GET mission p50 / p99 (baseline), {args.samples} calls each, interleaved", cell("mission")))
        rows.append((f"list_events page 1 of {args.big:,} events, p50 / p99", cell("first")))
        rows.append((f"list_events page {last_page:,} (the last), p50 / p99", cell("last", "ratio")))
        rows.append(("list_events page 1, type filter, p50 / p99", cell("typed first", "ratio")))
        rows.append(
            (f"list_events page {last_typed:,} of the type filter (its last), p50 / p99", cell("typed last", "ratio"))
        )
        rows.append(("list_events page 1, step filter, p50 / p99", cell("step first", "ratio")))
        rows.append(
            (f"list_events page {last_step:,} of the step filter (its last), p50 / p99", cell("step last", "ratio"))
        )
        rows.append(
            (
                f"database bytes per 100,000 events ({args.big:,} seeded in {seeded:.1f} s)",
                f"{size * 100_000 / args.big:,.0f}",
            )
        )
    finally:
        api.terminate()
        api.wait(timeout=10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000, help="events to log over HTTP per measurement")
    parser.add_argument("--big", type=int, default=100_000, help="events in the run that list_events reads")
    parser.add_argument("--samples", type=int, default=300, help="requests per latency measurement")
    parser.add_argument(
        "--compare",
        metavar="SRC",
        help="also measure the API process of the version whose package is in SRC (another checkout's src/), "
        "interleaved with this one",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = asyncio.run(measure(args, Path(tmp)))
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
