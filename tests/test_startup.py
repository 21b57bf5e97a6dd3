"""What the server does before its first answer: only what ``tools/list`` needs.

Timings live in ``bench/bench_session.py``; these tests pin the causes instead: the embedded API's
web framework stays unimported until a call needs it, and no collection walks the start-up heap.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from support import clean_env

HANDSHAKE = [
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}},
    },
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]


def _serve(tmp_path: Path, *python_flags: str, code: str | None = None) -> tuple[list[dict], str]:
    """Run the stdio server through the handshake and ``tools/list``; end its input once answered.

    Its input stays open until the answer arrives (the server may drop a request still in flight when
    its input ends); stderr goes to a file, so a long import log cannot fill a pipe.
    """
    command = [sys.executable, *python_flags, *(["-c", code] if code else ["-m", "missions_mcp"])]
    log = tmp_path / "stderr.txt"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=clean_env() | {"MISSIONS_DB": str(tmp_path / "m.db")},
        )
        watchdog = threading.Timer(60, proc.kill)
        watchdog.start()
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write("".join(json.dumps(m) + "\n" for m in HANDSHAKE).encode())
            proc.stdin.flush()
            answers: list[dict] = []
            while not answers or answers[-1].get("id") != 2:
                line = proc.stdout.readline()
                assert line, f"the server ended before answering tools/list: {log.read_text()[-2000:]}"
                answers.append(json.loads(line))
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return answers, log.read_text()


@pytest.mark.slow
def test_the_embedded_api_is_not_imported_to_answer_tools_list(tmp_path):
    answers, stderr = _serve(tmp_path, "-X", "importtime")
    assert [a["id"] for a in answers] == [1, 2] and len(answers[1]["result"]["tools"]) == 41
    imported = {line.split("|")[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}
    assert "missions_mcp.server" in imported, "the import log is read as expected"
    assert not {"fastapi", "missions_mcp.local.app"} & imported
    assert str(tmp_path / "m.db") in stderr, "the start-up line still names the database"


def test_database_path_needs_no_web_framework():
    code = (
        "import sys; from missions_mcp.local import default_db_path; default_db_path(); "
        "print(sorted(m for m in ('fastapi', 'missions_mcp.local.app') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=60, env=clean_env())
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().strip() == "[]"


def test_create_app_is_still_importable_from_the_package():
    from missions_mcp.local import create_app
    from missions_mcp.local.app import create_app as defined

    assert create_app is defined


@pytest.mark.slow
def test_no_collection_walks_the_start_up_heap(tmp_path):
    """Start-up runs with the collector off and freezes what it built before the first request."""
    probe = (
        "import gc, runpy, sys\n"
        "seen = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'stop' and seen.append(info['generation']))\n"
        "sys.argv = ['missions_mcp']\n"
        "try:\n"
        "    runpy.run_module('missions_mcp', run_name='__main__', alter_sys=True)\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write(f'\\nFROZEN {gc.get_freeze_count()} FULL {seen.count(2)}\\n')\n"
    )
    _, stderr = _serve(tmp_path, code=probe)
    last = stderr.strip().splitlines()[-1].split()
    frozen, full = int(last[1]), int(last[3])
    assert frozen > 50_000, "the start-up heap is frozen"
    assert full == 0, "no full collection during start-up and the first tools/list"


@pytest.mark.slow
@pytest.mark.parametrize("server_froze", [True, False])
def test_the_embedded_api_built_on_the_first_call_is_frozen_like_the_start_up_heap(tmp_path, server_froze):
    """Otherwise the first full collection walks the whole web framework in the middle of a call; a
    process that never froze (a library user, a test) is left alone."""
    code = (
        "import gc, anyio\n"
        "from missions_mcp.client import MissionsClient\n"
        "from missions_mcp.config import Settings\n"
        f"if {server_froze}:\n"
        "    gc.freeze()\n"
        "before = gc.get_freeze_count()\n"
        f"client = MissionsClient(Settings(backend='local', db_path={str(tmp_path / 'm.db')!r}))\n"
        "anyio.run(client._client)\n"
        "print(before, gc.get_freeze_count())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False, timeout=60, env=clean_env())
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    before, after = map(int, out.stdout.split())
    if server_froze:
        assert after > before + 10_000, "the embedded API joins the frozen heap"
    else:
        assert before == after == 0
