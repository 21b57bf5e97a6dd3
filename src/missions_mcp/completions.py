"""Completions: ``completion/complete`` of mission, run and step ids (resource templates and prompts alike).

The prompts' argument names match the templates' variables, so one function serves both.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import mcp_types as types
from mcp.shared.exceptions import MCPError

from . import render as r
from .client import MissionsClient
from .errors import MissionsError
from .resources import SHAPE_MESSAGE, UNEXPECTED_SHAPE, fetch, fetch_page

__all__ = ["Completions", "MAX_COMPLETIONS"]

logger = logging.getLogger(__name__)

MAX_COMPLETIONS = 100


class Completions:
    def __init__(self, client: MissionsClient):
        self.client = client

    async def complete(self, ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
        given = dict(params.context.arguments or {}) if params.context else {}
        try:
            values = await self.candidates(params.argument.name, params.argument.value, given)
        except MissionsError as exc:
            logger.info("completion of %s failed: %s", params.argument.name, type(exc).__name__)
            values = []
        except UNEXPECTED_SHAPE as exc:
            logger.warning("completion of %s: unexpected answer: %s", params.argument.name, type(exc).__name__)
            message = f"Could not complete {params.argument.name}: {SHAPE_MESSAGE}"
            raise MCPError(types.INTERNAL_ERROR, message) from None
        return types.CompleteResult(
            completion=types.Completion(
                values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS
            )
        )

    async def candidates(self, argument: str, prefix: str, given: Mapping[str, str]) -> list[str]:
        """Completion values, most recent first: ids starting with ``prefix`` (a mission's name also
        completes to its id), narrowed by the ``mission_id``/``run_id`` already given."""
        if argument in ("mission_id", "mission_name"):
            return await self._missions(argument, prefix.lower())
        if argument == "run_id":
            return await self._runs(prefix.lower(), given.get("mission_id"))
        if argument == "step_id" and given.get("mission_id") and given.get("run_id"):
            return await self._steps(prefix, given["mission_id"], given["run_id"])
        return []

    async def _missions(self, argument: str, low: str) -> list[str]:
        missions, _ = await fetch_page(self.client, "list_missions", page_size=1000)
        if argument == "mission_name":
            names = (str(m.get("name", "")) for m in missions)
            return list(dict.fromkeys(n for n in names if n.lower().startswith(low)))
        return [
            str(m["mission_id"])
            for m in missions
            if str(m.get("mission_id", "")).lower().startswith(low) or str(m.get("name", "")).lower().startswith(low)
        ]

    async def _runs(self, low: str, mission_id: str | None) -> list[str]:
        if mission_id:
            runs, _ = await fetch_page(self.client, "list_runs", mission_id=mission_id, page_size=1000)
        else:
            runs, _ = await fetch_page(self.client, "list_recent_runs", page_size=1000)
        return [str(run["run_id"]) for run in runs if str(run.get("run_id", "")).lower().startswith(low)]

    async def _steps(self, prefix: str, mission_id: str, run_id: str) -> list[str]:
        steps = await fetch(self.client, "get_plan", mission_id=mission_id, run_id=run_id)
        in_plan = [step for _, step in r.plan_order(steps)]  # ties (never started): plan order
        ordered = sorted(in_plan, key=lambda s: str(s.get("completed_at") or s.get("started_at") or ""), reverse=True)
        return [str(s["step_id"]) for s in ordered if str(s.get("step_id", "")).startswith(prefix)]
