"""The operation table: one declarative entry per operation of the Missions API.

Everything else is derived from this table: the MCP tools (name, schemas, annotations,
description), the HTTP request the client builds, the tool filters, the README's tool list and
the tests that loop over every operation. Adding an operation is one entry plus its models.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaMode

from . import models as m
from . import params as p

__all__ = ["Operation", "OPERATIONS", "BY_NAME", "TOOLSETS", "Confirmation", "tool_schema", "output_schema"]

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


class Confirmation(BaseModel):
    """The result of an operation whose answer is ``204 No Content``."""

    ok: bool
    message: str


# --------------------------------------------------------------------------- JSON Schema


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


class _OutputSchema(GenerateJsonSchema):
    """JSON Schema of a result: titles dropped, nullability kept (the API may answer ``null``).

    A nullable scalar is written ``{"type": ["string", "null"]}`` rather than an ``anyOf`` of two
    schemas: the same meaning, fewer bytes, and a client that validates every result against it
    does less work (jsonschema's ``anyOf`` is its dearest keyword here)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def nullable_schema(self, schema: Any) -> Any:
        inner = self.generate_inner(schema["schema"])
        if isinstance(inner.get("type"), str) and set(inner) <= {"type", "format", "additionalProperties"}:
            return {**inner, "type": [inner["type"], "null"]}
        return super().nullable_schema(schema)

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
            merged = {**_inline(target, defs), **{k: _inline(v, defs) for k, v in node.items() if k != "$ref"}}
            return merged
        return {k: _inline(v, defs) for k, v in node.items() if k not in ("$defs", "title")}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _schema(model: type[BaseModel], generator: type[GenerateJsonSchema], mode: JsonSchemaMode) -> dict[str, Any]:
    raw = model.model_json_schema(schema_generator=generator, mode=mode)
    schema = _inline(raw, raw.get("$defs", {}))
    schema.pop("description", None)  # the model's docstring is not the tool's description
    return schema


def tool_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``inputSchema`` of a tool: lean and self-contained.

    ``additionalProperties: false`` is left out to save tokens on every tool; the argument model
    still refuses unknown keys and names them in the error.
    """
    return _schema(model, _LeanSchema, "validation")


def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``outputSchema`` of a tool: the response envelope as the API sends it."""
    return _schema(model, _OutputSchema, "serialization")


# --------------------------------------------------------------------------- the entry

_PATH_VAR = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Operation:
    """One operation of the Missions API, and the MCP tool that performs it."""

    name: str
    title: str
    description: str
    toolset: str
    method: str
    path: str
    params: type[BaseModel]
    result: type[BaseModel] | None
    """The response envelope, or ``None`` when the API answers ``204 No Content``."""
    operation_id: str
    """The contract's ``operationId`` (the SDK method path)."""
    status: int
    """The contract's success status code."""
    idempotent: bool | None = None
    """Overrides the idempotency derived from the method (GET, PUT, DELETE: idempotent)."""
    destructive: bool | None = None
    """Overrides the destructiveness derived from the method (PUT, PATCH, DELETE: destructive)."""
    idempotency_field: str | None = None
    """A body field the client fills with the call's idempotency key when the caller leaves it out."""
    resource: str = field(default="")
    """What the path's last id names, for messages ("run", "plan step")."""

    def __post_init__(self) -> None:
        if self.method not in HTTP_METHODS:
            raise ValueError(f"{self.name}: unknown HTTP method {self.method}")
        missing = set(self.path_fields) - set(self.params.model_fields)
        if missing:
            raise ValueError(f"{self.name}: path variables {sorted(missing)} are not fields of {self.params.__name__}")

    # -- where each argument goes

    @cached_property
    def path_fields(self) -> tuple[str, ...]:
        return tuple(_PATH_VAR.findall(self.path))

    @cached_property
    def query_fields(self) -> dict[str, str]:
        """Field name → wire name of the query parameters."""
        out: dict[str, str] = {}
        for name, info in self.params.model_fields.items():
            for meta in info.metadata:
                if isinstance(meta, p.Query):
                    out[name] = meta.wire
        return out

    @cached_property
    def whole_body_field(self) -> str | None:
        for name, info in self.params.model_fields.items():
            if any(isinstance(meta, p.WholeBody) for meta in info.metadata):
                return name
        return None

    @cached_property
    def body_fields(self) -> tuple[str, ...]:
        taken = set(self.path_fields) | set(self.query_fields) | {self.whole_body_field}
        return tuple(n for n in self.params.model_fields if n not in taken)

    @property
    def has_body(self) -> bool:
        return self.whole_body_field is not None or bool(self.body_fields)

    # -- what the tool promises

    @property
    def read_only(self) -> bool:
        return self.method == "GET"

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method in {"GET", "PUT", "DELETE", "PATCH"}

    @property
    def is_destructive(self) -> bool:
        if self.read_only:
            return False
        if self.destructive is not None:
            return self.destructive
        return self.method in {"PUT", "PATCH", "DELETE"}

    @cached_property
    def input_schema(self) -> dict[str, Any]:
        return tool_schema(self.params)

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        return output_schema(self.result or Confirmation)


# --------------------------------------------------------------------------- the table

_RUN = "/ai/missions/{mission_id}/runs/{run_id}"

OPERATIONS: tuple[Operation, ...] = (
    # missions
    Operation(
        "list_missions", "List missions", "List missions, newest first.",
        "missions", "GET", "/ai/missions", p.ListMissionsArgs, m.MissionsListResponse,
        "missions.list", 200,
    ),
    Operation(
        "create_mission", "Create mission",
        "Create a mission: a reusable definition of multi-step work.",
        "missions", "POST", "/ai/missions", p.CreateMissionArgs, m.MissionResponse,
        "missions.create", 201,
    ),
    Operation(
        "get_mission", "Get mission", "Get a mission.",
        "missions", "GET", "/ai/missions/{mission_id}", p.MissionRef, m.MissionResponse,
        "missions.retrieve", 200, resource="mission",
    ),
    Operation(
        "update_mission", "Update mission", "Update a mission; fields left out are kept.",
        "missions", "PUT", "/ai/missions/{mission_id}", p.UpdateMissionArgs, m.MissionResponse,
        "missions.update_mission", 200, resource="mission",
    ),
    Operation(
        "delete_mission", "Delete mission", "Delete a mission and all its runs.",
        "missions", "DELETE", "/ai/missions/{mission_id}", p.MissionRef, None,
        "missions.delete_mission", 204, resource="mission",
    ),
    Operation(
        "clone_mission", "Clone mission", "Copy a mission, without its runs.",
        "missions", "POST", "/ai/missions/{mission_id}/clone", p.CloneMissionArgs, m.UntypedResponse,
        "missions.clone_mission", 201, resource="mission",
    ),
    Operation(
        "list_recent_runs", "List recent runs", "List runs of all missions, newest first.",
        "runs", "GET", "/ai/missions/runs", p.ListRecentRunsArgs, m.MissionRunsListResponse,
        "runs.list_runs", 200,
    ),
    Operation(
        "list_recent_events", "List recent events", "List events of all runs, newest first.",
        "events", "GET", "/ai/missions/events", p.ListRecentEventsArgs, m.EventsListResponse,
        "missions.list_events", 200,
    ),
    # runs
    Operation(
        "list_runs", "List runs", "List a mission's runs, newest first.",
        "runs", "GET", "/ai/missions/{mission_id}/runs", p.ListRunsArgs, m.MissionRunsListResponse,
        "runs.list", 200, resource="mission",
    ),
    Operation(
        "start_run", "Start run", "Start a run (pending); set it running with update_run.",
        "runs", "POST", "/ai/missions/{mission_id}/runs", p.StartRunArgs, m.MissionRunResponse,
        "runs.create", 201, resource="mission",
    ),
    Operation(
        "get_run", "Get run", "Get a run: status, result, timings.",
        "runs", "GET", _RUN, p.RunRef, m.MissionRunResponse,
        "runs.retrieve", 200, resource="run",
    ),
    Operation(
        "update_run", "Update run",
        "Update a run; finish with succeeded + result_summary or failed + error.",
        "runs", "PATCH", _RUN, p.UpdateRunArgs, m.MissionRunResponse,
        "runs.update", 200, idempotent=False, resource="run",
    ),
    Operation(
        "cancel_run", "Cancel run", "Cancel an unfinished run for good.",
        "runs", "POST", _RUN + "/cancel", p.RunRef, m.MissionRunResponse,
        "runs.cancel_run", 200, destructive=True, resource="run",
    ),
    Operation(
        "pause_run", "Pause run", "Pause a running run.",
        "runs", "POST", _RUN + "/pause", p.RunRef, m.MissionRunResponse,
        "runs.pause_run", 200, resource="run",
    ),
    Operation(
        "resume_run", "Resume run", "Resume a paused run.",
        "runs", "POST", _RUN + "/resume", p.RunRef, m.MissionRunResponse,
        "runs.resume_run", 200, resource="run",
    ),
    # events
    Operation(
        "list_events", "List events", "List a run's events, oldest first.",
        "events", "GET", _RUN + "/events", p.ListEventsArgs, m.EventsListResponse,
        "runs.events.list", 200, resource="run",
    ),
    Operation(
        "log_event", "Log event",
        "Log what happened in a run: step starts/ends, tool calls, results, messages, errors.",
        "events", "POST", _RUN + "/events", p.LogEventArgs, m.EventResponse,
        "runs.events.log", 201, idempotency_field="idempotency_key", resource="run",
    ),
    Operation(
        "get_event", "Get event", "Get one event.",
        "events", "GET", _RUN + "/events/{event_id}", p.GetEventArgs, m.EventResponse,
        "runs.events.get_event_details", 200, resource="event",
    ),
    # plan
    Operation(
        "get_plan", "Get plan", "Get a run's plan: ordered steps with status.",
        "plan", "GET", _RUN + "/plan", p.RunRef, m.PlanResponse,
        "runs.plan.retrieve", 200, resource="run",
    ),
    Operation(
        "create_plan", "Create plan",
        "Write a run's plan (once; then add_plan_steps).",
        "plan", "POST", _RUN + "/plan", p.CreatePlanArgs, m.PlanStepsCreatedResponse,
        "runs.plan.create", 201, resource="run",
    ),
    Operation(
        "add_plan_steps", "Add plan steps", "Append steps to a run's plan.",
        "plan", "POST", _RUN + "/plan/steps", p.AddPlanStepsArgs, m.PlanStepsCreatedResponse,
        "runs.plan.add_steps_to_plan", 201, resource="run",
    ),
    Operation(
        "get_plan_step", "Get plan step", "Get one plan step.",
        "plan", "GET", _RUN + "/plan/steps/{step_id}", p.GetPlanStepArgs, m.PlanStepResponse,
        "runs.plan.get_step_details", 200, resource="plan step",
    ),
    Operation(
        "update_plan_step", "Update plan step",
        "Set a step in_progress when you start it, then completed, skipped or failed.",
        "plan", "PATCH", _RUN + "/plan/steps/{step_id}", p.UpdatePlanStepArgs, m.PlanStepResponse,
        "runs.plan.update_step", 200, resource="plan step",
    ),
    # agents
    Operation(
        "list_run_agents", "List run agents", "List Telnyx agents linked to a run.",
        "agents", "GET", _RUN + "/telnyx-agents", p.RunRef, m.TelnyxAgentsListResponse,
        "runs.telnyx_agents.list", 200, resource="run",
    ),
    Operation(
        "link_agent", "Link agent", "Link a Telnyx AI agent to a run.",
        "agents", "POST", _RUN + "/telnyx-agents", p.LinkAgentArgs, m.TelnyxAgentResponse,
        "runs.telnyx_agents.link", 201, resource="run",
    ),
    Operation(
        "unlink_agent", "Unlink agent", "Unlink a Telnyx AI agent from a run.",
        "agents", "DELETE", _RUN + "/telnyx-agents/{telnyx_agent_id}", p.UnlinkAgentArgs, None,
        "runs.telnyx_agents.unlink", 204, resource="linked agent",
    ),
)


def _sub_resource(toolset: str, segment: str, id_field: str, label: str, singular: str, plural: str,
                  sdk_one: str, sdk_many: str) -> Iterator[Operation]:
    """The five CRUD operations of one untyped mission sub-resource."""
    args = p.sub_resource_args(id_field, label)
    base = "/ai/missions/{mission_id}/" + segment
    item = base + "/{" + id_field + "}"
    one = singular.lower().replace(" ", "_")
    many = plural.lower().replace(" ", "_")
    sdk = toolset if toolset != "mission_tools" else "tools"
    short_plural = plural.removeprefix("mission ")
    article = "an" if singular[0] in "AEIOUM" else "a"  # an MCP server
    yield Operation(
        f"list_{many}", f"List {plural}", f"List a mission's {short_plural}.",
        toolset, "GET", base, args["list"], m.UntypedResponse, f"{sdk}.list_{sdk_many}", 200, resource="mission",
    )
    yield Operation(
        f"create_{one}", f"Create {singular}", f"Add {article} {singular} to a mission.",
        toolset, "POST", base, args["create"], m.UntypedResponse, f"{sdk}.create_{sdk_one}", 201,
        resource="mission",
    )
    yield Operation(
        f"get_{one}", f"Get {singular}", f"Get {article} {singular}.",
        toolset, "GET", item, args["get"], m.UntypedResponse, f"{sdk}.get_{sdk_one}", 200, resource=singular,
    )
    yield Operation(
        f"update_{one}", f"Update {singular}", f"Replace {article} {singular}.",
        toolset, "PUT", item, args["update"], m.UntypedResponse, f"{sdk}.update_{sdk_one}", 200,
        resource=singular,
    )
    yield Operation(
        f"delete_{one}", f"Delete {singular}", f"Delete {article} {singular}.",
        toolset, "DELETE", item, args["delete"], None, f"{sdk}.delete_{sdk_one}", 204, resource=singular,
    )


OPERATIONS = OPERATIONS + (
    *_sub_resource("mission_tools", "tools", "tool_id", "MissionTool", "mission tool", "mission tools",
                   "tool", "tools"),
    *_sub_resource("knowledge_bases", "knowledge-bases", "knowledge_base_id", "KnowledgeBase", "knowledge base",
                   "knowledge bases", "knowledge_base", "knowledge_bases"),
    *_sub_resource("mcp_servers", "mcp-servers", "mcp_server_id", "McpServer", "MCP server", "MCP servers",
                   "mcp_server", "mcp_servers"),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}

TOOLSETS: tuple[str, ...] = ("missions", "runs", "plan", "events", "agents", "mission_tools", "knowledge_bases",
                             "mcp_servers")

assert len(BY_NAME) == len(OPERATIONS), "tool names must be unique"
assert {op.toolset for op in OPERATIONS} == set(TOOLSETS)


def tool_list_markdown() -> str:
    """The README's tool list: one table per toolset, generated from this catalogue."""
    lines = []
    for toolset in TOOLSETS:
        lines += [f"**{toolset}**", "", "| tool | HTTP | what it does |", "|---|---|---|"]
        for op in OPERATIONS:
            if op.toolset == toolset:
                hint = " (read-only)" if op.read_only else (" (destructive)" if op.is_destructive else "")
                lines.append(f"| `{op.name}` | `{op.method} {op.path}` | {op.description}{hint} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
