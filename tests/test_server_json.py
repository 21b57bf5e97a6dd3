"""server.json, the MCP Registry's description of this server, against the registry's schema (2025-12-11).

The schema file is the registry's own (``modelcontextprotocol/static``, ``schemas/2025-12-11``), shipped in
tests/ so the check needs no network.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tomllib

import jsonschema

import missions_mcp
from missions_mcp.config import Settings

from support import ROOT

SCHEMA = json.loads((ROOT / "tests" / "server.schema.json").read_text())
SERVER = json.loads((ROOT / "server.json").read_text())
SECRET = {"TELNYX_API_KEY", "MISSIONS_AUTH_TOKEN", "MISSIONS_AUTH_CLIENT_SECRET"}


def test_server_json_is_valid_against_the_registry_schema():
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(SERVER), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert SERVER["$schema"] == SCHEMA["$id"]


def test_server_json_matches_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert SERVER["version"] == missions_mcp.__version__
    for package in SERVER["packages"]:
        assert package["registryType"] == "pypi" and package["identifier"] == project["name"]
        assert package["version"] == missions_mcp.__version__


def test_secrets_are_marked_secret_and_nothing_else_is():
    for package in SERVER["packages"]:
        for variable in package["environmentVariables"]:
            assert variable.get("isSecret", False) == (variable["name"] in SECRET), variable["name"]
    http = next(p for p in SERVER["packages"] if p["transport"]["type"] == "streamable-http")
    assert all(h["isSecret"] for h in http["transport"]["headers"])


def _sample(variable: dict) -> str:
    if variable.get("choices"):
        return variable["choices"][0]
    if variable["name"].endswith(("_URL", "_ISSUER")):
        return "http://127.0.0.1:1/mcp"
    return {"filepath": "/tmp/missions-sample.db", "number": "7", "boolean": "1"}.get(variable.get("format", ""), "x")


def test_every_environment_variable_changes_the_settings():
    plain = dataclasses.asdict(Settings.from_env({}))
    for package in SERVER["packages"]:
        for variable in package["environmentVariables"]:
            changed = dataclasses.asdict(Settings.from_env({variable["name"]: _sample(variable)}))
            assert changed != plain, f"{variable['name']} changes nothing"


def test_readme_carries_the_registry_name_and_the_uvx_line():
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"<!-- mcp-name: {re.escape(SERVER['name'])} -->", readme)
    assert "uvx missions-mcp" in readme
