"""Withdrawn findings: a warning told, then judged not affected once ranges arrived, is corrected once; on a real
SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import CVE, IPV4, make_alert

from alertd.domain.codes import MatchReason, VersionBasis
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.values import Alert, FeedKind, Finding
from alertd.store.records import ResolvedFinding
from alertd.store.sqlite import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHU = "330781196"
ADC = "Citrix NetScaler ADC 13.1-49.15"
KEV_FACTS = Facts(due_date="2023-11-08")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "alertd.sqlite3")
    yield store
    store.close()


def kev_alert(asset: str = ADC, basis: VersionBasis = VersionBasis.NO_RANGE, range_: str | None = None) -> Alert:
    """A KEV finding on a declared Citrix ADC, its version judged on ``basis``."""
    version = VersionFact.judged(basis, asset.rsplit(" ", 1)[1], range_, "nvd" if range_ else None)
    return make_alert(
        CVE,
        reason=MatchReason.KEV_PRODUCT,
        asset=asset,
        kind=FeedKind.VULNERABILITY,
        feed="cisa-kev",
        facts=KEV_FACTS.with_version(version),
    )


def not_affected(finding: Finding) -> Finding:
    """The same finding judged again once NVD said 13.1-49.15 is the fixed release."""
    declared = finding.asset.rsplit(" ", 1)[1]
    fixed = VersionFact.judged(VersionBasis.FIXED_VERSION, declared, ">=13.1|<13.1-49.15", "nvd")
    return replace(finding, facts=KEV_FACTS.with_version(fixed))


def tell(store: Store, *alerts: Alert, at: datetime = NOW) -> None:
    """Queue the alerts and put them in an email, as a poll and a dispatch would."""
    store.save_findings([a.finding for a in alerts], alerts, at)
    queued = store.queued_alerts(immediate=True)[CHU]
    store.enqueue_email(
        establishment=CHU,
        alert_ids=[q.id for q in queued],
        finding_keys=[a.finding.key for a in alerts],
        message_id="<alertd.330781196.1@cert-sante.example>",
        sender="alertes@cert-sante.example",
        recipients=["rssi@chu-bordeaux.example"],
        subject="[CERT Santé] alertes",
        message=b"Subject: alertes\r\n\r\nbody\r\n",
        now=at,
    )


def test_a_told_finding_withdrawn_is_corrected_once(store: Store) -> None:
    told = kev_alert()
    address = make_alert(IPV4)
    tell(store, told, address)
    # The told software findings of an entry, by key: what a fresh judgement is compared with.
    assert store.told_software_findings("cisa-kev", [told.finding.entry]) == {told.finding.key: told.finding}
    assert store.told_software_findings("feodo", [address.finding.entry]) == {}  # not a software finding
    assert store.told_software_findings("cisa-kev", ["cisa-kev:CVE-2024-0001"]) == {}

    withdrawn = not_affected(told.finding)
    later = NOW + timedelta(hours=1)
    assert store.withdraw([(withdrawn, VersionBasis.FIXED_VERSION)], later) == 1
    assert store.withdraw([(withdrawn, VersionBasis.FIXED_VERSION)], later) == 0  # already withdrawn
    assert store.withdraw([(kev_alert("Citrix NetScaler ADC 14.1").finding, VersionBasis.FIXED_VERSION)], later) == 0
    assert store.told_software_findings("cisa-kev", [told.finding.entry]) == {}
    # The next email corrects it, with the new judgement: the finding stored is the new one.
    assert store.resolved_findings_untold() == {CHU: [ResolvedFinding(withdrawn, VersionBasis.FIXED_VERSION)]}
    assert store.resolved_findings_untold(CHU)[CHU][0].withdrawn
    assert store.resolved_untold() == {CHU: [withdrawn]}
    assert store.resolved_untold("another") == {}
    store.mark_resolved_told([withdrawn.key], later)
    assert store.resolved_untold() == {}


def test_a_delisted_finding_has_no_resolution_and_is_not_withdrawn_again(store: Store) -> None:
    told = kev_alert()
    tell(store, told)
    store.save_observations("cisa-kev", [], NOW + timedelta(hours=1))  # never stored: nothing is delisted
    with store.transaction() as db:  # the feed delisted its entry
        db.execute("UPDATE findings SET resolved_at = ? WHERE key = ?", (NOW.isoformat(), told.finding.key))
    resolved = store.resolved_findings_untold()
    assert resolved == {CHU: [ResolvedFinding(told.finding)]}
    assert not resolved[CHU][0].withdrawn
    assert store.withdraw([(not_affected(told.finding), VersionBasis.FIXED_VERSION)], NOW) == 0
    assert store.resolved_untold() == {CHU: [told.finding]}


def test_a_withdrawn_finding_seen_again_stands_again(store: Store) -> None:
    # Withdrawn, the correction not emailed yet, then affected again (another source's range): the warning told
    # stands, the correction is never sent, and it is not told again before it is due.
    first = kev_alert("Citrix NetScaler ADC 13.1-49.13")
    tell(store, first)
    store.withdraw([(not_affected(first.finding), VersionBasis.FIXED_VERSION)], NOW + timedelta(hours=1))
    again = kev_alert("Citrix NetScaler ADC 13.1-49.13", VersionBasis.IN_RANGE, ">=13.1|<13.1-49.16")
    store.save_findings([again.finding], [], NOW + timedelta(hours=2))
    assert store.resolved_untold() == {}
    assert store.told_software_findings("cisa-kev", [again.finding.entry]) == {again.finding.key: again.finding}
    assert store.finding_states([again.finding.key])[again.finding.key].last_alerted == NOW

    # Withdrawn, the correction emailed, then affected again: the establishment was told it is not concerned, so
    # the finding counts as never told, and is told again.
    second = kev_alert()
    tell(store, second)
    store.withdraw([(not_affected(second.finding), VersionBasis.FIXED_VERSION)], NOW + timedelta(hours=1))
    store.mark_resolved_told([second.finding.key], NOW + timedelta(hours=2))
    (state,) = store.finding_states([second.finding.key]).values()
    assert (state.first_seen, state.last_alerted, state.queued) == (NOW, None, False)
    store.save_findings([second.finding], [], NOW + timedelta(hours=3))
    (state,) = store.finding_states([second.finding.key]).values()
    assert (state.first_seen, state.last_alerted) == (NOW, None)
    assert list(store.told_software_findings("cisa-kev", [second.finding.entry])) == [again.finding.key]
    assert store.resolved_untold() == {}


def test_a_withdrawn_finding_not_yet_emailed_is_not_emailed(store: Store) -> None:
    queued = kev_alert()
    store.save_findings([queued.finding], [queued], NOW)
    assert store.queued_alerts(immediate=True)
    assert store.withdraw([(not_affected(queued.finding), VersionBasis.FIXED_VERSION)], NOW) == 1
    assert store.queued_alerts(immediate=True) == {}
    assert store.resolved_untold() == {}  # never told: nothing to correct
