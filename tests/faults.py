"""Faults between the MCP server and the Missions API, and an agent that does what errors tell it.

Two ways to inject the same faults, chosen per request from a seeded plan:

- :class:`FaultyTransport` wraps the in-process transport of the embedded API (the quick tests);
- :class:`FaultProxy` is an HTTP proxy on loopback in front of a real ``missions-mcp api`` (the
  slow proof): it parses each request, then resets the connection before forwarding it, forwards
  it and resets instead of answering, answers 503 or 429 with ``Retry-After`` itself, or passes it.

:class:`Agent` calls tools through a real MCP client; when an error says a write may have been
stored and names its idempotency key, it repeats the call with that key, as the error tells it;
when a call fails without that note, it checks the write was not stored, then calls again.
"""

from __future__ import annotations

import asyncio
import random
import re
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
from mcp import Client

FAULTS = ("reset-before", "reset-after", "503", "429")
HOP_BY_HOP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


@dataclass
class FaultPlan:
    """Which fault each request meets: ``rate`` of the writes meet one, drawn from a seeded generator.
    Reads pass, so the agent's checks and the final count see the truth."""

    rate: float
    seed: int = 8
    injected: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._burst = 0

    def next(self, method: str) -> str | None:
        self.requests += 1
        if method == "GET":
            return None
        if self._burst:  # rate limits come in bursts: long enough, a call runs out of retries
            self._burst -= 1
            self.injected["429"] += 1
            return "429"
        if self._random.random() >= self.rate:
            return None
        fault = self._random.choice(FAULTS)
        if fault == "429" and self._random.random() < 0.25:
            self._burst = 24
        self.injected[fault] += 1
        return fault


def _synthetic(fault: str) -> tuple[int, dict[str, str], bytes]:
    if fault == "503":
        return 503, {"content-type": "application/json"}, b'{"detail": "Service unavailable"}'
    return 429, {"content-type": "application/json", "retry-after": "1"}, b'{"detail": "Too many requests"}'


class FaultyTransport(httpx2.AsyncBaseTransport):
    """The faults of a :class:`FaultPlan`, around another transport (in process)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, plan: FaultPlan):
        self.inner, self.plan = inner, plan

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        fault = self.plan.next(request.method)
        if fault == "reset-before":
            raise httpx2.ReadError("connection reset by peer (before the API saw it)", request=request)
        if fault in ("503", "429"):
            status, headers, body = _synthetic(fault)
            return httpx2.Response(status, headers=headers, content=body, request=request)
        response = await self.inner.handle_async_request(request)
        if fault == "reset-after":
            await response.aread()
            raise httpx2.ReadError("connection reset by peer (after the API answered)", request=request)
        return response


class FaultProxy:
    """An HTTP/1.1 proxy on a loopback port in front of ``upstream``, injecting the plan's faults."""

    def __init__(self, upstream: str, plan: FaultPlan):
        self.upstream, self.plan = upstream, plan
        self._server: asyncio.base_events.Server | None = None
        # a fresh connection per request: no race with the API closing an idle keep-alive connection
        self._http = httpx2.AsyncClient(
            base_url=upstream, timeout=30, limits=httpx2.Limits(max_keepalive_connections=0)
        )
        self.port = 0

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._http.aclose()

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # RST rather than FIN: the client sees "connection reset by peer"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(line.split(":", 1)) for line in lines[1:] if ":" in line]
                length = next((int(v) for k, v in headers if k.strip().lower() == "content-length"), 0)
                body = await reader.readexactly(length) if length else b""
                fault = self.plan.next(method)
                if fault == "reset-before":
                    return self._reset(writer)
                if fault in ("503", "429"):
                    status, answer_headers, content = _synthetic(fault)
                else:
                    forwarded = {k.strip(): v.strip() for k, v in headers if k.strip().lower() not in HOP_BY_HOP}
                    response = await self._http.request(method, target, headers=forwarded, content=body)
                    if fault == "reset-after":
                        return self._reset(writer)
                    status, content = response.status_code, response.content
                    answer_headers = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
                out = [f"HTTP/1.1 {status} {httpx2.codes.get_reason_phrase(status)}"]
                out += [f"{k}: {v}" for k, v in answer_headers.items() if k.lower() != "content-encoding"]
                out.append(f"content-length: {len(content)}")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + content)
                await writer.drain()
        finally:
            if not writer.transport.is_closing():
                writer.close()


