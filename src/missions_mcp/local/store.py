"""The store interface of the embedded API: transactions, tenants, dialect, migrations, changes.

How an engine plugs in
----------------------
The domain modules (``missions``, ``runs``, ``plans``, ``idempotency``) never see a driver. They
receive a :class:`Store` and open transactions with :meth:`Store.atomic`, which yields a
:class:`Tx`: ``tx.one / tx.all / tx.value / tx.execute`` over plain SQL, and ``tx.tenant``, the
integer id of the request's tenant. The SQL they write is accepted by SQLite and PostgreSQL alike:

- ``?`` placeholders, and no literal ``?`` or ``%`` in statements (an engine whose driver wants
  ``%s`` rewrites them with :func:`qmark_to_format`);
- ``INSERT … ON CONFLICT … DO NOTHING / DO UPDATE``, ``RETURNING``, ``SAVEPOINT``, ``LIMIT ? OFFSET ?``;
- rows read by column name (``row["seq"]``), never by position;
- a write that reads a row and then changes what depends on it (a run's next event place, its
  status) appends ``tx.dialect.lock`` to that SELECT: ``" FOR UPDATE"`` where concurrent
  transactions can interleave (PostgreSQL), ``""`` where writers are serialised (SQLite).

A second engine is one module with one subclass of :class:`Store` (see ``sqlite.py``; a
PostgreSQL store lives in ``postgres.py``) that provides:

- ``dialect`` (a :class:`Dialect`) and its own versioned migrations, applied by :meth:`Store.migrate`
  so that several processes starting at once on an empty database all come up (SQLite: under
  ``BEGIN IMMEDIATE``, re-reading ``user_version`` inside; PostgreSQL: under an advisory lock);
- ``_connection()``: a connection for one outermost transaction (SQLite: its one connection;
  PostgreSQL: one from a pool), and ``_begin / _commit / _rollback / _execute`` on it;
- ``run(fn, *args)``: where the (synchronous) domain function runs — SQLite on the event loop
  under a lock, PostgreSQL in a worker thread with a pooled connection;
- ``change_marker()``: a cheap value that differs after any commit by any process (SQLite:
  ``PRAGMA data_version`` plus this process's own commits; PostgreSQL: a LISTEN/NOTIFY counter);
- ``close()``.

Everything else — nesting by savepoints, the tenant cache, change listeners, the idempotency
claim (``idempotency.py``, a unique key claimed in the same transaction as the write) — is
shared here, so both engines enforce the same rules in the database.

:func:`open_store` picks the engine from the target: a ``postgresql://`` URL or a file path.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Protocol, TypeVar

__all__ = [
    "DEFAULT_TENANT",
    "MAX_OFFSET",
    "NO_TENANT",
    "Conflict",
    "Dialect",
    "Invalid",
    "NotFound",
    "Row",
    "Store",
    "Tx",
    "dump_json",
    "iso_from_us",
    "load_json",
    "new_id",
    "now_iso",
    "now_us",
    "open_store",
    "page_meta",
    "present",
    "qmark_to_format",
    "tenant_hash",
]

T = TypeVar("T")

log = logging.getLogger("missions_mcp.local")

DEFAULT_TENANT = "local"
"""The tenant of requests without an ``Authorization`` header."""

NO_TENANT = 0
"""The tenant id a read sees for a key never written with: it owns nothing (real ids start at 1)."""

Row = Mapping[str, Any]
"""A row, read by column name (``sqlite3.Row``, psycopg's ``dict_row``)."""


class Cursor(Protocol):
    """The part of a DB-API cursor the store uses."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


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


def present(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` without those that have no value: the contract types no field as nullable, so an
    optional field without a value is left out of an answer rather than sent as ``null``."""
    return {name: value for name, value in fields.items() if value is not None}


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


@lru_cache(maxsize=512)
def qmark_to_format(sql: str) -> str:
    """``?`` placeholders as ``%s`` (psycopg's style). The domain SQL holds no literal ``?`` or ``%``."""
    return sql.replace("?", "%s")


# --------------------------------------------------------------------------- transactions


@dataclass(frozen=True)
class Dialect:
    """What differs in the SQL of two engines, for the few statements that need it."""

    name: str
    lock: str
    """Appended to a SELECT whose row the transaction will change: ``" FOR UPDATE"`` or ``""``."""


class Tx:
    """One (possibly nested) transaction: its connection, its tenant, plain SQL over them."""

    __slots__ = ("conn", "depth", "new_tenants", "read_only", "store", "tenant")

    def __init__(self, store: Store, conn: Any, read_only: bool, depth: int, new_tenants: dict[str, int]):
        self.store = store
        self.conn = conn
        self.tenant = NO_TENANT
        self.read_only = read_only
        self.depth = depth
        self.new_tenants = new_tenants  # shared by the nest; published to the cache on commit

    @property
    def dialect(self) -> Dialect:
        return self.store.dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        return self.store._execute(self.conn, sql, params)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self.store._execute(self.conn, sql, params).fetchone()
        return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.store._execute(self.conn, sql, params).fetchall()

    def value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or ``None``."""
        row = self.store._execute(self.conn, sql, params).fetchone()
        return None if row is None else next(iter(row.values())) if isinstance(row, Mapping) else row[0]


@dataclass
class _Nest:
    """The open transactions of one thread, outermost first."""

    stack: list[Tx] = field(default_factory=list)


class Store(abc.ABC):
    """An open database. Async code calls :meth:`run`; the function it runs opens
    :meth:`atomic` transactions (which nest)."""

    dialect: Dialect

    def __init__(self) -> None:
        self._tenants: dict[str, int] = {}
        self._local = threading.local()
        self._listeners: list[Callable[[], None]] = []

    # -- what an engine provides

    @abc.abstractmethod
    def _connection(self) -> AbstractContextManager[Any]:
        """A connection for the whole of one outermost transaction."""

    @abc.abstractmethod
    def _begin(self, conn: Any, read_only: bool) -> None: ...

    @abc.abstractmethod
    def _commit(self, conn: Any) -> None: ...

    @abc.abstractmethod
    def _rollback(self, conn: Any) -> None: ...

    @abc.abstractmethod
    def _execute(self, conn: Any, sql: str, params: Sequence[Any]) -> Cursor:
        """Run one statement written with ``?`` placeholders; rows read by column name."""

    @abc.abstractmethod
    def migrate(self) -> None:
        """Bring the schema to the latest version; safe when several processes start at once."""

    @property
    @abc.abstractmethod
    def schema_version(self) -> int: ...

    @abc.abstractmethod
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the synchronous ``fn(*args)`` where this engine's connections may be used."""

    @abc.abstractmethod
    def change_marker(self) -> object:
        """A value that differs after any write committed since it was last taken, by this
        process or another one on the same database. Cheap enough to poll (SQLite: ≈10 µs)."""

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- transactions

    @contextmanager
    def atomic(self, key: str | None = None, *, read_only: bool = False) -> Iterator[Tx]:
        """A transaction for the tenant of ``key`` (a :func:`tenant_hash`), or the enclosing one's.

        Outermost: ``BEGIN`` (a write takes the write lock at once), ``COMMIT`` on success,
        ``ROLLBACK`` on any exception. Nested: a ``SAVEPOINT`` that is rolled back alone when its
        block raises, so a caller may catch the error and go on. A write cannot nest in a read.
        A write creates the tenant on first use, in this transaction; a read of an unknown tenant
        sees :data:`NO_TENANT`, which owns nothing.
        """
        nest: _Nest | None = getattr(self._local, "nest", None)
        if nest is None:
            nest = self._local.nest = _Nest()
        if nest.stack:
            yield from self._nested(nest, key, read_only)
        else:
            yield from self._outermost(nest, key, read_only)

    def _outermost(self, nest: _Nest, key: str | None, read_only: bool) -> Iterator[Tx]:
        with self._connection() as conn:
            self._begin(conn, read_only)
            tx = Tx(self, conn, read_only, 0, {})
            nest.stack.append(tx)
            try:
                tx.tenant = self._tenant(tx, key)
                yield tx
            except BaseException:
                nest.stack.pop()
                self._rollback(conn)
                raise
            nest.stack.pop()
            try:
                self._commit(conn)
            except BaseException:
                self._rollback(conn)
                raise
        self._tenants.update(tx.new_tenants)
        if not read_only:
            for listener in self._listeners:
                try:
                    listener()
                except Exception:
                    # The write is committed: a listener's fault must not turn its answer into a 500.
                    log.exception("a change listener failed")

    def _nested(self, nest: _Nest, key: str | None, read_only: bool) -> Iterator[Tx]:
        outer = nest.stack[-1]
        if outer.read_only and not read_only:
            raise RuntimeError("a write transaction cannot be opened inside a read transaction")
        tx = Tx(self, outer.conn, outer.read_only, outer.depth + 1, outer.new_tenants)
        tx.tenant = outer.tenant if key is None else self._tenant(tx, key)
        savepoint = f"sp{tx.depth}"
        if not tx.read_only:
            self._execute(tx.conn, f"SAVEPOINT {savepoint}", ())
        nest.stack.append(tx)
        try:
            yield tx
        except BaseException:
            if not tx.read_only:
                self._execute(tx.conn, f"ROLLBACK TO SAVEPOINT {savepoint}", ())
                self._execute(tx.conn, f"RELEASE SAVEPOINT {savepoint}", ())
            raise
        finally:
            nest.stack.pop()
        if not tx.read_only:
            self._execute(tx.conn, f"RELEASE SAVEPOINT {savepoint}", ())

    # -- tenants

    def _tenant(self, tx: Tx, key: str | None) -> int:
        if key is None:
            return NO_TENANT
        known = self._tenants.get(key) or tx.new_tenants.get(key)
        if known is not None:
            return known
        ident = tx.value("SELECT id FROM tenants WHERE key_hash = ?", (key,))
        if ident is None:
            if tx.read_only:
                return NO_TENANT
            tx.execute("INSERT INTO tenants (key_hash) VALUES (?) ON CONFLICT DO NOTHING", (key,))
            ident = tx.value("SELECT id FROM tenants WHERE key_hash = ?", (key,))
        tx.new_tenants[key] = ident
        return int(ident)

    def tenant_id(self, key: str) -> int:
        """The integer id of a tenant, created if needed; inside a transaction, in that transaction."""
        with self.atomic(key) as tx:
            return tx.tenant

    # -- changes

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Calls ``listener()`` after each write this process commits (other processes' writes
        show in :meth:`change_marker`)."""
        self._listeners.append(listener)


def open_store(target: str | os.PathLike[str] | Store = ":memory:") -> Store:
    """The store at ``target``: a ``postgresql://`` URL, or the path of a SQLite file (created and
    migrated if needed); a :class:`Store` is taken as it is."""
    if isinstance(target, Store):
        return target
    text = os.fspath(target)
    if text.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore  # type: ignore[import-not-found,unused-ignore]

        store: Store = PostgresStore(text)
        return store
    from .sqlite import SQLiteStore

    return SQLiteStore(text)
