"""The API key never leaves the Authorization header: not in a tool result, not in an error's
message, repr or traceback, not in a log line, whatever the upstream does."""

from __future__ import annotations

import logging
import traceback
from uuid import uuid4

import anyio
import httpx2
import pytest

from missions_mcp.catalogue import BY_NAME
from missions_mcp.errors import MissionsError
from missions_mcp.server import MissionsServer

from fakeapi import RUN, event_data, make_client, raises, run_data, status, step_data
from support import Client

CANARY = "KEYCANARY-" + uuid4().hex
LOGGERS = ("", "missions_mcp", "httpx2", "httpcore2", "mcp")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


TOOLS = {
    "get_run": (RUN, status(200, {"data": run_data()})),
    "log_event": ({**RUN, "type": "tool_call", "summary": "called search"}, status(201, {"data": event_data()})),
    "update_plan_step": ({**RUN, "step_id": "s1", "status": "completed"}, status(200, {"data": step_data()})),
}

FAULTS = {
    "400": status(400, {"detail": "bad request"}),
    "400-echoing-headers": status(400, {"detail": "bad request", "request": {"authorization": f"Bearer {CANARY}"}}),
    "401": status(401, {"detail": "Authentication failed"}),
    "403": status(403, {"errors": [{"title": "Forbidden"}]}),
    "404": status(404, {"detail": "Not Found"}),
    "409": status(409, {"detail": "Run is finished"}),
    "422": status(422, {"detail": [{"loc": ["body", "summary"], "msg": "Field required", "type": "missing"}]}),
    "429-long-retry-after": status(429, {"detail": "slow down"}, headers={"Retry-After": "3600"}),
    "500": status(500, {"detail": "boom"}),
    "503-exhausted": status(503),
    "timeout": raises(httpx2.ReadTimeout, "timed out"),
    "connect-error": raises(httpx2.ConnectError, "connection refused"),
    "read-error": raises(httpx2.ReadError, "connection reset by peer"),
    "non-json-debug-page": status(502, text=f"<html>proxy debug: Authorization: Bearer {CANARY}</html>"),
    "success": None,
}

SCENARIOS = [pytest.param(tool, fault, id=f"{tool}-{fault}") for tool in TOOLS for fault in FAULTS]


def _client(tool: str, fault: str):
    args, success = TOOLS[tool]
    return (*make_client(FAULTS[fault] or success, api_key=CANARY), args)


def _assert_no_canary(where: str, text: str) -> None:
    assert CANARY not in text, f"API key leaked into {where}"


def _assert_sent_and_not_logged(api, logs: pytest.LogCaptureFixture) -> None:
    assert api.requests, "the upstream saw no request: the test would prove nothing"
    assert api.header("Authorization") == [f"Bearer {CANARY}"] * len(api.requests)
    assert logs.records, "nothing was logged: the log check would prove nothing"
    for record in logs.records:
        _assert_no_canary(f"log record {record.name}", record.getMessage() + repr(vars(record)))
    _assert_no_canary("the formatted log", logs.text)


@pytest.mark.anyio
@pytest.mark.parametrize("tool, fault", SCENARIOS)
async def test_the_key_stays_out_of_tool_results_and_logs(tool, fault, mode, logs):
    client, api, _, args = _client(tool, fault)
    server = MissionsServer(client.settings, client=client)
    with anyio.fail_after(10):
        async with Client(server.server, mode=mode) as session:
            result = await session.call_tool(tool, args)
    await server.aclose()
    assert result.is_error is (fault != "success")
    assert result.content and result.content[0].text
    _assert_no_canary("the tool result", result.model_dump_json())
    _assert_sent_and_not_logged(api, logs)


def _chain(error: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


@pytest.mark.anyio
@pytest.mark.parametrize("tool, fault", [s for s in SCENARIOS if "success" not in s.id])
async def test_the_key_stays_out_of_errors(tool, fault, logs):
    client, api, _, args = _client(tool, fault)
    with pytest.raises(MissionsError) as caught:
        await client.call(BY_NAME[tool], args)
    await client.aclose()
    error = caught.value
    _assert_no_canary("the error's traceback", "".join(traceback.format_exception(error)))
    for link in _chain(error):
        _assert_no_canary(f"{type(link).__name__} in the exception chain", f"{link}\n{link!r}\n{link.args!r}")
    _assert_sent_and_not_logged(api, logs)


def test_settings_repr_hides_the_key():
    client, _, _ = make_client(api_key=CANARY)
    assert client.settings.api_key == CANARY
    for text in (repr(client.settings), str(client.settings), repr(client)):
        _assert_no_canary("a repr", text)


def test_the_canary_check_itself_catches_a_leak():
    with pytest.raises(AssertionError):
        _assert_no_canary("a message", f"rejected key {CANARY}")
