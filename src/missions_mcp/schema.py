"""JSON Schema of tools: a lean ``inputSchema`` and an exact ``outputSchema`` from pydantic models.

What a model reads on every conversation is the tool list, so the input schema leaves out what costs
tokens and says nothing (titles, ``null`` branches of optional arguments, ``default: null``); the
output schema keeps nullability, because clients validate every result against it.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

__all__ = ["tool_schema", "output_schema", "confirmation_schema"]


class _LeanSchema(GenerateJsonSchema):
    """JSON Schema without what costs tokens and says nothing: titles, ``null`` branches of
    optional arguments (absent means "not given"), ``default: null`` and
    ``additionalProperties: true``."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: Any) -> Any:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: Any) -> Any:
        out = super().default_schema(schema)
        if out.get("default", ...) is None:
            out.pop("default")
        return out

    def model_schema(self, schema: Any) -> Any:
        out = super().model_schema(schema)
        out.pop("additionalProperties", None)  # unknown keys are still refused, by name, on validation
        return out

    def dict_schema(self, schema: Any) -> Any:
        out = super().dict_schema(schema)
        if out.get("additionalProperties") is True:
            out.pop("additionalProperties")  # a free-form object: the JSON Schema default
        return out

    def enum_schema(self, schema: Any) -> Any:
        out = super().enum_schema(schema)
        out.pop("type", None)  # implied by the values
        return out

    def list_schema(self, schema: Any) -> Any:
        out = super().list_schema(schema)
        if out.get("minItems") == 1:
            out.pop("minItems")  # as with minLength: an empty plan is refused by name, not by the schema
        return out

    def str_schema(self, schema: Any) -> Any:
        out = super().str_schema(schema)
        if out.get("minLength") == 1:
            out.pop("minLength")  # a model does not send an empty name on purpose; validation still refuses it
        return out


class _OutputSchema(GenerateJsonSchema):
    """JSON Schema of a result: titles dropped; no ``null`` branch, because the server leaves a field
    the API answers ``null`` out of the result (``tools.lean_answer``): absent, never null. Every
    nullable field of the models has a default, so it is not required either."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: Any) -> Any:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: Any) -> Any:
        out = super().default_schema(schema)
        if out.get("default", ...) is None:
            out.pop("default")  # a default says nothing about an answer
        return out


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """Inline ``$ref``s into ``$defs`` and drop model titles, so a schema stands alone."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = defs[node["$ref"].rsplit("/", 1)[-1]]
            return {**_inline(target, defs), **{k: _inline(v, defs) for k, v in node.items() if k != "$ref"}}
        return {k: _inline(v, defs) for k, v in node.items() if k not in ("$defs", "title")}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _schema(model: type[BaseModel], generator: type[GenerateJsonSchema], mode: JsonSchemaMode) -> dict[str, Any]:
    """A fresh copy of the model's schema (the callers shape it further), generated once per model.

    Tools share their models (41 tools, 28 argument and 12 answer models), and generating a schema
    costs far more than copying one; start-up feels it, since the first tools/list needs them all.
    """
    key = (model, generator, mode)
    if key not in _generated:
        raw = model.model_json_schema(schema_generator=generator, mode=mode)
        schema: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
        schema.pop("description", None)  # the model's docstring is not the tool's description
        _generated[key] = schema
    return copy.deepcopy(_generated[key])


_generated: dict[tuple[type[BaseModel], type[GenerateJsonSchema], str], dict[str, Any]] = {}


def tool_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``inputSchema`` of a tool: lean and self-contained.

    ``additionalProperties: false`` is left out to save tokens on every tool; the argument model
    still refuses unknown keys and names them in the error.
    """
    return _schema(model, _LeanSchema, "validation")


def output_schema(model: type[BaseModel], *, keep: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The ``outputSchema`` of a tool: what the server guarantees of every answer it passes on.

    MCP clients validate ``structuredContent`` against it, and a hosted API may drift from the
    contract: leave a field out, send ``null``, add a field, use a status it did not list. So the
    schema promises only what a caller cannot do without — the ``data`` envelope and the ids in it —
    and leaves the rest open: every other field may be absent, enumerations are plain strings,
    ``format`` is left out (clients that assert formats would refuse a new timestamp style). Fields
    of the objects in ``data`` are never ``null`` (the server leaves those out, ``tools.lean_answer``);
    the envelope's other members (``meta``) may be. The server checks each answer against this
    schema before sending it (``tools.answer_problems``).

    ``keep``: a write's receipt — these fields of the object in ``data``, at the top level, or of each
    item when ``data`` is a list (then kept under ``data``); nothing else, the ids among them required.
    """
    schema = _schema(model, _OutputSchema, "serialization")
    if keep is None:
        members: dict[str, Any] = {}
        for name, prop in schema["properties"].items():
            members[name] = _guaranteed(prop, nullable=name != "data")
            if name != "data" and isinstance(members[name].get("type"), str):  # meta may come as null
                members[name]["type"] = [members[name]["type"], "null"]
        required = {"required": ["data"]} if "data" in schema.get("required", ()) else {}
        return {**{k: v for k, v in schema.items() if k != "required"}, "properties": members, **required}
    data = schema["properties"]["data"]
    item = data["items"] if data.get("type") == "array" else data
    item["properties"] = {name: item["properties"][name] for name in keep}
    item["required"] = list(keep)
    item["additionalProperties"] = False
    if item is data:
        receipt: dict[str, Any] = _guaranteed(dict(item), nullable=False)
        return receipt
    return {
        "type": "object",
        "properties": {"data": _guaranteed(data, nullable=False)},
        "required": ["data"],
        "additionalProperties": False,
    }


def _guaranteed(node: Any, *, nullable: bool) -> Any:
    """``node`` with what an answer may drift from left open: enums, formats, non-id required fields."""
    if isinstance(node, list):
        return [_guaranteed(v, nullable=nullable) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _guaranteed(v, nullable=nullable) for k, v in node.items() if k not in ("enum", "format")}
    if "enum" in node and "type" not in out:
        out["type"] = "string"
    if isinstance(out.get("properties"), dict):
        kept = [name for name in out.get("required", ()) if name == "data" or name.endswith("_id")]
        if nullable:
            for name, prop in out["properties"].items():
                if name not in kept and isinstance(prop.get("type"), str):
                    prop["type"] = [prop["type"], "null"]
        if kept:
            out["required"] = kept
        else:
            out.pop("required", None)
    return out


def confirmation_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``outputSchema`` of a call the API answers with no content: the server writes the answer itself."""
    return _schema(model, _OutputSchema, "serialization")
