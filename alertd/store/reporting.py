"""The figures of ``alertd report``, counted by SQL over the store (README "Reports").

Every figure is a ``GROUP BY`` or a ``COUNT``: no alert's body is read into Python (each is read once, by SQL, in
one grouped pass), so a year of 100,000 alerts reports in about 1.5 s of SQL (``bench/report.py``). The indexes
below serve those queries; they are created with the schema (:mod:`~alertd.store.schema`), in any store, with no
schema version of their own. The outbox's cover what the queries read of it (the reference; the establishment and
Message-ID): an email's row holds its message (22 KB), and reading a row reads its pages. The one on alerts holds
no expression of the body (``json_extract``): SQLite 3.40 takes no expression's value from an index, and with the
body's feed, kind and reason in it the report took as long (measured on that year), while every alert stored paid
for three more JSON reads.

Periods are days in the CERT's time zone: each bound is turned into the UTC instant the store's texts compare
with (:func:`~alertd.store.codecs.encode_time`), so a month is the local month.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from alertd.domain.acknowledgement import AckResponse, Decision
from alertd.domain.codes import MatchReason
from alertd.domain.delivery import OPERATORS, DeliveryState
from alertd.domain.report import (
    TOP,
    Acknowledgements,
    Deliveries,
    Figures,
    Period,
    Proposals,
    ReportKind,
    ranked,
    regroup,
    report_kind,
)
from alertd.domain.values import FeedKind, IndicatorType, Severity
from alertd.store.codecs import encode_time

REPORTING = """
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (state, sent_at, reference);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox (created, state, attempts, establishment, message_id);
CREATE INDEX IF NOT EXISTS alerts_report ON alerts (delivery, inventory, severity, establishment);
CREATE INDEX IF NOT EXISTS acks_at ON acks (response, at);
CREATE INDEX IF NOT EXISTS proposals_at ON proposals (at, decision);
-- The emails an operator queued again after they failed (alertd outbox retry, which starts their attempts over):
-- sent after retries, however many attempts their last round took.
CREATE TABLE IF NOT EXISTS requeues (message_id TEXT NOT NULL, at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS requeues_message ON requeues (message_id);
"""

# A feed's text (a malware family, a feed id) is cut to this many characters before it is grouped or shown.
_TEXT_CHARS = 100

# An alert that tells a finding again after its renotify interval (alert_to_json's ``follow_up``).
_FOLLOW_UP = "json_extract(a.body, '$.follow_up')"
# A vulnerability warning that cites a CVE: its kind and its place among the top CVEs follow the CVE, counted once
# per (establishment, CVE) in the period however many feeds found it.
_CVE_WARNING = (
    f"json_extract(a.body, '$.finding.kind') = '{FeedKind.VULNERABILITY.value}' "
    f"AND json_extract(a.body, '$.finding.indicator[0]') = '{IndicatorType.CVE.value}'"
)


def bounds(day: date, tz: ZoneInfo) -> str:
    """The instant a day starts in ``tz``, as the store writes instants (text order is time order)."""
    return encode_time(datetime.combine(day, time(), tz))


def period_bounds(period: Period, tz: ZoneInfo) -> tuple[str, str, list[tuple[int, str, str]]]:
    """The period's bounds as the store writes instants, and each month's (numbered), cut to the period's: the
    warnings are counted by month in the same pass as by severity, feed and kind. OverflowError or ValueError
    for a period at the calendar's ends (year 1, year 9999)."""
    lo, hi = bounds(period.start, tz), bounds(period.end, tz)
    return (
        lo,
        hi,
        [(i, max(lo, bounds(m, tz)), min(hi, bounds(_next_month(m), tz))) for i, m in enumerate(period.months())],
    )


def figures(
    db: sqlite3.Connection,
    period: Period,
    tz: ZoneInfo,
    region_of: Mapping[str, str],
    category_of: Mapping[str, str],
    *,
    links: bool = True,
) -> Figures:
    """Every figure of ``period``; each establishment's region and category are those ``region_of`` and
    ``category_of`` give (the registry's now), :data:`~alertd.domain.report.UNKNOWN` for one they lack. Without
    ``links`` (no ``web:`` configured) the emails carried no acknowledgement link: no rate."""
    lo, hi, spans = period_bounds(period, tz)
    window = (str(DeliveryState.SENT), lo, hi)
    months = period.months()
    values = ", ".join("(?, ?, ?)" for _ in spans)
    # One pass over the alerts' rows for every figure: grouped by month, severity, feed, kind, reason, malware
    # family, whether it is a re-notification, establishment, and the CVE of a vulnerability warning (about one
    # group per few warnings: the body is read once, Python sums the groups).
    rows = db.execute(
        f"WITH months (m, lo, hi) AS (VALUES {values}) "
        f"SELECT m.m, a.severity, substr(json_extract(a.body, '$.finding.feed'), 1, {_TEXT_CHARS}), "
        "json_extract(a.body, '$.finding.kind'), json_extract(a.body, '$.finding.reason'), "
        f"substr(json_extract(a.body, '$.finding.attrs.malware'), 1, {_TEXT_CHARS}), {_FOLLOW_UP}, a.establishment, "
        f"CASE WHEN {_CVE_WARNING} THEN substr(json_extract(a.body, '$.finding.indicator[1]'), 1, {_TEXT_CHARS}) END, "
        "COUNT(*) "
        "FROM outbox o JOIN months m ON o.sent_at >= m.lo AND o.sent_at < m.hi JOIN alerts a ON a.delivery = o.id "
        "WHERE o.state = ? AND o.sent_at >= ? AND o.sent_at < ? AND a.inventory = 0 "
        "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9",
        (*(x for span in spans for x in span), *window),
    ).fetchall()
    per_month = [0] * len(months)
    renotifications = 0
    severities: dict[Severity, int] = {}
    kinds: dict[ReportKind, int] = {}
    feeds: dict[str, int] = {}
    malware: dict[str, int] = {}
    per_establishment: dict[str, int] = {}
    pairs: set[tuple[str, str]] = set()  # (establishment, CVE) of the vulnerability warnings
    kev: set[str] = set()  # the CVEs a KEV finding told: exploited
    for month, severity, feed, kind, reason, family, follow_up, establishment, cve, n in rows:
        if follow_up:
            renotifications += n
            continue
        per_month[month] += n
        severities[Severity(severity)] = severities.get(Severity(severity), 0) + n
        per_establishment[establishment] = per_establishment.get(establishment, 0) + n
        if cve is None:
            k = report_kind(FeedKind(kind), MatchReason(reason))
            kinds[k] = kinds.get(k, 0) + n
        else:
            pairs.add((establishment, cve))
            if MatchReason(reason) is MatchReason.KEV_PRODUCT:
                kev.add(cve)
        feeds[feed] = feeds.get(feed, 0) + n
        if family:
            malware[family] = malware.get(family, 0) + n
    exploited = kev | _known_exploited(db, {cve for _, cve in pairs} - kev)
    cves: dict[str, int] = {}
    for _, cve in pairs:
        k = ReportKind.EXPLOITED if cve in exploited else ReportKind.VULNERABILITY
        kinds[k] = kinds.get(k, 0) + 1
        if cve in exploited:
            cves[cve] = cves.get(cve, 0) + 1
    return Figures(
        period=period,
        warnings=sum(per_month),
        renotifications=renotifications,
        establishments=len(per_establishment),
        by_month=tuple(zip(months, per_month, strict=True)),
        by_severity=dict(sorted(severities.items(), reverse=True)),
        by_kind=ranked(kinds),
        by_feed=ranked(feeds),
        by_region=regroup(per_establishment, region_of),
        by_category=regroup(per_establishment, category_of),
        top_cves=tuple(ranked(cves).items())[:TOP],
        top_malware=tuple(ranked(malware).items())[:TOP],
        deliveries=_deliveries(db, lo, hi),
        acks=_acknowledgements(db, window, links),
        proposals=_proposals(db, lo, hi),
    )


def _known_exploited(db: sqlite3.Connection, cves: set[str]) -> set[str]:
    """Those of ``cves`` a source of the knowledge says are exploited in the wild (KEV's word, kept whatever feed
    found the vulnerability); by the knowledge's primary key, CVE first."""
    rows = db.execute(
        "SELECT DISTINCT k.cve FROM knowledge k WHERE k.cve IN (SELECT value FROM json_each(?)) "
        "AND json_extract(k.body, '$.exploited')",
        (json.dumps(sorted(cves)),),
    )
    return {str(cve) for (cve,) in rows}


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _deliveries(db: sqlite3.Connection, lo: str, hi: str) -> Deliveries:
    """The emails made for establishments in the period by what became of them: each email is its first outbox
    row (the copies a partial send makes for the recipients refused share its Message-ID); retried when it took
    more than one attempt or an operator queued it again (a store no alertd with ``requeues`` opened yet has
    none recorded)."""
    requeued = (
        "OR EXISTS (SELECT 1 FROM requeues r WHERE r.message_id = o.message_id)"
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'requeues'").fetchone()
        else ""
    )
    counts = {
        (DeliveryState(state), bool(retried)): int(n)
        for state, retried, n in db.execute(
            f"SELECT state, attempts > 1 {requeued}, COUNT(*) FROM outbox o WHERE created >= ? AND created < ? "
            "AND establishment != ? "
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.message_id = o.message_id AND p.id < o.id) GROUP BY 1, 2",
            (lo, hi, OPERATORS),
        )
    }
    return Deliveries(
        sent_first_time=counts.get((DeliveryState.SENT, False), 0),
        sent_after_retries=counts.get((DeliveryState.SENT, True), 0),
        failed_for_good=sum(n for (state, _), n in counts.items() if state is DeliveryState.FAILED),
        waiting=sum(n for (state, _), n in counts.items() if state.waiting),
    )


