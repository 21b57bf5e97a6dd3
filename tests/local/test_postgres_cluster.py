"""The PostgreSQL the engine's tests run on: a real server, a fresh database for each test."""

from __future__ import annotations

import pytest

psycopg = pytest.importorskip("psycopg", reason="pip install -e '.[test,postgres]'")

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("turn", [1, 2])
def test_each_test_gets_an_empty_place_of_its_own(postgres_url: str, turn: int) -> None:
    with psycopg.connect(postgres_url, connect_timeout=10) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()").fetchone()
        assert tables == (0,)
        assert conn.execute("SELECT current_schema()").fetchone()[0].startswith("missions_test_")
        conn.execute("CREATE TABLE left_behind (n int)")  # the other turn must not see it
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "150000"
