"""Runs (lifecycle and status transitions) and their events.

Run lifecycle: ``pending → running → paused ⇄ running → succeeded | failed | cancelled``.
Every status change appends a ``status_change`` event to the run. Events are accepted on a run
that has not ended; an event's ``idempotency_key`` is scoped to its run.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..models import TERMINAL_RUN_STATUSES, RunStatus
from .missions import find_mission
from .store import (
    MAX_OFFSET,
    Conflict,
    NotFound,
    Row,
    Store,
    Tx,
    dump_json,
    iso_from_us,
    load_json,
    new_id,
    now_iso,
    now_us,
    page_meta,
    present,
)

__all__ = [
    "RUN_ACTIONS",
    "RUN_TRANSITIONS",
    "act_on_run",
    "create_run",
    "find_run",
    "get_event",
    "get_run",
    "list_recent_events",
    "list_run_events",
    "list_runs",
    "log_event",
    "update_run",
]

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.pending: frozenset({RunStatus.running, RunStatus.cancelled, RunStatus.failed}),
    RunStatus.running: frozenset({RunStatus.paused, RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled}),
    RunStatus.paused: frozenset({RunStatus.running, RunStatus.cancelled, RunStatus.failed}),
    RunStatus.succeeded: frozenset(),
    RunStatus.failed: frozenset(),
    RunStatus.cancelled: frozenset(),
}
"""Status → the statuses ``update_run`` may move a run to."""

RUN_ACTIONS: dict[str, tuple[tuple[RunStatus, ...], RunStatus]] = {
    "pause": ((RunStatus.running,), RunStatus.paused),
    "resume": ((RunStatus.paused,), RunStatus.running),
    "cancel": ((RunStatus.pending, RunStatus.running, RunStatus.paused), RunStatus.cancelled),
}
"""Action → (the statuses it is allowed from, the status it leads to)."""

_ORDER = [s.value for s in RunStatus]


def _words(statuses: Any) -> str:
    names = sorted((str(s) for s in statuses), key=_ORDER.index)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# --------------------------------------------------------------------------- runs


def _run_out(row: Row) -> dict[str, Any]:
    return present(
        {
            "run_id": row["run_id"],
            "mission_id": row["mission_id"],
            "status": row["status"],
            "input": load_json(row["input"]),
            "started_at": row["started_at"],
            "updated_at": row["updated_at"],
            "finished_at": row["finished_at"],
            "result_summary": row["result_summary"],
            "result_payload": load_json(row["result_payload"]),
            "error": row["error"],
            "metadata": load_json(row["metadata"]),
        }
    )


def find_run(tx: Tx, mission_id: object, run_id: object, *, lock: bool = False) -> Row:
    """The run, after checking that the mission exists (404 names what is missing). ``lock``: the
    transaction will change the run or append to it (its status, its events' places), so
    concurrent writers to the same run queue here on engines that run them side by side."""
    row = tx.one(
        "SELECT * FROM runs WHERE run_id = ? AND mission_id = ? AND tenant = ?" + (tx.dialect.lock if lock else ""),
        (str(run_id), str(mission_id), tx.tenant),
    )
    if row is None:
        find_mission(tx, str(mission_id))
        missing = NotFound("run", run_id)
        elsewhere = tx.one("SELECT mission_id FROM runs WHERE run_id = ? AND tenant = ?", (str(run_id), tx.tenant))
        if elsewhere is not None:  # the common slip: the right run under the wrong mission id
            missing.detail = (
                f"Run {run_id} is not a run of mission {mission_id}: it belongs to mission "
                f"{elsewhere['mission_id']}. Call again with that mission_id."
            )
        raise missing
    return row


def list_runs(
    store: Store, key: str, mission_id: object | None, status: str | None, page_number: int, page_size: int
) -> dict[str, Any]:
    """Newest first; all the tenant's runs when ``mission_id`` is ``None``."""
    offset = (page_number - 1) * page_size
    with store.atomic(key, read_only=True) as tx:
        where: list[str] = ["tenant = ?"]
        args: list[Any] = [tx.tenant]
        if mission_id is not None:
            where.append("mission_id = ?")
            args.append(str(mission_id))
        if status is not None:
            where.append("status = ?")
            args.append(status)
        clause = " AND ".join(where)
        if mission_id is not None:
            find_mission(tx, str(mission_id))
        total = tx.value(f"SELECT COUNT(*) FROM runs WHERE {clause}", args)
        rows = (
            []
            if offset >= min(total, MAX_OFFSET)
            else tx.all(
                f"SELECT * FROM runs WHERE {clause} ORDER BY seq DESC LIMIT ? OFFSET ?", (*args, page_size, offset)
            )
        )
    return {"data": [_run_out(r) for r in rows], "meta": page_meta(total, page_number, page_size)}


def create_run(store: Store, key: str, mission_id: object, fields: dict[str, Any]) -> dict[str, Any]:
    with store.atomic(key) as tx:
        find_mission(tx, str(mission_id))
        run_id, now = new_id(), now_iso()
        tx.execute(
            "INSERT INTO runs (run_id, mission_id, tenant, status, input, started_at, updated_at, metadata)"
            " VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
            (
                run_id,
                str(mission_id),
                tx.tenant,
                dump_json(fields.get("input"), ("body", "input")),
                now,
                now,
                dump_json(fields.get("metadata"), ("body", "metadata")),
            ),
        )
        return {"data": _run_out(find_run(tx, mission_id, run_id))}


def get_run(store: Store, key: str, mission_id: object, run_id: object) -> dict[str, Any]:
    with store.atomic(key, read_only=True) as tx:
        return {"data": _run_out(find_run(tx, mission_id, run_id))}


def _set_status(tx: Tx, run: Row, target: RunStatus, now: str) -> None:
    """Moves the run to ``target`` and records the change as a ``status_change`` event."""
    finished_at = now if target in TERMINAL_RUN_STATUSES else None
    tx.execute(
        "UPDATE runs SET status = ?, finished_at = ?, updated_at = ? WHERE seq = ?",
        (target.value, finished_at, now, run["seq"]),
    )
    _insert_event(
        tx,
        run,
        "status_change",
        f"{run['status']} → {target.value}",
        payload=dump_json({"from": run["status"], "to": target.value}, ("body",)),
    )


def _refused_transition(run_id: object, current: RunStatus, target: RunStatus) -> Conflict:
    allowed = RUN_TRANSITIONS[current]
    options = _words(allowed) if allowed else "nothing, the run has ended"
    detail = (
        f"Run {run_id} is {current.value}; it cannot move to {target.value} "
        f"(from {current.value} it can move to {options})."
    )
    if RunStatus.running in allowed and target in RUN_TRANSITIONS[RunStatus.running]:
        detail += " Set it running first with update_run status=running."
    return Conflict(detail)


def update_run(store: Store, key: str, mission_id: object, run_id: object, fields: dict[str, Any]) -> dict[str, Any]:
    """Only the fields present change. A ``status`` equal to the current one is no change; any
    other must be allowed by :data:`RUN_TRANSITIONS` (409 otherwise, nothing changed)."""
    with store.atomic(key) as tx:
        run = find_run(tx, mission_id, run_id, lock=True)
        now = now_iso()
        status = fields.get("status")
        if status is not None and status != run["status"]:
            current, target = RunStatus(run["status"]), RunStatus(status)
            if target not in RUN_TRANSITIONS[current]:
                raise _refused_transition(run_id, current, target)
            _set_status(tx, run, target, now)
        changes: dict[str, Any] = {"updated_at": now}
        for name in ("result_summary", "error"):
            if name in fields:
                changes[name] = fields[name]
        for name in ("result_payload", "metadata"):
            if name in fields:
                changes[name] = dump_json(fields[name], ("body", name))
        assignments = ", ".join(f"{name} = ?" for name in changes)
        tx.execute(f"UPDATE runs SET {assignments} WHERE seq = ?", (*changes.values(), run["seq"]))
        return {"data": _run_out(find_run(tx, mission_id, run_id))}


def act_on_run(store: Store, key: str, mission_id: object, run_id: object, action: str) -> dict[str, Any]:
    """``pause``, ``resume`` or ``cancel`` (see :data:`RUN_ACTIONS`); 409 from any other status."""
    sources, target = RUN_ACTIONS[action]
    with store.atomic(key) as tx:
        run = find_run(tx, mission_id, run_id, lock=True)
        if run["status"] not in sources:
            raise Conflict(f"Run {run_id} is {run['status']}; {action} needs a {_words(sources)} run.")
        _set_status(tx, run, target, now_iso())
        return {"data": _run_out(find_run(tx, mission_id, run_id))}


# --------------------------------------------------------------------------- events

_EVENT_COLUMNS = "e.seq, e.event_id, e.type, e.summary, e.ts, e.step_id, e.agent_id, e.payload, e.idempotency_key"


def _event_out(row: Row, run_id: str) -> dict[str, Any]:
    return present(
        {
            "event_id": row["event_id"],
            "run_id": run_id,
            "type": row["type"],
            "summary": row["summary"],
            "timestamp": iso_from_us(row["ts"]),
            "step_id": row["step_id"],
            "agent_id": row["agent_id"],
            "payload": load_json(row["payload"]),
            "idempotency_key": row["idempotency_key"],
        }
    )


def _insert_event(
    tx: Tx,
    run: Row,
    type_: str,
    summary: str,
    step_id: str | None = None,
    agent_id: str | None = None,
    payload: str | None = None,
    idempotency_key: str | None = None,
    body_hash: str | None = None,
) -> dict[str, Any]:
    """Appends an event to ``run`` (found with ``lock=True``). A run's clock never goes back: an
    event is stamped no earlier than the one before it, so the order of timestamps is the order of
    logging, and both ``n`` (the place in the run) and ``type_n`` (the place among the run's events
    of its type) follow it: any page, filtered by type or not, is an index range."""
    last = tx.one("SELECT n, ts FROM events WHERE run_seq = ? ORDER BY n DESC LIMIT 1", (run["seq"],))
    event_id, ts = new_id(), now_us() if last is None else max(now_us(), last["ts"])
    n = 1 if last is None else last["n"] + 1
    type_n = 1 + (tx.value("SELECT MAX(type_n) FROM events WHERE run_seq = ? AND type = ?", (run["seq"], type_)) or 0)
    tx.execute(
        "INSERT INTO events (event_id, run_seq, tenant, type, summary, ts, step_id, agent_id, payload,"
        " idempotency_key, body_hash, n, type_n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            event_id,
            run["seq"],
            run["tenant"],
            type_,
            summary,
            ts,
            step_id,
            agent_id,
            payload,
            idempotency_key,
            body_hash,
            n,
            type_n,
        ),
    )
    tx.execute("UPDATE runs SET event_count = event_count + 1 WHERE seq = ?", (run["seq"],))
    return present(
        {
            "event_id": event_id,
            "run_id": run["run_id"],
            "type": type_,
            "summary": summary,
            "timestamp": iso_from_us(ts),
            "step_id": step_id,
            "agent_id": agent_id,
            "payload": load_json(payload),
            "idempotency_key": idempotency_key,
        }
    )


