"""Tool surface and call overhead of missions-mcp, measured.

    python bench/bench_tools.py [--calls 500]

1. ``tools/list``: bytes of the whole JSON-RPC answer, and the model-facing bytes (the sum of
   ``name`` + ``description`` + compact ``inputSchema`` JSON per tool).
2. A ``tools/call`` round trip over stdio (the real ``missions-mcp`` command as a subprocess, driven
   by ``mcp.Client``) against a loopback HTTP upstream (``missions-mcp api`` on 127.0.0.1), median
   over N calls, next to two baselines in the same run: a direct httpx2 call of the same endpoint, and
   the SDK's own floor, an empty ``echo`` tool over stdio (``echo_server.py``).

Prints a markdown table. Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
import httpx2
from mcp import Client, StdioServerParameters

from missions_mcp.catalogue import OPERATIONS, TOOLSETS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ms(pid: int) -> float:
    """CPU time a process has run so far (``/proc/PID/schedstat``, nanoseconds): unlike the wall clock, it
    does not count time the process waited for a core, so it holds on a busy machine."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e6


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the server's own settings (``TELNYX_*``, ``MISSIONS_*``), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "MISSIONS_"))}
    return {**env, **extra}


def wait_serving(proc: subprocess.Popen[bytes], url: str, what: str, timeout: float = 30) -> subprocess.Popen[bytes]:
    """``proc`` once ``url`` answers anything; killed, with an error naming ``what``, if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx2.get(url, timeout=1)
            return proc
        except httpx2.TransportError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{what} did not start")


def start_api(db: Path | str, port: int, pythonpath: str | None = None) -> subprocess.Popen[bytes]:
    """``missions-mcp api`` on 127.0.0.1:``port`` over ``db``, once it answers; with ``pythonpath``,
    the version of the package found there (another checkout's ``src``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", "api", "--port", str(port), "--db", str(db), "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(**({"PYTHONPATH": pythonpath} if pythonpath else {})),
    )
    return wait_serving(proc, f"http://127.0.0.1:{port}/ai/missions", "missions-mcp api")


def start_bare(port: int) -> subprocess.Popen[bytes]:
    """``bare_asgi.py`` (uvicorn alone, answering a fixed body) on 127.0.0.1:``port``, once it answers."""
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "bare_asgi.py"), str(port)], env=clean_env())
    return wait_serving(proc, f"http://127.0.0.1:{port}/", "bench/bare_asgi.py")


def model_facing(tools: list[dict]) -> int:
    return sum(
        len(t["name"]) + len(t.get("description", "")) + len(json.dumps(t["inputSchema"], separators=(",", ":")))
        for t in tools
    )


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def measure(port: int, calls: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    base = f"http://127.0.0.1:{port}"
    async with httpx2.AsyncClient(base_url=base) as http:
        created = (await http.post("/ai/missions", json={"name": "bench"})).json()["data"]
        mission_id = created["mission_id"]
        path = f"/ai/missions/{mission_id}"
        direct: list[float] = []
        for _ in range(calls):
            t = time.perf_counter()
            r = await http.get(path)
            direct.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "MISSIONS_"))}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "missions_mcp", "--base-url", base, "--log-level", "WARNING"], env=env
    )
    async with Client(params, mode="legacy") as client:
        listed = await client.list_tools()
        tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
        whole = len(listed.model_dump_json(by_alias=True, exclude_none=True))
        via_mcp: list[float] = []
        for _ in range(calls):
            t = time.perf_counter()
            result = await client.call_tool("get_mission", {"mission_id": mission_id})
            via_mcp.append((time.perf_counter() - t) * 1000)
            assert not result.is_error, result.content

    echo = StdioServerParameters(
        command=sys.executable, args=[str(Path(__file__).with_name("echo_server.py"))], env=env
    )
    async with Client(echo, mode="legacy") as client:
        floor: list[float] = []
        for _ in range(calls):
            t = time.perf_counter()
            await client.call_tool("echo", {"mission_id": mission_id})
            floor.append((time.perf_counter() - t) * 1000)

    rows.append(("tools/list: tools", str(len(tools))))
    rows.append(("tools/list: whole answer, bytes", f"{whole:,}"))
    rows.append(("tools/list: model-facing bytes (41 tools)", f"{model_facing(tools):,}"))
    for toolset in TOOLSETS:
        names = {op.name for op in OPERATIONS if op.toolset == toolset}
        rows.append(
            (f"  model-facing bytes, toolset {toolset}", f"{model_facing([t for t in tools if t['name'] in names]):,}")
        )
    rows.append((f"direct httpx2 GET, median of {calls} (baseline)", f"{statistics.median(direct):.3f} ms"))
    rows.append((f"tools/call get_mission over stdio, median of {calls}", f"{statistics.median(via_mcp):.3f} ms"))
    rows.append(("tools/call p90", f"{pct(via_mcp, 90):.3f} ms"))
    rows.append(("tools/call median / direct median", f"{statistics.median(via_mcp) / statistics.median(direct):.2f}×"))
    rows.append(("overhead of MCP + stdio, median", f"{statistics.median(via_mcp) - statistics.median(direct):.3f} ms"))
    rows.append((f"SDK floor: empty echo tool over stdio, median of {calls}", f"{statistics.median(floor):.3f} ms"))
    rows.append(
        (
            "missions-mcp's own share (overhead − SDK floor)",
            f"{statistics.median(via_mcp) - statistics.median(direct) - statistics.median(floor):.3f} ms",
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        api = start_api(Path(tmp) / "bench.db", port)
        try:
            rows = anyio.run(measure, port, args.calls)
        finally:
            api.terminate()
            api.wait(timeout=10)
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
