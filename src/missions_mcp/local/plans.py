"""Plans (the steps of a run) and the Telnyx agents linked to a run."""

from __future__ import annotations

from typing import Any

from ..models import TERMINAL_RUN_STATUSES, TERMINAL_STEP_STATUSES, StepStatus
from .runs import find_run
from .store import Conflict, Invalid, NotFound, Row, Store, Tx, dump_json, load_json, now_iso, present

__all__ = [
    "add_plan_steps",
    "create_plan",
    "get_plan",
    "get_step",
    "link_agent",
    "list_agents",
    "unlink_agent",
    "update_step",
]

_INT64 = 2**63


# --------------------------------------------------------------------------- plans


def _step_out(row: Row, run_id: str) -> dict[str, Any]:
    return present(
        {
            "step_id": row["step_id"],
            "run_id": run_id,
            "parent_step_id": row["parent_step_id"],
            "sequence": row["sequence"],
            "description": row["description"],
            "status": row["status"],
            "started_at": row["started_at"],
            "completed_at": row["completed_at"],
            "metadata": load_json(row["metadata"]),
        }
    )


def _plan(tx: Tx, run: Row) -> list[dict[str, Any]]:
    rows = tx.all("SELECT * FROM plan_steps WHERE run_seq = ? ORDER BY sequence, seq", (run["seq"],))
    return [_step_out(r, run["run_id"]) for r in rows]


def _find_step(tx: Tx, run: Row, step_id: str) -> Row:
    row = tx.one("SELECT * FROM plan_steps WHERE run_seq = ? AND step_id = ?", (run["seq"], step_id))
    if row is None:
        raise NotFound("plan step", step_id)
    return row


def get_plan(store: Store, key: str, mission_id: object, run_id: object) -> dict[str, Any]:
    """The run's steps ordered by ``sequence``, then by when they were added."""
    with store.atomic(key, read_only=True) as tx:
        return {"data": _plan(tx, find_run(tx, mission_id, run_id))}


