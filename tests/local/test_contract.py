"""The app's generated OpenAPI agrees with the contract (``src/missions_mcp/openapi.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from missions_mcp.local import create_app

CONTRACT_FILE = Path(__file__).resolve().parents[2] / "src" / "missions_mcp" / "openapi.yaml"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_FILE.read_text())


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    return create_app().openapi()


def resolve(node: Any, doc: dict[str, Any]) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = doc
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def shape(schema: Any, doc: dict[str, Any], depth: int = 0) -> Any:
    """What must agree between two schemas: property names and required lists, nested."""
    schema = resolve(schema, doc)
    branches = [b for b in schema.get("anyOf", []) if resolve(b, doc).get("type") != "null"]
    if len(branches) == 1:
        return shape(branches[0], doc, depth)
    if schema.get("type") == "array":
        return ["array", shape(schema.get("items", {}), doc, depth + 1)]
    if "properties" in schema and depth < 4:
        return {
            "properties": {name: shape(prop, doc, depth + 1) for name, prop in schema["properties"].items()},
            "required": sorted(schema.get("required", [])),
        }
    return "leaf"


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): op
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def params(op: dict[str, Any], doc: dict[str, Any]) -> dict[tuple[str, str], tuple[bool, str | None]]:
    out = {}
    for p in op.get("parameters", []):
        p = resolve(p, doc)
        schema = resolve(p.get("schema", {}), doc)
        fmt = schema.get("format") or next((b.get("format") for b in schema.get("anyOf", []) if "format" in b), None)
        out[(p["name"], p["in"])] = (p.get("required", False), fmt)
    return out


def success(op: dict[str, Any]) -> str:
    (code,) = [c for c in op["responses"] if c.startswith("2")]
    return code


def test_same_operations(contract, generated):
    assert set(operations(generated)) == set(operations(contract))
    assert len(operations(generated)) == 41
    assert not any(path.startswith("/v2") for path in generated["paths"])


def test_operation_ids_and_status_codes(contract, generated):
    ours = operations(generated)
    for key, op in operations(contract).items():
        assert ours[key]["operationId"] == op["operationId"], key
        assert success(ours[key]) == success(op), key
        assert "422" in ours[key]["responses"], key


def test_same_parameters(contract, generated):
    ours = operations(generated)
    for key, op in operations(contract).items():
        assert params(ours[key], generated) == params(op, contract), key


def test_same_response_schemas(contract, generated):
    ours = operations(generated)
    for key, op in operations(contract).items():
        code = success(op)
        theirs_content = op["responses"][code].get("content")
        ours_content = ours[key]["responses"][code].get("content")
        if theirs_content is None:
            assert ours_content is None and code == "204", key
            continue
        expected = shape(theirs_content["application/json"]["schema"], contract)
        actual = shape(ours_content["application/json"]["schema"], generated)
        assert actual == expected, key


def test_same_request_bodies(contract, generated):
    ours = operations(generated)
    for key, op in operations(contract).items():
        if "requestBody" not in op:
            continue
        body = ours[key]["requestBody"]
        assert body.get("required", False) == op["requestBody"].get("required", False), key
        expected = shape(op["requestBody"]["content"]["application/json"]["schema"], contract)
        assert shape(body["content"]["application/json"]["schema"], generated) == expected, key
