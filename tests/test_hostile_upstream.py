"""Secrets: a canary key against an upstream that quotes it back everywhere (every error field,
HTML, invalid JSON, JSON escapes, redirects, headers, successful answers) never reaches a tool
result, a resource, a prompt, a completion or a log line, at any log level.

Quick: a handful of tools and every view, prompt and completion, in process (the hostile app over
``httpx2.ASGITransport``). Slow: every tool, the real command over stdio at ``--log-level DEBUG``
against the hostile app served by uvicorn on loopback, and ``missions-mcp api`` at DEBUG given the
key as a bearer token.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from test_tool_requests import CASES

from missions_mcp.catalogue import OPERATIONS
from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.server import build_server

from hostile import MODES, OTHER_TOKEN, hostile_app
from support import clean_env, free_port, running

CANARY = "KEY0CANARY" + uuid4().hex
MISSION, RUN = str(uuid4()), str(uuid4())
SECRETS = (CANARY, OTHER_TOKEN)


def _arguments(name: str) -> dict[str, Any]:
    """Valid arguments of a tool: its case from the request tests, with ids of this module."""
    op = next(op for op in OPERATIONS if op.name == name)
    ids = {"mission_id": MISSION, "run_id": RUN}
    return {**{f: ids.get(f, "id-1") for f in op.path_fields}, **CASES[name][0]}


def _leaks(text: str) -> int:
    return sum(text.count(secret) for secret in SECRETS)


class Seen:
    """Everything the server said to its client, as text."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.calls = 0

    def add(self, what: Any) -> None:
        self.calls += 1
        self.texts.append(what.model_dump_json() if hasattr(what, "model_dump_json") else str(what))

    async def attempt(self, coro: Any) -> None:
        try:
            self.add(await coro)
        except Exception as exc:
            self.add(f"{type(exc).__name__}: {exc}")

    def leaks(self) -> int:
        return sum(_leaks(t) for t in self.texts)


async def _exercise(client: Client, seen: Seen, tools: list[str]) -> None:
    for name in tools:
        await seen.attempt(client.call_tool(name, _arguments(name)))
    run = f"missions://missions/{MISSION}/runs/{RUN}"
    for uri in (
        run,
        run + "/plan",
        run + "/plan.json",
        run + "/events",
        f"missions://missions/{MISSION}",
        "missions://runs/recent",
        "missions://events/recent",
    ):
        await seen.attempt(client.read_resource(uri))
    await seen.attempt(client.list_resources())
    await seen.attempt(client.get_prompt("review_run", {"mission_id": MISSION, "run_id": RUN}))
    template = "missions://missions/{mission_id}/runs/{run_id}"
    for argument, context in (("mission_id", {}), ("run_id", {"mission_id": MISSION})):
        for ref in (types_prompt_ref(), types_template_ref(template)):
            await seen.attempt(client.complete(ref, {"name": argument, "value": ""}, context_arguments=context))


def types_prompt_ref() -> Any:
    import mcp_types as types

    return types.PromptReference(type="ref/prompt", name="review_run")


def types_template_ref(uri: str) -> Any:
    import mcp_types as types

    return types.ResourceTemplateReference(type="ref/resource", uri=uri)


