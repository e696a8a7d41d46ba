"""Policy: severity rules, dedup and re-notification, routing to subscriptions, recipients."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType

from builders import make_feed

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.domain.establishments import Contact, Establishment, Registry
from alertd.domain.facts import Facts
from alertd.domain.feeds import FeedConfig, FeedFormat
from alertd.domain.routing import Inhibition, Selector, Subscription
from alertd.domain.settings import DEFAULT_RENOTIFY
from alertd.domain.values import FeedKind, Finding, FindingState, Indicator, IndicatorType, Severity
from alertd.policy.decide import classify, decide, held, recipients
from alertd.policy.inhibitions import inhibition_for

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
EST = Establishment(
    id="e1",
    name="CH Test",
    kind="CH",
    contacts=(Contact("rssi@ch.example"), Contact("oncall@ch.example", "on-call", Severity.IMMINENT)),
)
OTHER = Establishment(id="e2", name="Clinique", kind="clinique", contacts=(Contact("x@clinique.example"),))
REGISTRY = Registry(MappingProxyType({"e1": EST, "e2": OTHER}), ())


def feed(feed_id: str, kind: FeedKind, severity: Severity | None = None) -> FeedConfig:
    return make_feed(feed_id, FeedFormat.CSV, kind, severity)


FEEDS = {
    "c2": feed("c2", FeedKind.COMPROMISE),
    "kev": feed("kev", FeedKind.VULNERABILITY),
    "news": feed("news", FeedKind.ADVISORY, Severity.HIGH),
}


def finding(
    est: str = "e1", feed_id: str = "c2", reason: MatchReason = MatchReason.ADDRESS_IN_NETWORK, value: str = "1.2.3.4"
) -> Finding:
    return Finding(
        est,
        Indicator(IndicatorType.IPV4, value),
        "1.2.3.0/24",
        reason,
        feed_id,
        FEEDS[feed_id].kind,
        "x",
        "t",
    )


SUBS = (
    Subscription("imminent", Selector(everyone=True), Severity.IMMINENT),
    Subscription("kev-now", Selector(everyone=True), Severity.CRITICAL, feeds=frozenset({"kev"})),
    Subscription("ch-daily", Selector(kinds=frozenset({"CH"})), Severity.HIGH, digest="0 8 * * *"),
)


def run(
    findings: list[Finding], states: dict[str, FindingState] | None = None, now: datetime = NOW
) -> list[tuple[str, str, bool]]:
    alerts = decide(
        findings,
        registry=REGISTRY,
        feeds=FEEDS,
        subscriptions=SUBS,
        states=states or {},
        renotify=DEFAULT_RENOTIFY,
        now=now,
    )
    return [(a.finding.establishment, a.subscription, a.immediate) for a in alerts]


def test_severity_rules() -> None:
    assert classify(finding(), FEEDS["c2"])[0] is Severity.IMMINENT
    assert classify(finding(feed_id="kev", reason=MatchReason.KEV_PRODUCT), FEEDS["kev"])[0] is Severity.CRITICAL
    assert classify(finding(feed_id="news", reason=MatchReason.PRODUCT_MENTION), FEEDS["news"]) == (
        Severity.HIGH,
        SeverityRule.feed_severity("news"),
    )
    plain = make_feed("n", FeedFormat.RSS, FeedKind.ADVISORY)
    assert classify(finding(feed_id="news"), plain)[0] is Severity.INFO


def _classified(
    kind: FeedKind, reason: MatchReason = MatchReason.ADDRESS_IN_NETWORK, cvss: str | None = None
) -> tuple[Severity, SeverityRule]:
    return classify(replace(finding(), kind=kind, reason=reason, facts=Facts(cvss=cvss)), feed("f", kind))


def test_each_severity_rule_is_a_code_with_its_arguments() -> None:
    assert _classified(FeedKind.COMPROMISE) == (Severity.IMMINENT, SeverityRule.of(RuleKind.COMPROMISE_REPORTED))
    assert _classified(FeedKind.LEAK, MatchReason.NAME_MENTION) == (
        Severity.IMMINENT,
        SeverityRule.of(RuleKind.LEAK_REPORTED),
    )
    assert _classified(FeedKind.EXPOSURE) == (Severity.CRITICAL, SeverityRule.of(RuleKind.EXPOSED_SERVICE))
    kev = _classified(FeedKind.VULNERABILITY, MatchReason.KEV_PRODUCT, cvss="9.8")
    assert kev == (Severity.CRITICAL, SeverityRule.of(RuleKind.KEV))
    cvss = _classified(FeedKind.VULNERABILITY, MatchReason.CVE_PRODUCT, cvss="9.85")
    assert cvss == (Severity.HIGH, SeverityRule.cvss_at_least_7(9.85))  # the score as given; render rounds it
    low = _classified(FeedKind.ADVISORY, MatchReason.PRODUCT_MENTION, cvss="6.9")
    assert low == (Severity.INFO, SeverityRule.of(RuleKind.NO_HIGHER_RULE))
    assert _classified(FeedKind.VULNERABILITY, MatchReason.CVE_PRODUCT, cvss="n/a")[1].kind is RuleKind.NO_HIGHER_RULE


def test_routing_immediate_wins_and_digest_for_the_rest() -> None:
    assert run([finding()]) == [("e1", "imminent", True)]
    assert run([finding(feed_id="kev", reason=MatchReason.KEV_PRODUCT)]) == [("e1", "kev-now", True)]
    assert run([finding(feed_id="news", reason=MatchReason.PRODUCT_MENTION)]) == [("e1", "ch-daily", False)]
    # The clinic is in no subscription for high findings: nothing is queued for it.
    assert run([finding(est="e2", feed_id="news", reason=MatchReason.PRODUCT_MENTION)]) == []


def test_dedup_and_renotification() -> None:
    f = finding()
    told = {f.key: FindingState(first_seen=NOW - timedelta(days=3), last_alerted=NOW - timedelta(hours=2))}
    assert run([f], told) == []
    assert run([f], told, now=NOW + timedelta(days=1)) == [("e1", "imminent", True)]
    queued = {f.key: FindingState(first_seen=NOW, queued=True)}
    assert run([f], queued) == []


def test_recipients_by_contact_severity() -> None:
    high = decide(
        [finding(feed_id="news", reason=MatchReason.PRODUCT_MENTION)],
        registry=REGISTRY,
        feeds=FEEDS,
        subscriptions=SUBS,
        states={},
        renotify=DEFAULT_RENOTIFY,
        now=NOW,
    )
    assert recipients(EST, high) == ["rssi@ch.example"]
    imminent = decide(
        [finding()],
        registry=REGISTRY,
        feeds=FEEDS,
        subscriptions=SUBS,
        states={},
        renotify=DEFAULT_RENOTIFY,
        now=NOW,
    )
    assert recipients(EST, imminent) == ["rssi@ch.example", "oncall@ch.example"]


# -- inhibitions -----------------------------------------------------------------------------------------------


def inh(**kw: object) -> Inhibition:
    return Inhibition(reason="r", expires=kw.pop("expires", None), **kw)  # type: ignore[arg-type]


def test_inhibitions_by_value_cidr_domain_cve_feed_type_and_establishment() -> None:
    today = date(2026, 11, 28)
    f = finding(value="147.210.8.9")
    assert inhibition_for(f, [inh(indicator="147.210.8.9")], today)
    assert inhibition_for(f, [inh(indicator="147.210.0.0/16")], today)
    assert not inhibition_for(f, [inh(indicator="147.211.0.0/16")], today)
    assert inhibition_for(f, [inh(feed="c2")], today) and not inhibition_for(f, [inh(feed="kev")], today)
    assert inhibition_for(f, [inh(type=IndicatorType.IPV4)], today)
    assert not inhibition_for(f, [inh(type=IndicatorType.DOMAIN)], today)
    assert inhibition_for(f, [inh(establishment="e1")], today)
    assert not inhibition_for(f, [inh(establishment="e2", indicator="147.210.8.9")], today)
    url = replace(f, indicator=Indicator(IndicatorType.URL, "https://vpn.honeypot.example/x"))
    assert inhibition_for(url, [inh(indicator="honeypot.example")], today)
    assert not inhibition_for(url, [inh(indicator="pot.example")], today)
    cve = replace(f, indicator=Indicator(IndicatorType.CVE, "CVE-2024-21762"))
    assert inhibition_for(cve, [inh(indicator="CVE-2024-21762")], today)


def test_expired_inhibitions_stop_applying() -> None:
    f = finding()
    rule = inh(indicator="1.2.3.4", expires=date(2026, 11, 27))
    assert inhibition_for(f, [rule], date(2026, 11, 28)) is None
    assert inhibition_for(f, [rule], date(2026, 11, 27)) is rule  # the whole expiry day still counts


def test_quiet_hours_hold_everything_but_imminent() -> None:
    sub = Subscription("night", Selector(everyone=True), Severity.INFO, quiet_hours=(time(20), time(7)))
    night = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)
    alerts = decide(
        [finding(), finding(feed_id="kev", reason=MatchReason.KEV_PRODUCT)],
        registry=REGISTRY,
        feeds=FEEDS,
        subscriptions=(sub,),
        states={},
        renotify=DEFAULT_RENOTIFY,
        now=night,
    )
    assert [(a.severity, held(a, sub, night)) for a in alerts] == [
        (Severity.IMMINENT, False),
        (Severity.CRITICAL, True),
    ]
