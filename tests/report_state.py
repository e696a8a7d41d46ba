"""A hand-built state for the report's tests: two years of warnings, deliveries, acknowledgements and proposals
written into a real store by plain INSERTs, with every figure known (listed below each email).

Europe/Paris: the 2026 period is [2026-01-01, 2027-01-01) local time, the previous one 2025.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from builders import make_alert

from alertd.domain.acknowledgement import AckResponse, Decision
from alertd.domain.codes import MatchReason
from alertd.domain.delivery import OPERATORS, DeliveryState
from alertd.domain.facts import Facts
from alertd.domain.values import Alert, FeedKind, Indicator, IndicatorType, Severity
from alertd.store.codecs import alert_to_json, encode_time, finding_to_json
from alertd.store.sqlite import Store

PARIS = ZoneInfo("Europe/Paris")
# The registry: E1 and E2 with a region and a FINESS category; E3 with neither; E4 and E5 not in it any more.
E1, E2, E3, E4, E5 = "330781196", "310781406", "130043664", "690781810", "750712184"
REGISTRY = f"""\
establishments:
  - {{id: "{E1}", name: CHU de Bordeaux, region: Nouvelle-Aquitaine, category: "101", networks: [147.210.0.0/16],
      contacts: [{{email: rssi@chu-bordeaux.example}}]}}
  - {{id: "{E2}", name: CHU de Toulouse, region: Occitanie, category: "355", networks: [154.12.224.0/19],
      contacts: [{{email: rssi@chu-toulouse.example}}]}}
  - {{id: "{E3}", name: Clinique Sans Region, networks: [45.1.2.0/24], contacts: [{{email: rssi@clinique.example}}]}}
