"""structuredContent always matches the outputSchema, whatever the upstream answers.

A hosted API drifts: fields left out, ``null`` where a value was, fields added, statuses the contract
never listed, another timestamp style, the wrong type. Each tool is called through a real
``mcp.Client`` (whose SDK validates ``structuredContent`` against the tool's ``outputSchema`` and
raises on a mismatch) over answers drifted at random from a valid one, and the result is checked
again with ``jsonschema`` as clients do: a valid result or a clear ``isError``, nothing else. The
upstream is an ``httpx2.MockTransport``: the real embedded API cannot be made to answer off-contract.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from typing import Any

import httpx2
import pytest
from jsonschema import Draft202012Validator

from missions_mcp.catalogue import OPERATIONS, Operation
from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.server import MissionsServer

from support import Client

pytestmark = pytest.mark.anyio

ANSWERED = [op for op in OPERATIONS if op.result is not None]
DRIFTS_PER_TOOL = 12
DRIFTS_AT_SIZE = 200


def _resolve(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def example(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A value the contract allows for ``node`` (a JSON Schema of the response model)."""
    node = _resolve(node, defs)
    if "anyOf" in node:
        return example(next(n for n in node["anyOf"] if n.get("type") != "null"), defs)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    kind = next(k for k in kind if k != "null") if isinstance(kind, list) else kind
    if kind == "object":
        return {name: example(prop, defs) for name, prop in node.get("properties", {}).items()}
    if kind == "array":
        return [example(node.get("items", {}), defs) for _ in range(2)]
    if kind == "integer":
        return 1
    if kind == "boolean":
        return True
    if node.get("format") == "uuid":
        return str(uuid.uuid4())
    if node.get("format") == "date-time":
        return "2026-07-20T10:00:00Z"
    return "text"


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


DRIFTS = ("drop", "null", "extra", "unknown_enum", "retype", "timestamp", "envelope")


def drift(answer: Any, rng: random.Random) -> tuple[Any, bool]:
    """``answer`` with one to three random drifts applied, and whether one of them broke what a caller
    needs (the envelope, an id, a value's type): only then may the call end in an error."""
    answer = copy.deepcopy(answer)
    breaking = False
    for _ in range(rng.randint(1, 3)):
        paths = _paths(answer)
        kind = rng.choice(DRIFTS)
        if kind == "envelope" or not paths:
            answer = rng.choice([{"data": None}, {"data": []}, {"data": "text"}, [], {}, {"result": answer}])
            breaking = True
            continue
        *parent_path, key = rng.choice(paths)
        breaking |= (
            kind in ("retype", "unknown_enum", "timestamp") and not isinstance(_at(answer, (*parent_path, key)), str)
        ) or kind == "retype"
        breaking |= kind in ("drop", "null") and (key == "data" or str(key).endswith("_id") or isinstance(key, int))
        parent = answer
        for part in parent_path:
            parent = parent[part]
        if kind == "drop" and isinstance(parent, dict):
            del parent[key]
        elif kind == "null":
            parent[key] = None
        elif kind == "extra" and isinstance(parent, dict):
            parent[f"new_{rng.randint(0, 99)}"] = rng.choice([1, "x", None, {"nested": [1]}])
        elif kind == "unknown_enum":
            parent[key] = rng.choice(["queued", "archived", "step_retried", ""])
        elif kind == "retype":
            parent[key] = rng.choice([1, 1.5, "1", True, [], {}, {"a": 1}])
        elif kind == "timestamp":
            parent[key] = rng.choice(["2026-07-20 10:00:00", "1753005600", "2026-07-20T10:00:00.123456+02:00"])
    return answer, breaking


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        value = value[part]
    return value


def _arguments(op: Operation) -> dict[str, Any]:
    """Valid arguments of ``op``, from its input schema."""
    args: dict[str, Any] = {}
    schema = op.input_schema
    for name in schema.get("required", []):
        prop = schema["properties"][name]
        if prop.get("format") == "uuid":
            args[name] = str(uuid.uuid4())
        elif prop.get("type") == "array":
            args[name] = [{"step_id": "s1", "description": "d", "sequence": 1}]
        elif prop.get("type") == "object":
            args[name] = {"name": "x"}
        elif "enum" in prop:
            args[name] = prop["enum"][0]
        else:
            args[name] = "s1"
    if op.name == "log_event":
        args.update(type="message", summary="x")
    return args


@pytest.mark.parametrize("op", ANSWERED, ids=lambda op: op.name)
async def test_every_drifted_answer_is_a_valid_result_or_a_clear_error(op: Operation, mode: str) -> None:
    await _drifting(op, mode, DRIFTS_PER_TOOL)


@pytest.mark.slow
@pytest.mark.parametrize("op", [op for op in ANSWERED if op.core], ids=lambda op: op.name)
async def test_drifts_at_size(op: Operation, mode: str) -> None:
    await _drifting(op, mode, DRIFTS_AT_SIZE)


async def _drifting(op: Operation, mode: str, rounds: int) -> None:
    raw = op.result.model_json_schema(mode="serialization")  # type: ignore[union-attr]
    valid = example(raw, raw.get("$defs", {}))
    current: dict[str, Any] = {"answer": valid}

    def upstream(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(op.status, json=current["answer"])

    settings = Settings(
        backend="remote",
        api_key="schema-key-8e41a2f6c3",
        base_url="https://api.example.test/v2",
        max_retries=0,
    )
    server = MissionsServer(settings, client=MissionsClient(settings, transport=httpx2.MockTransport(upstream)))
    rng = random.Random(f"{op.name}-{mode}")
    outcomes = {"valid": 0, "error": 0}
    try:
        async with Client(server.server, mode=mode) as client:
            (tool,) = [t for t in (await client.list_tools()).tools if t.name == op.name]
            validator = Draft202012Validator(tool.output_schema)
            for round_ in range(rounds + 1):
                current["answer"], breaking = (valid, False) if round_ == 0 else drift(valid, rng)
                result = await client.call_tool(op.name, _arguments(op))  # the SDK validates, and raises
                if result.is_error:
                    text = result.content[0].text
                    assert breaking, f"a plausible drift must pass: {json.dumps(current['answer'])[:300]}: {text}"
                    assert f"answered {op.name} with a shape this server cannot pass on" in text, text
                    outcomes["error"] += 1
                else:
                    errors = list(validator.iter_errors(result.structured_content))
                    assert not errors, (json.dumps(current["answer"])[:300], errors[0].message)
                    assert json.loads(result.content[0].text) == result.structured_content
                    outcomes["valid"] += 1
    finally:
        await server.aclose()
    assert outcomes["valid"] > 1, outcomes
