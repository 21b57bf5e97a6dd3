"""A real PostgreSQL for the tests: a throwaway cluster, or any server named by ``MISSIONS_TEST_POSTGRES_URL``.

Loaded as a pytest plugin (``pytest_plugins`` in tests/conftest.py). Fixtures:

    postgres_server   session: the server's admin URL (a cluster started in a temporary directory on
                      a free loopback port and stopped after the session, unless the environment names one)
    postgres_url      a fresh, empty schema on that server for one test (dropped after it), as a URL

The throwaway cluster is made with the server's own tools (``initdb``, ``pg_ctl``), run as
the ``postgres`` user when the tests run as root (``initdb`` refuses root), with ``fsync=off``: a test
database does not need to survive a power cut. Without a server and without the tools the PostgreSQL
tests are skipped, with a reason that says how to run them.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from support import free_port

ENV = "MISSIONS_TEST_POSTGRES_URL"

HOW_TO_RUN = (
    f"the PostgreSQL tests need a server: install PostgreSQL's server tools (Debian: apt-get install postgresql) "
    f"so the tests start a throwaway cluster, or set {ENV}=postgresql://USER:PASSWORD@HOST:PORT/DB "
    "for a role allowed to CREATE DATABASE; and install the driver: pip install -e '.[test,postgres]'"
)


def _bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: Debian keeps them off PATH, under /usr/lib/postgresql/N/bin."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], check=False, capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if debian:
        return Path(debian[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class Cluster:
    """A PostgreSQL cluster of our own in ``directory``, listening on 127.0.0.1:``port`` only."""

    bindir: Path
    directory: Path
    port: int
    user: str | None  # run the tools as this user (root may not run them), None: as ourselves

    password: str

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _tool(self, name: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / name), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout, cwd=self.directory)
        if done.returncode != 0:
            log = self.directory / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.strip()}\n{tail}")

    @classmethod
    def start(cls, bindir: Path, *, durable: bool = False) -> Cluster:
        """``durable``: fsync and full-page writes on, as a real server runs (benchmarks); off for tests.
        Commits are not waited for either way (``synchronous_commit=off``): like the SQLite store's
        ``synchronous=NORMAL``, a commit survives the process, not necessarily a power cut."""
        user = "postgres" if os.geteuid() == 0 else None
        directory = Path(tempfile.mkdtemp(prefix="missions-pg-"))
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(directory, entry.pw_uid, entry.pw_gid)
        cluster = cls(bindir, directory, free_port(), user, secrets.token_hex(12))
        data = str(directory / "data")
        pwfile = directory / "pwfile"
        pwfile.write_text(cluster.password + "\n")
        if user is not None:
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        # TCP connections need the password (so a wrong one can be tested); the socket in our directory is trusted
        cluster._tool(
            "initdb",
            "-D",
            data,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            f"--pwfile={pwfile}",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = " ".join(
            [
                f"-p {cluster.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={directory}",
                "-c synchronous_commit=off",
                "-c max_connections=300",
                *([] if durable else ["-c fsync=off", "-c full_page_writes=off"]),
            ]
        )
        cluster._tool(
            "pg_ctl", "start", "-D", data, "-o", options, "-l", str(directory / "server.log"), "-w", "-t", "60"
        )
        return cluster

    def stop(self) -> None:
        if not self.directory.exists():
            return  # stopped already
        try:
            self._tool("pg_ctl", "stop", "-D", str(self.directory / "data"), "-m", "immediate", "-w", "-t", "30")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def _in_schema(url: str, schema: str) -> str:
    """``url`` with ``schema`` first on its search path: the store's tables go there."""
    parts = urlsplit(url)
    options = urlencode({"options": f"-csearch_path={schema}"})
    return parts._replace(query=f"{parts.query}&{options}" if parts.query else options).geturl()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The admin URL of a PostgreSQL server the tests may create databases on."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: " + HOW_TO_RUN)
    given = os.environ.get(ENV)
    if given:
        yield given
        return
    bindir = _bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL found: " + HOW_TO_RUN)
    try:
        cluster = Cluster.start(bindir)
    except (OSError, KeyError, RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"could not start a throwaway PostgreSQL cluster ({exc}): " + HOW_TO_RUN)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty place for one test's store: its own schema, first on the URL's search path
    (creating a schema takes a millisecond, a database most of a second on a busy machine)."""
    import psycopg
    from psycopg import sql

    schema = "missions_test_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_server, autocommit=True, connect_timeout=10) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield _in_schema(postgres_server, schema)
    finally:
        with psycopg.connect(postgres_server, autocommit=True, connect_timeout=10) as admin:
            admin.execute("SET lock_timeout = '10s'")  # a store left open must not hang the run
            try:
                admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            except psycopg.errors.LockNotAvailable:
                pass
