"""Fuzz: every tool, fed arguments drawn from its input schema and hostile values (wrong types,
huge strings, NUL, lone surrogates, deep nesting, ``../``, ``%2e%2e``, ``?``, ``#``, CR/LF ...),
answers with a result, never a JSON-RPC error; a call answered with an error stores nothing; and no
request leaves for a path other than the operation's own, each id one encoded segment.

The real server through a real MCP client, on the real embedded API (in process, SQLite), kept
open across examples in a portal thread. Quick: a few examples a tool. Slow: 100 a tool.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import anyio
import anyio.from_thread
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.shared.exceptions import MCPError

from missions_mcp.catalogue import BY_NAME, OPERATIONS
from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.server import build_server

PATH_TRICKS = [
    "..",
    ".",
    "../",
    "../../etc/passwd",
    "%2e%2e",
    "%2E%2E%2F",
    "..%2f",
    "a/../b",
    "?x=1",
    "#frag",
    "a?b#c",
    "%00",
    "%",
    "%zz",
    " ",
    "\\..\\",
    "~",
    "a/b",
    "/",
    "//",
    "..;/",
    "%252e%252e",
]
NASTY_TEXT = [
    "",
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "\r\nX-Injected: 1",
    "\n",
    "\t",
    "\u202egnp.exe",
    "ü",
    "😀",
    "<script>alert(1)</script>",
    "x" * 70_000,
    "y" * 300_000,
]


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


HOSTILE: list[Any] = [
    *PATH_TRICKS,
    *NASTY_TEXT,
    0,
    -1,
    2**63,
    -(10**30),
    1.5,
    float("inf"),
    float("nan"),
    True,
    None,
    [],
    {},
    [1, "a"],
    {"a": {"b": None}},
    _deep(150),
    _deep(190),
]


def hostile() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(max_size=40),
        st.integers(),
        st.floats(),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    )


def from_schema(schema: dict[str, Any], ids: dict[str, list[str]], name: str = "") -> st.SearchStrategy[Any]:
    """Values that fit a (lean) JSON Schema of this project's tools, with known ids mixed in."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if name in ids:
        return st.one_of(st.sampled_from(ids[name]), st.uuids().map(str))
    if kind == "string":
        if schema.get("format") == "uuid":
            return st.uuids().map(str)
        return st.text(min_size=schema.get("minLength", 0), max_size=30)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", -5), max_value=schema.get("maximum", 2000))
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {}), ids), min_size=schema.get("minItems", 0), max_size=3)
    if kind == "object" and "properties" in schema:
        return arguments(schema, ids)
    if kind == "object":
        return st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=10)), max_size=3)
    return st.one_of(st.text(max_size=10), st.integers(), st.none())


def arguments(schema: dict[str, Any], ids: dict[str, list[str]]) -> st.SearchStrategy[dict[str, Any]]:
    """An arguments object: each property valid, hostile or left out; sometimes an unknown key."""
    required = set(schema.get("required", []))

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            choice = draw(
                st.sampled_from(
                    ["valid", "valid", "hostile", "absent"]
                    if name in required
                    else ["valid", "hostile", "absent", "absent"]
                )
            )
            if choice == "valid":
                out[name] = draw(from_schema(prop, ids, name))
            elif choice == "hostile":
                out[name] = draw(hostile())
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.sampled_from(["verbose", "../x", "", "\x00"]))] = draw(hostile())
        return out

    return build()


# --------------------------------------------------------------------------- the server, kept open


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        self.statuses: list[int] = []

    async def on_request(self, request: httpx2.Request) -> None:
        self.requests.append((request.method, request.url.raw_path.decode("ascii").split("?", 1)[0]))

    async def on_response(self, response: httpx2.Response) -> None:
        self.statuses.append(response.status_code)


