"""Shared fixtures: the one anyio backend, the one list of protocol modes, the contract, a connected client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from missions_mcp.config import Settings
from missions_mcp.server import build_server

from support import CONTRACT, MODES, Client

pytest_plugins = ["pgcluster"]  # the PostgreSQL fixtures: postgres_server, postgres_url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """The protocol era of an ``mcp.Client``: ``auto`` (2026-07-28) and ``legacy`` (2025-11-25)."""
    return str(request.param)


@pytest.fixture(scope="session")
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT.read_text())


@pytest.fixture
async def client(tmp_path: Path, mode: str) -> AsyncIterator[Any]:
    """An ``mcp.Client`` in protocol era ``mode``, connected to a server on a fresh embedded database."""
    missions = build_server(Settings(backend="local", db_path=tmp_path / "m.db"))
    try:
        async with Client(missions.server, mode=mode) as connected:
            yield connected
    finally:
        await missions.aclose()