def log_event(store: Store, key: str, mission_id: object, run_id: object, fields: dict[str, Any]) -> dict[str, Any]:
    """Appends an event. With an ``idempotency_key`` already used on this run: the stored event
    when the rest of the body is the same, 409 when it differs. 409 on a run that has ended."""
    payload = dump_json(fields.get("payload"), ("body", "payload"))
    idempotency_key = fields.get("idempotency_key")
    content = {k: fields.get(k) for k in ("type", "summary", "step_id", "agent_id", "payload")}
    body_hash = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    with store.atomic(key) as tx:
        run = find_run(tx, mission_id, run_id, lock=True)
        if idempotency_key is not None:
            stored = tx.one(
                f"SELECT {_EVENT_COLUMNS}, e.body_hash FROM events e WHERE e.run_seq = ? AND e.idempotency_key = ?",
                (run["seq"], idempotency_key),
            )
            if stored is not None:
                if stored["body_hash"] != body_hash:
                    raise Conflict(
                        f"Idempotency key {idempotency_key!r} was already used on run {run_id} for a different"
                        f" event ({stored['event_id']}); use a new key for a new event."
                    )
                return {"data": _event_out(stored, run["run_id"])}
        if run["status"] in TERMINAL_RUN_STATUSES:
            raise Conflict(
                f"Run {run_id} is {run['status']}; events can be logged only on a pending, running or paused run."
            )
        event = _insert_event(
            tx,
            run,
            str(fields["type"]),
            fields["summary"],
            fields.get("step_id"),
            fields.get("agent_id"),
            payload,
            idempotency_key,
            body_hash,
        )
        return {"data": event}


