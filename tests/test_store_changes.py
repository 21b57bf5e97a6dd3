"""A change made by another process on the same embedded store reaches a subscriber by default (the
store's change marker, ``PRAGMA data_version`` on SQLite), without ``--watch-interval``."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from test_views import Inbox, _next_uris, _subscribe

from missions_mcp.config import Settings
from missions_mcp.server import build_server
from missions_mcp.subscriptions import STORE_CHECK_INTERVAL

from scripted import call
from support import Client

pytestmark = pytest.mark.anyio


async def test_a_write_by_another_server_on_the_same_store_reaches_the_subscriber(tmp_path: Any, mode: str) -> None:
    settings = Settings(backend="local", db_path=tmp_path / "shared.db")
    assert settings.watch_interval == 0, "no polling asked for"
    watching, writing = build_server(settings), build_server(settings)  # two servers, two store connections
    inbox = Inbox()
    try:
        async with Client(writing.server, mode="auto") as writer:
            mission_id = (await call(writer, "create_mission", name="shared"))["mission_id"]
            run_id = (await call(writer, "start_run", mission_id=mission_id))["run_id"]
            ids = {"mission_id": mission_id, "run_id": run_id}
            await call(writer, "create_plan", **ids, steps=[{"step_id": "s1", "description": "d", "sequence": 1}])
            plan = f"missions://missions/{mission_id}/runs/{run_id}/plan"
            async with Client(watching.server, mode=mode, message_handler=inbox) as watcher:
                await watcher.read_resource(plan)  # opens the watcher's own connection to the store
                if mode == "legacy":
                    await _subscribe(watcher, plan)
                    await _settle(watching)
                    await call(writer, "update_plan_step", **ids, step_id="s1", status="in_progress")
                    await inbox.wait_for(plan)
                else:
                    async with watcher.listen(resource_subscriptions=[plan]) as subscription:
                        await _settle(watching)
                        await call(writer, "update_plan_step", **ids, step_id="s1", status="in_progress")
                        assert await _next_uris(subscription, {plan}) == {plan}
    finally:
        await watching.aclose()
        await writing.aclose()


async def _settle(server: Any) -> None:
    """Let the watcher take the subscribed view's baseline before the other server writes."""
    await anyio.sleep(STORE_CHECK_INTERVAL * 2.5)
