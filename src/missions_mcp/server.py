"""The MCP server, built from the catalogue: one tool per operation of the Missions API."""

from __future__ import annotations

import difflib
import json
import logging
from typing import Any

import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from pydantic import ValidationError

from . import __version__
from .catalogue import BY_NAME, OPERATIONS, TOOLSETS, Confirmation, Operation
from .client import ApiResult, MissionsClient, describe_target, parse_arguments
from .config import Settings
from .errors import MissionsError

__all__ = ["MissionsServer", "build_server", "select_operations", "to_tool", "INSTRUCTIONS"]

logger = logging.getLogger(__name__)

INSTRUCTIONS = """\
Track multi-step work as missions and runs, and report your own progress so a person can follow it:
find or create a mission (list_missions, create_mission), start_run, write the plan (create_plan),
set each step in_progress then completed/skipped/failed (update_plan_step), log tool calls, results,
messages and errors (log_event), and finish with update_run: succeeded + result_summary, or failed + error."""


def select_operations(settings: Settings) -> tuple[Operation, ...]:
    """The operations this server offers, in catalogue order.

    ``toolsets`` (default: all) and ``tools`` add, ``exclude_tools`` removes, and ``read_only``
    keeps only GET operations whatever else was asked. Unknown names raise ``ValueError``
    listing the valid ones.
    """
    names = {op.name for op in OPERATIONS}
    unknown_sets = sorted(set(settings.toolsets) - set(TOOLSETS) - {"all"})
    if unknown_sets:
        raise ValueError(f"unknown toolset(s): {', '.join(unknown_sets)}. Valid toolsets: {', '.join(TOOLSETS)}, all")
    unknown_tools = sorted((set(settings.tools) | set(settings.exclude_tools)) - names)
    if unknown_tools:
        raise ValueError(
            f"unknown tool(s): {', '.join(unknown_tools)}. Valid tools: {', '.join(op.name for op in OPERATIONS)}"
        )
    if not settings.toolsets and not settings.tools:
        chosen = set(TOOLSETS)
    else:
        chosen = set(TOOLSETS) if "all" in settings.toolsets else set(settings.toolsets)
    selected = tuple(
        op
        for op in OPERATIONS
        if (op.toolset in chosen or op.name in settings.tools)
        and op.name not in settings.exclude_tools
        and (op.read_only or not settings.read_only)
    )
    return selected


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


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=message)], is_error=True)


def structured_result(op: Operation, result: ApiResult, what: str) -> dict[str, Any]:
    """The ``structuredContent`` of a successful call, matching the tool's ``outputSchema``."""
    if op.result is None:
        verb = "Unlinked" if op.name.startswith("unlink") else "Deleted"
        return Confirmation(ok=True, message=f"{verb} {what}.").model_dump()
    data = result.data
    if not isinstance(data, dict):
        return {"data": data}
    try:
        op.result.model_validate(data)
    except ValidationError as exc:
        logger.warning("%s: the API's answer does not match %s (%d problems); passed on as it is",
                       op.name, op.result.__name__, exc.error_count())
    return data


class MissionsServer:
    """The MCP server, its HTTP client and the operations it offers."""

    def __init__(self, settings: Settings, *, client: MissionsClient | None = None):
        self.settings = settings
        self.client = client or MissionsClient(settings)
        self.operations = select_operations(settings)
        self._by_name = {op.name: op for op in self.operations}
        open_world = settings.resolved_backend == "remote"
        self.tools = [to_tool(op, open_world=open_world) for op in self.operations]
        self.server: Server[Any] = Server(
            "missions-mcp",
            version=__version__,
            title="Missions",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=self.tools)

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        op = self._by_name.get(params.name)
        if op is None:
            return error_result(self._unknown_tool(params.name))
        try:
            args = parse_arguments(op, params.arguments)
            result = await self.client.call(op, args)
            structured = structured_result(op, result, describe_target(op, args))
        except MissionsError as exc:
            logger.info("%s failed: %s", op.name, type(exc).__name__)
            return error_result(str(exc))
        await self.after_call(op, args, result)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_dump(structured))], structured_content=structured
        )

    async def after_call(self, op: Operation, args: Any, result: ApiResult) -> None:
        """Hook run after a successful call (views use it to notify subscribers)."""

    def _unknown_tool(self, name: str) -> str:
        offered = [op.name for op in self.operations]
        close = difflib.get_close_matches(name, offered, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        if name in BY_NAME:
            return (f"The tool '{name}' is not enabled on this server (read-only mode or a tool filter). "
                    "Ask the user to enable it.")
        return f"Unknown tool '{name}'.{hint} tools/list shows the tools this server offers."

    async def aclose(self) -> None:
        await self.client.aclose()


def build_server(settings: Settings | None = None, *, client: MissionsClient | None = None) -> MissionsServer:
    """A ready server with tools, resources, prompts and completions; ``settings`` default to the environment."""
    from .views import register_views

    missions = MissionsServer(settings or Settings.from_env(), client=client)
    register_views(missions)
    return missions