def _event_filters(filters: dict[str, str | None]) -> tuple[str, list[Any]]:
    clause, args = "", []
    for column, value in filters.items():
        if value is not None:
            clause += f" AND {column} = ?"
            args.append(value)
    return clause, args


def list_run_events(
    store: Store,
    key: str,
    mission_id: object,
    run_id: object,
    filters: dict[str, str | None],
    page_number: int,
    page_size: int,
) -> dict[str, Any]:
    """Oldest first (by timestamp, then order of logging). ``filters``: type, step_id, agent_id.

    Unfiltered, page k is the range of places ``((k-1)·size, k·size]``; filtered by type alone, the
    same range of places among that type; with other filters, an index walk."""
    offset = (page_number - 1) * page_size
    given = {name: value for name, value in filters.items() if value is not None}
    with store.atomic(key, read_only=True) as tx:
        run = find_run(tx, mission_id, run_id)
        if not given:
            total = run["event_count"]
            rows = (
                []
                if offset >= min(total, MAX_OFFSET)
                else tx.all(
                    f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.run_seq = ? AND e.n > ? AND e.n <= ? ORDER BY e.n",
                    (run["seq"], offset, offset + page_size),
                )
            )
        elif set(given) == {"type"}:
            total = (
                tx.value("SELECT MAX(type_n) FROM events WHERE run_seq = ? AND type = ?", (run["seq"], given["type"]))
                or 0
            )
            rows = (
                []
                if offset >= min(total, MAX_OFFSET)
                else tx.all(
                    f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.run_seq = ? AND e.type = ?"
                    " AND e.type_n > ? AND e.type_n <= ? ORDER BY e.type_n",
                    (run["seq"], given["type"], offset, offset + page_size),
                )
            )
        else:
            clause, args = _event_filters(filters)
            total = tx.value(f"SELECT COUNT(*) FROM events WHERE run_seq = ?{clause}", (run["seq"], *args))
            rows = (
                []
                if offset >= min(total, MAX_OFFSET)
                else tx.all(
                    f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.seq IN ("
                    f" SELECT seq FROM events WHERE run_seq = ?{clause} ORDER BY n LIMIT ? OFFSET ?"
                    ") ORDER BY e.n",
                    (run["seq"], *args, page_size, offset),
                )
            )
    return {"data": [_event_out(r, run["run_id"]) for r in rows], "meta": page_meta(total, page_number, page_size)}


def list_recent_events(store: Store, key: str, type_: str | None, page_number: int, page_size: int) -> dict[str, Any]:
    """Events of all the tenant's runs, newest first."""
    clause, args = _event_filters({"type": type_})
    offset = (page_number - 1) * page_size
    with store.atomic(key, read_only=True) as tx:
        total = tx.value(f"SELECT COUNT(*) FROM events WHERE tenant = ?{clause}", (tx.tenant, *args))
        rows = (
            []
            if offset >= min(total, MAX_OFFSET)
            else tx.all(
                f"SELECT {_EVENT_COLUMNS}, r.run_id FROM events e JOIN runs r ON r.seq = e.run_seq WHERE e.seq IN ("
                f" SELECT seq FROM events WHERE tenant = ?{clause} ORDER BY ts DESC, seq DESC LIMIT ? OFFSET ?"
                ") ORDER BY e.ts DESC, e.seq DESC",
                (tx.tenant, *args, page_size, offset),
            )
        )
    return {"data": [_event_out(r, r["run_id"]) for r in rows], "meta": page_meta(total, page_number, page_size)}


def get_event(store: Store, key: str, mission_id: object, run_id: object, event_id: str) -> dict[str, Any]:
    with store.atomic(key, read_only=True) as tx:
        run = find_run(tx, mission_id, run_id)
        row = tx.one(
            f"SELECT {_EVENT_COLUMNS} FROM events e WHERE e.event_id = ? AND e.run_seq = ?", (event_id, run["seq"])
        )
    if row is None:
        raise NotFound("event", event_id)
    return {"data": _event_out(row, run["run_id"])}
