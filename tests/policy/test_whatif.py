"""The pure part of ``alertd what-if`` (:mod:`alertd.policy.difference`): fates, differences, likely mistakes,
from values built by hand (the command on a real history: ``tests/service/test_whatif_cli.py``)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

from builders import IPV4, make_alert, make_establishment, make_feed

from alertd.domain.codes import RuleKind, SeverityRule
from alertd.domain.establishments import Contact, Establishment, Registry
from alertd.domain.routing import Inhibition, Selector, Subscription
from alertd.domain.tlp import Tlp
from alertd.domain.values import Finding, FindingState, Severity
from alertd.domain.whatif import Because, Cause, Change, Difference, Fate, LikelyMistake, Mistake, Outcome, Reload
from alertd.policy.backlog import Contact as FirstContact
from alertd.policy.backlog import contact_keys
from alertd.policy.difference import (
    Sides,
    at_reload,
    compare,
    likely_mistakes,
    outcomes,
    shared_domains,
    shared_networks,
)
from alertd.render import whatif_text

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FINDING = make_alert(IPV4).finding  # e-bdx's 147.210.1.5, in its 147.210.0.0/16, from feodo (compromise)
EST = replace(
    make_establishment(FINDING.establishment),
    contacts=(
        Contact("rssi@chu-bordeaux.example"),
        Contact("astreinte@chu-bordeaux.example", min_severity=Severity.IMMINENT),
    ),
    networks=(ipaddress.ip_network("147.210.0.0/16"),),
)
REGISTRY = Registry({EST.id: EST}, ())
FEEDS = {"feodo": make_feed("feodo")}
NOW_SUB = Subscription("now", Selector(everyone=True), Severity.HIGH)
DIGEST_SUB = Subscription("daily", Selector(everyone=True), Severity.HIGH, digest="0 8 * * *")


def fates(
    subs: tuple[Subscription, ...] = (NOW_SUB,),
    held: tuple[Inhibition, ...] = (),
    finding: Finding = FINDING,
    **feed: Any,
) -> dict[str, Outcome]:
    """The fates of one finding under subscriptions ``subs``, held by ``held``, its feed changed as ``feed`` says."""
    feeds = {"feodo": replace(FEEDS["feodo"], **feed)} if feed else FEEDS
    kept = [] if held else [finding]
    return outcomes(kept, [(finding, h) for h in held], registry=REGISTRY, feeds=feeds, subscriptions=subs, now=NOW)


def test_each_fate_with_its_rule() -> None:
    told = fates()[FINDING.key]
    assert (told.fate, told.severity, told.subscription, told.immediate) == (
        Fate.ALERTED,
        Severity.IMMINENT,
        "now",
        True,
    )
    assert told.recipients == ("rssi@chu-bordeaux.example", "astreinte@chu-bordeaux.example")
    inh = Inhibition("honeypot", None, indicator="147.210.1.5", where="inhibitions.yaml:2:5")
    held = fates(held=(inh,))[FINDING.key]
    assert (held.fate, held.severity, held.inhibition) == (Fate.INHIBITED, Severity.IMMINENT, "inhibitions.yaml:2:5")
    assert fates(severity=Severity.INFO)[FINDING.key].fate is Fate.UNROUTED
    assert fates(tlp=Tlp.RED)[FINDING.key].fate is Fate.WITHHELD


def test_a_digest_made_immediate_and_a_red_marking_lifted() -> None:
    before = fates((DIGEST_SUB,), severity=Severity.HIGH)
    after = fates((NOW_SUB,), severity=Severity.HIGH)
    route = Because(subscription="now", min_severity=Severity.HIGH, severity=Severity.HIGH)
    assert compare(before, after, {"now": NOW_SUB, "daily": DIGEST_SUB}) == [
        Difference(EST.id, Change.TO_IMMEDIATE, Cause.SUBSCRIPTION, FINDING, "daily", "now", route)
    ]
    red = fates(tlp=Tlp.RED)
    assert compare(red, fates(), {}) == [
        Difference(EST.id, Change.WARNING_ADDED, Cause.TLP_RED, FINDING, None, "imminent", Because())
    ]
    assert compare(fates(), red, {}) == [
        Difference(EST.id, Change.WARNING_REMOVED, Cause.TLP_RED, FINDING, "imminent", None, Because())
    ]


def test_a_lowered_severity_loses_the_contact_who_asked_for_imminent_only() -> None:
    diffs = compare(fates(), fates(severity=Severity.CRITICAL), {})
    assert [(d.change, d.before, d.after) for d in diffs] == [
        (Change.SEVERITY_CHANGED, "imminent", "critical"),
        (Change.RECIPIENT_REMOVED, "astreinte@chu-bordeaux.example", None),
    ]
    feed_rule, compromise = SeverityRule.feed_severity("feodo"), SeverityRule.of(RuleKind.COMPROMISE_REPORTED)
    assert diffs[0].because == Because(rule=feed_rule, previous_rule=compromise)
    assert diffs[1].because == Because(severity=Severity.CRITICAL)


def test_shared_networks_are_found_nested_at_any_depth_and_per_family() -> None:
    def est(est_id: str, *nets: str) -> Establishment:
        return replace(make_establishment(est_id), networks=tuple(ipaddress.ip_network(n) for n in nets))

    registry = Registry(
        {
            e.id: e
            for e in (
                est("a", "10.0.0.0/8", "2001:db8::/32"),
                est("b", "10.1.0.0/16", "192.0.2.0/24"),
                est("c", "10.1.2.0/24", "10.3.0.0/16", "2001:db8:1::/48"),
                est("d", "192.0.3.0/24", "10.0.0.0/8"),
            )
        },
        (),
    )
    assert shared_networks(registry) == {
        ("a", "10.0.0.0/8", "b", "10.1.0.0/16"),
        ("a", "10.0.0.0/8", "c", "10.1.2.0/24"),
        ("a", "10.0.0.0/8", "c", "10.3.0.0/16"),
        ("a", "10.0.0.0/8", "d", "10.0.0.0/8"),
        ("b", "10.1.0.0/16", "c", "10.1.2.0/24"),
        ("b", "10.1.0.0/16", "d", "10.0.0.0/8"),
        ("c", "10.1.2.0/24", "d", "10.0.0.0/8"),
        ("c", "10.3.0.0/16", "d", "10.0.0.0/8"),
        ("a", "2001:db8::/32", "c", "2001:db8:1::/48"),
    }


def test_shared_domains_take_a_parent_for_the_same_domain() -> None:
    registry = Registry(
        {
            "a": replace(make_establishment("a"), domains=("chu.example",)),
            "b": replace(make_establishment("b"), domains=("labo.chu.example", "b.example")),
            "c": replace(make_establishment("c"), domains=("B.example.",)),
            "d": replace(make_establishment("d"), domains=("xchu.example",)),
        },
        (),
    )
    assert shared_domains(registry) == {
        ("a", "chu.example", "b", "labo.chu.example"),
        ("b", "b.example", "c", "b.example"),
    }


def test_likely_mistakes_are_only_those_the_change_makes() -> None:
    wide = replace(EST, id="e-wide", name="Clinique Large", aliases=(), domains=())
    wide = replace(wide, networks=(ipaddress.ip_network("147.0.0.0/8"),))
    new_registry = Registry({EST.id: EST, wide.id: wide}, ())
    idle = Subscription("nobody", Selector(ids=frozenset({"e-gone"})), Severity.INFO)
    inh = Inhibition("scanner", None, indicator="147.210.1.5", where="inhibitions.yaml:2:5")
    found = likely_mistakes(
        fates(),
        fates(held=(inh,)),
        old_registry=REGISTRY,
        new_registry=new_registry,
        old_subscriptions=(NOW_SUB,),
        new_subscriptions=(NOW_SUB, idle),
    )
    assert found == [
        LikelyMistake(Mistake.SHARED_NETWORK, (EST.id, "e-wide"), ("147.210.0.0/16", "147.0.0.0/8")),
        LikelyMistake(Mistake.SILENCED, (EST.id,)),
        LikelyMistake(Mistake.INHIBITS_IMMINENT, (EST.id,), ("147.210.1.5", "inhibitions.yaml:2:5")),
        LikelyMistake(Mistake.IDLE_SUBSCRIPTION, ("nobody",)),
    ]
    # The same configuration twice: nothing to warn of, though the subscription selects nobody in both.
    assert (
        likely_mistakes(
            fates(held=(inh,)),
            fates(held=(inh,)),
            old_registry=new_registry,
            new_registry=new_registry,
            old_subscriptions=(NOW_SUB, idle),
            new_subscriptions=(NOW_SUB, idle),
        )
        == []
    )


def test_a_digest_schedule_edited_or_another_digest_is_a_difference() -> None:
    before = fates((DIGEST_SUB,), severity=Severity.HIGH)
    old = Sides(old_subscriptions={"daily": DIGEST_SUB})
    monthly = replace(DIGEST_SUB, digest="0 8 1 * *")
    diffs = compare(before, fates((monthly,), severity=Severity.HIGH), {"daily": monthly}, old)
    assert [(d.change, d.cause, d.before, d.after) for d in diffs] == [
        (Change.SCHEDULE_CHANGED, Cause.SUBSCRIPTION, "digest 0 8 * * *", "digest 0 8 1 * *")
    ]
    saturdays = replace(DIGEST_SUB, business_days=frozenset({6}))
    diffs = compare(before, fates((saturdays,), severity=Severity.HIGH), {"daily": saturdays}, old)
    assert [(d.change, d.after) for d in diffs] == [(Change.SCHEDULE_CHANGED, "digest 0 8 * * *; business_days 6")]
    weekly = Subscription("weekly", Selector(everyone=True), Severity.HIGH, digest="0 8 * * 1")
    diffs = compare(before, fates((weekly,), severity=Severity.HIGH), {"weekly": weekly, "daily": DIGEST_SUB}, old)
    assert [(d.change, d.before, d.after) for d in diffs] == [(Change.SUBSCRIPTION_CHANGED, "daily", "weekly")]
    assert whatif_text.summary(diffs, []) == [f"{EST.id}: 1 subscription changed"]
    # Quiet hours hold back what is told at once, but never an imminent finding (a compromise, here).
    quiet = replace(NOW_SUB, quiet_hours=(time(20), time(8)))
    assert compare(fates(), fates((quiet,)), {"now": quiet}, Sides(old_subscriptions={"now": NOW_SUB})) == []
    diffs = compare(
        fates(severity=Severity.HIGH),
        fates((quiet,), severity=Severity.HIGH),
        {"now": quiet},
        Sides(old_subscriptions={"now": NOW_SUB}),
    )
    assert [(d.change, d.before, d.after) for d in diffs] == [
        (Change.SCHEDULE_CHANGED, "immediate", "immediate; quiet_hours 20:00-08:00")
    ]


def test_an_establishment_whose_contacts_take_none_of_its_warnings_is_silenced() -> None:
    imminent_only = replace(EST, contacts=(Contact("rssi@chu-bordeaux.example", min_severity=Severity.IMMINENT),))
    registry = Registry({EST.id: imminent_only}, ())
    feeds = {"feodo": replace(FEEDS["feodo"], severity=Severity.HIGH)}
    after = outcomes([FINDING], [], registry=registry, feeds=feeds, subscriptions=(NOW_SUB,), now=NOW)
    assert (after[FINDING.key].fate, after[FINDING.key].recipients) == (Fate.ALERTED, ())
    found = likely_mistakes(
        fates(severity=Severity.HIGH),
        after,
        old_registry=REGISTRY,
        new_registry=registry,
        old_subscriptions=(NOW_SUB,),
        new_subscriptions=(NOW_SUB,),
    )
    assert found == [LikelyMistake(Mistake.SILENCED, (EST.id,))]


def test_a_feed_severity_raised_into_a_subscription_is_told_as_the_feed_setting() -> None:
    diffs = compare(fates(severity=Severity.INFO), fates(severity=Severity.HIGH), {"now": NOW_SUB})
    rule = SeverityRule.feed_severity("feodo")
    assert [(d.change, d.cause, d.because) for d in diffs] == [
        (Change.WARNING_ADDED, Cause.SEVERITY_RULE, Because(severity=Severity.HIGH, rule=rule, previous_rule=rule))
    ]
    assert whatif_text.text(diffs, [], {}, "read")[2].endswith("its setting edited")


def test_a_finding_gone_or_come_with_its_feed_or_establishment_says_so() -> None:
    def cause(before: dict[str, Outcome], after: dict[str, Outcome], sides: Sides) -> list[tuple[Change, Cause]]:
        return [(d.change, d.cause) for d in compare(before, after, {"now": NOW_SUB}, sides)]

    ours = {EST.id}
    assert cause(fates(), {}, Sides(new_feeds=set(), new_establishments=ours)) == [
        (Change.WARNING_REMOVED, Cause.FEED_REMOVED)
    ]
    assert cause(fates(), {}, Sides(new_feeds={"feodo"}, new_establishments=set())) == [
        (Change.WARNING_REMOVED, Cause.ESTABLISHMENT_REMOVED)
    ]
    assert cause({}, fates(), Sides(old_feeds=set(), old_establishments=ours)) == [
        (Change.WARNING_ADDED, Cause.FEED_ADDED)
    ]
    assert cause(fates(), {}, Sides(new_feeds={"feodo"}, new_establishments=ours)) == [
        (Change.WARNING_REMOVED, Cause.NOT_MATCHED)
    ]


def test_an_inhibition_already_there_now_hiding_an_imminent_finding_is_warned_of() -> None:
    inh = Inhibition("scanner", None, indicator="147.210.1.5", where="inhibitions.yaml:2:5")
    found = likely_mistakes(
        fates(held=(inh,), severity=Severity.HIGH),
        fates(held=(inh,)),  # the feed's severity no longer lowered: imminent, as a compromise is
        old_registry=REGISTRY,
        new_registry=REGISTRY,
        old_subscriptions=(NOW_SUB,),
        new_subscriptions=(NOW_SUB,),
    )
    assert found == [LikelyMistake(Mistake.INHIBITS_IMMINENT, (EST.id,), ("147.210.1.5", "inhibitions.yaml:2:5"))]


def test_an_escape_sequence_in_operator_text_does_not_reach_the_terminal() -> None:
    inh = Inhibition("ok\x1b[2J\x1b]0;pwned\x07", None, indicator="147.210.1.5", where="inhibitions.yaml:2:5")
    diffs = compare(fates(), fates(held=(inh,)), {"now": NOW_SUB})
    mistakes = [LikelyMistake(Mistake.INHIBITS_IMMINENT, (EST.id,), ("147.210.1.5", "x\x1b[31m"))]
    lines = whatif_text.text(diffs, mistakes, {EST.id: "CHU\x9b"}, "read") + whatif_text.summary(diffs, mistakes)
    assert "ok [2J ]0;pwned " in lines[2]
    assert not any(ch in line for line in lines for ch in "\x1b\x07\x9b")


def test_a_name_given_to_a_second_establishment_is_a_likely_mistake() -> None:
    other = replace(make_establishment("e-other"), name="Clinique Autre", aliases=(), domains=())
    slip = replace(other, aliases=("chu  de BORDEAUX",))  # the alias of a copy-paste, spaced and cased otherwise
    before = Registry({EST.id: EST, other.id: other}, ())
    after = Registry({EST.id: EST, other.id: slip}, ())
    assert EST.name.casefold() == "chu de bordeaux"
    found = likely_mistakes(
        fates(),
        fates(),
        old_registry=before,
        new_registry=after,
        old_subscriptions=(NOW_SUB,),
        new_subscriptions=(NOW_SUB,),
    )
    assert found == [LikelyMistake(Mistake.SHARED_NAME, (EST.id, "e-other"), (EST.name,))]
    assert whatif_text.summary([], found) == [
        f"! name {EST.name!r} is given to {EST.id}, e-other: a text naming it counts only with the commune named too"
    ]
    # Shared before already: nothing new to warn of.
    assert (
        likely_mistakes(
            fates(),
            fates(),
            old_registry=after,
            new_registry=after,
            old_subscriptions=(NOW_SUB,),
            new_subscriptions=(NOW_SUB,),
        )
        == []
    )


def test_what_the_reload_sends_follows_what_was_told() -> None:
    """A digest made immediate: never told, it goes now (in an inventory when its establishment is met for the
    first time, the entry being old); told a day ago, nothing now (re-notified after a week);
    told long ago, a re-notification; waiting in a queue, it goes as queued; a warning removed sends nothing."""
    before, after = fates((DIGEST_SUB,), severity=Severity.HIGH), fates((NOW_SUB,), severity=Severity.HIGH)
    diffs = compare(before, after, {"now": NOW_SUB, "daily": DIGEST_SUB})
    first = NOW - timedelta(days=30)
    noted = dict.fromkeys(contact_keys((NOW_SUB,), [FINDING]), first)
    polled = FirstContact({"feodo": NOW - timedelta(hours=1)}, noted)

    def reload(state: FindingState | None, contact: FirstContact = polled) -> list[Reload | None]:
        states = {} if state is None else {FINDING.key: state}
        done = at_reload(
            diffs,
            after,
            registry=REGISTRY,
            feeds={"feodo": replace(FEEDS["feodo"], severity=Severity.HIGH)},
            subscriptions=(NOW_SUB,),
            states=states,
            renotify={Severity.HIGH: timedelta(days=7)},
            now=NOW,
            contact=contact,
        )
        return [d.reload for d in done]

    assert reload(None) == [Reload.SENT_NOW]
    assert reload(None, FirstContact({"feodo": NOW - timedelta(hours=1)}, {})) == [Reload.INVENTORY]
    assert reload(FindingState(first, NOW - timedelta(days=1))) == [Reload.ALREADY_TOLD]
    assert reload(FindingState(first, NOW - timedelta(days=8))) == [Reload.FOLLOW_UP]
    assert reload(FindingState(first, None, queued=True)) == [Reload.ALREADY_QUEUED]
    gone = compare(after, fates((), severity=Severity.HIGH), {"now": NOW_SUB})
    assert [
        d.reload
        for d in at_reload(
            gone, {}, registry=REGISTRY, feeds=FEEDS, subscriptions=(), states={}, renotify={}, now=NOW, contact=polled
        )
    ] == [Reload.NOTHING_MORE]
