"""The operation table: one declarative entry per operation of the Missions API.

Everything else is derived from this table: the MCP tools (name, schemas, annotations,
description), the HTTP request the client builds, the tool filters, the nouns of ids in messages,
which views a call changes, the embedded API's routes, the README's tool list and the tests that
loop over every operation. Adding an operation is one entry plus its argument model in
:mod:`missions_mcp.params` — never a side table to remember.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from . import models as m
from . import params as p
from .schema import confirmation_schema, output_schema, tool_schema

__all__ = [
    "Operation",
    "OPERATIONS",
    "BY_NAME",
    "Toolset",
    "TOOLSETS",
    "ID_NOUNS",
    "FOUND_BY",
    "Confirmation",
    "tool_names_in",
    "tool_list_markdown",
]

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
Scope = Literal["run", "mission"]
"""What a write changes, for the views that show it: one run (and its plan, events, agents), or a mission."""


class Confirmation(BaseModel):
    """The result of an operation whose answer is ``204 No Content``."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class Toolset:
    """A group of tools a user enables or leaves out together (``--toolsets``)."""

    name: str
    description: str


TOOLSETS: Mapping[str, Toolset] = {
    ts.name: ts
    for ts in (
        Toolset("missions", "Missions: reusable definitions of multi-step work; recent runs and events of all."),
        Toolset("runs", "Runs of a mission: start, follow, finish, pause, resume, cancel."),
        Toolset("plan", "A run's plan: its steps and their status."),
        Toolset("events", "A run's timeline: step starts and ends, tool calls, results, messages, errors."),
        Toolset("agents", "Telnyx AI agents linked to a run."),
        Toolset("mission_tools", "Tools a mission's agents may use."),
        Toolset("knowledge_bases", "Knowledge bases of a mission."),
        Toolset("mcp_servers", "MCP servers a mission's agents may use."),
    )
}
"""The toolsets, by name, in the order the README and ``--help`` list them."""


# --------------------------------------------------------------------------- the entry

_PATH_VAR = re.compile(r"{(\w+)}")
_MISSION = "/ai/missions/{mission_id}"
_RUN = _MISSION + "/runs/{run_id}"


@dataclass(frozen=True, kw_only=True)
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
    noun: str = ""
    """What the path's last id names ("run", "plan step"); required when the path ends with an id."""
    idempotent: bool | None = None
    """Overrides the idempotency derived from the method (GET, PUT, PATCH, DELETE: idempotent)."""
    destructive: bool | None = None
    """Overrides the destructiveness derived from the method (PUT, PATCH, DELETE: destructive)."""
    idempotency_field: str | None = None
    """A body field the client fills with the call's idempotency key when the caller leaves it out."""
    core: bool = False
    """Part of the self-reporting flow an agent calls on every run (kept within a byte budget)."""
    hot: bool = False
    """Called on every step of an agent's work: the embedded API's router tries these routes first."""
    answers: tuple[str, ...] = ()
    """The fields of a write's receipt, when not what :attr:`answer_fields` derives."""

    def __post_init__(self) -> None:
        if self.method not in HTTP_METHODS:
            raise ValueError(f"{self.name}: unknown HTTP method {self.method}")
        if self.toolset not in TOOLSETS:
            raise ValueError(f"{self.name}: unknown toolset {self.toolset}")
        missing = set(self.path_fields) - set(self.params.model_fields)
        if missing:
            raise ValueError(f"{self.name}: path variables {sorted(missing)} are not fields of {self.params.__name__}")
        if self.path.endswith("}") != bool(self.noun):
            raise ValueError(f"{self.name}: give noun= exactly when the path ends with an id")

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
        schema = tool_schema(self.params)
        if self.creates and self.core:
            # Every write accepts the key of its first attempt, and an error that may hide a stored write
            # names it. It is advertised where agents write at volume and a repeat would store a second
            # copy; its meaning is read once (log_event, the instructions), not on every tool.
            schema.setdefault("properties", {}).setdefault(p.IDEMPOTENCY_KEY, dict(p.IDEMPOTENCY_KEY_SCHEMA))
        return schema

    @cached_property
    def answer_fields(self) -> tuple[str, ...] | None:
        """The fields of a write's receipt; ``None``: the whole answer (reads, untyped answers).

        A model reads every byte of an answer, and after a write it needs only what it does not know
        yet: the id of what it created (the first field of the object's model, unless the call named
        it) and the ``status`` the write left. ``get_*`` tools return whole objects.
        """
        if self.read_only or self.result is None or "data" not in self.result.model_fields:
            return None
        if self.answers:
            return self.answers
        fields = tuple(_data_model(self.result).model_fields)
        own_id = fields[0]
        new = () if own_id in self.path_fields else (own_id,)
        return ((*new, "status") if "status" in fields else new) or (own_id,)

    @cached_property
    def output_schema(self) -> dict[str, Any]:
        if self.result is None:
            return confirmation_schema(Confirmation)
        return output_schema(self.result, keep=self.answer_fields)

    # -- what a successful call changes

    @property
    def creates(self) -> bool:
        """Stores something new (``201 Created``): repeated after a lost answer, it would store it twice."""
        return self.method == "POST" and self.status == 201

    @property
    def starts_run(self) -> bool:
        """Creates a run: its id comes back in the answer, not in the arguments."""
        return self.method == "POST" and self.path == _MISSION + "/runs"

    @property
    def changes(self) -> Scope | None:
        """The views a successful call changes: those of the run it names or starts, or of the mission itself."""
        if self.read_only:
            return None
        if "run_id" in self.path_fields or self.starts_run:
            return "run"
        if self.path == _MISSION:
            return "mission"
        return None

    @property
    def changes_run_list(self) -> bool:
        """Changes which runs exist (what ``resources/list`` offers)."""
        return self.starts_run or (self.method == "DELETE" and self.path == _MISSION)


