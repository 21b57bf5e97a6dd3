"""Subscriptions: who listens to which view, telling them when it changes, and noticing changes made elsewhere.

Subscribers hear ``notifications/resources/updated`` when a tool call through this server changes
what a view shows (the catalogue says what each call changes): on the 2025-11-25 wire to the
connections that sent ``resources/subscribe``, on the 2026-07-28 wire through the
``subscriptions/listen`` streams (a :class:`ListenHandler` on an in-process bus). With
``watch_interval`` > 0 a background task also polls the subscribed views and notifies when their
fingerprint changes (changes made by another agent or on the hosted API).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourcesListChanged, ResourceUpdated

from .catalogue import Operation
from .client import ApiResult, MissionsClient
from .errors import ArgumentError, MissionsError, NotFoundError
from .resources import (
    MISSION_RUNS,
    RECENT_EVENTS_URI,
    RECENT_RUNS,
    RECENT_RUNS_URI,
    fetch,
    fetch_page,
    mission_uri,
    not_found,
    parse_uri,
    run_uri,
)

__all__ = ["Subscriptions", "Watcher", "STORE_CHECK_INTERVAL"]

logger = logging.getLogger(__name__)

STORE_CHECK_INTERVAL = 0.5
"""Seconds between two reads of the embedded store's change marker while a view is subscribed."""


class Subscriptions:
    """The subscribers of the views of one server, in both protocol eras; told of changes by the tools
    (:meth:`after_call`) and by the :class:`Watcher`."""

    def __init__(
        self, client: MissionsClient, *, watch_interval: float = 0.0, change_marker: Callable[[], object] | None = None
    ):
        self.client = client
        self.bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self.bus)
        self._legacy: dict[str, dict[int, Any]] = {}
        """URI → connection id → the ``ServerSession`` of its ``resources/subscribe`` (2025-11-25)."""
        self._listening: dict[str, int] = {}
        """URI → number of open ``subscriptions/listen`` streams asking for it (2026-07-28)."""
        self.watcher = Watcher(self, watch_interval=watch_interval, change_marker=change_marker)
        """Changes made elsewhere; with ``change_marker`` (the embedded store's), by default."""

    def subscribed(self) -> set[str]:
        return set(self._legacy) | set(self._listening)

    # ------------------------------------------------------------------ requests

    async def subscribe(
        self, ctx: ServerRequestContext[Any], params: types.SubscribeRequestParams
    ) -> types.EmptyResult:
        uri = str(params.uri)
        if parse_uri(uri) is None:
            raise not_found(uri, "Only missions:// views can be subscribed to (resources/templates/list).")
        connection = _connection(ctx)
        key = id(connection)
        self._legacy.setdefault(uri, {})[key] = ctx.session
        state = getattr(connection, "state", None)
        if isinstance(state, dict) and not state.get("missions_views"):
            state["missions_views"] = True
            connection.exit_stack.callback(self._forget, key)
        return types.EmptyResult()

    async def unsubscribe(
        self, ctx: ServerRequestContext[Any], params: types.UnsubscribeRequestParams
    ) -> types.EmptyResult:
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

    # ------------------------------------------------------------------ notifying

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
        if op.starts_run and isinstance(result.data, dict):
            rid = str((result.data.get("data") or {}).get("run_id") or "")
        if op.changes == "run" and mid and rid:
            prefix = run_uri(mid, rid)
            hit = {u for u in self.subscribed() if u == prefix or u.startswith(prefix + "/")}
            return hit | ({mission_uri(mid), RECENT_RUNS_URI, RECENT_EVENTS_URI} & self.subscribed())
        if op.changes == "mission" and mid:
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
            if op.changes_run_list:
                await self.bus.publish(ResourcesListChanged())
        except Exception:  # notification boundary: the tool result must still reach the caller
            logger.exception("notifying subscribers after %s failed", op.name)

    # ------------------------------------------------------------------ changes made elsewhere

    async def poll_once(self) -> set[str]:
        """Compare the subscribed views with the last round and notify those that changed (the watcher's round)."""
        return await self.watcher.poll_once()

    def lifespan(self, server: Any) -> AbstractAsyncContextManager[dict[str, Any]]:
        """The server's lifespan: the watcher runs while the server does (stdio and HTTP alike)."""
        return self.watcher.lifespan(server)


