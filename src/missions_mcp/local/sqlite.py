"""The SQLite engine of the store (the default): one file, one connection per process.

One connection, guarded by a lock, serves the whole process. The unit of work given to
:meth:`SQLiteStore.run` runs on the calling thread, the event loop's: a write is a fraction of a
millisecond, and handing it to a worker thread cost more than the work itself (measured: 0.57 ms
against 0.22 ms a logged event, bench/bench_local.py). Serialising the work on one connection
means concurrent requests never meet ``database is locked``; writes start with ``BEGIN
IMMEDIATE`` so another *process* on the same file waits (``busy_timeout``) instead of failing.
WAL mode with ``synchronous=NORMAL``: a transaction that has committed (and so a request
answered 2xx) survives the process being killed; only an OS crash or power loss may lose the
last transactions.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .store import Dialect, Store

__all__ = ["MIGRATIONS", "SQLiteStore"]

log = logging.getLogger("missions_mcp.local")

T = TypeVar("T")

BUSY_TIMEOUT_MS = 10_000

MIGRATIONS: list[str] = [
    # 1: the whole model. Events refer to runs by the run's integer key and keep their time in
    # integer microseconds, which keeps the per-event indexes small.
    """
    CREATE TABLE tenants (
        id INTEGER PRIMARY KEY,
        key_hash TEXT NOT NULL UNIQUE
    );
    CREATE TABLE missions (
        seq INTEGER PRIMARY KEY,
        mission_id TEXT NOT NULL UNIQUE,
        tenant INTEGER NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        description TEXT,
        model TEXT,
        instructions TEXT,
        execution_mode TEXT NOT NULL,
        metadata TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX missions_by_tenant ON missions(tenant, seq);
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL UNIQUE,
        mission_id TEXT NOT NULL REFERENCES missions(mission_id) ON DELETE CASCADE,
        tenant INTEGER NOT NULL,
        status TEXT NOT NULL,
        input TEXT,
        started_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        finished_at TEXT,
        result_summary TEXT,
        result_payload TEXT,
        error TEXT,
        metadata TEXT,
        event_count INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_mission ON runs(mission_id, seq);
    CREATE INDEX runs_by_tenant ON runs(tenant, seq);
    CREATE INDEX runs_by_tenant_status ON runs(tenant, status, seq);
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL UNIQUE,
        run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
        tenant INTEGER NOT NULL,
        type TEXT NOT NULL,
        summary TEXT NOT NULL,
        ts INTEGER NOT NULL,
        step_id TEXT,
        agent_id TEXT,
        payload TEXT,
        idempotency_key TEXT,
        body_hash TEXT
    );
    CREATE INDEX events_by_run ON events(run_seq, ts, seq);
    CREATE INDEX events_by_run_type ON events(run_seq, type, ts, seq);
    CREATE INDEX events_by_tenant ON events(tenant, ts, seq);
    CREATE UNIQUE INDEX events_idempotency ON events(run_seq, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE TABLE plan_steps (
        seq INTEGER PRIMARY KEY,
        run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
        step_id TEXT NOT NULL,
        parent_step_id TEXT,
        sequence INTEGER NOT NULL,
        description TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT,
        completed_at TEXT,
        metadata TEXT,
        UNIQUE (run_seq, step_id)
    );
    CREATE INDEX plan_steps_by_sequence ON plan_steps(run_seq, sequence, seq);
    CREATE TABLE linked_agents (
        seq INTEGER PRIMARY KEY,
        run_seq INTEGER NOT NULL REFERENCES runs(seq) ON DELETE CASCADE,
        telnyx_agent_id TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (run_seq, telnyx_agent_id)
    );
    CREATE TABLE resources (
        seq INTEGER PRIMARY KEY,
        resource_id TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        mission_id TEXT NOT NULL REFERENCES missions(mission_id) ON DELETE CASCADE,
        document TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX resources_by_mission ON resources(mission_id, kind, seq);
    CREATE TABLE idempotency (
        tenant INTEGER NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        status INTEGER NOT NULL,
        body BLOB NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (tenant, method, path, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_age ON idempotency(created_at);
    """,
    # 2: each event's place in its run (1, 2, 3 …, the order of timestamp then logging), so a page
    # of a run's events is an index range however deep it is, instead of an OFFSET walk.
    """
    ALTER TABLE events ADD COLUMN n INTEGER;
    UPDATE events SET n = ranked.n FROM (
        SELECT seq, ROW_NUMBER() OVER (PARTITION BY run_seq ORDER BY ts, seq) AS n FROM events
    ) AS ranked WHERE events.seq = ranked.seq;
    CREATE UNIQUE INDEX events_by_run_n ON events(run_seq, n);
    """,
    # 3: each event's place among the run's events of its type, so a page filtered by type is an
    # index range too, and its total one index lookup (it counted every matching entry).
    """
    ALTER TABLE events ADD COLUMN type_n INTEGER;
    UPDATE events SET type_n = ranked.type_n FROM (
        SELECT seq, ROW_NUMBER() OVER (PARTITION BY run_seq, type ORDER BY n) AS type_n FROM events
    ) AS ranked WHERE events.seq = ranked.seq;
    CREATE UNIQUE INDEX events_by_run_type_n ON events(run_seq, type, type_n);
    DROP INDEX events_by_run_type;
    """,
    # 4: a run's events of one plan step in order, so a page filtered by step (the page's step
    # filter) and its total are an index range, not a walk over every event of the run. The index
    # by timestamp is dropped: since 2 every read of a run's events goes by place, and each event
    # written paid for it.
    """
    CREATE INDEX events_by_run_step ON events(run_seq, step_id, n);
    DROP INDEX events_by_run;
    """,
]


class SQLiteStore(Store):
    """The store in one SQLite file (``:memory:`` for a throwaway one)."""

    dialect = Dialect(name="sqlite", lock="")

    def __init__(self, path: str | os.PathLike[str] = ":memory:"):
        super().__init__()
        self.path = os.fspath(path)
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._commits = 0
        self._writing = False
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._journal_mode_wal()
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self.migrate()

    def _journal_mode_wal(self) -> None:
        # Switching a fresh file to WAL needs a moment alone with it; SQLite does not always call
        # the busy handler for it, so processes starting together wait here for each other.
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    # -- the engine's primitives

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._conn

    def _begin(self, conn: sqlite3.Connection, read_only: bool) -> None:
        self._writing = not read_only
        conn.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

    def _commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")
        if self._writing:  # a read changes nothing: the change marker must not move (a live page would re-read forever)
            self._commits += 1

    def _rollback(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")

    def _execute(self, conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> sqlite3.Cursor:
        return conn.execute(sql, params)

    # -- migrations

    def migrate(self) -> None:
        """Applies each pending migration in a transaction of its own. The version is read again
        after ``BEGIN IMMEDIATE`` has taken the write lock, so of several processes starting on
        a new file one migrates and the others find the work done."""
        with self._lock:
            while True:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                    if version >= len(MIGRATIONS):
                        self._conn.execute("COMMIT")
                        return
                    # executescript would commit first; run the statements one by one instead.
                    for statement in _statements(MIGRATIONS[version]):
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {version + 1}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                log.info("database %s migrated to schema version %d", self.path, version + 1)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # -- running work, changes, closing

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn(*args)`` holding the connection, on this thread (see the module's note)."""
        with self._lock:
            return fn(*args)

    def change_marker(self) -> object:
        # data_version moves when another connection commits; this connection's own commits are counted.
        with self._lock:
            return (self._conn.execute("PRAGMA data_version").fetchone()[0], self._commits)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _statements(script: str) -> Iterator[str]:
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                yield buffer.strip()
            buffer = ""
    if buffer.strip():
        yield buffer.strip()