QUICK_TOOLS = ["get_run", "list_missions", "log_event", "update_plan_step", "delete_mission", "create_mission"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", list(MODES))
async def test_a_quoted_key_reaches_no_result_view_prompt_completion_or_log(mode, caplog):
    for name in ("", "missions_mcp", "httpx2", "httpcore2", "mcp", "uvicorn"):
        caplog.set_level(logging.DEBUG, logger=name)
    app = hostile_app()
    app.state.hostile["mode"] = mode
    settings = Settings(api_key=CANARY, base_url="http://hostile.test/v2", max_retries=1)

    async def no_sleep(seconds: float) -> None:
        pass

    client = MissionsClient(settings, transport=httpx2.ASGITransport(app=app), sleep=no_sleep)
    missions = build_server(settings, client=client)
    seen = Seen()
    with anyio.fail_after(60):
        async with Client(missions.server, mode="auto") as session:
            await _exercise(session, seen, QUICK_TOOLS)
    await missions.aclose()
    assert app.state.hostile["requests"] >= len(QUICK_TOOLS), "the upstream was not asked: the test proves nothing"
    assert seen.leaks() == 0, [t for t in seen.texts if _leaks(t)][:3]
    assert caplog.records, "nothing was logged: the log check would prove nothing"
    assert _leaks(caplog.text) == 0 and all(_leaks(repr(vars(r))) == 0 for r in caplog.records)


@pytest.mark.anyio
async def test_a_redirect_is_an_error_and_is_never_followed():
    app = hostile_app()
    app.state.hostile["mode"] = "redirect-same-host"
    settings = Settings(api_key=CANARY, base_url="http://hostile.test/v2", max_retries=2)
    missions = build_server(settings, client=MissionsClient(settings, transport=httpx2.ASGITransport(app=app)))
    async with Client(missions.server, mode="legacy") as session:
        deleted = await session.call_tool("delete_mission", {"mission_id": MISSION})
        read = await session.call_tool("get_run", {"mission_id": MISSION, "run_id": RUN})
    await missions.aclose()
    assert app.state.hostile["requests"] == 2  # one each: not followed, not retried
    for result in (deleted, read):
        text = result.content[0].text
        assert result.is_error and "redirect (HTTP 307)" in text and "does not follow redirects" in text
        assert "http://hostile.test/v2/[redacted]/elsewhere" in text and "token=" not in text
    assert "was not carried out" in deleted.content[0].text and "Deleted" not in deleted.content[0].text


@pytest.mark.anyio
async def test_a_redirect_to_another_host_names_the_host_without_the_query():
    app = hostile_app()
    app.state.hostile["mode"] = "redirect"
    settings = Settings(api_key=CANARY, base_url="http://hostile.test/v2")
    client = MissionsClient(settings, transport=httpx2.ASGITransport(app=app))
    missions = build_server(settings, client=client)
    async with Client(missions.server, mode="auto") as session:
        result = await session.call_tool("get_mission", {"mission_id": MISSION})
    await missions.aclose()
    assert result.is_error and "https://evil.example/[redacted]" in result.content[0].text
    assert "auth=" not in result.content[0].text


# --------------------------------------------------------------------------- the slow proof


class _Uvicorn:
    """An ASGI app served by uvicorn on a loopback port, in a thread of this process."""

    def __init__(self, app: Any):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "the hostile upstream did not start"
            time.sleep(0.02)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.mark.slow
@pytest.mark.anyio
async def test_proof_every_tool_view_prompt_and_completion_over_stdio_at_debug(tmp_path: Path):
    app = hostile_app()
    errlog = tmp_path / "stderr.log"
    with _Uvicorn(app) as base:
        env = {**clean_env(), "TELNYX_API_KEY": CANARY, "MISSIONS_MAX_RETRIES": "1"}
        command = f"exec {sys.executable} -m missions_mcp --base-url {base}/v2 --log-level DEBUG 2>{errlog}"
        params = StdioServerParameters(command="/bin/sh", args=["-c", command], env=env)
        seen = Seen()
        tools = [op.name for op in OPERATIONS]
        with anyio.fail_after(600):
            async with Client(params) as session:
                for mode in MODES:
                    app.state.hostile["mode"] = mode  # the app runs in this process's uvicorn thread
                    await _exercise(session, seen, tools)
        requests = app.state.hostile["requests"]
    stderr = errlog.read_text()
    print(
        f"\nsecrets proof: {len(MODES)} hostile modes, {seen.calls} MCP calls, {requests} upstream requests, "
        f"{len(stderr.splitlines())} log lines at DEBUG; leaked: {seen.leaks()} in answers, "
        f"{_leaks(stderr)} in logs"
    )
    assert requests >= len(MODES) * len(tools)
    assert "HTTP Request:" in stderr, "httpx2 said nothing at DEBUG: the log check would prove little"
    assert seen.leaks() == 0, [t for t in seen.texts if _leaks(t)][:3]
    assert _leaks(stderr) == 0, [line for line in stderr.splitlines() if _leaks(line)][:3]


@pytest.mark.slow
def test_proof_the_embedded_api_at_debug_logs_no_bearer_token(tmp_path: Path):
    with running(
        ["api", "--port", "{port}", "--db", str(tmp_path / "m.db"), "--log-level", "DEBUG", "--accept-tokens", CANARY],
        "/v2/ai/missions",
    ) as (base, _, output):
        headers = {"Authorization": f"Bearer {CANARY}"}
        with httpx2.Client(base_url=base + "/v2", headers=headers, timeout=10) as http:
            mission = http.post("/ai/missions", json={"name": f"echo {CANARY}"}).json()["data"]
            http.get(f"/ai/missions/{mission['mission_id']}/nope?token={CANARY}")
            http.post("/ai/missions", content=b"{not json " + CANARY.encode())
    out, err = (part.decode() for part in output)
    assert err, "the API logged nothing: the check would prove nothing"
    assert _leaks(err) == 0 and _leaks(out) == 0, [line for line in err.splitlines() if _leaks(line)][:3]


def test_every_secret_the_settings_hold_is_redacted():
    from missions_mcp.redact import redact

    token, client_secret = "mcpTOKEN-" + uuid4().hex, "clientSECRET-" + uuid4().hex
    MissionsClient(Settings(api_key=CANARY, auth_token=token, auth_client_secret=client_secret))
    said = redact(f"key={CANARY} token={token} secret={client_secret}")
    assert said == "key=[redacted] token=[redacted] secret=[redacted]"


def test_the_canary_check_itself_counts_a_leak():
    assert _leaks(f"key {CANARY} and Bearer {OTHER_TOKEN}") == 2
    assert json.dumps({"k": CANARY}).count(CANARY) == 1
    assert subprocess  # the slow proofs run the real command


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer abcDEF0123456789", "Authorization: Bearer [redacted]"),
        ("auth=Bearer%20abcDEF0123456789&x=1", "auth=Bearer [redacted]&x=1"),
        ("BEARER eyJhbGciOiJIUzI1NiJ9.e30.sig0", "BEARER [redacted]"),
        ("the bearer of good news", "the bearer of good news"),
        (f"key {CANARY}, twice {CANARY}", "key [redacted], twice [redacted]"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_redact(text, expected):
    from missions_mcp.redact import add_secret, needs_redaction, redact

    add_secret(CANARY)
    assert redact(text) == expected
    assert needs_redaction(text.encode()) is (text != expected)
