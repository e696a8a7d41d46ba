"""Pruning what left the feeds after the retention period (issue #13 point 2), on a real SQLite file; the clock is
frozen: every moment is given."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import make_alert

from alertd.domain.delivery import DeliveryState
from alertd.domain.values import Alert, FeedKind, Indicator, IndicatorType, Observation
from alertd.store.prune import Pruned
from alertd.store.sqlite import Store

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=120)
RETENTION = timedelta(days=90)
EST = "330781196"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "alertd.sqlite3")
    yield store
    store.close()


def address(n: int) -> Indicator:
    return Indicator(IndicatorType.IPV4, f"147.210.0.{n}")


def entry(n: int) -> Observation:
    """The feed's entry a finding of :func:`alert` comes from."""
    return Observation(feed="feodo", entry=f"feodo:{address(n).value}", kind=FeedKind.COMPROMISE, title="C2")


def alert(n: int) -> Alert:
    return make_alert(address(n), est_id=EST)


def email(store: Store, alerts: list[Alert], at: datetime) -> int:
    """The queued alerts of these findings into one email, as a dispatch would; its delivery id."""
    keys = {a.finding.key for a in alerts}
    queued = [q for q in store.queued_alerts(immediate=True).get(EST, []) if q.alert.finding.key in keys]
    return store.enqueue_email(
        establishment=EST,
        alert_ids=[q.id for q in queued],
        finding_keys=sorted(keys),
        message_id=f"<alertd.{at.timestamp()}@cert-sante.example>",
        sender="alertes@cert-sante.example",
        recipients=["rssi@chu-bordeaux.example"],
        subject="alertes",
        message=b"Subject: alertes\r\n\r\nbody\r\n",
        now=at,
    )


def prune(store: Store, at: datetime = NOW) -> Pruned:
    return asyncio.run(store.prune_off_loop(at - RETENTION))


def count(store: Store, table: str) -> int:
    return int(store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_what_left_the_feed_long_ago_and_was_told_is_pruned_and_nothing_else(store: Store) -> None:
    # Six entries, each a finding emailed at T0 (entry 6's email never sent); then the feed drops 1-5 at T0 + 1 d.
    alerts = [alert(n) for n in range(1, 8)]
    store.save_observations("feodo", [entry(n) for n in range(1, 8)], T0)
    store.save_findings([a.finding for a in alerts], alerts, T0)
    sent = email(store, alerts[:5], T0)
    unsent = email(store, [alerts[5]], T0)
    store.mark_sent(sent, T0 + timedelta(minutes=1))
    store.mark_failed(unsent, "550 mailbox unavailable")  # failed for good: the operators may requeue it
    left = T0 + timedelta(days=1)
    store.save_observations("feodo", [entry(7)], left)
    # Entry 2's finding stands again (found by another entry, say): its resolution is cleared.
    store.save_findings([alerts[1].finding], [], left)
    # Entry 3's delisting was not told yet (no digest went since): kept until it is.
    told = [a.finding.key for a in alerts if a is not alerts[2]]
    store.mark_resolved_told(told, left)
    # Entry 4 comes back to the feed later, at T0 + 100 d, and is delisted again at T0 + 110 d (recent).
    store.save_observations("feodo", [entry(4), entry(7)], T0 + timedelta(days=100))
    store.save_findings([alerts[3].finding], [], T0 + timedelta(days=100))  # matched again by that poll
    store.save_observations("feodo", [entry(7)], T0 + timedelta(days=110))

    assert prune(store, T0 + timedelta(days=60)) == Pruned()  # nothing is old enough yet
    pruned = prune(store)
    # Entries 1, 2, 3, 5, 6 left 119 days ago; 4 ten days ago; 7 is listed.
    assert pruned.observations == 5
    # Findings: 1 and 5 go with their alerts; 2 stands again; 3 untold; 4 resolved recently; 6's email is unsent;
    # 7 is listed.
    assert (pruned.findings, pruned.alerts) == (2, 2)
    remaining = {row[0] for row in store.db.execute("SELECT key FROM findings")}
    assert remaining == {a.finding.key for a in alerts} - {alerts[0].finding.key, alerts[4].finding.key}
    assert pruned.emails == 0  # the sent email still carries the alerts of findings 2, 3, 4
    assert {d.id for d in store.deliveries()} == {sent, unsent}
    assert store.deliveries(DeliveryState.FAILED)[0].id == unsent
    assert count(store, "observations") == 2
    assert prune(store) == Pruned()  # nothing more: pruning twice is pruning once


def test_a_sent_email_whose_alerts_are_all_pruned_goes_too(store: Store) -> None:
    alerts = [alert(1), alert(2)]
    store.save_observations("feodo", [entry(1), entry(2)], T0)
    store.save_findings([a.finding for a in alerts], alerts, T0)
    sent = email(store, alerts, T0)
    store.mark_sent(sent, T0)
    store.save_observations("feodo", [], T0 + timedelta(hours=1))
    store.mark_resolved_told([a.finding.key for a in alerts], T0 + timedelta(hours=2))
    assert prune(store) == Pruned(observations=2, findings=2, alerts=2, emails=1)
    assert store.deliveries() == [] and count(store, "alerts") == 0 and count(store, "findings") == 0


def test_a_queued_alert_keeps_its_finding(store: Store) -> None:
    """A finding whose alert still waits for its email (a digest not sent yet) is never pruned."""
    queued = replace(alert(1), immediate=False)
    store.save_observations("feodo", [entry(1)], T0)
    store.save_findings([queued.finding], [queued], T0)
    store.save_observations("feodo", [], T0 + timedelta(hours=1))
    assert prune(store) == Pruned(observations=1)
    assert count(store, "findings") == 1 and count(store, "alerts") == 1
