"""What establishments answered through their emails' personal links (contract §4, "Acknowledgements").

The page is served from a thread of its own (:mod:`~alertd.service.ackweb`), which reads and writes through this
module's connection, never the :class:`~alertd.store.sqlite.Store`'s (one connection per thread, as SQLite
wants): it reads an email by its reference (the outbox row and its alerts) and records each response. The table
is created with the schema (:mod:`~alertd.store.schema`), in any store, with no schema version of its own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path

from alertd.domain.acknowledgement import AckResponse
from alertd.domain.delivery import DeliveryState
from alertd.domain.values import Alert, Severity
from alertd.store.codecs import alert_from_json, encode_time
from alertd.store.escalations import original_of
from alertd.store.proposals import propose
from alertd.store.records import in_chunks

ACKS = """
CREATE TABLE IF NOT EXISTS acks (
    id INTEGER PRIMARY KEY,
    establishment TEXT NOT NULL,
    reference TEXT NOT NULL,  -- the email answered (outbox.reference)
    response TEXT NOT NULL,  -- an AckResponse
    comment TEXT NOT NULL DEFAULT '',
    at TEXT NOT NULL,
    source TEXT NOT NULL  -- the address it came from (X-Forwarded-For's, behind a trusted proxy)
);
CREATE INDEX IF NOT EXISTS acks_reference ON acks (reference, id);
"""

# The headers of a stored message are in its first bytes; the rest (bodies, attachments) is never read here.
_HEAD_BYTES = 65_536


@dataclass(frozen=True, slots=True)
class AckEmail:
    """One email as its page shows it: whose, which, when it was made, its alerts and its language."""

    establishment: str
    reference: str
    created: datetime
    alerts: tuple[Alert, ...]
    language: str | None  # its Content-Language


@dataclass(frozen=True, slots=True)
class Ack:
    """One response to one email."""

    establishment: str
    reference: str
    response: AckResponse
    comment: str
    at: datetime
    source: str


class AckBook:
    """The acknowledgements' own connection to the store's file: safe to call from any thread (one at a time)."""

    def __init__(self, path: Path) -> None:
        # mode=rw: a missing store is an error here, never a new empty file.
        self._db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 5000")
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def email(self, reference: str) -> AckEmail | None:
        """The email of that reference, with its alerts; None when the store has none (pruned, or never)."""
        with self._lock:
            row = self._db.execute(
                "SELECT establishment, created, substr(message, 1, ?) AS head FROM outbox WHERE reference = ? "
                "ORDER BY id LIMIT 1",
                (_HEAD_BYTES, reference),
            ).fetchone()
            if row is None:
                return None
            alerts = alerts_of(self._db, reference)
        head = BytesHeaderParser(policy=default_policy).parsebytes(bytes(row["head"]))
        language = str(head.get("Content-Language", "") or "").strip().lower() or None
        return AckEmail(
            establishment=row["establishment"],
            reference=reference,
            created=datetime.fromisoformat(row["created"]),
            alerts=alerts,
            language=language,
        )

    def record(self, ack: Ack) -> int:
        """Keep one response; its id. A "not us" one proposes, in the same transaction, an inhibition of each
        indicator the email told (:mod:`~alertd.store.proposals`), for the operator to accept or reject."""
        with self._lock, self._db:
            cursor = self._db.execute(
                "INSERT INTO acks (establishment, reference, response, comment, at, source) VALUES (?, ?, ?, ?, ?, ?)",
                (ack.establishment, ack.reference, str(ack.response), ack.comment, encode_time(ack.at), ack.source),
            )
            ack_id = int(cursor.lastrowid or 0)
            original = original_of(self._db, ack.reference)
            if original is not None:  # an answer to a reminder answers the warning it escalated too
                self._db.execute(
                    "INSERT INTO acks (establishment, reference, response, comment, at, source) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (ack.establishment, original, str(ack.response), ack.comment, encode_time(ack.at), ack.source),
                )
            if ack.response is AckResponse.NOT_US:
                findings = (alert.finding for alert in alerts_of(self._db, ack.reference))
                propose(self._db, ack_id, findings, ack.comment, ack.at, ack.source)
            return ack_id

    def responses(self, reference: str) -> list[Ack]:
        """The responses to one email, oldest first."""
        with self._lock:
            return responses_to(self._db, [reference]).get(reference, [])


def alerts_of(db: sqlite3.Connection, reference: str) -> tuple[Alert, ...]:
    """The alerts an email told, in the order it told them; a reminder's are those of the warning it escalated."""
    rows = db.execute(
        "SELECT body FROM alerts WHERE delivery IN (SELECT id FROM outbox WHERE reference = ? OR reference = "
        "(SELECT reference FROM escalations WHERE reminder = ?)) ORDER BY id",
        (reference, reference),
    )
    return tuple(alert_from_json(row[0]) for row in rows)


@dataclass(frozen=True, slots=True)
class Unanswered:
    """An email sent that nobody answered through its link: when it was sent, and its most severe alert."""

    reference: str
    sent: datetime
    severity: Severity


def unanswered(db: sqlite3.Connection, since: datetime) -> list[Unanswered]:
    """The warnings sent since ``since`` (emails with a reference and alerts, not inventories, which warn of
    nothing new) that no response answers and that were not escalated yet, oldest first."""
    # Each email's most severe alert read by a subquery per email rather than a join and a GROUP BY (60 ms of SQL
    # rather than 100 for 2,000 emails of 33,200 alerts): reading the alerts' rows is what costs.
    rows = db.execute(
        "SELECT o.reference, o.sent_at, "
        "(SELECT MAX(a.severity) FROM alerts a WHERE a.delivery = o.id AND a.inventory = 0) FROM outbox o "
        "WHERE o.state = ? AND o.reference IS NOT NULL AND o.sent_at >= ? "
        "AND NOT EXISTS (SELECT 1 FROM acks k WHERE k.reference = o.reference) "
        "AND NOT EXISTS (SELECT 1 FROM escalations e WHERE e.reference = o.reference) ORDER BY o.sent_at",
        (str(DeliveryState.SENT), encode_time(since)),
    )
    return [Unanswered(r[0], datetime.fromisoformat(r[1]), Severity(r[2])) for r in rows if r[2] is not None]


def responses_to(db: sqlite3.Connection, references: Iterable[str]) -> dict[str, list[Ack]]:
    """The responses to these emails, by reference, oldest first (``alertd history`` and the page read them)."""
    found: dict[str, list[Ack]] = {}
    for chunk, marks in in_chunks(references):
        rows = db.execute(
            f"SELECT establishment, reference, response, comment, at, source FROM acks WHERE reference IN ({marks})"
            " ORDER BY id",
            chunk,
        )
        for r in rows:
            found.setdefault(r[1], []).append(
                Ack(r[0], r[1], AckResponse(r[2]), r[3], datetime.fromisoformat(r[4]), r[5])
            )
    return found