def _add_steps(tx: Tx, run: Row, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    existing = {r["step_id"] for r in tx.all("SELECT step_id FROM plan_steps WHERE run_seq = ?", (run["seq"],))}
    seen: set[str] = set()
    for step in steps:
        step_id = step["step_id"]
        if step_id in seen:
            raise Conflict(f"Plan step {step_id} appears more than once in the request; step ids are unique in a run.")
        if step_id in existing:
            raise Conflict(f"Plan step {step_id} already exists in run {run['run_id']}; step ids are unique in a run.")
        seen.add(step_id)
    for index, step in enumerate(steps):
        parent = step.get("parent_step_id")
        if parent is not None and (parent == step["step_id"] or parent not in existing | seen):
            why = "a step cannot be its own parent" if parent == step["step_id"] else "no such step in the run"
            raise Invalid(
                ("body", "steps", index, "parent_step_id"),
                f"Value error, parent step {parent!r} is not valid: {why} (nor in this request).",
                parent,
            )
        if not -_INT64 <= step["sequence"] < _INT64:
            raise Invalid(("body", "steps", index, "sequence"), "Value error, must fit in 64 bits", step["sequence"])
    for index, step in enumerate(steps):
        tx.execute(
            "INSERT INTO plan_steps (run_seq, step_id, parent_step_id, sequence, description, status, metadata)"
            " VALUES (?, ?, ?, ?, ?, 'pending', ?)",
            (
                run["seq"],
                step["step_id"],
                step.get("parent_step_id"),
                step["sequence"],
                step["description"],
                dump_json(step.get("metadata"), ("body", "steps", index, "metadata")),
            ),
        )
    rows = tx.all(
        f"SELECT * FROM plan_steps WHERE run_seq = ? AND step_id IN ({', '.join('?' * len(steps))})"
        " ORDER BY sequence, seq",
        (run["seq"], *(step["step_id"] for step in steps)),
    )
    return [_step_out(r, run["run_id"]) for r in rows]


def _open_run(tx: Tx, mission_id: object, run_id: object) -> Row:
    """The run, for a change to its plan: a finished run's plan is final, as its events are (409)."""
    run = find_run(tx, mission_id, run_id, lock=True)
    if run["status"] in TERMINAL_RUN_STATUSES:
        raise Conflict(
            f"Run {run_id} is {run['status']}: its plan is final. Update plan steps before finishing the run."
        )
    return run


def create_plan(
    store: Store, key: str, mission_id: object, run_id: object, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    """The run's first steps; 409 if the run already has a plan."""
    with store.atomic(key) as tx:
        run = _open_run(tx, mission_id, run_id)
        count = tx.value("SELECT COUNT(*) FROM plan_steps WHERE run_seq = ?", (run["seq"],))
        if count:
            raise Conflict(
                f"Run {run_id} already has a plan ({count} steps); use add_plan_steps"
                " (POST .../plan/steps) to add steps to it."
            )
        return {"data": _add_steps(tx, run, steps)}


def add_plan_steps(
    store: Store, key: str, mission_id: object, run_id: object, steps: list[dict[str, Any]]
) -> dict[str, Any]:
    with store.atomic(key) as tx:
        return {"data": _add_steps(tx, _open_run(tx, mission_id, run_id), steps)}


def get_step(store: Store, key: str, mission_id: object, run_id: object, step_id: str) -> dict[str, Any]:
    with store.atomic(key, read_only=True) as tx:
        run = find_run(tx, mission_id, run_id)
        return {"data": _step_out(_find_step(tx, run, step_id), run["run_id"])}


def update_step(
    store: Store, key: str, mission_id: object, run_id: object, step_id: str, fields: dict[str, Any]
) -> dict[str, Any]:
    """Any status may follow any other, except that a finished step (completed, skipped, failed)
    cannot go back to pending (it may be retried: in_progress). ``in_progress`` sets
    ``started_at`` once; a finished status sets ``completed_at``; leaving one clears it.
    ``metadata``, when given, replaces the step's metadata."""
    with store.atomic(key) as tx:
        run = _open_run(tx, mission_id, run_id)
        step = _find_step(tx, run, step_id)
        changes: dict[str, Any] = {}
        status = fields.get("status")
        if status is not None and status != step["status"]:
            current, target = StepStatus(step["status"]), StepStatus(status)
            if current in TERMINAL_STEP_STATUSES and target is StepStatus.pending:
                raise Conflict(
                    f"Plan step {step_id} is {current.value}; a finished step cannot go back to pending"
                    " (set in_progress to retry it)."
                )
            now = now_iso()
            changes["status"] = target.value
            if target is StepStatus.in_progress and step["started_at"] is None:
                changes["started_at"] = now
            changes["completed_at"] = now if target in TERMINAL_STEP_STATUSES else None
        if "metadata" in fields:
            changes["metadata"] = dump_json(fields["metadata"], ("body", "metadata"))
        if changes:
            assignments = ", ".join(f"{name} = ?" for name in changes)
            tx.execute(f"UPDATE plan_steps SET {assignments} WHERE seq = ?", (*changes.values(), step["seq"]))
        return {"data": _step_out(_find_step(tx, run, step_id), run["run_id"])}


# --------------------------------------------------------------------------- linked agents


def _agent_out(row: Row, run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "telnyx_agent_id": row["telnyx_agent_id"], "created_at": row["created_at"]}


def list_agents(store: Store, key: str, mission_id: object, run_id: object) -> dict[str, Any]:
    """In the order they were linked."""
    with store.atomic(key, read_only=True) as tx:
        run = find_run(tx, mission_id, run_id)
        rows = tx.all("SELECT * FROM linked_agents WHERE run_seq = ? ORDER BY seq", (run["seq"],))
    return {"data": [_agent_out(r, run["run_id"]) for r in rows]}


def link_agent(store: Store, key: str, mission_id: object, run_id: object, agent_id: str) -> dict[str, Any]:
    """Idempotent: linking an agent already linked answers the existing link."""
    with store.atomic(key) as tx:
        run = find_run(tx, mission_id, run_id, lock=True)
        tx.execute(
            "INSERT INTO linked_agents (run_seq, telnyx_agent_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (run["seq"], agent_id, now_iso()),
        )
        row = tx.one("SELECT * FROM linked_agents WHERE run_seq = ? AND telnyx_agent_id = ?", (run["seq"], agent_id))
        assert row is not None, "just linked"
        return {"data": _agent_out(row, run["run_id"])}


def unlink_agent(store: Store, key: str, mission_id: object, run_id: object, agent_id: str) -> None:
    with store.atomic(key) as tx:
        run = find_run(tx, mission_id, run_id, lock=True)
        deleted = tx.execute(
            "DELETE FROM linked_agents WHERE run_seq = ? AND telnyx_agent_id = ?", (run["seq"], agent_id)
        ).rowcount
    if not deleted:
        raise NotFound("linked agent", agent_id)
