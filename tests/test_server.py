"""The build point: one ``Server(...)`` with every capability, instructions from the enabled tools,
and a module graph where nothing below the build point imports anything above it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from missions_mcp.catalogue import BY_NAME, tool_names_in
from missions_mcp.config import Settings
from missions_mcp.server import MissionsServer, build_server

from support import Client

pytestmark = pytest.mark.anyio

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "missions_mcp"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("config", "errors", "models", "render", "schema"),
    ("params",),
    ("catalogue",),
    ("client",),
    ("resources", "tools"),
    ("completions", "subscriptions", "prompts"),
    ("server",),
    ("cli",),
    ("__main__",),
)
"""Each module may import only modules of lower layers. The package's ``__init__`` (``__version__``, the
public surface, imported lazily) and ``local`` (the embedded API, which the client serves in process)
are left out: the first stands above all, the second is checked on its own."""


def _imports(path: Path, level: int = 1) -> set[str]:
    """The package modules ``path`` imports (``from . import x``, ``from .x import y``), lazy imports too."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == level:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(alias.name for alias in node.names)
    return out


def test_no_module_imports_one_above_it() -> None:
    layer = {name: i for i, names in enumerate(LAYERS) for name in names}
    assert {p.stem for p in PACKAGE.glob("*.py")} >= set(layer)
    for name in layer:
        for imported in _imports(PACKAGE / f"{name}.py") & set(layer):
            assert layer[imported] < layer[name], f"{name} imports {imported}, which is not below it"
    for path in (PACKAGE / "local").glob("*.py"):
        above = {m for m in _imports(path, level=2) if m in layer and layer[m] > layer["catalogue"]}
        assert not above, f"local/{path.name} imports {above}"


def _settings(tmp_path: Any, **overrides: Any) -> Settings:
    return Settings(backend="local", db_path=tmp_path / "m.db", **overrides)


async def test_one_constructor_gives_every_capability(tmp_path: Any, mode: str) -> None:
    missions = MissionsServer(_settings(tmp_path))
    try:
        async with Client(missions.server, mode=mode) as client:
            caps = client.server_capabilities
            templates = (await client.list_resource_templates()).resource_templates
            prompts = (await client.list_prompts()).prompts
    finally:
        await missions.aclose()
    assert caps.tools and caps.resources and caps.prompts and caps.completions
    assert templates and {p.name for p in prompts} == {"track_work", "review_run"}


@pytest.mark.parametrize(
    "filters",
    [
        {"read_only": True},
        {"toolsets": ("runs", "plan")},
        {"exclude_tools": ("log_event",)},
        {"tools": ("get_run", "get_plan")},
    ],
)
async def test_instructions_name_only_enabled_tools(tmp_path: Any, mode: str, filters: dict[str, Any]) -> None:
    missions = build_server(_settings(tmp_path, **filters))
    try:
        async with Client(missions.server, mode=mode) as client:
            text = client.instructions or ""
            enabled = {t.name for t in (await client.list_tools()).tools}
    finally:
        await missions.aclose()
    assert text, "a filtered server still says what it is for"
    named = tool_names_in(text)
    assert named <= enabled, f"instructions name tools this server does not offer: {sorted(named - enabled)}"
    if filters.get("read_only"):
        assert not {n for n in named if not BY_NAME[n].read_only}
        assert "missions://" in text


async def test_full_server_teaches_the_reporting_flow(tmp_path: Any, mode: str) -> None:
    missions = build_server(_settings(tmp_path))
    try:
        async with Client(missions.server, mode=mode) as client:
            text = client.instructions or ""
    finally:
        await missions.aclose()
    assert {"start_run", "create_plan", "update_plan_step", "log_event", "update_run"} <= tool_names_in(text)