# --------------------------------------------------------------------------- the agent

KEY_IN_ERROR = re.compile(r'may have been stored.*?idempotency_key "([^"]+)"', re.DOTALL)


@dataclass
class Tally:
    calls: int = 0
    acknowledged: int = 0
    failed_may_be_stored: int = 0
    failed_not_stored: int = 0
    repeats: int = 0
    wrongly_not_stored: list[str] = field(default_factory=list)
    """Failures reported without "may have been stored" whose write was stored all the same."""
    replay_mismatch: list[str] = field(default_factory=list)


Stored = Callable[[], Awaitable[int]]
"""How many times a call's write is stored, read from the API directly (no faults)."""


class Agent:
    """Calls tools through an MCP client and handles failures as their messages say."""

    def __init__(self, client: Client, tally: Tally):
        self.client, self.tally = client, tally

    async def write(self, tool: str, args: dict[str, Any], stored: Stored) -> dict[str, Any]:
        """One logical write, repeated until it succeeds; returns its structured result."""
        for _ in range(20):
            self.tally.calls += 1
            result = await self.client.call_tool(tool, args)
            if not result.is_error:
                self.tally.acknowledged += 1
                return result.structured_content or {}
            text = result.content[0].text
            told = KEY_IN_ERROR.search(text)
            if told:
                self.tally.failed_may_be_stored += 1
                return await self._repeat(tool, args, told.group(1), stored)
            self.tally.failed_not_stored += 1
            if await stored():
                self.tally.wrongly_not_stored.append(f"{tool}: {text[:200]}")
        raise AssertionError(f"{tool} never succeeded")

    async def _repeat(self, tool: str, args: dict[str, Any], key: str, stored: Stored) -> dict[str, Any]:
        for _ in range(20):
            self.tally.repeats += 1
            result = await self.client.call_tool(tool, {**args, "idempotency_key": key})
            if not result.is_error:
                return result.structured_content or {}
            text = result.content[0].text
            told = KEY_IN_ERROR.search(text)
            if told and told.group(1) != key:
                self.tally.replay_mismatch.append(f"{tool}: told to use {told.group(1)}, not {key}")
        raise AssertionError(f"{tool} with key {key} never succeeded")


# --------------------------------------------------------------------------- the scenario


@dataclass
class Counts:
    log_event: int
    create_mission: int
    start_run: int
    add_plan_steps: int
    delete_mission: int


class Truth:
    """The API read directly, without faults: how many times each write is stored."""

    def __init__(self, api: httpx2.AsyncClient):
        self.api = api

    async def all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = (await self.api.get(path, params={"page[number]": page, "page[size]": 1000})).json()
            items += answer["data"]
            if page >= answer["meta"]["total_pages"]:
                return items
            page += 1

    async def count(self, path: str, key: str, value: Any) -> int:
        return sum(1 for item in await self.all(path) if _get(item, key) == value)

    async def plan(self, mission: str, run: str) -> list[dict[str, Any]]:
        return (await self.api.get(f"/ai/missions/{mission}/runs/{run}/plan")).json()["data"]

    async def exists(self, mission: str) -> bool:
        return (await self.api.get(f"/ai/missions/{mission}")).status_code == 200