def _data_model(envelope: type[BaseModel]) -> type[BaseModel]:
    """The model of the object (or of each item) an envelope's ``data`` holds."""
    annotation = envelope.model_fields["data"].annotation
    item = get_args(annotation)[0] if get_origin(annotation) is list else annotation
    assert isinstance(item, type) and issubclass(item, BaseModel), f"{envelope.__name__}.data is not a model"
    return item


# --------------------------------------------------------------------------- the table

OPERATIONS: tuple[Operation, ...] = (
    # missions
    Operation(
        name="list_missions",
        title="List missions",
        description="List missions, newest first; find yours here before create_mission.",
        toolset="missions",
        method="GET",
        path="/ai/missions",
        params=p.ListMissionsArgs,
        result=m.MissionsListResponse,
        operation_id="missions.list",
        status=200,
        core=True,
    ),
    Operation(
        name="create_mission",
        title="Create mission",
        description="Create a mission: a reusable definition of work. The same name again makes a second one.",
        toolset="missions",
        method="POST",
        path="/ai/missions",
        params=p.CreateMissionArgs,
        result=m.MissionResponse,
        operation_id="missions.create",
        status=201,
        core=True,
    ),
    Operation(
        name="get_mission",
        title="Get mission",
        description="Get a mission.",
        toolset="missions",
        method="GET",
        path=_MISSION,
        params=p.MissionRef,
        result=m.MissionResponse,
        operation_id="missions.retrieve",
        status=200,
        noun="mission",
    ),
    Operation(
        name="update_mission",
        title="Update mission",
        description="Update a mission; fields left out are kept.",
        toolset="missions",
        method="PUT",
        path=_MISSION,
        params=p.UpdateMissionArgs,
        result=m.MissionResponse,
        operation_id="missions.update_mission",
        status=200,
        noun="mission",
    ),
    Operation(
        name="delete_mission",
        title="Delete mission",
        description="Delete a mission and all its runs.",
        toolset="missions",
        method="DELETE",
        path=_MISSION,
        params=p.MissionRef,
        result=None,
        operation_id="missions.delete_mission",
        status=204,
        noun="mission",
    ),
    Operation(
        name="clone_mission",
        title="Clone mission",
        description="Copy a mission, without its runs.",
        toolset="missions",
        method="POST",
        path=_MISSION + "/clone",
        params=p.CloneMissionArgs,
        result=m.UntypedResponse,
        operation_id="missions.clone_mission",
        status=201,
    ),
    Operation(
        name="list_recent_runs",
        title="List recent runs",
        description="List runs of all missions, newest first.",
        toolset="runs",
        method="GET",
        path="/ai/missions/runs",
        params=p.ListRecentRunsArgs,
        result=m.MissionRunsListResponse,
        operation_id="runs.list_runs",
        status=200,
    ),
    Operation(
        name="list_recent_events",
        title="List recent events",
        description="List events of all runs, newest first.",
        toolset="events",
        method="GET",
        path="/ai/missions/events",
        params=p.ListRecentEventsArgs,
        result=m.EventsListResponse,
        operation_id="missions.list_events",
        status=200,
    ),
    # runs
    Operation(
        name="list_runs",
        title="List runs",
        description="List a mission's runs, newest first.",
        toolset="runs",
        method="GET",
        path=_MISSION + "/runs",
        params=p.ListRunsArgs,
        result=m.MissionRunsListResponse,
        operation_id="runs.list",
        status=200,
    ),
    Operation(
        name="start_run",
        title="Start run",
        description="Start a run; it stays pending until update_run sets it running.",
        toolset="runs",
        method="POST",
        path=_MISSION + "/runs",
        params=p.StartRunArgs,
        result=m.MissionRunResponse,
        operation_id="runs.create",
        status=201,
        core=True,
    ),
    Operation(
        name="get_run",
        title="Get run",
        description="Get a run: status, result, timings.",
        toolset="runs",
        method="GET",
        path=_RUN,
        params=p.RunRef,
        result=m.MissionRunResponse,
        operation_id="runs.retrieve",
        status=200,
        noun="run",
        core=True,
        hot=True,
    ),
    Operation(
        name="update_run",
        title="Update run",
        description="Update a run's status and result; fields left out are kept.",
        toolset="runs",
        method="PATCH",
        path=_RUN,
        params=p.UpdateRunArgs,
        result=m.MissionRunResponse,
        operation_id="runs.update",
        status=200,
        noun="run",
        idempotent=False,
        core=True,
        hot=True,
    ),
    Operation(
        name="cancel_run",
        title="Cancel run",
        description="Cancel an unfinished run for good.",
        toolset="runs",
        method="POST",
        path=_RUN + "/cancel",
        params=p.RunRef,
        result=m.MissionRunResponse,
        operation_id="runs.cancel_run",
        status=200,
        destructive=True,
    ),
    Operation(
        name="pause_run",
        title="Pause run",
        description="Pause a running run.",
        toolset="runs",
        method="POST",
        path=_RUN + "/pause",
        params=p.RunRef,
        result=m.MissionRunResponse,
        operation_id="runs.pause_run",
        status=200,
    ),
    Operation(
        name="resume_run",
        title="Resume run",
        description="Resume a paused run.",
        toolset="runs",
        method="POST",
        path=_RUN + "/resume",
        params=p.RunRef,
        result=m.MissionRunResponse,
        operation_id="runs.resume_run",
        status=200,
    ),
    # events
    Operation(
        name="list_events",
        title="List events",
        description="List a run's events, oldest first.",
        toolset="events",
        method="GET",
        path=_RUN + "/events",
        params=p.ListEventsArgs,
        result=m.EventsListResponse,
        operation_id="runs.events.list",
        status=200,
        hot=True,
    ),
    Operation(
        name="log_event",
        title="Log event",
        description="Log what happens in a run: tool calls, results, messages, errors.",
        toolset="events",
        method="POST",
        path=_RUN + "/events",
        params=p.LogEventArgs,
        result=m.EventResponse,
        operation_id="runs.events.log",
        status=201,
        idempotency_field="idempotency_key",
        core=True,
        hot=True,
    ),
    Operation(
        name="get_event",
        title="Get event",
        description="Get one event.",
        toolset="events",
        method="GET",
        path=_RUN + "/events/{event_id}",
        params=p.GetEventArgs,
        result=m.EventResponse,
        operation_id="runs.events.get_event_details",
        status=200,
        noun="event",
    ),
    # plan
    Operation(
        name="get_plan",
        title="Get plan",
        description="A run's plan: a flat list of steps by sequence, nested through parent_step_id.",
        toolset="plan",
        method="GET",
        path=_RUN + "/plan",
        params=p.RunRef,
        result=m.PlanResponse,
        operation_id="runs.plan.retrieve",
        status=200,
        core=True,
        hot=True,
    ),
    Operation(
        name="create_plan",
        title="Create plan",
        description="Write a run's plan, once; add later steps with add_plan_steps.",
        toolset="plan",
        method="POST",
        path=_RUN + "/plan",
        params=p.CreatePlanArgs,
        result=m.PlanStepsCreatedResponse,
        operation_id="runs.plan.create",
        status=201,
        core=True,
    ),
    Operation(
        name="add_plan_steps",
        title="Add plan steps",
        description="Append steps to a run's plan, as in create_plan.",
        toolset="plan",
        method="POST",
        path=_RUN + "/plan/steps",
        params=p.AddPlanStepsArgs,
        result=m.PlanStepsCreatedResponse,
        operation_id="runs.plan.add_steps_to_plan",
        status=201,
        core=True,
    ),
    Operation(
        name="get_plan_step",
        title="Get plan step",
        description="Get one plan step.",
        toolset="plan",
        method="GET",
        path=_RUN + "/plan/steps/{step_id}",
        params=p.GetPlanStepArgs,
        result=m.PlanStepResponse,
        operation_id="runs.plan.get_step_details",
        status=200,
        noun="plan step",
    ),
    Operation(
        name="update_plan_step",
        title="Update plan step",
        description="Set a step in_progress when you start it, then completed, skipped or failed.",
        toolset="plan",
        method="PATCH",
        path=_RUN + "/plan/steps/{step_id}",
        params=p.UpdatePlanStepArgs,
        result=m.PlanStepResponse,
        operation_id="runs.plan.update_step",
        status=200,
        noun="plan step",
        core=True,
        hot=True,
    ),
    # agents
    Operation(
        name="list_run_agents",
        title="List run agents",
        description="List Telnyx agents linked to a run.",
        toolset="agents",
        method="GET",
        path=_RUN + "/telnyx-agents",
        params=p.RunRef,
        result=m.TelnyxAgentsListResponse,
        operation_id="runs.telnyx_agents.list",
        status=200,
    ),
    Operation(
        name="link_agent",
        title="Link agent",
        description="Link a Telnyx AI agent to a run.",
        toolset="agents",
        method="POST",
        path=_RUN + "/telnyx-agents",
        params=p.LinkAgentArgs,
        result=m.TelnyxAgentResponse,
        operation_id="runs.telnyx_agents.link",
        status=201,
        answers=("telnyx_agent_id",),
    ),
    Operation(
        name="unlink_agent",
        title="Unlink agent",
        description="Unlink a Telnyx AI agent from a run.",
        toolset="agents",
        method="DELETE",
        path=_RUN + "/telnyx-agents/{telnyx_agent_id}",
        params=p.UnlinkAgentArgs,
        result=None,
        operation_id="runs.telnyx_agents.unlink",
        status=204,
        noun="linked agent",
    ),
)


