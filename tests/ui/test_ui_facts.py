"""What the page and the terminal compute about a run, and how they learn of changes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

from missions_mcp.ui import facts as f
from missions_mcp.ui.feed import ChangeFeed, DataVersionFeed, PollingFeed


def step(step_id: str, status: str, seq: int, parent: str | None = None, **extra: object) -> dict[str, object]:
    return {
        "step_id": step_id,
        "status": status,
        "sequence": seq,
        "parent_step_id": parent,
        "description": f"do {step_id}",
        **extra,
    }


def test_focus_is_the_current_step_while_running_and_where_it_stopped_after():
    steps = [
        step("s1", "completed", 1, completed_at="2026-01-01T10:00:05Z"),
        step("s2", "in_progress", 2),
        step("s2.1", "in_progress", 1, "s2"),
        step("s3", "pending", 3),
    ]
    assert f.focus_step({"status": "running"}, steps) == (steps[2], "current")
    assert f.focus_step({"status": "cancelled"}, steps) == (steps[2], "stopped")
    failed = [
        step("s1", "completed", 1, completed_at="2026-01-01T10:00:05Z"),
        step("s2", "failed", 2, completed_at="2026-01-01T10:00:09Z"),
        step("s3", "pending", 3),
    ]
    assert f.focus_step({"status": "failed"}, failed) == (failed[1], "stopped")
    done = [
        step("a", "completed", 1, completed_at="2026-01-01T10:00:09Z"),
        step("b", "completed", 2, completed_at="2026-01-01T10:00:05Z"),
    ]
    assert f.focus_step({"status": "succeeded"}, done) == (done[0], "stopped")
    assert f.focus_step({"status": "running"}, done) == (None, "current")


def test_failure_reason_is_the_views_reason():
    assert f.failure_reason(step("s1", "failed", 1, metadata={"error": "disk full"})) == "disk full"
    events = [
        {"type": "error", "step_id": "s1", "summary": "first try broke", "timestamp": "2026-01-01T10:00:01Z"},
        {"type": "step_failed", "step_id": "s1", "summary": "gave up", "timestamp": "2026-01-01T10:00:02Z"},
        {"type": "step_failed", "step_id": "s2", "summary": "not this step", "timestamp": "2026-01-01T10:00:04Z"},
    ]
    assert f.failure_reason(step("s1", "failed", 1), events) == "gave up"  # the newest of its failure events
    assert f.failure_reason(step("s1", "failed", 1), events[:1]) == "first try broke"
    assert f.failure_reason(step("s9", "failed", 1), events) is None


def test_tool_results_pair_with_their_calls_by_id_then_by_step_and_agent():
    events = [
        {"event_id": "1", "type": "tool_call", "step_id": "s1", "payload": {"call_id": "a"}},
        {"event_id": "2", "type": "tool_call", "step_id": "s1", "payload": {"call_id": "b"}},
        {"event_id": "3", "type": "tool_result", "step_id": "s1", "payload": {"call_id": "a"}},
        {"event_id": "4", "type": "tool_call", "step_id": "s2", "agent_id": "x"},
        {"event_id": "5", "type": "tool_result", "step_id": "s2", "agent_id": "x"},
        {"event_id": "6", "type": "tool_result", "step_id": "s3"},
        {"event_id": "7", "type": "message"},
    ]
    entries = f.pair_tool_calls(events)
    shown = [(e.event["event_id"], e.result and e.result["event_id"], e.answers_older_call) for e in entries]
    assert shown == [("1", "3", False), ("2", None, False), ("4", "5", False), ("6", None, True), ("7", None, False)]


def test_last_activity_is_the_latest_of_run_steps_and_events():
    run = {"updated_at": "2026-01-01T10:00:00Z", "started_at": "2026-01-01T09:00:00Z"}
    steps = [{"started_at": "2026-01-01T10:05:00Z"}, {"completed_at": "2026-01-01T10:03:00+00:00"}]
    events = [{"timestamp": "2026-01-01T10:04:00Z"}]
    assert f.last_activity(run, steps, events) == "2026-01-01T10:05:00Z"
    assert f.last_activity(run, [], events) == "2026-01-01T10:04:00Z"
    assert (
        f.elapsed({"status": "failed", "started_at": "2026-01-01T10:00:00Z", "finished_at": "2026-01-01T10:06:05Z"})
        == "6 min 5 s"
    )


def test_plain_text_cannot_drive_a_terminal():
    hostile = "ok\x1b[2J\x1b]0;title\x07\x9b31m\u202eevil\nnext\ttab\x00"
    assert f.plain(hostile) == "ok [2J ]0;title 31m evil next tab"
    assert f.plain("x" * 50, 10) == "x" * 9 + "…"


def test_plan_tree_nests_children_under_parents():
    steps = [step("b", "pending", 2), step("a", "pending", 1), step("a.1", "pending", 1, "a")]
    tree = f.plan_tree(steps)
    assert [n.step["step_id"] for n in tree] == ["a", "b"]
    assert [c.step["step_id"] for c in tree[0].children] == ["a.1"]


@pytest.mark.anyio
async def test_data_version_feed_sees_commits_by_another_connection(tmp_path: Path):
    db = tmp_path / "feed.db"
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    feed = DataVersionFeed(db, interval=0.01)
    seen = feed.current()
    assert feed.current() == seen  # nothing committed: the version stays
    writer.execute("INSERT INTO t VALUES (1)")
    with anyio.fail_after(5):
        moved = await feed.wait(seen)
    assert moved != seen
    writer.execute("INSERT INTO t VALUES (2)")
    assert feed.current() != moved  # a look before a read counts what was committed meanwhile
    feed.close()
    writer.close()


@pytest.mark.anyio
async def test_many_waiters_share_one_checker_and_one_takes_over_when_it_leaves():
    checks = 0

    class Counting(ChangeFeed):
        interval = 0.01

        def check(self) -> bool:
            nonlocal checks
            checks += 1
            return False

    feed = Counting()
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(feed.wait, 0)
        await anyio.sleep(0.3)
        tg.cancel_scope.cancel()
    assert 5 <= checks <= 40  # one checker for fifty waiters: about one check per interval, not fifty

    with anyio.CancelScope() as first:
        first.cancel()
        await feed.wait(0)  # a waiter that leaves at once must not leave the others without a checker
    feed.changed()
    with anyio.fail_after(2):
        assert await feed.wait(0) == 1


@pytest.mark.anyio
async def test_polling_feed_ticks_and_a_push_feed_wakes_waiters():
    polling = PollingFeed(0.02)
    with anyio.fail_after(2):
        assert await polling.wait(0) == 1
    with pytest.raises(ValueError):
        PollingFeed(0)
    push = ChangeFeed()
    async with anyio.create_task_group() as tg:
        tg.start_soon(push.wait, 0)
        await anyio.sleep(0.05)
        push.changed()
    assert push.version == 1


def test_latest_compares_times_not_text_across_shapes():
    stamps = [
        "2026-01-01T10:00:00Z",
        "2026-01-01T09:59:59.999999Z",
        "2026-01-01T10:00:00.5+00:00",
        None,
        "x",
        "2026-01-01T11:00:00+02:00",
        "2026-01-01T10:00:00.400000Z",
    ]
    assert f.latest(stamps) == "2026-01-01T10:00:00.5+00:00"
    assert f.latest([None, ""]) is None


def test_the_page_is_not_served_beyond_loopback_unless_asked(capsys):
    from missions_mcp.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["ui", "--host", "0.0.0.0", "--db", "/nonexistent/never-opened.db"])
    assert stopped.value.code == 2
    assert "--public" in capsys.readouterr().err


@pytest.mark.anyio
async def test_a_store_change_marker_moves_on_writes_only(tmp_path: Path):
    """The feed of ``missions-mcp api``'s page: its own reads must not wake it, or fifty open pages
    would re-read each other's reads for ever."""
    import httpx2

    from missions_mcp.local.app import create_app
    from missions_mcp.local.store import open_store
    from missions_mcp.ui.feed import feed_for_store

    store = open_store(tmp_path / "marker.db")
    feed = feed_for_store(store)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=create_app(store)), base_url="http://x") as http:
        seen = feed.current()
        for path in ("/ai/missions", "/ai/missions/runs", "/ai/missions/events"):
            assert (await http.get(path)).status_code == 200
        assert feed.current() == seen
        assert (await http.post("/ai/missions", json={"name": "a write"})).status_code == 201
        assert feed.current() != seen
    store.close()
