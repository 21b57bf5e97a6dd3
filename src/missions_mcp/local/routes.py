"""The 41 operations as FastAPI routes.

Each operation of :data:`missions_mcp.catalogue.OPERATIONS` is served by the handler of the same
name in this module (the 15 untyped sub-resource operations by one generic handler each); the
method, path, success status, ``operationId`` and response model of each route, and the order
the router tries them in, come from that table (:func:`build_router`), so the app and the MCP
client cannot disagree about them. A handler without an operation, or an operation without a
handler, stops the app from being built.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from .. import models as m
from ..catalogue import OPERATIONS, Operation
from . import idempotency, missions, plans, runs
from .missions import RESOURCE_KINDS, ResourceKind
from .store import Store, tenant_hash

__all__ = ["HANDLERS", "allowed_methods", "build_router", "route_order", "tenant_key"]

PageNumber = Annotated[int, Query(alias="page[number]", ge=1, description="Page number (1-based).")]
PageSize20 = Annotated[int, Query(alias="page[size]", gt=0, le=1000, description="Items per page.")]
PageSize50 = PageSize20

HANDLERS: dict[str, Callable[..., Any]] = {}
"""Operation name → its handler, filled by :func:`handler` from the functions' own names."""


def handler(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Registers ``fn`` as the handler of the operation it is named after."""
    HANDLERS[fn.__name__] = fn
    return fn


# --------------------------------------------------------------------------- request helpers


def tenant_key(authorization: str | None) -> str:
    """The tenant of a request from its ``Authorization`` header (see :func:`tenant_hash`)."""
    if authorization is None:
        return tenant_hash(None)
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "The Authorization header must be 'Bearer <API key>'.")
    return tenant_hash(token.strip())


async def call(request: Request, fn: Callable[..., Any], *args: Any, own_key: str | None = None) -> Response:
    """Runs a store function for the request's tenant; its answer, already in the contract's shape,
    is sent as it is with the route's status code (``None`` as 204 No Content). A write carrying
    an ``Idempotency-Key`` runs under its claim (see ``idempotency.py``), unless that is ``own_key``,
    the key ``fn`` deduplicates on itself: one key, checked once. (Returning a response
    skips FastAPI's second validation of it against ``response_model``, which stays for the
    OpenAPI document and the contract tests.)"""
    store: Store = request.app.state.store
    key = tenant_key(request.headers.get("authorization"))
    status = request.scope["route"].status_code
    claim_key = request.headers.get("idempotency-key")
    claim = None
    if claim_key and request.method != "GET":
        raw = await request.body()
        claim = idempotency.claim_of(request.method, request.scope["path"], claim_key, raw, own_key=own_key)
    if claim is None:
        result = await store.run(fn, store, key, *args)
        if result is None:
            return Response(status_code=204)
        return JSONResponse(result, status_code=status)
    body = await store.run(idempotency.perform, store, key, claim, status, fn, args, _render)
    return Response(body, status_code=status, media_type="application/json" if body else None)


def _render(result: Any) -> bytes:
    return b"" if result is None else bytes(JSONResponse(result).body)


def enum_filter(value: str | None, enum: type[StrEnum], name: str) -> str | None:
    """A ``status``/``type`` query filter: a free string in the contract, one of the enum's values here."""
    if value is None or value in enum.__members__.values():
        return value
    expected = ", ".join(f"'{v.value}'" for v in enum)
    raise RequestValidationError(
        [{"type": "enum", "loc": ("query", name), "msg": f"Input should be one of {expected}", "input": value}]
    )


async def object_body(request: Request) -> dict[str, Any]:
    """The JSON object body of an untyped operation: ``{}`` when there is none; 422 for an empty,
    malformed or non-object body sent as JSON."""
    raw = await request.body()
    if not raw and "content-type" not in request.headers:
        return {}  # the contract declares no body for these operations: none is an empty object
    if not raw.strip():
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", getattr(exc, "pos", 0)),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)},
                }
            ]
        ) from None
    if not isinstance(value, dict):
        raise RequestValidationError(
            [{"type": "dict_type", "loc": ("body",), "msg": "Input should be a valid dictionary", "input": value}]
        )
    return value


OBJECT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
    }
}
"""OpenAPI of the body of the untyped create/update operations (any JSON object)."""


# --------------------------------------------------------------------------- missions


@handler
async def list_missions(request: Request, page_number: PageNumber = 1, page_size: PageSize20 = 20) -> Any:
    return await call(request, missions.list_missions, page_number, page_size)


@handler
async def create_mission(request: Request, body: m.CreateMissionRequest) -> Any:
    return await call(request, missions.create_mission, body.model_dump())


@handler
async def get_mission(request: Request, mission_id: UUID) -> Any:
    return await call(request, missions.get_mission, mission_id)


@handler
async def update_mission(request: Request, mission_id: UUID, body: m.UpdateMissionRequest) -> Any:
    return await call(request, missions.update_mission, mission_id, body.model_dump(exclude_unset=True))