def _sub_resource(
    *,
    toolset: str,
    segment: str,
    item_ref: type[BaseModel],
    update_args: type[BaseModel],
    singular: str,
    plural: str,
    sdk_one: str,
) -> Iterator[Operation]:
    """The five CRUD operations of one untyped mission sub-resource (tools, knowledge bases, MCP servers)."""
    base = _MISSION + "/" + segment
    (id_field,) = set(item_ref.model_fields) - {"mission_id"}
    item = base + "/{" + id_field + "}"
    one, many = singular.lower().replace(" ", "_"), plural.lower().replace(" ", "_")
    sdk = "tools" if toolset == "mission_tools" else toolset
    sdk_many = sdk_one + "s"
    a = "an" if singular[0] in "AEIOUM" else "a"  # an MCP server
    common: dict[str, Any] = {"toolset": toolset, "result": m.UntypedResponse}
    yield Operation(
        name=f"list_{many}",
        title=f"List {plural}",
        description=f"List a mission's {plural.removeprefix('mission ')}.",
        method="GET",
        path=base,
        params=p.ListSubResourceArgs,
        operation_id=f"{sdk}.list_{sdk_many}",
        status=200,
        **common,
    )
    yield Operation(
        name=f"create_{one}",
        title=f"Create {singular}",
        description=f"Add {a} {singular} to a mission.",
        method="POST",
        path=base,
        params=p.CreateSubResourceArgs,
        operation_id=f"{sdk}.create_{sdk_one}",
        status=201,
        **common,
    )
    yield Operation(
        name=f"get_{one}",
        title=f"Get {singular}",
        description=f"Get {a} {singular}.",
        method="GET",
        path=item,
        params=item_ref,
        operation_id=f"{sdk}.get_{sdk_one}",
        status=200,
        noun=singular,
        **common,
    )
    yield Operation(
        name=f"update_{one}",
        title=f"Update {singular}",
        description=f"Replace {a} {singular}.",
        method="PUT",
        path=item,
        params=update_args,
        operation_id=f"{sdk}.update_{sdk_one}",
        status=200,
        noun=singular,
        **common,
    )
    yield Operation(
        name=f"delete_{one}",
        title=f"Delete {singular}",
        description=f"Delete {a} {singular}.",
        method="DELETE",
        path=item,
        params=item_ref,
        operation_id=f"{sdk}.delete_{sdk_one}",
        status=204,
        noun=singular,
        **{**common, "result": None},
    )


