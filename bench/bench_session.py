"""What missions-mcp costs a model and a host, next to the SDK's own floor, in one table.

    python bench/bench_session.py [--calls 1000] [--spawns 15]

1. The standard self-reported session (``standard_session.py``, 20 calls): bytes of the arguments
   and of the results as the model sees them, per call and in total.
2. Tool definitions the model reads on every conversation: the sum over tools of
   ``len(json.dumps({"name", "description", "inputSchema"}, separators=(",", ":")))``, for all tools
   and for the self-reporting core ten.
3. Cold start: spawn → ``initialize`` answered → ``tools/list`` answered, over stdio with raw JSON-RPC,
   median of N spawns, interleaved with the same for the SDK floor (``echo_server.py``: a low-level
   SDK server with one empty tool).
4. ``tools/call`` p50 / p99 / worst over N calls of ``get_mission`` and of ``log_event`` through
   ``mcp.Client`` over stdio, next to the floor's empty tool, on the embedded default and against a
   loopback ``missions-mcp api``; the worst garbage-collection pause inside the server during those
   calls (``gc_probe.py``); the server's peak RSS at the end. The same calls against an upstream that
   answers at once with that API's recorded answers (``instant_upstream.py``) split a call through
   the API into the server's own part and the time the API takes to answer; the CPU time each of
   those two upstream processes spends per call shows what the answer costs the API.

Every figure of missions-mcp is set next to the floor measured in the same run. Traffic stays on
127.0.0.1; databases live in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters

from missions_mcp.catalogue import OPERATIONS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_tools import clean_env, cpu_ms, free_port, start_api, wait_serving
from standard_session import CallBytes, run_session

HERE = Path(__file__).resolve().parent
ECHO = HERE / "echo_server.py"
PROBE = HERE / "gc_probe.py"
INSTANT = HERE / "instant_upstream.py"
CORE = frozenset(op.name for op in OPERATIONS if op.core)
"""The self-reporting core toolset."""
PROTOCOL = "2025-11-25"


# --------------------------------------------------------------------------- bytes


def definition_bytes(tools: list[dict[str, Any]]) -> int:
    """What a model reads of tool definitions: name, description and inputSchema, compact JSON."""
    return sum(
        len(
            json.dumps(
                {"name": t["name"], "description": t.get("description", ""), "inputSchema": t["inputSchema"]},
                separators=(",", ":"),
            )
        )
        for t in tools
    )


async def in_process_session(db: Path) -> tuple[list[CallBytes], list[dict[str, Any]]]:
    """The standard session and tools/list through an in-memory ``mcp.Client`` on the embedded API."""
    from missions_mcp import server as server_module
    from missions_mcp.config import Settings

    missions = server_module.build_server(Settings(backend="local", db_path=db))
    try:
        async with Client(missions.server, mode="legacy") as client:
            listed = await client.list_tools()
            tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]

            async def call(tool: str, arguments: dict[str, Any]) -> tuple[Any, str]:
                result = await client.call_tool(tool, arguments)
                text = "".join(c.text for c in result.content if c.type == "text")
                if result.is_error:
                    raise RuntimeError(f"{tool}: {text}")
                return result.structured_content, text

            return await run_session(call), tools
    finally:
        await missions.aclose()


# --------------------------------------------------------------------------- cold start


def _rpc(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _answer(proc: subprocess.Popen[bytes], request_id: int) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the server closed stdout before answering")
        message: dict[str, Any] = json.loads(line)
        if message.get("id") == request_id:
            if "error" in message:
                raise RuntimeError(f"request {request_id} failed: {message['error']}")
            return message


def cold_start(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Milliseconds from spawning ``command`` to its ``tools/list`` answer, over raw stdio JSON-RPC, and the
    CPU milliseconds the server used until then."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    watchdog = threading.Timer(30, proc.kill)  # a hung server must not hang the benchmark
    watchdog.start()
    try:
        _rpc(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": PROTOCOL,
                    "capabilities": {},
                    "clientInfo": {"name": "bench", "version": "0"},
                },
            },
        )
        _answer(proc, 1)
        _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
        _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
        tools = _answer(proc, 2)["result"]["tools"]
        elapsed = (time.perf_counter() - started) * 1000
        cpu = cpu_ms(proc.pid)
        assert tools, "tools/list answered no tools"
        return elapsed, cpu
    finally:
        watchdog.cancel()
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------- calls


MakeCall = Callable[[int], tuple[str, dict[str, Any]]]


@dataclass
class CallRun:
    latencies: list[float]
    """Milliseconds per call, as the client sees them."""
    gc_pauses: list[tuple[int, float, float]]
    """(generation, wall ms, CPU ms) of every collection in the server during the measured calls."""
    peak_rss_kib: int
    cpu_per_call: float
    """Mean CPU milliseconds the server process used per measured call (``/proc/PID/schedstat``)."""
    upstream_cpu_per_call: float | None = None
    """The same for the HTTP upstream the server called, if any (``missions-mcp api``, the instant one)."""

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def worst_gc(self) -> str:
        if not self.gc_pauses:
            return "none"
        _, wall, cpu = max(self.gc_pauses, key=lambda p: p[1])
        counts = "/".join(str(sum(1 for g, _, _ in self.gc_pauses if g == gen)) for gen in (0, 1, 2))
        return f"{wall:.1f} ms (CPU {cpu:.1f}; gen {counts})"


def _read_probe(report: Path, since: float, until: float) -> tuple[int, list[tuple[int, float, float]]]:
    lines = report.read_text().splitlines()
    pid = int(lines[0])
    pauses = []
    for line in lines[1:]:
        at, generation, wall, cpu = line.split()
        if since <= float(at) <= until:
            pauses.append((int(generation), float(wall), float(cpu)))
    return pid, pauses


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


@dataclass
class Series:
    """One server under the GC probe and the call it is measured with."""

    name: str
    command: list[str]
    env: dict[str, str]
    make_call: MakeCall
    upstream: int | None = None
    """The process id of the HTTP upstream the server calls, whose CPU per call is measured too."""


async def measure_calls(series: list[Series], tmp: Path, calls: int) -> dict[str, CallRun]:
    """``calls`` tool calls through ``mcp.Client`` over stdio to each server, interleaved call by call so
    that a busy moment of the machine falls on every series alike."""
    async with AsyncExitStack() as stack:
        clients = []
        for one in series:
            params = StdioServerParameters(
                command=sys.executable, env=one.env, args=[str(PROBE), str(tmp / f"{one.name}.gc"), *one.command]
            )
            clients.append(await stack.enter_async_context(Client(params, mode="legacy")))
        for i in range(50):  # warm-up: imports on first use, connection pools, caches
            for client, one in zip(clients, series, strict=True):
                await client.call_tool(*one.make_call(i))
        latencies: list[list[float]] = [[] for _ in series]
        upstream_cpu = [0.0 for _ in series]
        pids = [int((tmp / f"{one.name}.gc").read_text().split("\n", 1)[0]) for one in series]
        cpu_before = [cpu_ms(pid) for pid in pids]
        since = time.monotonic()
        for i in range(calls):
            for k, (client, one) in enumerate(zip(clients, series, strict=True)):
                tool, arguments = one.make_call(i)
                # read around each call: an upstream serves two series (a read and a write)
                upstream_before = cpu_ms(one.upstream) if one.upstream else 0.0
                t = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                latencies[k].append((time.perf_counter() - t) * 1000)
                if one.upstream:
                    upstream_cpu[k] += cpu_ms(one.upstream) - upstream_before
                if result.is_error:
                    raise RuntimeError(f"{tool}: {result.content}")
        until = time.monotonic()
        cpu = [(cpu_ms(pid) - before) / calls for pid, before in zip(pids, cpu_before, strict=True)]
        runs = {}
        for k, (one, times, per_call) in enumerate(zip(series, latencies, cpu, strict=True)):
            pid, pauses = _read_probe(tmp / f"{one.name}.gc", since, until)
            upstream = upstream_cpu[k] / calls if one.upstream else None
            runs[one.name] = CallRun(times, pauses, _peak_rss_kib(pid), per_call, upstream)
    return runs


def start_instant_upstream(api_base: str, ref: dict[str, str], tmp: Path, port: int) -> subprocess.Popen[bytes]:
    """``instant_upstream.py`` on ``port``, replaying the API's own answers to the measured calls."""
    get = httpx2.get(f"{api_base}/ai/missions/{ref['mission_id']}", timeout=10)
    post = httpx2.post(
        f"{api_base}/ai/missions/{ref['mission_id']}/runs/{ref['run_id']}/events",
        json={"type": "tool_call", "summary": "recorded", "step_id": "s1"},
        timeout=10,
    )
    get.raise_for_status()
    post.raise_for_status()
    (tmp / "get.json").write_bytes(get.content)
    (tmp / "post.json").write_bytes(post.content)
    proc = subprocess.Popen(
        [sys.executable, str(INSTANT), str(port), str(tmp / "get.json"), str(tmp / "post.json")], env=clean_env()
    )
    return wait_serving(proc, f"http://127.0.0.1:{port}/", "the instant upstream")


