"""The pages as HTML, read through the page's app on a database the real embedded API wrote."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx2
import pytest

from missions_mcp.local.app import create_app as create_api
from missions_mcp.ui.app import SECURITY_HEADERS

pytestmark = pytest.mark.anyio

HOSTILE = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "[click](javascript:window.__pwned=1)",
    "javascript:window.__pwned=1",
    "![x](http://127.0.0.1:9/x.png) **bold** <a href='javascript:alert(1)'>a</a>",
    '"><svg onload=alert(1)>',
    "\u202egnp.exe",
]
HOSTILE_TEXT = " ".join(HOSTILE)


class Structure(HTMLParser):
    """Every tag and attribute of a page, to check that only our own markup is in it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def structure(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Structure()
    parser.feed(html)
    return parser.tags


def assert_inert(html: str) -> None:
    """Only our markup: scripts are ours, links go to our own paths, no handler, no embedded content."""
    for tag, attrs in structure(html):
        assert tag not in ("img", "svg", "iframe", "object", "embed", "a" if "javascript" in str(attrs) else "-"), tag
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "script":
            assert attrs.get("src") == "/static/ui.js", attrs
        if tag == "a":
            href = attrs.get("href") or ""
            assert href.startswith("/") and not href.startswith("//"), href
        if tag == "link":
            assert attrs.get("href") == "/static/ui.css"
    assert "<script>window" not in html and "<img" not in html and "<svg" not in html


async def test_empty_store(page: httpx2.AsyncClient):
    missions = await page.get("/")
    assert missions.status_code == 200
    assert "No missions yet" in missions.text
    for name, value in SECURITY_HEADERS.items():
        assert missions.headers[name] == value
    runs = await page.get("/runs")
    assert runs.status_code == 200 and "No runs yet" in runs.text
    assert "No running runs." in (await page.get("/runs?status=running")).text


async def test_a_store_of_500_runs(page: httpx2.AsyncClient, agent):
    mission_id = await agent.mission("Nightly data load")
    ids = [await agent.run(mission_id) for _ in range(500)]
    for run in ids[:7]:
        await agent.call("update_run", **run, status="running")
    await agent.call("update_run", **ids[-1], status="running")
    await agent.call("update_run", **ids[-1], status="succeeded", result_summary="loaded 12 tables")

    missions = (await page.get("/")).text
    row = re.search(r"Nightly data load.*?</tr>", missions, re.DOTALL)
    assert row and '<td data-label="Runs">500</td>' in row.group(0) and "succeeded" in row.group(0)

    first = (await page.get("/runs")).text
    assert "500 runs, newest first." in first and "page 1 of 20" in first
    assert first.count('class="rid"') == 25
    assert ids[-1]["run_id"][:8] in first and "loaded 12 tables" in first
    last = (await page.get("/runs?page=20")).text
    assert last.count('class="rid"') == 25 and ids[0]["run_id"][:8] in last
    assert "past the end" in (await page.get("/runs?page=21")).text
    running = (await page.get("/runs?status=running")).text
    assert "7 runs running" in running and running.count('class="rid"') == 7
    of_mission = (await page.get(f"/runs?mission={mission_id}&status=succeeded")).text
    assert "Runs of Nightly data load" in of_mission and of_mission.count('class="rid"') == 1


async def test_a_failed_run_says_where_it_stopped_and_why(page: httpx2.AsyncClient, agent):
    ids = await agent.failed_run()
    html = (await page.get(f"/missions/{ids['mission_id']}/runs/{ids['run_id']}")).text
    assert '<span class="status s-failed"><span class="mark" aria-hidden="true">✖</span> failed</span>' in html
    assert "the database refused the migration" in html
    assert "Stopped at" in html and "Current step" not in html and "← stopped here" in html
    s2 = re.search(r'<li class="step st-failed focus">.*?</li>', html, re.DOTALL)
    assert s2 and "[!]" in s2.group(0) and "migration 42 timed out" in s2.group(0)
    assert "1 of 3 steps completed" in html and "1 failed" in html
    listed = (await page.get("/runs?status=failed")).text
    assert "error:" in listed and "the database refused the migration" in listed


async def test_hostile_text_in_every_field_stays_text(page: httpx2.AsyncClient, agent):
    mission_id = await agent.mission(HOSTILE_TEXT, description=HOSTILE_TEXT, instructions=HOSTILE_TEXT)
    ids = await agent.run(mission_id, input={"prompt": HOSTILE_TEXT}, metadata={HOSTILE[0]: HOSTILE[1]})
    await agent.call("update_run", **ids, status="running")
    await agent.call(
        "create_plan",
        **ids,
        steps=[
            {"step_id": HOSTILE[1], "description": HOSTILE_TEXT, "sequence": 1},
            {"step_id": "s2", "description": HOSTILE_TEXT * 5, "sequence": 2, "parent_step_id": HOSTILE[1]},
        ],
    )
    await agent.call("update_plan_step", **ids, step_id=HOSTILE[1], status="failed")
    for kind in ("tool_call", "tool_result", "error", "message"):
        await agent.call(
            "log_event",
            **ids,
            type=kind,
            summary=HOSTILE_TEXT,
            step_id=HOSTILE[1],
            agent_id=HOSTILE[0],
            payload={"html": HOSTILE_TEXT, HOSTILE[2]: [HOSTILE[3]]},
        )
    await agent.call("link_agent", **ids, telnyx_agent_id=HOSTILE[1])
    await agent.call(
        "update_run",
        **ids,
        status="failed",
        error=HOSTILE_TEXT,
        result_summary=HOSTILE_TEXT,
        result_payload={"x": HOSTILE_TEXT},
    )

    pages = [
        "/",
        "/runs",
        f"/runs?mission={mission_id}",
        f"/missions/{ids['mission_id']}/runs/{ids['run_id']}",
        f"/missions/{ids['mission_id']}/runs/{ids['run_id']}?type=error&step="
        + httpx2.QueryParams({"s": HOSTILE[1]})["s"],
    ]
    for path in pages:
        response = await page.get(path)
        assert response.status_code == 200, path
        assert_inert(response.text)
    run_page = (await page.get(pages[3])).text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in run_page
    assert run_page.count('<details class="fold">') >= 2  # long text folded, kept whole


async def test_tool_calls_are_shown_with_their_results_and_payloads_folded(page: httpx2.AsyncClient, agent):
    ids = await agent.run(await agent.mission())
    await agent.call(
        "log_event",
        **ids,
        type="tool_call",
        summary="pytest -k login",
        step_id="s1",
        payload={"call_id": "c1", "cmd": "pytest"},
    )
    await agent.call("log_event", **ids, type="tool_call", summary="git diff", step_id="s1", payload={"call_id": "c2"})
    await agent.call(
        "log_event",
        **ids,
        type="tool_result",
        summary="3 of 50 failed",
        step_id="s1",
        payload={"call_id": "c1", "out": "x" * 5000},
    )
    html = (await page.get(f"/missions/{ids['mission_id']}/runs/{ids['run_id']}")).text
    call = re.search(r'<li class="ev t-tool_call">(?:(?!</li>).)*pytest -k login.*?</li>', html, re.DOTALL)
    assert call and '<div class="result">' in call.group(0) and "3 of 50 failed" in call.group(0)
    assert '<details class="payload"' in call.group(0) and "(5" in call.group(0)  # bytes, folded
    other = re.search(r'<li class="ev t-tool_call">(?:(?!</li>).)*git diff.*?</li>', html, re.DOTALL)
    assert other and "no result yet" in other.group(0)
    assert html.count('<li class="ev t-tool_result">') == 0  # shown under its call, not twice


async def test_timeline_pages_from_the_newest_end_and_filters(page: httpx2.AsyncClient, agent):
    ids = await agent.run(await agent.mission())
    for i in range(1, 121):
        kind = "tool_call" if i % 3 == 0 else "message"
        await agent.call("log_event", **ids, type=kind, summary=f"event number {i}.", step_id=f"s{i % 2}")
    base = f"/missions/{ids['mission_id']}/runs/{ids['run_id']}"
    newest = (await page.get(base)).text
    assert "Events 71–120 of 120" in newest
    assert "event number 120." in newest and "event number 71." in newest and "event number 70." not in newest
    assert newest.index("event number 120.") < newest.index("event number 71.")  # newest first
    assert f'href="{base}?upto=70"' in newest
    older = (await page.get(base + "?upto=70")).text
    assert "Events 21–70 of 120" in older and "event number 21." in older and "event number 71." not in older
    assert f'href="{base}"' in older and f'href="{base}?upto=20"' in older
    calls = (await page.get(base + "?type=tool_call")).text
    assert "Events 1–40 of 40 matching" in calls and "event number 3." in calls and "event number 4." not in calls
    step = (await page.get(base + "?type=tool_call&step=s1")).text
    assert "of 20 matching" in step and "event number 9." in step and "event number 6." not in step
    bad = await page.get(base + "?type=nonsense")
    assert bad.status_code == 400 and "type must be one of" in bad.text
    assert (await page.get(base + "?upto=x")).status_code == 400


async def test_unknown_run_is_a_404_page(page: httpx2.AsyncClient, agent):
    mission_id = await agent.mission()
    response = await page.get(f"/missions/{mission_id}/runs/{mission_id}")
    assert response.status_code == 404 and "Not found" in response.text
    assert (await page.get("/missions/not-a-uuid/runs/x")).status_code == 400


async def test_static_files_are_inside_the_package(page: httpx2.AsyncClient):
    script = await page.get("/static/ui.js")
    assert script.status_code == 200 and "EventSource" in script.text
    assert script.headers["x-content-type-options"] == "nosniff"
    assert (await page.get("/static/ui.css")).status_code == 200


async def test_the_api_serves_the_page_at_root_and_no_cdn_docs(tmp_path: Path):
    app = create_api(tmp_path / "api.db", page=True)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as http:
        made = await http.post("/v2/ai/missions", json={"name": "served at root"})
        assert made.status_code == 201
        root = await http.get("/")
        assert root.status_code == 200 and "served at root" in root.text
        assert root.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
        assert (await http.get("/ai/missions")).json()["data"][0]["name"] == "served at root"
        assert (await http.get("/docs")).status_code == 404
        assert (await http.get("/redoc")).status_code == 404
        assert (await http.get("/openapi.json")).status_code == 200


async def test_fields_the_api_leaves_out_show_nothing(page: httpx2.AsyncClient, agent):
    ids = await agent.run(await agent.mission())
    html = (await page.get(f"/missions/{ids['mission_id']}/runs/{ids['run_id']}")).text
    assert "result payload" not in html and "input (" not in html and "metadata (" not in html
    await agent.call("log_event", **ids, type="message", summary="no payload")
    html = (await page.get(f"/missions/{ids['mission_id']}/runs/{ids['run_id']}")).text
    assert "payload" not in html.split("no payload", 1)[1].split("</li>", 1)[0]
