"""Where the embedded API keeps its database unless told otherwise."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from missions_mcp.local import default_db_path


def test_missions_db_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("MISSIONS_DB", str(tmp_path / "elsewhere.db"))
    assert default_db_path() == tmp_path / "elsewhere.db"


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="the XDG rule is the Linux/Unix one")
def test_xdg_data_home_then_local_share(monkeypatch, tmp_path):
    monkeypatch.delenv("MISSIONS_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db_path() == tmp_path / "missions-mcp" / "missions.db"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / ".local" / "share" / "missions-mcp" / "missions.db"


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("darwin", {}, Path("Library") / "Application Support" / "missions-mcp" / "missions.db"),
        ("win32", {"LOCALAPPDATA": "LAD"}, None),
    ],
)
def test_other_platforms(monkeypatch, tmp_path, platform, env, expected):
    monkeypatch.delenv("MISSIONS_DB", raising=False)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    got = default_db_path()
    if expected is None:
        assert got == tmp_path / "LAD" / "missions-mcp" / "missions.db"
    else:
        assert got == tmp_path / expected
