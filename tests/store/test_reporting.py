"""The report's figures, counted by SQL over a hand-built state whose every figure is known (tests/report_state.py)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from report_state import CATEGORIES, EXPLOITED_CVE, PARIS, REGIONS, write_state

from alertd.domain.report import (
    UNKNOWN,
    Acknowledgements,
    Deliveries,
    Figures,
    Period,
    Proposals,
    ReportKind,
    change,
)
from alertd.domain.values import Severity
from alertd.store.reporting import figures
from alertd.store.sqlite import Store

YEAR = Period(date(2026, 1, 1), date(2027, 1, 1))


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_state(tmp_path_factory.mktemp("report") / "alertd.sqlite3")


def _figures(path: Path, period: Period) -> Figures:
    store = Store(path)
    try:
        return figures(store.db, period, PARIS, REGIONS, CATEGORIES)
    finally:
        store.close()


def test_a_year_counted_to_the_warning(state: Path) -> None:
    f = _figures(state, YEAR)
    assert f.warnings == 11
    assert f.establishments == 4
    # 31 January 23:30 in Paris is January; 1 February 00:30 in Paris is February, though 31 January in UTC.
    assert [m for m, _ in f.by_month] == [date(2026, m, 1) for m in range(1, 13)]
    assert [n for _, n in f.by_month] == [5, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert list(f.by_severity.items()) == [
        (Severity.IMMINENT, 4),
        (Severity.CRITICAL, 2),
        (Severity.HIGH, 4),
        (Severity.INFO, 1),
    ]
    # The vulnerabilities by (establishment, CVE): E1's and E2's CVE-2023-4966 (E2's told by KEV and NVD, once),
    # E4's CVE-2024-3400 (NVD's, exploited by the knowledge), E2's CVE-2024-0001.
    assert f.by_kind == {
        ReportKind.COMPROMISE: 3,
        ReportKind.EXPLOITED: 3,
        ReportKind.ADVISORY: 1,
        ReportKind.EXPOSURE: 1,
        ReportKind.LEAK: 1,
        ReportKind.VULNERABILITY: 1,
    }
    assert list(f.by_kind) == sorted(f.by_kind, key=lambda k: (-f.by_kind[k], k))
    assert f.by_feed == {"feodo": 3, "nvd": 3, "kev": 2, "certfr": 1, "ransomlook": 1, "shadowserver": 1}
    # E3 has no region in the registry, E4 is no longer in it: both unknown.
    assert list(f.by_region.items()) == [(UNKNOWN, 5), ("Occitanie", 4), ("Nouvelle-Aquitaine", 2)]
    assert list(f.by_category.items()) == [(UNKNOWN, 5), ("355", 4), ("101", 2)]
    assert f.top_cves == (("CVE-2023-4966", 2), (EXPLOITED_CVE, 1))
    assert f.top_malware == (("Pikabot", 2), ("QakBot", 1))


def test_a_renotification_is_no_warning(state: Path) -> None:
    # R6 tells R1's Pikabot address again in June: counted apart, in no month, severity, kind or family.
    f = _figures(state, YEAR)
    assert f.renotifications == 1
    assert dict(f.by_month)[date(2026, 6, 1)] == 0
    assert f.acks.emails == 5
    june = _figures(state, Period(date(2026, 6, 1), date(2026, 7, 1)))
    assert (june.warnings, june.renotifications, june.establishments, june.top_malware) == (0, 1, 0, ())
    assert june.acks.emails == 0


def test_deliveries_acknowledgements_and_proposals(state: Path) -> None:
    f = _figures(state, YEAR)
    # Sent at once: R1, R3, the inventory R5, R6, R8 and R1's reminder; after retries R2, R4; one failed, one
    # pending. R2's copy for the recipient refused for good is no email; the operators' notice waiting is none.
    assert f.deliveries == Deliveries(sent_first_time=6, sent_after_retries=2, failed_for_good=1, waiting=1)
    # Five warning emails (the inventory, the re-notification and the reminder are none), four answered after 2, 4,
    # 1 and 10 hours: the median is the mean of 2 and 4 hours. "Not us": R3 (twice, one email), and the
    # reminder's counted once, as R1's.
    assert f.acks == Acknowledgements(emails=5, answered=4, median_seconds=3 * 3600.0, false_positives=2)
    assert f.acks.rate == 0.8
    assert f.proposals == Proposals(proposed=3, accepted=1, rejected=1, open=1)


def test_no_rate_when_the_emails_carried_no_link(state: Path) -> None:
    store = Store(state)
    try:
        f = figures(store.db, YEAR, PARIS, REGIONS, CATEGORIES, links=False)
    finally:
        store.close()
    assert (f.acks.emails, f.acks.answered) == (5, 4)
    assert f.acks.rate is None


def test_the_previous_year(state: Path) -> None:
    previous = YEAR.previous()
    assert previous == Period(date(2025, 1, 1), date(2026, 1, 1))
    f = _figures(state, previous)
    assert (f.warnings, f.establishments) == (3, 2)
    assert [n for _, n in f.by_month] == [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0]
    assert f.by_region == {"Nouvelle-Aquitaine": 2, UNKNOWN: 1}  # E5 is gone from the registry
    assert f.top_cves == (("CVE-2023-4966", 1),)
    assert f.acks == Acknowledgements(emails=3, answered=1, median_seconds=3600.0, false_positives=0)
    assert f.proposals == Proposals(proposed=1, accepted=0, rejected=0, open=1)
    assert change(9, f.warnings).delta == 6
    assert change(9, f.warnings).percent == 200.0
    assert change(3, 0).percent is None


def test_a_period_of_days_and_its_previous_span(state: Path) -> None:
    # 10 January to 1 February: E1's two, E2's three; the previous span is the 22 days just before.
    period = Period(date(2026, 1, 10), date(2026, 2, 1))
    assert period.previous() == Period(date(2025, 12, 19), date(2026, 1, 10))
    f = _figures(state, period)
    assert f.warnings == 5
    assert f.by_month == ((date(2026, 1, 1), 5),)
    assert f.acks.median_seconds == 3 * 3600.0
    assert _figures(state, period.previous()).warnings == 0


def test_months_and_quarters_compare_with_as_many_months_before() -> None:
    assert Period(date(2026, 4, 1), date(2026, 7, 1)).previous() == Period(date(2026, 1, 1), date(2026, 4, 1))
    assert Period(date(2026, 1, 1), date(2026, 2, 1)).previous() == Period(date(2025, 12, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="before it starts"):
        Period(date(2026, 1, 2), date(2026, 1, 1))


def test_an_empty_store_reports_zeros(tmp_path: Path) -> None:
    f = _figures(tmp_path / "empty.sqlite3", YEAR)
    assert (f.warnings, f.establishments, f.top_cves, f.top_malware) == (0, 0, (), ())
    assert f.acks == Acknowledgements(emails=0, answered=0, median_seconds=None, false_positives=0)
    assert f.acks.rate is None
    assert len(f.by_month) == 12


def _plan(path: Path, query: str) -> str:
    store = Store(path)
    try:
        return " ".join(str(row[3]) for row in store.db.execute(f"EXPLAIN QUERY PLAN {query}"))
    finally:
        store.close()


# Each query's shape and the index it must read alone: the alerts joined by email (never the bodies for the
# count), and the outbox, whose row holds the message (22 KB): its reference and what the deliveries count are
# read from its indexes, never from the row.
PLANS = [
    (
        "SELECT a.establishment, COUNT(*) FROM outbox o JOIN alerts a ON a.delivery = o.id "
        "WHERE o.state = 'sent' AND o.sent_at >= '2026' AND o.sent_at < '2027' AND a.inventory = 0 GROUP BY 1",
        "COVERING INDEX alerts_report",
    ),
    (
        "SELECT o.reference, o.sent_at FROM outbox o "
        "WHERE o.state = 'sent' AND o.sent_at >= '2026' AND o.sent_at < '2027' AND o.reference IS NOT NULL",
        "COVERING INDEX outbox_sent",
    ),
    (
        "SELECT state, attempts, establishment, message_id FROM outbox WHERE created >= '2026' AND created < '2027'",
        "COVERING INDEX outbox_created",
    ),
]


@pytest.mark.parametrize(("query", "index"), PLANS)
def test_the_report_reads_its_indexes_not_the_rows(state: Path, query: str, index: str) -> None:
    assert index in _plan(state, query)


def test_an_email_an_operator_queued_again_was_sent_after_retries(tmp_path: Path) -> None:
    # The email that failed for good after 5 attempts goes out after `alertd outbox retry`: its attempts start over
    # (1), yet it was no first-time send.
    path = write_state(tmp_path / "alertd.sqlite3")
    store = Store(path)
    try:
        (failed,) = store.db.execute("SELECT id FROM outbox WHERE state = 'failed' AND reference IS NULL").fetchone()
        now = datetime(2026, 4, 2, 9, tzinfo=PARIS)
        assert store.requeue(failed, now)
        store.mark_sending(failed)
        store.mark_sent(failed, now)
    finally:
        store.close()
    f = _figures(path, YEAR)
    assert f.deliveries == Deliveries(sent_first_time=6, sent_after_retries=3, failed_for_good=0, waiting=1)
