"""Backlog is not news (contract §4): what policy makes of a finding met on first contact, by its own date."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from types import MappingProxyType

from builders import make_feed

from alertd.domain.codes import Evidence, MatchReason, VersionBasis
from alertd.domain.establishments import Contact as EstContact
from alertd.domain.establishments import Establishment, Registry, Software
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.feeds import FeedConfig, FeedFormat
from alertd.domain.routing import Selector, Subscription
from alertd.domain.settings import DEFAULT_RENOTIFY
from alertd.domain.values import Alert, FeedKind, Finding, FindingState, Indicator, IndicatorType, Severity
from alertd.policy.backlog import Contact, asset_key, establishment_key, own_date, scope_keys, subscription_key
from alertd.policy.decide import decide, inventory_may_go, recipients

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
EST = Establishment(
    id="e1",
    name="CH Test",
    aliases=("CHT",),
    kind="CH",
    contacts=(EstContact("rssi@ch.example"), EstContact("oncall@ch.example", "on-call", Severity.IMMINENT)),
    networks=(ipaddress.ip_network("1.2.3.0/24"),),
    asns=(64511,),
    domains=("ch.example",),
    software=(Software("Citrix", "NetScaler ADC", "13.1-49.13"),),
)
REGISTRY = Registry(MappingProxyType({"e1": EST}), ())
C2 = make_feed("c2", FeedFormat.CSV, FeedKind.COMPROMISE)
FEEDS = {"c2": C2}
SUBS = (Subscription("everything", Selector(everyone=True), Severity.INFO),)
# Polled yesterday; the establishment, its network and the subscription known for a year.
KNOWN = Contact(
    previous_poll={"c2": NOW - timedelta(days=1)},
    since={
        establishment_key("e1"): OLD,
        asset_key("e1", "1.2.3.0/24"): OLD,
        subscription_key("everything"): OLD,
    },
)


def c2_finding(published: datetime | None = OLD, **facts: str) -> Finding:
    return Finding(
        "e1",
        Indicator(IndicatorType.IPV4, "1.2.3.4"),
        "1.2.3.0/24",
        MatchReason.ADDRESS_IN_NETWORK,
        "c2",
        FeedKind.COMPROMISE,
        "c2:1.2.3.4",
        "Botnet C2",
        published=published,
        facts=Facts.of(facts),
    )


def decided(
    finding: Finding,
    contact: Contact | None,
    state: FindingState | None = None,
    feeds: dict[str, FeedConfig] | None = None,
) -> list[Alert]:
    return decide(
        [finding],
        registry=REGISTRY,
        feeds=feeds or FEEDS,
        subscriptions=SUBS,
        states={finding.key: state} if state else {},
        renotify=DEFAULT_RENOTIFY,
        now=NOW,
        contact=contact,
    )


def test_an_old_entry_on_a_feed_first_polled_goes_to_the_inventory_at_its_own_severity() -> None:
    (alert,) = decided(c2_finding(), Contact())
    assert alert.inventory and not alert.immediate
    assert alert.severity is Severity.IMMINENT  # ranks the inventory; never makes it urgent


def test_what_is_news() -> None:
    # A recent entry on first contact; an old one on a feed polled before, with nothing added since.
    assert [a.inventory for a in decided(c2_finding(NOW - timedelta(days=2)), Contact())] == [False]
    (alert,) = decided(c2_finding(), KNOWN)
    assert not alert.inventory and alert.immediate
    # No contact given: every finding is news, as before backlog existed.
    assert [a.inventory for a in decided(c2_finding(), None)] == [False]


def test_an_entry_without_a_date_is_never_backlog() -> None:
    assert [a.inventory for a in decided(c2_finding(None), Contact())] == [False]


def test_the_last_sighting_counts_as_the_entry_s_date_when_later() -> None:
    recent = (NOW - timedelta(days=3)).strftime("%Y-%m-%d")
    assert [a.inventory for a in decided(c2_finding(last_seen=recent), Contact())] == [False]
    assert [a.inventory for a in decided(c2_finding(last_seen="2020-01-01"), Contact())] == [True]
    assert [a.inventory for a in decided(c2_finding(last_seen="yesterday-ish"), Contact())] == [True]  # not a date
    assert own_date(c2_finding(last_seen=f"{recent} 10:00:00 UTC")) == datetime.fromisoformat(f"{recent}T10:00+00:00")


def test_a_host_the_source_marks_active_is_news_however_old() -> None:
    for status in ("online", "Online", "ACTIVE"):
        (alert,) = decided(c2_finding(status=status), Contact())
        assert not alert.inventory and alert.immediate, status
    assert [a.inventory for a in decided(c2_finding(status="offline"), Contact())] == [True]


def test_backlog_after_is_the_feed_s_window_and_never_turns_it_off() -> None:
    ten_days = c2_finding(NOW - timedelta(days=10))
    assert [a.inventory for a in decided(ten_days, Contact())] == [False]  # default window: 30 days
    week = {"c2": replace(C2, backlog_after=timedelta(days=7))}
    assert [a.inventory for a in decided(ten_days, Contact(), feeds=week)] == [True]
    never = {"c2": replace(C2, backlog_after=None)}
    assert [a.inventory for a in decided(c2_finding(), Contact(), feeds=never)] == [False]


def test_what_was_added_since_the_feed_s_previous_poll_is_a_first_contact() -> None:
    later = NOW - timedelta(hours=1)  # after yesterday's poll
    for key in (establishment_key("e1"), asset_key("e1", "1.2.3.0/24"), subscription_key("everything")):
        added = replace(KNOWN, since={**KNOWN.since, key: later})
        assert [a.inventory for a in decided(c2_finding(), added)] == [True], key
        missing = replace(KNOWN, since={k: v for k, v in KNOWN.since.items() if k != key})
        assert [a.inventory for a in decided(c2_finding(), missing)] == [True], key
    # Another asset added since concerns other findings only.
    other = replace(KNOWN, since={**KNOWN.since, asset_key("e1", "ch.example"): later})
    assert [a.inventory for a in decided(c2_finding(), other)] == [False]


def test_a_finding_told_or_queued_is_never_backlog() -> None:
    told = FindingState(OLD, last_alerted=NOW - timedelta(days=2))  # re-notification due (imminent: 1 day)
    (alert,) = decided(c2_finding(), Contact(), told)
    assert not alert.inventory and alert.follow_up
    assert decided(c2_finding(), Contact(), FindingState(OLD, queued=True)) == []


def test_a_confirmation_of_a_finding_waiting_in_an_inventory_stays_in_it() -> None:
    kev = make_feed("kev", FeedFormat.CISA_KEV, FeedKind.VULNERABILITY)
    finding = Finding(
        "e1",
        Indicator(IndicatorType.CVE, "CVE-2023-4966"),
        "Citrix NetScaler ADC 13.1-49.13",
        MatchReason.KEV_PRODUCT,
        "kev",
        FeedKind.VULNERABILITY,
        "kev:CVE-2023-4966",
        "Citrix Bleed",
        published=OLD,
    )
    finding = replace(
        finding,
        facts=Facts().with_version(VersionFact.judged(VersionBasis.IN_RANGE, "13.1-49.13", "<13.1-49.15", "nvd")),
    )
    assert finding.facts.version is not None and finding.facts.version.evidence is Evidence.AFFECTED
    waiting = FindingState(OLD, queued=True, unverified=True)
    polled = Contact(previous_poll={"kev": NOW}, since=KNOWN.since)  # judged again after this cycle's poll
    in_inventory = replace(polled, queued_inventory=frozenset({finding.key}))
    feeds = {"kev": kev}
    assert [a.inventory for a in decided(finding, in_inventory, waiting, feeds)] == [True]
    assert [a.inventory for a in decided(finding, polled, waiting, feeds)] == [False]


def test_an_inventory_never_wakes_the_on_call_line() -> None:
    (alert,) = decided(c2_finding(), Contact())
    assert recipients(EST, [alert]) == ["rssi@ch.example"]
    assert recipients(EST, [replace(alert, inventory=False)]) == ["rssi@ch.example", "oncall@ch.example"]


def test_an_inventory_waits_to_settle_and_for_quiet_hours_to_end() -> None:
    (alert,) = decided(c2_finding(), Contact())
    quiet = {"everything": replace(SUBS[0], quiet_hours=(time(20, 0), time(7, 0)))}
    day, night = NOW.replace(hour=10), NOW.replace(hour=22)
    newest = day - timedelta(minutes=4)
    assert not inventory_may_go([alert], quiet, newest, day, day)  # the 5 minutes have not passed
    assert inventory_may_go([alert], quiet, newest, day + timedelta(minutes=1), day)
    assert not inventory_may_go([alert], quiet, newest - timedelta(hours=12), night, night)  # imminent or not


def test_the_scope_names_assets_as_the_matcher_does() -> None:
    keys = scope_keys(REGISTRY, SUBS)
    assert keys == [
        "est:e1",
        "asset:e1:1.2.3.0/24",
        "asset:e1:AS64511",
        "asset:e1:ch.example",
        "asset:e1:CH Test",
        "asset:e1:CHT",
        "asset:e1:Citrix NetScaler ADC 13.1-49.13",
        "sub:everything",
    ]


def test_a_finding_told_in_an_inventory_is_never_re_told_while_it_is_still_backlog() -> None:
    # Told in yesterday's inventory: the imminent re-notification interval (1 day) has passed, but nothing the
    # source says is new: no warning, then or ever, while it stays old and inactive.
    inventoried = FindingState(OLD, last_alerted=NOW - timedelta(days=2), inventoried=True)
    assert decided(c2_finding(status="offline"), KNOWN, inventoried) == []
    assert decided(c2_finding(), KNOWN, replace(inventoried, last_alerted=NOW - timedelta(days=60))) == []


def test_a_finding_told_in_an_inventory_is_news_once_its_source_says_it_is_active_or_recent() -> None:
    # An hour after the inventory (inside the re-notification interval), the source marks the host online, or
    # dates it today: told at once, as news, not as a reminder.
    inventoried = FindingState(OLD, last_alerted=NOW - timedelta(hours=1), inventoried=True)
    for finding in (c2_finding(status="online"), c2_finding(last_seen=NOW.strftime("%Y-%m-%d %H:%M:%S"))):
        (alert,) = decided(finding, KNOWN, inventoried)
        assert not alert.inventory and not alert.follow_up and alert.immediate
    # Once told as news, it follows the ordinary re-notification rule.
    told = FindingState(OLD, last_alerted=NOW - timedelta(hours=1))
    assert decided(c2_finding(status="online"), KNOWN, told) == []


def test_a_date_at_the_edge_of_the_calendar_is_no_date() -> None:
    # 0001-01-01 at +01:00 has no UTC time: the entry has no readable last sighting, and policy goes on.
    finding = c2_finding(last_seen="0001-01-01T00:00:00+01:00")
    assert own_date(finding) == OLD
    assert [a.inventory for a in decided(finding, None)] == [False]


def test_up_is_as_active_as_online() -> None:
    # The email and policy read the status alike: "up" is active, so an old host marked up is news.
    assert [a.inventory for a in decided(c2_finding(status="up"), KNOWN)] == [False]
    assert [a.inventory for a in decided(c2_finding(status="down"), Contact())] == [True]


def test_a_reload_notes_the_scope_of_the_establishments_it_did_not_take_unchanged() -> None:
    kept = REGISTRY.establishments["e1"]
    added = replace(kept, id="e2", networks=(), asns=(), domains=(), aliases=(), software=())
    after = Registry(MappingProxyType({"e1": kept, "e2": added}), ())
    assert scope_keys(after, SUBS, noted=REGISTRY) == ["est:e2", "asset:e2:CH Test", "sub:everything"]
    edited = Registry(MappingProxyType({"e1": replace(kept, name="CH Essai")}), ())
    assert "asset:e1:CH Essai" in scope_keys(edited, SUBS, noted=REGISTRY)  # an equal copy is not the same object
