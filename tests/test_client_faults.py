"""Upstream faults the embedded API cannot produce, injected through ``httpx2.MockTransport``:
retries and their backoff, idempotency keys, Retry-After, error messages, argument validation
before the network, the missing-key error, and connection pooling."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import anyio
import httpx2
import pytest

from missions_mcp.catalogue import BY_NAME
from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.errors import (
    ArgumentError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    MissionsError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TransportError,
    UnprocessableError,
)
from missions_mcp.server import MissionsServer

from fakeapi import MISSION_ID, RUN, RUN_ID, ScriptedAPI, event_data, make_client, ok, raises, run_data, status
from support import Client

UPDATE_RUN = ("update_run", {**RUN, "status": "succeeded", "result_summary": "done"})
GET_RUN = ("get_run", RUN)
LOG_EVENT_ARGS = {**RUN, "type": "message", "summary": "hello"}


async def call(client: MissionsClient, tool: str, args: dict[str, Any]) -> Any:
    return (await client.call(BY_NAME[tool], args)).data


async def fails(client: MissionsClient, tool: str, args: dict[str, Any], kind: type[MissionsError]) -> str:
    """Call, expect ``kind``; return its message."""
    with pytest.raises(kind) as caught:
        await call(client, tool, args)
    return str(caught.value)


# --------------------------------------------------------------------------- idempotency


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fault",
    [
        status(503, {"detail": "busy"}),
        raises(httpx2.ConnectError),
        raises(httpx2.ReadError),
    ],
    ids=["503", "connect-error", "read-error"],
)
async def test_a_retried_write_carries_one_idempotency_key(fault):
    client, api, _ = make_client(fault, fault, ok(run_data()))
    await call(client, *UPDATE_RUN)
    keys = api.header("Idempotency-Key")
    assert len(keys) == 3
    assert keys[0] and len(set(keys)) == 1
    assert len({r.content for r in api.requests}) == 1  # the same body each time


@pytest.mark.anyio
async def test_separate_writes_get_different_keys_and_reads_none():
    client, api, _ = make_client(ok(run_data()))
    await call(client, *UPDATE_RUN)
    await call(client, *UPDATE_RUN)
    await call(client, *GET_RUN)
    first, second, read = api.header("Idempotency-Key")
    assert first and second and first != second
    assert read is None


@pytest.mark.anyio
@pytest.mark.parametrize("given", [{}, {"idempotency_key": None}], ids=["left-out", "null"])
async def test_log_event_fills_the_body_key_with_the_header_key_on_every_retry(given):
    client, api, _ = make_client(status(503), raises(httpx2.ReadError), status(201, {"data": event_data()}))
    await call(client, "log_event", {**LOG_EVENT_ARGS, **given})
    assert len(api.requests) == 3
    body_keys = [json.loads(r.content)["idempotency_key"] for r in api.requests]
    assert body_keys == api.header("Idempotency-Key")
    assert body_keys[0] and len(set(body_keys)) == 1


@pytest.mark.anyio
async def test_log_event_keeps_the_callers_key_and_sends_it_as_the_header():
    client, api, _ = make_client(status(500), status(201, {"data": event_data()}))
    await call(client, "log_event", {**LOG_EVENT_ARGS, "idempotency_key": "mine-1"})
    assert [json.loads(r.content)["idempotency_key"] for r in api.requests] == ["mine-1", "mine-1"]
    assert api.header("Idempotency-Key") == ["mine-1", "mine-1"]


# --------------------------------------------------------------------------- what is retried


@pytest.mark.anyio
@pytest.mark.parametrize(
    "fault",
    [
        *(status(code, {"detail": "try again"}) for code in (408, 409, 429, 500, 502, 503, 504)),
        raises(httpx2.ConnectError),
        raises(httpx2.ReadError),
        raises(httpx2.ReadTimeout, "timed out"),
        raises(httpx2.ConnectTimeout, "timed out"),
        raises(httpx2.RemoteProtocolError, "server disconnected"),
    ],
    ids=[
        "408",
        "409",
        "429",
        "500",
        "502",
        "503",
        "504",
        "connect-error",
        "read-error",
        "read-timeout",
        "connect-timeout",
        "disconnected",
    ],
)
async def test_transient_faults_are_retried(fault):
    client, api, sleeps = make_client(fault, ok(run_data()))
    assert await call(client, *GET_RUN) == {"data": run_data()}
    assert len(api.requests) == 2
    assert len(sleeps) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    "code, kind",
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (422, UnprocessableError),
    ],
)
async def test_client_errors_are_not_retried(code, kind):
    client, api, sleeps = make_client(status(code, {"detail": "no"}), ok(run_data()))
    await fails(client, *UPDATE_RUN, kind)
    assert len(api.requests) == 1
    assert sleeps == []


@pytest.mark.anyio
async def test_x_should_retry_false_stops_the_retry_of_a_409():
    client, api, _ = make_client(
        status(409, {"detail": "run is finished"}, headers={"x-should-retry": "false"}), ok(run_data())
    )
    await fails(client, *UPDATE_RUN, ConflictError)
    assert len(api.requests) == 1


@pytest.mark.anyio
async def test_x_should_retry_true_forces_a_retry_of_a_400():
    client, api, _ = make_client(status(400, {"detail": "flaky"}, headers={"x-should-retry": "true"}), ok(run_data()))
    assert await call(client, *UPDATE_RUN) == {"data": run_data()}
    assert len(api.requests) == 2


@pytest.mark.anyio
@pytest.mark.parametrize("max_retries, attempts", [(0, 1), (1, 2), (2, 3)])
async def test_max_retries_bounds_the_attempts_then_the_mapped_error(max_retries, attempts):
    client, api, sleeps = make_client(status(503, {"detail": "overloaded"}), max_retries=max_retries)
    message = await fails(client, *GET_RUN, ServerError)
    assert len(api.requests) == attempts
    assert len(sleeps) == attempts - 1
    assert "HTTP 503" in message and "overloaded" in message


# --------------------------------------------------------------------------- backoff and Retry-After


@pytest.mark.anyio
async def test_backoff_is_exponential_with_jitter_and_capped():
    client, api, sleeps = make_client(status(500), max_retries=6)
    await fails(client, *GET_RUN, ServerError)
    assert len(api.requests) == 7
    for attempt, slept in enumerate(sleeps):
        low = 0.5 * 2**attempt
        assert min(low, 8.0) <= slept <= min(low + 0.5, 8.0), (attempt, sleeps)
    assert sleeps[:4] == sorted(sleeps[:4])
    assert sleeps[-1] == 8.0


@pytest.mark.anyio
async def test_backoff_jitter_varies_between_calls():
    client, _, sleeps = make_client(status(503), max_retries=1)
    for _ in range(8):
        await fails(client, *GET_RUN, ServerError)
    assert len(sleeps) == 8
    assert len(set(sleeps)) > 1


def _http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "headers, low, high",
    [
        ({"Retry-After": "2"}, 2.0, 2.0),
        ({"retry-after-ms": "1500"}, 1.5, 1.5),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25, 0.25),
        ({"Retry-After": "0"}, 0.0, 0.0),
        (lambda: {"Retry-After": _http_date(6)}, 4.5, 6.0),
        ({"Retry-After": "soon"}, 0.5, 1.0),  # unparseable: the ordinary backoff
        ({"Retry-After": "NaN", "retry-after-ms": "nan"}, 0.5, 1.0),
        ({"Retry-After": "Thu, 99 Foo 2026 25:61:00 GMT"}, 0.5, 1.0),
    ],
    ids=["seconds", "ms", "ms-wins", "zero", "http-date", "garbage", "nan", "bad-date"],
)
async def test_retry_after_sets_the_wait(headers, low, high):
    headers = headers() if callable(headers) else headers
    client, api, sleeps = make_client(status(429, {"detail": "slow down"}, headers=headers), ok(run_data()))
    await call(client, *GET_RUN)
    assert len(api.requests) == 2
    assert low <= sleeps[0] <= high, sleeps


@pytest.mark.anyio
@pytest.mark.parametrize("code, kind", [(429, RateLimitError), (503, ServerError)])
async def test_retry_after_past_the_cap_is_an_immediate_error_saying_how_long(code, kind):
    client, api, sleeps = make_client(
        status(code, {"detail": "later"}, headers={"Retry-After": "120"}), ok(run_data()), retry_after_cap=30.0
    )
    message = await fails(client, *GET_RUN, kind)
    assert len(api.requests) == 1 and sleeps == []
    assert "120 s" in message and f"HTTP {code}" in message


# --------------------------------------------------------------------------- messages


STEP_ARGS = {**RUN, "step_id": "collect-data"}
DETAIL_422 = {
    "detail": [
        {"loc": ["body", "steps", 0, "step_id"], "msg": "Field required", "type": "missing"},
        {"loc": ["query", "page[size]"], "msg": "Input should be less than or equal to 1000", "type": "le"},
        {"loc": "summary", "msg": "too long", "type": "x"},
    ]
}


@pytest.mark.anyio
@pytest.mark.parametrize(
    "answer, tool, args, kind, expected",
    [
        (
            status(422, DETAIL_422),
            *UPDATE_RUN,
            UnprocessableError,
            [
                "HTTP 422",
                "\nsteps[0].step_id: Field required",
                "\npage[size]: Input should be less than or equal to 1000",
                "\nsummary: too long",
            ],
        ),
        (status(422, {}), *UPDATE_RUN, UnprocessableError, ["HTTP 422", "no detail given"]),
        (
            status(401, {"detail": "bad key"}),
            *GET_RUN,
            AuthenticationError,
            ["rejected the API key", "HTTP 401", "TELNYX_API_KEY"],
        ),
        (status(403), *GET_RUN, AuthenticationError, ["rejected the API key", "HTTP 403", "TELNYX_API_KEY"]),
        (
            status(404, {"detail": "Not Found"}),
            "update_plan_step",
            {**STEP_ARGS, "status": "completed"},
            NotFoundError,
            ["plan step collect-data", f"run {RUN_ID}", f"mission {MISSION_ID}", "list_runs"],
        ),
        (status(404), "get_event", {**RUN, "event_id": "ev-9"}, NotFoundError, ["event ev-9", f"run {RUN_ID}"]),
        (status(404), "get_mission", {"mission_id": MISSION_ID}, NotFoundError, [f"mission {MISSION_ID}"]),
        (
            status(409, {"detail": "Run already finished"}, headers={"x-should-retry": "false"}),
            *UPDATE_RUN,
            ConflictError,
            ["Conflict (HTTP 409)", f"run {RUN_ID}", "Run already finished", "get_run"],
        ),
        (status(429, headers={"Retry-After": "1"}), *GET_RUN, RateLimitError, ["HTTP 429", "Wait 1 s"]),
        (status(429), *GET_RUN, RateLimitError, ["HTTP 429", "Wait, then retry"]),
        (
            status(500, {"errors": [{"title": "Oops", "detail": "database unavailable"}]}),
            *GET_RUN,
            ServerError,
            ["HTTP 500", "Try again", "database unavailable"],
        ),
        (status(502, text="<html><body>Bad Gateway</body></html>"), *GET_RUN, ServerError, ["HTTP 502"]),
        (status(400, text="plain words"), *UPDATE_RUN, BadRequestError, ["HTTP 400"]),
        (status(200, text="<html>captive portal</html>"), *GET_RUN, ServerError, ["HTTP 200", "not JSON"]),
        (raises(httpx2.ReadTimeout, "timed out"), *GET_RUN, TransportError, ["did not answer in time", "3 attempts"]),
        (
            raises(httpx2.ConnectError, "refused"),
            *GET_RUN,
            TransportError,
            ["Could not reach", "ConnectError", "TELNYX_BASE_URL"],
        ),
    ],
    ids=[
        "422-detail",
        "422-empty",
        "401",
        "403",
        "404-step",
        "404-event",
        "404-mission",
        "409",
        "429-wait",
        "429-no-header",
        "500-errors",
        "502-html",
        "400-text",
        "200-not-json",
        "timeout",
        "connect",
    ],
)
async def test_error_messages_say_what_to_do(answer, tool, args, kind, expected):
    client, _, _ = make_client(answer)
    message = await fails(client, tool, args, kind)
    for part in expected:
        assert part in message, (part, message)
    assert "<html" not in message


# --------------------------------------------------------------------------- arguments


@pytest.mark.anyio
@pytest.mark.parametrize(
    "tool, args, problems",
    [
        ("get_run", {"mission_id": "nope", "run_id": RUN_ID}, ["mission_id: must be a UUID"]),
        ("get_run", {"mission_id": MISSION_ID}, ["run_id: required, missing"]),
        ("get_run", {**RUN, "verbose": True}, ["verbose: unknown argument", "mission_id, run_id"]),
        ("list_runs", {"mission_id": MISSION_ID, "status": "done"}, ["status: Input should be"]),
        ("update_plan_step", {**STEP_ARGS, "status": "finished"}, ["status: Input should be"]),
        ("log_event", {**RUN, "type": "shout", "summary": "x"}, ["type: Input should be"]),
        ("list_missions", {"page_size": 0}, ["page_size:"]),
        ("list_missions", {"page_size": 1001}, ["page_size:"]),
        ("get_plan_step", {**RUN, "step_id": ""}, ["step_id:"]),
        ("get_plan_step", {**RUN, "step_id": ".."}, ["step_id:", "'..'"]),
        ("get_event", {**RUN, "event_id": "a/b"}, ["event_id:", "'/'"]),
        ("clone_mission", {"mission_id": "."}, ["mission_id:"]),
        ("create_plan", {**RUN, "steps": [{"description": "d", "sequence": 1}]}, ["steps[0].step_id: required"]),
        (
            "log_event",
            {"mission_id": "x", "run_id": RUN_ID, "type": "bad", "extra": 1},
            ["mission_id: must be a UUID", "type: Input should be", "summary: required", "extra: unknown argument"],
        ),
    ],
    ids=[
        "bad-uuid",
        "missing",
        "unknown-key",
        "run-status",
        "step-status",
        "event-type",
        "page-size-0",
        "page-size-1001",
        "empty-id",
        "dotdot-id",
        "slash-id",
        "dot-id",
        "nested-missing",
        "several",
    ],
)
async def test_bad_arguments_are_refused_before_the_network(tool, args, problems):
    client, api, _ = make_client()
    with pytest.raises(ArgumentError) as caught:
        await call(client, tool, args)
    assert api.requests == []
    message = str(caught.value)
    assert message.startswith("Invalid arguments; nothing was sent")
    for part in problems:
        assert part in message, (part, message)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "step_id, encoded",
    [
        ("a b%c", b"a%20b%25c"),
        ("x?y#z", b"x%3Fy%23z"),
        ("caf\u00e9", b"caf%C3%A9"),
        ("...", b"..."),
    ],
)
async def test_path_ids_are_percent_encoded(step_id, encoded):
    client, api, _ = make_client(ok())
    await call(client, "get_plan_step", {**RUN, "step_id": step_id})
    (request,) = api.requests
    assert request.url.raw_path == f"/v2/ai/missions/{MISSION_ID}/runs/{RUN_ID}/plan/steps/".encode() + encoded


# --------------------------------------------------------------------------- no key


@pytest.mark.anyio
async def test_no_api_key_for_the_hosted_api_is_a_configuration_error_before_any_request():
    client, api, _ = make_client(ok(), api_key=None, base_url=None, backend="remote")
    message = await fails(client, *GET_RUN, ConfigurationError)
    assert "TELNYX_API_KEY" in message and "--local" in message
    assert api.requests == []


@pytest.mark.anyio
async def test_no_api_key_through_mcp_is_a_tool_error_and_the_server_still_starts(mode):
    server = MissionsServer(Settings(backend="remote"))
    with anyio.fail_after(10):
        async with Client(server.server, mode=mode) as session:
            tools = await session.list_tools()
            assert "get_run" in {t.name for t in tools.tools}
            result = await session.call_tool("get_run", RUN)
    assert result.is_error is True
    assert "TELNYX_API_KEY" in result.content[0].text
    assert server.client._http is None


# --------------------------------------------------------------------------- pooling


@pytest.mark.anyio
async def test_one_pooled_http_client_is_reused_and_closed():
    client, api, _ = make_client(ok(run_data()))
    await call(client, *GET_RUN)
    pooled = client._http
    assert isinstance(pooled, httpx2.AsyncClient)
    assert (pooled.timeout.read, pooled.timeout.connect) == (client.settings.timeout, client.settings.connect_timeout)
    await call(client, *UPDATE_RUN)
    await call(client, "log_event", LOG_EVENT_ARGS)
    assert client._http is pooled and len(api.requests) == 3
    await client.aclose()
    assert pooled.is_closed and client._http is None
    await client.aclose()  # twice is harmless


@pytest.mark.anyio
async def test_the_scripted_api_serves_in_order_then_repeats_the_last_answer():
    api = ScriptedAPI(status(500), status(201))
    async with httpx2.AsyncClient(transport=api.transport, base_url="http://x") as http:
        codes = [(await http.get("/")).status_code for _ in range(3)]
    assert codes == [500, 201, 201]
