"""The reads behind the page and the terminal views, all through :meth:`MissionsClient.call`.

Each read returns a plain object with what a view shows and ``source``: the API objects it was
built from, whose digest tells a live page whether anything changed (times like "8 s ago" are
the browser's business, so a page is only re-sent when the data under it changed).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from .. import render as r
from ..catalogue import BY_NAME
from ..client import MissionsClient
from ..errors import NotFoundError
from . import facts as f

__all__ = [
    "EVENTS_PAGE",
    "MISSIONS_PAGE",
    "RUNS_PAGE",
    "MissionRow",
    "MissionsPage",
    "Reader",
    "RunView",
    "RunsPage",
    "Timeline",
    "digest",
]

MISSIONS_PAGE = 20
RUNS_PAGE = 25
EVENTS_PAGE = 50
"""Events per page of the timeline, as the events view (newest page first)."""
REASON_WINDOW = 200
"""Newest ``step_failed`` (then ``error``) events searched for the reason of a failed step."""
NAMES_PAGE = 1000


def digest(source: Any) -> str:
    """A short fingerprint of API objects: equal data, equal digest. ``repr`` rather than sorted
    JSON: the objects come decoded from the API's JSON, their keys in its order, and ``repr`` of
    2,000 plan steps costs a third of ``json.dumps(sort_keys=True)``."""
    return hashlib.blake2b(repr(source).encode("utf-8", "surrogatepass"), digest_size=9).hexdigest()


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _enclosing_page(first: int, last: int, size: int, cap: int = 1000) -> tuple[int, int]:
    """A page size (``size`` or more, at most ``cap``) and a page number whose page holds positions
    ``first``…``last`` (1-based), the smallest such size."""
    for per_page in range(size, cap + 1):
        number = (last - 1) // per_page + 1
        if (number - 1) * per_page + 1 <= first:
            return per_page, number
    return cap, (last - 1) // cap + 1  # unreachable while last - first < size <= cap


def _pages(total: int, size: int) -> int:
    return max(math.ceil(total / size), 1)


@dataclass
class MissionRow:
    mission: dict[str, Any]
    runs: int
    latest: dict[str, Any] | None


@dataclass
class MissionsPage:
    rows: list[MissionRow]
    page: int
    pages: int
    total: int
    source: Any = None


@dataclass
class RunsPage:
    runs: list[dict[str, Any]]
    names: dict[str, str]
    page: int
    pages: int
    total: int
    status: str | None
    mission: dict[str, Any] | None
    source: Any = None


@dataclass
class Timeline:
    """A window of a run's events (oldest first), by position in the (filtered) list: ``first``…``last``."""

    events: list[dict[str, Any]]
    total: int
    first: int
    last: int
    size: int
    type: str | None = None
    step: str | None = None

    @property
    def is_newest(self) -> bool:
        return self.last >= self.total

    @property
    def older(self) -> int | None:
        """``upto`` of the next older window, if any."""
        return self.first - 1 if self.first > 1 else None

    @property
    def newer(self) -> int | None:
        """``upto`` of the next newer window; ``0`` for the newest (no ``upto``); ``None`` when this is it."""
        if self.is_newest:
            return None
        upto = self.last + self.size
        return 0 if upto >= self.total else upto


@dataclass
class RunView:
    run: dict[str, Any]
    mission: dict[str, Any] | None
    steps: list[dict[str, Any]]
    timeline: Timeline
    agents: list[dict[str, Any]]
    newest_event: dict[str, Any] | None
    reasons: dict[str, str] = field(default_factory=dict)
    """Step id → why it failed, for the failed steps."""
    source: Any = None

    @cached_property
    def last_activity(self) -> str | None:
        newest = [self.newest_event] if self.newest_event else []
        return f.last_activity(self.run, self.steps, newest)


