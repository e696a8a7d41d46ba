"""The send journal: one line per email the relay accepted, appended and fsynced before the store records the send
(contract §1, "Recovering state").

It lives beside the store (``alertd.sent.jsonl``), outside SQLite, so it survives what damages the database. Each
record names the send's number, when, the establishment, the Message-ID, the reference and the findings the
email told (their stored JSON); a send the relay took for some recipients only also names those it refused for
now (``later``) and for good (``never``). A restored backup is older than the last sends: :func:`replay` carries
into it what was sent since, so those findings count as told and are not warned of again; the recipients a
partial send missed get their copy of the email back (as when the send was recorded).

A record is one line, written whole (a short write is continued) and fsynced; a line cut by a crash or a full disk
is ended before the next record, so it never swallows it. Numbers are never shared: a record written again (its
store write failed) keeps its number, and readers keep one record per number (:func:`sends`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alertd.domain.delivery import DeliveryState
from alertd.store import StateFileError
from alertd.store.codecs import recipients_to_json

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
    recipients: str  # the delivery's, as the outbox stores them (JSON): with the Message-ID, which row it was
    findings: tuple[Told, ...]
    later: tuple[str, ...] = ()  # refused for now by the relay: a pending copy of the email goes to them
    never: tuple[str, ...] = ()  # refused for good: a failed copy, told to the operators
    error: str | None = None  # the relay's words for those refused

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
        if self.partial:
            record.update(later=list(self.later), never=list(self.never), error=self.error)
        return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"

    @property
    def partial(self) -> bool:
        """Whether the relay refused some of the recipients."""
        return bool(self.later or self.never)


def journal_path(db_path: Path) -> Path:
    """The send journal of a database (beside it)."""
    return db_path.with_name(JOURNAL)


def write_whole(fd: int, data: bytes) -> None:
    """Write all of ``data``: ``os.write`` may write part of it (a disk filling up) and say so only by its count."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def append(path: Path, sent: Sent) -> None:
    """Append one send and fsync it: once this returns, the send survives a crash and a damaged database.
    :class:`~alertd.store.StateFileError` when it cannot (a full disk): the send is then not recorded."""
    append_many(path, [sent])


