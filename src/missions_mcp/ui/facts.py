"""What a person needs to know about a run, read off API objects (plain dicts): pure functions.

The page and the terminal say the same things in the same words as the Markdown views
(:mod:`missions_mcp.render`: step marks, ``when``, ``duration``); what the views do not compute
(the last activity of a run, where a finished run stopped, why a step failed, a tool call with its
result) is computed here, once, for both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .. import render as r

__all__ = [
    "FINISHED",
    "RUN_MARKS",
    "STEP_MARKS",
    "Entry",
    "StepNode",
    "elapsed",
    "failure_reason",
    "focus_step",
    "last_activity",
    "latest",
    "pair_tool_calls",
    "parse_time",
    "plain",
    "plan_order",
    "plan_tree",
    "pretty_json",
    "run_mark",
    "step_mark",
]

FINISHED = r.FINISHED
"""Run statuses a run never leaves."""

RUN_MARKS: dict[str, str] = {
    "pending": "○",
    "running": "◐",
    "paused": "‖",
    "succeeded": "✔",
    "failed": "✖",
    "cancelled": "⊘",
}
"""A shape for each run status, shown next to its word (status is never told by colour alone)."""

STEP_MARKS = r.MARKS
"""The checklist marks of the Markdown views: ``[x]`` completed, ``[~]`` in progress, ``[!]`` failed…"""

CALL_KEYS = ("tool_call_id", "call_id", "id")
"""Payload keys that tie a ``tool_result`` to its ``tool_call`` when both carry one."""


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def run_mark(status: Any) -> str:
    return RUN_MARKS.get(str(status), "?")


def step_mark(status: Any) -> str:
    return STEP_MARKS.get(str(status), "[?]")


def elapsed(run: Mapping[str, Any], now: datetime | None = None) -> str | None:
    """How long the run took (finished) or has been going (not finished), in the views' words."""
    now = now or datetime.now(UTC)
    end = run.get("finished_at") if run.get("status") in FINISHED else None
    return r.duration(run.get("started_at"), end or now.isoformat())


def latest(stamps: Iterable[Any]) -> str | None:
    """The latest of ISO timestamps (as given), ignoring what is not one.

    A plan of 2,000 steps has 4,000 of them: stamps of one shape (same length, same zone) compare
    as text, so only the latest of each shape is parsed."""
    heads: dict[tuple[int, str], str] = {}
    for stamp in stamps:
        if not isinstance(stamp, str) or len(stamp) < 10:
            continue
        shape = (len(stamp), stamp[-6:] if stamp[-6] in "+-" else stamp[-1])
        best = heads.get(shape)
        if best is None or stamp > best:
            heads[shape] = stamp
    parsed = [(t, s) for s in heads.values() if (t := parse_time(s)) is not None]
    return max(parsed)[1] if parsed else None


def last_activity(
    run: Mapping[str, Any], steps: Iterable[Mapping[str, Any]] = (), events: Iterable[Mapping[str, Any]] = ()
) -> str | None:
    """The latest moment anything happened in the run: its own update, a step's start or end, an event
    (:func:`render.last_activity`, computed faster for plans of thousands of steps)."""
    stamps: list[Any] = [run.get("updated_at"), run.get("started_at"), run.get("finished_at")]
    for step in steps:
        stamps += (step.get("started_at"), step.get("completed_at"))
    stamps += [event.get("timestamp") for event in events]
    return latest(stamps)


def plan_order(steps: Sequence[Mapping[str, Any]]) -> list[tuple[int, Mapping[str, Any]]]:
    """:func:`render.plan_order` for any sequence of steps."""
    return r.plan_order(list(steps))


