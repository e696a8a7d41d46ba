"""A poll's big writes (its entries, its findings and alerts), on any connection, and the thread that makes them.

SQLite connections are per thread (Python refuses one used from another), and a poll of a million entries takes
a minute to encode and write: on the event loop, the watchdog and ``/healthz`` would stop answering (issue #13).
So :class:`Writer` keeps a second connection to the same database, opened in and used by one worker thread only;
the loop's own connection keeps reading meanwhile (WAL: a reader never waits for the writer). Entries are encoded
before any lock is taken and written in transactions of :data:`CHUNK` rows, so a write the loop makes meanwhile
(another feed's state, an outbox row) waits for one chunk at most, never for the whole poll. A crash between two
chunks loses nothing: the next poll compares each entry's digest again, and an entry is delisted (its findings
resolved) only in the last transaction, once every entry of the poll is written.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import TypeVar

from alertd.domain.values import Alert, Finding, Observation
from alertd.intake.formats.csvfeed import StoredRows
from alertd.store import knowledge
from alertd.store.codecs import alert_to_json, finding_to_json, observation_to_json, rows_to_json
from alertd.store.records import ObservationDelta

T = TypeVar("T")
CHUNK = 20_000  # rows written per transaction: a fraction of a second of SQLite's time


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT on ``db``, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


#: An entry as stored: its id, the digest of its JSON, the JSON, and what it says of the CVEs it cites. A plain
#: tuple: a big list makes a million, and the collector stops tracking a tuple of strings (it tracks every object
#: of a class, a named tuple's too, and the collections it makes meanwhile took seconds).
Encoded = tuple[str, str, str, tuple[tuple[str, str, str], ...]]


def encode(observations: Sequence[Observation], rows: StoredRows | None = None) -> list[Encoded]:
    """A poll's entries as stored, the first of each id kept (pure: no lock is held while it runs); with ``rows``,
    a bulk list's entries (whose ids are none of the observations'), each stored as its line."""
    out: dict[str, Encoded] = {}
    for obs in observations:
        if obs.entry in out:
            continue
        body = observation_to_json(obs)
        digest = hashlib.sha256(body.encode()).hexdigest()
        out[obs.entry] = (obs.entry, digest, body, tuple(knowledge.statement_rows(obs)))
    encoded = list(out.values())
    if rows is not None:
        # A plain row cites no CVE: no statements. Each step a C loop over the million rows of a big list.
        bodies = rows_to_json(rows.layout, rows.lines)
        digests = map(methodcaller("hexdigest"), map(hashlib.sha256, map(str.encode, bodies)))
        encoded += zip(rows.entries, digests, bodies, repeat(()))
    return encoded


@dataclass(frozen=True, slots=True)
class Plan:
    """What a poll's entries are against those stored: new, changed (another digest), unchanged, and the feed's
    entries stored before (their delisting stamp), read in one step before any is written."""

    new: list[Encoded]
    changed: list[Encoded]
    unchanged: list[Encoded]
    known: dict[str, str | None]  # entry -> delisted_at

    def starts(self, chunk: int) -> range:
        """The offsets of the poll's write steps, ``chunk`` rows of each list per step."""
        return range(0, max(len(self.new), len(self.changed), len(self.unchanged)), chunk)


def plan(db: sqlite3.Connection, feed: str, entries: Sequence[Encoded]) -> Plan:
    """Compare a poll's entries (from :func:`encode`) with the feed's stored ones, each list in the order of the
    table's key: a chunk's rows then land on neighbouring pages of its index, not on a million random ones (a
    million new entries write in a third of the time)."""
    entries = sorted(entries, key=itemgetter(0))
    known = {
        r[0]: (r[1], r[2])
        for r in db.execute("SELECT entry, digest, delisted_at FROM observations WHERE feed = ?", (feed,))
    }
    new = [e for e in entries if e[0] not in known]
    changed = [e for e in entries if e[0] in known and known[e[0]][0] != e[1]]
    unchanged = [e for e in entries if e[0] in known and known[e[0]][0] == e[1]]
    return Plan(new, changed, unchanged, {entry: delisted for entry, (_, delisted) in known.items()})


def write_step(
    db: sqlite3.Connection, feed: str, todo: Plan, start: int, stamp: str, chunk: int = CHUNK
) -> frozenset[str]:
    """One transaction of a poll's writes: ``chunk`` rows of each list from ``start``; the CVEs learnt."""
    end = start + chunk
    with transaction(db):
        db.executemany(
            "INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, NULL)",
            ((feed, entry, digest, body, stamp, stamp) for entry, digest, body, _ in todo.new[start:end]),
        )
        db.executemany(
            "UPDATE observations SET digest = ?, body = ?, last_seen = ?, delisted_at = NULL "
            "WHERE feed = ? AND entry = ?",
            ((digest, body, stamp, feed, entry) for entry, digest, body, _ in todo.changed[start:end]),
        )
        db.executemany(
            "UPDATE observations SET last_seen = ?, delisted_at = NULL WHERE feed = ? AND entry = ?",
            ((stamp, feed, e[0]) for e in todo.unchanged[start:end]),
        )
        # The same text says the same of its CVEs: only new and changed entries' statements are compared.
        rows = [s for e in (*todo.new[start:end], *todo.changed[start:end]) for s in e[3]]
        return knowledge.save(db, feed, rows, stamp)


