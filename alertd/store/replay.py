"""What ``alertd what-if`` replays: the entries the feeds list now, read through a read-only connection
(``mode=ro``) that never writes, never checkpoints and takes no lock a writer waits for: safe beside the daemon."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from alertd.domain.knowledge import Statement
from alertd.domain.values import FindingState
from alertd.store import knowledge, scope
from alertd.store.backup import read_only
from alertd.store.codecs import decode_time, encode_time
from alertd.store.records import finding_states


class Replay:
    """The store at ``path``, opened read-only; empty when alertd never made one there."""

    def __init__(self, path: Path) -> None:
        self.db: sqlite3.Connection | None = read_only(path) if path.exists() and path.stat().st_size else None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def listed_bodies(self, first_seen_since: datetime | None = None) -> dict[str, list[str]]:
        """The stored JSON of every entry the feeds list now — what a reload matches again — per feed, in the order
        stored; with ``first_seen_since``, only those first seen then or later. Not by ``last_seen``: a poll
        answered "not modified" matches its entries again without refreshing it."""
        result: dict[str, list[str]] = {}
        if self.db is None:
            return result
        query = "SELECT feed, body FROM observations WHERE delisted_at IS NULL"
        if first_seen_since is None:
            rows = self.db.execute(query + " ORDER BY feed, rowid")
        else:
            rows = self.db.execute(
                query + " AND first_seen >= ? ORDER BY feed, rowid", (encode_time(first_seen_since),)
            )
        for feed, body in rows:
            result.setdefault(feed, []).append(body)
        return result

    def knowledge(self, cves: Iterable[str]) -> dict[str, list[Statement]]:
        """What the sources said of these CVEs (:meth:`alertd.store.sqlite.Store.knowledge`)."""
        return {} if self.db is None else knowledge.read(self.db, cves)

    def finding_states(self, keys: Iterable[str]) -> dict[str, FindingState]:
        """What the store remembers of these findings, as the poll reads it (:func:`records.finding_states`)."""
        return {} if self.db is None else finding_states(self.db, keys)

    def previous_polls(self) -> dict[str, datetime | None]:
        """Each feed's last successful poll: what the reload's re-match judges first contact from."""
        if self.db is None:
            return {}
        return {feed: decode_time(last) for feed, last in self.db.execute("SELECT feed, last_success FROM feed_state")}

    def scope_since(self, keys: Iterable[str]) -> dict[str, datetime]:
        """When each of these scope keys was first noted (absent: the reload notes it, first contact)."""
        return {} if self.db is None else scope.since(self.db, keys)

    def queued_inventory(self, keys: Iterable[str]) -> frozenset[str]:
        """Those of these findings whose alert waits in an inventory."""
        return frozenset() if self.db is None else scope.queued_inventory(self.db, keys)
