"""Pydantic models of the Missions API: enums, data objects, envelopes and request bodies.

One model per schema of the contract (``openapi.yaml``). Response models are lenient: optional
keys may be missing or ``null``, and keys the contract does not list are kept (``extra="allow"``),
because the hosted API may add fields. Request models are strict: an unknown key is an error,
so a typo in a tool argument is reported instead of being silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

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


# --------------------------------------------------------------------------- request bodies


class _Request(BaseModel):
    """Base of request bodies: unknown keys are refused, so typos surface as errors."""

    model_config = ConfigDict(extra="forbid")


class CreateMissionRequest(_Request):
    name: str = Field(min_length=1)
    description: str | None = None
    model: str | None = None
    instructions: str | None = None
    execution_mode: ExecutionMode = Field(default=ExecutionMode.external, description="external: you run it.")
    metadata: JSONObject | None = None


class UpdateMissionRequest(_Request):
    name: str | None = Field(default=None, min_length=1)
    description: str | None = None
    model: str | None = None
    instructions: str | None = None
    execution_mode: ExecutionMode | None = None
    metadata: JSONObject | None = Field(default=None, description="Replaces the mission's metadata.")


# The descriptions below are what a model reads to fill a field: what it is for, its form, its effect.


class CreateMissionRunRequest(_Request):
    input: JSONObject | None = Field(default=None, description='What this run works on, e.g. {"goal": "..."}.')
    metadata: JSONObject | None = None


class UpdateMissionRunRequest(_Request):
    status: RunStatus | None = Field(
        default=None, description="running when work starts, then succeeded or failed (final)."
    )
    result_summary: str | None = Field(default=None, description="The outcome in one line, with succeeded.")
    result_payload: JSONObject | None = Field(default=None, description="Structured result, with succeeded.")
    error: str | None = Field(default=None, description="What went wrong, with failed.")
    metadata: JSONObject | None = Field(default=None, description="Replaces the run's metadata.")


class CreateEventRequest(_Request):
    type: EventType
    summary: str = Field(min_length=1, description="What happened, in one line.")
    step_id: str | None = Field(default=None, description="The plan step it belongs to.")
    agent_id: str | None = Field(default=None, description="Who did it, when agents share a run.")
    payload: JSONObject | None = Field(default=None, description="Details: tool arguments, results.")
    idempotency_key: str | None = Field(
        default=None, description="Retrying a call whose answer you did not get? Send the same key."
    )


class CreatePlanStepRequest(_Request):
    step_id: str = Field(min_length=1, description="Short id, unique in the run: s1, s2.")
    description: str = Field(min_length=1)
    sequence: int = Field(description="Order: 1, 2, 3 across the whole plan, sub-steps too; get_plan sorts by it.")
    parent_step_id: str | None = Field(default=None, description="step_id of the parent, to nest this step.")
    metadata: JSONObject | None = None


class CreatePlanRequest(_Request):
    steps: list[CreatePlanStepRequest] = Field(min_length=1)


class AddPlanStepsRequest(_Request):
    steps: list[CreatePlanStepRequest] = Field(min_length=1)


class UpdatePlanStepRequest(_Request):
    status: StepStatus | None = None
    metadata: JSONObject | None = Field(default=None, description="Replaces the step's metadata.")


class LinkTelnyxAgentRequest(_Request):
    telnyx_agent_id: str = Field(min_length=1)
