"""Fixtures of the page's tests: a database written through the real embedded API, the page's app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from missions_mcp.catalogue import BY_NAME
from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.ui.app import UI, create_app
from missions_mcp.ui.feed import DataVersionFeed
from missions_mcp.ui.reads import Reader


class Agent:
    """Writes to a database file through the embedded API in process, as an agent's tool calls would."""

    def __init__(self, db: Path):
        self.client = MissionsClient(Settings(backend="local", db_path=db))

    async def call(self, tool: str, /, **arguments: Any) -> Any:
        result = await self.client.call(BY_NAME[tool], arguments)
        return result.data.get("data") if isinstance(result.data, dict) else result.data

    async def mission(self, name: str = "Fix the flaky login test", **fields: Any) -> str:
        return str((await self.call("create_mission", name=name, **fields))["mission_id"])

    async def run(self, mission_id: str, **fields: Any) -> dict[str, str]:
        run = await self.call("start_run", mission_id=mission_id, **fields)
        return {"mission_id": mission_id, "run_id": str(run["run_id"])}

    async def failed_run(self) -> dict[str, str]:
        """A run that failed at step s2 (whose reason is in its step_failed event), s3 never started."""
        ids = await self.run(await self.mission("Ship the release"))
        await self.call("update_run", **ids, status="running")
        await self.call(
            "create_plan",
            **ids,
            steps=[
                {"step_id": "s1", "description": "Build", "sequence": 1},
                {"step_id": "s2", "description": "Run the migrations", "sequence": 2},
                {"step_id": "s3", "description": "Announce", "sequence": 3},
            ],
        )
        await self.call("update_plan_step", **ids, step_id="s1", status="in_progress")
        await self.call("update_plan_step", **ids, step_id="s1", status="completed")
        await self.call("update_plan_step", **ids, step_id="s2", status="in_progress")
        await self.call("log_event", **ids, type="step_failed", step_id="s2", summary="migration 42 timed out")
        await self.call("update_plan_step", **ids, step_id="s2", status="failed")
        await self.call("update_run", **ids, status="failed", error="the database refused the migration")
        return ids

    async def aclose(self) -> None:
        await self.client.aclose()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "missions.db"


@pytest.fixture
async def agent(db: Path) -> AsyncIterator[Agent]:
    agent = Agent(db)
    await agent.call("list_missions")  # creates the database file
    yield agent
    await agent.aclose()


@pytest.fixture
async def page(db: Path, agent: Agent) -> AsyncIterator[httpx2.AsyncClient]:
    """The page's app on the same database, read through its own in-process client."""
    client = MissionsClient(Settings(backend="local", db_path=db))
    app = create_app(UI(Reader(client), DataVersionFeed(db), backend="the test database"))
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        yield http
    await client.aclose()
