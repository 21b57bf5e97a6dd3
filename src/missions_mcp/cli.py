"""Command line: ``missions-mcp [serve]`` runs the MCP server, ``missions-mcp api`` the embedded API alone.

stdout belongs to JSON-RPC on stdio: everything this module says goes to stderr through logging.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from . import __version__
from .config import Settings

__all__ = ["main", "build_parser", "settings_from_args"]

logger = logging.getLogger("missions_mcp")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="missions-mcp",
        description="MCP server for the Telnyx AI Missions API. With no TELNYX_API_KEY it serves the embedded "
        "Missions API on this machine (SQLite); with a key, the hosted API.",
    )
    parser.add_argument("--version", action="version", version=f"missions-mcp {__version__}")
    sub = parser.add_subparsers(dest="command")

    def serve_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default=None,
                       help="MCP transport (default: stdio)")
        p.add_argument("--host", default=None, help="bind address for sse / streamable-http (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=None, help="port for sse / streamable-http (default 8000)")
        backend = p.add_mutually_exclusive_group()
        backend.add_argument("--local", dest="backend", action="store_const", const="local",
                             help="use the embedded Missions API in process, even when TELNYX_API_KEY is set")
        backend.add_argument("--remote", dest="backend", action="store_const", const="remote",
                             help="use the hosted Missions API (needs TELNYX_API_KEY)")
        p.add_argument("--base-url", default=None,
                       help="Missions API base URL (env TELNYX_BASE_URL; default https://api.telnyx.com/v2)")
        p.add_argument("--db", type=Path, default=None, help="database of the embedded API (env MISSIONS_DB)")
        p.add_argument("--timeout", type=float, default=None, help="seconds per HTTP request (default 30)")
        p.add_argument("--max-retries", type=int, default=None, help="retries of a failed request (default 2)")
        p.add_argument("--toolsets", type=_csv, default=None,
                       help="comma-separated toolsets to offer (default all; env MISSIONS_TOOLSETS)")
        p.add_argument("--tools", type=_csv, default=None, help="comma-separated extra tools (env MISSIONS_TOOLS)")
        p.add_argument("--exclude-tools", type=_csv, default=None,
                       help="comma-separated tools to leave out (env MISSIONS_EXCLUDE_TOOLS)")
        p.add_argument("--read-only", action="store_true", default=None,
                       help="offer only read tools; overrides every other filter (env MISSIONS_READ_ONLY)")
        p.add_argument("--watch-interval", type=float, default=None,
                       help="seconds between polls for changes made elsewhere (0: off)")
        p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default INFO)")

    serve_options(parser)
    serve_options(sub.add_parser("serve", help="run the MCP server (the default command)"))
    api = sub.add_parser("api", help="serve the embedded Missions API alone over HTTP")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8700)
    api.add_argument("--db", type=Path, default=None, help="database file (env MISSIONS_DB)")
    api.add_argument("--log-level", default="INFO")
    from .ui.commands import add_commands

    add_commands(sub)
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        transport=args.transport,
        host=args.host,
        port=args.port,
        backend=args.backend,
        base_url=args.base_url,
        db_path=args.db,
        timeout=args.timeout,
        max_retries=args.max_retries,
        toolsets=args.toolsets,
        tools=args.tools,
        exclude_tools=args.exclude_tools,
        read_only=args.read_only,
        watch_interval=args.watch_interval,
        log_level=args.log_level,
    )


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from .redact import install_log_redaction, quiet_third_party_loggers

    install_log_redaction()
    quiet_third_party_loggers(level)


def _describe_backend(settings: Settings) -> str:
    if settings.resolved_backend == "local":
        from .local import default_db_path

        return f"embedded Missions API (in process), database {settings.db_path or default_db_path()}"
    return f"Missions API at {settings.resolved_base_url}"


async def _serve(settings: Settings) -> None:
    from .server import build_server

    missions = build_server(settings)
    # Everything built so far lives as long as the server: keep it out of every later collection (the
    # first full one would otherwise walk ~90,000 start-up objects in the middle of a tools/list).
    gc.freeze()
    gc.enable()
    try:
        if settings.transport == "stdio":
            from mcp.server.stdio import stdio_server

            from .stdio import AnsweringReadStream

            async with stdio_server() as (read_stream, write_stream):
                await missions.server.run(AnsweringReadStream(read_stream, write_stream), write_stream,
                                          missions.server.create_initialization_options())
        else:
            await _serve_http(missions, settings)
    finally:
        await missions.aclose()


async def _serve_http(missions: Any, settings: Settings) -> None:
    import uvicorn

    if settings.transport == "streamable-http":
        app = missions.server.streamable_http_app(host=settings.host)
        where = f"http://{settings.host}:{settings.port}/mcp"
    else:
        app = sse_app(missions.server, host=settings.host)
        where = f"http://{settings.host}:{settings.port}/sse"
    logger.info("MCP over %s at %s", settings.transport, where)
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                            log_config=None)
    await uvicorn.Server(config).serve()


def sse_app(server: Any, *, host: str) -> Any:
    """A Starlette app serving the MCP server over SSE (GET /sse, POST /messages/)."""
    from mcp.server.sse import SseServerTransport
    from mcp.server.transport_security import TransportSecuritySettings
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Mount, Route

    security = None
    if host in ("127.0.0.1", "localhost", "::1"):
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=True,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    sse = SseServerTransport("/messages/", security_settings=security)

    async def handle_sse(request: Request) -> Response:
        async with sse.connect_sse(request.scope, request.receive, request._send) as (read, write):
            await server.run(read, write, server.create_initialization_options())
        return Response()

    return Starlette(routes=[Route("/sse", endpoint=handle_sse, methods=["GET"]),
                             Mount("/messages/", app=sse.handle_post_message)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("ui", "runs", "show"):
        from .ui.commands import run_command

        return run_command(args, parser)
    if args.command == "api":
        _configure_logging(args.log_level)
        from .local import default_db_path, serve

        db = args.db or default_db_path()
        logger.info("embedded Missions API on http://%s:%d, database %s", args.host, args.port, db)
        serve(host=args.host, port=args.port, db_path=db)
        return 0
    gc.disable()  # no collections while start-up objects are built: _serve freezes them, then enables it
    try:
        settings = settings_from_args(args)
        from .server import select_operations

        select_operations(settings)
    except ValueError as exc:
        gc.enable()
        parser.exit(2, f"missions-mcp: {exc}\n")
    _configure_logging(settings.log_level)
    logger.info("missions-mcp %s: %s, transport %s", __version__, _describe_backend(settings), settings.transport)
    try:
        anyio.run(_serve, settings)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
