"""``missions-mcp runs`` and ``missions-mcp show`` as subprocesses, on a database the real API wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import anyio
import pytest

from support import clean_env, running

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

TIMEOUT = 60


def command(*args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    env = {**clean_env(), "COLUMNS": str(columns), "LINES": "40"}
    return subprocess.run(
        [sys.executable, "-m", "missions_mcp", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
        check=False,
    )


async def test_runs_table_fits_the_terminal_and_json_is_for_scripts(db: Path, agent):
    failed = await agent.failed_run()
    mission_id = await agent.mission("A mission whose name is far too long to fit in any column of a table")
    ok = await agent.run(mission_id)
    await agent.call("update_run", **ok, status="running")
    await agent.call("update_run", **ok, status="succeeded", result_summary="done \x1b[31mred\x1b[0m " + "x" * 300)

    for columns in (60, 100, 160):
        result = command("runs", "--db", str(db), columns=columns)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0].split()[:2] == ["RUN", "STATUS"]
        assert len(lines) == 3 and all(len(line) <= columns for line in lines), (columns, lines)
        assert "✔ succeeded" in lines[1] and "✖ failed" in lines[2]
        assert "\x1b" not in result.stdout  # an agent's escape sequence never reaches the terminal
    assert ok["run_id"] in command("runs", "--db", str(db), columns=160).stdout  # wide: the whole id

    data = json.loads(command("runs", "--db", str(db), "--json").stdout)
    assert data["total"] == 2 and [r["run_id"] for r in data["runs"]] == [ok["run_id"], failed["run_id"]]
    assert data["runs"][1]["mission_name"] == "Ship the release"
    only = json.loads(command("runs", "--db", str(db), "--json", "--status", "failed").stdout)
    assert [r["run_id"] for r in only["runs"]] == [failed["run_id"]]
    of_mission = json.loads(command("runs", "--db", str(db), "--json", "--mission", mission_id).stdout)
    assert [r["run_id"] for r in of_mission["runs"]] == [ok["run_id"]]

    bad = command("runs", "--db", str(db), "--status", "finished")
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
    empty = command("runs", "--db", str(db.parent / "other.db"))
    assert empty.returncode == 0 and empty.stdout.strip() == "No runs."


async def test_show_prints_the_plan_and_the_latest_events(db: Path, agent):
    ids = await agent.failed_run()
    result = command("show", ids["run_id"][:8], "--db", str(db))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Ship the release › run " + ids["run_id"] in out
    assert "✖ FAILED" in out and "Error: the database refused the migration" in out
    assert "  [x] s1 Build" in out and "  [!] s2 Run the migrations" in out and "← stopped here" in out
    assert "└ reason: migration 42 timed out" in out and "  [ ] s3 Announce" in out
    assert "step_failed" in out and "Latest events" in out

    data = json.loads(command("show", ids["run_id"], "--db", str(db), "--json").stdout)
    assert data["run"]["status"] == "failed" and [s["step_id"] for s in data["steps"]] == ["s1", "s2", "s3"]
    assert data["failure_reasons"] == {"s2": "migration 42 timed out"}

    unusable = command("runs", "--db", "/proc/no-such-dir/missions.db")
    assert unusable.returncode == 2 and unusable.stderr.startswith("missions-mcp: cannot open the database: ")
    assert len(unusable.stderr.strip().splitlines()) == 1

    missing = command("show", "0000", "--db", str(db))
    assert missing.returncode == 1 and missing.stderr.strip() == "missions-mcp: no run with id '0000'"
    assert "Traceback" not in missing.stderr


def _follow(args: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "missions_mcp", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**clean_env(), "COLUMNS": "100"},
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


async def _until(lines: list[str], text: str) -> None:
    with anyio.fail_after(TIMEOUT):
        while not any(text in line for line in lines):  # noqa: ASYNC110 - written by a reader thread
            await anyio.sleep(0.05)


@pytest.mark.parametrize("as_json", [False, True])
async def test_follow_prints_changes_until_the_run_finishes(db: Path, agent, as_json: bool):
    ids = await agent.run(await agent.mission())
    await agent.call("update_run", **ids, status="running")
    await agent.call("create_plan", **ids, steps=[{"step_id": "s1", "description": "Work", "sequence": 1}])
    proc, lines = _follow(["show", ids["run_id"], "--db", str(db), "--follow", *(["--json"] if as_json else [])])
    try:
        await _until(lines, '"status": "running"' if as_json else "following; Ctrl-C to stop")
        await agent.call("update_plan_step", **ids, step_id="s1", status="in_progress")
        await agent.call(
            "log_event", **ids, type="tool_call", step_id="s1", summary="make test", payload={"call_id": "1"}
        )
        await _until(lines, "make test")
        await agent.call(
            "log_event", **ids, type="tool_result", step_id="s1", summary="all green", payload={"call_id": "1"}
        )
        await agent.call("update_plan_step", **ids, step_id="s1", status="completed")
        await agent.call("update_run", **ids, status="succeeded", result_summary="shipped")
        with anyio.fail_after(TIMEOUT):
            while proc.poll() is None:  # noqa: ASYNC110 - a child process
                await anyio.sleep(0.05)
        assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        await anyio.sleep(0.2)  # the reader thread drains what is left
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(TIMEOUT)
    if as_json:
        records = [json.loads(line) for line in lines[1:]]
        summaries = [r["event"]["summary"] for r in records if "event" in r]
        assert [x for x in summaries if x in ("make test", "all green")] == ["make test", "all green"]
        assert {"s1": "completed"}.items() <= {
            r["step"]["step_id"]: r["step"]["status"] for r in records if "step" in r
        }.items()
        assert records[-1]["run"]["status"] == "succeeded"
    else:
        text = "\n".join(lines)
        assert "make test" in text and "all green" in text and "step s1 [x] completed" in text
        assert lines[-1].strip().startswith("run ✔ SUCCEEDED: shipped")


async def test_follow_ends_on_ctrl_c(db: Path, agent):
    ids = await agent.run(await agent.mission())
    proc, lines = _follow(["show", ids["run_id"], "--db", str(db), "--follow"])
    try:
        await _until(lines, "following; Ctrl-C to stop")
        proc.send_signal(2)  # SIGINT, as Ctrl-C
        proc.wait(TIMEOUT)
        assert proc.returncode == 130
        assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_runs_reads_a_shared_api_and_the_api_serves_the_page(tmp_path: Path):
    with running(["api", "--port", "{port}", "--db", str(tmp_path / "shared.db")], "/ai/missions") as (base, _, _):
        import httpx2

        async with httpx2.AsyncClient(base_url=base) as http:
            mission = (await http.post("/ai/missions", json={"name": "shared store"})).json()["data"]
            await http.post(f"/ai/missions/{mission['mission_id']}/runs", json={})
            page = await http.get("/")
            assert page.status_code == 200 and "shared store" in page.text
            assert page.headers["content-security-policy"].startswith("default-src 'none'")
            assert (await http.get("/docs")).status_code == 404
        result = command("runs", "--base-url", base, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["runs"][0]["mission_name"] == "shared store"
    gone = command("runs", "--base-url", base)
    assert gone.returncode == 1 and gone.stderr.startswith("missions-mcp: Could not reach the Missions API")


def test_the_wheel_carries_the_templates_and_static_files(tmp_path: Path):
    import zipfile

    from support import ROOT

    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)]
    built = subprocess.run(pip, capture_output=True, text=True, timeout=300, check=False)
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("missions_mcp-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    package = ROOT / "src" / "missions_mcp" / "ui"
    shipped = {
        f"missions_mcp/ui/{p.relative_to(package).as_posix()}"
        for folder in ("templates", "static")
        for p in (package / folder).iterdir()
    }
    assert shipped and shipped <= names


async def test_follow_on_postgresql_hears_another_process_through_listen_notify(postgres_url: str):
    from conftest import Agent

    agent = Agent(postgres_url)  # type: ignore[arg-type]
    try:
        ids = await agent.run(await agent.mission("On PostgreSQL"))
        await agent.call("update_run", **ids, status="running")
        proc, lines = _follow(["show", ids["run_id"], "--db", postgres_url, "--follow"])
        try:
            await _until(lines, "following; Ctrl-C to stop")
            await agent.call("log_event", **ids, type="message", summary="written by another process")
            await _until(lines, "written by another process")
            await agent.call("update_run", **ids, status="succeeded", result_summary="done")
            with anyio.fail_after(TIMEOUT):
                while proc.poll() is None:  # noqa: ASYNC110 - a child process
                    await anyio.sleep(0.05)
            assert proc.returncode == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(TIMEOUT)
    finally:
        await agent.aclose()
