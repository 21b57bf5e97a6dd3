"""Every write is safe to repeat: it takes an ``idempotency_key``, sends it as the Idempotency-Key
header on every attempt, and when it fails after an attempt that may have reached the API, the
error says so, names the key and how to check. Arguments that end up in a header or a URL, and
text past its documented size, are refused before anything is sent."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest
from mcp import Client
from test_tool_requests import CASES

from missions_mcp.catalogue import BY_NAME, OPERATIONS
from missions_mcp.client import check_tool, parse_call
from missions_mcp.config import Settings
from missions_mcp.errors import MissionsError
from missions_mcp.models import MAX_ID, MAX_OBJECT_BYTES, MAX_STEPS, MAX_SUMMARY, MAX_TEXT
from missions_mcp.server import MissionsServer, build_server

from e2e import call_error, call_ok, connect
from fakeapi import RUN, event_data, make_client, ok, raises, run_data, status

WRITES = [op for op in OPERATIONS if not op.read_only]
MISSION_ID, RUN_ID = RUN["mission_id"], RUN["run_id"]


def _arguments(name: str) -> dict[str, Any]:
    op = BY_NAME[name]
    return {**{f: RUN.get(f, "id-1") for f in op.path_fields}, **CASES[name][0]}


def test_every_write_tool_takes_an_idempotency_key_and_no_read_does():
    for op in OPERATIONS:
        properties = op.input_schema["properties"]
        if op.read_only:
            assert "idempotency_key" not in properties, op.name
            continue
        # accepted by every write; advertised (within the tool list's byte budget) on the core creates
        parse_call(op, {**_arguments(op.name), "idempotency_key": "k-1"})
        if op.creates and op.core:
            assert properties["idempotency_key"]["type"] == "string", op.name
            assert "idempotency_key" not in op.input_schema.get("required", []), op.name
        else:
            assert "idempotency_key" not in properties, op.name


@pytest.mark.anyio
@pytest.mark.parametrize("op", WRITES, ids=lambda op: op.name)
async def test_the_callers_key_is_the_header_of_every_attempt_and_in_the_body_only_where_the_contract_has_it(op):
    client, api, _ = make_client(status(503), raises(httpx2.ReadError), ok({}))
    await client.call(op, {**_arguments(op.name), "idempotency_key": "agent-key-1"})
    assert api.header("Idempotency-Key") == ["agent-key-1"] * 3
    for request in api.requests:
        body = json.loads(request.content) if request.content else None
        if op.idempotency_field:
            assert body[op.idempotency_field] == "agent-key-1"
        elif isinstance(body, dict):
            assert "idempotency_key" not in body


@pytest.mark.anyio
async def test_reads_carry_no_key():
    client, api, _ = make_client(ok(run_data()))
    await client.call(BY_NAME["get_run"], RUN)
    assert api.header("Idempotency-Key") == [None]


def test_the_read_that_checks_a_write_is_derived_from_the_catalogue():
    expected = {
        "create_mission": "list_missions",
        "clone_mission": "list_missions",
        "delete_mission": "get_mission",
        "update_mission": "get_mission",
        "start_run": "list_runs",
        "update_run": "get_run",
        "cancel_run": "get_run",
        "log_event": "list_events",
        "create_plan": "get_plan",
        "add_plan_steps": "get_plan",
        "update_plan_step": "get_plan_step",
        "link_agent": "list_run_agents",
        "unlink_agent": "list_run_agents",
        "create_mission_tool": "list_mission_tools",
        "delete_knowledge_base": "get_knowledge_base",
    }
    for name, check in expected.items():
        assert check_tool(BY_NAME[name]) == check, name
    for op in WRITES:
        assert BY_NAME[check_tool(op)].read_only


# --------------------------------------------------------------------------- "may have been stored"

LOST = raises(httpx2.ReadError, "connection reset by peer")
REFUSED = raises(httpx2.ConnectError, "connection refused")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tool, script, stored_note, also",
    [
        ("log_event", [LOST, LOST, status(503)], True, ["HTTP 503", "list_events"]),
        ("create_mission", [LOST, raises(httpx2.ReadTimeout, "timed out")], True, ["did not answer", "list_missions"]),
        (
            "delete_mission",
            [LOST, status(404, {"detail": "Not Found"})],
            True,
            ["Not found", "get_mission (not found means it is gone)"],
        ),
        ("start_run", [status(500), status(429, headers={"Retry-After": "3600"})], True, ["3600 s", "list_runs"]),
        (
            "add_plan_steps",
            [LOST, status(409, {"detail": "step a exists"}, headers={"x-should-retry": "false"})],
            True,
            ["Conflict", "get_plan"],
        ),
        ("log_event", [REFUSED], False, ["Could not reach"]),
        ("log_event", [status(429), status(429), status(429)], False, ["HTTP 429"]),
        (
            "create_mission",
            [LOST, status(422, {"detail": [{"loc": ["body", "name"], "msg": "bad", "type": "x"}]})],
            False,
            ["name: bad"],
        ),
        ("update_run", [status(503), status(401, {"detail": "no"})], False, ["rejected the API key"]),
    ],
    ids=[
        "lost-then-503",
        "lost-then-timeout",
        "delete-lost-then-404",
        "500-then-long-429",
        "lost-then-409",
        "never-connected",
        "429s",
        "lost-then-422",
        "503-then-401",
    ],
)
async def test_a_failed_write_says_whether_it_may_have_been_stored(tool, script, stored_note, also):
    client, api, _ = make_client(*script, max_retries=len(script) - 1)
    with pytest.raises(MissionsError) as caught:
        await client.call(BY_NAME[tool], _arguments(tool))
    message, key = str(caught.value), api.header("Idempotency-Key")[0]
    assert key and len(set(api.header("Idempotency-Key"))) == 1
    for part in also:
        assert part in message, (part, message)
    if stored_note:
        assert caught.value.may_be_stored and caught.value.idempotency_key == key
        assert "The write may have been stored" in message
        assert f'call {tool} again with the same arguments and idempotency_key "{key}"' in message
    else:
        assert not caught.value.may_be_stored and "may have been stored" not in message
        assert key not in message


@pytest.mark.anyio
async def test_a_read_that_fails_after_a_lost_answer_says_nothing_of_storing():
    client, _, _ = make_client(LOST, LOST, LOST)
    with pytest.raises(MissionsError) as caught:
        await client.call(BY_NAME["get_run"], RUN)
    assert "stored" not in str(caught.value) and "idempotency" not in str(caught.value)


@pytest.mark.anyio
async def test_the_note_reaches_the_model_and_the_repeat_with_its_key_is_answered_from_the_first(tmp_path):
    """Against the embedded API: the first answer is lost every time, the repeat is replayed."""
    from missions_mcp.local import create_app

    app = create_app(tmp_path / "m.db")
    inner = httpx2.ASGITransport(app=app)
    lose = {"on": True}

    class LoseAnswers(httpx2.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            response = await inner.handle_async_request(request)
            if lose["on"] and request.method != "GET":
                await response.aread()
                raise httpx2.ReadError("connection reset by peer", request=request)
            return response

    from missions_mcp.client import MissionsClient

    async def no_sleep(seconds: float) -> None:
        pass

    settings = Settings(base_url="http://lossy.test/v2", max_retries=2)
    missions = build_server(settings, client=MissionsClient(settings, transport=LoseAnswers(), sleep=no_sleep))
    async with Client(missions.server, mode="legacy") as session:
        failed = await session.call_tool("create_mission", {"name": "Once"})
        text = failed.content[0].text
        assert failed.is_error and "may have been stored" in text and "list_missions" in text
        key = text.split('idempotency_key "', 1)[1].split('"', 1)[0]
        lose["on"] = False
        repeated = await session.call_tool("create_mission", {"name": "Once", "idempotency_key": key})
        again = await session.call_tool("create_mission", {"name": "Once", "idempotency_key": key})
        listed = await session.call_tool("list_missions", {})
        mission_id = repeated.structured_content["mission_id"]
        assert again.structured_content["mission_id"] == mission_id
        assert [m["mission_id"] for m in listed.structured_content["data"]] == [mission_id]

        lose["on"] = True
        gone = await session.call_tool("delete_mission", {"mission_id": mission_id})
        assert gone.is_error and "get_mission (not found means it is gone)" in gone.content[0].text
        key = gone.content[0].text.split('idempotency_key "', 1)[1].split('"', 1)[0]
        lose["on"] = False
        repeated = await session.call_tool("delete_mission", {"mission_id": mission_id, "idempotency_key": key})
        assert not repeated.is_error and repeated.structured_content["message"].startswith("Deleted")
    await missions.aclose()


# --------------------------------------------------------------------------- refused before sending

HOSTILE_ARGUMENTS = {
    "key-not-ascii": ("log_event", {"idempotency_key": "clé-1"}, "idempotency_key: must be printable ASCII"),
    "key-crlf": ("create_mission", {"idempotency_key": "k\r\nX-Evil: 1"}, "idempotency_key: must be printable"),
    "key-nul": ("delete_mission", {"idempotency_key": "k\x00"}, "idempotency_key: must be printable"),
    "key-surrogate": ("update_run", {"idempotency_key": "k\ud800"}, "idempotency_key: must be printable"),
    "key-too-long": ("start_run", {"idempotency_key": "k" * 256}, "idempotency_key: must be 1 to 255"),
    "key-empty": ("pause_run", {"idempotency_key": ""}, "idempotency_key: must be 1 to 255"),
    "key-not-string": ("cancel_run", {"idempotency_key": 7}, "idempotency_key: must be a string"),
    "key-spaces": ("link_agent", {"idempotency_key": " k "}, "without leading or trailing spaces"),
    "key-on-a-read": ("get_run", {"idempotency_key": "k"}, "idempotency_key: unknown argument"),
    "id-65k": ("get_event", {"event_id": "e" * 65_536}, f"event_id: Value error, must be an id of at most {MAX_ID}"),
    "id-crlf": ("update_plan_step", {"step_id": "s\r\n1"}, "step_id: Value error, must be an id without control"),
    "id-nul": ("get_plan_step", {"step_id": "a\x00b"}, "step_id: Value error, must be an id without control"),
    "query-lf": ("list_events", {"step_id": "a\nb"}, "step_id: Value error, must be an id without control"),
    "summary-5mb": (
        "log_event",
        {"summary": "x" * 5_000_000},
        f"summary: Value error, must be at most {MAX_SUMMARY:,} characters",
    ),
    "result-summary": (
        "update_run",
        {"result_summary": "x" * (MAX_TEXT + 1)},
        "result_summary: Value error, must be at most 10,000",
    ),
    "payload-300k": (
        "log_event",
        {"payload": {"blob": "x" * 300_000}},
        f"payload: Value error, is 300,011 bytes as JSON; at most {MAX_OBJECT_BYTES:,}",
    ),
    "payload-lone-surrogate": (
        "log_event",
        {"payload": {"note": "x\ud800"}},
        "payload.note: must be valid Unicode text; it holds a lone surrogate",
    ),
    "summary-lone-surrogate": ("log_event", {"summary": "\udfff"}, "summary: Input should be a valid string"),
    "too-many-steps": (
        "add_plan_steps",
        {"steps": [{"step_id": f"s{i}", "description": "d", "sequence": i} for i in range(MAX_STEPS + 1)]},
        "steps: Value error, must be at most 1,000 steps",
    ),
    "step-id-long": (
        "create_plan",
        {"steps": [{"step_id": "s" * 300, "description": "d", "sequence": 1}]},
        "steps[0].step_id: Value error, must be at most 255 characters",
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("tool, extra, expected", list(HOSTILE_ARGUMENTS.values()), ids=list(HOSTILE_ARGUMENTS))
async def test_arguments_bound_for_a_header_or_url_or_past_their_size_are_refused_before_sending(tool, extra, expected):
    client, api, _ = make_client(ok(event_data()))
    server = MissionsServer(client.settings, client=client)
    async with Client(server.server, mode="auto") as session:
        result = await session.call_tool(tool, {**_arguments(tool), **extra})
    await server.aclose()
    assert result.is_error, result
    assert "nothing was sent" in result.content[0].text
    assert expected in result.content[0].text, result.content[0].text
    assert api.requests == []


@pytest.mark.anyio
async def test_the_embedded_api_holds_the_same_limits(tmp_path):
    from missions_mcp.local import create_app

    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=create_app(tmp_path / "m.db")), base_url="http://local.test/v2"
    ) as api:
        too_long = await api.post("/ai/missions", json={"name": "n" * 501})
        assert too_long.status_code == 422
        mission = (await api.post("/ai/missions", json={"name": "ok"})).json()["data"]["mission_id"]
        run = (await api.post(f"/ai/missions/{mission}/runs", json={})).json()["data"]["run_id"]
        big = await api.post(
            f"/ai/missions/{mission}/runs/{run}/events", json={"type": "message", "summary": "s" * (MAX_SUMMARY + 1)}
        )
        assert big.status_code == 422 and "summary" in big.text
        heavy = await api.post(
            f"/ai/missions/{mission}/runs/{run}/events",
            json={"type": "message", "summary": "s", "payload": {"b": "x" * MAX_OBJECT_BYTES}},
        )
        assert heavy.status_code == 422 and "payload" in heavy.text


@pytest.mark.anyio
async def test_a_valid_call_at_the_limits_is_stored(tmp_path):
    missions = build_server(Settings(backend="local", db_path=tmp_path / "m.db"))
    async with connect(missions, "auto") as session:
        mission = await call_ok(session, "create_mission", {"name": "n" * 500, "idempotency_key": "~" * 255})
        ref = {"mission_id": mission["mission_id"]}
        run = await call_ok(session, "start_run", ref)
        ref["run_id"] = run["run_id"]
        payload = {"b": "x" * (MAX_OBJECT_BYTES - 100)}
        event = await call_ok(
            session, "log_event", {**ref, "type": "message", "summary": "s" * MAX_SUMMARY, "payload": payload}
        )
        stored = await call_ok(session, "get_event", {**ref, "event_id": event["event_id"]})
        assert stored["data"]["payload"] == payload
        assert "summary" in await call_error(
            session, "log_event", {**ref, "type": "message", "summary": "s" * (MAX_SUMMARY + 1)}
        )
    await missions.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "value, expected",
    [
        (float("nan"), "result_payload: Value error, must hold finite numbers only"),
        (float("inf"), "result_payload: Value error, must hold finite numbers only"),
    ],
)
async def test_numbers_json_cannot_carry_are_refused_before_sending(value, expected):
    """An MCP client turns NaN into null on the wire; a library caller can still hand one over."""
    client, api, _ = make_client(ok(run_data()))
    with pytest.raises(MissionsError) as caught:
        await client.call(BY_NAME["update_run"], {**RUN, "result_payload": {"score": value}})
    assert expected in str(caught.value) and api.requests == []


def test_a_body_json_cannot_carry_names_the_field():
    from missions_mcp.client import encode_body
    from missions_mcp.errors import ArgumentError

    with pytest.raises(ArgumentError) as caught:
        encode_body({"payload": {"list": [1, "ok", "bad\ud800"]}})
    assert "payload.list[2]: must be valid Unicode text" in str(caught.value)
    with pytest.raises(ArgumentError) as caught:
        encode_body({"result_payload": {"x": float("nan")}})
    assert "result_payload.x: must be a finite number" in str(caught.value)
    assert encode_body({"a": "ü"}) == '{"a":"ü"}'.encode()