OPERATIONS = (
    *OPERATIONS,
    *_sub_resource(
        toolset="mission_tools",
        segment="tools",
        item_ref=p.MissionToolRef,
        update_args=p.UpdateMissionToolArgs,
        singular="mission tool",
        plural="mission tools",
        sdk_one="tool",
    ),
    *_sub_resource(
        toolset="knowledge_bases",
        segment="knowledge-bases",
        item_ref=p.KnowledgeBaseRef,
        update_args=p.UpdateKnowledgeBaseArgs,
        singular="knowledge base",
        plural="knowledge bases",
        sdk_one="knowledge_base",
    ),
    *_sub_resource(
        toolset="mcp_servers",
        segment="mcp-servers",
        item_ref=p.McpServerRef,
        update_args=p.UpdateMcpServerArgs,
        singular="MCP server",
        plural="MCP servers",
        sdk_one="mcp_server",
    ),
)

BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}

ID_NOUNS: dict[str, str] = {op.path_fields[-1]: op.noun for op in OPERATIONS if op.noun}
"""What each path id names in messages ("plan step 's1' of run … of mission …"), from the entries."""


def _finder(item_path: str) -> str:
    """The read that lists what ``item_path``'s last id names: the GET of the nearest enclosing path."""
    reads = {op.path: op.name for op in OPERATIONS if op.read_only}
    path = item_path.rsplit("/", 1)[0]
    while path and path not in reads:
        path = path.rsplit("/", 1)[0]
    return reads.get(path, "")


FOUND_BY: dict[str, str] = {op.path_fields[-1]: _finder(op.path) for op in OPERATIONS if op.noun}
"""Id field → the tool that shows the ids to choose from (``mission_id`` → ``list_missions``)."""

assert len(BY_NAME) == len(OPERATIONS), "tool names must be unique"
assert {op.toolset for op in OPERATIONS} == set(TOOLSETS), "every toolset has tools"
assert {f for op in OPERATIONS for f in op.path_fields} <= set(ID_NOUNS), "every path id has a noun"

_TOOL_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def tool_names_in(text: str) -> frozenset[str]:
    """The catalogue's tools that ``text`` tells the reader to call (instructions, prompts)."""
    return frozenset(word for word in _TOOL_NAME.findall(text) if word in BY_NAME)


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
