"""A whole agent session through mcp.Client, both protocol eras, on the embedded API:
create mission, start run, plan, add steps, tick steps, log tool calls and results, pause,
resume, finish with a result summary, read plan and events back — every state checked."""

from __future__ import annotations

import pytest

from e2e import Recorder, call_error, call_ok, connect, recorded_server


@pytest.mark.anyio
async def test_agent_reports_its_own_work(mode, tmp_path):
    missions = recorded_server(tmp_path / "m.db", Recorder())
    async with connect(missions, mode) as c:
        receipt = await call_ok(c, "create_mission", {"name": "Quarterly report", "instructions": "Be brief."})
        assert list(receipt) == ["mission_id"], "a write answers a receipt: the new id"
        mid = receipt["mission_id"]
        mission = (await call_ok(c, "get_mission", {"mission_id": mid}))["data"]
        assert mission["execution_mode"] == "external" and mission["name"] == "Quarterly report"
        assert "description" not in mission, "nulls are left out"
        found = await call_ok(c, "list_missions", {})
        assert [m["mission_id"] for m in found["data"]] == [mid] and found["meta"]["total_results"] == 1

        started = await call_ok(c, "start_run", {"mission_id": mid, "input": {"quarter": "Q3"}})
        assert started == {"run_id": started["run_id"], "status": "pending"}
        ref = {"mission_id": mid, "run_id": started["run_id"]}
        run = (await call_ok(c, "get_run", ref))["data"]
        assert run["status"] == "pending" and run["input"] == {"quarter": "Q3"} and run["started_at"]
        assert "finished_at" not in run

        assert await call_ok(c, "update_run", {**ref, "status": "running"}) == {"status": "running"}
        running = (await call_ok(c, "get_run", ref))["data"]
        assert running["status"] == "running" and running["updated_at"] >= run["updated_at"]

        steps = (
            await call_ok(
                c,
                "create_plan",
                {
                    **ref,
                    "steps": [
                        {"step_id": "gather", "description": "Gather numbers", "sequence": 1},
                        {"step_id": "write", "description": "Write the report", "sequence": 2},
                    ],
                },
            )
        )["data"]
        assert steps == [{"step_id": "gather", "status": "pending"}, {"step_id": "write", "status": "pending"}]
        again = await call_error(
            c, "create_plan", {**ref, "steps": [{"step_id": "x", "description": "x", "sequence": 9}]}
        )
        assert "409" in again and "add_plan_steps" in again
        added = (
            await call_ok(
                c,
                "add_plan_steps",
                {
                    **ref,
                    "steps": [
                        {
                            "step_id": "gather.db",
                            "description": "Query the database",
                            "sequence": 1,
                            "parent_step_id": "gather",
                        },
                        {"step_id": "review", "description": "Review", "sequence": 3},
                    ],
                },
            )
        )["data"]
        assert {s["step_id"] for s in added} == {"gather.db", "review"}

        step = {**ref, "step_id": "gather"}
        assert await call_ok(c, "update_plan_step", {**step, "status": "in_progress"}) == {"status": "in_progress"}
        begun = (await call_ok(c, "get_plan_step", step))["data"]
        assert begun["status"] == "in_progress" and begun["started_at"] and "completed_at" not in begun
        await call_ok(c, "log_event", {**ref, "type": "step_started", "summary": "Gathering", "step_id": "gather"})
        call = await call_ok(
            c,
            "log_event",
            {
                **ref,
                "type": "tool_call",
                "summary": "sql(select …)",
                "step_id": "gather",
                "agent_id": "me",
                "payload": {"tool": "sql", "args": {"q": "select 1"}},
            },
        )
        assert list(call) == ["event_id"]
        logged = (await call_ok(c, "get_event", {**ref, "event_id": call["event_id"]}))["data"]
        assert logged["idempotency_key"], "log_event fills idempotency_key itself"
        await call_ok(
            c,
            "log_event",
            {
                **ref,
                "type": "tool_result",
                "summary": "42 rows",
                "step_id": "gather",
                "agent_id": "me",
                "payload": {"rows": 42},
            },
        )
        await call_ok(c, "update_plan_step", {**step, "status": "completed"})
        done = (await call_ok(c, "get_plan_step", step))["data"]
        assert done["status"] == "completed" and done["completed_at"] >= done["started_at"]
        await call_ok(c, "update_plan_step", {**ref, "step_id": "gather.db", "status": "skipped"})
        skipped = (await call_ok(c, "get_plan_step", {**ref, "step_id": "gather.db"}))["data"]
        assert skipped["completed_at"]

        assert await call_ok(c, "pause_run", ref) == {"status": "paused"}
        twice = await call_error(c, "pause_run", ref)
        assert "409" in twice and "paused" in twice
        assert await call_ok(c, "resume_run", ref) == {"status": "running"}

        for step in ("write", "review"):
            await call_ok(c, "update_plan_step", {**ref, "step_id": step, "status": "in_progress"})
            await call_ok(c, "update_plan_step", {**ref, "step_id": step, "status": "completed"})
        finish = {
            **ref,
            "status": "succeeded",
            "result_summary": "Report written: 3 pages.",
            "result_payload": {"pages": 3},
        }
        assert await call_ok(c, "update_run", finish) == {"status": "succeeded"}
        finished = (await call_ok(c, "get_run", ref))["data"]
        assert finished["status"] == "succeeded" and finished["finished_at"]
        assert finished["result_summary"] == "Report written: 3 pages." and finished["result_payload"] == {"pages": 3}
        late = await call_error(c, "resume_run", ref)
        assert "409" in late and "succeeded" in late

        plan = (await call_ok(c, "get_plan", ref))["data"]
        assert [s["step_id"] for s in plan][:2] in (["gather", "gather.db"], ["gather.db", "gather"])
        assert [s["sequence"] for s in plan] == sorted(s["sequence"] for s in plan)
        assert {s["step_id"]: s["status"] for s in plan} == {
            "gather": "completed",
            "gather.db": "skipped",
            "write": "completed",
            "review": "completed",
        }
        assert next(s for s in plan if s["step_id"] == "gather.db")["parent_step_id"] == "gather"

        events = await call_ok(c, "list_events", {**ref, "page_size": 100})
        kinds = [e["type"] for e in events["data"]]
        statuses = [e["summary"] for e in events["data"] if e["type"] == "status_change"]
        assert len(statuses) == 4  # pending→running, running→paused, paused→running, running→succeeded
        assert kinds.count("tool_call") == 1 and kinds.count("tool_result") == 1
        assert events["meta"]["total_results"] == len(events["data"])
        stamps = [e["timestamp"] for e in events["data"]]
        assert stamps == sorted(stamps)
        only_calls = await call_ok(c, "list_events", {**ref, "type": "tool_call"})
        assert [e["event_id"] for e in only_calls["data"]] == [call["event_id"]]
        detail = (await call_ok(c, "get_event", {**ref, "event_id": call["event_id"]}))["data"]
        assert detail["payload"] == {"tool": "sql", "args": {"q": "select 1"}}

        recent = await call_ok(c, "list_recent_runs", {"status": "succeeded"})
        assert [r["run_id"] for r in recent["data"]] == [ref["run_id"]]
    await missions.aclose()
