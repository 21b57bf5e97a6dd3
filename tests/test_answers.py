"""What a model reads: receipts for writes, whole objects without nulls for reads, every answer valid
against its tool's outputSchema (checked with jsonschema, as MCP clients do), and the bytes of the
standard self-reported session (``bench/standard_session.py``). The tool definitions' budgets are
pinned in ``test_model_surface.py``."""

from __future__ import annotations

import json
import types
import typing
import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import jsonschema
import pytest
from mcp import Client
from pydantic import BaseModel
from standard_session import run_session

from missions_mcp.catalogue import BY_NAME, OPERATIONS, Operation
from missions_mcp.client import ApiResult
from missions_mcp.server import build_server
from missions_mcp.tools import structured_result

from e2e import local_settings

MODES = ["auto", "legacy"]
TYPED = [op for op in OPERATIONS if op.result is not None and "data" in op.result.model_fields]


def _value(annotation: Any) -> Any:
    """A valid JSON value of a field's type."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    origin = typing.get_origin(annotation)
    if origin is list:
        return [_value(typing.get_args(annotation)[0])]
    if origin is dict or annotation is dict:
        return {"k": None}  # a null inside free-form JSON is the agent's data: it stays
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _answer_object(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation)).value
    return {uuid.UUID: str(uuid.uuid4()), str: "x", int: 1, bool: True, datetime: datetime.now(UTC).isoformat()}.get(
        annotation, "x"
    )


def _answer_object(model: type[BaseModel]) -> dict[str, Any]:
    """An object as an API might answer it: required fields set, every optional one ``null``, one unknown."""
    out = {name: _value(info.annotation) if info.is_required() else None for name, info in model.model_fields.items()}
    return {**out, "field_of_a_newer_api": "x"} if model.model_config.get("extra") == "allow" else out


@pytest.mark.parametrize("op", TYPED, ids=lambda op: op.name)
def test_every_answer_is_valid_against_the_output_schema_and_carries_no_null(op: Operation) -> None:
    body = _answer_object(op.result)  # type: ignore[arg-type]
    structured = structured_result(op, ApiResult(op.status, body), "it")
    jsonschema.validate(structured, op.output_schema)
    objects = structured.get("data", structured)
    for item in objects if isinstance(objects, list) else [objects]:
        assert None not in item.values(), (op.name, item)
    if op.answer_fields is not None:
        assert "field_of_a_newer_api" not in json.dumps(structured)
        with pytest.raises(jsonschema.ValidationError):  # the receipt's schema is exact: nothing else
            jsonschema.validate({**structured, "extra": 1}, op.output_schema)


def test_receipts_are_derived_from_the_table() -> None:
    """A write answers what the model does not know yet: a new id, the status it left; pinned."""
    receipts = {op.name: op.answer_fields for op in OPERATIONS if op.answer_fields is not None}
    assert receipts == {
        "create_mission": ("mission_id",),
        "update_mission": ("mission_id",),
        "start_run": ("run_id", "status"),
        "update_run": ("status",),
        "cancel_run": ("status",),
        "pause_run": ("status",),
        "resume_run": ("status",),
        "log_event": ("event_id",),
        "create_plan": ("step_id", "status"),
        "add_plan_steps": ("step_id", "status"),
        "update_plan_step": ("status",),
        "link_agent": ("telnyx_agent_id",),
    }
    assert all(op.read_only or op.answer_fields is not None for op in TYPED)


async def _session_bytes(client: Client) -> list[tuple[str, int, int]]:
    async def call(tool: str, arguments: dict[str, Any]) -> tuple[Any, str]:
        result = await client.call_tool(tool, arguments)
        text = result.content[0].text  # type: ignore[union-attr]
        assert not result.is_error, text
        assert json.loads(text) == result.structured_content
        jsonschema.validate(result.structured_content, BY_NAME[tool].output_schema)
        return result.structured_content, text

    return [(c.tool, c.arguments, c.result) for c in await run_session(call)]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", MODES)
async def test_the_standard_session_costs_a_model_under_5000_bytes(mode: str, tmp_path) -> None:
    missions = build_server(local_settings(tmp_path / "m.db"))
    async with Client(missions.server, mode=mode) as client:
        calls = await _session_bytes(client)
    await missions.aclose()
    arguments, results = sum(c[1] for c in calls), sum(c[2] for c in calls)
    # Deterministic (ids are fixed-length UUIDs): a change in what a call answers shows here first.
    assert (arguments, results) == (3_792, 993), calls
    assert arguments + results <= 5_000
