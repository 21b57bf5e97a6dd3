"""The library's public surface: what ``missions_mcp`` exports, pinned (as httpx2 pins its ``__all__``)."""

from __future__ import annotations

import subprocess
import sys

import missions_mcp
from missions_mcp import errors

PUBLIC = [
    "__version__",
    "build_server",
    "MissionsServer",
    "Settings",
    "MissionsClient",
    "MissionsError",
    "ConfigurationError",
    "ArgumentError",
    "TransportError",
    "APIError",
    "RedirectError",
    "BadRequestError",
    "AuthenticationError",
    "NotFoundError",
    "ConflictError",
    "UnprocessableError",
    "RateLimitError",
    "ServerError",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert missions_mcp.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(missions_mcp, name) is not None, name
    from missions_mcp.client import MissionsClient
    from missions_mcp.server import build_server

    assert missions_mcp.build_server is build_server and missions_mcp.MissionsClient is MissionsClient


def test_every_error_class_is_exported() -> None:
    classes = {name for name in errors.__all__ if isinstance(getattr(errors, name), type)}
    assert classes <= set(PUBLIC)
    assert all(issubclass(getattr(missions_mcp, name), missions_mcp.MissionsError) for name in classes)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        missions_mcp.nope  # noqa: B018
    except AttributeError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("missions_mcp.nope should not exist")


def test_importing_the_package_does_not_load_the_server() -> None:
    code = "import sys, missions_mcp; print('missions_mcp.server' in sys.modules, 'mcp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]
