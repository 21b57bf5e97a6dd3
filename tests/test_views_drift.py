"""Views, prompts and completions over an upstream that drifts from the contract: each answers, or
fails with a clear error (never a JSON-RPC error without a code, never a traceback)."""

from __future__ import annotations

import random
import re
import uuid

import httpx2
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import PromptReference, ResourceTemplateReference
from test_output_schema import drift, example

from missions_mcp.catalogue import OPERATIONS, Operation
from missions_mcp.client import MissionsClient
from missions_mcp.config import Settings
from missions_mcp.resources import SHAPE_MESSAGE
from missions_mcp.server import MissionsServer

from support import Client

pytestmark = pytest.mark.anyio

ROUNDS = 12
MID, RID = str(uuid.uuid4()), str(uuid.uuid4())


def _route(op: Operation) -> re.Pattern[str]:
    return re.compile("/v2" + re.sub(r"{\w+}", "[^/]+", op.path) + "$")


ROUTES = sorted(
    ((op, _route(op)) for op in OPERATIONS if op.result is not None and op.read_only),
    key=lambda pair: tuple(s.startswith("{") for s in pair[0].path.split("/")),
)


async def test_views_prompts_and_completions_answer_or_fail_clearly(mode: str) -> None:
    rng = random.Random(mode)
    state = {"drifting": False}

    def upstream(request: httpx2.Request) -> httpx2.Response:
        op = next(op for op, route in ROUTES if route.match(request.url.path))
        raw = op.result.model_json_schema(mode="serialization")  # type: ignore[union-attr]
        answer = example(raw, raw.get("$defs", {}))
        if state["drifting"] and rng.random() < 0.5:
            answer, _ = drift(answer, rng)
        return httpx2.Response(200, json=answer)

    settings = Settings(
        backend="remote",
        api_key="drift-key-5b0f1c9e7d",
        base_url="https://api.example.test/v2",
        max_retries=0,
    )
    server = MissionsServer(settings, client=MissionsClient(settings, transport=httpx2.MockTransport(upstream)))
    base = f"missions://missions/{MID}"
    uris = [
        base,
        f"{base}/runs/{RID}",
        f"{base}/runs/{RID}/plan",
        f"{base}/runs/{RID}/plan.json",
        f"{base}/runs/{RID}/events",
        f"{base}/runs/{RID}/events?page=2",
        "missions://runs/recent",
        "missions://events/recent",
    ]
    failures = 0
    try:
        async with Client(server.server, mode=mode) as client:
            for uri in uris:  # the contract's own answers render
                assert (await client.read_resource(uri)).contents[0].text
            state["drifting"] = True
            for _ in range(ROUNDS):
                for request in (
                    *(lambda uri=uri: client.read_resource(uri) for uri in uris),
                    lambda: client.get_prompt("review_run", {"mission_id": MID, "run_id": RID}),
                    lambda: client.complete(
                        ResourceTemplateReference(uri=base + "/runs/{run_id}"),
                        {"name": "run_id", "value": ""},
                        {"mission_id": MID},
                    ),
                    lambda: client.complete(PromptReference(name="review_run"), {"name": "mission_id", "value": ""}),
                    lambda: client.list_resources(),
                ):
                    try:
                        await request()
                    except MCPError as exc:  # raise_exceptions: anything else would fail the test here
                        assert exc.error.code != 0, exc
                        assert (
                            SHAPE_MESSAGE in str(exc)
                            or "Resource not found" in str(exc)
                            or "Could not read" in str(exc)
                        ), str(exc)
                        failures += 1
    finally:
        await server.aclose()
    assert failures, "some drifts must break a view"
