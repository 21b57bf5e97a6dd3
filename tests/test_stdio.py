"""The real command over stdio: stdout carries only JSON-RPC, and the process exits when stdin closes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from support import clean_env, killed_after

pytestmark = pytest.mark.slow


def _rpc(id_: int, method: str, params: dict | None = None) -> str:
    msg = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return json.dumps(msg) + "\n"


def _run(args: list[str], stdin: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "missions_mcp", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


class StdioSession:
    """The real command as a subprocess, spoken to line by line; stdout is read, stderr collected."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "missions_mcp", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            bufsize=1,
        )
        self.lines: list[str] = []

    def request(self, id_: int, method: str, params: dict | None = None) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(_rpc(id_, method, params))
        self.proc.stdin.flush()
        with killed_after(self.proc, 30):  # a server that never answers ends the read with EOF
            while True:
                line = self.proc.stdout.readline()
                assert line, f"server closed stdout; stderr: {self.proc.stderr.read() if self.proc.stderr else ''}"
                self.lines.append(line)
                message = json.loads(line)
                if message.get("id") == id_:
                    return message

    def notify(self, method: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write(json.dumps({"jsonrpc": "2.0", "method": method}) + "\n")
        self.proc.stdin.flush()

    def close_stdin(self, timeout: float = 10) -> tuple[float, str, str]:
        """Close stdin; the process must exit by itself. Returns (seconds it took, rest of stdout, stderr)."""
        started = time.monotonic()
        try:
            out, err = self.proc.communicate(timeout=timeout)  # closes stdin, then waits
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        return time.monotonic() - started, out, err


def test_stdio_session_prints_only_json_rpc_and_exits_on_eof():
    session = StdioSession(["--remote"], clean_env())
    init = session.request(
        1,
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
    )
    assert init["result"]["serverInfo"]["name"] == "missions-mcp"
    session.notify("notifications/initialized")
    assert len(session.request(2, "tools/list")["result"]["tools"]) == 41
    bad = session.request(3, "tools/call", {"name": "get_run", "arguments": {"mission_id": "x", "run_id": "y"}})
    assert bad["result"]["isError"] is True
    assert "mission_id: must be a UUID" in bad["result"]["content"][0]["text"]
    assert "run_id: must be a UUID" in bad["result"]["content"][0]["text"]
    no_key = session.request(4, "tools/call", {"name": "list_missions", "arguments": {}})
    assert no_key["result"]["isError"] is True and "TELNYX_API_KEY" in no_key["result"]["content"][0]["text"]

    took, rest, stderr = session.close_stdin()
    assert session.proc.returncode == 0, stderr
    assert took < 5, f"the server took {took:.1f} s to exit after stdin closed"
    for line in session.lines + rest.splitlines():
        if line.strip():
            assert json.loads(line)["jsonrpc"] == "2.0"  # every stdout line is JSON-RPC
    assert "Missions API at https://api.telnyx.com/v2" in stderr  # it says which backend, on stderr


def test_unknown_tool_filter_stops_the_server_at_start():
    done = _run(["--toolsets", "missions,nope"], "", clean_env())
    assert done.returncode == 2
    assert "unknown toolset(s): nope" in done.stderr and "mcp_servers" in done.stderr
    assert done.stdout == ""