@handler
async def delete_mission(request: Request, mission_id: UUID) -> Any:
    return await call(request, missions.delete_mission, mission_id)


@handler
async def clone_mission(request: Request, mission_id: str) -> Any:
    return await call(request, missions.clone_mission, mission_id)


# --------------------------------------------------------------------------- runs


@handler
async def list_recent_runs(
    request: Request, status: str | None = None, page_number: PageNumber = 1, page_size: PageSize20 = 20
) -> Any:
    status = enum_filter(status, m.RunStatus, "status")
    return await call(request, runs.list_runs, None, status, page_number, page_size)


@handler
async def list_runs(
    request: Request,
    mission_id: UUID,
    status: str | None = None,
    page_number: PageNumber = 1,
    page_size: PageSize20 = 20,
) -> Any:
    status = enum_filter(status, m.RunStatus, "status")
    return await call(request, runs.list_runs, mission_id, status, page_number, page_size)


@handler
async def start_run(request: Request, mission_id: UUID, body: m.CreateMissionRunRequest | None = None) -> Any:
    fields = body.model_dump(exclude_unset=True) if body else {}
    return await call(request, runs.create_run, mission_id, fields)


@handler
async def get_run(request: Request, mission_id: UUID, run_id: UUID) -> Any:
    return await call(request, runs.get_run, mission_id, run_id)


@handler
async def update_run(request: Request, mission_id: UUID, run_id: UUID, body: m.UpdateMissionRunRequest) -> Any:
    return await call(request, runs.update_run, mission_id, run_id, body.model_dump(exclude_unset=True))


def _run_action(action: str) -> Callable[..., Any]:
    async def act(request: Request, mission_id: UUID, run_id: UUID) -> Any:
        return await call(request, runs.act_on_run, mission_id, run_id, action)

    act.__name__ = f"{action}_run"
    return act


for _action in runs.RUN_ACTIONS:
    handler(_run_action(_action))


# --------------------------------------------------------------------------- events


@handler
async def list_recent_events(
    request: Request, type: str | None = None, page_number: PageNumber = 1, page_size: PageSize50 = 50
) -> Any:
    type_ = enum_filter(type, m.EventType, "type")
    return await call(request, runs.list_recent_events, type_, page_number, page_size)


@handler
async def list_events(
    request: Request,
    mission_id: UUID,
    run_id: UUID,
    type: str | None = None,
    step_id: str | None = None,
    agent_id: str | None = None,
    page_number: PageNumber = 1,
    page_size: PageSize50 = 50,
) -> Any:
    filters = {"type": enum_filter(type, m.EventType, "type"), "step_id": step_id, "agent_id": agent_id}
    return await call(request, runs.list_run_events, mission_id, run_id, filters, page_number, page_size)


@handler
async def log_event(request: Request, mission_id: UUID, run_id: UUID, body: m.CreateEventRequest) -> Any:
    fields = body.model_dump(exclude_unset=True)
    return await call(request, runs.log_event, mission_id, run_id, fields, own_key=body.idempotency_key)


@handler
async def get_event(request: Request, mission_id: UUID, run_id: UUID, event_id: str) -> Any:
    return await call(request, runs.get_event, mission_id, run_id, event_id)


# --------------------------------------------------------------------------- plans and agents


@handler
async def get_plan(request: Request, mission_id: UUID, run_id: UUID) -> Any:
    return await call(request, plans.get_plan, mission_id, run_id)


@handler
async def create_plan(request: Request, mission_id: UUID, run_id: UUID, body: m.CreatePlanRequest) -> Any:
    steps = [s.model_dump() for s in body.steps]
    return await call(request, plans.create_plan, mission_id, run_id, steps)


@handler
async def add_plan_steps(request: Request, mission_id: UUID, run_id: UUID, body: m.AddPlanStepsRequest) -> Any:
    steps = [s.model_dump() for s in body.steps]
    return await call(request, plans.add_plan_steps, mission_id, run_id, steps)


@handler
async def get_plan_step(request: Request, mission_id: UUID, run_id: UUID, step_id: str) -> Any:
    return await call(request, plans.get_step, mission_id, run_id, step_id)


@handler
async def update_plan_step(
    request: Request, mission_id: UUID, run_id: UUID, step_id: str, body: m.UpdatePlanStepRequest
) -> Any:
    fields = body.model_dump(exclude_unset=True)
    return await call(request, plans.update_step, mission_id, run_id, step_id, fields)


@handler
async def list_run_agents(request: Request, mission_id: UUID, run_id: UUID) -> Any:
    return await call(request, plans.list_agents, mission_id, run_id)


@handler
async def link_agent(request: Request, mission_id: UUID, run_id: UUID, body: m.LinkTelnyxAgentRequest) -> Any:
    return await call(request, plans.link_agent, mission_id, run_id, body.telnyx_agent_id)


@handler
async def unlink_agent(request: Request, mission_id: UUID, run_id: UUID, telnyx_agent_id: str) -> Any:
    return await call(request, plans.unlink_agent, mission_id, run_id, telnyx_agent_id)


