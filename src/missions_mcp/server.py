"""The build point: every capability of the MCP server assembled into one ``Server(...)``.

Read top to bottom to see where a request goes::

    tools/list, tools/call                  → tools.Tools          (catalogue → client → API)
    resources/list, templates/list, read    → resources.Resources   (API → render)
    resources/(un)subscribe, listen         → subscriptions.Subscriptions (told by tools after each write)
    completion/complete                     → completions.Completions
    prompts/list, prompts/get               → prompts.Prompts       (embeds resources' views)
    lifespan                                → subscriptions' watcher
    logging/setLevel                        → client_log.ClientLog (tools log each call to the client)

This is the only module that imports the capability modules; none of them imports it.
"""

from __future__ import annotations

from typing import Any

from mcp.server import Server

from . import __version__
from .client import MissionsClient
from .client_log import ClientLog
from .completions import Completions
from .config import Settings
from .prompts import Prompts
from .resources import Resources
from .subscriptions import Subscriptions
from .tools import Tools, instructions, select_operations, to_tool

__all__ = ["MissionsServer", "build_server", "select_operations", "to_tool"]


class MissionsServer:
    """The MCP server (``.server``), its HTTP client and its capabilities, all built at construction."""

    def __init__(self, settings: Settings, *, client: MissionsClient | None = None):
        self.settings = settings
        self.client = client or MissionsClient(settings)
        self.operations = select_operations(settings)
        in_process = settings.resolved_backend == "local"
        self.subscriptions = Subscriptions(
            self.client,
            watch_interval=settings.watch_interval,
            change_marker=self.client.change_marker if in_process else None,
        )
        self.client_log = ClientLog()
        self.tools = Tools(
            self.client,
            self.operations,
            open_world=settings.resolved_backend == "remote",
            after_call=self.subscriptions.after_call,
            log=self.client_log.log,
        )
        self.resources = Resources(self.client)
        self.completions = Completions(self.client)
        self.prompts = Prompts(self.resources, (op.name for op in self.operations))
        self.server: Server[Any] = Server(
            "missions-mcp",
            version=__version__,
            title="Missions",
            instructions=instructions(self.operations),
            lifespan=self.subscriptions.lifespan,
            on_list_tools=self.tools.list_tools,
            on_call_tool=self.tools.call_tool,
            on_list_resources=self.resources.list_resources,
            on_list_resource_templates=self.resources.list_templates,
            on_read_resource=self.resources.read_resource,
            on_subscribe_resource=self.subscriptions.subscribe,
            on_unsubscribe_resource=self.subscriptions.unsubscribe,
            on_subscriptions_listen=self.subscriptions.listen,
            on_completion=self.completions.complete,
            on_list_prompts=self.prompts.list_prompts,
            on_get_prompt=self.prompts.get_prompt,
            on_set_logging_level=self.client_log.set_level,
        )

    async def aclose(self) -> None:
        await self.client.aclose()


def build_server(settings: Settings | None = None, *, client: MissionsClient | None = None) -> MissionsServer:
    """A ready server with tools, resources, subscriptions, completions and prompts.

    ``settings`` default to the environment; ``client`` to one built from them (tests pass one with
    a recording or fault-injecting transport).
    """
    return MissionsServer(settings or Settings.from_env(), client=client)
