"""Tools: ``tools/list`` and ``tools/call``, one tool per enabled catalogue operation.

A call goes: arguments validated against the operation's model → :meth:`MissionsClient.call`
(request, retries, error mapping) → :func:`structured_result` → the ``after_call`` hook the
server gives (subscribers hear of the change). Failures a model can fix are ``isError`` results.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from pydantic import BaseModel

from .catalogue import BY_NAME, OPERATIONS, TOOLSETS, Confirmation, Operation, tool_names_in
from .client import ApiResult, MissionsClient, describe_target, parse_call
from .config import Settings
from .errors import MissionsError

__all__ = [
    "Tools",
    "select_operations",
    "to_tool",
    "instructions",
    "structured_result",
    "error_result",
    "model_facing_bytes",
    "REPORTING",
    "BUDGET_ALL",
    "BUDGET_CORE",
]

logger = logging.getLogger(__name__)

AfterCall = Callable[[Operation, BaseModel, ApiResult], Awaitable[None]]
LogToClient = Callable[[ServerRequestContext[Any], Any, str], Awaitable[None]]
"""``(ctx, level, message)``: a ``notifications/message`` to the client, if its level lets it through."""

REPORTING = """\
Track multi-step work as missions and runs, and report your own progress so a person can follow it:
1. find your mission with list_missions, or create it once with create_mission;
2. start_run, then update_run with status running (a run starts pending);
3. write the plan with create_plan: step_id s1, s2, ..., sequence 1, 2, 3, ...;
4. for each step: update_plan_step in_progress; log_event for tool calls, results, messages and errors,
   with its step_id; then update_plan_step completed, skipped or failed;
