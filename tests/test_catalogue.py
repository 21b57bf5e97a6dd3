"""The catalogue against the contract file: every operation, parameter, body field and envelope."""

from __future__ import annotations

from typing import Any

import pytest

from missions_mcp import models, params
from missions_mcp.catalogue import BY_NAME, ID_NOUNS, OPERATIONS, TOOLSETS, Operation, tool_names_in

ISSUE_TOOL_NAMES = (
    "list_missions create_mission get_mission update_mission delete_mission clone_mission list_recent_runs "
    "list_recent_events list_runs start_run get_run update_run cancel_run pause_run resume_run list_events "
    "log_event get_event get_plan create_plan add_plan_steps get_plan_step update_plan_step list_run_agents "
    "link_agent unlink_agent"
).split()


# The contract's name for an answer it leaves untyped, and ours (a JSON object passed on as it is).
MODEL_NAMES = {"UntypedJSON": "UntypedResponse", "ValidationError": "ValidationErrorItem"}


def _contract_ops(contract: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    ops = {}
    for path, item in contract["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                ops[op["operationId"]] = (method.upper(), path, op)
    return ops


def _resolve(contract: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = contract["components"][section][name]
    return node


def test_every_operation_of_the_contract_has_exactly_one_tool(contract):
    ops = _contract_ops(contract)
    assert len(ops) == 41
    assert sorted(op.operation_id for op in OPERATIONS) == sorted(ops)
    assert len(BY_NAME) == 41


def test_tool_names_are_the_ones_users_type():
    for name in ISSUE_TOOL_NAMES:
        assert name in BY_NAME
    for one, many in (
        ("mission_tool", "mission_tools"),
        ("knowledge_base", "knowledge_bases"),
        ("mcp_server", "mcp_servers"),
    ):
        assert {f"list_{many}", f"create_{one}", f"get_{one}", f"update_{one}", f"delete_{one}"} <= set(BY_NAME)
        assert {op.toolset for op in OPERATIONS if one in op.name} == {many}
    assert set(TOOLSETS) == {
        "missions",
        "runs",
        "plan",
        "events",
        "agents",
        "mission_tools",
        "knowledge_bases",
        "mcp_servers",
    }


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_operation_matches_contract(op, contract):
    method, path, spec = _contract_ops(contract)[op.operation_id]
    assert (op.method, op.path) == (method, path)
    assert str(op.status) in spec["responses"]

    params = [_resolve(contract, p) for p in spec.get("parameters", [])]
    assert sorted(p["name"] for p in params if p["in"] == "path") == sorted(op.path_fields)
    query = {p["name"]: p for p in params if p["in"] == "query"}
    assert sorted(query) == sorted(op.query_fields.values())
    fields = op.params.model_fields
    for name, wire in op.query_fields.items():
        schema = query[wire]["schema"]
        if "default" in schema:
            assert fields[name].default == schema["default"], name
        schema_in_tool = op.input_schema["properties"][name]
        if "maximum" in schema:
            assert schema_in_tool["maximum"] == schema["maximum"]
        if "minimum" in schema or "exclusiveMinimum" in schema:
            lowest = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
            assert schema_in_tool["minimum"] == lowest
    for name in op.path_fields:
        assert name in op.input_schema["required"]

    body_spec = spec.get("requestBody")
    if body_spec is None:
        assert not op.body_fields
        # The contract leaves create/update of the untyped sub-resources without a body schema;
        # the tools take a free-form object for them.
        untyped_write = op.method in {"POST", "PUT"} and op.result is models.UntypedResponse
        assert (op.whole_body_field is not None) == (untyped_write and op.name != "clone_mission")
    else:
        body = _resolve(contract, body_spec["content"]["application/json"]["schema"])
        assert sorted(op.body_fields) == sorted(body["properties"])
        required_in_tool = set(op.input_schema.get("required", ())) - set(op.path_fields)
        assert required_in_tool == set(body.get("required", ()))

    ok = spec["responses"][str(op.status)]
    if op.status == 204:
        assert op.result is None and "content" not in ok
    else:
        schema = ok["content"]["application/json"]["schema"]
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            assert op.result.__name__ == MODEL_NAMES.get(name, name)
        else:
            assert op.result is models.UntypedResponse


def test_every_schema_has_a_model_with_the_same_fields(contract):
    for name, schema in contract["components"]["schemas"].items():
        model = getattr(models, MODEL_NAMES.get(name, name), None)
        assert model is not None, f"no model for {name}"
        if "enum" in schema:
            assert [v.value for v in model] == schema["enum"]
            continue
        if "properties" not in schema:
            continue
        assert sorted(model.model_fields) == sorted(schema["properties"]), name
        required = {n for n, f in model.model_fields.items() if f.is_required()}
        if name.startswith(("Create", "Update", "Add", "Link")):
            assert required == set(schema.get("required", ())), name
        else:
            # Responses: what the contract requires is required; everything else tolerates absence.
            assert required == set(schema.get("required", ())), name


def test_responses_tolerate_missing_null_and_unknown_fields():
    run = models.MissionRunData.model_validate(
        {
            "run_id": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e",
            "mission_id": "182bd5e5-6e1a-4fe4-a799-aa6d9a6ab26e",
            "status": "running",
            "started_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
            "finished_at": None,
            "error": None,
            "brand_new_field": {"kept": True},
        }
    )
    assert run.result_summary is None and run.finished_at is None
    assert run.model_dump(mode="json")["brand_new_field"] == {"kept": True}


def test_requests_refuse_unknown_fields():
    with pytest.raises(Exception, match="extra"):
        models.CreateEventRequest.model_validate({"type": "message", "summary": "x", "sumary": "typo"})


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_annotations_agree_with_http_method(op):
    """The guard: every hint is explicit and consistent with the method."""
    assert op.read_only == (op.method == "GET")
    if op.method == "GET":
        assert op.is_idempotent and not op.is_destructive
    if op.method == "DELETE":
        assert op.is_destructive and op.is_idempotent
    if op.method == "PUT":
        assert op.is_idempotent and op.is_destructive
    if op.method == "POST" and op.name != "cancel_run":
        assert not op.is_destructive
    if op.method == "POST":
        assert not op.is_idempotent


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_schemas_are_lean_and_self_contained(op):
    text = repr(op.input_schema)
    for noise in ("'title'", "$ref", "$defs", "'null'"):
        assert noise not in text, (op.name, noise)
    assert op.input_schema["type"] == "object"
    assert op.output_schema["type"] == "object"
    assert "$ref" not in repr(op.output_schema)
    assert 0 < len(op.description) <= 120


# --------------------------------------------------------------------------- derived facts, pinned


def test_what_each_call_changes_is_derived_from_the_table():
    """Subscribers hear of a change only if the call's entry says what it changes: pin the derivation."""
    run = {op.name for op in OPERATIONS if op.changes == "run"}
    mission = {op.name for op in OPERATIONS if op.changes == "mission"}
    run_list = {op.name for op in OPERATIONS if op.changes_run_list}
    assert run == {
        "update_run",
        "cancel_run",
        "pause_run",
        "resume_run",
        "create_plan",
        "add_plan_steps",
        "update_plan_step",
        "log_event",
        "link_agent",
        "unlink_agent",
        "start_run",
    }
    assert mission == {"update_mission", "delete_mission"}
    assert run_list == {"start_run", "delete_mission"}
    assert {op.name for op in OPERATIONS if op.starts_run} == {"start_run"}
    assert all(op.changes is None for op in OPERATIONS if op.read_only)


def test_id_nouns_come_from_the_entries():
    assert ID_NOUNS == {
        "mission_id": "mission",
        "run_id": "run",
        "step_id": "plan step",
        "event_id": "event",
        "telnyx_agent_id": "linked agent",
        "tool_id": "mission tool",
        "knowledge_base_id": "knowledge base",
        "mcp_server_id": "MCP server",
    }
    for op in OPERATIONS:
        assert set(op.path_fields) <= set(ID_NOUNS), op.name
        assert bool(op.noun) == op.path.endswith("}"), op.name


def test_core_and_hot_sets():
    assert {op.name for op in OPERATIONS if op.core} == {
        "list_missions",
        "create_mission",
        "start_run",
        "update_run",
        "create_plan",
        "add_plan_steps",
        "update_plan_step",
        "log_event",
        "get_plan",
        "get_run",
    }
    assert {op.name for op in OPERATIONS if op.hot} == {
        "log_event",
        "update_plan_step",
        "get_run",
        "update_run",
        "list_events",
        "get_plan",
    }


def test_entries_are_keyword_only_and_their_models_written_out():
    op = OPERATIONS[0]
    with pytest.raises(TypeError):
        Operation(
            op.name,
            op.title,
            op.description,
            op.toolset,
            op.method,
            op.path,  # type: ignore[misc]
            op.params,
            op.result,
            op.operation_id,
            op.status,
        )
    for op in OPERATIONS:
        # every argument model is a class of params.py, found by its name (no classes built at run time)
        assert getattr(params, op.params.__name__) is op.params, op.name


def test_toolsets_are_records_with_a_description():
    assert list(TOOLSETS) == [
        "missions",
        "runs",
        "plan",
        "events",
        "agents",
        "mission_tools",
        "knowledge_bases",
        "mcp_servers",
    ]
    for name, toolset in TOOLSETS.items():
        assert toolset.name == name and toolset.description.endswith(".")


def test_tool_names_in_text():
    assert tool_names_in("call start_run, then update_run; not start_runs or list_things") == {
        "start_run",
        "update_run",
    }
