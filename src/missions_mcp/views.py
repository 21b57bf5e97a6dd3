"""Plan and event views: MCP resources, argument completions and change subscriptions.

Every view is read from the Missions API through :meth:`MissionsClient.call` (the one path to the
data) and rendered by :mod:`missions_mcp.render`. URIs::

    missions://missions/{mission_id}                              the mission and its latest runs
    missions://missions/{mission_id}/runs/{run_id}                 the run at a glance
    missions://missions/{mission_id}/runs/{run_id}/plan            the plan, a Markdown checklist
    missions://missions/{mission_id}/runs/{run_id}/plan.json       the same plan as a JSON tree
    missions://missions/{mission_id}/runs/{run_id}/events{?page}   the newest 50 events, or page N
    missions://runs/recent                                        runs of all missions, newest first
    missions://events/recent                                      events of all runs, newest first

Subscribers hear ``notifications/resources/updated`` when a tool call through this server changes
what a view shows: on the 2025-11-25 wire to the connections that sent ``resources/subscribe``,
on the 2026-07-28 wire through the ``subscriptions/listen`` streams (a :class:`ListenHandler` on an
in-process bus). With ``watch_interval`` > 0 a background task also polls the subscribed views and
notifies when their fingerprint changes (changes made by another agent or on the hosted API).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourcesListChanged, ResourceUpdated
from mcp.shared.exceptions import MCPError

from . import render as r
from .catalogue import BY_NAME, Operation
from .client import ApiResult
from .errors import ArgumentError, MissionsError, NotFoundError

if TYPE_CHECKING:
    from .server import MissionsServer

__all__ = ["Views", "ViewRef", "register_views", "parse_uri", "run_uri", "mission_uri", "TEMPLATES",
           "RECENT_RUNS_URI", "RECENT_EVENTS_URI", "EVENTS_PAGE"]

logger = logging.getLogger(__name__)

EVENTS_PAGE = 50
"""Events per page of the events view (the newest page without ``?page``)."""
RUN_EVENTS = 5
MISSION_RUNS = 10
RECENT_RUNS = 20
LISTED_RUNS = 10
"""Runs whose run, plan and events views ``resources/list`` offers."""
MAX_COMPLETIONS = 100
MARKDOWN, JSON_MIME = "text/markdown", "application/json"

RECENT_RUNS_URI = "missions://runs/recent"
RECENT_EVENTS_URI = "missions://events/recent"
_BASE = "missions://missions/{mission_id}"
_RUN = _BASE + "/runs/{run_id}"

TEMPLATES: tuple[types.ResourceTemplate, ...] = (
    types.ResourceTemplate(name="mission", title="Mission", uri_template=_BASE, mime_type=MARKDOWN,
                           description="A mission's definition and its most recent runs."),
    types.ResourceTemplate(name="run", title="Run", uri_template=_RUN, mime_type=MARKDOWN,
                           description="A run at a glance: status, progress, current step, last events, "
                                       "result or error, timings."),
    types.ResourceTemplate(name="plan", title="Plan", uri_template=_RUN + "/plan", mime_type=MARKDOWN,
                           description="A run's plan as a nested checklist: [x] completed, [ ] pending, "
                                       "[~] in progress, [-] skipped, [!] failed."),
    types.ResourceTemplate(name="plan.json", title="Plan (JSON)", uri_template=_RUN + "/plan.json",
                           mime_type=JSON_MIME, description="A run's plan as a JSON tree with progress counts."),
    types.ResourceTemplate(name="events", title="Events", uri_template=_RUN + "/events{?page}", mime_type=MARKDOWN,
                           description=f"A run's event timeline: the newest {EVENTS_PAGE} events, or page N "
                                       f"({EVENTS_PAGE} per page, oldest first) with ?page=N."),
)
_STATIC: tuple[types.Resource, ...] = (
    types.Resource(uri=RECENT_RUNS_URI, name="recent runs", title="Recent runs", mime_type=MARKDOWN,
                   description=f"The {RECENT_RUNS} newest runs of all missions."),
    types.Resource(uri=RECENT_EVENTS_URI, name="recent events", title="Recent events", mime_type=MARKDOWN,
                   description=f"The {EVENTS_PAGE} newest events of all runs."),
)

_URI = re.compile(
    r"missions://missions/(?P<mission_id>[^/?#]+)"
    r"(?:/runs/(?P<run_id>[^/?#]+)(?P<view>/plan\.json|/plan|/events(?:\?page=(?P<page>[1-9]\d{0,8}))?)?)?"
)


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


def _not_found(uri: str, why: str) -> MCPError:
    return MCPError(types.INVALID_PARAMS, f"Resource not found: {uri}. {why}")


class Views:
    """The resources, completions and subscriptions of one :class:`MissionsServer`."""

    def __init__(self, missions: MissionsServer):
        self.missions = missions
        self.bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self.bus)
        self._legacy: dict[str, dict[int, Any]] = {}
        """URI → connection id → the ``ServerSession`` of its ``resources/subscribe`` (2025-11-25)."""
        self._listening: dict[str, int] = {}
        """URI → number of open ``subscriptions/listen`` streams asking for it (2026-07-28)."""
        self._fingerprints: dict[tuple[str, ...], Any] = {}
        self._last_poll = -math.inf

    # ------------------------------------------------------------------ API access

    async def _get(self, name: str, **arguments: Any) -> Any:
        result: ApiResult = await self.missions.client.call(BY_NAME[name], arguments)
        return result.data["data"] if isinstance(result.data, dict) and "data" in result.data else result.data

    async def _page(self, name: str, **arguments: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        result = await self.missions.client.call(BY_NAME[name], arguments)
        body = result.data if isinstance(result.data, dict) else {}
        return list(body.get("data") or []), dict(body.get("meta") or {})

    async def _tail_events(self, mission_id: str, run_id: str, n: int) -> tuple[list[dict[str, Any]], int]:
        """The newest ``n`` events of a run, oldest first, and the run's event count."""
        ids = {"mission_id": mission_id, "run_id": run_id}
        first, meta = await self._page("list_events", **ids, page=1, page_size=n)
        total = int(meta.get("total_results", len(first)))
        if total <= n:
            return first, total
        last = math.ceil(total / n)
        events, _ = await self._page("list_events", **ids, page=last, page_size=n)
        if len(events) < n and last > 1:
            before, _ = await self._page("list_events", **ids, page=last - 1, page_size=n)
            events = before + events
        return events[-n:], total

    # ------------------------------------------------------------------ resources

    async def list_templates(self, ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=list(TEMPLATES))

    async def list_resources(self, ctx: Any, params: Any) -> types.ListResourcesResult:
        resources = list(_STATIC)
        try:
            runs, _ = await self._page("list_recent_runs", page_size=LISTED_RUNS)
        except MissionsError as exc:
            logger.warning("resources/list: the recent runs could not be read: %s", type(exc).__name__)
            runs = []
        for run in runs:
            mid, rid, status = str(run.get("mission_id")), str(run.get("run_id")), r.clip(run.get("status"), 20)
            for view, title, mime in (("", "Run", MARKDOWN), ("plan", "Plan", MARKDOWN), ("events", "Events", MARKDOWN)):
                resources.append(types.Resource(
                    uri=run_uri(mid, rid, view), name=f"{view or 'run'} {rid}", mime_type=mime,
                    title=f"{title} of run {rid[:8]} ({status}, started {r.when(run.get('started_at'))})"))
        return types.ListResourcesResult(resources=resources)

    async def read_resource(self, ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        text, mime = await self.read(uri)
        return types.ReadResourceResult(contents=[types.TextResourceContents(uri=uri, mime_type=mime, text=text)])

    async def read(self, uri: str) -> tuple[str, str]:
        """The text and MIME type of a view; :class:`MCPError` for an unknown view or failed read."""
        ref = parse_uri(uri)
        if ref is None:
            raise _not_found(uri, "This server serves missions:// views: missions://runs/recent, "
                                  "missions://events/recent and " + ", ".join(t.uri_template for t in TEMPLATES) + ".")
        try:
            return await self._render(ref)
        except (NotFoundError, ArgumentError) as exc:
            raise _not_found(uri, str(exc)) from None
        except MissionsError as exc:
            raise MCPError(types.INTERNAL_ERROR, f"Could not read {uri}: {exc}") from None

    async def _render(self, ref: ViewRef) -> tuple[str, str]:
        if ref.kind == "recent_runs":
            return await self._recent_runs(), MARKDOWN
        if ref.kind == "recent_events":
            return await self._recent_events(), MARKDOWN
        if ref.kind == "mission":
            return await self._mission_view(ref.mission_id), MARKDOWN
        if ref.kind == "events":
            return await self._events_view(ref), MARKDOWN
        ids = {"mission_id": ref.mission_id, "run_id": ref.run_id}
        run = await self._get("get_run", **ids)
        steps = await self._get("get_plan", **ids)
        mission = await self._mission_or_none(ref.mission_id)
        if ref.kind == "plan":
            return r.plan_markdown(mission, run, steps), MARKDOWN
        if ref.kind == "plan.json":
            return r.dumps(r.plan_json(mission, run, steps)), JSON_MIME
        events, total = await self._tail_events(ref.mission_id, ref.run_id, RUN_EVENTS)
        return r.run_markdown(mission, run, steps, events, total), MARKDOWN

    async def _mission_or_none(self, mission_id: str) -> dict[str, Any] | None:
        try:
            return await self._get("get_mission", mission_id=mission_id)
        except NotFoundError:
            return None

    async def _mission_view(self, mission_id: str) -> str:
        mission = await self._get("get_mission", mission_id=mission_id)
        runs, meta = await self._page("list_runs", mission_id=mission_id, page_size=MISSION_RUNS)
        return r.mission_markdown(mission, runs, int(meta.get("total_results", len(runs))))

    async def _events_view(self, ref: ViewRef) -> str:
        ids = {"mission_id": ref.mission_id, "run_id": ref.run_id}
        await self._get("get_run", **ids)  # an unknown run is "not found", not an empty timeline
        if ref.page is None:
            events, total = await self._tail_events(ref.mission_id, ref.run_id, EVENTS_PAGE)
            first = total - len(events) + 1
        else:
            events, meta = await self._page("list_events", **ids, page=ref.page, page_size=EVENTS_PAGE)
            total = int(meta.get("total_results", len(events)))
            first = (ref.page - 1) * EVENTS_PAGE + 1
        return r.events_markdown(run_uri(ref.mission_id, ref.run_id, "events"), ref.run_id, events, first, total,
                                 ref.page, EVENTS_PAGE)

    async def _recent_runs(self) -> str:
        runs, meta = await self._page("list_recent_runs", page_size=RECENT_RUNS)
        names: dict[str, str] = {}
        try:
            missions, _ = await self._page("list_missions", page_size=100)
            names = {str(m.get("mission_id")): str(m.get("name", "")) for m in missions}
        except MissionsError as exc:
            logger.info("recent runs: mission names unavailable: %s", type(exc).__name__)
        return r.recent_runs_markdown(runs, int(meta.get("total_results", len(runs))), names)

    async def _recent_events(self) -> str:
        events, meta = await self._page("list_recent_events", page_size=EVENTS_PAGE)
        return r.recent_events_markdown(events, int(meta.get("total_results", len(events))))

    # ------------------------------------------------------------------ completions

    async def complete(self, ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
        given = dict(params.context.arguments or {}) if params.context else {}
        try:
            values = await self.candidates(params.argument.name, params.argument.value, given)
        except MissionsError as exc:
            logger.info("completion of %s failed: %s", params.argument.name, type(exc).__name__)
            values = []
        return types.CompleteResult(completion=types.Completion(
            values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS))

    async def candidates(self, argument: str, prefix: str, given: Mapping[str, str]) -> list[str]:
        """Completion values, most recent first: ids starting with ``prefix`` (a mission's name also
        completes to its id), narrowed by the ``mission_id``/``run_id`` already given."""
        low = prefix.lower()
        if argument in ("mission_id", "mission_name"):
            missions, _ = await self._page("list_missions", page_size=1000)
            if argument == "mission_name":
                names = (str(m.get("name", "")) for m in missions)
                return list(dict.fromkeys(n for n in names if n.lower().startswith(low)))
            return [str(m["mission_id"]) for m in missions
                    if str(m.get("mission_id", "")).lower().startswith(low) or str(m.get("name", "")).lower().startswith(low)]
        if argument == "run_id":
            if given.get("mission_id"):
                runs, _ = await self._page("list_runs", mission_id=given["mission_id"], page_size=1000)
            else:
                runs, _ = await self._page("list_recent_runs", page_size=1000)
            return [str(run["run_id"]) for run in runs if str(run.get("run_id", "")).lower().startswith(low)]
        if argument == "step_id" and given.get("mission_id") and given.get("run_id"):
            steps = await self._get("get_plan", mission_id=given["mission_id"], run_id=given["run_id"])
            in_plan = [step for _, step in r.plan_order(steps)]  # ties (never started): plan order
            ordered = sorted(in_plan, key=lambda s: str(s.get("completed_at") or s.get("started_at") or ""),
                             reverse=True)
            return [str(s["step_id"]) for s in ordered if str(s.get("step_id", "")).startswith(prefix)]
        return []

    # ------------------------------------------------------------------ subscriptions

    def subscribed(self) -> set[str]:
        return set(self._legacy) | set(self._listening)

    async def subscribe(self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        if parse_uri(uri) is None:
            raise _not_found(uri, "Only missions:// views can be subscribed to (resources/templates/list).")
        connection = _connection(ctx)
        key = id(connection)
        self._legacy.setdefault(uri, {})[key] = ctx.session
        state = getattr(connection, "state", None)
        if isinstance(state, dict) and not state.get("missions_views"):
            state["missions_views"] = True
            connection.exit_stack.callback(self._forget, key)
        return types.EmptyResult()

    async def unsubscribe(self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        sessions = self._legacy.get(uri, {})
        sessions.pop(id(_connection(ctx)), None)
        if not sessions:
            self._legacy.pop(uri, None)
        return types.EmptyResult()

    def _forget(self, key: int) -> None:
        """Drop every subscription of a closed connection."""
        for uri in list(self._legacy):
            self._legacy[uri].pop(key, None)
            if not self._legacy[uri]:
                del self._legacy[uri]

    async def listen(self, ctx: ServerRequestContext[Any], params: types.SubscriptionsListenRequestParams) -> Any:
        """``subscriptions/listen``: the SDK's handler, counting the URIs each open stream asks for."""
        uris = list(dict.fromkeys(params.notifications.resource_subscriptions or ()))
        for uri in uris:
            self._listening[uri] = self._listening.get(uri, 0) + 1
        try:
            return await self._listen(ctx, params)
        finally:
            for uri in uris:
                self._listening[uri] -= 1
                if not self._listening[uri]:
                    del self._listening[uri]

    async def notify(self, uris: set[str]) -> None:
        """Tell the subscribers of ``uris`` that those views changed (both protocol eras)."""
        for uri in sorted(uris):
            if uri in self._listening:
                await self.bus.publish(ResourceUpdated(uri=uri))
            for key, session in list(self._legacy.get(uri, {}).items()):
                try:
                    await session.send_resource_updated(uri)
                except Exception as exc:  # a closed connection: forget it, keep notifying the others
                    logger.info("dropping a subscriber of %s: %s", uri, type(exc).__name__)
                    self._forget(key)

    def affected(self, op: Operation, args: Mapping[str, Any], result: ApiResult) -> set[str]:
        """The subscribed views a successful call may have changed."""
        mid, rid = str(args.get("mission_id") or ""), str(args.get("run_id") or "")
        if op.name == "start_run" and isinstance(result.data, dict):
            rid = str((result.data.get("data") or {}).get("run_id") or "")
        if op.name in RUN_CHANGES and mid and rid:
            prefix = run_uri(mid, rid)
            hit = {u for u in self.subscribed() if u == prefix or u.startswith(prefix + "/")}
            return hit | ({mission_uri(mid), RECENT_RUNS_URI, RECENT_EVENTS_URI} & self.subscribed())
        if op.name in MISSION_CHANGES and mid:
            prefix = mission_uri(mid)
            hit = {u for u in self.subscribed() if u == prefix or u.startswith(prefix + "/")}
            return hit | ({RECENT_RUNS_URI, RECENT_EVENTS_URI} & self.subscribed())
        return set()

    async def after_call(self, op: Operation, args: Any, result: ApiResult) -> None:
        """Notify after a successful tool call; a failed notification never fails the call (the write is done)."""
        values = args.model_dump(mode="json") if hasattr(args, "model_dump") else dict(args or {})
        try:
            uris = self.affected(op, values, result)
            if uris:
                await self.notify(uris)
            if op.name in LIST_CHANGES:
                await self.bus.publish(ResourcesListChanged())
        except Exception:  # notification boundary: the tool result must still reach the caller
            logger.exception("notifying subscribers after %s failed", op.name)

    # ------------------------------------------------------------------ polling

    async def fingerprint(self, source: tuple[str, ...]) -> Any:
        """What changes when a view of ``source`` changes; ``"gone"`` once it is not found."""
        try:
            if source[0] == "run":
                ids = {"mission_id": source[1], "run_id": source[2]}
                run = await self._get("get_run", **ids)
                _, meta = await self._page("list_events", **ids, page_size=1)
                steps = await self._get("get_plan", **ids)
                return (run.get("status"), run.get("updated_at"), run.get("finished_at"), meta.get("total_results"),
                        tuple((s.get("step_id"), s.get("status"), s.get("description")) for s in steps))
            if source[0] == "mission":
                mission = await self._get("get_mission", mission_id=source[1])
                runs, meta = await self._page("list_runs", mission_id=source[1], page_size=MISSION_RUNS)
                return (mission.get("updated_at"), meta.get("total_results"), _run_marks(runs))
            if source[0] == "recent_runs":
                runs, meta = await self._page("list_recent_runs", page_size=RECENT_RUNS)
                return (meta.get("total_results"), _run_marks(runs))
            events, meta = await self._page("list_recent_events", page_size=1)
            return (meta.get("total_results"), tuple(e.get("event_id") for e in events))
        except (NotFoundError, ArgumentError):
            return "gone"

    async def poll_once(self) -> set[str]:
        """Compare the fingerprint of every subscribed view's source with the last one; notify changes."""
        self._last_poll = time.monotonic()
        by_source: dict[tuple[str, ...], set[str]] = {}
        for uri in self.subscribed():
            ref = parse_uri(uri)
            if ref is not None:
                by_source.setdefault(ref.source, set()).add(uri)
        for stale in set(self._fingerprints) - set(by_source):
            del self._fingerprints[stale]
        changed: set[str] = set()
        for source, uris in by_source.items():
            try:
                current = await self.fingerprint(source)
            except MissionsError as exc:
                logger.info("watch: %s not checked this round: %s", source[0], type(exc).__name__)
                continue
            previous = self._fingerprints.get(source)
            self._fingerprints[source] = current
            if previous is not None and previous != current:
                changed |= uris
        if changed:
            await self.notify(changed)
        return changed

    async def watch(self, interval: float) -> None:
        """Poll every ``interval`` seconds until cancelled (a second server lifespan shares the rhythm)."""
        while True:
            await anyio.sleep(interval)
            if time.monotonic() - self._last_poll < interval / 2:
                continue
            try:
                await self.poll_once()
            except Exception:  # the watcher must outlive one bad round
                logger.exception("watch: polling failed")

    def lifespan(self, inner: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """Wrap the server's lifespan so the watcher runs while the server does (stdio and HTTP alike)."""
        interval = self.missions.settings.watch_interval

        @asynccontextmanager
        async def lifespan(server: Any) -> AsyncIterator[Any]:
            async with inner(server) as state:
                if interval <= 0:
                    yield state
                    return
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.watch, interval)
                    try:
                        yield state
                    finally:
                        tg.cancel_scope.cancel()

        return lifespan


RUN_CHANGES = frozenset({"update_run", "cancel_run", "pause_run", "resume_run", "create_plan", "add_plan_steps",
                         "update_plan_step", "log_event", "link_agent", "unlink_agent", "start_run"})
MISSION_CHANGES = frozenset({"update_mission", "delete_mission"})
LIST_CHANGES = frozenset({"start_run", "delete_mission"})
"""Calls that change which runs ``resources/list`` offers."""


def _run_marks(runs: list[dict[str, Any]]) -> tuple[Any, ...]:
    return tuple((run.get("run_id"), run.get("status"), run.get("updated_at")) for run in runs)


def _connection(ctx: ServerRequestContext[Any]) -> Any:
    """The connection a request came on: subscriptions outlive the request that made them.

    The SDK hands handlers a per-request ``ServerSession``; the connection behind it is the
    stable identity (and its ``exit_stack`` tells us when it closes).
    """
    return getattr(ctx.session, "_connection", ctx.session)


def register_views(missions: MissionsServer) -> Views:
    """Add resources, completions and subscriptions to ``missions.server``; hook ``after_call``."""
    from .prompts import register_prompts

    views = Views(missions)
    server = missions.server
    server.add_request_handler("resources/list", types.PaginatedRequestParams, views.list_resources)
    server.add_request_handler("resources/templates/list", types.PaginatedRequestParams, views.list_templates)
    server.add_request_handler("resources/read", types.ReadResourceRequestParams, views.read_resource)
    server.add_request_handler("resources/subscribe", types.SubscribeRequestParams, views.subscribe)
    server.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, views.unsubscribe)
    server.add_request_handler("subscriptions/listen", types.SubscriptionsListenRequestParams, views.listen)
    server.add_request_handler("completion/complete", types.CompleteRequestParams, views.complete)
    server.lifespan = views.lifespan(server.lifespan)
    previous = missions.after_call

    async def after_call(op: Operation, args: Any, result: ApiResult) -> None:
        await previous(op, args, result)
        await views.after_call(op, args, result)

    missions.after_call = after_call  # type: ignore[method-assign]
    register_prompts(missions, views)
    return views
