"""Helpers shared by the test modules (importable as ``support``: tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = ROOT / "src" / "missions_mcp" / "openapi.yaml"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
