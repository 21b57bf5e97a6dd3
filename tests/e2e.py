"""A real MCP server on the real embedded API, with the HTTP traffic between them recorded.

Nothing here is a stand-in: ``MissionsServer`` → ``MissionsClient`` → httpx2 → ASGI → the
embedded FastAPI app → SQLite. The recorder is an httpx2 event hook; it only looks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.server import MissionsServer, build_server

from support import Client


@dataclass
class Exchange:
    method: str
    raw_path: str
    query: list[tuple[str, str]]
    body: Any
    headers: httpx2.Headers
    status: int = 0


@dataclass
class Recorder:
    exchanges: list[Exchange] = field(default_factory=list)

    async def on_request(self, request: httpx2.Request) -> None:
        body = json.loads(request.content) if request.content else None
        self.exchanges.append(
            Exchange(
                request.method,
                request.url.raw_path.decode().split("?", 1)[0],
                list(request.url.params.multi_items()),
                body,
                request.headers,
            )
        )

    async def on_response(self, response: httpx2.Response) -> None:
        self.exchanges[-1].status = response.status_code

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self.on_request], "response": [self.on_response]}

    def clear(self) -> None:
        self.exchanges.clear()


def local_settings(db: Path, **overrides: Any) -> Settings:
    return Settings(backend="local", db_path=db, **overrides)


def recorded_server(db: Path, recorder: Recorder, **overrides: Any) -> MissionsServer:
    settings = local_settings(db, **overrides)
    return build_server(settings, client=MissionsClient(settings, event_hooks=recorder.hooks()))


@asynccontextmanager
async def connect(missions: MissionsServer, mode: str) -> AsyncIterator[Client]:
    async with Client(missions.server, mode=mode) as client:
        yield client


async def call_ok(client: Client, name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must succeed; return its structuredContent (checked against the text block)."""
    result = await client.call_tool(name, args)
    assert not result.is_error, f"{name} failed: {result.content[0].text}"
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def call_error(client: Client, name: str, args: dict[str, Any]) -> str:
    result = await client.call_tool(name, args)
    assert result.is_error, f"{name} should have failed: {result.structured_content}"
    return result.content[0].text
