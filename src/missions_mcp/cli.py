"""Command line: ``missions-mcp [serve]`` runs the MCP server, ``missions-mcp api`` the embedded API alone.

stdout belongs to JSON-RPC on stdio: everything this module says goes to stderr through logging.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

import anyio

from . import __version__
from .config import Settings, add_backend_flags, db_flag

__all__ = ["build_parser", "main", "settings_from_args", "waiting_note"]

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
        p.add_argument(
            "--transport",
            choices=["stdio", "sse", "streamable-http"],
            default=None,
            help="MCP transport (default: stdio)",
        )
        p.add_argument("--host", default=None, help="bind address for sse / streamable-http (default 127.0.0.1)")
        p.add_argument("--port", type=int, default=None, help="port for sse / streamable-http (default 8000)")
        add_backend_flags(p, reads=False)
        p.add_argument("--max-retries", type=int, default=None, help="retries of a failed request (default 2)")
        p.add_argument(
            "--toolsets",
            type=_csv,
            default=None,
            help="comma-separated toolsets to offer (default all; env MISSIONS_TOOLSETS)",
        )
        p.add_argument("--tools", type=_csv, default=None, help="comma-separated extra tools (env MISSIONS_TOOLS)")
        p.add_argument(
            "--exclude-tools",
            type=_csv,
            default=None,
            help="comma-separated tools to leave out (env MISSIONS_EXCLUDE_TOOLS)",
        )
        p.add_argument(
            "--read-only",
            action="store_true",
            default=None,
            help="offer only read tools; overrides every other filter (env MISSIONS_READ_ONLY)",
        )
        p.add_argument(
            "--watch-interval",
            type=float,
            default=None,
            help="seconds between polls for changes made elsewhere (0: off)",
        )
        p.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR (default INFO)")
        http_options(p)
        p.add_argument(
            "--public-url",
            default=None,
            help="the MCP endpoint's URL as clients reach it, e.g. https://mcp.example.com/mcp "
            "(env MISSIONS_PUBLIC_URL; default from --host and --port)",
        )
        p.add_argument(
            "--auth-token",
            default=None,
            help="bearer token MCP clients must send over HTTP (prefer env MISSIONS_AUTH_TOKEN: "
            "a flag shows in the process list)",
        )
        p.add_argument(
            "--auth-introspection-url",
            default=None,
            help="check client tokens at this RFC 7662 endpoint (env MISSIONS_AUTH_INTROSPECTION_URL; "
            "client secret in env MISSIONS_AUTH_CLIENT_SECRET)",
        )
        p.add_argument(
            "--auth-issuer",
            default=None,
            help="authorization server that issues client tokens (env MISSIONS_AUTH_ISSUER)",
        )
        p.add_argument(
            "--auth-client-id",
            default=None,
            help="this server's client id at the introspection endpoint (env MISSIONS_AUTH_CLIENT_ID)",
        )
        p.add_argument(
            "--auth-scopes",
            type=_csv,
            default=None,
            help="scopes a client token must carry, comma-separated (env MISSIONS_AUTH_SCOPES)",
        )

    def http_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--allowed-hosts",
            type=_csv,
            default=None,
            help="host names (name or name:port) clients use, besides --host (env MISSIONS_ALLOWED_HOSTS)",
        )
        p.add_argument(
            "--allowed-origins",
            type=_csv,
            default=None,
            help="browser origins allowed besides pages of the allowed hosts (env MISSIONS_ALLOWED_ORIGINS)",
        )

    serve_options(parser)
    serve_options(sub.add_parser("serve", help="run the MCP server (the default command)"))
    from .local import default_db_path

    api = sub.add_parser(
        "api",
        help="serve the embedded Missions API alone over HTTP",
        description="Serve the embedded Missions API (the same REST contract as the hosted API, under / and "
        "/v2) over HTTP, with a live page of its missions and runs at /. Several MCP servers, the "
        "official SDKs and the page can share it: point them at http://HOST:PORT/v2. Defaults: "
        f"http://127.0.0.1:8700, database {default_db_path()}.",
    )
    api.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s: this machine only)")
    api.add_argument("--port", type=int, default=8700, help="port (default %(default)s)")
    api.add_argument(
        "--db",
        type=db_flag,
        default=None,
        help="a SQLite file, or postgresql://user:password@host:port/dbname shared by replicas"
        f" (env MISSIONS_DB; default {default_db_path()})",
    )
    api.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default %(default)s)")
    api.add_argument(
        "--accept-tokens",
        type=_csv,
        default=None,
        help="bearer tokens the API accepts, one tenant each; needed beyond loopback (prefer env MISSIONS_API_TOKENS)",
    )
    http_options(api)
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
        public_url=args.public_url,
        allowed_hosts=args.allowed_hosts,
        allowed_origins=args.allowed_origins,
        auth_token=args.auth_token,
        auth_introspection_url=args.auth_introspection_url,
        auth_issuer=args.auth_issuer,
        auth_client_id=args.auth_client_id,
        auth_scopes=args.auth_scopes,
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
        from .local import db_target, describe_target

        return f"embedded Missions API (in process), database {describe_target(db_target(settings.db_path))}"
    return f"Missions API at {settings.resolved_base_url}"


def waiting_note(settings: Settings) -> str:
    """What a person who typed ``missions-mcp`` in a terminal reads: it waits for an MCP client on stdin."""
    return f"""\
