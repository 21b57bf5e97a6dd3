"""The standard self-reported session: what an agent reporting its own progress sends, call by call.

Twenty calls, as a model following the server's instructions makes them: create a mission, start a
run and set it running, write a five-step plan, then for each step log what it did (two events) and
mark it completed, and finish the run with a result summary. ``bench_session.py`` measures the bytes
a model reads and writes in it; ``tests/test_answers.py`` pins them.

What a model sees of a call is its arguments (compact JSON, as a host sends them) and the text
content of the result (the JSON the server answers); both are counted in UTF-8 bytes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["STEPS", "CallBytes", "compact", "run_session"]

STEPS: tuple[tuple[str, str, tuple[tuple[str, str, dict[str, Any] | None], ...]], ...] = (
    (
        "reproduce",
        "Reproduce the failing login test",
        (
            ("tool_call", "pytest -k login -x", {"cmd": "pytest -k login -x"}),
            ("tool_result", "1 failed: test_login_redirect", {"failed": 1, "passed": 11}),
        ),
    ),
    (
        "locate",
        "Find the race in the session fixture",
        (
            ("message", "The fixture tears down before the redirect completes", None),
            ("tool_call", "read tests/conftest.py", {"path": "tests/conftest.py"}),
        ),
    ),
    (
        "fix",
        "Wait for the redirect before teardown",
        (
            ("tool_call", "edit tests/conftest.py", {"path": "tests/conftest.py", "lines": "41-48"}),
            ("tool_result", "fixture now awaits the redirect", None),
        ),
    ),
    (
        "verify",
        "Run the login tests 50 times",
        (
            ("tool_call", "pytest -k login --count 50", {"cmd": "pytest -k login --count 50"}),
            ("tool_result", "50 passed", {"passed": 50}),
        ),
    ),
    (
        "report",
        "Summarise the fix for the reviewer",
        (
            ("message", "Teardown raced the redirect; the fixture now waits for it", None),
            ("custom", "pull request opened", {"pr": 1234}),
        ),
    ),
)
"""The plan: step id, description, and the two events logged while doing it."""


@dataclass(frozen=True, slots=True)
class CallBytes:
    tool: str
    arguments: int
    """UTF-8 bytes of the arguments as compact JSON."""
    result: int
    """UTF-8 bytes of the result's text content."""


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


Call = Callable[[str, dict[str, Any]], Awaitable[tuple[Any, str]]]
"""Calls a tool; returns its ``structuredContent`` and its text content, and raises on an error result."""


def _field(answer: Any, name: str) -> str:
    """An id from an answer, wherever the answer shape keeps it (in ``data`` or at the top)."""
    if isinstance(answer, dict):
        if name in answer:
            return str(answer[name])
        data = answer.get("data")
        if isinstance(data, dict) and name in data:
            return str(data[name])
    raise KeyError(f"{name} not in the answer {answer!r}")


async def run_session(call: Call) -> list[CallBytes]:
    """Run the standard session through ``call``; the bytes of each of its twenty calls."""
    measured: list[CallBytes] = []

    async def step(tool: str, arguments: dict[str, Any]) -> Any:
        structured, text = await call(tool, arguments)
        measured.append(CallBytes(tool, len(compact(arguments).encode()), len(text.encode())))
        return structured

    mission = await step(
        "create_mission",
        {"name": "Fix the flaky login test", "description": "CI fails one run in ten on test_login_redirect"},
    )
    mid = _field(mission, "mission_id")
    run = await step("start_run", {"mission_id": mid, "input": {"branch": "main"}})
    ids = {"mission_id": mid, "run_id": _field(run, "run_id")}
    await step("update_run", {**ids, "status": "running"})
    await step(
        "create_plan",
        {
            **ids,
            "steps": [
                {"step_id": step_id, "description": description, "sequence": n}
                for n, (step_id, description, _) in enumerate(STEPS, start=1)
            ],
        },
    )
    for step_id, _, events in STEPS:
        for kind, summary, payload in events:
            event: dict[str, Any] = {**ids, "type": kind, "summary": summary, "step_id": step_id}
            if payload is not None:
                event["payload"] = payload
            await step("log_event", event)
        await step("update_plan_step", {**ids, "step_id": step_id, "status": "completed"})
    await step(
        "update_run",
        {**ids, "status": "succeeded", "result_summary": "Fixed the teardown race; login tests pass 50 of 50"},
    )
    assert len(measured) == 20, len(measured)
    return measured
