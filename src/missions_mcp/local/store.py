"""The SQLite store of the embedded API: connection, schema migrations, transactions, errors.

One connection, guarded by a lock, serves the whole process. A unit of work (:meth:`Store.run`)
runs on the calling thread, the event loop's: a write is a fraction of a millisecond, and handing
it to a worker thread cost more than the work itself (measured: 0.57 ms against 0.22 ms a logged
event, bench/bench_local.py). Serialising the work on one connection means concurrent requests
never meet ``database is locked``; writes start with ``BEGIN IMMEDIATE`` so another *process*
on the same file waits (``busy_timeout``) instead of failing. WAL mode with ``synchronous=NORMAL``: a transaction that has committed
(and so a request answered 2xx) survives the process being killed; only an OS crash or
power loss may lose the last transactions.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar


__all__ = [
    "Store",
    "NotFound",
    "Conflict",
    "Invalid",
    "DEFAULT_TENANT",
    "tenant_hash",
    "new_id",
    "now_iso",
    "now_us",
    "iso_from_us",
    "dump_json",
    "load_json",
    "page_meta",
    "MIGRATIONS",
]

log = logging.getLogger("missions_mcp.local")

T = TypeVar("T")

DEFAULT_TENANT = "local"
"""The tenant of requests without an ``Authorization`` header."""

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
]


# --------------------------------------------------------------------------- errors


class NotFound(Exception):
    """A resource the request names does not exist (for this tenant): answered 404."""

    def __init__(self, kind: str, ident: object):
        self.detail = f"{kind[0].upper()}{kind[1:]} {ident} not found."
        super().__init__(self.detail)


class Conflict(Exception):
    """The request is not allowed in the current state: answered 409."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


class Invalid(Exception):
    """A value the schema accepts but the service cannot: answered 422 (HTTPValidationError)."""

    def __init__(self, loc: tuple[str | int, ...], msg: str, value: Any = None, type_: str = "value_error"):
        self.errors = [{"type": type_, "loc": loc, "msg": msg, "input": value}]
        super().__init__(msg)


# --------------------------------------------------------------------------- small helpers


def tenant_hash(api_key: str | None) -> str:
    """The tenant of a request: a hash of its bearer key (the key itself is never stored)."""
    if not api_key:
        return DEFAULT_TENANT
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()


def new_id() -> str:
    return str(uuid.uuid4())


def now_us() -> int:
    return time.time_ns() // 1000


def iso_from_us(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_iso() -> str:
    return iso_from_us(now_us())


def dump_json(value: Any, loc: tuple[str | int, ...]) -> str | None:
    """Serialise a JSON value for storage; NaN, Infinity and lone surrogates (which Python's JSON
    parser accepts but JSON cannot carry) are refused with a 422."""
    if value is None:
        return None
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        text.encode()
    except UnicodeEncodeError:
        raise Invalid(loc, "Strings must be valid Unicode (no lone surrogates)") from None
    except ValueError as exc:
        raise Invalid(loc, f"Value is not valid JSON: {exc}", type_="json_invalid") from None
    return text


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


MAX_OFFSET = 2**62


def page_meta(total: int, page_number: int, page_size: int) -> dict[str, int]:
    return {
        "page_number": page_number,
        "page_size": page_size,
        "total_pages": math.ceil(total / page_size),
        "total_results": total,
    }


# --------------------------------------------------------------------------- the store


class Store:
    """An open database. Use :meth:`run` from async code, :meth:`read`/:meth:`write` inside it."""

    def __init__(self, path: str | os.PathLike[str] = ":memory:"):
        self.path = str(path)
        if self.path != ":memory:" and not self.path.startswith("file:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._tenants: dict[str, int] = {}
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA busy_timeout = 10000")
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    # executescript would commit first; run the statements one by one instead.
                    for statement in _statements(script):
                        self._conn.execute(statement)
                    self._conn.execute(f"PRAGMA user_version = {number}")
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                log.info("database %s migrated to schema version %d", self.path, number)

    @property
    def schema_version(self) -> int:
        with self._lock:
            return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- running work

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` while holding the connection (on this thread; see the module's note)."""
        return self._locked(fn, args)

    def _locked(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._lock:
            return fn(*args)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); call only inside :meth:`run`."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot; call only inside :meth:`run`."""
        self._conn.execute("BEGIN")
        try:
            yield self._conn
        finally:
            self._conn.execute("COMMIT")

    def tenant_id(self, key_hash: str) -> int:
        """The integer id of a tenant, created on first use in a transaction of its own (so a
        request that fails later cannot roll it back); call only inside :meth:`run`."""
        cached = self._tenants.get(key_hash)
        if cached is None:
            with self.write() as conn:
                conn.execute("INSERT OR IGNORE INTO tenants(key_hash) VALUES (?)", (key_hash,))
                cached = conn.execute("SELECT id FROM tenants WHERE key_hash = ?", (key_hash,)).fetchone()[0]
            self._tenants[key_hash] = cached
        return cached


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
