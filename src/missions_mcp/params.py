"""Tool argument models: path ids, query parameters and body fields flattened into one object.

Each model is the ``inputSchema`` of one tool. Where a field goes on the wire is declared once,
next to the field: path ids are the fields named in the operation's path template, query
parameters carry a :class:`Query` marker with their wire name (``page`` → ``page[number]``), a
:class:`WholeBody` field is sent as the entire JSON body, and every other field is a key of the
JSON body. The request bodies themselves come from :mod:`missions_mcp.models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .models import (
    MAX_ID,
    STEPS_LIMIT,
    AddPlanStepsRequest,
    CreateEventRequest,
    CreateMissionRequest,
    CreateMissionRunRequest,
    CreatePlanRequest,
    CreatePlanStepRequest,
    EventType,
    LinkTelnyxAgentRequest,
    Payload,
    RunStatus,
    UpdateMissionRequest,
    UpdateMissionRunRequest,
    UpdatePlanStepRequest,
)


@dataclass(frozen=True, slots=True)
class Query:
    """Marks a field as a query parameter; ``wire`` is its name on the wire."""

    wire: str


@dataclass(frozen=True, slots=True)
class WholeBody:
    """Marks a free-form object field that is sent as the entire JSON body."""


def _path_segment(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if value.strip() in {".", ".."}:
        raise ValueError("must be an id, not '.' or '..'")
    if "/" in value:
        raise ValueError("must be a single id without '/'")
    if len(value) > MAX_ID:
        raise ValueError(f"must be an id of at most {MAX_ID} characters")
    if not value.isprintable():
        raise ValueError("must be an id without control characters (CR, LF, NUL, tab)")
    return value


IDEMPOTENCY_KEY = "idempotency_key"
IDEMPOTENCY_KEY_SCHEMA: dict[str, Any] = {"type": "string"}
"""The argument every write tool takes; advertised on the core writes that create (``Operation.input_schema``)."""


def check_idempotency_key(value: Any) -> str:
    """An idempotency key travels as the ``Idempotency-Key`` header: 1 to 255 printable ASCII characters."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if not 0 < len(value) <= MAX_ID:
        raise ValueError(f"must be 1 to {MAX_ID} characters (a UUID is a good key)")
    if not all(" " <= c <= "~" for c in value) or value != value.strip():
        raise ValueError("must be printable ASCII without leading or trailing spaces (a UUID is a good key)")
    return value


PathKey = Annotated[str, AfterValidator(_path_segment)]
"""A plain-string path id: non-empty, one segment, no dot segments (percent-encoded on the wire).

Checked by the validator rather than stated as ``minLength`` in the schema: every tool has one or
two ids, and an LLM does not send an empty one on purpose, so the bytes buy nothing."""


def fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, ...]:
    """The fields of the object at ``loc`` inside ``model``'s arguments (``("steps", 0)``: a plan step's)."""
    node: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's item type was taken with its field
        if not (isinstance(node, type) and issubclass(node, BaseModel)) or part not in node.model_fields:
            return ()
        node = _object_type(node.model_fields[part].annotation)
    return tuple(node.model_fields) if isinstance(node, type) and issubclass(node, BaseModel) else ()


def _object_type(annotation: Any) -> Any:
    """The model inside ``list[Model]``, ``Model | None`` and the like; else the annotation itself."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None:
        for arg in get_args(annotation):
            found = _object_type(arg)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
    return annotation


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- building blocks


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # "page 1 unless you ask for another" goes without saying


Page = Annotated[int, Query("page[number]"), Field(ge=1, json_schema_extra=_no_default)]


class _Page20(_Args):
    page: Page = 1
    page_size: Annotated[int, Query("page[size]")] = Field(default=20, ge=1, le=1000)


class _Page50(_Args):
    page: Page = 1
    page_size: Annotated[int, Query("page[size]")] = Field(default=50, ge=1, le=1000)


class MissionRef(_Args):
    mission_id: UUID


class MissionKeyRef(_Args):
    """The mission id on paths where the contract declares it a plain string."""

    mission_id: PathKey


class RunRef(_Args):
    mission_id: UUID
    run_id: UUID


class StepRef(RunRef):
    step_id: PathKey


class _EventFilters(_Args):
    type: Annotated[EventType | None, Query("type")] = None


class _RunFilters(_Args):
    status: Annotated[RunStatus | None, Query("status")] = None


# --------------------------------------------------------------------------- missions


class ListMissionsArgs(_Page20):
    pass


class CreateMissionArgs(CreateMissionRequest):
    pass


class UpdateMissionArgs(UpdateMissionRequest, MissionRef):
    pass


class CloneMissionArgs(MissionKeyRef):
    pass


class ListRecentRunsArgs(_Page20, _RunFilters):
    pass


class ListRecentEventsArgs(_Page50, _EventFilters):
    pass


# --------------------------------------------------------------------------- runs


class ListRunsArgs(_Page20, _RunFilters, MissionRef):
    pass


class StartRunArgs(CreateMissionRunRequest, MissionRef):
    pass


class UpdateRunArgs(UpdateMissionRunRequest, RunRef):
    pass


# --------------------------------------------------------------------------- events


class ListEventsArgs(_Page50, _EventFilters, RunRef):
    step_id: Annotated[PathKey | None, Query("step_id")] = None
    agent_id: Annotated[PathKey | None, Query("agent_id")] = None


class LogEventArgs(CreateEventRequest, RunRef):
    pass


class GetEventArgs(RunRef):
    event_id: PathKey


# --------------------------------------------------------------------------- plan


class CreatePlanArgs(CreatePlanRequest, RunRef):
    pass


# A step as create_plan takes it: a model reads the field descriptions there once, not twice.
class _MorePlanStep(CreatePlanStepRequest):
    model_config = ConfigDict(json_schema_extra=lambda schema: _drop_descriptions(schema))


def _drop_descriptions(schema: dict[str, Any]) -> None:
    for field in schema.get("properties", {}).values():
        field.pop("description", None)


class AddPlanStepsArgs(AddPlanStepsRequest, RunRef):
    steps: Annotated[list[_MorePlanStep], STEPS_LIMIT] = Field(min_length=1)  # type: ignore[assignment]


class GetPlanStepArgs(StepRef):
    pass


class UpdatePlanStepArgs(UpdatePlanStepRequest, StepRef):
    pass


# --------------------------------------------------------------------------- agents


class LinkAgentArgs(LinkTelnyxAgentRequest, RunRef):
    pass


class UnlinkAgentArgs(RunRef):
    telnyx_agent_id: PathKey


# --------------------------------------------------------------------------- untyped sub-resources
# Tools, knowledge bases and MCP servers of a mission: the contract leaves their bodies untyped, so
# the body is one free-form object sent as the whole JSON body.

WholeBodyObject = Annotated[Payload, WholeBody()]


class ListSubResourceArgs(MissionKeyRef):
    pass


class CreateSubResourceArgs(MissionKeyRef):
    body: WholeBodyObject


class MissionToolRef(MissionKeyRef):
    tool_id: PathKey


class UpdateMissionToolArgs(MissionToolRef):
    body: WholeBodyObject


class KnowledgeBaseRef(MissionKeyRef):
    knowledge_base_id: PathKey


class UpdateKnowledgeBaseArgs(KnowledgeBaseRef):
    body: WholeBodyObject


class McpServerRef(MissionKeyRef):
    mcp_server_id: PathKey


class UpdateMcpServerArgs(McpServerRef):
    body: WholeBodyObject
