"""``missions-mcp api`` as a real process on loopback, for the durability and crash tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from support import clean_env, free_port


class ApiProcess:
    """``python -m missions_mcp api`` on a free loopback port, on a database file or a PostgreSQL URL."""

    def __init__(self, db: Path | str):
        self.db = db
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ApiProcess:
        return self.spawn().wait_ready()

    def spawn(self) -> ApiProcess:
        """Starts the process without waiting for it to answer."""
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "missions_mcp",
                "api",
                "--port",
                str(self.port),
                "--db",
                str(self.db),
                "--log-level",
                "WARNING",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=clean_env(),
        )
        return self

    def wait_ready(self, timeout: float = 60) -> ApiProcess:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.proc.stderr.read().decode() if self.proc.stderr else ""
            try:
                httpx2.get(self.base + "/ai/missions", timeout=0.5)
                return self
            except httpx2.TransportError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    _, err = self.proc.communicate(timeout=10)
                    detail = err.decode()[-2000:]
                    raise AssertionError(f"the embedded API did not start in {timeout} s: {detail}") from None
                time.sleep(0.05)

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> str:
        if self.proc is None or self.proc.poll() is not None:
            return ""
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=10)
        return err.decode()
