"""The page at size: server time of each page, a change reaching an open page, idle pages' CPU.

    python bench/bench_ui.py [--steps 2000] [--events 100000] [--runs 500] [--repeat 20] [--idle 50]

Builds a throw-away embedded database (a run of ``--steps`` plan steps, nested, and ``--events``
events; ``--runs`` more runs for the lists), then prints three tables:

1. server time of each page, read in process through the page's ASGI app (no network), next to
   the embedded API's own ``list_events`` for the same newest page of 50 events (the baseline,
   also read in process) and their ratio;
2. change → page: a ``missions-mcp ui`` process serves the run page; this process commits an event
   to the same SQLite file (as an agent's MCP server would) and times until the page's event
   stream delivers the update, against the ``PRAGMA data_version`` check interval;
3. idle CPU of that process over ``--seconds`` with ``--idle`` open live pages, next to no page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from missions_mcp.catalogue import BY_NAME
from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.local import missions, plans, runs
from missions_mcp.local.sqlite import SQLiteStore
from missions_mcp.local.store import tenant_hash
from missions_mcp.ui.app import UI, create_app
from missions_mcp.ui.feed import DATA_VERSION_INTERVAL, DataVersionFeed
from missions_mcp.ui.reads import Reader

KEY = tenant_hash(None)


def seed(db: Path, steps: int, events: int, more_runs: int) -> tuple[str, str]:
    """One mission; a running run with a nested plan of ``steps`` and ``events`` events; more runs."""
    store = SQLiteStore(db)
    mission_id = missions.create_mission(store, KEY, {"name": "Benchmark: a long run"})["data"]["mission_id"]
    for i in range(more_runs):
        other = runs.create_run(store, KEY, mission_id, {})["data"]["run_id"]
        if i % 3 == 0:
            runs.update_run(store, KEY, mission_id, other, {"status": "running"})
    run_id = runs.create_run(store, KEY, mission_id, {})["data"]["run_id"]
    runs.update_run(store, KEY, mission_id, run_id, {"status": "running"})
    top = max(steps // 10, 1)
    plan = []
    for i in range(top):
        plan.append({"step_id": f"s{i}", "description": f"Top-level step {i}: do part {i} of the work", "sequence": i})
        for j in range(steps // top - 1):
            plan.append(
                {
                    "step_id": f"s{i}.{j}",
                    "parent_step_id": f"s{i}",
                    "sequence": j,
                    "description": f"Sub-step {j} of step {i}: one piece of that part",
                }
            )
    plans.create_plan(store, KEY, mission_id, run_id, plan)
    with store.atomic(KEY) as tx:  # half the plan done, one failed step, one in progress
        tx.execute(
            "UPDATE plan_steps SET status = 'completed', started_at = ?, completed_at = ? WHERE seq % 2 = 0",
            ("2026-01-01T10:00:00Z", "2026-01-01T10:00:41Z"),
        )
        tx.execute("UPDATE plan_steps SET status = 'failed' WHERE step_id = 's3.1'")
        tx.execute(
            "UPDATE plan_steps SET status = 'in_progress', started_at = ? WHERE step_id = 's7'",
            ("2026-01-01T11:00:00Z",),
        )
    done = 0
    while done < events:
        with store.atomic(KEY) as tx:
            run = runs.find_run(tx, mission_id, run_id, lock=True)
            for i in range(done, min(done + 10_000, events)):
                runs._insert_event(
                    tx,
                    run,
                    "tool_call" if i % 2 == 0 else "tool_result",
                    f"event {i}",
                    step_id=f"s{i % top}",
                    agent_id="bench",
                    payload=f'{{"n":{i}}}',
                )
        done = min(done + 10_000, events)
    store.close()
    return mission_id, run_id


def stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(int(len(ordered) * 0.95), len(ordered) - 1)]


async def _timed(action, repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat + 2):  # two warm-up reads
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return stats(samples[2:])


Row = tuple[str, float, float, float | None]


async def page_times(db: Path, mission_id: str, run_id: str, repeat: int) -> list[Row]:
    """Rows of (page, median, p95, median of the API's list_events for the same window of events)."""
    client = MissionsClient(Settings(backend="local", db_path=db))
    app = create_app(UI(Reader(client), DataVersionFeed(db), backend="bench"))
    out: list[Row] = []
    run_path = f"/missions/{mission_id}/runs/{run_id}"
    ids = {"mission_id": mission_id, "run_id": run_id}
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        total = (await client.call(BY_NAME["list_events"], {**ids, "page_size": 1})).data["meta"]["total_results"]
        pages: list[tuple[str, str, dict[str, object] | None]] = [
            ("run page, newest 50 events", "", {"page": max(total // 50, 1)}),
            ("run page, type=tool_call", "?type=tool_call", {"type": "tool_call", "page": max(total // 100, 1)}),
            ("run page, step=s3", "?step=s3", {"step_id": "s3", "page": max(total // 200 // 50, 1)}),
            ("run page, an older window", f"?upto={total // 2}", {"page": max(total // 100, 1)}),
            ("runs list (25 of 501)", "/runs", None),
            ("runs list, status=running", "/runs?status=running", None),
            ("missions", "/", None),
        ]
        for label, query, api_query in pages:
            path = query if query.startswith("/") else run_path + query

            async def page(path: str = path) -> None:
                response = await http.get(path)
                assert response.status_code == 200, (path, response.status_code)

            median, p95 = await _timed(page, repeat)
            api = None
            if api_query is not None:

                async def events(q: dict[str, object] = api_query) -> None:
                    await client.call(BY_NAME["list_events"], {**ids, **q, "page_size": 50})

                api, _ = await _timed(events, repeat)
            out.append((label, median, p95, api))

        async def plan() -> None:
            await client.call(BY_NAME["get_plan"], ids)

        median, p95 = await _timed(plan, repeat)
        out.append(("(reference: the API's get_plan of the run, 2,000 steps)", median, p95, None))
    await client.aclose()
    return out


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def live_figures(
    proc: subprocess.Popen[bytes],
    port: int,
    db: Path,
    mission_id: str,
    run_id: str,
    repeat: int,
    idle: int,
    seconds: float,
) -> tuple[list[float], float, float]:
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx2.AsyncClient(base_url=base, timeout=30) as http:
            for _ in range(200):
                try:
                    await http.get("/runs?page=999999")
                    break
                except httpx2.TransportError:
                    await anyio.sleep(0.05)
            latencies = await _change_to_page(http, db, mission_id, run_id, repeat)
            quiet = await _idle_cpu(proc.pid, http, 0, mission_id, run_id, seconds)
            busy = await _idle_cpu(proc.pid, http, idle, mission_id, run_id, seconds)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            print("missions-mcp ui did not stop within 30 s of SIGTERM: killed", file=sys.stderr)
            proc.kill()
            proc.wait()
    return latencies, quiet, busy


async def _change_to_page(http: httpx2.AsyncClient, db: Path, mission_id: str, run_id: str, repeat: int) -> list[float]:
    store = SQLiteStore(db)
    out: list[float] = []
    path = f"/live/missions/{mission_id}/runs/{run_id}"
    async with http.stream("GET", path) as stream:
        lines = stream.aiter_lines()

        async def next_update() -> None:
            async for line in lines:
                if line == "event: update":
                    return

        await next_update()  # the page as it is
        for i in range(repeat):
            await anyio.sleep(0.37)  # land anywhere in the check interval
            started = time.perf_counter()
            runs.log_event(store, KEY, mission_id, run_id, {"type": "message", "summary": f"change {i}"})
            await next_update()
            out.append(time.perf_counter() - started)
    store.close()
    return out


async def _idle_cpu(
    pid: int, http: httpx2.AsyncClient, pages: int, mission_id: str, run_id: str, seconds: float
) -> float:
    """CPU seconds per second of the ui process while ``pages`` live run pages are open and nothing changes."""
    opened = anyio.Event()
    count = 0

    async def page(stop: anyio.Event) -> None:
        nonlocal count
        async with http.stream("GET", f"/live/missions/{mission_id}/runs/{run_id}") as stream:
            async for line in stream.aiter_lines():
                if line == "event: update":
                    count += 1
                    if count == pages:
                        opened.set()
                    break
            await stop.wait()

    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        for _ in range(pages):
            tg.start_soon(page, stop)
        if pages:
            await opened.wait()
        await anyio.sleep(1.0)
        before = _cpu_seconds(pid)
        await anyio.sleep(seconds)
        used = _cpu_seconds(pid) - before
        stop.set()
        tg.cancel_scope.cancel()
    return used / seconds


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=500, help="further runs, for the runs list")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--idle", type=int, default=50, help="open live pages for the idle CPU figure")
    parser.add_argument("--seconds", type=float, default=10.0, help="idle measurement length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        started = time.perf_counter()
        mission_id, run_id = seed(db, args.steps, args.events, args.runs)
        print(
            f"seeded {args.steps} steps, {args.events:,} events, {args.runs + 1} runs in "
            f"{time.perf_counter() - started:.1f} s\n"
        )
        rows = anyio.run(page_times, db, mission_id, run_id, args.repeat)
        print(f"## Server time per page (in process, {args.repeat} reads each)\n")
        print("| page | median ms | p95 ms | API list_events, same events (baseline) ms | ratio |")
        print("|---|---:|---:|---:|---:|")
        for label, median, p95, api in rows:
            base = f"{api * 1000:.1f} | {median / api:.1f}" if api else "— | —"
            print(f"| {label} | {median * 1000:.1f} | {p95 * 1000:.1f} | {base} |")
        port = _free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "missions_mcp",
                "ui",
                "--db",
                str(db),
                "--port",
                str(port),
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        latencies, quiet, busy = anyio.run(
            live_figures, proc, port, db, mission_id, run_id, args.repeat, args.idle, args.seconds
        )
        median, p95 = stats(latencies)
        print(f"\n## Change → open page ({len(latencies)} commits by another connection)\n")
        print("| figure | ms |")
        print("|---|---:|")
        print(f"| data_version check interval (baseline) | {DATA_VERSION_INTERVAL * 1000:.0f} |")
        print(f"| median | {median * 1000:.0f} |")
        print(f"| p95 | {p95 * 1000:.0f} |")
        print(f"| max | {max(latencies) * 1000:.0f} |")
        print(f"\n## Idle CPU of `missions-mcp ui` over {args.seconds:g} s\n")
        print("| open live pages | CPU % of one core |")
        print("|---:|---:|")
        print(f"| 0 (baseline) | {quiet * 100:.2f} |")
        print(f"| {args.idle} | {busy * 100:.2f} |")


if __name__ == "__main__":
    main()
