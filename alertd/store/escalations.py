"""The warnings escalated (contract §4, "Acknowledgements"): each unanswered warning past its deadline is sent
again once, as a reminder with a reference and a personal link of its own. The table is created with the schema
(:mod:`~alertd.store.schema`), in any store, with no schema version of its own; the row is written in the
transaction that puts the reminder in the outbox, so a warning is escalated once, across restarts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alertd.domain.values import Severity
from alertd.store.codecs import encode_time
from alertd.store.records import in_chunks

ESCALATIONS = """
CREATE TABLE IF NOT EXISTS escalations (
    reference TEXT PRIMARY KEY,  -- the warning escalated (outbox.reference)
    establishment TEXT NOT NULL,
    severity INTEGER NOT NULL,  -- its most severe alert
    reminder TEXT NOT NULL UNIQUE,  -- the reminder's own reference
    at TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Escalation:
    """One warning escalated: which, whose, how severe, by which reminder, when."""

    reference: str
    establishment: str
    severity: Severity
    reminder: str
    at: datetime


def record_escalation(db: sqlite3.Connection, escalation: Escalation) -> None:
    """Note a warning escalated, in the caller's transaction (the one that queues its reminder)."""
    db.execute(
        "INSERT INTO escalations (reference, establishment, severity, reminder, at) VALUES (?, ?, ?, ?, ?)",
        (
            escalation.reference,
            escalation.establishment,
            int(escalation.severity),
            escalation.reminder,
            encode_time(escalation.at),
        ),
    )


def escalations_of(db: sqlite3.Connection, references: Iterable[str]) -> dict[str, Escalation]:
    """The escalations of these warnings, by the warning's reference."""
    found: dict[str, Escalation] = {}
    for chunk, marks in in_chunks(references):
        rows = db.execute(
            f"SELECT reference, establishment, severity, reminder, at FROM escalations WHERE reference IN ({marks})",
            chunk,
        )
        for r in rows:
            found[r[0]] = Escalation(r[0], r[1], Severity(r[2]), r[3], datetime.fromisoformat(r[4]))
    return found


def original_of(db: sqlite3.Connection, reminder: str) -> str | None:
    """The warning a reminder escalated; None when ``reminder`` is no reminder."""
    row = db.execute("SELECT reference FROM escalations WHERE reminder = ?", (reminder,)).fetchone()
    return None if row is None else str(row[0])


def escalations_by_severity(db: sqlite3.Connection) -> dict[Severity, int]:
    """How many warnings were escalated, by severity (``/metrics``: counted from the store, so a restart keeps
    the count)."""
    rows = db.execute("SELECT severity, COUNT(*) FROM escalations GROUP BY severity")
    return {Severity(r[0]): int(r[1]) for r in rows}


def warning_of(db: sqlite3.Connection, reference: str) -> tuple[str, str] | None:
    """The establishment and the subject of the warning of that reference; None when the store has none."""
    row = db.execute(
        "SELECT establishment, subject FROM outbox WHERE reference = ? ORDER BY id LIMIT 1", (reference,)
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))
