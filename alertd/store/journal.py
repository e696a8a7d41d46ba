"""The send journal: one line per email the relay accepted, appended and fsynced before the store records the send
(contract §1, "Recovering state").

It lives beside the store (``alertd.sent.jsonl``), outside SQLite, so it survives what damages the database. Each
record names the send's number, when, the establishment, the Message-ID, the reference and the findings the
email told (their stored JSON). A restored backup is older than the last sends: :func:`replay` carries into it
what was sent since, so those findings count as told and are not warned of again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertd.domain.delivery import DeliveryState

JOURNAL = "alertd.sent.jsonl"
_PRIVATE = 0o600
_WAITING = (DeliveryState.PENDING, DeliveryState.SENDING)


@dataclass(frozen=True, slots=True)
class Told:
    """One finding an email told: its key and its stored JSON (a restored store may not have it yet)."""

    key: str
    establishment: str
    feed: str
    entry: str
    body: str


@dataclass(frozen=True, slots=True)
class Sent:
    """One journalled send."""

    seq: int
    at: str
    establishment: str
    message_id: str
    reference: str | None
    recipients: str  # as the outbox stores them (JSON)
    findings: tuple[Told, ...]

    def to_json(self) -> str:
        record: dict[str, Any] = {
            "seq": self.seq,
            "at": self.at,
            "establishment": self.establishment,
            "message_id": self.message_id,
            "reference": self.reference,
            "recipients": self.recipients,
            "findings": [[t.key, t.establishment, t.feed, t.entry, t.body] for t in self.findings],
        }
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def journal_path(db_path: Path) -> Path:
    """The send journal of a database (beside it)."""
    return db_path.with_name(JOURNAL)


def append(path: Path, sent: Sent) -> None:
    """Append one send and fsync it: once this returns, the send survives a crash and a damaged database."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, _PRIVATE)
    try:
        os.write(fd, sent.to_json().encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read(path: Path) -> Iterator[Sent]:
    """The journalled sends, oldest first; a line cut by a crash (the last one) is skipped."""
    with contextlib.suppress(FileNotFoundError), path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                data = json.loads(line)
                findings = tuple(Told(*(str(x) for x in told)) for told in data["findings"])
                yield Sent(
                    int(data["seq"]),
                    str(data["at"]),
                    str(data["establishment"]),
                    str(data["message_id"]),
                    data.get("reference"),
                    str(data["recipients"]),
                    findings,
                )
            except (ValueError, KeyError, TypeError):
                continue


def told_by(db: sqlite3.Connection, delivery_id: int) -> list[Told]:
    """The findings a delivery's email tells, as the store holds them now."""
    rows = db.execute(
        """SELECT DISTINCT f.key, f.establishment, f.feed, f.entry, f.body
           FROM alerts a JOIN findings f ON f.key = a.finding WHERE a.delivery = ?""",
        (delivery_id,),
    )
    return [Told(*(str(x) for x in row)) for row in rows]


def settle(db: sqlite3.Connection, sent: Sent) -> None:
    """Mark sent, in the caller's transaction, the outbox's waiting copy of a journalled send: the relay took it,
    once."""
    db.execute(
        "UPDATE outbox SET state = ?, sent_at = ?, last_error = NULL "
        "WHERE message_id = ? AND recipients = ? AND state IN (?, ?)",
        (DeliveryState.SENT, sent.at, sent.message_id, sent.recipients, *_WAITING),
    )


def replay(db: sqlite3.Connection, sends: Iterator[Sent]) -> tuple[int, int]:
    """Mark told, in the caller's transaction, every finding the journalled sends told, those the store lacks
    added as told then: a restored (or new) store then does not warn of them again as news. Returns how many
    sends and findings were carried in."""
    carried = findings = 0
    for sent in sends:
        carried += 1
        settle(db, sent)  # the backup's outbox may still hold the email as waiting: it went, once
        for told in sent.findings:
            findings += 1
            # Told as it stood: a delisting or withdrawal noted in the backup is cleared by the send after it.
            db.execute(
                """INSERT INTO findings (key, establishment, body, feed, entry, first_seen, last_seen, last_alerted,
                                         thread)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6, ?7)
                   ON CONFLICT (key) DO UPDATE SET
                       last_alerted = MAX(COALESCE(last_alerted, ''), ?6), thread = COALESCE(thread, ?7),
                       resolved_at = NULL, resolved_told = NULL, resolution = NULL""",
                (told.key, told.establishment, told.body, told.feed, told.entry, sent.at, sent.message_id),
            )
            # An alert the backup still had queued for it was sent: it must not go a second time.
            db.execute("DELETE FROM alerts WHERE finding = ? AND delivery IS NULL", (told.key,))
    return carried, findings
