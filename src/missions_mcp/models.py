"""Pydantic models of the Missions API: enums, data objects, envelopes and request bodies.

One model per schema of the contract (``openapi.yaml``). Response models are lenient: optional
keys may be missing or ``null``, and keys the contract does not list are kept (``extra="allow"``),
because the hosted API may add fields. Request models are strict: an unknown key is an error,
so a typo in a tool argument is reported instead of being silently dropped.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

__all__ = [
    "ExecutionMode",
    "RunStatus",
    "StepStatus",
    "EventType",
    "TERMINAL_RUN_STATUSES",
    "TERMINAL_STEP_STATUSES",
    "MissionData",
    "MissionRunData",
    "PlanStepData",
    "EventData",
    "TelnyxAgentData",
    "Meta",
    "MissionResponse",
    "MissionsListResponse",
    "MissionRunResponse",
    "MissionRunsListResponse",
    "EventResponse",
    "EventsListResponse",
    "PlanResponse",
    "PlanStepsCreatedResponse",
    "PlanStepResponse",
    "TelnyxAgentResponse",
    "TelnyxAgentsListResponse",
    "UntypedResponse",
    "ValidationErrorItem",
    "HTTPValidationError",
    "CreateMissionRequest",
    "UpdateMissionRequest",
    "CreateMissionRunRequest",
    "UpdateMissionRunRequest",
    "CreateEventRequest",
    "CreatePlanStepRequest",
    "CreatePlanRequest",
    "AddPlanStepsRequest",
    "UpdatePlanStepRequest",
    "LinkTelnyxAgentRequest",
]

JSONObject = dict[str, Any]


# --------------------------------------------------------------------------- enums


class ExecutionMode(StrEnum):
    external = "external"
    managed = "managed"


class RunStatus(StrEnum):
    pending = "pending"
    running = "running"
    paused = "paused"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class StepStatus(StrEnum):
    pending = "pending"
    in_progress = "in_progress"
    completed = "completed"
    skipped = "skipped"
    failed = "failed"


class EventType(StrEnum):
    status_change = "status_change"
    step_started = "step_started"
    step_completed = "step_completed"
    step_failed = "step_failed"
    tool_call = "tool_call"
    tool_result = "tool_result"
    message = "message"
    error = "error"
    custom = "custom"


TERMINAL_RUN_STATUSES = frozenset({RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled})
TERMINAL_STEP_STATUSES = frozenset({StepStatus.completed, StepStatus.skipped, StepStatus.failed})


# --------------------------------------------------------------------------- data objects


class _Data(BaseModel):
    """Base of response objects: tolerant of nulls and of fields the contract does not list."""

    model_config = ConfigDict(extra="allow")


class MissionData(_Data):
    mission_id: UUID
    name: str
    description: str | None = None
    model: str | None = None
    instructions: str | None = None
    execution_mode: ExecutionMode
    metadata: JSONObject | None = None
    created_at: datetime
    updated_at: datetime


class MissionRunData(_Data):
    run_id: UUID
    mission_id: UUID
    status: RunStatus
    input: JSONObject | None = None
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None = None
    result_summary: str | None = None
    result_payload: JSONObject | None = None
    error: str | None = None
    metadata: JSONObject | None = None


class PlanStepData(_Data):
    step_id: str
    run_id: UUID
    parent_step_id: str | None = None
    sequence: int
    description: str
    status: StepStatus
    started_at: datetime | None = None
    completed_at: datetime | None = None
    metadata: JSONObject | None = None


class EventData(_Data):
    event_id: str
    run_id: str
    type: EventType
    summary: str
    timestamp: datetime
    step_id: str | None = None
    agent_id: str | None = None
    payload: JSONObject | None = None
    idempotency_key: str | None = None


class TelnyxAgentData(_Data):
    run_id: str
    telnyx_agent_id: str
    created_at: datetime


class Meta(_Data):
    page_number: int
    page_size: int
    total_pages: int
    total_results: int


# --------------------------------------------------------------------------- envelopes


class MissionResponse(_Data):
    data: MissionData


class MissionsListResponse(_Data):
    data: list[MissionData]
    meta: Meta


class MissionRunResponse(_Data):
    data: MissionRunData


class MissionRunsListResponse(_Data):
    data: list[MissionRunData]
    meta: Meta


class EventResponse(_Data):
    data: EventData


class EventsListResponse(_Data):
    data: list[EventData]
    meta: Meta


class PlanResponse(_Data):
    data: list[PlanStepData]


class PlanStepsCreatedResponse(_Data):
    data: list[PlanStepData]


class PlanStepResponse(_Data):
    data: PlanStepData


class TelnyxAgentResponse(_Data):
    data: TelnyxAgentData


class TelnyxAgentsListResponse(_Data):
    data: list[TelnyxAgentData]


class UntypedResponse(_Data):
    """An answer the contract leaves untyped (clone, mission tools, knowledge bases, MCP servers).

    A JSON object is kept as it is; any other JSON value is wrapped as ``{"data": value}``.
    """


class ValidationErrorItem(_Data):
    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationError(_Data):
    detail: list[ValidationErrorItem] | None = None


# --------------------------------------------------------------------------- limits
# The contract sets no sizes. These are ours, the same for the MCP tools and the embedded API (which
# answers 422 past them), and listed in the README: text in characters, JSON objects by the size of
# their compact JSON in UTF-8 bytes.

MAX_ID = 255
"""Ids an agent chooses (step, agent, linked agent): they end up in URLs."""
MAX_NAME = 500
MAX_SUMMARY = 2_000
"""An event's summary: one line, not a log file (put details in ``payload``)."""
MAX_TEXT = 10_000
"""Descriptions, a run's result summary and error."""
MAX_INSTRUCTIONS = 50_000
MAX_OBJECT_BYTES = 256 * 1024
"""An event's payload, a run's input and result payload, a sub-resource's body."""
MAX_METADATA_BYTES = 16 * 1024
MAX_STEPS = 1_000
"""Plan steps in one call."""


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (a lone surrogate counts as its escape); ``ValueError``
    for NaN or infinity, which JSON cannot carry."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return len(text.encode("utf-8", "surrogatepass"))


