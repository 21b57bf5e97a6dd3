"""``missions-mcp runs`` and ``missions-mcp show``: the runs and one run, in a terminal.

Same reads as the page (:class:`~.reads.Reader`), same words and marks as the Markdown views.
Agent text goes through :func:`~.facts.plain` first: a summary cannot move the cursor, recolour
the terminal or reverse the line (no control characters, no direction overrides).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from .. import render as r
from . import facts as f
from .feed import ChangeFeed
from .reads import Reader, RunView

__all__ = ["Follower", "list_runs", "run_text", "runs_table", "show_run", "width"]

SHOW_EVENTS = 20
"""Latest events printed by ``show``."""


def width(stream: TextIO | None = None) -> int:
    return max(shutil.get_terminal_size((100, 24)).columns, 40)


def _cell(text: str, size: int) -> str:
    text = f.plain(text, size)
    return text + " " * (size - len(text))


def _run_word(status: Any) -> str:
    return f"{f.run_mark(status)} {f.plain(status, 12)}"


def _took(run: Mapping[str, Any]) -> str:
    return f.elapsed(run) or "—"


def _outcome(run: Mapping[str, Any]) -> str:
    if run.get("error"):
        return "error: " + str(run["error"])
    return str(run.get("result_summary") or "")


def runs_table(runs: list[dict[str, Any]], names: Mapping[str, str], columns: int) -> list[str]:
    """Rows of the runs table, each at most ``columns`` characters wide."""
    id_size = 36 if columns >= 150 else 8
    fixed = [("RUN", id_size), ("STATUS", 11), ("STARTED", 20), ("TOOK", 12)]
    if columns < 80:
        fixed = [("RUN", 8), ("STATUS", 11), ("TOOK", 12)]
    gaps = 2 * (len(fixed) + 1)
    left = max(columns - sum(size for _, size in fixed) - gaps, 10)
    mission = min(max(left // 3, 8), 32)
    result = left - mission
    layout = [*fixed[:2], ("MISSION", mission), *fixed[2:], ("RESULT", result)]
    lines = ["  ".join(_cell(title, size) for title, size in layout).rstrip()]
    for run in runs:
        values = {
            "RUN": str(run.get("run_id", ""))[:id_size],
            "STATUS": _run_word(run.get("status")),
            "MISSION": names.get(str(run.get("mission_id")), "?"),
            "STARTED": r.when(run.get("started_at")),
            "TOOK": _took(run),
            "RESULT": _outcome(run),
        }
        lines.append("  ".join(_cell(values[title], size) for title, size in layout).rstrip())
    return lines


def _step_line(
    depth: int, step: Mapping[str, Any], view: RunView, focus: Mapping[str, Any] | None, why: str, columns: int
) -> list[str]:
    status = step.get("status")
    timing = ""
    if step.get("completed_at"):
        timing = r.duration(step.get("started_at"), step.get("completed_at")) or ""
    elif step.get("started_at"):
        timing = f"since {r.when(step.get('started_at'))}"
    here = ("  ← current" if why == "current" else "  ← stopped here") if focus is step else ""
    head = f"{'  ' * depth}{f.step_mark(status)} {f.plain(step.get('step_id'), 40)} "
    tail = f"  {timing}{here}" if timing or here else ""
    room = max(columns - len(head) - len(tail), 10)
    lines = [f"{head}{f.plain(step.get('description'), room)}{tail}"]
    if status == "failed":
        reason = view.reasons.get(str(step.get("step_id")))
        pad = "  " * depth + "    "
        told = f.plain(reason, max(columns - len(pad) - 12, 10)) if reason else "none reported"
        lines.append(f"{pad}└ reason: {told}")
    return lines


def event_lines(entries: list[f.Entry], columns: int) -> list[str]:
    out = []
    for entry in entries:
        out.append(_event_line(entry.event, columns))
        if entry.result is not None:
            out.append("  ↳ " + _event_line(entry.result, columns - 4))
    return out


def _event_line(event: Mapping[str, Any], columns: int) -> str:
    parsed = f.parse_time(event.get("timestamp"))
    clock = parsed.strftime("%H:%M:%S") if parsed else "--:--:--"
    parts = [clock, f"{f.plain(event.get('type'), 14):<13}"]
    if event.get("step_id"):
        parts.append(f.plain(event["step_id"], 20))
    if event.get("agent_id"):
        parts.append(f"agent {f.plain(event['agent_id'], 20)}")
    head = " ".join(parts) + " "
    text = f.plain(event.get("summary"), max(columns - len(head), 10))
    if event.get("payload") not in (None, {}):
        text += " ▸ payload"
    return head + text


def run_text(view: RunView, columns: int) -> list[str]:
    run, mission = view.run, view.mission
    name = f.plain(mission.get("name"), 60) if mission else "unknown mission"
    took = f"took {f.elapsed(run)}" if run.get("status") in f.FINISHED else f"running for {f.elapsed(run) or '—'}"
    lines = [
        f"{name} › run {f.plain(run.get('run_id'), 40)}",
        (
            f"{_run_word(run.get('status')).upper()} · started {r.when(run.get('started_at'))} · {took} · "
            f"last activity {r.when(view.last_activity)}"
        ),
    ]
    counts = r.progress(view.steps)
    if counts["total"]:
        done = counts["completed"] + counts["skipped"]
        bar_size = 20
        filled = round(bar_size * done / counts["total"])
        lines.append(f"{'▓' * filled}{'░' * (bar_size - filled)}  {r.progress_line(counts)}")
    if run.get("result_summary"):
        lines.append(f"Result: {f.plain(run['result_summary'], max(columns - 8, 20))}")
    if run.get("error"):
        lines.append(f"Error: {f.plain(run['error'], max(columns - 7, 20))}")
    lines += ["", "Plan"]
    focus, why = f.focus_step(run, view.steps)
    if not view.steps:
        lines.append("  no plan yet")
    for depth, step in f.plan_order(view.steps):
        lines += _step_line(depth + 1, step, view, focus, why, columns)
    tl = view.timeline
    lines += ["", f"Latest events ({len(tl.events)} of {tl.total})" if tl.total else "No events yet"]
    lines += event_lines(f.pair_tool_calls(tl.events), columns)
    if view.agents:
        lines += ["", "Linked agents: " + ", ".join(f.plain(a.get("telnyx_agent_id"), 40) for a in view.agents)]
    return lines


# --------------------------------------------------------------------------- the commands


def _print(lines: list[str], out: TextIO) -> None:
    out.write("\n".join(lines) + "\n")
    out.flush()


async def list_runs(
    reader: Reader,
    *,
    status: str | None,
    mission_id: str | None,
    page: int,
    page_size: int,
    as_json: bool,
    out: TextIO = sys.stdout,
) -> None:
    data = await reader.runs(status=status, mission_id=mission_id, page=page, size=page_size)
    if as_json:
        runs = [{**run, "mission_name": data.names.get(str(run.get("mission_id")))} for run in data.runs]
        out.write(
            json.dumps({"runs": runs, "page": data.page, "pages": data.pages, "total": data.total}, ensure_ascii=False)
            + "\n"
        )
        return
    if not data.runs:
        _print(["No runs" + (f" with status {status}" if status else "") + "."], out)
        return
    lines = runs_table(data.runs, data.names, width(out))
    if data.pages > 1:
        lines.append(
            f"page {data.page} of {data.pages} ({data.total} runs, newest first)"
            + (f"; --page {data.page + 1} for older" if data.page < data.pages else "")
        )
    _print(lines, out)


@dataclass
class Follower:
    """Prints what changes in a run until it finishes: new events, step changes, status changes."""

    reader: Reader
    feed: ChangeFeed
    mission_id: str
    run_id: str
    as_json: bool
    out: TextIO

    async def follow(self, view: RunView, version: int) -> None:
        """Continue from ``view``, read at feed version ``version``."""
        seen = view.timeline.total
        steps = {str(s.get("step_id")): s.get("status") for s in view.steps}
        status = view.run.get("status")
        columns = width(self.out)
        while status not in f.FINISHED:
            version = await self.feed.wait(version)
            run = await self.reader.data("get_run", mission_id=self.mission_id, run_id=self.run_id)
            plan = await self.reader.data("get_plan", mission_id=self.mission_id, run_id=self.run_id) or []
            events, seen = await self.reader.events_after(self.mission_id, self.run_id, seen)
            lines: list[str] = []
            records: list[dict[str, Any]] = []
            for entry in f.pair_tool_calls(events):
                lines += event_lines([entry], columns)
                records.append({"event": entry.event})
                if entry.result is not None:
                    records.append({"event": entry.result})
            for _, step in f.plan_order(plan):
                key = str(step.get("step_id"))
                if steps.get(key) != step.get("status"):
                    steps[key] = step.get("status")
                    lines.append(
                        f"         step {f.plain(key, 40)} {f.step_mark(step.get('status'))} "
                        f"{f.plain(step.get('status'), 12)}: {f.plain(step.get('description'), 60)}"
                    )
                    records.append({"step": step})
            if run.get("status") != status:
                status = run.get("status")
                outcome = _outcome(run) if status in f.FINISHED else ""
                told = f": {f.plain(outcome, max(columns - 30, 20))}" if outcome else ""
                lines.append(f"         run {_run_word(status).upper()}{told}")
                records.append({"run": run})
            if self.as_json:
                for record in records:
                    self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.out.flush()
            elif lines:
                _print(lines, self.out)


async def show_run(
    reader: Reader,
    feed: ChangeFeed,
    run_id: str,
    *,
    mission_id: str | None,
    follow: bool,
    as_json: bool,
    events: int = SHOW_EVENTS,
    out: TextIO = sys.stdout,
) -> None:
    found = await reader.find_run(run_id, mission_id)
    mid, rid = str(found["mission_id"]), str(found["run_id"])
    version = feed.current()  # taken before the read: a change during it is not missed
    view = await reader.run(mid, rid, size=events)
    if as_json:
        out.write(
            json.dumps(
                {
                    "run": view.run,
                    "mission": view.mission,
                    "steps": view.steps,
                    "events": view.timeline.events,
                    "total_events": view.timeline.total,
                    "agents": view.agents,
                    "last_activity": view.last_activity,
                    "failure_reasons": view.reasons,
                },
                ensure_ascii=False,
            )
            + "\n"
        )
        out.flush()
    else:
        _print(run_text(view, width(out)), out)
    if follow and view.run.get("status") not in f.FINISHED:
        if not as_json:
            _print(["", "following; Ctrl-C to stop"], out)
        await Follower(reader, feed, mid, rid, as_json, out).follow(view, version)