5. finish with update_run: status succeeded + result_summary, or failed + error.
A write answers a receipt (the new id, the status it left); get_run, get_plan and the other get_* tools
return whole objects. A write whose answer never came: repeat it with the same idempotency_key."""
"""What the server teaches a model when every tool it names is enabled: each step works as written."""

BUDGET_ALL = 13_000
"""Most bytes the model reads of all tools on every conversation (see :func:`model_facing_bytes`)."""
BUDGET_CORE = 5_000
"""Most bytes of the self-reporting core (the catalogue's ``core`` operations)."""

_READERS = ("list_missions", "list_recent_runs", "list_runs", "get_run", "get_plan", "list_events")


def instructions(operations: Iterable[Operation]) -> str:
    """The ``initialize`` instructions, naming only tools this server offers.

    A server without the write tools (``--read-only``, a tool filter) must not teach a flow the
    model cannot follow: it says what there is to read instead.
    """
    enabled = {op.name for op in operations}
    if tool_names_in(REPORTING) <= enabled:
        return REPORTING
    readers = [name for name in _READERS if name in enabled]
    tools = f" with {', '.join(readers)}" if readers else ""
    return (
        f"Follow the multi-step work agents report as missions, runs, plans and events{tools}. "
        "The missions:// resources show each run, its plan and its event timeline."
    )


def select_operations(settings: Settings) -> tuple[Operation, ...]:
    """The operations this server offers, in catalogue order.

    ``toolsets`` (default: all) and ``tools`` add, ``exclude_tools`` removes, and ``read_only``
    keeps only GET operations whatever else was asked. Unknown names raise ``ValueError``
    listing the valid ones.
    """
    unknown_sets = sorted(set(settings.toolsets) - set(TOOLSETS) - {"all"})
    if unknown_sets:
        raise ValueError(f"unknown toolset(s): {', '.join(unknown_sets)}. Valid toolsets: {', '.join(TOOLSETS)}, all")
    unknown_tools = sorted((set(settings.tools) | set(settings.exclude_tools)) - set(BY_NAME))
    if unknown_tools:
        raise ValueError(f"unknown tool(s): {', '.join(unknown_tools)}. Valid tools: {', '.join(BY_NAME)}")
    if not settings.toolsets and not settings.tools:
        chosen = set(TOOLSETS)
    else:
        chosen = set(TOOLSETS) if "all" in settings.toolsets else set(settings.toolsets)
    return tuple(
        op
        for op in OPERATIONS
        if (op.toolset in chosen or op.name in settings.tools)
        and op.name not in settings.exclude_tools
        and (op.read_only or not settings.read_only)
    )


def to_tool(op: Operation, *, open_world: bool) -> types.Tool:
    return types.Tool(
        name=op.name,
        title=op.title,
        description=op.description,
        input_schema=op.input_schema,
        output_schema=op.output_schema,
        annotations=types.ToolAnnotations(
            read_only_hint=op.read_only,
            destructive_hint=op.is_destructive,
            idempotent_hint=op.is_idempotent,
            open_world_hint=open_world,
        ),
    )


def model_facing_bytes(tool: types.Tool) -> int:
    """What a model reads of a tool on every conversation: its compact name, description and input schema."""
    seen = {"name": tool.name, "description": tool.description, "inputSchema": tool.input_schema}
    return len(json.dumps(seen, separators=(",", ":")))


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def structured_result(op: Operation, result: ApiResult, what: str) -> dict[str, Any]:
    """The ``structuredContent`` of a successful call, matching the tool's ``outputSchema``.

    The one place a call's answer is shaped for the model.
    """
    if op.result is None:
        verb = "Unlinked" if op.name.startswith("unlink") else "Deleted"
        return Confirmation(ok=True, message=f"{verb} {what}.").model_dump()
    body = result.data if isinstance(result.data, dict) else {"data": result.data}
    answer = lean_answer(body, op.answer_fields)
    problems = answer_problems(op, answer)
    if problems:
        logger.warning("%s: the API's answer does not fit the tool's outputSchema: %s", op.name, "; ".join(problems))
        after = "" if op.read_only else " The change may have been made: read it back before repeating the call."
        raise MissionsError(
            f"The Missions API answered {op.name} with a shape this server cannot pass on ({'; '.join(problems)})."
            + after
        )
    return answer


def lean_answer(body: dict[str, Any], keep: tuple[str, ...] | None) -> dict[str, Any]:
    """An answer as the model reads it: ``null`` fields of the objects in ``data`` left out (absent says
    the same in no bytes); a write's receipt when ``keep`` names its fields: those fields of the object,
    at the top level, or of each item of a list, under ``data``."""
    data = body.get("data")

    def lean(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        if keep is None:
            return {k: v for k, v in item.items() if v is not None}
        return {k: item[k] for k in keep if item.get(k) is not None}

    if isinstance(data, list):
        items = [lean(item) for item in data]
        return {"data": items} if keep is not None else {**body, "data": items}
    if isinstance(data, dict):
        return lean(data) if keep is not None else {**body, "data": lean(data)}
    return body


def answer_problems(op: Operation, structured: dict[str, Any]) -> list[str]:
    """Where ``structured`` breaks the tool's ``outputSchema`` (at most three places), as a client would see it."""
    validator = _validators.get(op.name)
    if validator is None:
        from jsonschema import Draft202012Validator  # imported on the first answer: start-up stays quick

        validator = _validators[op.name] = Draft202012Validator(op.output_schema)
    found = sorted(validator.iter_errors(structured), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{_json_path(e.absolute_path)}: {e.message[:120]}" for e in found[:3]]


_validators: dict[str, Any] = {}


def _json_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the answer"


class Tools:
    """The tools of one server: the enabled operations, listed and called."""

    def __init__(
        self,
        client: MissionsClient,
        operations: tuple[Operation, ...],
        *,
        open_world: bool,
        after_call: AfterCall | None = None,
        log: LogToClient | None = None,
    ):
        self.client = client
        self.operations = operations
        self._by_name = {op.name: op for op in operations}
        self.listed = [to_tool(op, open_world=open_world) for op in operations]
        self._after_call = after_call
        self._log = log

    async def list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.listed)

    async def call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        op = self._by_name.get(params.name)
        if op is None:
            return error_result(self.unknown_tool(params.name))
        try:
            parsed = parse_call(op, params.arguments)
            args = parsed.args
            result = await self.client.call(op, args, idempotency_key=parsed.idempotency_key)
            structured = structured_result(op, result, describe_target(op, args))
        except MissionsError as exc:
            logger.info("%s failed: %s", op.name, type(exc).__name__)
            if self._log is not None:
                await self._log(ctx, "warning", f"{op.name} failed: {exc}")
            return error_result(str(exc))
        if self._after_call is not None:
            await self._after_call(op, args, result)
        if self._log is not None:
            target = describe_target(op, args)
            await self._log(
                ctx,
                "debug" if op.read_only else "info",
                f"{op.name} done" if target == op.name else f"{op.name} done: {target}",
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_dump(structured))], structured_content=structured
        )

    def unknown_tool(self, name: str) -> str:
        if name in BY_NAME:
            return (
                f"The tool '{name}' is not enabled on this server (read-only mode or a tool filter). "
                "Ask the user to enable it."
            )
        meant = [tool for tool in by_meaning(name) if tool in self._by_name]
        close = [tool for tool in difflib.get_close_matches(name, list(self._by_name), n=3) if tool not in meant]
        hint = f" Did you mean: {', '.join([*meant, *close][:3])}?" if meant or close else ""
        return f"Unknown tool '{name}'.{hint} tools/list shows the tools this server offers."


