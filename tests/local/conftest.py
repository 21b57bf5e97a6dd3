"""Fixtures of the embedded API tests: an app on a fresh database, a client, a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import uvicorn

from missions_mcp.local import create_app


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "m.db"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def engine(request: pytest.FixtureRequest) -> str:
    """Each test of the embedded API runs on both engines (PostgreSQL's among the slow tests)."""
    return str(request.param)


@pytest.fixture
def store_target(engine: str, db_path: Path, request: pytest.FixtureRequest) -> str | Path:
    """Where the app under test keeps its data: a SQLite file, or a fresh place on a real PostgreSQL."""
    return db_path if engine == "sqlite" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def app(store_target: str | Path) -> Iterator[Any]:
    app = create_app(store_target)
    yield app
    app.state.store.close()  # the lifespan that would close it does not run under ASGITransport


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://local") as c:
        yield c


class Api:
    """Small helpers over a client: create the things most tests need."""

    def __init__(self, client: httpx2.AsyncClient):
        self.c = client

    async def mission(self, **fields: Any) -> str:
        r = await self.c.post("/ai/missions", json={"name": "m", **fields})
        assert r.status_code == 201, r.text
        return r.json()["data"]["mission_id"]

    async def run(self, mission_id: str | None = None, status: str | None = None) -> tuple[str, str]:
        mission_id = mission_id or await self.mission()
        r = await self.c.post(f"/ai/missions/{mission_id}/runs", json={})
        assert r.status_code == 201, r.text
        run_id = r.json()["data"]["run_id"]
        if status is not None:
            for step in {
                "running": ["running"],
                "paused": ["running", "paused"],
                "succeeded": ["running", "succeeded"],
                "failed": ["failed"],
                "cancelled": ["cancelled"],
                "pending": [],
            }[status]:
                r = await self.c.patch(f"/ai/missions/{mission_id}/runs/{run_id}", json={"status": step})
                assert r.status_code == 200, r.text
        return mission_id, run_id

    async def event(self, mission_id: str, run_id: str, **fields: Any) -> httpx2.Response:
        body = {"type": "message", "summary": "hello", **fields}
        return await self.c.post(f"/ai/missions/{mission_id}/runs/{run_id}/events", json=body)


@pytest.fixture
def api(client: httpx2.AsyncClient) -> Api:
    return Api(client)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_url(store_target: str | Path) -> Iterator[str]:
    """The API served by uvicorn on loopback in a background thread."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(store_target), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
