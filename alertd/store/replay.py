"""What ``alertd what-if`` replays: the entries the feeds listed over a period, read through a read-only connection
(``mode=ro``) that never writes, never checkpoints and takes no lock a writer waits for: safe beside the daemon."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from alertd.domain.knowledge import Statement
from alertd.store import knowledge
from alertd.store.backup import read_only
from alertd.store.codecs import encode_time


class Replay:
    """The store at ``path``, opened read-only; empty when alertd never made one there."""

    def __init__(self, path: Path) -> None:
        self.db: sqlite3.Connection | None = read_only(path) if path.exists() and path.stat().st_size else None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def bodies_since(self, since: datetime) -> dict[str, list[str]]:
        """The stored JSON of every entry last seen at ``since`` or later, listed or delisted since, per feed (in
        the order stored)."""
        result: dict[str, list[str]] = {}
        if self.db is None:
            return result
        rows = self.db.execute(
            "SELECT feed, body FROM observations WHERE last_seen >= ? ORDER BY feed, rowid", (encode_time(since),)
        )
        for feed, body in rows:
            result.setdefault(feed, []).append(body)
        return result

    def knowledge(self, cves: Iterable[str]) -> dict[str, list[Statement]]:
        """What the sources said of these CVEs (:meth:`alertd.store.sqlite.Store.knowledge`)."""
        return {} if self.db is None else knowledge.read(self.db, cves)