async def call_runs(tmp: Path, calls: int) -> dict[str, CallRun]:
    """get_mission and log_event calls on the embedded default, on a loopback API, and on an upstream
    that answers at once with that API's recorded answers; the floor's echo."""
    port = free_port()
    api = start_api(tmp / "api.db", port)
    instant: subprocess.Popen[bytes] | None = None
    try:
        targets = {
            "embedded": (
                ["-m", "missions_mcp", "--log-level", "WARNING"],
                clean_env(MISSIONS_DB=str(tmp / "embedded.db")),
            ),
            "api": (
                ["-m", "missions_mcp", "--base-url", f"http://127.0.0.1:{port}", "--log-level", "WARNING"],
                clean_env(),
            ),
        }
        series = []
        refs = {}
        for name, (command, env) in targets.items():
            refs[name] = await _seed(command, env)
            reads, writes = _series(refs[name])
            upstream = api.pid if name == "api" else None
            series += [
                Series(f"get_mission {name}", command, env, reads, upstream),
                Series(f"log_event {name}", command, env, writes, upstream),
            ]
        instant_port = free_port()
        instant = start_instant_upstream(f"http://127.0.0.1:{port}", refs["api"], tmp, instant_port)
        command = ["-m", "missions_mcp", "--base-url", f"http://127.0.0.1:{instant_port}", "--log-level", "WARNING"]
        reads, writes = _series(refs["api"])  # the ids of the recorded answers
        series += [
            Series("get_mission instant", command, clean_env(), reads, instant.pid),
            Series("log_event instant", command, clean_env(), writes, instant.pid),
        ]
        series.append(
            Series(
                "floor",
                [str(ECHO)],
                clean_env(),
                lambda i: ("echo", {"mission_id": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e"}),
            )
        )
        return await measure_calls(series, tmp, calls)
    finally:
        for proc in (api, instant):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)


def _series(ref: dict[str, str]) -> tuple[MakeCall, MakeCall]:
    """The measured calls: a read of the mission, an event logged on the run."""

    def read(i: int) -> tuple[str, dict[str, Any]]:
        return "get_mission", {"mission_id": ref["mission_id"]}

    def write(i: int) -> tuple[str, dict[str, Any]]:
        return "log_event", {**ref, "type": "tool_call", "summary": f"call {i}", "step_id": "s1"}

    return read, write


async def _seed(command: list[str], env: dict[str, str]) -> dict[str, str]:
    """A mission and a running run to call against."""
    params = StdioServerParameters(command=sys.executable, args=command, env=env)
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(Client(params, mode="legacy"))

        async def call(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                raise RuntimeError(f"{tool}: {result.content}")
            data = result.structured_content or {}
            return data.get("data", data) if isinstance(data, dict) else {}

        mission = await call("create_mission", {"name": "bench"})
        run = await call("start_run", {"mission_id": mission["mission_id"]})
        ids = {"mission_id": mission["mission_id"], "run_id": run["run_id"]}
        await call("update_run", {**ids, "status": "running"})
        await call("create_plan", {**ids, "steps": [{"step_id": "s1", "description": "work", "sequence": 1}]})
        return ids


# --------------------------------------------------------------------------- the table


def table(
    session: list[CallBytes],
    tools: list[dict[str, Any]],
    starts: dict[str, list[tuple[float, float]]],
    runs: dict[str, CallRun],
    calls: int,
) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    args_total = sum(c.arguments for c in session)
    results_total = sum(c.result for c in session)
    for n, c in enumerate(session, start=1):
        rows.append(
            (f"session call {n:2d} `{c.tool}`: arguments / result", f"{c.arguments} / {c.result} B", "", "", "")
        )
    rows.append(
        (
            "**standard session, 20 calls: arguments / results / total**",
            f"**{args_total:,} / {results_total:,} / {args_total + results_total:,} B**",
            "",
            "",
            "",
        )
    )
    core = [t for t in tools if t["name"] in CORE]
    rows.append((f"tool definitions, all {len(tools)} tools", f"{definition_bytes(tools):,} B", "", "", ""))
    rows.append(
        (f"tool definitions, self-reporting core ({len(core)} tools)", f"{definition_bytes(core):,} B", "", "", "")
    )
    for label, which in (("", 0), (", CPU time of the server", 1)):
        median = {name: statistics.median(t[which] for t in times) for name, times in starts.items()}
        rows.append(
            (
                f"spawn → initialize → tools/list answered{label}, median of {len(starts['floor'])}",
                f"{median['embedded']:.0f} ms",
                f"{median['api']:.0f} ms",
                f"{median['floor']:.0f} ms",
                f"{median['embedded'] - median['floor']:+.0f} / {median['api'] - median['floor']:+.0f} ms",
            )
        )
    floor = runs["floor"]
    for tool in ("get_mission", "log_event"):
        local, api = runs[f"{tool} embedded"], runs[f"{tool} api"]
        for label, q in (("p50", 50), ("p99", 99)):
            rows.append(
                (
                    f"tools/call `{tool}` {label}, {calls} calls",
                    f"{local.pct(q):.2f} ms",
                    f"{api.pct(q):.2f} ms",
                    f"{floor.pct(q):.2f} ms",
                    f"{local.pct(q) / floor.pct(q):.2f}× / {api.pct(q) / floor.pct(q):.2f}×",
                )
            )
        instant = runs[f"{tool} instant"]
        rows.append(
            (
                f"tools/call `{tool}` p50, against an upstream that answers at once (the server's own part)",
                "",
                f"{instant.pct(50):.2f} ms",
                f"{floor.pct(50):.2f} ms",
                f"{instant.pct(50) / floor.pct(50):.2f}×",
            )
        )
        answer, at_once = api.upstream_cpu_per_call or 0.0, instant.upstream_cpu_per_call or 0.0
        rows.append(
            (
                f"tools/call `{tool}`: CPU time of the upstream per call, mean: `missions-mcp api` / the upstream "
                "that answers at once (in the floor's column)",
                "(in the server)",
                f"{answer:.2f} ms",
                f"{at_once:.2f} ms",
                f"{answer / at_once:.1f}× the one that answers at once" if at_once else "",
            )
        )
        rows.append(
            (
                f"tools/call `{tool}`: CPU time of the server per call, mean",
                f"{local.cpu_per_call:.2f} ms",
                f"{api.cpu_per_call:.2f} ms",
                f"{floor.cpu_per_call:.2f} ms",
                f"{local.cpu_per_call / floor.cpu_per_call:.2f}× / {api.cpu_per_call / floor.cpu_per_call:.2f}×",
            )
        )
        rows.append(
            (
                f"tools/call `{tool}` worst of {calls}",
                f"{max(local.latencies):.1f} ms",
                f"{max(api.latencies):.1f} ms",
                f"{max(floor.latencies):.1f} ms",
                "",
            )
        )
        rows.append(
            (
                "worst GC pause in the server during those calls (collections per generation 0/1/2)",
                local.worst_gc(),
                api.worst_gc(),
                floor.worst_gc(),
                "",
            )
        )
    peak_local = max(runs["get_mission embedded"].peak_rss_kib, runs["log_event embedded"].peak_rss_kib)
    peak_api = max(runs["get_mission api"].peak_rss_kib, runs["log_event api"].peak_rss_kib)
    rows.append(
        (
            f"peak RSS of the server after {calls + 50} calls",
            f"{peak_local / 1024:.1f} MiB",
            f"{peak_api / 1024:.1f} MiB",
            f"{floor.peak_rss_kib / 1024:.1f} MiB",
            f"{peak_local / floor.peak_rss_kib:.2f}× / {peak_api / floor.peak_rss_kib:.2f}×",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="measured tools/call per series (default 1000)")
    parser.add_argument("--spawns", type=int, default=15, help="cold starts per server (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        session, tools = anyio.run(in_process_session, tmp / "session.db")
        port = free_port()
        api = start_api(tmp / "cold-api.db", port)
        commands = {
            # the default database path, under a temporary data directory
            "embedded": ([sys.executable, "-m", "missions_mcp"], clean_env(XDG_DATA_HOME=str(tmp))),
            "api": ([sys.executable, "-m", "missions_mcp", "--base-url", f"http://127.0.0.1:{port}"], clean_env()),
            "floor": ([sys.executable, str(ECHO)], clean_env()),
        }
        starts: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        try:
            for command, env in commands.values():
                cold_start(command, env)  # once untimed: the OS file cache, .pyc files
            for _ in range(args.spawns):  # interleaved, so a busy moment costs all three alike
                for name, (command, env) in commands.items():
                    starts[name].append(cold_start(command, env))
        finally:
            api.terminate()
            api.wait(timeout=10)
        runs = anyio.run(call_runs, tmp, args.calls)
    rows = table(session, tools, starts, runs, args.calls)
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"`python bench/bench_session.py --calls {args.calls} --spawns {args.spawns}`\n"
    )
    print(
        "| measure | missions-mcp, embedded | missions-mcp → loopback `missions-mcp api` | SDK floor (echo) "
        + "| vs. floor (embedded / api) |"
    )
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
