"""Resources: the ``missions://`` views of missions, runs, plans and events (list, templates, read).

Every view is read from the Missions API through :meth:`MissionsClient.call` (the one path to the
data) and rendered by :mod:`missions_mcp.render`. URIs::

    missions://missions/{mission_id}                              the mission and its latest runs
    missions://missions/{mission_id}/runs/{run_id}                 the run at a glance
    missions://missions/{mission_id}/runs/{run_id}/plan            the plan, a Markdown checklist
    missions://missions/{mission_id}/runs/{run_id}/plan.json       the same plan as a JSON tree
    missions://missions/{mission_id}/runs/{run_id}/events{?page}   the newest 50 events, or page N
    missions://runs/recent                                        runs of all missions, newest first
    missions://events/recent                                      events of all runs, newest first
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import mcp_types as types
from mcp.shared.exceptions import MCPError

from . import render as r
from .catalogue import BY_NAME
from .client import MissionsClient
from .errors import ArgumentError, MissionsError, NotFoundError

__all__ = [
    "Resources",
    "ViewRef",
    "parse_uri",
    "run_uri",
    "mission_uri",
    "fetch",
    "fetch_page",
    "TEMPLATES",
    "RECENT_RUNS_URI",
    "RECENT_EVENTS_URI",
    "EVENTS_PAGE",
    "UNEXPECTED_SHAPE",
    "SHAPE_MESSAGE",
]

logger = logging.getLogger(__name__)

EVENTS_PAGE = 50
"""Events per page of the events view (the newest page without ``?page``)."""
RUN_EVENTS = 5
MISSION_RUNS = 10
RECENT_RUNS = 20
LISTED_RUNS = 10
"""Runs whose run, plan and events views ``resources/list`` offers."""
FAILURE_EVENTS = 100
"""Error events read to tell why a step failed."""
MARKDOWN, JSON_MIME = "text/markdown", "application/json"

RECENT_RUNS_URI = "missions://runs/recent"
RECENT_EVENTS_URI = "missions://events/recent"
_BASE = "missions://missions/{mission_id}"
_RUN = _BASE + "/runs/{run_id}"

TEMPLATES: tuple[types.ResourceTemplate, ...] = (
    types.ResourceTemplate(
        name="mission",
        title="Mission",
        uri_template=_BASE,
        mime_type=MARKDOWN,
        description="A mission's definition and its most recent runs.",
    ),
    types.ResourceTemplate(
        name="run",
        title="Run",
        uri_template=_RUN,
        mime_type=MARKDOWN,
        description="A run at a glance: status, progress, current step, last events, result or error, timings.",
    ),
    types.ResourceTemplate(
        name="plan",
        title="Plan",
        uri_template=_RUN + "/plan",
        mime_type=MARKDOWN,
        description="A run's plan as a nested checklist: [x] completed, [ ] pending, "
        "[~] in progress, [-] skipped, [!] failed.",
    ),
    types.ResourceTemplate(
        name="plan.json",
        title="Plan (JSON)",
        uri_template=_RUN + "/plan.json",
        mime_type=JSON_MIME,
        description="A run's plan as a JSON tree with progress counts.",
    ),
    types.ResourceTemplate(
        name="events",
        title="Events",
        uri_template=_RUN + "/events{?page}",
        mime_type=MARKDOWN,
        description=f"A run's event timeline: the newest {EVENTS_PAGE} events, or page N "
        f"({EVENTS_PAGE} per page, oldest first) with ?page=N.",
    ),
)
_STATIC: tuple[types.Resource, ...] = (
    types.Resource(
        uri=RECENT_RUNS_URI,
        name="recent runs",
        title="Recent runs",
        mime_type=MARKDOWN,
        description=f"The {RECENT_RUNS} newest runs of all missions.",
    ),
    types.Resource(
        uri=RECENT_EVENTS_URI,
        name="recent events",
        title="Recent events",
        mime_type=MARKDOWN,
        description=f"The {EVENTS_PAGE} newest events of all runs.",
    ),
)

_URI = re.compile(
    r"missions://missions/(?P<mission_id>[^/?#]+)"
    r"(?:/runs/(?P<run_id>[^/?#]+)(?P<view>/plan\.json|/plan|/events(?:\?page=(?P<page>[1-9]\d{0,8}))?)?)?"
)


# --------------------------------------------------------------------------- URIs


@dataclass(frozen=True, slots=True)
class ViewRef:
    kind: str
    """``mission``, ``run``, ``plan``, ``plan.json``, ``events``, ``recent_runs`` or ``recent_events``."""
    mission_id: str = ""
    run_id: str = ""
    page: int | None = None

    @property
    def source(self) -> tuple[str, ...]:
        """What the view is built from: views with one source change together."""
        if self.run_id:
            return ("run", self.mission_id, self.run_id)
        if self.mission_id:
            return ("mission", self.mission_id)
        return (self.kind,)


def parse_uri(uri: str) -> ViewRef | None:
    if uri == RECENT_RUNS_URI:
        return ViewRef("recent_runs")
    if uri == RECENT_EVENTS_URI:
        return ViewRef("recent_events")
    match = _URI.fullmatch(uri)
    if match is None:
        return None
    mission_id, run_id = unquote(match["mission_id"]), unquote(match["run_id"] or "")
    view = (match["view"] or "").split("?")[0].lstrip("/")
    kind = view or ("run" if run_id else "mission")
    return ViewRef(kind, mission_id, run_id, int(match["page"]) if match["page"] else None)


def mission_uri(mission_id: str) -> str:
    return f"missions://missions/{mission_id}"


def run_uri(mission_id: str, run_id: str, view: str = "") -> str:
    return f"missions://missions/{mission_id}/runs/{run_id}" + (f"/{view}" if view else "")


UNEXPECTED_SHAPE = (TypeError, AttributeError, KeyError, IndexError, ValueError)
"""What rendering raises when an answer is not shaped as the contract says (a list for an object…)."""
SHAPE_MESSAGE = (
    "the Missions API answered with a shape this server does not understand (not the contract's). "
    "The tools still show the raw answers."
)


def not_found(uri: str, why: str) -> MCPError:
    return MCPError(types.INVALID_PARAMS, f"Resource not found: {uri}. {why}", data={"uri": uri})


# --------------------------------------------------------------------------- reads from the API


async def fetch(client: MissionsClient, name: str, **arguments: Any) -> Any:
    """The ``data`` of one API answer (a run, a plan's steps…)."""
    result = await client.call(BY_NAME[name], arguments)
    return result.data["data"] if isinstance(result.data, dict) and "data" in result.data else result.data


async def fetch_page(
    client: MissionsClient, name: str, **arguments: Any
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One page of a list operation: its items and its ``meta``."""
    result = await client.call(BY_NAME[name], arguments)
    body = result.data if isinstance(result.data, dict) else {}
    items, meta = body.get("data") or [], body.get("meta") or {}
    if not isinstance(items, list) or not isinstance(meta, dict):
        raise TypeError(f"{name}: data is not a list or meta not an object")
    return [item for item in items if isinstance(item, dict)], meta


async def tail_events(client: MissionsClient, mission_id: str, run_id: str, n: int) -> tuple[list[dict[str, Any]], int]:
    """The newest ``n`` events of a run, oldest first, and the run's event count."""
    ids = {"mission_id": mission_id, "run_id": run_id}
    first, meta = await fetch_page(client, "list_events", **ids, page=1, page_size=n)
    total = int(meta.get("total_results", len(first)))
    if total <= n:
        return first, total
    last = math.ceil(total / n)
    events, _ = await fetch_page(client, "list_events", **ids, page=last, page_size=n)
    if len(events) < n and last > 1:
        before, _ = await fetch_page(client, "list_events", **ids, page=last - 1, page_size=n)
        events = before + events
    return events[-n:], total


# --------------------------------------------------------------------------- the capability


class Resources:
    """``resources/list``, ``resources/templates/list`` and ``resources/read`` over the API."""

    def __init__(self, client: MissionsClient):
        self.client = client

    async def list_templates(self, ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=list(TEMPLATES))

    async def list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        resources = list(_STATIC)
        try:
            runs, _ = await fetch_page(self.client, "list_recent_runs", page_size=LISTED_RUNS)
        except (MissionsError, *UNEXPECTED_SHAPE) as exc:
            logger.warning("resources/list: the recent runs could not be read: %s", type(exc).__name__)
            runs = []
        names = await self._mission_names() if runs else {}
        for run in runs:
            mid, rid, status = str(run.get("mission_id")), str(run.get("run_id")), r.clip(run.get("status"), 20)
            mission = r.clip(names.get(mid) or mid[:8], 60)
            started = r.when(run.get("started_at"))
            for view, title in (("", "Run"), ("plan", "Plan"), ("events", "Events")):
                resources.append(
                    types.Resource(
                        uri=run_uri(mid, rid, view),
                        name=f"{view or 'run'} {rid}",
                        mime_type=MARKDOWN,
                        title=f"{title} of run {rid[:8]} of {mission} ({status}, started {started})",
                    )
                )
        return types.ListResourcesResult(resources=resources)

    async def read_resource(self, ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        text, mime = await self.read(uri)
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])

    async def read(self, uri: str) -> tuple[str, str]:
        """The text and MIME type of a view; :class:`MCPError` for an unknown view or failed read."""
        ref = parse_uri(uri)
        if ref is None:
            raise not_found(
                uri,
                "This server serves missions:// views: missions://runs/recent, "
                "missions://events/recent and " + ", ".join(t.uri_template for t in TEMPLATES) + ".",
            )
        try:
            return await self._render(ref)
        except (NotFoundError, ArgumentError) as exc:
            raise not_found(uri, str(exc)) from None
        except MissionsError as exc:
            raise MCPError(types.INTERNAL_ERROR, f"Could not read {uri}: {exc}") from None
        except UNEXPECTED_SHAPE as exc:
            logger.warning("%s: the API's answer has an unexpected shape: %s", uri, type(exc).__name__)
            raise MCPError(types.INTERNAL_ERROR, f"Could not read {uri}: {SHAPE_MESSAGE}") from None

    async def _render(self, ref: ViewRef) -> tuple[str, str]:
        if ref.kind == "recent_runs":
            return await self._recent_runs(), MARKDOWN
        if ref.kind == "recent_events":
            return await self._recent_events(), MARKDOWN
        if ref.kind == "mission":
            return await self._mission_view(ref.mission_id), MARKDOWN
        if ref.kind == "events":
            return await self._events_view(ref), MARKDOWN
        return await self._run_view(ref)

    async def _run_view(self, ref: ViewRef) -> tuple[str, str]:
        """The run, plan and plan.json views: the run, its plan and its mission (if it still exists)."""
        ids = {"mission_id": ref.mission_id, "run_id": ref.run_id}
        run = await fetch(self.client, "get_run", **ids)
        steps = await fetch(self.client, "get_plan", **ids)
        mission = await self._mission_or_none(ref.mission_id)
        reasons = await self._failure_reasons(ids, steps)
        if ref.kind == "plan":
            return r.plan_markdown(mission, run, steps, reasons), MARKDOWN
        if ref.kind == "plan.json":
            return r.dumps(r.plan_json(mission, run, steps, reasons)), JSON_MIME
        events, total = await tail_events(self.client, ref.mission_id, ref.run_id, RUN_EVENTS)
        return r.run_markdown(mission, run, steps, events, total, reasons), MARKDOWN

    async def _failure_reasons(self, ids: dict[str, str], steps: list[dict[str, Any]]) -> dict[str, str]:
        """Why the failed steps failed: their metadata, else their error events (read only when one failed)."""
        if not any(isinstance(s, dict) and s.get("status") == "failed" for s in steps):
            return {}
        errors, _ = await fetch_page(self.client, "list_events", **ids, type="error", page_size=FAILURE_EVENTS)
        failed, _ = await fetch_page(self.client, "list_events", **ids, type="step_failed", page_size=FAILURE_EVENTS)
        in_order = sorted(errors + failed, key=lambda e: str(e.get("timestamp") or ""))
        return r.failure_reasons(steps, in_order)

    async def _mission_or_none(self, mission_id: str) -> dict[str, Any] | None:
        try:
            mission: dict[str, Any] = await fetch(self.client, "get_mission", mission_id=mission_id)
            return mission
        except NotFoundError:
            return None

    async def _mission_view(self, mission_id: str) -> str:
        mission = await fetch(self.client, "get_mission", mission_id=mission_id)
        runs, meta = await fetch_page(self.client, "list_runs", mission_id=mission_id, page_size=MISSION_RUNS)
        return r.mission_markdown(mission, runs, int(meta.get("total_results", len(runs))))

    async def _events_view(self, ref: ViewRef) -> str:
        ids = {"mission_id": ref.mission_id, "run_id": ref.run_id}
        await fetch(self.client, "get_run", **ids)  # an unknown run is "not found", not an empty timeline
        if ref.page is None:
            events, total = await tail_events(self.client, ref.mission_id, ref.run_id, EVENTS_PAGE)
            first = total - len(events) + 1
        else:
            events, meta = await fetch_page(self.client, "list_events", **ids, page=ref.page, page_size=EVENTS_PAGE)
            total = int(meta.get("total_results", len(events)))
            first = (ref.page - 1) * EVENTS_PAGE + 1
        return r.events_markdown(
            run_uri(ref.mission_id, ref.run_id, "events"), ref.run_id, events, first, total, ref.page, EVENTS_PAGE
        )

    async def _mission_names(self) -> dict[str, str]:
        """Mission id → name, of the 100 newest missions; empty when they cannot be read."""
        try:
            missions, _ = await fetch_page(self.client, "list_missions", page_size=100)
        except (MissionsError, *UNEXPECTED_SHAPE) as exc:
            logger.info("mission names unavailable: %s", type(exc).__name__)
            return {}
        return {str(m.get("mission_id")): str(m.get("name", "")) for m in missions}

    async def _recent_runs(self) -> str:
        runs, meta = await fetch_page(self.client, "list_recent_runs", page_size=RECENT_RUNS)
        names = await self._mission_names()
        return r.recent_runs_markdown(runs, int(meta.get("total_results", len(runs))), names)

    async def _recent_events(self) -> str:
        events, meta = await fetch_page(self.client, "list_recent_events", page_size=EVENTS_PAGE)
        return r.recent_events_markdown(events, int(meta.get("total_results", len(events))))