def delist(db: sqlite3.Connection, feed: str, todo: Plan, stamp: str, *, complete: bool = True) -> int:
    """The last step: entries stored before and absent from the poll are delisted and their findings resolved,
    unless the poll read only part of the feed (``complete`` False: documents of its index failed or were left by
    its deadline, it stopped at ``max_entries``, or it read only what was added since the last poll); how many."""
    if not complete:
        return 0
    present = {e[0] for e in (*todo.new, *todo.changed, *todo.unchanged)}
    gone = [e for e, delisted in todo.known.items() if e not in present and delisted is None]
    with transaction(db):
        db.executemany(
            "UPDATE observations SET delisted_at = ? WHERE feed = ? AND entry = ?", ((stamp, feed, e) for e in gone)
        )
        # What the feed no longer lists is resolved; told to the establishment once, if it was warned.
        db.executemany(
            "UPDATE findings SET resolved_at = ? WHERE feed = ? AND entry = ? AND resolved_at IS NULL",
            ((stamp, feed, e) for e in gone),
        )
    return len(gone)


def save_observations(
    db: sqlite3.Connection,
    feed: str,
    entries: Sequence[Encoded],
    stamp: str,
    chunk: int = CHUNK,
    *,
    complete: bool = True,
) -> ObservationDelta:
    """Record a poll's entries (from :func:`encode`) and what they say of the CVEs they cite, ``chunk`` rows per
    transaction, then :func:`delist` what they no longer list, all in one go (the store's own connection; the
    writer thread takes the same steps one by one, :meth:`Writer.save_observations`)."""
    todo = plan(db, feed, entries)
    learnt: set[str] = set()
    for start in todo.starts(chunk):
        learnt |= write_step(db, feed, todo, start, stamp, chunk)
    gone = delist(db, feed, todo, stamp, complete=complete)
    return ObservationDelta(len(todo.new), len(todo.changed), len(todo.unchanged), gone, frozenset(learnt))


def save_findings(db: sqlite3.Connection, findings: Sequence[Finding], alerts: Sequence[Alert], stamp: str) -> None:
    """Upsert a poll's findings (first and last seen) and queue the alerts policy decided on, in one transaction.

    A finding seen again stands again: a delisting or a withdrawal is cleared (a told withdrawal clears
    ``last_alerted`` too, as the store's ``finding_states`` reads it). Everything is encoded before the write lock
    is taken: the loop's own writes meanwhile wait for SQLite's inserts only, not for the JSON of every finding."""
    found = [(f.key, f.establishment, finding_to_json(f), f.feed, f.entry, stamp, stamp) for f in findings]
    replaced = [(a.finding.key,) for a in alerts]
    queued = [
        (
            a.finding.key,
            a.finding.establishment,
            int(a.severity),
            a.subscription,
            int(a.immediate),
            alert_to_json(a),
            stamp,
            int(a.inventory),
        )
        for a in alerts
    ]
    with transaction(db):
        # The SET expressions read the row as it was before this update.
        db.executemany(
            """INSERT INTO findings (key, establishment, body, feed, entry, first_seen, last_seen)
               VALUES (?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (key) DO UPDATE SET last_seen = excluded.last_seen, body = excluded.body,
                   entry = excluded.entry, resolved_at = NULL, resolved_told = NULL, resolution = NULL,
                   last_alerted = CASE WHEN resolution IS NOT NULL AND resolved_told IS NOT NULL THEN NULL
                                       ELSE last_alerted END""",
            found,
        )
        # A newer decision replaces an alert still waiting for its email (a finding told "version not
        # checked" and confirmed by ranges that arrived before the email left): one alert per finding.
        db.executemany("DELETE FROM alerts WHERE finding = ? AND delivery IS NULL", replaced)
        db.executemany(
            "INSERT INTO alerts (finding, establishment, severity, subscription, immediate, body, created, "
            "inventory) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            queued,
        )


class Writer:
    """A second connection to the store's database, opened in and used by one worker thread only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        # One thread: SQLite allows one writer at a time anyway, and the connection never changes threads.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alertd-store")

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA synchronous=FULL")  # as the store's own connection (sqlite.py says why)
            self._db.execute("PRAGMA foreign_keys=ON")
        return self._db

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` in the writer's thread, awaited from the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, lambda: work(self._connection()))

    async def save_observations(
        self,
        feed: str,
        observations: Sequence[Observation],
        stamp: str,
        *,
        complete: bool = True,
        rows: StoredRows | None = None,
    ) -> ObservationDelta:
        """:func:`save_observations` off the event loop: the entries are encoded in a worker thread (the costly
        part: a million entries take minutes), then written here one step at a time, so another feed's write
        waits for one step at most, never for this whole poll. ``rows``: a bulk list's entries (:func:`encode`)."""
        entries = await asyncio.to_thread(encode, observations, rows)
        todo = await self.run(lambda db: plan(db, feed, entries))
        learnt: set[str] = set()
        for start in todo.starts(CHUNK):
            learnt |= await self.run(functools.partial(write_step, feed=feed, todo=todo, start=start, stamp=stamp))
        gone = await self.run(lambda db: delist(db, feed, todo, stamp, complete=complete))
        return ObservationDelta(len(todo.new), len(todo.changed), len(todo.unchanged), gone, frozenset(learnt))

    def close(self) -> None:
        """Close the connection in its own thread, then end the thread."""
        if self._db is not None:
            self._thread.submit(self._db.close).result()
            self._db = None
        self._thread.shutdown(wait=True)