def _at_most(limit: int) -> AfterValidator:
    def check(value: Any) -> Any:
        try:
            size = json_size(value)
        except ValueError:
            raise ValueError("must hold finite numbers only: NaN and infinity are not JSON") from None
        except (RecursionError, TypeError):
            raise ValueError("must be a JSON object of plain JSON values, not nested too deeply") from None
        if size > limit:
            raise ValueError(f"is {size:,} bytes as JSON; at most {limit:,} are accepted")
        return value

    return AfterValidator(check)


def _chars(limit: int) -> AfterValidator:
    def check(value: Any) -> Any:
        if len(value) > limit:
            raise ValueError(f"must be at most {limit:,} characters, not {len(value):,}")
        return value

    return AfterValidator(check)


# Checked by validators rather than stated as maxLength in the schema: every tool list a model
# reads would pay for them, and a model that sends a 5 MB summary learns the limit from the error.
Payload = Annotated[JSONObject, _at_most(MAX_OBJECT_BYTES)]
Metadata = Annotated[JSONObject, _at_most(MAX_METADATA_BYTES)]
Id = Annotated[str, _chars(MAX_ID)]
Name = Annotated[str, _chars(MAX_NAME)]
Summary = Annotated[str, _chars(MAX_SUMMARY)]
Text = Annotated[str, _chars(MAX_TEXT)]
Instructions = Annotated[str, _chars(MAX_INSTRUCTIONS)]


# --------------------------------------------------------------------------- request bodies


NULL_IS_ABSENT = {"null_is_absent": True}
"""Validation context of tool arguments: a model's ``null`` means "not given" (the client leaves it out)."""


class _Request(BaseModel):
    """Base of request bodies: unknown keys are refused, so typos surface as errors.

    The contract types no request field as nullable, so the API refuses an explicit ``null`` by
    field name; tool arguments are validated with :data:`NULL_IS_ABSENT`, where it means "left out".
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and not (info.context or {}).get("null_is_absent"):
            raise ValueError("null is not a value of this field; leave the field out instead")
        return value


class CreateMissionRequest(_Request):
    name: Name = Field(min_length=1)
    description: Text | None = None
    model: Name | None = None
    instructions: Instructions | None = None
    execution_mode: ExecutionMode = Field(default=ExecutionMode.external)
    metadata: Metadata | None = None


class UpdateMissionRequest(_Request):
    name: Name | None = Field(default=None, min_length=1)
    description: Text | None = None
    model: Name | None = None
    instructions: Instructions | None = None
    execution_mode: ExecutionMode | None = None
    metadata: Metadata | None = Field(default=None, description="Replaces the mission's metadata.")


# The descriptions below are what a model reads to fill a field: what it is for, its form, its effect.


class CreateMissionRunRequest(_Request):
    input: Payload | None = Field(default=None, description='What it works on: {"goal": ...}.')
    metadata: Metadata | None = None


class UpdateMissionRunRequest(_Request):
    status: RunStatus | None = Field(
        default=None, description="running when work starts, then succeeded or failed (final)."
    )
    result_summary: Text | None = Field(default=None, description="One-line outcome, with succeeded.")
    result_payload: Payload | None = Field(default=None, description="Structured result, with succeeded.")
    error: Text | None = Field(default=None, description="What went wrong, with failed.")
    metadata: Metadata | None = Field(default=None, description="Replaces the run's metadata.")


class CreateEventRequest(_Request):
    type: EventType
    summary: Summary = Field(min_length=1, description="What happened, in one line.")
    step_id: Id | None = Field(default=None, description="The plan step it belongs to.")
    agent_id: Id | None = Field(default=None, description="Who did it, when agents share a run.")
    payload: Payload | None = Field(default=None, description="Details: tool arguments, results.")
    idempotency_key: Id | None = Field(default=None, description="Retry with the same key if no answer came.")


class CreatePlanStepRequest(_Request):
    step_id: Id = Field(min_length=1, description="Unique in the run: s1, s2.")
    description: Text = Field(min_length=1)
    sequence: int = Field(description="1, 2, 3 across the whole plan; get_plan sorts by it.")
    parent_step_id: Id | None = Field(default=None, description="The parent's step_id.")
    metadata: Metadata | None = None


def _steps_at_most(value: list[Any]) -> list[Any]:
    if len(value) > MAX_STEPS:
        raise ValueError(f"must be at most {MAX_STEPS:,} steps in one call, not {len(value):,}")
    return value


STEPS_LIMIT = AfterValidator(_steps_at_most)
Steps = Annotated[list[CreatePlanStepRequest], STEPS_LIMIT]


class CreatePlanRequest(_Request):
    steps: Steps = Field(min_length=1)


class AddPlanStepsRequest(_Request):
    steps: Steps = Field(min_length=1)


class UpdatePlanStepRequest(_Request):
    status: StepStatus | None = None
    metadata: Metadata | None = Field(default=None, description="Replaces the step's metadata.")


class LinkTelnyxAgentRequest(_Request):
    telnyx_agent_id: Id = Field(min_length=1)
