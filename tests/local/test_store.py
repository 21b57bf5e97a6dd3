"""The store interface: nested transactions, tenants, change markers, the router derived from the catalogue."""

from __future__ import annotations

import sqlite3
import time

import pytest

from missions_mcp.catalogue import OPERATIONS
from missions_mcp.local import missions, routes
from missions_mcp.local.routes import HANDLERS, build_router
from missions_mcp.local.sqlite import SQLiteStore
from missions_mcp.local.store import NO_TENANT, Conflict, Store, open_store, qmark_to_format, tenant_hash

KEY = tenant_hash(None)


@pytest.fixture
def store(store_target):
    s = open_store(store_target)
    yield s
    s.close()


def count(store: Store, table: str) -> int:
    with store.atomic(read_only=True) as tx:
        return tx.value(f"SELECT COUNT(*) FROM {table}")


def test_tenant_id_inside_a_write_creates_the_tenant_in_that_transaction(store):
    with store.atomic(KEY) as tx:
        first = store.tenant_id(tenant_hash("new-key"))
        assert first == store.tenant_id(tenant_hash("new-key")) and first != tx.tenant
    assert store.tenant_id(tenant_hash("new-key")) == first
    assert count(store, "tenants") == 2


def test_a_tenant_created_in_a_rolled_back_transaction_is_not_remembered(store):
    with pytest.raises(RuntimeError), store.atomic(tenant_hash("ghost")) as tx:
        assert tx.tenant != NO_TENANT
        raise RuntimeError("the request failed")
    assert count(store, "tenants") == 0
    assert store._tenants == {}
    with store.atomic(tenant_hash("ghost"), read_only=True) as tx:
        assert tx.tenant == NO_TENANT, "a read does not create a tenant"
    assert count(store, "tenants") == 0


def test_a_nested_transaction_rolls_back_alone(store):
    with store.atomic(KEY) as tx:
        missions.create_mission(store, KEY, {"name": "kept"})
        with pytest.raises(Conflict), store.atomic() as inner:
            assert inner.tenant == tx.tenant and inner.depth == 1
            missions.create_mission(store, KEY, {"name": "dropped"})
            raise Conflict("no")
        missions.create_mission(store, KEY, {"name": "kept too"})
    names = [m["name"] for m in missions.list_missions(store, KEY, 1, 10)["data"]]
    assert names == ["kept too", "kept"]


def test_an_error_in_the_outer_transaction_rolls_back_the_nested_ones(store):
    with pytest.raises(ZeroDivisionError), store.atomic(KEY):
        missions.create_mission(store, KEY, {"name": "gone"})
        1 / 0  # noqa: B018
    assert count(store, "missions") == 0


def test_a_write_cannot_nest_in_a_read(store):
    with store.atomic(KEY, read_only=True), pytest.raises(RuntimeError, match="inside a read"):
        missions.create_mission(store, KEY, {"name": "x"})
    assert count(store, "missions") == 0


def test_change_marker_moves_on_own_and_other_processes_writes(store, store_target, engine):
    before = store.change_marker()
    assert store.change_marker() == before, "reading changes nothing"
    missions.create_mission(store, KEY, {"name": "own"})
    after_own = store.change_marker()
    assert after_own != before
    if engine == "sqlite":
        other = sqlite3.connect(store_target)
        other.execute("UPDATE missions SET name = 'changed elsewhere'")
        other.commit()
        other.close()
        assert store.change_marker() != after_own
        return
    other = open_store(store_target)  # another replica: its commit reaches this one by NOTIFY
    try:
        missions.create_mission(other, KEY, {"name": "elsewhere"})
    finally:
        other.close()
    deadline = time.monotonic() + 5
    while store.change_marker() == after_own:
        assert time.monotonic() < deadline, "the other replica's commit was never noticed"
        time.sleep(0.01)


def test_listeners_hear_each_committed_write_only(store):
    heard: list[int] = []
    store.add_listener(lambda: heard.append(1))
    missions.list_missions(store, KEY, 1, 10)
    with pytest.raises(Conflict), store.atomic(KEY):
        raise Conflict("rolled back")
    assert heard == []
    missions.create_mission(store, KEY, {"name": "x"})
    assert heard == [1]


def test_open_store_picks_the_engine(tmp_path):
    store = open_store(tmp_path / "o.db")
    assert isinstance(store, SQLiteStore) and store.dialect.name == "sqlite"
    assert open_store(store) is store
    store.close()


def test_qmark_placeholders_rewrite_for_format_style_drivers():
    assert (
        qmark_to_format("SELECT * FROM t WHERE a = ? AND b IN (?, ?)")
        == "SELECT * FROM t WHERE a = %s AND b IN (%s, %s)"
    )


# --------------------------------------------------------------------------- the router


def test_every_operation_has_one_handler_and_no_handler_is_orphaned():
    kinds = {
        op.name
        for op in OPERATIONS
        if "/ai/missions/{mission_id}/" in op.path
        and op.path.split("/")[4] in ("tools", "knowledge-bases", "mcp-servers")
    }
    assert set(HANDLERS) | kinds == {op.name for op in OPERATIONS}
    assert not set(HANDLERS) & kinds
    served = [route.name for route in build_router().routes if route.name != "method_not_allowed"]
    assert sorted(served) == sorted(op.name for op in OPERATIONS)


def test_a_handler_without_an_operation_stops_the_build(monkeypatch):
    monkeypatch.setitem(routes.HANDLERS, "finish_run", lambda: None)
    with pytest.raises(RuntimeError, match="finish_run"):
        build_router()


def test_route_order_puts_the_hot_operations_first_and_literals_before_parameters():
    ordered = [route.name for route in build_router().routes if route.name != "method_not_allowed"]
    hot = [op.name for op in OPERATIONS if op.hot]
    assert hot and set(ordered[: len(hot)]) == set(hot)
    assert all("{run_id}" in op.path for op in OPERATIONS if op.hot), "a hot route could shadow another one"
    assert ordered.index("list_recent_runs") < ordered.index("get_mission")
    assert ordered.index("list_recent_events") < ordered.index("get_mission")


def test_a_failing_listener_does_not_fail_the_committed_write(store, caplog):
    def broken() -> None:
        raise RuntimeError("listener bug")

    store.add_listener(broken)
    missions.create_mission(store, KEY, {"name": "kept"})
    assert count(store, "missions") == 1
    assert "a change listener failed" in caplog.text