def _get(item: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        item = (item or {}).get(part)  # type: ignore[assignment]
    return item


@dataclass
class Report:
    tally: Tally
    lost: int
    duplicated: int
    wrong_answers: list[str]


async def run_scenario(
    session: Client, api: httpx2.AsyncClient, counts: Counts, *, concurrency: int = 4, tag: str = ""
) -> Report:
    """Every write of ``counts`` through ``session`` as an :class:`Agent`; then each counted in the API."""
    import anyio

    truth = Truth(api)
    mission = (await api.post("/ai/missions", json={"name": f"faults {tag}"})).json()["data"]["mission_id"]
    run = (await api.post(f"/ai/missions/{mission}/runs", json={})).json()["data"]["run_id"]
    await api.patch(f"/ai/missions/{mission}/runs/{run}", json={"status": "running"})
    await api.post(
        f"/ai/missions/{mission}/runs/{run}/plan",
        json={"steps": [{"step_id": "s0", "description": "start", "sequence": 0}]},
    )
    doomed = [
        (await api.post("/ai/missions", json={"name": f"doomed {tag} {i}"})).json()["data"]["mission_id"]
        for i in range(counts.delete_mission)
    ]
    events_path = f"/ai/missions/{mission}/runs/{run}/events"
    tally = Tally()
    agent = Agent(session, tally)
    answers: dict[tuple[str, int], dict[str, Any]] = {}
    ref = {"mission_id": mission, "run_id": run}

    def jobs() -> list[tuple[str, int, dict[str, Any], Stored]]:
        out: list[tuple[str, int, dict[str, Any], Stored]] = []
        for i in range(counts.create_mission):
            name = f"made {tag} {i}"
            out.append(
                ("create_mission", i, {"name": name}, lambda name=name: truth.count("/ai/missions", "name", name))
            )
        for i in range(counts.start_run):
            out.append(
                (
                    "start_run",
                    i,
                    {"mission_id": mission, "metadata": {"n": i}},
                    lambda i=i: truth.count(f"/ai/missions/{mission}/runs", "metadata.n", i),
                )
            )
        for i in range(counts.add_plan_steps):
            step = {"step_id": f"a{i}", "description": f"step {i}", "sequence": i + 1}

            async def plan_count(i: int = i) -> int:
                return sum(1 for s in await truth.plan(mission, run) if s["step_id"] == f"a{i}")

            out.append(("add_plan_steps", i, {**ref, "steps": [step]}, plan_count))
        for i in range(counts.log_event):
            out.append(
                (
                    "log_event",
                    i,
                    {**ref, "type": "message", "summary": f"event {i}"},
                    lambda i=i: truth.count(events_path, "summary", f"event {i}"),
                )
            )
        for i, gone in enumerate(doomed):

            async def deleted(gone: str = gone) -> int:
                return 0 if await truth.exists(gone) else 1

            out.append(("delete_mission", i, {"mission_id": gone}, deleted))
        random.Random(3).shuffle(out)
        return out

    limiter = anyio.CapacityLimiter(concurrency)

    async def one(tool: str, i: int, args: dict[str, Any], stored: Stored) -> None:
        async with limiter:
            answers[(tool, i)] = await agent.write(tool, args, stored)

    async with anyio.create_task_group() as tg:
        for job in jobs():
            tg.start_soon(one, *job)

    # The truth, read once: each logical write stored exactly once, and its answer is what was stored.
    lost = duplicated = 0
    wrong: list[str] = []
    missions = Counter(m["name"] for m in await truth.all("/ai/missions"))
    by_name = {m["name"]: m["mission_id"] for m in await truth.all("/ai/missions")}
    runs = Counter(_get(r, "metadata.n") for r in await truth.all(f"/ai/missions/{mission}/runs"))
    steps = Counter(s["step_id"] for s in await truth.plan(mission, run))
    events = await truth.all(events_path)
    by_summary = Counter(e["summary"] for e in events)
    event_ids = {e["summary"]: e["event_id"] for e in events}

    def check(n: int, what: str) -> None:
        nonlocal lost, duplicated
        if n == 0:
            lost += 1
            wrong.append(f"lost: {what}")
        elif n > 1:
            duplicated += n - 1
            wrong.append(f"{n} times: {what}")

    for i in range(counts.create_mission):
        check(missions[f"made {tag} {i}"], f"mission {i}")
        if answers[("create_mission", i)]["mission_id"] != by_name.get(f"made {tag} {i}"):
            wrong.append(f"create_mission {i} answered another mission than the one stored")
    for i in range(counts.start_run):
        check(runs[i], f"run {i}")
    for i in range(counts.add_plan_steps):
        check(steps[f"a{i}"], f"step a{i}")
    for i in range(counts.log_event):
        check(by_summary[f"event {i}"], f"event {i}")
        if answers[("log_event", i)]["event_id"] != event_ids.get(f"event {i}"):
            wrong.append(f"log_event {i} answered another event than the one stored")
    for i, gone in enumerate(doomed):
        if await truth.exists(gone):
            lost += 1
            wrong.append(f"mission {gone} not deleted")
        if not answers[("delete_mission", i)].get("ok"):
            wrong.append(f"delete_mission {i} answered {answers[('delete_mission', i)]}")
    return Report(tally, lost, duplicated, wrong)
