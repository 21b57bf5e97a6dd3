"""The PostgreSQL engine on a real server: start-up errors, migrations, text, transactions, change notifications."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest

from support import clean_env

pytest.importorskip("psycopg", reason="pip install -e '.[test,postgres]'")

from missions_mcp.local.postgres import MIGRATIONS, PostgresStore, PostgresUnavailable

pytestmark = pytest.mark.slow


@pytest.fixture
def store(postgres_url: str):
    opened = PostgresStore(postgres_url)
    yield opened
    opened.close()


def _insert_mission(tx, mission_id: str, name: str) -> None:
    tx.execute(
        "INSERT INTO missions (mission_id, tenant, name, execution_mode, created_at, updated_at)"
        " VALUES (?, ?, ?, 'external', 'now', 'now')",
        (mission_id, tx.tenant, name),
    )


def test_wrong_password_refused_port_and_missing_database_are_one_line_without_the_password(postgres_url: str) -> None:
    parts = urlsplit(postgres_url)
    password = parts.password
    assert password
    cases = {
        "wrong password": (
            parts._replace(netloc=f"postgres:not-{password}@{parts.hostname}:{parts.port}").geturl(),
            "check the user and password",
        ),
        "refused": (
            parts._replace(netloc=f"postgres:{password}@127.0.0.1:1").geturl(),
            "check that the server is running",
        ),
        "no database": (parts._replace(path="/no_such_database").geturl(), "createdb no_such_database"),
    }
    for name, (url, advice) in cases.items():
        with pytest.raises(PostgresUnavailable) as caught:
            PostgresStore(url)
        message = str(caught.value)
        assert advice in message, (name, message)
        assert "\n" not in message and password not in message, (name, message)


def test_replicas_starting_at_once_on_an_empty_database_all_come_up(postgres_url: str) -> None:
    barrier = threading.Barrier(8)

    def start(_: int) -> PostgresStore:
        barrier.wait(timeout=30)
        return PostgresStore(postgres_url)

    with ThreadPoolExecutor(8) as pool:
        stores = list(pool.map(start, range(8)))
    try:
        assert {s.schema_version for s in stores} == {len(MIGRATIONS)}
        with stores[0].atomic(None, read_only=True) as tx:
            assert tx.value("SELECT COUNT(*) FROM schema_version") == 1
    finally:
        for s in stores:
            s.close()


def test_text_with_nul_and_the_escape_character_comes_back_exactly(store: PostgresStore) -> None:
    names = ["a\x00b", "\ue000", "\ue0000", "\ue000\ue000\x00", "\x00" * 3, "plain", ""]
    with store.atomic("tenant") as tx:
        for i, name in enumerate(names):
            _insert_mission(tx, f"m{i}", name)
    with store.atomic("tenant", read_only=True) as tx:
        assert [r["name"] for r in tx.all("SELECT name FROM missions ORDER BY seq")] == names
        for i, name in enumerate(names):  # a value compares equal to itself, and to nothing else
            assert [r["mission_id"] for r in tx.all("SELECT mission_id FROM missions WHERE name = ?", (name,))] == [
                f"m{i}"
            ]


def test_a_nested_block_that_fails_is_rolled_back_alone(store: PostgresStore) -> None:
    with store.atomic("tenant") as tx:
        _insert_mission(tx, "kept", "kept")
        with pytest.raises(ValueError), store.atomic() as inner:
            _insert_mission(inner, "dropped", "dropped")
            raise ValueError
    with store.atomic("tenant", read_only=True) as tx:
        assert [r["mission_id"] for r in tx.all("SELECT mission_id FROM missions")] == ["kept"]


def test_a_read_sees_one_snapshot_while_another_replica_writes(postgres_url: str, store: PostgresStore) -> None:
    other = PostgresStore(postgres_url)
    try:
        with store.atomic("tenant") as tx:
            _insert_mission(tx, "first", "first")
        with store.atomic("tenant", read_only=True) as tx:
            before = tx.value("SELECT COUNT(*) FROM missions")
            with other.atomic("tenant") as writer:
                _insert_mission(writer, "second", "second")
            assert tx.value("SELECT COUNT(*) FROM missions") == before == 1
        with store.atomic("tenant", read_only=True) as tx:
            assert tx.value("SELECT COUNT(*) FROM missions") == 2
    finally:
        other.close()


def test_a_commit_on_one_replica_moves_the_other_replicas_change_marker_within_a_second(
    postgres_url: str, store: PostgresStore
) -> None:
    other = PostgresStore(postgres_url)
    heard = threading.Event()
    store.add_listener(heard.set)
    try:
        time.sleep(0.3)  # the listener thread has started listening
        heard.clear()
        marker = store.change_marker()
        with other.atomic("tenant", read_only=True) as tx:
            tx.value("SELECT COUNT(*) FROM missions")
        time.sleep(0.3)
        assert store.change_marker() == marker, "a read is not a change"
        started = time.monotonic()
        with other.atomic("tenant") as tx:
            _insert_mission(tx, "elsewhere", "written on the other replica")
        assert heard.wait(timeout=5)
        assert time.monotonic() - started < 1.0
        assert store.change_marker() != marker
    finally:
        other.close()


def test_a_rolled_back_write_notifies_nobody(postgres_url: str, store: PostgresStore) -> None:
    other = PostgresStore(postgres_url)
    try:
        time.sleep(0.3)
        marker = store.change_marker()
        with pytest.raises(RuntimeError), other.atomic("tenant") as tx:
            _insert_mission(tx, "never", "never")
            raise RuntimeError("rolled back")
        time.sleep(0.5)
        assert store.change_marker() == marker
    finally:
        other.close()


def _command(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "missions_mcp", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_the_commands_refuse_an_unusable_database_in_one_line(postgres_url: str, tmp_path) -> None:
    parts = urlsplit(postgres_url)
    password = parts.password
    assert password
    wrong = parts._replace(netloc=f"postgres:not-{password}@{parts.hostname}:{parts.port}").geturl()
    refused = parts._replace(netloc=f"postgres:{password}@127.0.0.1:1").geturl()
    no_driver = tmp_path / "no-driver"
    (no_driver / "psycopg").mkdir(parents=True)
    (no_driver / "psycopg" / "__init__.py").write_text("raise ImportError('psycopg is not installed')\n")
    cases = [
        (["api", "--port", "1", "--db", wrong], {}, "check the user and password"),
        (["api", "--port", "1"], {"MISSIONS_DB": refused}, "check that the server is running"),
        (["--local", "--db", wrong], {}, "check the user and password"),
        (
            ["api", "--port", "1", "--db", postgres_url],
            {"PYTHONPATH": str(no_driver)},
            "pip install 'missions-mcp[postgres]'",
        ),
    ]
    for args, env, advice in cases:
        done = _command(*args, env_extra=env)
        lines = [line for line in done.stderr.splitlines() if not line[:4].isdigit()]  # leave out log lines
        assert done.returncode == 2, (args, done.stderr)
        assert lines == [lines[0]] and lines[0].startswith("missions-mcp: ") and advice in lines[0], (args, done.stderr)
        assert "Traceback" not in done.stderr and password not in done.stderr + done.stdout, args


@pytest.mark.anyio
async def test_connections_the_server_dropped_are_replaced(postgres_server: str, postgres_url: str) -> None:
    import httpx2
    import psycopg

    from missions_mcp.local import create_app

    app = create_app(postgres_url)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://local") as client:
            assert (await client.post("/ai/missions", json={"name": "before"})).status_code == 201
            with psycopg.connect(postgres_server, autocommit=True) as admin:  # as a server restart would
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'missions-mcp' AND pid <> pg_backend_pid()"
                )
            assert (await client.post("/ai/missions", json={"name": "after"})).status_code == 201
            assert (await client.get("/ai/missions")).json()["meta"]["total_results"] == 2
    finally:
        app.state.store.close()


@pytest.mark.anyio
async def test_a_server_gone_away_is_503_with_retry_after_and_the_password_nowhere() -> None:
    import httpx2

    from missions_mcp.local import create_app

    from pgcluster import Cluster, _bindir

    bindir = _bindir()
    if bindir is None:
        pytest.skip("needs PostgreSQL's server tools to start and stop a cluster of its own")
    cluster = Cluster.start(bindir)
    store = None
    try:
        store = PostgresStore(cluster.url, pool_timeout=2)
        app = create_app(store)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://local") as client:
            assert (await client.post("/ai/missions", json={"name": "before"})).status_code == 201
            cluster.stop()
            for request in (client.get("/ai/missions"), client.post("/ai/missions", json={"name": "lost"})):
                r = await request
                assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
                assert "PostgreSQL" in r.json()["detail"] and cluster.password not in r.text
    finally:
        if store is not None:
            store.close()
        cluster.stop()


def test_a_deadlock_the_server_breaks_is_a_retryable_unavailable_store(store: PostgresStore) -> None:
    with store.atomic("tenant") as tx:
        _insert_mission(tx, "m1", "one")
        _insert_mission(tx, "m2", "two")
    both_locked_one = threading.Barrier(2)
    outcomes: list[str] = []

    def lock(first: str, second: str) -> None:
        try:
            with store.atomic("tenant") as tx:
                tx.one("SELECT seq FROM missions WHERE mission_id = ? FOR UPDATE", (first,))
                both_locked_one.wait(timeout=10)
                tx.one("SELECT seq FROM missions WHERE mission_id = ? FOR UPDATE", (second,))
            outcomes.append("committed")
        except PostgresUnavailable as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=lock, args=pair) for pair in (("m1", "m2"), ("m2", "m1"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(outcomes) == 2 and "committed" in outcomes, outcomes  # one went through
    assert any("(40P01)" in o for o in outcomes), outcomes  # the other: deadlock_detected, told as retryable


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_mcp_server_on_the_in_process_backend_writes_to_postgresql(postgres_url: str, mode: str) -> None:
    """``missions-mcp --local --db postgresql://…``: tool calls reach the database, a second server sees them."""
    from mcp import Client

    from missions_mcp import Settings, build_server

    writer = build_server(Settings(backend="local", db_path=postgres_url))
    reader = build_server(Settings(backend="local", db_path=postgres_url))
    try:
        async with Client(writer.server, mode=mode) as client:
            made = await client.call_tool("create_mission", {"name": "through MCP"})
            assert not made.is_error, made
            mission_id = made.structured_content["mission_id"]
            run = await client.call_tool("start_run", {"mission_id": mission_id})
            run_id = run.structured_content["run_id"]
            logged = await client.call_tool(
                "log_event", {"mission_id": mission_id, "run_id": run_id, "type": "message", "summary": "hi"}
            )
            assert not logged.is_error, logged
        async with Client(reader.server, mode=mode) as client:
            listed = await client.call_tool("list_events", {"mission_id": mission_id, "run_id": run_id})
            assert [e["summary"] for e in listed.structured_content["data"]] == ["hi"]
    finally:
        await writer.aclose()
        await reader.aclose()
    store = PostgresStore(postgres_url)  # and the rows are in PostgreSQL, not in a file somewhere
    try:
        with store.atomic(None, read_only=True) as tx:
            assert tx.value("SELECT COUNT(*) FROM events") == 1
    finally:
        store.close()
