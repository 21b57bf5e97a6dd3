"""Shared fixtures: the one anyio backend, the one list of protocol modes, the contract."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from support import CONTRACT, MODES

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
