"""Change detection for live views: one small interface, a source per backend.

A :class:`ChangeFeed` holds a version number that moves when the data may have changed. A live
view remembers the version it rendered and calls :meth:`ChangeFeed.wait` for the next one; it then
re-reads and sends only if its data really changed. Sources:

- :class:`DataVersionFeed`, the embedded store: ``PRAGMA data_version`` on a read connection to
  the same SQLite file moves when *any* connection (another process: an MCP server in Claude
  Desktop, ``missions-mcp api``; or this process's own store) commits. A check costs about 10 µs.
- :class:`PollingFeed`, a remote API: ticks every ``interval`` seconds (the views then compare).
- Anything that learns of commits by itself (PostgreSQL ``LISTEN``/``NOTIFY``) calls
  :meth:`ChangeFeed.changed` on a plain :class:`ChangeFeed`.

Nothing polls while nobody waits: the first waiter runs the checks for all of them and hands the
job to another waiter when it leaves, so fifty idle pages cost one check per interval, and none
when no page is open.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import anyio

__all__ = [
    "DATA_VERSION_INTERVAL",
    "REMOTE_INTERVAL",
    "ChangeFeed",
    "DataVersionFeed",
    "MarkerFeed",
    "PollingFeed",
    "feed_for_store",
]

logger = logging.getLogger(__name__)

DATA_VERSION_INTERVAL = 0.2
"""Seconds between ``PRAGMA data_version`` checks while a live view is open (the embedded store)."""
REMOTE_INTERVAL = 2.0
"""Seconds between polls of a remote Missions API while a live view is open (``--poll-interval``);
the same default as :data:`missions_mcp.ui.commands.REMOTE_INTERVAL`."""


class ChangeFeed:
    """A version that moves on change, and a way to wait for it to move.

    The base class checks nothing by itself: a push source calls :meth:`changed`. Subclasses
    that must look for changes implement :meth:`check` and set :attr:`interval`.
    """

    interval: float | None = None

    def __init__(self) -> None:
        self.version = 0
        self._moved: anyio.Event | None = None  # made on the event loop, at the first wait
        self._checking = False

    def changed(self) -> None:
        """Something changed: wake every waiter (safe to call from the event loop only)."""
        self.version += 1
        self._wake()

    def _wake(self) -> None:
        moved, self._moved = self._moved, None
        if moved is not None:
            moved.set()

    def check(self) -> bool:
        """Look once; ``True`` if the data changed since the last look."""
        return False

    def current(self) -> int:
        """The version to render at: taken *before* reading, so a change during the read is not missed."""
        return self.version

    async def wait(self, seen: int) -> int:
        """The current version, once it is not ``seen`` (at once if it already moved)."""
        while self.version == seen:
            if self.interval is None or self._checking:
                if self._moved is None:
                    self._moved = anyio.Event()
                await self._moved.wait()
                continue
            self._checking = True
            try:
                while self.version == seen:
                    await anyio.sleep(self.interval)
                    try:
                        if self.check():
                            self.changed()
                    except Exception:  # a failed look must not end the live views; try again next round
                        logger.exception("change check failed")
            finally:
                self._checking = False
                self._wake()  # if this waiter left (cancelled), another one takes over the checks
        return self.version

    def close(self) -> None:
        pass


class PollingFeed(ChangeFeed):
    """A remote API cannot tell us of changes: every ``interval`` seconds, a view re-reads and compares."""

    def __init__(self, interval: float = REMOTE_INTERVAL):
        super().__init__()
        if interval <= 0:
            raise ValueError("the poll interval must be a positive number of seconds")
        self.interval = interval

    def check(self) -> bool:
        return True


class DataVersionFeed(ChangeFeed):
    """Commits to one SQLite file, by any connection of any process, seen through ``PRAGMA data_version``."""

    def __init__(self, db_path: str | os.PathLike[str], interval: float = DATA_VERSION_INTERVAL):
        super().__init__()
        self.path = Path(db_path)
        self.interval = interval
        self._conn: sqlite3.Connection | None = None
        self._last: int | None = None

    def _read(self) -> int:
        if self._conn is None:
            # Never writes; opened lazily so a page can be served before the file exists.
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        row = self._conn.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    def check(self) -> bool:
        try:
            current = self._read()
        except sqlite3.Error as exc:
            logger.info("data_version of %s not read: %s", self.path, exc)
            self.close()
            return False
        previous, self._last = self._last, current
        return previous is not None and previous != current

    def current(self) -> int:
        if self.check():
            self.changed()
        return self.version

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class MarkerFeed(ChangeFeed):
    """The embedded API's own store, through its ``change_marker()`` (SQLite: ``data_version`` and its
    own commits; another engine: whatever it offers), for the page that ``missions-mcp api`` serves."""

    def __init__(self, store: Any, interval: float = DATA_VERSION_INTERVAL):
        super().__init__()
        self.store = store
        self.interval = interval
        self._last: object = None
        self._seen = False

    def check(self) -> bool:
        current = self.store.change_marker()
        previous, self._last = self._last, current
        changed = self._seen and previous != current
        self._seen = True
        return changed

    def current(self) -> int:
        if self.check():
            self.changed()
        return self.version


def feed_for_store(store: Any) -> ChangeFeed:
    """The feed of an embedded API's store: one the store offers itself (``store.change_feed()``, a
    :class:`ChangeFeed` fed e.g. by PostgreSQL ``LISTEN``), else its ``change_marker()`` polled."""
    own = getattr(store, "change_feed", None)
    if callable(own):
        feed = own()
        if isinstance(feed, ChangeFeed):
            return feed
    return MarkerFeed(store)
