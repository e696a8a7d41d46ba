"""Inhibitions proposed by "faux positif / pas chez nous" responses, and what the operator decided of each.

One proposal per distinct indicator of the email answered (an email may carry several findings); it is made in the
transaction that records the response (:meth:`~alertd.store.acks.AckBook.record`) and never applied by alertd
itself: ``alertd inhibitions accept ID`` writes it into ``inhibitions.yaml``, ``reject ID`` sets it aside.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alertd.domain.acknowledgement import Decision
from alertd.domain.values import Finding, IndicatorType
from alertd.store.codecs import encode_time

PROPOSALS = """
CREATE TABLE IF NOT EXISTS proposals (
    id INTEGER PRIMARY KEY,
    ack INTEGER NOT NULL,  -- acks.id: the response that proposed it
    establishment TEXT NOT NULL,
    reference TEXT NOT NULL,
    indicator TEXT NOT NULL,
    type TEXT NOT NULL,  -- an IndicatorType
    feed TEXT NOT NULL,
    comment TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL,
    decision TEXT,  -- a Decision; NULL while open
    decided_at TEXT
);
CREATE INDEX IF NOT EXISTS proposals_open ON proposals (decision, id);
CREATE INDEX IF NOT EXISTS proposals_open_key ON proposals (establishment, indicator, feed) WHERE decision IS NULL;
"""


@dataclass(frozen=True, slots=True)
class Proposal:
    """One inhibition proposed by an establishment's "not us" response, as the operator is shown it."""

    id: int
    establishment: str
    reference: str
    indicator: str
    type: IndicatorType
    feed: str
    comment: str
    at: datetime
    source: str
    decision: Decision | None


def propose(
    db: sqlite3.Connection, ack: int, findings: Iterable[Finding], comment: str, at: datetime, source: str
) -> int:
    """Keep one proposal per distinct indicator and feed of ``findings`` that the establishment has no open
    proposal for yet (in the caller's transaction); how many were added."""
    seen: set[tuple[str, str]] = set()
    added = 0
    for finding in findings:
        key = (finding.indicator.value, finding.feed)
        if key in seen:
            continue
        seen.add(key)
        # One open proposal per establishment, indicator and feed: answering "not us" again adds nothing.
        added += db.execute(
            "INSERT INTO proposals (ack, establishment, reference, indicator, type, feed, comment, at, source) "
            "SELECT a.id, a.establishment, a.reference, ?, ?, ?, ?, ?, ? FROM acks a WHERE a.id = ? "
            "AND NOT EXISTS (SELECT 1 FROM proposals p WHERE p.decision IS NULL "
            "AND p.establishment = a.establishment AND p.indicator = ? AND p.feed = ?)",
            (key[0], str(finding.indicator.type), finding.feed, comment, encode_time(at), source, ack, *key),
        ).rowcount
    return added


_COLUMNS = "id, establishment, reference, indicator, type, feed, comment, at, source, decision"


def _proposal(row: sqlite3.Row | tuple[object, ...]) -> Proposal:
    r = tuple(row)
    return Proposal(
        int(str(r[0])),
        str(r[1]),
        str(r[2]),
        str(r[3]),
        IndicatorType(str(r[4])),
        str(r[5]),
        str(r[6]),
        datetime.fromisoformat(str(r[7])),
        str(r[8]),
        Decision(str(r[9])) if r[9] is not None else None,
    )


def open_proposals(db: sqlite3.Connection) -> list[Proposal]:
    """The proposals nobody has accepted or rejected yet, oldest first."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM proposals WHERE decision IS NULL ORDER BY id")
    return [_proposal(r) for r in rows]


def proposal(db: sqlite3.Connection, proposal_id: int) -> Proposal | None:
    """One proposal by its id, decided or not; None when there is none."""
    row = db.execute(f"SELECT {_COLUMNS} FROM proposals WHERE id = ?", (proposal_id,)).fetchone()
    return _proposal(row) if row is not None else None


def decide(db: sqlite3.Connection, proposal_id: int, decision: Decision, at: datetime) -> bool:
    """Close an open proposal (in the caller's transaction); False when it was not open."""
    cursor = db.execute(
        "UPDATE proposals SET decision = ?, decided_at = ? WHERE id = ? AND decision IS NULL",
        (str(decision), encode_time(at), proposal_id),
    )
    return cursor.rowcount == 1
