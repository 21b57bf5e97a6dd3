"""Schema migrations: a database made by an older version opens, migrates and keeps its data."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from missions_mcp.local import missions, runs
from missions_mcp.local import sqlite as store_module
from missions_mcp.local.sqlite import MIGRATIONS
from missions_mcp.local.sqlite import SQLiteStore as Store
from missions_mcp.local.store import tenant_hash

KEY = tenant_hash(None)


def test_a_new_database_is_at_the_latest_version(tmp_path):
    assert Store(tmp_path / "m.db").schema_version == len(MIGRATIONS)


def test_version_1_database_migrates_and_keeps_event_order(tmp_path, monkeypatch):
    db = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:1])
    old = Store(db)
    assert old.schema_version == 1
    mission_id = missions.create_mission(old, KEY, {"name": "old"})["data"]["mission_id"]
    run_ids = [runs.create_run(old, KEY, mission_id, {})["data"]["run_id"] for _ in range(2)]
    conn = old._conn
    run_seqs = [conn.execute("SELECT seq FROM runs WHERE run_id = ?", (r,)).fetchone()[0] for r in run_ids]
    # Version 1 had no place column: write events the way it did, out of timestamp order on purpose.
    for i, ts in enumerate([30, 10, 20, 10]):
        for run_seq in run_seqs:
            conn.execute(
                "INSERT INTO events (event_id, run_seq, tenant, type, summary, ts) VALUES (?, ?, 1, 'message', ?, ?)",
                (f"e{run_seq}-{i}", run_seq, f"event {i}", ts),
            )
    conn.execute("UPDATE runs SET event_count = 4")
    old.close()
    monkeypatch.undo()

    new = Store(db)
    assert new.schema_version == len(MIGRATIONS)
    for run_id in run_ids:
        page = runs.list_run_events(new, KEY, mission_id, run_id, {}, 1, 10)
        assert [e["summary"] for e in page["data"]] == ["event 1", "event 3", "event 2", "event 0"]
        second = runs.list_run_events(new, KEY, mission_id, run_id, {}, 2, 3)
        assert [e["summary"] for e in second["data"]] == ["event 0"]
        logged = runs.log_event(new, KEY, mission_id, run_id, {"type": "message", "summary": "after"})["data"]
        everything = runs.list_run_events(new, KEY, mission_id, run_id, {}, 1, 10)["data"]
        assert everything[-1]["event_id"] == logged["event_id"]


def test_a_failed_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch):
    db = tmp_path / "m.db"
    Store(db).close()
    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, "CREATE TABLE broken (;"])
    with pytest.raises(sqlite3.OperationalError):
        Store(db)
    monkeypatch.undo()
    assert Store(db).schema_version == len(MIGRATIONS)


def test_stores_opening_a_new_file_at_once_all_migrate_it(tmp_path):
    """Each on its own connection, as separate processes would be (the slow suite starts real ones)."""
    db = tmp_path / "new.db"
    opened: list[Store] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def open_it() -> None:
        start.wait()
        try:
            opened.append(Store(db))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == [] and len(opened) == 8
    assert {store.schema_version for store in opened} == {len(MIGRATIONS)}
    for n, store in enumerate(opened):
        missions.create_mission(store, KEY, {"name": f"m{n}"})
    assert missions.list_missions(opened[0], KEY, 1, 20)["meta"]["total_results"] == 8
    for store in opened:
        store.close()


def test_version_3_database_gets_the_step_index_and_keeps_its_events(tmp_path, monkeypatch):
    db = tmp_path / "v3.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS[:3])
    old = Store(db)
    mission_id = missions.create_mission(old, KEY, {"name": "v3"})["data"]["mission_id"]
    run_id = runs.create_run(old, KEY, mission_id, {})["data"]["run_id"]
    for i in range(30):
        runs.log_event(old, KEY, mission_id, run_id, {"type": "message", "summary": f"e{i}", "step_id": f"s{i % 3}"})
    old.close()
    monkeypatch.undo()

    new = Store(db)
    assert new.schema_version == len(MIGRATIONS)
    indexes = {row[0] for row in new._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "events_by_run_step" in indexes and "events_by_run" not in indexes
    page = runs.list_run_events(new, KEY, mission_id, run_id, {"step_id": "s1"}, 2, 4)
    assert [e["summary"] for e in page["data"]] == ["e13", "e16", "e19", "e22"]
    assert page["meta"]["total_results"] == 10
    plan = " ".join(
        str(tuple(row))
        for row in new._conn.execute(
            "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM events WHERE run_seq = 1 AND step_id = 's1'"
        )
    )
    assert "events_by_run_step" in plan  # the total of a step's events is an index range, not a walk