class Harness:
    def __init__(
        self,
        portal: anyio.from_thread.BlockingPortal,
        session: Client,
        recorder: Recorder,
        db: str,
        ids: dict[str, list[str]],
    ):
        self.portal, self.session, self.recorder, self.ids = portal, session, recorder, ids
        self.db = sqlite3.connect(db)
        self.calls = self.refused = self.sent = 0

    def data_version(self) -> int:
        """Changes whenever another connection (the embedded API) commits."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def call(self, name: str, args: dict[str, Any]) -> Any:
        return self.portal.call(self.session.call_tool, name, args)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("fuzz") / "m.db"
    recorder = Recorder()
    local = Settings(backend="local", db_path=db)
    client = MissionsClient(local, event_hooks={"request": [recorder.on_request], "response": [recorder.on_response]})
    missions = build_server(local, client=client)
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(Client(missions.server, mode="auto")) as session,
    ):
        mission = portal.call(session.call_tool, "create_mission", {"name": "fuzz"}).structured_content
        ref = {"mission_id": mission["mission_id"]}
        run = portal.call(session.call_tool, "start_run", ref).structured_content
        ref["run_id"] = run["run_id"]
        portal.call(session.call_tool, "update_run", {**ref, "status": "running"})
        portal.call(
            session.call_tool, "create_plan", {**ref, "steps": [{"step_id": "s1", "description": "one", "sequence": 1}]}
        )
        event = portal.call(session.call_tool, "log_event", {**ref, "type": "message", "summary": "hi"})
        ids = {
            "mission_id": [ref["mission_id"]],
            "run_id": [ref["run_id"]],
            "step_id": ["s1"],
            "event_id": [event.structured_content["event_id"]],
        }
        harness = Harness(portal, session, recorder, str(db), ids)
        yield harness
        portal.call(missions.aclose)
        harness.db.close()
        print(
            f"\nfuzz: {harness.calls} calls, {harness.refused} answered with an error, {harness.sent} HTTP "
            f"requests, 0 JSON-RPC errors, 0 stored by a refused call, 0 requests to an invalid path"
        )


def _path_is_the_operations(op: Any, sent: tuple[str, str]) -> str | None:
    """Why a request that left is not one the operation may send, or ``None``."""
    sent_method, raw = sent
    op_path, method = op.path, op.method
    properties = op.input_schema["properties"]
    template = op_path.split("/")
    segments = raw.removeprefix("/v2").split("/")
    if sent_method != method or len(segments) != len(template):
        return f"{sent_method} {raw} is not {method} {op_path}"
    for want, got in zip(template, segments, strict=True):
        if want.startswith("{"):
            value = unquote(got)
            if not got or value in (".", "..") or "/" in got or "?" in got or "#" in got:
                return f"segment {got!r} of {raw} is not one encoded id"
            if properties[want.strip("{}")].get("format") == "uuid" and _uuid(value) is None:
                return f"{want} {got!r} of {raw} is not a UUID"
        elif want != got:
            return f"{raw} differs from {op_path} at {got!r}"
    return None


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def check_one(harness: Harness, name: str, args: dict[str, Any]) -> None:
    op = BY_NAME[name]
    before_requests = len(harness.recorder.requests)
    before = harness.data_version()
    try:
        result = harness.call(name, args)
    except MCPError as exc:  # a JSON-RPC error: what this proof says never happens
        raise AssertionError(f"{name} answered a JSON-RPC error {exc} for {args!r:.300}") from None
    harness.calls += 1
    sent = harness.recorder.requests[before_requests:]
    harness.sent += len(sent)
    assert result.content and result.content[0].type == "text", result
    for request in sent:
        wrong = _path_is_the_operations(op, request)
        assert wrong is None, f"{name}: {wrong} (arguments {args!r:.300})"
    assert all(status < 500 for status in harness.recorder.statuses[before_requests:]), (name, args)
    if result.is_error:
        harness.refused += 1
        text = result.content[0].text
        if text.startswith("Invalid arguments; nothing was sent"):
            assert not sent, f"{name} refused the arguments but sent {sent}"
        assert harness.data_version() == before, f"{name} answered an error but stored something: {text[:200]}"


QUICK = settings(
    max_examples=4, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
FULL = settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _run(harness: Harness, name: str, budget: settings) -> None:
    op = BY_NAME[name]

    @budget
    @given(args=arguments(op.input_schema, harness.ids))
    def fuzz(args: dict[str, Any]) -> None:
        check_one(harness, name, args)

    fuzz()


@pytest.mark.parametrize("name", [op.name for op in OPERATIONS])
def test_fuzz_every_tool_answers_a_result_and_a_refused_call_stores_nothing(harness: Harness, name: str):
    _run(harness, name, QUICK)


@pytest.mark.slow
@pytest.mark.parametrize("name", [op.name for op in OPERATIONS])
def test_proof_fuzz_100_examples_a_tool(harness: Harness, name: str):
    _run(harness, name, FULL)


GRID_QUICK = ["..", "%2e%2e", "a/../b", "?x=1", "#frag", "a\x00b", "\ud800", "\r\nX: 1", 2**63, None, _deep(150)]
GRID_FULL = [
    *PATH_TRICKS,
    *NASTY_TEXT,
    2**63,
    -(10**30),
    float("nan"),
    float("inf"),
    True,
    None,
    [],
    {},
    _deep(150),
    _deep(190),
]


def _grid(harness: Harness, values: list[Any]) -> None:
    """Not left to chance: each hostile value once in each argument of each tool, the rest valid."""
    for op in OPERATIONS:
        base = {f: harness.ids.get(f, ["x1"])[0] for f in op.input_schema.get("required", [])}
        base.update({"type": "message", "summary": "s"} if op.name == "log_event" else {})
        base.update({"steps": [{"step_id": "z", "description": "d", "sequence": 9}]} if "steps" in base else {})
        base.update({"body": {"name": "n"}} if "body" in base else {})
        for field in op.input_schema.get("properties", {}):
            for value in values:
                check_one(harness, op.name, {**base, field: value})


def test_each_hostile_value_in_each_argument_of_each_tool(harness: Harness):
    _grid(harness, GRID_QUICK)


@pytest.mark.slow
def test_proof_every_hostile_value_in_every_argument_of_every_tool(harness: Harness):
    _grid(harness, GRID_FULL)