class Watcher:
    """Changes made elsewhere (another process on the store, the hosted API): noticed by comparing each
    subscribed view's fingerprint, on a timer (``watch_interval``) or when the store's change marker moves."""

    def __init__(
        self, subscriptions: Subscriptions, *, watch_interval: float, change_marker: Callable[[], object] | None
    ):
        self.subscriptions = subscriptions
        self.client = subscriptions.client
        self.watch_interval = watch_interval
        self._change_marker = change_marker
        self._fingerprints: dict[tuple[str, ...], Any] = {}
        self._last_poll = -math.inf

    async def fingerprint(self, source: tuple[str, ...]) -> Any:
        """What changes when a view of ``source`` changes; ``"gone"`` once it is not found."""
        try:
            if source[0] == "run":
                return await self._run_fingerprint(source[1], source[2])
            if source[0] == "mission":
                mission = await fetch(self.client, "get_mission", mission_id=source[1])
                runs, meta = await fetch_page(self.client, "list_runs", mission_id=source[1], page_size=MISSION_RUNS)
                return (mission.get("updated_at"), meta.get("total_results"), _run_marks(runs))
            if source[0] == "recent_runs":
                runs, meta = await fetch_page(self.client, "list_recent_runs", page_size=RECENT_RUNS)
                return (meta.get("total_results"), _run_marks(runs))
            events, meta = await fetch_page(self.client, "list_recent_events", page_size=1)
            return (meta.get("total_results"), tuple(e.get("event_id") for e in events))
        except (NotFoundError, ArgumentError):
            return "gone"

    async def _run_fingerprint(self, mission_id: str, run_id: str) -> Any:
        ids = {"mission_id": mission_id, "run_id": run_id}
        run = await fetch(self.client, "get_run", **ids)
        _, meta = await fetch_page(self.client, "list_events", **ids, page_size=1)
        steps = await fetch(self.client, "get_plan", **ids)
        return (
            run.get("status"),
            run.get("updated_at"),
            run.get("finished_at"),
            meta.get("total_results"),
            tuple((s.get("step_id"), s.get("status"), s.get("description")) for s in steps),
        )

    async def poll_once(self) -> set[str]:
        """Compare the fingerprint of every subscribed view's source with the last one; notify changes."""
        self._last_poll = time.monotonic()
        return await self._poll(self._fingerprints)

    def _by_source(self) -> dict[tuple[str, ...], set[str]]:
        by_source: dict[tuple[str, ...], set[str]] = {}
        for uri in self.subscriptions.subscribed():
            ref = parse_uri(uri)
            if ref is not None:
                by_source.setdefault(ref.source, set()).add(uri)
        return by_source

    async def _poll(self, fingerprints: dict[tuple[str, ...], Any]) -> set[str]:
        by_source = self._by_source()
        for stale in set(fingerprints) - set(by_source):
            del fingerprints[stale]
        changed: set[str] = set()
        for source, uris in by_source.items():
            try:
                current = await self.fingerprint(source)
            except MissionsError as exc:
                logger.info("watch: %s not checked this round: %s", source[0], type(exc).__name__)
                continue
            previous = fingerprints.get(source)
            fingerprints[source] = current
            if previous is not None and previous != current:
                changed |= uris
        if changed:
            await self.subscriptions.notify(changed)
        return changed

    async def watch_store(self, interval: float) -> None:
        """Notice commits to the embedded store by any process (a second MCP server, ``missions-mcp api``).

        Every ``interval`` seconds the store's change marker is read (SQLite's ``PRAGMA data_version``:
        microseconds); only when it moved, or a view was newly subscribed, are the subscribed views
        compared. Its fingerprints are its own, so it never takes a change from :meth:`poll_once`.
        """
        assert self._change_marker is not None
        fingerprints: dict[tuple[str, ...], Any] = {}
        last: object = None
        while True:
            await anyio.sleep(interval)
            try:
                if not self.subscriptions.subscribed():
                    continue
                marker = self._change_marker()
                if marker != last or set(self._by_source()) - set(fingerprints):
                    last = marker
                    await self._poll(fingerprints)
            except Exception:  # the watcher must outlive one bad round
                logger.exception("watch: the store's changes could not be checked")

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

    @asynccontextmanager
    async def lifespan(self, server: Any) -> AsyncIterator[dict[str, Any]]:
        """The server's lifespan: the watcher runs while the server does (stdio and HTTP alike)."""
        if self.watch_interval <= 0 and self._change_marker is None:
            yield {}
            return
        async with anyio.create_task_group() as tg:
            if self.watch_interval > 0:
                tg.start_soon(self.watch, self.watch_interval)
            else:
                tg.start_soon(self.watch_store, STORE_CHECK_INTERVAL)
            try:
                yield {}
            finally:
                tg.cancel_scope.cancel()


def _run_marks(runs: list[dict[str, Any]]) -> tuple[Any, ...]:
    return tuple((run.get("run_id"), run.get("status"), run.get("updated_at")) for run in runs)


def _connection(ctx: ServerRequestContext[Any]) -> Any:
    """The connection a request came on: subscriptions outlive the request that made them.

    The SDK hands handlers a per-request ``ServerSession``; the connection behind it is the
    stable identity (and its ``exit_stack`` tells us when it closes).
    """
    return getattr(ctx.session, "_connection", ctx.session)