# --------------------------------------------------------------------------- untyped sub-resources


def _resource_handler(op: Operation, kind: ResourceKind) -> Callable[..., Any]:
    """The handler of one of the 15 tool / knowledge-base / MCP-server operations."""
    resource_path = Path(alias=kind.id_field)
    if not op.path.endswith("}"):
        if op.method == "GET":

            async def list_all(request: Request, mission_id: str) -> Any:
                return await call(request, missions.list_resources, kind, mission_id)

            return list_all

        async def create(request: Request, mission_id: str) -> Any:
            return await call(request, missions.create_resource, kind, mission_id, await object_body(request))

        return create
    if op.method == "GET":

        async def get(request: Request, mission_id: str, resource_id: str = resource_path) -> Any:
            return await call(request, missions.get_resource, kind, mission_id, resource_id)

        return get
    if op.method == "PUT":

        async def replace(request: Request, mission_id: str, resource_id: str = resource_path) -> Any:
            body = await object_body(request)
            return await call(request, missions.update_resource, kind, mission_id, resource_id, body)

        return replace

    async def delete(request: Request, mission_id: str, resource_id: str = resource_path) -> Any:
        return await call(request, missions.delete_resource, kind, mission_id, resource_id)

    return delete


# --------------------------------------------------------------------------- the router


def route_order(op: Operation) -> tuple[bool, tuple[bool, ...]]:
    """The order the router tries routes in (it stops at the first match).

    First the catalogue's ``hot`` operations — what an agent calls on every step of its work (log
    an event, update a step, read the plan or the run): about 0.2 ms less a request than finding
    them after the mission and sub-resource routes (bench/bench_local.py). None of them can
    shadow another route: each works on one run, and every other route is shorter or has a
    literal where they have ``{run_id}``. Then, among equals, literal path segments before
    parameters, so ``/ai/missions/runs`` wins over ``/ai/missions/{mission_id}``.
    """
    return not op.hot, tuple(segment.startswith("{") for segment in op.path.split("/"))


def _resource_kind(op: Operation) -> ResourceKind | None:
    segments = op.path.split("/")
    return RESOURCE_KINDS.get(segments[4]) if len(segments) > 4 else None


def build_router(router: APIRouter | None = None) -> APIRouter:
    """The routes of every operation, added to ``router`` (a new one if none): one per operation,
    in :func:`route_order`, then a 405 guard after each path without parameters."""
    kinds = {op.name: kind for op in OPERATIONS if (kind := _resource_kind(op)) is not None}
    missing = {op.name for op in OPERATIONS} - set(HANDLERS) - set(kinds)
    orphans = set(HANDLERS) - {op.name for op in OPERATIONS}
    if missing or orphans:
        raise RuntimeError(f"operations without a handler: {sorted(missing)}; handlers without one: {sorted(orphans)}")
    router = APIRouter() if router is None else router
    for op in sorted(OPERATIONS, key=route_order):
        kind = kinds.get(op.name)
        endpoint = _resource_handler(op, kind) if kind else HANDLERS[op.name]
        typed = op.result is not None and op.result is not m.UntypedResponse
        router.add_api_route(
            op.path,
            endpoint,
            methods=[op.method],
            status_code=op.status,
            response_model=op.result if typed else None,
            response_class=Response if op.status == 204 else JSONResponse,
            operation_id=op.operation_id,
            summary=op.title,
            description=op.description,
            name=op.name,
            openapi_extra=OBJECT_BODY if kind and op.method in ("POST", "PUT") else None,
        )
    _guard_literal_paths(router)
    return router


async def method_not_allowed() -> None:
    raise HTTPException(405, "Method Not Allowed")


def _guard_literal_paths(router: APIRouter) -> None:
    """``PUT /ai/missions/runs`` is a method ``/ai/missions/runs`` does not have, not an update of a
    mission called "runs": after the routes of each path without parameters comes one that
    answers 405 to every other method, before a route with a parameter there can match."""
    api_routes = [route for route in router.routes if isinstance(route, APIRoute)]
    for path in sorted({route.path for route in api_routes if "{" not in route.path}):
        own = [route for route in api_routes if route.path == path]
        others = sorted(WRITE_METHODS | {"GET"} - {method for route in own for method in route.methods or ()})
        router.add_api_route(
            path, method_not_allowed, methods=others, include_in_schema=False, name="method_not_allowed"
        )
        router.routes.insert(router.routes.index(own[-1]) + 1, router.routes.pop())


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def allowed_methods(router: APIRouter, path: str) -> list[str]:
    """The methods of the route template that ``path`` names: the one with the fewest parameters
    among those it matches (``/ai/missions/runs`` is that path, not a mission called "runs")."""
    matches = [
        route
        for route in router.routes
        if isinstance(route, APIRoute) and route.name != "method_not_allowed" and route.path_regex.match(path)
    ]
    if not matches:
        return []
    fewest = min(route.path.count("{") for route in matches)
    return sorted({method for route in matches if route.path.count("{") == fewest for method in route.methods or ()})