def _acknowledgements(db: sqlite3.Connection, window: tuple[str, str, str], links: bool) -> Acknowledgements:
    """The warning emails sent in the period (with a new warning), those answered, the median time to the first
    answer (in SQL: the middle one, or the mean of the middle two), and the emails answered "not us" in it."""
    # Each warning email's delay to its first answer (NULL when unanswered), computed once (a CTE used twice is
    # materialised); the answered ones numbered in order of delay, for the middle one or two.
    emails, answered, median = db.execute(
        "WITH delays AS (SELECT (julianday((SELECT MIN(k.at) FROM acks k WHERE k.reference = o.reference)) "
        "- julianday(o.sent_at)) * 86400.0 AS d FROM outbox o "
        "WHERE o.state = ? AND o.sent_at >= ? AND o.sent_at < ? AND o.reference IS NOT NULL "
        f"AND EXISTS (SELECT 1 FROM alerts a WHERE a.delivery = o.id AND a.inventory = 0 AND {_FOLLOW_UP} = 0)), "
        "ordered AS (SELECT d, ROW_NUMBER() OVER (ORDER BY d) AS n, COUNT(*) OVER () AS c FROM delays "
        "WHERE d IS NOT NULL) "
        "SELECT (SELECT COUNT(*) FROM delays), (SELECT COUNT(*) FROM ordered), "
        "(SELECT AVG(d) FROM ordered WHERE n IN ((c + 1) / 2, (c + 2) / 2))",
        window,
    ).fetchone()
    # An answer to a reminder is recorded for the warning it escalated too: counted once, as the warning's.
    # Only the answers to warning emails: an inventory's "not us" is about no warning (the emails sent with a
    # warning, read from outbox_sent and alerts_report alone; the reminders, which carry no alert, drop out too).
    (false_positives,) = db.execute(
        "SELECT COUNT(DISTINCT reference) FROM acks WHERE response = ? AND at >= ? AND at < ? "
        "AND reference NOT IN (SELECT reminder FROM escalations) "
        "AND reference IN (SELECT o.reference FROM outbox o WHERE o.state = ? AND o.reference IS NOT NULL "
        "AND EXISTS (SELECT 1 FROM alerts a WHERE a.delivery = o.id AND a.inventory = 0))",
        (str(AckResponse.NOT_US), window[1], window[2], window[0]),
    ).fetchone()
    return Acknowledgements(
        emails=int(emails),
        answered=int(answered),
        median_seconds=round(float(median), 3) if median is not None else None,
        false_positives=int(false_positives),
        links=links,
    )


def _proposals(db: sqlite3.Connection, lo: str, hi: str) -> Proposals:
    """The inhibitions proposed in the period, by the operator's decision so far."""
    counts = {
        decision: int(n)
        for decision, n in db.execute(
            "SELECT decision, COUNT(*) FROM proposals WHERE at >= ? AND at < ? GROUP BY 1", (lo, hi)
        )
    }
    return Proposals(
        proposed=sum(counts.values()),
        accepted=counts.get(str(Decision.ACCEPTED), 0),
        rejected=counts.get(str(Decision.REJECTED), 0),
        open=counts.get(None, 0),
    )