def append_many(path: Path, sents: Sequence[Sent]) -> None:
    """Append several sends in one write and one fsync (:func:`append`: all survive, or none is recorded)."""
    if not sents:
        return
    line = "".join(sent.to_json() for sent in sents).encode()
    try:
        fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC, _PRIVATE)
        try:
            size = os.fstat(fd).st_size
            # A line cut by a crash or a full disk is ended first: glued to it, this record would be lost with it.
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line
            write_whole(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StateFileError(path, exc) from exc


def sends(path: Path) -> list[Sent]:
    """The journalled sends, one per number (a record written twice, its store write having failed, counts
    once), by number."""
    return sorted({sent.seq: sent for sent in read(path)}.values(), key=lambda sent: sent.seq)


def last_seq(path: Path) -> int:
    """The number of the last journalled send (0 when none)."""
    return max((sent.seq for sent in read(path)), default=0)


def read(path: Path) -> Iterator[Sent]:
    """The journalled sends, in the order written; a line cut by a crash or a full disk is skipped (even mid
    character). :class:`~alertd.store.StateFileError` when the journal cannot be read."""
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            yield from _parsed(lines)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateFileError(path, exc, "read") from exc


def _parsed(lines: Iterable[str]) -> Iterator[Sent]:
    """The records of the lines that hold one; the others (cut, damaged) are skipped."""
    for line in lines:
        try:
            data = json.loads(line)
            sent = Sent(
                int(data["seq"]),
                str(data["at"]),
                str(data["establishment"]),
                str(data["message_id"]),
                data.get("reference"),
                str(data["recipients"]),
                tuple(Told(*(str(x) for x in told)) for told in data["findings"]),
                tuple(str(r) for r in data.get("later") or ()),
                tuple(str(r) for r in data.get("never") or ()),
                data.get("error"),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        yield sent


def told_by(db: sqlite3.Connection, delivery_id: int) -> list[Told]:
    """The findings a delivery's email tells, as the store holds them now."""
    rows = db.execute(
        """SELECT DISTINCT f.key, f.establishment, f.feed, f.entry, f.body
           FROM alerts a JOIN findings f ON f.key = a.finding WHERE a.delivery = ?""",
        (delivery_id,),
    )
    return [Told(*(str(x) for x in row)) for row in rows]


def copy_for(
    db: sqlite3.Connection,
    delivery_id: int,
    recipients: Sequence[str],
    state: DeliveryState,
    *,
    next_attempt: str,
    error: str | None,
    created: str,
) -> int | None:
    """A copy of a delivery's email (same Message-ID) for some of its recipients, in ``state``, in the caller's
    transaction: what a partial send leaves to those the relay refused. Its id."""
    cur = db.execute(
        """INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state,
                               next_attempt, last_error, created, reference)
           SELECT message_id, establishment, sender, ?, subject, message, ?, ?, ?, ?, reference
           FROM outbox WHERE id = ?""",
        (recipients_to_json(recipients), state, next_attempt, error, created, delivery_id),
    )
    return cur.lastrowid


def settle(db: sqlite3.Connection, sent: Sent) -> bool:
    """Mark sent, in the caller's transaction, the outbox's waiting copy of a journalled send: the relay took it,
    once. A partial send leaves a pending copy to the recipients refused for now (due at once) and a failed one
    to those refused for good, as recording it would have. False when no waiting copy was there."""
    row = db.execute(
        "SELECT id FROM outbox WHERE message_id = ? AND recipients = ? AND state IN (?, ?) ORDER BY id LIMIT 1",
        (sent.message_id, sent.recipients, *_WAITING),
    ).fetchone()
    if row is None:
        return False
    delivery = int(row[0])
    db.execute(
        "UPDATE outbox SET state = ?, sent_at = ?, last_error = ? WHERE id = ?",
        (DeliveryState.SENT, sent.at, sent.error, delivery),
    )
    for recipients, state in ((sent.later, DeliveryState.PENDING), (sent.never, DeliveryState.FAILED)):
        if recipients:
            copy_for(db, delivery, recipients, state, next_attempt=sent.at, error=sent.error, created=sent.at)
    return True


def _held(db: sqlite3.Connection, sent: Sent) -> bool:
    """Whether the store holds the journalled send's email (waiting or sent)."""
    row = db.execute(
        "SELECT 1 FROM outbox WHERE message_id = ? AND recipients = ?", (sent.message_id, sent.recipients)
    ).fetchone()
    return row is not None


def replay(db: sqlite3.Connection, sends: Iterator[Sent]) -> tuple[int, int]:
    """Mark told, in the caller's transaction, every finding the journalled sends told, those the store lacks
    added as told then: a restored (or new) store then does not warn of them again as news. Returns how many
    sends and findings were carried in.

    A partial send whose email the store does not hold cannot leave a copy to the recipients it missed: its
    findings are not carried in, so they are warned of again, to all the establishment's contacts (some get it
    twice, none never)."""
    carried = findings = 0
    for sent in sends:
        carried += 1
        # The backup's outbox may still hold the email as waiting: it went, once (to the recipients it names).
        if not settle(db, sent) and sent.partial and not _held(db, sent):
            continue
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


def unrecorded(db: sqlite3.Connection, journalled: Sequence[Sent]) -> list[Sent]:
    """The journalled sends whose email the store still holds as ``sending``: the relay took them, and the process
    ended before the store recorded it (a crash, a full disk). Matched by Message-ID and recipients, not by number:
    a send recorded after them may have a higher one."""
    rows = db.execute("SELECT message_id, recipients FROM outbox WHERE state = ?", (DeliveryState.SENDING,))
    sending = {(str(m), str(r)) for m, r in rows}
    return [s for s in journalled if (s.message_id, s.recipients) in sending]