# What a model calls a tool when it guesses the name: its words, mapped onto the catalogue's.
_NOUNS = {
    "step": "plan_step",
    "task": "plan_step",
    "todo": "plan_step",
    "run": "run",
    "job": "run",
    "session": "run",
    "plan": "plan",
    "steps": "plan_steps",
    "event": "event",
    "log": "event",
    "note": "event",
    "message": "event",
    "mission": "mission",
    "project": "mission",
    "agent": "agent",
    "missions": "missions",
    "runs": "runs",
    "events": "events",
}
_VERBS = {
    "finish": "update",
    "complete": "update",
    "end": "update",
    "close": "update",
    "done": "update",
    "mark": "update",
    "set": "update",
    "fail": "update",
    "succeed": "update",
    "stop": "update",
    "change": "update",
    "edit": "update",
    "update": "update",
    "create": "create",
    "new": "create",
    "make": "create",
    "add": "add",
    "append": "add",
    "begin": "start",
    "start": "start",
    "launch": "start",
    "open": "start",
    "log": "log",
    "record": "log",
    "report": "log",
    "write": "log",
    "get": "get",
    "show": "get",
    "read": "get",
    "fetch": "get",
    "view": "get",
    "list": "list",
    "find": "list",
    "search": "list",
}


def by_meaning(name: str) -> list[str]:
    """Catalogue tools a guessed name means (``finish_run`` → ``update_run``, ``log`` → ``log_event``)."""
    words = [w for w in name.lower().replace("-", "_").split("_") if w]
    verb = next((_VERBS[w] for w in words if w in _VERBS and not (w == "log" and len(words) == 1)), "")
    noun = next((_NOUNS[w] for w in reversed(words) if w in _NOUNS and (w != "log" or len(words) == 1)), "")
    if noun in ("event", "events") and verb in ("", "create", "add", "log", "update"):
        verb, noun = "log", "event"
    if verb == "create" and noun == "run":  # a run is started, not created
        verb = "start"
    if verb == "update" and noun == "plan":
        noun = "plan_step"
    if verb in ("add", "create") and noun in ("plan_step", "plan_steps"):
        verb, noun = "add", "plan_steps"
    if verb == "get" and noun == "plan_steps":
        noun = "plan"
    if verb == "list" and not noun.endswith("s"):
        noun += "s"
    if not verb:
        return [op.name for op in OPERATIONS if noun and op.name.endswith("_" + noun)]
    return [tool for tool in (f"{verb}_{noun}", f"{verb}_{noun}s") if tool in BY_NAME]
