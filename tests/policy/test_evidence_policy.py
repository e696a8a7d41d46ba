"""Policy and version evidence: a warning whose version was not checked is one level lower, and a confirmation
(ranges that arrived later and contain the version) is told again at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from builders import make_feed

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule, VersionBasis
from alertd.domain.establishments import Contact, Establishment, Registry
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.feeds import FeedFormat
from alertd.domain.routing import Selector, Subscription
from alertd.domain.settings import DEFAULT_RENOTIFY
from alertd.domain.values import FeedKind, Finding, FindingState, Indicator, IndicatorType, Severity
from alertd.policy.decide import classify, confirmed, decide

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
KEV = make_feed("kev", FeedFormat.CISA_KEV, FeedKind.VULNERABILITY)
NVD = make_feed("nvd", FeedFormat.NVD_JSON, FeedKind.VULNERABILITY)
EST = Establishment(id="e1", name="CH Test", kind="CH", contacts=(Contact("rssi@ch.example"),))
AFFECTED = VersionFact.judged(VersionBasis.IN_RANGE, "13.1-48.47", ">=13.1|<13.1-49.13", "nvd")
UNCHECKED = VersionFact.judged(VersionBasis.NO_RANGE, "13.1-48.47")


def kev_finding(
    version: VersionFact, reason: MatchReason = MatchReason.KEV_PRODUCT, cvss: str | None = None
) -> Finding:
    return Finding(
        "e1",
        Indicator(IndicatorType.CVE, "CVE-2023-3519"),
        "Citrix NetScaler ADC 13.1-48.47",
        reason,
        "kev",
        FeedKind.VULNERABILITY,
        "CVE-2023-3519",
        "Citrix NetScaler ADC code injection",
        facts=Facts(cvss=cvss, version=version),
    )


def test_an_unverified_version_lowers_the_severity_one_level_and_the_rule_says_so() -> None:
    assert classify(kev_finding(AFFECTED), KEV) == (Severity.CRITICAL, SeverityRule.of(RuleKind.KEV))
    severity, rule = classify(kev_finding(UNCHECKED), KEV)
    assert severity is Severity.HIGH and rule == SeverityRule.of(RuleKind.KEV).lowered() and rule.unverified
    assert SeverityRule.from_json(rule.to_json()) == rule
    # Never below info; a CVSS rule is lowered the same way.
    nvd = kev_finding(UNCHECKED, MatchReason.CVE_PRODUCT, cvss="9.8")
    assert classify(nvd, NVD)[0] is Severity.INFO
    assert classify(kev_finding(UNCHECKED, MatchReason.CVE_PRODUCT), NVD)[0] is Severity.INFO
    # A feed's own severity is lowered too: the version was not checked whatever the feed's weight.
    assert classify(kev_finding(UNCHECKED), make_feed("x", FeedFormat.RSS, FeedKind.ADVISORY, Severity.HIGH))[0] is (
        Severity.INFO
    )


def test_a_confirmation_is_decided_at_once_and_replaces_a_queued_alert() -> None:
    told = FindingState(NOW - timedelta(hours=2), last_alerted=NOW - timedelta(hours=1), unverified=True)
    queued = FindingState(NOW - timedelta(hours=2), queued=True, unverified=True)
    assert confirmed(kev_finding(AFFECTED), told)
    assert confirmed(kev_finding(AFFECTED), queued)
    assert not confirmed(kev_finding(UNCHECKED), told)  # still not checked: nothing new to tell
    assert not confirmed(kev_finding(AFFECTED), FindingState(NOW, last_alerted=NOW))  # told affected already
    registry = Registry(MappingProxyType({"e1": EST}), ())
    subs = (Subscription("kev-now", Selector(everyone=True), Severity.CRITICAL),)
    alerts = decide(
        [kev_finding(AFFECTED)],
        registry=registry,
        feeds={"kev": KEV},
        subscriptions=subs,
        states={kev_finding(AFFECTED).key: told},
        renotify=DEFAULT_RENOTIFY,
        now=NOW,
    )
    assert [(a.severity, a.follow_up) for a in alerts] == [(Severity.CRITICAL, False)]  # news, not a reminder