class Reader:
    """Reads of the Missions API for the views; every read is one or a few catalogue calls."""

    def __init__(self, client: MissionsClient):
        self.client = client

    async def data(self, name: str, **arguments: Any) -> Any:
        result = await self.client.call(BY_NAME[name], arguments)
        body = result.data
        return body.get("data") if isinstance(body, dict) and "data" in body else body

    async def page(self, name: str, **arguments: Any) -> tuple[list[dict[str, Any]], int]:
        """One page of a list and the list's total."""
        result = await self.client.call(BY_NAME[name], arguments)
        body = result.data if isinstance(result.data, dict) else {}
        items = [item for item in body.get("data") or [] if isinstance(item, dict)]
        meta = body.get("meta")
        total = meta.get("total_results") if isinstance(meta, dict) else None
        return items, int(total) if isinstance(total, int) else len(items)

    # ------------------------------------------------------------------ missions

    async def missions(self, page: int = 1, size: int = MISSIONS_PAGE) -> MissionsPage:
        missions, total = await self.page("list_missions", page=page, page_size=size)
        rows = []
        for mission in missions:
            latest, runs = await self.page("list_runs", mission_id=mission["mission_id"], page_size=1)
            rows.append(MissionRow(mission, runs, latest[0] if latest else None))
        source = [(row.mission, row.runs, row.latest) for row in rows], total
        return MissionsPage(rows, page, _pages(total, size), total, source)

    async def mission_names(self, ids: set[str]) -> dict[str, str]:
        """Names of the missions with these ids (one list read; a lookup each for any it missed)."""
        names: dict[str, str] = {}
        if not ids:
            return names
        missions, _ = await self.page("list_missions", page_size=NAMES_PAGE)
        names = {str(m.get("mission_id")): str(m.get("name", "")) for m in missions if str(m.get("mission_id")) in ids}
        for missing in ids - set(names):
            try:
                mission = await self.data("get_mission", mission_id=missing)
                names[missing] = str(mission.get("name", ""))
            except NotFoundError:
                pass
        return names

    # ------------------------------------------------------------------ runs

    async def runs(
        self, *, status: str | None = None, mission_id: str | None = None, page: int = 1, size: int = RUNS_PAGE
    ) -> RunsPage:
        mission = None
        if mission_id:
            mission = await self.data("get_mission", mission_id=mission_id)
            runs, total = await self.page("list_runs", mission_id=mission_id, status=status, page=page, page_size=size)
        else:
            runs, total = await self.page("list_recent_runs", status=status, page=page, page_size=size)
        names = await self.mission_names({str(run.get("mission_id")) for run in runs})
        return RunsPage(runs, names, page, _pages(total, size), total, status, mission, (runs, names, total, mission))

    async def find_run(self, run_id: str, mission_id: str | None = None) -> dict[str, Any]:
        """A run by its id or a unique prefix of it, in one mission or across all (newest first)."""
        prefix = run_id.strip().lower()
        hits: list[dict[str, Any]] = []
        page = 1
        while True:
            if mission_id:
                runs, total = await self.page("list_runs", mission_id=mission_id, page=page, page_size=NAMES_PAGE)
            else:
                runs, total = await self.page("list_recent_runs", page=page, page_size=NAMES_PAGE)
            for run in runs:
                rid = str(run.get("run_id", "")).lower()
                if rid == prefix:
                    return run
                if rid.startswith(prefix):
                    hits.append(run)
            if not runs or page * NAMES_PAGE >= total:
                break
            page += 1
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise LookupError(f"no run with id {run_id!r}" + (f" in mission {mission_id}" if mission_id else ""))
        raise LookupError(f"{len(hits)} runs have ids starting with {run_id!r}: give more of the id")

    async def window(
        self,
        mission_id: str,
        run_id: str,
        *,
        upto: int | None = None,
        type: str | None = None,
        step: str | None = None,
        size: int = EVENTS_PAGE,
    ) -> Timeline:
        """The ``size`` events ending at position ``upto`` (1-based, oldest first; ``None``: the newest)."""
        query = {"mission_id": mission_id, "run_id": run_id, "type": type, "step_id": step}
        events, total = await self.page("list_events", **query, page=1, page_size=size)
        last = total if upto is None else max(min(upto, total), 0)
        first = max(last - size + 1, 1)
        if last == 0:
            return Timeline([], total, 0, 0, size, type, step)
        # The API pages from the oldest end: read the window as one page of a size whose page
        # boundaries enclose it (a filtered read may cost a scan: one read, not two).
        per_page, number = _enclosing_page(first, last, size)
        if per_page == size and number == 1:
            page = events
        else:
            page, _ = await self.page("list_events", **query, page=number, page_size=per_page)
        start = first - ((number - 1) * per_page + 1)
        window = page[start : start + (last - first + 1)]
        return Timeline(window, total, first, first + len(window) - 1 if window else 0, size, type, step)

    async def events_after(
        self, mission_id: str, run_id: str, position: int, size: int = 200
    ) -> tuple[list[dict[str, Any]], int]:
        """Events after the first ``position`` ones (oldest first), and the run's event count."""
        ids = {"mission_id": mission_id, "run_id": run_id}
        out: list[dict[str, Any]] = []
        _, total = await self.page("list_events", **ids, page=1, page_size=1)
        at = position
        while at < total:
            number = at // size + 1
            events, total = await self.page("list_events", **ids, page=number, page_size=size)
            skip = at - (number - 1) * size
            fresh = events[skip:]
            if not fresh:
                break
            out += fresh
            at += len(fresh)
        return out, max(total, at)

    async def newest_event(self, mission_id: str, run_id: str) -> dict[str, Any] | None:
        ids = {"mission_id": mission_id, "run_id": run_id}
        _, total = await self.page("list_events", **ids, page=1, page_size=1)
        if not total:
            return None
        events, _ = await self.page("list_events", **ids, page=total, page_size=1)
        return events[-1] if events else None

    async def run(
        self,
        mission_id: str,
        run_id: str,
        *,
        type: str | None = None,
        step: str | None = None,
        upto: int | None = None,
        size: int = EVENTS_PAGE,
    ) -> RunView:
        ids = {"mission_id": mission_id, "run_id": run_id}
        run = await self.data("get_run", **ids)
        steps = [s for s in await self.data("get_plan", **ids) or [] if isinstance(s, dict)]
        timeline = await self.window(mission_id, run_id, upto=upto, type=type, step=step, size=size)
        if timeline.is_newest and not type and not step:
            newest = timeline.events[-1] if timeline.events else None
        else:
            newest = await self.newest_event(mission_id, run_id)
        agents = [a for a in await self.data("list_run_agents", **ids) or [] if isinstance(a, dict)]
        try:
            mission = await self.data("get_mission", mission_id=mission_id)
        except NotFoundError:
            mission = None
        reasons = await self._reasons(mission_id, run_id, steps, timeline.events)
        source = (
            run,
            mission,
            steps,
            [e.get("event_id") for e in timeline.events],
            timeline.total,
            newest and newest.get("event_id"),
            agents,
            reasons,
        )
        return RunView(run, mission, steps, timeline, agents, newest, reasons, source)

    async def _reasons(
        self, mission_id: str, run_id: str, steps: list[dict[str, Any]], shown: list[dict[str, Any]]
    ) -> dict[str, str]:
        """Why each failed step failed, by :func:`render.failure_reasons`: from the events shown, and
        if that leaves a failed step without one, from the newest ``step_failed`` and ``error`` events
        of the run too (one window of each, read through the type index)."""
        failed = [s for s in steps if s.get("status") == "failed"]
        if not failed:
            return {}
        reasons = r.failure_reasons(failed, shown)
        if len(reasons) == len(failed):
            return reasons
        events = list(shown)
        for kind in ("step_failed", "error"):
            events += (await self.window(mission_id, run_id, type=kind, size=REASON_WINDOW)).events
        events.sort(key=lambda e: f.parse_time(e.get("timestamp")) or _EPOCH)
        return r.failure_reasons(failed, events)
