"""A scripted upstream for fault-injection tests: an ``httpx2.MockTransport`` that answers from a
script, records every request, and a client whose backoff sleeps are recorded, never slept."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx2

from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings

BASE_URL = "https://api.example.test/v2"
MISSION_ID = str(uuid4())
RUN_ID = str(uuid4())
RUN = {"mission_id": MISSION_ID, "run_id": RUN_ID}
NOW = "2026-01-01T00:00:00Z"

Answer = Callable[[httpx2.Request], httpx2.Response]


def status(code: int, json: Any = None, *, headers: dict[str, str] | None = None, text: str | None = None) -> Answer:
    """An answer with this status; a fresh response per request (a response body is read once)."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        if text is not None:
            return httpx2.Response(code, text=text, headers=headers)
        return httpx2.Response(code, json=json, headers=headers)

    return answer


def raises(kind: type[httpx2.TransportError], message: str = "connection reset by peer") -> Answer:
    """An answer that never comes: the transport raises ``kind`` (connect/read error, timeout)."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        raise kind(message, request=request)

    return answer


def ok(data: Any = None) -> Answer:
    return status(200, {"data": {} if data is None else data})


def run_data() -> dict[str, Any]:
    return {**RUN, "status": "running", "started_at": NOW, "updated_at": NOW}


def event_data() -> dict[str, Any]:
    return {"event_id": "ev-1", "run_id": RUN_ID, "type": "message", "summary": "hi", "timestamp": NOW}


def step_data() -> dict[str, Any]:
    return {"step_id": "s1", "run_id": RUN_ID, "sequence": 1, "description": "d", "status": "completed"}


class ScriptedAPI:
    """Answers requests in script order; the last answer repeats. ``requests`` holds every request seen."""

    def __init__(self, *script: Answer):
        self.script = list(script) or [ok()]
        self.requests: list[httpx2.Request] = []
        self.transport = httpx2.MockTransport(self._handle)

    def _handle(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.script[min(len(self.requests), len(self.script)) - 1]
        return answer(request)

    def header(self, name: str) -> list[str | None]:
        return [r.headers.get(name) for r in self.requests]


def make_client(
    *script: Answer, api_key: str | None = "test-key", **settings: Any
) -> tuple[MissionsClient, ScriptedAPI, list[float]]:
    """A client on a scripted upstream; returns it, the upstream and the list of recorded sleeps."""
    api = ScriptedAPI(*script)
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    options: dict[str, Any] = {"base_url": BASE_URL, "max_retries": 2, **settings}
    client = MissionsClient(Settings(api_key=api_key, **options), transport=api.transport, sleep=sleep)
    return client, api, sleeps
