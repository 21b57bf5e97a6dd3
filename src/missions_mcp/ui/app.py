"""The page: missions, runs and a run, rendered on the server, kept live over Server-Sent Events.

Routes (all GET, all read-only)::

    /                                       missions: name, number of runs, latest run's status
    /runs?status=&mission=&page=            runs of all missions (or one), newest first
    /missions/{mission_id}/runs/{run_id}?type=&step=&upto=
                                            a run: summary, plan checklist, timeline, agents
    /live/<any of the above>                the same view as an event stream of changed regions
    /static/ui.js, /static/ui.css           the only script and stylesheet

Every page is made of named regions. The first load renders them in place; ``/live/…`` renders
them again whenever the data under the page changed (:mod:`.feed` says when to look, a digest of
the API objects says whether anything moved) and sends them as one ``update`` event whose id is
that digest, so a browser that reconnects with ``Last-Event-ID`` gets an update only if it missed
one. Agent text is escaped by Jinja2's autoescape and never becomes markup, a link or a script;
the Content-Security-Policy allows no inline script, no inline handler, nothing from elsewhere.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from html import escape as _esc
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .. import __version__
from .. import render as r
from ..errors import ArgumentError, MissionsError, NotFoundError
from . import facts as f
from .feed import ChangeFeed
from .reads import Reader, digest

__all__ = ["EVENT_TYPES", "RUN_STATUSES", "SECURITY_HEADERS", "UI", "create_app"]

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
RUN_STATUSES = ("pending", "running", "paused", "succeeded", "failed", "cancelled")
EVENT_TYPES = (
    "status_change",
    "step_started",
    "step_completed",
    "step_failed",
    "tool_call",
    "tool_result",
    "message",
    "error",
    "custom",
)
FOLD_AT = 200
"""Text longer than this is shown folded: its start, and the whole of it in a ``<details>``."""
PAYLOAD_SHOWN = 64_000
"""Characters of a payload's JSON shown when it is opened; the rest is named, with where to get it."""
PING_SECONDS = 15

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class BadQuery(ValueError):
    pass


# --------------------------------------------------------------------------- template helpers


def _fold(text: Any, limit: int = FOLD_AT) -> dict[str, Any]:
    """Text as ``{"short", "full", "folded"}``: long text keeps its start visible and the rest one click away."""
    full = "" if text is None or isinstance(text, jinja2.Undefined) else str(text)
    line = " ".join(full.split())
    if len(line) <= limit and "\n" not in full.strip():
        return {"short": line, "full": full, "folded": False}
    return {"short": line[: limit - 1].rstrip() + "…", "full": full, "folded": True}


def _payload(value: Any) -> dict[str, Any] | None:
    if isinstance(value, jinja2.Undefined) or value in (None, {}, []):  # a field the API left out, or empty
        return None
    text = f.pretty_json(value)
    size = len(text.encode("utf-8", "surrogatepass"))
    cut = len(text) > PAYLOAD_SHOWN
    return {
        "text": text[:PAYLOAD_SHOWN] if cut else text,
        "size": size,
        "cut": cut,
        "rest": len(text) - PAYLOAD_SHOWN if cut else 0,
    }


def _clock(value: Any) -> str:
    """A timestamp's time of day (the full one goes in the element's ``datetime``/``title``)."""
    parsed = f.parse_time(value)
    return parsed.strftime("%H:%M:%S") if parsed else r.when(value)


def _short_id(value: Any) -> str:
    text = str(value or "")
    return text[:8] if len(text) > 8 else text


def _path(*parts: Any) -> str:
    return "/" + "/".join(quote(str(p), safe="") for p in parts)


def _href(base: str, **query: Any) -> str:
    pairs = {k: v for k, v in query.items() if v not in (None, "", 0, False)}
    return base + ("?" + urlencode(pairs) if pairs else "")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,  # every {{ }} is escaped, in every template, whatever its name
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fold=_fold,
        payload=_payload,
        short_id=_short_id,
        path=_path,
        href=_href,
        when=r.when,
        clock=_clock,
        duration=r.duration,
        run_mark=f.run_mark,
        step_mark=f.step_mark,
        version=__version__,
        RUN_STATUSES=RUN_STATUSES,
        EVENT_TYPES=EVENT_TYPES,
        FINISHED=f.FINISHED,
    )
    return env


