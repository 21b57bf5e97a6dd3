"""The ``Idempotency-Key`` request header: a retried write answers what the first one answered.

Every write (POST, PUT, PATCH, DELETE) carrying the header claims the key (tenant, method, path,
key; the path without the ``/v2`` prefix) in the database, in the same transaction as the write
itself, and stores the answer (status and body) there before committing. So:

- a crash can never keep the write and lose the record, or the reverse;
- the same key sent again with the same body (compared as JSON: key order and spacing do not
  matter) replays the stored status and body with ``Idempotent-Replayed: true`` and runs nothing —
  a retried ``DELETE`` whose answer was lost replays its ``204``, not a ``404``;
- with a different body it answers 409;
- requests with the same key at once, in one process or several sharing the database, queue on
  the claim (a unique key): one runs, the others replay its answer;
- an answer that is not 2xx rolls the claim back with the write, so a failed call can be retried
  with the same key;
- an event whose body carries the header's key as its ``idempotency_key`` makes no claim: the run
  deduplicates its events on that key already, with the same answers (one check, not two).

Records are kept 24 hours.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .store import Conflict, Invalid, Store

__all__ = ["MAX_KEY_LENGTH", "TTL_SECONDS", "Claim", "Replay", "claim_of", "perform"]

TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255
_PURGE_EVERY = 60.0
_swept = [0.0]
"""When this process last dropped the records older than the TTL (one sweep a minute at most)."""


@dataclass(frozen=True)
class Claim:
    """The idempotency facts of one request."""

    method: str
    path: str
    key: str
    request_hash: str


class Replay(Exception):
    """The request's key was already used with the same body: answer what was answered then."""

    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body
        super().__init__(status)


def request_hash(body: bytes) -> str:
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def claim_of(method: str, path: str, key: str | None, body: bytes, *, own_key: str | None = None) -> Claim | None:
    """The claim a request makes, or ``None``: a read, no key, or the key the operation itself
    deduplicates on (``own_key``: ``log_event``'s ``idempotency_key`` in the body, which answers a
    repeat with the stored event and a different event with 409, as a claim would). The header is
    checked either way."""
    if not key or method in ("GET", "HEAD", "OPTIONS"):
        return None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(
            ("header", "Idempotency-Key"),
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters; send a shorter key"
            " (a UUID is a good one).",
        )
    if key == own_key:
        return None
    return Claim(method, path, key, request_hash(body))


def perform(
    store: Store,
    key: str,
    claim: Claim,
    status: int,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    render: Callable[[Any], bytes],
) -> bytes:
    """Runs ``fn(store, key, *args)`` under ``claim`` and returns its rendered answer, or raises
    :class:`Replay` / :class:`Conflict` when the key was used before. Runs inside :meth:`Store.run`."""
    now = time.time()
    ident = (claim.method, claim.path, claim.key)
    with store.atomic(key) as tx:
        if now - _swept[0] > _PURGE_EVERY:
            tx.execute("DELETE FROM idempotency WHERE created_at < ?", (now - TTL_SECONDS,))
            _swept[0] = now
        where = "tenant = ? AND method = ? AND path = ? AND key = ?"
        # A claim: a new row, or one that replaces an expired record; 0 rows when the key is held.
        claimed = tx.execute(
            "INSERT INTO idempotency (tenant, method, path, key, request_hash, status, body, created_at)"
            " VALUES (?, ?, ?, ?, ?, 0, ?, ?) ON CONFLICT (tenant, method, path, key) DO UPDATE SET"
            " request_hash = excluded.request_hash, status = 0, body = excluded.body, created_at = excluded.created_at"
            " WHERE idempotency.created_at < ?",
            (tx.tenant, *ident, claim.request_hash, b"", now, now - TTL_SECONDS),
        ).rowcount
        if not claimed:
            stored = tx.one(f"SELECT request_hash, status, body FROM idempotency WHERE {where}", (tx.tenant, *ident))
            assert stored is not None, "a claim that conflicts is committed"
            if stored["request_hash"] != claim.request_hash:
                raise Conflict(
                    f"Idempotency-Key {claim.key!r} was already used for a different request to {claim.path};"
                    " send a new key for a new request."
                )
            raise Replay(int(stored["status"]), bytes(stored["body"]))
        body = render(fn(store, key, *args))
        tx.execute(f"UPDATE idempotency SET status = ?, body = ? WHERE {where}", (status, body, tx.tenant, *ident))
    return body
