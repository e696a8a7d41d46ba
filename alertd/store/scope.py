"""What the store keeps for first contact and for the bulletins' references (schema version 3).

The *scope* notes when each establishment, asset and subscription of the configuration was first seen
(:func:`alertd.policy.backlog.scope_keys`): one added after a feed's previous poll meets that feed for the first
time, and what it finds there that is old is backlog. The *references* are counters, one per series (``ALE`` for
news, ``INV`` for inventories) and year, each number handed out once: a number allocated for an email that then
failed to render is a gap, never reused.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from alertd.store.codecs import encode_time

SCOPE = """
CREATE TABLE IF NOT EXISTS scope (
    key TEXT PRIMARY KEY,  -- est:<id>, asset:<id>:<asset>, sub:<name>
    since TEXT NOT NULL  -- when a poll first saw it in the configuration
);
CREATE TABLE IF NOT EXISTS refs (
    series TEXT NOT NULL, year INTEGER NOT NULL,
    last INTEGER NOT NULL,  -- the last number handed out
    PRIMARY KEY (series, year)
);
"""

#: The meta key of the time an upgraded database's first scope is noted with (see :func:`seed_upgrade`).
SEED_KEY = "scope_seed"
#: The meta key of what the scope was last noted for (registry files, subscriptions, alertd's code, hashed): a
#: start with the same has nothing to note.
NOTED_KEY = "scope_noted"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def seed_upgrade(db: sqlite3.Connection) -> None:
    """On an upgrade from schema 2: a database that has polled notes its first scope as known since ever, so the
    upgrade does not turn the next poll into backlog (the establishments were met before the scope was kept)."""
    if db.execute("SELECT 1 FROM feed_state WHERE last_success IS NOT NULL LIMIT 1").fetchone() is not None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (SEED_KEY, encode_time(EPOCH)))


def note(db: sqlite3.Connection, keys: Iterable[str], now: datetime) -> int:
    """Note the scope keys not noted yet, since ``now`` (since the epoch for an upgraded database's first
    noting), in the caller's transaction; returns how many were new."""
    seed = db.execute("SELECT value FROM meta WHERE key = ?", (SEED_KEY,)).fetchone()
    stamp = str(seed[0]) if seed is not None else encode_time(now)
    before = db.total_changes
    # One statement over a JSON array, in key order: SQLite walks the primary key's b-tree forward instead of at
    # random, and no row is bound from Python (a first start's 1.4 million keys: 2 s of CPU instead of 10).
    db.execute("INSERT OR IGNORE INTO scope SELECT value, ? FROM json_each(?)", (stamp, json.dumps(sorted(keys))))
    added = db.total_changes - before
    if seed is not None:
        db.execute("DELETE FROM meta WHERE key = ?", (SEED_KEY,))
    return added


def since(db: sqlite3.Connection, keys: Iterable[str] | None = None) -> dict[str, datetime]:
    """When each scope key (or each of ``keys``) was first noted."""
    if keys is None:
        rows = db.execute("SELECT key, since FROM scope")
    else:
        rows = db.execute(
            "SELECT key, since FROM scope WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(list(keys)),)
        )
    # The keys of one configuration share one time: each distinct time parsed once (1.5 million keys at national
    # scale, a second of parsing otherwise).
    times: dict[str, datetime] = {}
    found: dict[str, datetime] = {}
    for key, stamp in rows:
        when = times.get(stamp)
        if when is None:
            when = times[stamp] = datetime.fromisoformat(stamp)
        found[key] = when
    return found


def next_number(db: sqlite3.Connection, series: str, year: int, count: int = 1) -> int:
    """The next number of a reference series for a year, in the caller's transaction (one of its own); with
    ``count``, the first of that many numbers in a row, all taken."""
    row = db.execute(
        "INSERT INTO refs VALUES (?, ?, ?) ON CONFLICT (series, year) DO UPDATE SET last = last + ? RETURNING last",
        (series, year, count, count),
    ).fetchone()
    return int(row[0]) - count + 1


def queued_inventory(db: sqlite3.Connection, keys: Iterable[str]) -> frozenset[str]:
    """Those of these findings whose alert waits in an inventory."""
    rows = db.execute(
        "SELECT DISTINCT finding FROM alerts WHERE delivery IS NULL AND inventory = 1 "
        "AND finding IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted(keys)),),
    )
    return frozenset(row[0] for row in rows)


def inventories_waiting(db: sqlite3.Connection) -> dict[str, datetime]:
    """The establishments with an inventory waiting, each with when its newest inventory alert was queued."""
    rows = db.execute(
        "SELECT establishment, MAX(created) FROM alerts WHERE delivery IS NULL AND inventory = 1 "
        "GROUP BY establishment ORDER BY establishment"
    )
    return {est: datetime.fromisoformat(newest) for est, newest in rows}