STEP_STATUSES = ("pending", "in_progress", "completed", "skipped", "failed")
STEP_SELECT_LIMIT = 300
"""Plans up to this many steps get a drop-down of step ids in the timeline's filter; longer ones a text field."""


def _folded_html(text: Any, limit: int = FOLD_AT) -> str:
    t = _fold(text, limit)
    if t["folded"]:
        return (
            f'<details class="fold"><summary>{_esc(t["short"])}</summary>'
            f'<div class="full">{_esc(t["full"])}</div></details>'
        )
    return str(_esc(t["short"]))


def plan_html(
    order: list[tuple[int, Mapping[str, Any]]],
    focus: Mapping[str, Any] | None,
    why: str,
    reasons: Mapping[str, str],
    base: str,
) -> Markup:
    """The plan as a nested checklist.

    Built here rather than in a template because a plan may have thousands of steps: this loop
    costs a third of the same loop in Jinja2. The rule is the template's: every value from the API
    goes through :func:`html.escape` (the same five characters as Jinja2's autoescape, without
    building a ``Markup`` per value); only our own tags are written as they are.
    """
    if not order:
        return Markup('<p class="empty">No plan yet.</p>')
    parts: list[str] = []
    previous = -1
    here = "← current" if why == "current" else "← stopped here"
    for depth, step in order:
        if depth > previous:
            parts.append('<ul class="checklist">' * (depth - previous))
        else:
            parts.append("</li></ul>" * (previous - depth) + "</li>")
        previous = depth
        status = str(step.get("status"))
        cls = status if status in STEP_STATUSES else "unknown"
        step_id = str(step.get("step_id"))
        timing = ""
        if step.get("completed_at"):
            timing = r.duration(step.get("started_at"), step.get("completed_at")) or ""
        elif step.get("started_at"):
            timing = f"since {r.when(step.get('started_at'))}"
        is_focus = step is focus
        parts.append(
            f'<li class="step st-{cls}{" focus" if is_focus else ""}"><div class="line">'
            f'<span class="mark" aria-hidden="true">{_esc(f.step_mark(status))}</span> '
            f'<span class="word">{_esc(status)}</span> '
            f'<code class="sid">{_esc(_fold(step_id, 60)["short"])}</code> '
            f'<span class="desc">{_folded_html(step.get("description"))}</span>'
            + (f' <span class="when">{_esc(timing)}</span>' if timing else "")
            + (f' <strong class="here">{here}</strong>' if is_focus else "")
            + "</div>"
        )
        if status == "failed":
            reason = reasons.get(step_id)
            told = (
                _folded_html(reason)
                if reason
                else f'<span class="none">none reported</span> (<a href="{_esc(_href(base, step=step_id))}">'
                "events of this step</a>)"
            )
            parts.append(f'<div class="reason"><span class="label">reason:</span> {told}</div>')
    parts.append("</li></ul>" * (previous + 1))
    return Markup("".join(parts))


# --------------------------------------------------------------------------- pages


@dataclass
class Page:
    template: str
    """The page's own template; its regions are ``_<template stem>_<region>.html``."""
    title: str
    context: dict[str, Any]
    regions: tuple[str, ...]
    source: Any
    status_code: int = 200
    live: bool = True
    rendered: dict[str, str] | None = None

    @cached_property
    def digest(self) -> str:
        return digest(self.source)


def _int(params: Mapping[str, str], name: str, default: int | None, minimum: int) -> int | None:
    raw = params.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadQuery(f"{name} must be a whole number (got {raw[:40]!r})") from None
    if value < minimum:
        raise BadQuery(f"{name} must be at least {minimum}")
    return value


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    raw = params.get(name, "")
    if raw == "":
        return None
    if raw not in allowed:
        raise BadQuery(f"{name} must be one of {', '.join(allowed)} (got {raw[:40]!r})")
    return raw


