"""Every line a client sends on stdio gets an answer, even the lines the SDK cannot parse.

In process: the SDK's own ``stdio_server`` over in-memory text files, the real server behind the
answering read stream. Under ``slow``: the real command as a subprocess.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from mcp.server.stdio import stdio_server

from missions_mcp.config import Settings
from missions_mcp.server import build_server
from missions_mcp.stdio import AnsweringReadStream

from support import clean_env

INIT = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}

HOSTILE = {
    "truncated-json": ('{"jsonrpc": "2.0", "id": 1, "method": ', -32700),
    "not-json": ("hello", -32700),
    "lone-surrogate": ('{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":"\\ud800"}}', -32700),
    "nesting-250": ('{"jsonrpc":"2.0","id":3,"method":"ping","params":{"x":' + "[" * 250 + "]" * 250 + "}}", -32700),
    "integer-5000-digits": ('{"jsonrpc":"2.0","id":4,"method":"ping","params":{"x":' + "9" * 5000 + "}}", -32700),
    "no-jsonrpc": ('{"id":5,"method":"ping"}', -32600),
    "wrong-jsonrpc": ('{"jsonrpc":"1.0","id":5,"method":"ping"}', -32600),
    "batch": ('[{"jsonrpc":"2.0","id":6,"method":"ping"}]', -32600),
    "empty-batch": ("[]", -32600),
    "number": ("5", -32600),
    "string": ('"ping"', -32600),
    "null": ("null", -32600),
    "method-not-string": ('{"jsonrpc":"2.0","id":7,"method":5}', -32600),
    "neither-request-nor-response": ('{"jsonrpc":"2.0","id":8}', -32600),
    "id-fraction": ('{"jsonrpc":"2.0","id":1.5,"method":"ping"}', -32600),
    "id-boolean": ('{"jsonrpc":"2.0","id":true,"method":"tools/list"}', -32600),
    "id-object": ('{"jsonrpc":"2.0","id":{"n":1},"method":"tools/call","params":{"name":"list_missions"}}', -32600),
    "request-without-id": ('{"jsonrpc":"2.0","method":"tools/list"}', -32600),
}


class _Wire:
    """stdin and stdout of the SDK's transport in memory: stdin stays open until every answer is out
    (the SDK cancels requests still in flight at end of input)."""

    def __init__(self, lines: list[str], answers: int):
        self.lines, self.expected = lines, answers
        self.out: list[dict[str, Any]] = []
        self.done = anyio.Event()

    async def stdin(self) -> AsyncIterator[str]:
        for line in self.lines:
            yield line + "\n"
        await self.done.wait()

    async def write(self, text: str) -> None:
        self.out.extend(json.loads(line) for line in text.splitlines())
        if len(self.out) >= self.expected:
            self.done.set()

    async def flush(self) -> None:
        pass


async def _exchange(lines: list[str], answers: int, tmp_path: Any) -> list[dict[str, Any]]:
    """Send ``lines`` through the SDK's stdio transport to the real server; return the first ``answers``."""
    wire = _Wire(lines, answers)
    missions = build_server(Settings(backend="local", db_path=tmp_path / "m.db"))
    with anyio.fail_after(20):
        async with stdio_server(stdin=wire.stdin(), stdout=wire) as (read, write):  # type: ignore[arg-type]
            await missions.server.run(
                AnsweringReadStream(read, write), write, missions.server.create_initialization_options()
            )
    await missions.aclose()
    return wire.out


@pytest.mark.anyio
@pytest.mark.parametrize("line, code", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_a_line_the_sdk_drops_gets_a_json_rpc_error_with_id_null(line, code, tmp_path):
    ping = {"jsonrpc": "2.0", "id": "after", "method": "ping"}
    answers = await _exchange([json.dumps(INIT), line, json.dumps(ping)], 3, tmp_path)
    by_id = {a.get("id"): a for a in answers}  # answers may overtake each other
    assert sorted(by_id, key=str) == sorted(["init", None, "after"], key=str), answers
    error = by_id[None]
    assert error["jsonrpc"] == "2.0" and "id" in error and set(error) == {"jsonrpc", "id", "error"}
    assert error["error"]["code"] == code
    assert error["error"]["message"].startswith("Parse error" if code == -32700 else "Invalid Request")
    assert by_id["after"]["result"] == {}  # the session carries on


@pytest.mark.anyio
async def test_blank_lines_are_skipped_and_good_messages_answered_in_order(tmp_path):
    pings = (json.dumps({"jsonrpc": "2.0", "id": i, "method": "ping"}) for i in range(3))
    lines = [json.dumps(INIT), "", "   ", *pings]
    answers = await _exchange(lines, 4, tmp_path)
    assert sorted(str(a["id"]) for a in answers) == ["0", "1", "2", "init"]
    assert all("result" in a for a in answers)


@pytest.mark.anyio
async def test_every_hostile_line_in_one_session_gets_one_answer(tmp_path):
    answers = await _exchange([json.dumps(INIT), *(line for line, _ in HOSTILE.values())], 1 + len(HOSTILE), tmp_path)
    errors = [a for a in answers if a["id"] is None]
    assert sorted(a["error"]["code"] for a in errors) == sorted(code for _, code in HOSTILE.values())


@pytest.mark.slow
def test_the_real_command_answers_every_hostile_line_on_stdout():
    lines = [
        json.dumps(INIT),
        *(line for line, _ in HOSTILE.values()),
        json.dumps({"jsonrpc": "2.0", "id": "last", "method": "ping"}),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", "--remote"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert proc.stdin and proc.stdout
        proc.stdin.write("".join(line + "\n" for line in lines))
        proc.stdin.flush()
        lines_out: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines_out.put(x) for x in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        answers = [json.loads(lines_out.get(timeout=20)) for _ in lines]  # bounded: no test may hang
    finally:
        err = proc.communicate(timeout=10)[1]
    errors = [a for a in answers if a["id"] is None]
    assert sorted(a["error"]["code"] for a in errors) == sorted(code for _, code in HOSTILE.values())
    assert {"jsonrpc": "2.0", "id": "last", "result": {}} in answers
    assert any(a["id"] == "init" and "result" in a for a in answers)
    assert lines_out.empty() and proc.returncode == 0, err