missions-mcp {__version__} is an MCP server: it is waiting for an MCP client to speak JSON-RPC on this
terminal's stdin and stdout, and typing here does nothing useful. An MCP host starts it for you:
  Claude Code:        claude mcp add missions -- missions-mcp
  a host's config:    {{"mcpServers": {{"missions": {{"command": "missions-mcp"}}}}}}
  the MCP Inspector:  npx @modelcontextprotocol/inspector missions-mcp
To look around without a host: missions-mcp api (the Missions API and a live page on
http://127.0.0.1:8700), missions-mcp ui, missions-mcp runs. Now using the {_describe_backend(settings)}.
Press Ctrl-C to stop.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("ui", "runs", "show"):
        from .ui.commands import run_command

        return run_command(args, parser)
    if args.command == "api":
        return _api(parser, args)
    gc.disable()  # no collections while start-up objects are built: serving.serve freezes them, then enables it
    from . import serving

    try:
        settings = settings_from_args(args)
        from .server import select_operations

        select_operations(settings)
        protection = serving.http_protection(settings) if settings.transport != "stdio" else None
    except ValueError as exc:
        gc.enable()
        parser.exit(2, f"missions-mcp: {exc}\n")
    _configure_logging(settings.log_level)
    if settings.transport == "stdio" and sys.stdin.isatty():
        sys.stderr.write(waiting_note(settings))
    logger.info("missions-mcp %s: %s, transport %s", __version__, _describe_backend(settings), settings.transport)
    if settings.resolved_backend == "local" and settings.db_path is not None:
        from .local import StoreUnavailable, check_target

        try:  # the in-process API opens its store on the first call: a database that cannot be used fails now
            check_target(settings.db_path)
        except StoreUnavailable as exc:
            gc.enable()
            parser.exit(2, f"missions-mcp: {exc}\n")
    try:
        anyio.run(serving.serve, settings, protection)
    except KeyboardInterrupt:
        pass
    return 0


def _api(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    import os

    from . import serving
    from .local import StoreUnavailable, db_target

    env = os.environ
    tokens = args.accept_tokens if args.accept_tokens is not None else _csv(env.get("MISSIONS_API_TOKENS", ""))
    hosts = args.allowed_hosts if args.allowed_hosts is not None else _csv(env.get("MISSIONS_ALLOWED_HOSTS", ""))
    origins = (
        args.allowed_origins if args.allowed_origins is not None else _csv(env.get("MISSIONS_ALLOWED_ORIGINS", ""))
    )
    try:
        policy = serving.api_protection(args.host, tokens, hosts, origins)
    except ValueError as exc:
        parser.exit(2, f"missions-mcp api: {exc}\n")
    _configure_logging(args.log_level)
    from .redact import add_secret

    for token in tokens:  # the accepted bearer tokens never reach a log line
        add_secret(token)
    db = db_target(args.db)
    try:
        anyio.run(
            lambda: serving.serve_api(args.host, args.port, db, tokens=tokens, policy=policy, log_level=args.log_level)
        )
    except KeyboardInterrupt:
        pass
    except StoreUnavailable as exc:
        parser.exit(2, f"missions-mcp: {exc}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
