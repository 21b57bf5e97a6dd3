"""Shared fixtures: the anyio backend, the contract, and servers wired to the embedded API."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from support import CONTRACT

pytest_plugins = ["pgcluster"]  # the PostgreSQL fixtures: postgres_server, postgres_url


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT.read_text())
