"""Running the real command on any loopback address, for the HTTP security, lifecycle and conformance tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from support import clean_env

BIND_ADDRESSES = ["127.0.0.1", "127.0.0.2", "::1"]
"""Every bind address the security tests cover: the usual one, another of 127.0.0.0/8, IPv6 loopback."""


def shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def free_port_on(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class Served:
    base: str
    host: str
    port: int
    proc: subprocess.Popen[bytes]
    output: list[bytes] = field(default_factory=list)
    """``[stdout, stderr]``, filled in once the process has stopped."""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then the exit code (SIGKILL and a failure if it does not stop in time)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=10)
            self.output[:] = [out, err]
            raise AssertionError(f"the server did not stop within {timeout} s of SIGTERM") from None
        self.output[:] = [out, err]
        return self.proc.returncode


@contextmanager
def serving(
    args: list[str], *, host: str = "127.0.0.1", env: dict[str, str] | None = None, api: bool = False
) -> Iterator[Served]:
    """``python -m missions_mcp [api] *args --host HOST --port PORT`` until its port accepts connections."""
    port = free_port_on(host)
    command = [
        sys.executable,
        "-m",
        "missions_mcp",
        *(["api"] if api else []),
        *args,
        "--host",
        host,
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**clean_env(), **(env or {})})
    served = Served(f"http://{shown(host)}:{port}", host, port, proc)
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                _, err = proc.communicate(timeout=10)
                raise AssertionError(f"{command} exited {proc.returncode}: {err.decode()[-2000:]}")
            try:
                socket.create_connection((host, port), timeout=0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"{command} did not start"
                time.sleep(0.05)
        yield served
    finally:
        if proc.poll() is None or not served.output:
            try:
                served.stop()
            except AssertionError:
                pass
