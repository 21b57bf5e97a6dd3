"""Drift guards: every tool definition, and the README's tool list, against files in the repository.

Regenerate both after an intended change with ``UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py``.
"""

from __future__ import annotations

import json

import pytest

from missions_mcp.catalogue import tool_list_markdown
from missions_mcp.config import Settings
from missions_mcp.server import MissionsServer

from support import ROOT, UPDATE, Client

SNAPSHOT = ROOT / "tests" / "snapshots" / "tools.json"
README = ROOT / "README.md"
START, END = "<!-- tools:start -->", "<!-- tools:end -->"


@pytest.mark.anyio
async def test_tool_definitions_match_snapshot():
    server = MissionsServer(Settings(backend="remote", api_key="unused"))
    async with Client(server.server, mode="legacy") as client:
        listed = await client.list_tools()
    current = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed.tools]
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if UPDATE:
        SNAPSHOT.write_text(text)
    assert SNAPSHOT.exists(), (
        "tests/snapshots/tools.json is missing; write it with UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py"
    )
    assert json.loads(SNAPSHOT.read_text()) == current, (
        "tool definitions drifted from tests/snapshots/tools.json; if intended: UPDATE_SNAPSHOTS=1 pytest "
        "tests/test_snapshots.py"
    )


def test_readme_tool_list_is_generated_from_the_catalogue():
    text = README.read_text()
    assert START in text and END in text, "README.md must hold the generated tool list between tool markers"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    expected = f"{START}\n{tool_list_markdown()}{END}"
    if UPDATE:
        README.write_text(head + expected + tail)
        text = README.read_text()
    assert expected in text, "README tool list drifted; regenerate: UPDATE_SNAPSHOTS=1 pytest tests/test_snapshots.py"
