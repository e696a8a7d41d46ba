"""What the store hands back: feed state, queued alerts, deliveries, history entries, resolved findings, and its
meta keys."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from alertd.domain.codes import Evidence, VersionBasis
from alertd.domain.delivery import DeliveryState
from alertd.domain.feeds import Validators
from alertd.domain.values import Alert, Finding, FindingState
from alertd.store.codecs import decode_time, recipients_from_json

PARAMETERS = 500  # keys bound per statement: below SQLite's limit on bound parameters, with room to spare


def in_chunks(keys: Iterable[str]) -> Iterator[tuple[list[str], str]]:
    """The distinct keys, in their order, in slices of :data:`PARAMETERS`, each with the ``?, ?, …`` of its
    ``IN (…)``."""
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), PARAMETERS):
        chunk = unique[start : start + PARAMETERS]
        yield chunk, ", ".join("?" * len(chunk))


def finding_states(db: sqlite3.Connection, keys: Iterable[str]) -> dict[str, FindingState]:
    """What the store remembers of each of these findings, by key: first seen, last told (a told withdrawal counts
    as never told), whether an alert for it waits, whether it was told unchecked, whether its last email was an
    inventory. The poll's decision reads it, and ``what-if`` (read-only) to say what a reload would send."""
    states: dict[str, FindingState] = {}
    for chunk, marks in in_chunks(keys):
        for key, first_seen, last_alerted, queued, unchecked, inventoried in db.execute(
            # A finding whose withdrawal was told counts as never told: affected again, it is told again.
            f"""SELECT f.key, f.first_seen,
                       CASE WHEN f.resolution IS NOT NULL AND f.resolved_told IS NOT NULL THEN NULL
                            ELSE f.last_alerted END AS last_alerted,
                       EXISTS (SELECT 1 FROM alerts a WHERE a.finding = f.key AND a.delivery IS NULL) AS queued,
                       json_extract(f.body, '$.attrs.evidence') = ? AS told_unchecked,
                       COALESCE((SELECT a.inventory FROM alerts a WHERE a.finding = f.key
                                 AND a.delivery IS NOT NULL ORDER BY a.id DESC LIMIT 1), 0) AS inventoried
                FROM findings f WHERE f.key IN ({marks})""",
            [Evidence.UNVERIFIED.value, *chunk],
        ):
            states[key] = FindingState(
                datetime.fromisoformat(first_seen),
                decode_time(last_alerted),
                bool(queued),
                bool(unchecked),
                bool(inventoried),
            )
    return states


def digest_key(subscription: str) -> str:
    """The meta key that holds when a digest subscription last went out."""
    return f"digest:{subscription}"


def notice_key(problem: str) -> str:
    """The meta key that holds the day the operators were last told of a problem."""
    return f"notice:{problem}"


@dataclass(frozen=True, slots=True)
class FeedState:
    feed: str
    validators: Validators
    last_attempt: datetime | None
    last_success: datetime | None
    consecutive_failures: int
    last_error: str | None
    entries_seen: int


@dataclass(frozen=True, slots=True)
class ObservationDelta:
    """What a poll changed: entries never seen, entries whose content changed, entries no longer listed, and the
    CVEs whose knowledge changed (a statement never stored, or different): entries of other feeds citing them are
    to be judged again."""

    new: int
    changed: int
    unchanged: int
    delisted: int
    knowledge_changed: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    id: int
    alert: Alert
    thread: str | None  # Message-ID of the first email about its finding, for follow-ups
    body: str = ""  # the alert as stored: an email is queued only if its alerts still read so (a poll may replace one)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An email to put in the outbox, with the alerts it tells (as read when it was planned: ``bodies``)."""

    establishment: str
    alert_ids: Sequence[int]
    finding_keys: Sequence[str]
    message_id: str
    sender: str
    recipients: Sequence[str]
    subject: str
    message: bytes
    reference: str | None = None
    bodies: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One email in the outbox."""

    id: int
    message_id: str
    establishment: str
    sender: str
    recipients: tuple[str, ...]
    subject: str
    state: DeliveryState
    attempts: int
    next_attempt: datetime
    last_error: str | None
    created: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class ResolvedFinding:
    """A finding of an earlier email that no longer stands, not yet told so: its feed delisted its entry
    (``resolution`` None), or it was withdrawn (``resolution`` says why, and ``finding`` carries the version
    judgement it was withdrawn on)."""

    finding: Finding
    resolution: VersionBasis | None = None

    @property
    def withdrawn(self) -> bool:
        """Whether it was withdrawn (the version is not affected after all), rather than delisted."""
        return self.resolution is not None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One alert that went into an email: what an establishment was told, when, by which delivery."""

    alert: Alert
    delivery: int
    state: DeliveryState
    message_id: str
    recipients: tuple[str, ...]
    when: datetime  # when it was sent, or queued if it is not sent yet
    reference: str | None = None  # the email's reference (none before schema version 3)


DELIVERY_COLUMNS = (
    "id, message_id, establishment, sender, recipients, subject, state, attempts, next_attempt, last_error, "
    "created, sent_at"
)


def feed_state_of(row: sqlite3.Row) -> FeedState:
    return FeedState(
        row["feed"],
        Validators(row["etag"], row["last_modified"]),
        decode_time(row["last_attempt"]),
        decode_time(row["last_success"]),
        row["consecutive_failures"],
        row["last_error"],
        row["entries_seen"],
    )


def delivery_of(row: sqlite3.Row) -> Delivery:
    return Delivery(
        id=row["id"],
        message_id=row["message_id"],
        establishment=row["establishment"],
        sender=row["sender"],
        recipients=recipients_from_json(row["recipients"]),
        subject=row["subject"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        next_attempt=datetime.fromisoformat(row["next_attempt"]),
        last_error=row["last_error"],
        created=datetime.fromisoformat(row["created"]),
        sent_at=decode_time(row["sent_at"]),
    )