def focus_step(
    run: Mapping[str, Any], steps: Sequence[Mapping[str, Any]], order: list[tuple[int, Mapping[str, Any]]] | None = None
) -> tuple[Mapping[str, Any] | None, str]:
    """The step a person looks at first, and why: ``("current", step)`` while the run is at work
    (:func:`render.current_step`); once it has finished, where it stopped (:func:`render.stopped_at`),
    never "current" for a finished run."""
    if run.get("status") in FINISHED:
        return r.stopped_at(steps), "stopped"
    ordered = [step for _, step in (plan_order(steps) if order is None else order)]
    active = [s for s in ordered if s.get("status") == "in_progress"]
    return (active[-1] if active else None), "current"  # render.current_step, on the order already made


def failure_reason(step: Mapping[str, Any], events: Iterable[Mapping[str, Any]] = ()) -> str | None:
    """Why a failed step failed, as the Markdown views say it (:func:`render.failure_reasons`): its
    metadata's ``error``/``reason``, else its newest ``error`` or ``step_failed`` event (events oldest first)."""
    return r.failure_reasons([{**step, "status": "failed"}], events).get(str(step.get("step_id")))


@dataclass
class StepNode:
    step: Mapping[str, Any]
    depth: int
    children: list[StepNode] = field(default_factory=list)


def plan_tree(steps: Sequence[Mapping[str, Any]]) -> list[StepNode]:
    """The plan as a tree in the views' order (:func:`render.plan_order`): every step exactly once."""
    roots: list[StepNode] = []
    stack: list[StepNode] = []
    for depth, step in plan_order(steps):
        node = StepNode(step, depth)
        del stack[depth:]
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    return roots


@dataclass
class Entry:
    """A line of the timeline: an event, and for a ``tool_call`` the ``tool_result`` that answered it."""

    event: Mapping[str, Any]
    result: Mapping[str, Any] | None = None
    answers_older_call: bool = False
    """A ``tool_result`` whose call is not among the events shown (an older page, or filtered out)."""


def _call_key(event: Mapping[str, Any]) -> str | None:
    payload = event.get("payload")
    if isinstance(payload, Mapping):
        for key in CALL_KEYS:
            value = payload.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                return str(value)
    return None


def pair_tool_calls(events: Sequence[Mapping[str, Any]]) -> list[Entry]:
    """Events oldest first → entries oldest first, each ``tool_result`` folded into its ``tool_call``:
    the call with the same id in the payload (``tool_call_id``, ``call_id``, ``id``) if both carry
    one, else the latest unanswered call of the same step and agent before it."""
    entries: list[Entry] = []
    open_calls: list[Entry] = []
    for event in events:
        kind = event.get("type")
        if kind == "tool_call":
            entry = Entry(event)
            entries.append(entry)
            open_calls.append(entry)
            continue
        if kind == "tool_result":
            call = _match(open_calls, event)
            if call is not None:
                call.result = event
                open_calls.remove(call)
                continue
            entries.append(Entry(event, answers_older_call=True))
            continue
        entries.append(Entry(event))
    return entries


def _match(open_calls: list[Entry], result: Mapping[str, Any]) -> Entry | None:
    key = _call_key(result)
    if key is not None:
        for call in open_calls:
            if _call_key(call.event) == key:
                return call
    where = (result.get("step_id"), result.get("agent_id"))
    for call in reversed(open_calls):
        if (call.event.get("step_id"), call.event.get("agent_id")) == where and (
            key is None or _call_key(call.event) is None
        ):
            return call
    return None


# Terminal text must not carry what a terminal obeys: C0 and C1 controls (ESC, CSI), DEL, and the
# bidirectional overrides that can make text read differently from what it is.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


def plain(text: Any, limit: int | None = None) -> str:
    """Agent text for a terminal: one line, every control character and direction override gone."""
    line = " ".join(_UNSAFE.sub(" ", str(text)).split())
    if limit is not None and len(line) > limit:
        line = line[: max(limit - 1, 0)].rstrip() + "…"
    return line


def pretty_json(value: Any) -> str:
    """A payload as indented JSON (for a folded block: a person reads it, nothing parses it)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False, default=str)
