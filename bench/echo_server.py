"""The floor of an MCP tool call over stdio: a low-level SDK server whose one tool answers at once.

Started by bench_tools.py as a baseline; it shares nothing with missions-mcp but the SDK.
"""

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.stdio import stdio_server

TOOL = types.Tool(name="echo", input_schema={"type": "object"})


async def list_tools(ctx, params):
    return types.ListToolsResult(tools=[TOOL])


async def call_tool(ctx, params):
    data = {"data": dict(params.arguments or {})}
    return types.CallToolResult(content=[types.TextContent(type="text", text="{}")], structured_content=data)


async def main() -> None:
    server = Server("echo", on_list_tools=list_tools, on_call_tool=call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)