"""
SETTINGS = """\
state_dir: state
timezone: Europe/Paris
feeds: feeds.yaml
registry: establishments.yaml
subscriptions: subscriptions.yaml
operators: [soc@cert-test.example]
sender: {from: "CERT Test <alertes@cert-test.example>"}
organisation: CERT Santé Test
delivery: {method: maildir, maildir: maildir}
"""
REGIONS = {E1: "Nouvelle-Aquitaine", E2: "Occitanie", E3: ""}
CATEGORIES = {E1: "101", E2: "355", E3: ""}


def _ip(n: int) -> Indicator:
    return Indicator(IndicatorType.IPV4, f"147.210.1.{n}")


def compromise(est: str, malware: str, n: int) -> Alert:
    return make_alert(_ip(n), est_id=est, facts=Facts(malware=malware))


def exposure(est: str, n: int) -> Alert:
    return make_alert(_ip(n), est_id=est, kind=FeedKind.EXPOSURE, severity=Severity.HIGH, feed="shadowserver")


# The other kinds, each as make_alert with its reason, asset, feed kind, severity and feed; called with the
# indicator and ``est_id``.
exploited = partial(
    make_alert,
    reason=MatchReason.KEV_PRODUCT,
    asset="Citrix NetScaler",
    kind=FeedKind.VULNERABILITY,
    severity=Severity.CRITICAL,
    feed="kev",
)
vulnerable = partial(
    make_alert,
    reason=MatchReason.CVE_PRODUCT,
    asset="Acme Widget",
    kind=FeedKind.VULNERABILITY,
    severity=Severity.HIGH,
    feed="nvd",
)
leak = partial(make_alert, reason=MatchReason.NAME_MENTION, asset="Clinique", kind=FeedKind.LEAK, feed="ransomlook")
advisory = partial(
    make_alert,
    reason=MatchReason.PRODUCT_MENTION,
    asset="Acme Widget",
    kind=FeedKind.ADVISORY,
    severity=Severity.INFO,
    feed="certfr",
)


def _cve(cve: str) -> Indicator:
    return Indicator(IndicatorType.CVE, cve)


EXPLOITED_CVE = "CVE-2024-3400"  # the knowledge holds KEV's word that it is exploited
LEAK_NAME = Indicator(IndicatorType.NAME, "Clinique")
PRODUCT = Indicator(IndicatorType.PRODUCT, "acme/widget")


@dataclass
class Email:
    at: datetime  # local time, Paris: created, and sent when it was
    establishment: str
    alerts: list[Alert]
    state: DeliveryState = DeliveryState.SENT
    attempts: int = 1
    reference: str | None = None
    inventory: bool = False
    acks: list[tuple[timedelta, AckResponse]] = field(default_factory=list)


def _paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


HOUR = timedelta(hours=1)
EMAILS = [
    # 2026: nine warnings to four establishments.
    Email(
        _paris(2026, 1, 10, 10),
        E1,
        [compromise(E1, "Pikabot", 1), exploited(_cve("CVE-2023-4966"), est_id=E1)],
        reference="R1",
        acks=[(2 * HOUR, AckResponse.SEEN)],
    ),
    Email(
        _paris(2026, 1, 31, 23, 30),
        E2,
        # CVE-2023-4966 told by KEV and by NVD: one exploited vulnerability of E2's, two warnings.
        [
            exploited(_cve("CVE-2023-4966"), est_id=E2),
            vulnerable(_cve("CVE-2024-0001"), est_id=E2),
            vulnerable(_cve("CVE-2023-4966"), est_id=E2),
        ],
        attempts=3,
        reference="R2",
        acks=[(4 * HOUR, AckResponse.FIXED)],
    ),
    # 00:30 in Paris is still 31 January in UTC: a February warning.
    Email(
        _paris(2026, 2, 1, 0, 30), E3, [leak(LEAK_NAME, est_id=E3)], reference="R3", acks=[(HOUR, AckResponse.NOT_US)]
    ),
    Email(
        _paris(2026, 3, 5, 9),
        E4,
        # CVE-2024-3400 found by NVD, known exploited from the knowledge: an exploited vulnerability.
        [
            advisory(PRODUCT, est_id=E4),
            compromise(E4, "Pikabot", 2),
            compromise(E4, "QakBot", 3),
            vulnerable(_cve(EXPLOITED_CVE), est_id=E4),
        ],
        attempts=2,
        reference="R4",
    ),
    # An inventory email warns of nothing new: no warning, no acknowledgement expected; an email all the same.
    Email(_paris(2026, 3, 6, 9), E1, [exploited(_cve("CVE-2021-44228"), est_id=E1)], reference="R5", inventory=True),
    Email(_paris(2026, 4, 1, 9), E2, [compromise(E2, "Emotet", 4)], state=DeliveryState.FAILED, attempts=5),
    # R1's Pikabot address told again after its renotify interval: a re-notification, no warning, no email to
    # answer; an email all the same.
    Email(_paris(2026, 6, 2, 9), E1, [replace(compromise(E1, "Pikabot", 1), follow_up=True)], reference="R6"),
    Email(_paris(2026, 12, 31, 23, 59), E1, [compromise(E1, "Emotet", 5)], state=DeliveryState.PENDING, attempts=0),
    Email(_paris(2026, 12, 31, 23, 30), E2, [exposure(E2, 6)], reference="R8", acks=[(10 * HOUR, AckResponse.SEEN)]),
    # 2027 in Paris, though 2026 in UTC: in neither period.
    Email(_paris(2027, 1, 1, 0, 10), E1, [compromise(E1, "Pikabot", 7)], reference="R9"),
    # 2025: three warnings to two establishments (E5 is gone from the registry).
    Email(_paris(2025, 1, 15, 10), E1, [compromise(E1, "Pikabot", 8)], reference="Q1", acks=[(HOUR, AckResponse.SEEN)]),
    Email(_paris(2025, 6, 15, 10), E1, [exploited(_cve("CVE-2023-4966"), est_id=E1)], reference="Q2"),
    Email(_paris(2025, 6, 20, 10), E5, [exposure(E5, 9)], reference="Q3"),
]
REMINDER_AT = _paris(2026, 1, 13, 10)  # R1 escalated; its reminder answered "not us" three days after R1


def write_state(path: Path, extra: Sequence[Email] = ()) -> Path:
    """The store at ``path`` (made by alertd's own Store, then filled by INSERTs), with the ``extra`` emails too."""
    Store(path).close()
    store = Store(path)
    db = store.db
    with db:
        for n, email in enumerate([*EMAILS, *extra]):
            sent = encode_time(email.at) if email.state is DeliveryState.SENT else None
            delivery = db.execute(
                "INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state, "
                "attempts, next_attempt, created, sent_at, reference) VALUES (?, ?, 'a@cert.example', "
                "'[\"r@x.example\"]', 'Alerte', x'00', ?, ?, ?, ?, ?, ?)",
                (
                    f"<m{n}@cert.example>",
                    email.establishment,
                    str(email.state),
                    email.attempts,
                    encode_time(email.at),
                    encode_time(email.at),
                    sent,
                    email.reference,
                ),
            ).lastrowid
            for alert in email.alerts:
                f = alert.finding
                db.execute(
                    "INSERT OR IGNORE INTO findings (key, establishment, body, feed, entry, first_seen, last_seen) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (f.key, f.establishment, finding_to_json(f), f.feed, f.entry, sent or "", sent or ""),
                )
                db.execute(
                    "INSERT INTO alerts (finding, establishment, severity, subscription, immediate, body, created, "
                    "delivery, inventory) VALUES (?, ?, ?, 'all', 1, ?, ?, ?, ?)",
                    (
                        f.key,
                        f.establishment,
                        int(alert.severity),
                        alert_to_json(alert),
                        encode_time(email.at),
                        delivery,
                        int(email.inventory),
                    ),
                )
            for after, response in email.acks:
                _ack(db, email.establishment, str(email.reference), response, email.at + after)
        # R1's reminder: an email of its own, with no alert; its "not us" is recorded for R1 too (as AckBook does).
        db.execute(
            "INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state, attempts, "
            "next_attempt, created, sent_at, reference) VALUES ('<rem@cert.example>', ?, 'a@cert.example', "
            "'[\"r@x.example\"]', 'Rappel', x'00', ?, 1, ?, ?, ?, 'R1-REM')",
            (E1, str(DeliveryState.SENT), *[encode_time(REMINDER_AT)] * 3),
        )
        db.execute(
            "INSERT INTO escalations (reference, establishment, severity, reminder, at) VALUES ('R1', ?, 4, "
            "'R1-REM', ?)",
            (E1, encode_time(REMINDER_AT)),
        )
        later = EMAILS[0].at + timedelta(days=3)
        _ack(db, E1, "R1-REM", AckResponse.NOT_US, later)
        _ack(db, E1, "R1", AckResponse.NOT_US, later)
        # R3 answered "not us" a second time: still one email declared a false positive. The inventory R5 answered
        # "not us": about no warning.
        _ack(db, E3, "R3", AckResponse.NOT_US, EMAILS[2].at + 2 * HOUR)
        _ack(db, E1, "R5", AckResponse.NOT_US, EMAILS[4].at + HOUR)
        # R2 to a second recipient, refused for good: the copy a partial send makes (same Message-ID), no email.
        db.execute(
            "INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state, attempts, "
            "next_attempt, created, sent_at, reference) SELECT message_id, establishment, sender, "
            "'[\"other@x.example\"]', subject, message, ?, 0, next_attempt, ?, NULL, reference FROM outbox "
            "WHERE reference = 'R2'",
            (str(DeliveryState.FAILED), encode_time(EMAILS[1].at + 3 * HOUR)),
        )
        # A notice to the CERT's operators, still waiting: no email to an establishment.
        db.execute(
            "INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state, attempts, "
            "next_attempt, created) VALUES ('<ops@cert.example>', ?, 'a@cert.example', '[\"soc@x.example\"]', "
            "'Avis', x'00', ?, 0, ?, ?)",
            (OPERATORS, str(DeliveryState.PENDING), *[encode_time(_paris(2026, 5, 5, 5))] * 2),
        )
        db.execute(
            "INSERT INTO knowledge (cve, feed, entry, body, updated) VALUES (?, 'kev', ?, ?, ?)",
            (EXPLOITED_CVE, EXPLOITED_CVE, '{"cvss": null, "epss": null, "exploited": true, "products": []}', ""),
        )
        # Proposals: 2026, one accepted, one rejected, one open; 2025, one open.
        for at, decision in (
            (EMAILS[2].at + HOUR, Decision.ACCEPTED),
            (later, Decision.REJECTED),
            (later, None),
            (_paris(2025, 6, 16, 10), None),
        ):
            db.execute(
                "INSERT INTO proposals (ack, establishment, reference, indicator, type, feed, comment, at, source, "
                "decision) VALUES (1, ?, 'R3', '147.210.1.1', 'ipv4', 'feodo', '', ?, '127.0.0.1', ?)",
                (E3, encode_time(at), None if decision is None else str(decision)),
            )
    store.close()
    return path


def _ack(db: sqlite3.Connection, establishment: str, reference: str, response: AckResponse, at: datetime) -> None:
    db.execute(
        "INSERT INTO acks (establishment, reference, response, comment, at, source) VALUES (?, ?, ?, '', ?, ?)",
        (establishment, reference, str(response), encode_time(at), "127.0.0.1"),
    )


def write_config(folder: Path, extra: Sequence[Email] = ()) -> Path:
    """A configuration in ``folder`` whose registry is :data:`REGISTRY` and whose store is :func:`write_state`'s;
    the path of its alertd.yaml."""
    (folder / "feeds.yaml").write_text("feeds: []\n", encoding="utf-8")
    (folder / "establishments.yaml").write_text(REGISTRY, encoding="utf-8")
    (folder / "subscriptions.yaml").write_text(
        "subscriptions:\n  - {name: urgent, establishments: all, min_severity: high, delivery: immediate}\n",
        encoding="utf-8",
    )
    (folder / "alertd.yaml").write_text(SETTINGS, encoding="utf-8")
    (folder / "state").mkdir()
    write_state(folder / "state" / "alertd.sqlite3", extra)
    return folder / "alertd.yaml"
