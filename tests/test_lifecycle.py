"""Stopping: SIGTERM or SIGINT with a call in flight, stdin closing on stdio — always exit 0, nothing left behind.

A call is held in flight by a real ``missions-mcp api`` that is stopped (SIGSTOP) while it holds the
request: the MCP server's request sits in its socket until the API is continued (SIGCONT).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client

from missions_mcp.serving import SHUTDOWN_GRACE

from httpserve import Served, serving
from support import clean_env

pytestmark = [pytest.mark.slow, pytest.mark.anyio]


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


async def _wait_exit(served: Served, limit: float) -> tuple[int, float]:
    started = time.monotonic()
    while served.proc.poll() is None:
        assert time.monotonic() - started < limit, f"still running {limit} s after the signal"
        await anyio.sleep(0.05)
    return served.proc.returncode, time.monotonic() - started


async def _call_in_flight(api: Served, mcp: Served, mission_id: str, sig: int, *, resume_after: float | None):
    """Starts ``get_mission`` while the API is stopped, sends ``sig`` to the MCP server, optionally continues
    the API after ``resume_after`` s; returns (the call's outcome, exit code, seconds from signal to exit)."""
    outcome: dict[str, object] = {}
    sent = anyio.Event()

    async def call() -> None:
        try:
            async with Client(mcp.base + "/mcp", mode="legacy") as client:
                await client.list_tools()
                os.kill(api.proc.pid, signal.SIGSTOP)
                sent.set()
                result = await client.call_tool("get_mission", {"mission_id": mission_id})
                outcome["result"] = result
        except Exception as exc:  # the client sees the server go away: that is the outcome
            outcome["error"] = exc
            sent.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            await sent.wait()
            await anyio.sleep(0.5)  # the request is on its way to the stopped API
            assert _children(mcp.proc.pid) == [], "the server starts no processes"
            os.kill(mcp.proc.pid, sig)
            if resume_after is not None:
                await anyio.sleep(resume_after)
                os.kill(api.proc.pid, signal.SIGCONT)
            code, took = await _wait_exit(mcp, SHUTDOWN_GRACE + 15)
    finally:
        os.kill(api.proc.pid, signal.SIGCONT)
    return outcome, code, took


@pytest.fixture
def api(tmp_path):
    with serving(["--db", str(tmp_path / "api.db")], api=True) as served:
        yield served


def _mission(api: Served) -> str:
    return httpx2.post(api.base + "/ai/missions", json={"name": "in flight"}, timeout=10).json()["data"]["mission_id"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_call_in_flight_finishes_then_the_server_exits_0(api, sig):
    mission_id = _mission(api)
    with serving(["--transport", "streamable-http", "--base-url", api.base]) as mcp:
        outcome, code, took = await _call_in_flight(api, mcp, mission_id, sig, resume_after=1.0)
        assert code == 0
        result = outcome.get("result")
        assert result is not None and not result.is_error, outcome
        assert result.structured_content["data"]["mission_id"] == mission_id
        assert took < SHUTDOWN_GRACE, "done as soon as the call is: the open notification stream does not hold it"
        mcp.stop()
        assert b"Traceback" not in mcp.output[1]


async def test_a_call_that_never_ends_is_cancelled_after_the_grace(api):
    mission_id = _mission(api)
    with serving(["--transport", "streamable-http", "--base-url", api.base]) as mcp:
        outcome, code, took = await _call_in_flight(api, mcp, mission_id, signal.SIGTERM, resume_after=None)
        assert code == 0
        assert "result" not in outcome or outcome["result"].is_error
        assert SHUTDOWN_GRACE - 1 < took < SHUTDOWN_GRACE + 10


async def test_the_database_is_closed_on_sigterm(tmp_path):
    db = tmp_path / "m.db"
    with serving(["--transport", "streamable-http", "--db", str(db)]) as mcp:
        async with Client(mcp.base + "/mcp") as client:
            made = await client.call_tool("create_mission", {"name": "kept"})
            assert not made.is_error
            assert await anyio.Path(f"{db}-wal").exists()
        assert mcp.stop() == 0
    # SQLite removes the write-ahead log when the last connection closes cleanly.
    assert not await anyio.Path(f"{db}-wal").exists()
    with serving(["--transport", "streamable-http", "--db", str(db)]) as again:
        async with Client(again.base + "/mcp") as client:
            listed = await client.call_tool("list_missions", {})
            assert [m["name"] for m in listed.structured_content["data"]] == ["kept"]


def _stdio(db: Path) -> subprocess.Popen[bytes]:
    # Unbuffered: select() on the pipe must see every line that has not been read yet.
    return subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", "--db", str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        bufsize=0,
    )


def _send(proc: subprocess.Popen[bytes], message: dict) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def _handshake(proc: subprocess.Popen[bytes]) -> None:
    _send(
        proc,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
    )
    _send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})


def _read_answer(proc: subprocess.Popen[bytes], timeout: float = 30) -> dict:
    """The next line on stdout, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no answer within {timeout} s"
    return json.loads(proc.stdout.readline())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stdio_exits_0_on_a_signal_with_a_call_in_flight(api, tmp_path, sig):
    mission_id = _mission(api)
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", "--base-url", api.base],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
        bufsize=0,
    )
    try:
        _handshake(proc)
        assert _read_answer(proc)["id"] == 1  # serving: the signal handlers are in place
        os.kill(api.proc.pid, signal.SIGSTOP)
        _send(
            proc,
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "get_mission", "arguments": {"mission_id": mission_id}},
            },
        )
        time.sleep(1.0)  # the call is waiting on the stopped API
        assert proc.poll() is None
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=SHUTDOWN_GRACE + 15)
    finally:
        os.kill(api.proc.pid, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"Traceback" not in err


def test_stdio_exits_0_when_stdin_closes(tmp_path):
    proc = _stdio(tmp_path / "m.db")
    _handshake(proc)
    _send(
        proc,
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "create_mission", "arguments": {"name": "before closing"}},
        },
    )
    answers = [_read_answer(proc) for _ in range(2)]  # initialize, the call
    assert answers[-1]["id"] == 2 and not answers[-1]["result"].get("isError"), answers
    _, err = proc.communicate(timeout=30)  # closes stdin
    assert proc.returncode == 0, err.decode()[-2000:]
    assert not Path(f"{tmp_path / 'm.db'}-wal").exists(), "the database was closed"


def test_api_exits_0_on_sigterm_and_closes_its_database(tmp_path):
    db = tmp_path / "api.db"
    with serving(["--db", str(db)], api=True) as api:
        assert httpx2.post(api.base + "/ai/missions", json={"name": "x"}, timeout=10).status_code == 201
        assert api.stop() == 0
    assert not Path(f"{db}-wal").exists()
