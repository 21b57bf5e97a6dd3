"""What a model reads of missions-mcp on every conversation, in bytes, against its budget.

    python bench/bench_surface.py

Lists the tools through ``mcp.Client`` (in process, the real server) and measures each as
``len(json.dumps({"name", "description", "inputSchema"}, separators=(",", ":")))``: all tools, and
the self-reporting core. The baseline in the same run is the same tools with every description
(tool and field) stripped: the ratio is what the words cost over the bare schemas.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client

from missions_mcp.catalogue import BY_NAME
from missions_mcp.config import Settings
from missions_mcp.server import build_server
from missions_mcp.tools import BUDGET_ALL, BUDGET_CORE, model_facing_bytes


def _bare(tool: Any) -> Any:
    """The tool without any description: the floor the words are measured against."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "description" or not isinstance(v, str)}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    bare = copy.copy(tool)
    bare.description = ""
    bare.input_schema = strip(tool.input_schema)
    return bare


async def measure() -> list[tuple[str, int, int, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        missions = build_server(Settings(backend="local", db_path=Path(tmp) / "bench.db"))
        async with Client(missions.server, mode="auto") as client:
            tools = (await client.list_tools()).tools
        await missions.aclose()
    core = [t for t in tools if BY_NAME[t.name].core]
    rows = []
    for label, chosen, budget in (("all tools", tools, BUDGET_ALL), ("self-reporting core", core, BUDGET_CORE)):
        rows.append(
            (
                f"{label} ({len(chosen)})",
                sum(map(model_facing_bytes, chosen)),
                budget,
                sum(model_facing_bytes(_bare(t)) for t in chosen),
            )
        )
    return rows


def main() -> None:
    rows = anyio.run(measure)
    print("| tools | bytes | budget | of budget | bare (no descriptions) | words cost |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, size, budget, bare in rows:
        print(f"| {label} | {size:,} | {budget:,} | {size / budget:.1%} | {bare:,} | x{size / bare:.2f} |")


if __name__ == "__main__":
    main()
