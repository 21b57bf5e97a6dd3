"""Sizes of what the model reads: each view of a big run, and ``tools/list`` per filter.

Run by hand: ``python bench/bench_views.py``. Builds a run with 20 steps (4 with 3 sub-steps each)
and 500 events in a throw-away embedded database, reads every view through ``mcp.Client``, and
prints two Markdown tables: bytes per view, and model-facing ``tools/list`` bytes (name +
description + compact JSON of ``inputSchema``) per toolset, for ``--read-only`` and for all tools.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from missions_mcp.catalogue import BY_NAME, TOOLSETS
from missions_mcp.config import Settings
from missions_mcp.server import MissionsServer, build_server

STEPS, EVENTS = 20, 500


async def _api(missions: MissionsServer, tool: str, **arguments: object) -> dict:
    return (await missions.client.call(BY_NAME[tool], arguments)).data


async def _big_run(missions: MissionsServer) -> tuple[str, str]:
    mid = (await _api(missions, "create_mission", name="Benchmark"))["data"]["mission_id"]
    rid = (await _api(missions, "start_run", mission_id=mid))["data"]["run_id"]
    ids = {"mission_id": mid, "run_id": rid}
    await _api(missions, "update_run", **ids, status="running")
    steps = []
    for i in range(1, STEPS - 11):  # 8 top-level steps…
        steps.append(
            {"step_id": f"s{i}", "description": f"Top-level step {i}: do the part {i} of the work", "sequence": i}
        )
    for i in range(1, 5):  # …4 of them with 3 sub-steps: 20 steps
        for j in range(1, 4):
            steps.append(
                {
                    "step_id": f"s{i}.{j}",
                    "description": f"Sub-step {j} of step {i}",
                    "sequence": j,
                    "parent_step_id": f"s{i}",
                }
            )
    await _api(missions, "create_plan", **ids, steps=steps)
    for step in steps[:10]:
        await _api(missions, "update_plan_step", **ids, step_id=step["step_id"], status="in_progress")
        await _api(missions, "update_plan_step", **ids, step_id=step["step_id"], status="completed")
    kinds = ("tool_call", "tool_result", "message")
    for n in range(EVENTS - 1):  # the status change to running is the first event
        await _api(
            missions,
            "log_event",
            **ids,
            type=kinds[n % 3],
            summary=f"Event {n}: grep for the pattern in src/",
            step_id=f"s{n % 8 + 1}",
            agent_id="bench",
            payload={"n": n, "path": "src/missions_mcp/views.py"},
        )
    return mid, rid


def _tools_bytes(tools: list) -> int:
    return sum(
        len(t.name) + len(t.description or "") + len(json.dumps(t.input_schema, separators=(",", ":"))) for t in tools
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        missions = build_server(Settings(backend="local", db_path=Path(tmp) / "bench.db"))
        started = time.monotonic()
        mid, rid = await _big_run(missions)
        built = time.monotonic() - started
        base = f"missions://missions/{mid}/runs/{rid}"
        uris = {
            "mission": f"missions://missions/{mid}",
            "run": base,
            "plan": f"{base}/plan",
            "plan.json": f"{base}/plan.json",
            "events (newest 50)": f"{base}/events",
            "events?page=1": f"{base}/events?page=1",
            "runs/recent": "missions://runs/recent",
            "events/recent": "missions://events/recent",
        }
        rows = []
        async with Client(missions.server, mode="auto") as client:
            for name, uri in uris.items():
                t0 = time.monotonic()
                text = (await client.read_resource(uri)).contents[0].text
                rows.append((name, len(text.encode()), len(text.splitlines()), (time.monotonic() - t0) * 1000))
        await missions.aclose()

        print(f"Views of a run with {STEPS} steps and {EVENTS} events (built in {built:.1f} s)\n")
        print("| view | bytes | lines | read ms |\n|---|---:|---:|---:|")
        for name, size, lines, ms in rows:
            print(f"| `{name}` | {size:,} | {lines} | {ms:.0f} |")

        print("\nModel-facing tools/list bytes (name + description + compact inputSchema)\n")
        print("| filter | tools | bytes |\n|---|---:|---:|")
        filters = [(f"--toolsets {t}", {"toolsets": (t,)}) for t in TOOLSETS]
        filters += [("--read-only", {"read_only": True}), ("all tools (default)", {})]
        for label, flt in filters:
            server = MissionsServer(Settings(backend="local", db_path=Path(tmp) / "unused.db", **flt))
            async with Client(server.server, mode="auto") as client:
                tools = (await client.list_tools()).tools
            print(f"| {label} | {len(tools)} | {_tools_bytes(tools):,} |")


if __name__ == "__main__":
    anyio.run(main)
    sys.exit(0)
