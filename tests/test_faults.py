"""Faults: nothing acknowledged is lost, nothing is stored twice, and every failed write says
whether it may have been stored, with the key that makes its repeat safe.

An agent drives a real MCP client; between the MCP server and the Missions API, connections are
reset before the request reaches the API and after it answered, and 503s and 429s with
``Retry-After`` are answered instead of the API. Quick: in process, a small burst. Slow: a real
``missions-mcp api`` behind a fault-injecting proxy on loopback, 1,000 ``log_event`` and 100 each
of ``create_mission``, ``start_run``, ``add_plan_steps`` and ``delete_mission``.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx2
import pytest
from faults import Counts, FaultPlan, FaultProxy, FaultyTransport, Report, run_scenario
from mcp import Client

from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.local import create_app
from missions_mcp.server import build_server

from support import running


async def _quick_sleep(seconds: float) -> None:
    """Backoff and Retry-After shortened a hundredfold: the proof is about outcomes, not waiting."""
    await anyio.sleep(seconds / 100)


def _assert_sound(report: Report, plan: FaultPlan) -> None:
    tally = report.tally
    print(
        f"\nfaults proof: {tally.calls + tally.repeats} MCP calls ({tally.acknowledged} acknowledged at once, "
        f"{tally.failed_may_be_stored} failed 'may have been stored' and repeated with their key "
        f"{tally.repeats} times, {tally.failed_not_stored} failed 'not stored'); {plan.requests} HTTP requests, "
        f"{sum(plan.injected.values())} faults injected {dict(plan.injected)}; "
        f"lost {report.lost}, duplicated {report.duplicated}"
    )
    assert report.wrong_answers == [], report.wrong_answers[:5]
    assert report.lost == 0 and report.duplicated == 0
    assert tally.wrongly_not_stored == [], tally.wrongly_not_stored[:3]
    assert tally.replay_mismatch == []
    # the proof proves something only if each kind of fault, and each kind of failure, happened
    assert set(plan.injected) == {"reset-before", "reset-after", "503", "429"}, plan.injected
    assert tally.failed_may_be_stored > 0 and tally.repeats >= tally.failed_may_be_stored
    assert tally.failed_not_stored > 0, "no call failed without reaching the API: that branch went unproven"


@pytest.mark.anyio
async def test_an_agent_that_repeats_as_told_stores_each_write_once(tmp_path: Path):
    app = create_app(tmp_path / "m.db")
    plan = FaultPlan(rate=0.45, seed=11)
    settings = Settings(base_url="http://faulty.test/v2", max_retries=2)
    client = MissionsClient(
        settings, transport=FaultyTransport(httpx2.ASGITransport(app=app), plan), sleep=_quick_sleep
    )
    missions = build_server(settings, client=client)
    counts = Counts(log_event=40, create_mission=8, start_run=8, add_plan_steps=8, delete_mission=8)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://direct.test/v2") as api:
        with anyio.fail_after(120):
            async with Client(missions.server, mode="auto") as session:
                report = await run_scenario(session, api, counts, tag="quick")
    await missions.aclose()
    _assert_sound(report, plan)


@pytest.mark.slow
@pytest.mark.anyio
async def test_proof_faults_between_the_server_and_a_real_api_lose_and_double_nothing(tmp_path: Path):
    plan = FaultPlan(rate=0.2, seed=2026)
    counts = Counts(log_event=1000, create_mission=100, start_run=100, add_plan_steps=100, delete_mission=100)
    with running(["api", "--port", "{port}", "--db", str(tmp_path / "m.db")], "/v2/ai/missions") as (base, _, _o):
        async with (
            FaultProxy(base, plan) as proxy,
            httpx2.AsyncClient(
                base_url=base + "/v2", timeout=30, limits=httpx2.Limits(max_keepalive_connections=0)
            ) as api,
        ):
            settings = Settings(base_url=proxy + "/v2", max_retries=2)
            missions = build_server(settings, client=MissionsClient(settings, sleep=_quick_sleep))
            with anyio.fail_after(900):
                async with Client(missions.server, mode="legacy") as session:
                    report = await run_scenario(session, api, counts, concurrency=8, tag="slow")
            await missions.aclose()
    _assert_sound(report, plan)
