"""A person's first minute in a terminal: bare ``missions-mcp`` says what it waits for, and
``missions-mcp api --help`` what it does and its defaults."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from missions_mcp.cli import build_parser
from missions_mcp.local import default_db_path

from support import clean_env, killed_after


def test_api_help_says_what_it_does_and_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["api", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "Serve the embedded Missions API" in text and "live page" in text
    assert "http://127.0.0.1:8700" in text and "default 8700" in text and "default 127.0.0.1" in text
    assert f"database {default_db_path()}" in text


@pytest.mark.slow
def test_bare_command_on_a_terminal_says_what_it_waits_for(tmp_path: Path) -> None:
    terminal, typed_at = pty.openpty()  # stdin is a terminal, as when a person types missions-mcp
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp"],
        stdin=typed_at,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env() | {"MISSIONS_DB": str(tmp_path / "m.db")},
    )
    os.close(typed_at)
    said: list[str] = []
    try:
        assert proc.stderr is not None
        with killed_after(proc, 30):
            while not said or "Ctrl-C" not in said[-1]:
                line = proc.stderr.readline().decode()
                assert line, f"the server said nothing about what it waits for: {''.join(said)}"
                said.append(line)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
        os.close(terminal)
    text = "".join(said)
    assert "waiting for an MCP client" in text
    assert "claude mcp add missions -- missions-mcp" in text and '"command": "missions-mcp"' in text
    assert "npx @modelcontextprotocol/inspector missions-mcp" in text and "missions-mcp api" in text
    assert str(tmp_path / "m.db") in text
    assert out == b"", "stdout belongs to JSON-RPC"


@pytest.mark.slow
def test_no_note_when_a_host_starts_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "missions_mcp"],
        input=b"",
        capture_output=True,
        timeout=30,
        env=clean_env() | {"MISSIONS_DB": str(tmp_path / "m.db")},
    )
    assert b"waiting for an MCP client" not in done.stderr and done.stdout == b""
