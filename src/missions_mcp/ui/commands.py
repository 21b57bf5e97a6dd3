"""The ``ui``, ``runs`` and ``show`` commands: their options and how they run (``cli.py`` only wires them).

They read whichever Missions API the MCP server would use, chosen the same way: the embedded
database file by default, ``--base-url`` (a shared ``missions-mcp api``), or the hosted API when
``TELNYX_API_KEY`` is set.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Settings, add_backend_flags
from ..redact import quiet_third_party_loggers

# Imported by `missions-mcp --help` and by the MCP server's start: what the commands need is
# imported when they run.
if TYPE_CHECKING:
    from .feed import ChangeFeed

__all__ = ["COMMANDS", "Backend", "add_commands", "attach", "open_backend", "run_command"]

logger = logging.getLogger("missions_mcp")

COMMANDS = ("ui", "runs", "show")
UI_PORT = 8701
RUN_STATUSES = ("pending", "running", "paused", "succeeded", "failed", "cancelled")


REMOTE_INTERVAL = 2.0
"""Seconds between looks for changes on a remote Missions API (``--poll-interval``)."""


def _backend_options(p: argparse.ArgumentParser) -> None:
    add_backend_flags(p, reads=True)
    p.add_argument(
        "--poll-interval",
        type=float,
        default=REMOTE_INTERVAL,
        help=f"seconds between looks for changes on a remote API (default {REMOTE_INTERVAL:g}); "
        "the embedded database is watched for commits instead",
    )


def add_commands(sub: Any) -> None:
    """Add ``ui``, ``runs`` and ``show`` to the ``missions-mcp`` subcommands."""
    ui = sub.add_parser(
        "ui",
        help="serve the live page of missions, runs and plans in the browser",
        description="Serve a live web page of the missions, runs, plans and events of the Missions "
        "API the MCP server would use (the embedded database by default).",
    )
    ui.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    ui.add_argument("--port", type=int, default=UI_PORT, help=f"port (default {UI_PORT})")
    ui.add_argument(
        "--public",
        action="store_true",
        help="allow a --host beyond loopback: the page has no sign-in, so anyone who can reach the "
        "address reads every run (prefer an SSH tunnel)",
    )
    ui.add_argument("--log-level", default="INFO")
    _backend_options(ui)

    runs = sub.add_parser(
        "runs",
        help="list runs as a table, newest first",
        description="List runs of all missions (or one), newest first.",
    )
    runs.add_argument("--status", choices=RUN_STATUSES, default=None, help="only runs in this status")
    runs.add_argument("--mission", default=None, metavar="ID", help="only runs of this mission")
    runs.add_argument("--page", type=int, default=1, help="page, newest first (default 1)")
    runs.add_argument("--page-size", type=int, default=20, help="runs per page (default 20, at most 1000)")
    runs.add_argument("--json", action="store_true", help="print JSON for scripts")
    _backend_options(runs)

    show = sub.add_parser(
        "show",
        help="print a run: its plan checklist and latest events",
        description="Print a run's status, plan checklist and latest events; --follow keeps "
        "printing changes until the run finishes or Ctrl-C.",
    )
    show.add_argument("run_id", metavar="RUN_ID", help="the run's id, or the start of it")
    show.add_argument("--mission", default=None, metavar="ID", help="the run's mission (faster on large stores)")
    show.add_argument("--events", type=int, default=20, help="latest events to print (default 20)")
    show.add_argument("--follow", "-f", action="store_true", help="keep printing changes until the run finishes")
    show.add_argument("--json", action="store_true", help="print JSON (with --follow: one JSON object a line)")
    _backend_options(show)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(backend=args.backend, base_url=args.base_url, db_path=args.db, timeout=args.timeout)


@dataclass
class Backend:
    """What the commands read: the client, the change feed, a description (no secret in it), and
    what to close at the end."""

    client: Any
    feed: ChangeFeed
    where: str
    store: Any = None

    async def aclose(self) -> None:
        self.feed.close()
        await self.client.aclose()
        if self.store is not None:
            self.store.close()


def open_backend(settings: Settings, poll_interval: float = REMOTE_INTERVAL) -> Backend:
    """The Missions API these settings choose, as the MCP server would: on the embedded one the
    store is opened here (a SQLite file or a PostgreSQL URL) so that its change marker tells the
    views of commits by any process; a remote API is polled every ``poll_interval`` seconds."""
    from ..client import MissionsClient
    from .feed import PollingFeed, feed_for_store

    if settings.resolved_backend == "local":
        import httpx2

        from ..local import db_target, describe_target
        from ..local.app import create_app
        from ..local.store import open_store

        target = db_target(settings.db_path)
        store = open_store(target)
        client = MissionsClient(settings, transport=httpx2.ASGITransport(app=create_app(store)))
        return Backend(
            client, feed_for_store(store), f"the embedded Missions API (database {describe_target(target)})", store
        )
    return Backend(
        MissionsClient(settings),
        PollingFeed(poll_interval),
        f"the Missions API at {settings.resolved_base_url} (checked every {poll_interval:g} s)",
    )


def attach(app: Any, store: Any) -> None:
    """Serve the page from a ``missions-mcp api`` app at ``/``, reading the app itself in process."""
    import httpx2

    from ..client import MissionsClient
    from .app import UI
    from .feed import feed_for_store
    from .reads import Reader

    client = MissionsClient(Settings(backend="local"), transport=httpx2.ASGITransport(app=app))
    where = getattr(store, "path", None)
    backend = "this Missions API" + (f" (database {where})" if where else "")
    ui = UI(Reader(client), feed_for_store(store), backend=backend)
    app.router.routes.extend(ui.routes())


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _fail(message: str) -> int:
    sys.stderr.write(f"missions-mcp: {message}\n")
    return 1


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        settings = _settings(args)
        if args.poll_interval <= 0:
            raise ValueError("--poll-interval must be a positive number of seconds")
        if args.command == "ui" and not _loopback(args.host) and not args.public:
            raise ValueError(
                f"--host {args.host} would show every run to anyone who can reach it, and the page "
                "has no sign-in: keep 127.0.0.1 (reach it through an SSH tunnel), or pass --public"
            )
    except ValueError as exc:
        parser.exit(2, f"missions-mcp: {exc}\n")
    import sqlite3

    from ..local import StoreUnavailable

    try:
        backend = open_backend(settings, args.poll_interval)
    except (StoreUnavailable, OSError, sqlite3.Error) as exc:
        parser.exit(2, f"missions-mcp: cannot open the database: {' '.join(str(exc).split())}\n")
    if args.command == "ui":
        return _serve_ui(args, backend)
    import anyio

    try:
        return anyio.run(_terminal, args, backend)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `missions-mcp runs | head`
        return 0


async def _terminal(args: argparse.Namespace, backend: Backend) -> int:
    import anyio

    from ..errors import MissionsError
    from .reads import Reader
    from .terminal import list_runs, show_run

    feed = backend.feed
    try:
        reader = Reader(backend.client)
        if args.command == "runs":
            if not 1 <= args.page_size <= 1000 or args.page < 1:
                return _fail("--page must be at least 1 and --page-size between 1 and 1000")
            await list_runs(
                reader,
                status=args.status,
                mission_id=args.mission,
                page=args.page,
                page_size=args.page_size,
                as_json=args.json,
            )
        else:
            if not 1 <= args.events <= 1000:
                return _fail("--events must be between 1 and 1000")
            await show_run(
                reader,
                feed,
                args.run_id,
                mission_id=args.mission,
                follow=args.follow,
                as_json=args.json,
                events=args.events,
            )
        return 0
    except LookupError as exc:
        return _fail(str(exc.args[0]))
    except MissionsError as exc:
        return _fail(" ".join(str(exc).split()))
    finally:
        with anyio.CancelScope(shield=True):
            await backend.aclose()


def _serve_ui(args: argparse.Namespace, backend: Backend) -> int:
    import uvicorn

    from .app import UI, create_app
    from .reads import Reader

    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_third_party_loggers(args.log_level)
    ui = UI(Reader(backend.client), backend.feed, backend=backend.where)
    hosts = ["127.0.0.1", "localhost", "::1", "[::1]"] if _loopback(args.host) else None
    app = create_app(ui, on_close=backend.aclose, allowed_hosts=hosts)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    logger.info("the page of %s on http://%s:%d/", backend.where, shown, args.port)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level.lower(),
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=2,
    )
    _server(config, ui).run()
    return 0


def _server(config: Any, ui: Any) -> Any:
    import asyncio

    import uvicorn

    class Server(uvicorn.Server):
        """Ends the open live pages' streams at once on Ctrl-C, so the server stops without waiting for them."""

        def handle_exit(self, sig: int, frame: Any) -> None:
            try:
                asyncio.get_running_loop().call_soon_threadsafe(ui.stop_streams)
            except RuntimeError:  # not serving yet
                pass
            super().handle_exit(sig, frame)

    return Server(config)