class UI:
    """The views of one Missions API: pages, their live streams, the static files."""

    def __init__(self, reader: Reader, feed: ChangeFeed, *, backend: str):
        self.reader = reader
        self.feed = feed
        self.backend = backend
        """Where the data comes from, in a person's words (shown in the footer)."""
        self.env = _environment()
        self._cache: dict[tuple[str, str, int], Page] = {}
        self.stopping = False

    def stop_streams(self) -> None:
        """End every live stream (the server is stopping): each returns at its next wake-up, now."""
        self.stopping = True
        self.feed.changed()

    # -- the three views

    async def missions_page(self, params: Mapping[str, str], **_: str) -> Page:
        page = _int(params, "page", 1, 1) or 1
        data = await self.reader.missions(page)
        return Page("missions.html", "Missions", {"data": data}, ("list",), data.source)

    async def runs_page(self, params: Mapping[str, str], **_: str) -> Page:
        page = _int(params, "page", 1, 1) or 1
        status = _choice(params, "status", RUN_STATUSES)
        mission_id = params.get("mission") or None
        data = await self.reader.runs(status=status, mission_id=mission_id, page=page)
        title = f"Runs of {f.plain(data.mission.get('name'), 60)}" if data.mission else "Runs"
        return Page("runs.html", title, {"data": data}, ("list",), data.source)

    async def run_page(self, params: Mapping[str, str], *, mission_id: str, run_id: str) -> Page:
        kind = _choice(params, "type", EVENT_TYPES)
        step = params.get("step") or None
        upto = _int(params, "upto", None, 0)
        view = await self.reader.run(mission_id, run_id, type=kind, step=step, upto=upto or None)
        order = f.plan_order(view.steps)
        focus, why = f.focus_step(view.run, view.steps, order)
        base = _path("missions", mission_id, "runs", run_id)
        context = {
            "view": view,
            "run": view.run,
            "mission": view.mission,
            "plan": plan_html(order, focus, why, view.reasons, base),
            "progress": r.progress(view.steps),
            "focus": focus,
            "focus_why": why,
            "entries": list(reversed(f.pair_tool_calls(view.timeline.events))),
            "base": base,
            "kind": kind,
            "step": step,
            "step_ids": [str(s.get("step_id")) for _, s in order] if len(order) <= STEP_SELECT_LIMIT else None,
        }
        name = f.plain(view.mission.get("name"), 60) if view.mission else "unknown mission"
        return Page(
            "run.html",
            f"{name} · run {_short_id(run_id)}",
            context,
            ("summary", "plan", "timeline", "agents"),
            view.source,
        )

    # -- rendering

    def render_page(self, page: Page, request: Request) -> HTMLResponse:
        live = "/live" + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = self.env.get_template(page.template).render(
            **page.context,
            title=page.title,
            live_url=live if page.live else None,
            digest=page.digest,
            backend=self.backend,
            now=datetime.now(UTC).isoformat(),
            request_path=request.url.path,
        )
        return HTMLResponse(html, status_code=page.status_code, headers=SECURITY_HEADERS)

    def render_regions(self, page: Page) -> dict[str, str]:
        """The page's regions as HTML, rendered once per page (live streams on one address share it)."""
        if page.rendered is None:
            stem = page.template.removesuffix(".html")
            now = datetime.now(UTC).isoformat()
            page.rendered = {
                region: self.env.get_template(f"_{stem}_{region}.html").render(**page.context, now=now)
                for region in page.regions
            }
        return page.rendered

    def problem(self, status: int, title: str, message: str) -> HTMLResponse:
        html = self.env.get_template("problem.html").render(
            title=title, message=message, live_url=None, digest="", backend=self.backend, request_path=""
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    # -- endpoints

    def _endpoint(self, view: Callable[..., Awaitable[Page]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                page = await view(request.query_params, **request.path_params)
            except BadQuery as exc:
                return self.problem(400, "Not a valid address", str(exc))
            except NotFoundError as exc:
                return self.problem(404, "Not found", str(exc))
            except ArgumentError as exc:
                return self.problem(400, "Not a valid address", str(exc))
            except MissionsError as exc:
                return self.problem(502, "The Missions API could not be read", str(exc))
            return self.render_page(page, request)

        return endpoint

    def _live(self, view: Callable[..., Awaitable[Page]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            params = request.query_params
            since = request.headers.get("last-event-id") or params.get("since") or ""
            key = (request.url.path, str(request.url.query))

            async def stream() -> AsyncIterator[ServerSentEvent]:
                nonlocal since
                sent: dict[str, int] = {}  # region → hash of the HTML this browser has
                while not self.stopping:
                    version = self.feed.current()
                    try:
                        page = await self._read(key, version, view, params, request.path_params)
                    except (BadQuery, ArgumentError) as exc:
                        yield ServerSentEvent(json.dumps({"message": str(exc)}), event="problem")
                        return
                    except NotFoundError as exc:
                        yield ServerSentEvent(json.dumps({"message": str(exc)}), event="gone")
                        return
                    except MissionsError as exc:
                        yield ServerSentEvent(json.dumps({"message": str(exc)}), event="problem")
                    else:
                        if page.digest == since and not sent:
                            # The browser has this very state (its page, or the update it saw last):
                            # later updates need carry only what differs from it.
                            sent.update((name, hash(html)) for name, html in self.render_regions(page).items())
                        if page.digest != since:
                            since = page.digest
                            # Only the regions that changed: a new event need not resend a plan of 2,000 steps.
                            regions = {
                                name: html
                                for name, html in self.render_regions(page).items()
                                if sent.get(name) != hash(html)
                            }
                            sent.update((name, hash(html)) for name, html in regions.items())
                            data = {"title": page.title, "regions": regions}
                            yield ServerSentEvent(json.dumps(data, ensure_ascii=False), event="update", id=since)
                    await self.feed.wait(version)

            return EventSourceResponse(
                stream(), ping=PING_SECONDS, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
            )

        return endpoint

    async def _read(
        self,
        key: tuple[str, str],
        version: int,
        view: Callable[..., Awaitable[Page]],
        params: Mapping[str, str],
        path_params: Mapping[str, str],
    ) -> Page:
        """Pages open on the same address share one read per version of the data."""
        cached = self._cache.get((*key, version))
        if cached is not None:
            return cached
        page = await view(params, **path_params)
        if len(self._cache) > 256:
            self._cache = {k: v for k, v in self._cache.items() if k[2] >= version}
        self._cache[(*key, version)] = page
        return page

    def routes(self) -> list[BaseRoute]:
        views: list[tuple[str, Callable[..., Awaitable[Page]]]] = [
            ("/", self.missions_page),
            ("/runs", self.runs_page),
            ("/missions/{mission_id}/runs/{run_id}", self.run_page),
        ]
        routes: list[BaseRoute] = []
        for path, view in views:
            routes.append(Route(path, self._endpoint(view), methods=["GET", "HEAD"]))
            routes.append(
                Route("/live" + path.rstrip("/") + ("/" if path == "/" else ""), self._live(view), methods=["GET"])
            )
        routes.append(Mount("/static", app=_Static(directory=HERE / "static"), name="static"))
        routes.append(Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]))
        return routes


class _Static(StaticFiles):
    """The script and the stylesheet, with ``nosniff`` (the CSP allows scripts from this origin only)."""

    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"
        return response


def create_app(
    ui: UI, *, on_close: Callable[[], Awaitable[None]] | None = None, allowed_hosts: list[str] | None = None
) -> Starlette:
    """The page as an app of its own (``missions-mcp ui``)."""
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_close is not None:
                await on_close()
            ui.feed.close()

    middleware = []
    if allowed_hosts:
        # Bound to loopback: refuse other Host names, so a web page cannot read this one by DNS rebinding.
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    return Starlette(routes=ui.routes(), middleware=middleware, lifespan=lifespan)
