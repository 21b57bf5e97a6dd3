"""The page in a real browser (Debian's Chromium driven by Playwright), served by a real
``missions-mcp ui`` process, while a real agent — an MCP client talking to ``python -m missions_mcp``
over stdio — works on the same database file."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from support import ROOT, UPDATE, clean_env, running

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 15_000
"""How long a test waits for the page to show a change (the bound is measured in bench/bench_ui.py)."""

HOSTILE = (
    '<script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1;alert(1)"> '
    "[click me](javascript:window.__pwned=1) javascript:alert(1) ![i](/x.png) **bold** "
    '"><svg onload="window.__pwned=1"> <iframe src="javascript:alert(1)"></iframe>'
)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    playwright_api = pytest.importorskip("playwright.async_api")
    if not HAVE_CHROMIUM:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def ui(db: Path) -> Any:
    db.parent.mkdir(parents=True, exist_ok=True)
    with running(["ui", "--port", "{port}", "--db", str(db), "--log-level", "WARNING"], "/runs") as (base, _, _):
        yield base


@asynccontextmanager
async def stdio_agent(db: Path) -> AsyncIterator[Any]:
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "missions_mcp", "--db", str(db)], env=clean_env()
    )
    async with Client(server, mode="legacy") as client:
        yield client


async def tool(client: Any, tool_name: str, /, **arguments: Any) -> Any:
    """A tool call that must succeed; its structured answer (a write's receipt: the new id, the status)."""
    result = await client.call_tool(tool_name, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def watch(browser: Any, url: str, width: int = 1366, height: int = 900) -> Any:
    """A page at ``url`` with every dialog recorded and a marker that a reload would wipe out."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    page.dialogs = []

    async def on_dialog(dialog: Any) -> None:
        page.dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await page.goto(url)
    await page.evaluate("window.__sameDocument = true")
    return page


async def shows(page: Any, script: str) -> None:
    """Wait until ``script`` is true on the page. Polled from here: Playwright's own wait_for_function
    evaluates a string inside the page, which the page's Content-Security-Policy (rightly) refuses."""
    guarded = f"(() => {{ try {{ return !!({script}); }} catch (e) {{ return false; }} }})()"
    try:
        with anyio.fail_after(WAIT_MS / 1000):
            while not await page.evaluate(guarded):  # noqa: ASYNC110 - the page is in another process
                await anyio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"the page never showed: {script}\n{await page.inner_text('main')}") from None


async def live(page: Any) -> None:
    await shows(page, "document.getElementById('live-state').dataset.state === 'live'")


def timeline_has(text: str) -> str:
    return f"document.querySelector('[data-region=timeline]').textContent.includes({json.dumps(text)})"


async def test_an_agent_works_and_the_page_follows_without_reload(browser, ui, db, tmp_path):
    async with stdio_agent(db) as agent:
        mission = await tool(agent, "create_mission", name="Fix the flaky login test")
        run = await tool(agent, "start_run", mission_id=mission["mission_id"])
        ids = {"mission_id": mission["mission_id"], "run_id": run["run_id"]}
        page = await watch(browser, f"{ui}/missions/{ids['mission_id']}/runs/{ids['run_id']}")
        await live(page)
        runs_page = await watch(browser, f"{ui}/runs")
        await live(runs_page)

        await tool(agent, "update_run", **ids, status="running")
        await shows(page, "document.querySelector('.summary .status').textContent.includes('running')")
        await shows(runs_page, "document.querySelector('.runs .status').textContent.includes('running')")

        await tool(
            agent,
            "create_plan",
            **ids,
            steps=[
                {"step_id": "s1", "description": "Reproduce the failure", "sequence": 1},
                {"step_id": "s2", "description": "Find the race", "sequence": 2},
                {"step_id": "s2.1", "description": "Read the fixture", "sequence": 1, "parent_step_id": "s2"},
                {"step_id": "s3", "description": "Fix the fixture", "sequence": 3},
            ],
        )
        await shows(page, "document.querySelectorAll('.step').length === 4")
        await shows(page, "document.querySelector('.step .step .sid').textContent === 's2.1'")  # nested

        await tool(agent, "update_plan_step", **ids, step_id="s1", status="in_progress")
        await shows(page, "document.querySelector('.step.focus .sid').textContent === 's1'")
        await tool(
            agent,
            "log_event",
            **ids,
            type="tool_call",
            step_id="s1",
            summary="pytest -k login x50",
            payload={"call_id": "c1", "cmd": "pytest -k login"},
        )
        await shows(page, timeline_has("pytest -k login x50"))
        await tool(
            agent,
            "log_event",
            **ids,
            type="tool_result",
            step_id="s1",
            summary="3 of 50 failed",
            payload={"call_id": "c1", "failed": 3},
        )
        await shows(
            page,
            "document.querySelector('.ev .result') && "
            "document.querySelector('.ev .result').textContent.includes('3 of 50 failed')",
        )
        await tool(agent, "update_plan_step", **ids, step_id="s1", status="completed")
        await tool(agent, "update_plan_step", **ids, step_id="s2", status="in_progress")
        await shows(
            page,
            "document.querySelector('.step.focus .sid').textContent === 's2' && "
            "document.querySelector('progress').value === 1",
        )
        assert await page.evaluate("window.__sameDocument") is True  # every change came without a reload

        # Paused: nothing changes, however long; resumed: the page catches up at once.
        await page.click("#pause")
        await shows(page, "document.getElementById('live-state').dataset.state === 'paused'")
        updates = await page.evaluate("document.body.dataset.updates")
        await tool(agent, "log_event", **ids, type="message", step_id="s2", summary="said while paused")
        await anyio.sleep(2.0)
        assert not await page.evaluate(timeline_has("said while paused"))
        assert await page.evaluate("document.body.dataset.updates") == updates
        await page.click("#pause")
        await shows(page, timeline_has("said while paused"))

        await tool(agent, "update_plan_step", **ids, step_id="s2", status="failed")
        await tool(agent, "log_event", **ids, type="step_failed", step_id="s2", summary="teardown still races")
        await shows(
            page,
            "document.querySelector('.st-failed .reason') && "
            "document.querySelector('.st-failed .reason').textContent.includes('teardown still races')",
        )

        # Filters: by type, then by step, through the page's own controls.
        await page.select_option("select[name=type]", "tool_call")
        await page.wait_for_url("**type=tool_call**")
        types = await page.eval_on_selector_all(".ev > .line .type", "els => els.map(e => e.textContent)")
        assert types == ["tool_call"]
        await page.select_option("select[name=type]", "")
        await page.wait_for_url(lambda url: "type=" not in url or "type=&" in url or url.endswith("type="))
        await page.select_option("select[name=step]", "s2")
        await page.wait_for_url("**step=s2**")
        steps = await page.eval_on_selector_all(".ev .step", "els => els.map(e => e.textContent)")
        assert steps and set(steps) == {"s2"}
        await live(page)
        await tool(agent, "log_event", **ids, type="message", step_id="s1", summary="another step's news")
        await tool(agent, "log_event", **ids, type="message", step_id="s2", summary="this step's news")
        await shows(page, timeline_has("this step's news"))
        assert not await page.evaluate(timeline_has("another step's news"))

        await tool(agent, "update_run", **ids, status="failed", error="gave up after the fixture kept racing")
        await page.goto(f"{ui}/missions/{ids['mission_id']}/runs/{ids['run_id']}")
        await shows(page, "document.querySelector('.summary').textContent.includes('Stopped at')")
        await page.screenshot(path=str(tmp_path / "run-page.png"), full_page=True)
        assert (tmp_path / "run-page.png").stat().st_size > 10_000
        assert page.dialogs == []


async def test_hostile_text_in_every_field_never_runs(browser, ui, db, agent):
    mission_id = await agent.mission(HOSTILE, description=HOSTILE)
    ids = await agent.run(mission_id, input={"prompt": HOSTILE})
    await agent.call("update_run", **ids, status="running")
    await agent.call(
        "create_plan",
        **ids,
        steps=[
            {"step_id": "s1", "description": HOSTILE, "sequence": 1},
            {"step_id": HOSTILE[:60], "description": HOSTILE * 3, "sequence": 2},
        ],
    )
    await agent.call("update_plan_step", **ids, step_id="s1", status="failed")
    for kind in ("tool_call", "tool_result", "step_failed", "message"):
        await agent.call(
            "log_event",
            **ids,
            type=kind,
            summary=HOSTILE,
            step_id="s1",
            agent_id=HOSTILE[:40],
            payload={"html": HOSTILE, HOSTILE[:30]: [HOSTILE]},
        )
    await agent.call("link_agent", **ids, telnyx_agent_id=HOSTILE[:50])

    urls = [
        f"{ui}/",
        f"{ui}/runs",
        f"{ui}/runs?mission={mission_id}",
        f"{ui}/missions/{ids['mission_id']}/runs/{ids['run_id']}",
    ]
    for url in urls:
        page = await watch(browser, url)
        await anyio.sleep(0.3)
        if "/missions/" in url:
            await live(page)
            # Open every folded text and payload: what is inside must be as inert as what is shown.
            for summary in await page.query_selector_all("details > summary"):
                await summary.click()
            # And what arrives live goes through the other path (regions swapped in by the script).
            await agent.call(
                "log_event", **ids, type="error", summary="live " + HOSTILE, step_id="s1", payload={"x": HOSTILE}
            )
            await agent.call(
                "update_run",
                **ids,
                status="failed",
                error=HOSTILE,
                result_summary=HOSTILE,
                result_payload={"x": HOSTILE},
            )
            await shows(page, "document.querySelector('.outcome.error') !== null")
            await shows(page, timeline_has("live <script>"))
        assert await page.evaluate("window.__pwned") is None, url
        assert page.dialogs == [], url
        assert await page.evaluate("document.querySelectorAll('img, svg, iframe, object, embed').length") == 0
        hrefs = await page.eval_on_selector_all("a", "els => els.map(a => a.getAttribute('href'))")
        assert all(h.startswith("/") and not h.startswith("//") for h in hrefs), hrefs
        scripts = await page.eval_on_selector_all("script", "els => els.map(s => s.getAttribute('src'))")
        assert scripts == ["/static/ui.js"]
        assert "<script>window.__pwned=1</script>" in await page.inner_text("main")
        assert await page.evaluate("window.__sameDocument") is True
        await page.close()
    agent_ids = await agent.call("list_run_agents", **ids)
    assert agent_ids[0]["telnyx_agent_id"] == HOSTILE[:50]


async def _no_sideways_scroll(page: Any) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert width <= 1, f"the page is {width}px wider than the screen"


async def test_lists_on_an_empty_store_500_runs_and_a_failed_run(browser, ui, db, agent):
    for width in (1366, 390):
        page = await watch(browser, f"{ui}/", width=width, height=800)
        assert "No missions yet" in await page.inner_text("main")
        await page.goto(f"{ui}/runs")
        assert "No runs yet" in await page.inner_text("main")
        await _no_sideways_scroll(page)
        await page.close()

    runs_page = await watch(browser, f"{ui}/runs")
    await live(runs_page)
    failed = await agent.failed_run()
    await shows(runs_page, "document.querySelectorAll('.runs .rid').length === 1")  # arrived live
    mission_id = await agent.mission("Nightly data load " + "with a long name " * 6)
    for _ in range(500):
        await agent.run(mission_id)
    await shows(runs_page, "document.querySelector('.meta').textContent.includes('501 runs')")

    for width in (1366, 390):
        page = await watch(browser, f"{ui}/runs", width=width, height=800)
        assert await page.eval_on_selector_all(".runs .rid", "els => els.length") == 25
        await _no_sideways_scroll(page)
        await page.click("a[rel=next]")
        await page.wait_for_url("**page=2**")
        assert "page 2 of 21" in await page.inner_text("main")
        await page.goto(f"{ui}/runs?status=failed")
        text = await page.inner_text("main")
        assert "✖ failed" in text and "the database refused the migration" in text
        await page.goto(f"{ui}/")
        text = await page.inner_text("main")
        assert "500" in text and "Ship the release" in text
        await _no_sideways_scroll(page)
        await page.goto(f"{ui}/missions/{failed['mission_id']}/runs/{failed['run_id']}")
        text = await page.inner_text("main")
        assert "Stopped at" in text and "migration 42 timed out" in text and "FAILED" in text.upper()
        await _no_sideways_scroll(page)
        await page.close()


async def test_screenshot_of_a_run_page(browser, ui, db, agent, tmp_path):
    """A run page as a person sees it; with UPDATE_SNAPSHOTS=1 the README's screenshots are rewritten."""
    ids = await agent.run(await agent.mission("Fix the flaky login test"))
    await agent.call("update_run", **ids, status="running")
    await agent.call(
        "create_plan",
        **ids,
        steps=[
            {"step_id": "s1", "description": "Reproduce the failure", "sequence": 1},
            {"step_id": "s2", "description": "Find the race", "sequence": 2},
            {"step_id": "s3", "description": "Fix the fixture", "sequence": 3},
            {
                "step_id": "s3.1",
                "description": "Make teardown wait for the server",
                "sequence": 1,
                "parent_step_id": "s3",
            },
            {"step_id": "s4", "description": "Run the test 50 times", "sequence": 4},
            {"step_id": "s5", "description": "Open a pull request", "sequence": 5},
        ],
    )
    script = [
        ("s1", "tool_call", "pytest tests/test_login.py -k login", {"call_id": "1", "cmd": "pytest -k login"}),
        ("s1", "tool_result", "1 failed, 0 passed", {"call_id": "1", "exit": 1}),
        ("s2", "tool_call", "grep -n 'teardown' tests/conftest.py", {"call_id": "2"}),
        ("s2", "tool_result", "3 matches", {"call_id": "2", "lines": [12, 40, 41]}),
        ("s2", "message", "The session fixture closes the server before the last request ends.", None),
        ("s3", "tool_call", "edit tests/conftest.py", {"call_id": "3"}),
        ("s3", "tool_result", "1 file changed", {"call_id": "3"}),
        ("s3", "error", "teardown still races", {"trace": "AssertionError: connection reset"}),
        ("s4", "tool_call", "pytest -k login --count 50", {"call_id": "4"}),
    ]
    for step, kind, summary, payload in script:
        if kind == "tool_call" and step != "s3":
            await agent.call("update_plan_step", **ids, step_id=step, status="in_progress")
        await agent.call(
            "log_event", **ids, type=kind, step_id=step, summary=summary, **({"payload": payload} if payload else {})
        )
        if kind == "tool_result" and step in ("s1", "s2"):
            await agent.call("update_plan_step", **ids, step_id=step, status="completed")
        if kind == "error":
            await agent.call("update_plan_step", **ids, step_id="s3", status="failed")
    await agent.call("update_plan_step", **ids, step_id="s3.1", status="skipped")
    await agent.call("link_agent", **ids, telnyx_agent_id="assistant-7f3c")
    url = f"{ui}/missions/{ids['mission_id']}/runs/{ids['run_id']}"
    shots = {"laptop": (1280, 800), "phone": (390, 844)}
    for name, (width, height) in shots.items():
        page = await watch(browser, url, width=width, height=height)
        await live(page)
        await _no_sideways_scroll(page)
        path = tmp_path / f"run-{name}.png"
        await page.screenshot(path=str(path), full_page=name == "phone")
        assert path.stat().st_size > 10_000
        if UPDATE:
            (ROOT / "docs").mkdir(exist_ok=True)
            (ROOT / "docs" / f"ui-run-{name}.png").write_bytes(path.read_bytes())
        await page.close()


async def test_a_reconnecting_stream_resumes_from_its_last_event_id(ui, agent):
    """What the browser's EventSource does after a lost connection: it sends the last id it saw; the
    page sends nothing until something changed since, and a stale id gets the current state at once."""
    import re

    import httpx2

    ids = await agent.run(await agent.mission())
    path = f"/missions/{ids['mission_id']}/runs/{ids['run_id']}"
    async with httpx2.AsyncClient(base_url=ui, timeout=30) as http:
        html = (await http.get(path)).text
        digest = re.search(r'data-digest="([0-9a-f]+)"', html).group(1)

        async def first_update(last_id: str) -> tuple[str, dict[str, Any]]:
            async with http.stream("GET", "/live" + path, headers={"Last-Event-ID": last_id}) as stream:
                event_id = ""
                async for line in stream.aiter_lines():
                    if line.startswith("id: "):
                        event_id = line[4:]
                    if line.startswith("data: ") and event_id:
                        return event_id, json.loads(line[6:])
            raise AssertionError("the stream ended")

        async with anyio.create_task_group() as tg:
            got: list[tuple[str, dict[str, Any]]] = []

            async def listen() -> None:
                got.append(await first_update(digest))

            tg.start_soon(listen)
            await anyio.sleep(1.0)  # connected, and told nothing: the browser is up to date
            assert got == []
            await agent.call("log_event", **ids, type="message", summary="said after the reconnect")
        event_id, data = got[0]
        assert event_id != digest and "said after the reconnect" in data["regions"]["timeline"]
        assert set(data["regions"]) == {"summary", "timeline"}  # the plan and agents did not change

        stale_id, stale = await first_update(digest)  # an id from before that event: caught up at once
        assert stale_id == event_id and "said after the reconnect" in stale["regions"]["timeline"]
