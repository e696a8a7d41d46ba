"""What a configuration change would do (``alertd what-if``): each finding's fate under each configuration, the
differences between the two, and the changes that look like mistakes. Pure: the day and time are passed in.

A fate is decided as for a finding never told (no state, no backlog): the question is who would get what, not
whether it is due again today. What the reload itself sends for each difference (:func:`at_reload`) is decided
again with what the store says was told, by the poll's own :func:`~alertd.policy.decide.decide`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from alertd.domain.establishments import Registry
from alertd.domain.feeds import FeedConfig
from alertd.domain.routing import Inhibition, Subscription
from alertd.domain.values import Finding, FindingState, Severity
from alertd.domain.whatif import Because, Cause, Change, Difference, Fate, LikelyMistake, Mistake, Outcome, Reload
from alertd.policy.backlog import Contact
from alertd.policy.decide import classify, decide, recipients, withheld


def outcomes(
    kept: Sequence[Finding],
    held: Sequence[tuple[Finding, Inhibition]],
    *,
    registry: Registry,
    feeds: Mapping[str, FeedConfig],
    subscriptions: Sequence[Subscription],
    now: datetime,
) -> dict[str, Outcome]:
    """Each finding's fate under one configuration, by finding key: ``kept`` are the findings its inhibitions let
    through, ``held`` those they hold back (with the inhibition)."""
    # By the finding itself (decide hands back the same objects): a key is a hash, made once per finding here.
    alerts = {
        id(a.finding): a
        for a in decide(
            kept, registry=registry, feeds=feeds, subscriptions=subscriptions, states={}, renotify={}, now=now
        )
    }
    result: dict[str, Outcome] = {}
    contacts: dict[tuple[str, Severity], tuple[str, ...]] = {}
    for finding in kept:
        feed = feeds[finding.feed]
        alert = alerts.get(id(finding))
        if alert is not None:
            # Who gets it depends on the establishment and the severity alone: worked out once for each pair.
            told = (finding.establishment, alert.severity)
            if told not in contacts:
                contacts[told] = tuple(recipients(registry.establishments[finding.establishment], [alert]))
            result[finding.key] = Outcome(
                finding, Fate.ALERTED, alert.severity, alert.rule, alert.subscription, alert.immediate, contacts[told]
            )
            continue
        severity, rule = classify(finding, feed)
        fate = Fate.WITHHELD if withheld(finding, feed) else Fate.UNROUTED
        result[finding.key] = Outcome(finding, fate, severity, rule)
    for finding, inh in held:
        severity, rule = classify(finding, feeds[finding.feed])
        result[finding.key] = Outcome(
            finding, Fate.INHIBITED, severity, rule, inhibition=inh.where, inhibition_reason=inh.reason
        )
    return result


def told_after(differences: Iterable[Difference], after: Mapping[str, Outcome]) -> list[Finding]:
    """The findings of these differences that the edited configuration tells (each once): those whose states the
    store is asked for, to say what the reload sends (:func:`at_reload`). By the finding itself (a difference holds
    the edited side's very finding): no key hashed for half a million warnings removed."""
    alerted = {id(o.finding) for o in after.values() if o.fate is Fate.ALERTED}
    told: dict[int, Finding] = {}
    for d in differences:
        if id(d.finding) in alerted:
            told.setdefault(id(d.finding), d.finding)
    return list(told.values())


def at_reload(
    differences: Sequence[Difference],
    after: Mapping[str, Outcome],
    *,
    registry: Registry,
    feeds: Mapping[str, FeedConfig],
    subscriptions: Sequence[Subscription],
    states: Mapping[str, FindingState],
    renotify: Mapping[Severity, timedelta | None],
    now: datetime,
    contact: Contact,
) -> list[Difference]:
    """The differences, each with what the reload sends for it (:class:`Reload`): the edited configuration's
    findings decided by the poll's :func:`decide` with the store's ``states`` and first ``contact``, as the reload's
    re-match decides them. A finding it does not tell sends nothing more."""
    told = told_after(differences, after)
    decided = {
        id(a.finding): a
        for a in decide(
            told,
            registry=registry,
            feeds=feeds,
            subscriptions=subscriptions,
            states=states,
            renotify=renotify,
            now=now,
            contact=contact,
        )
    }
    codes: dict[int, Reload] = {}
    for finding in told:
        alert, state = decided.get(id(finding)), states.get(finding.key)
        if alert is not None:
            codes[id(finding)] = (
                Reload.INVENTORY if alert.inventory else Reload.FOLLOW_UP if alert.follow_up else Reload.SENT_NOW
            )
        else:
            codes[id(finding)] = Reload.ALREADY_QUEUED if state is not None and state.queued else Reload.ALREADY_TOLD
    # Made anew by the constructor: dataclasses.replace takes twice as long (1.3 s for half a million differences).
    return [
        Difference(
            d.establishment,
            d.change,
            d.cause,
            d.finding,
            d.before,
            d.after,
            d.because,
            codes.get(id(d.finding), Reload.NOTHING_MORE),
        )
        for d in differences
    ]


@dataclass(frozen=True, slots=True)
class Sides:
    """What the two configurations hold beyond the outcomes: the subscriptions of each (a schedule edited under
    the same name), and the feeds and establishments of each (a finding gone with its feed is no registry's doing).
    Left empty, these causes are not told apart."""

    old_subscriptions: Mapping[str, Subscription] | None = None
    old_feeds: Collection[str] | None = None
    new_feeds: Collection[str] | None = None
    old_establishments: Collection[str] | None = None
    new_establishments: Collection[str] | None = None


def compare(
    before: Mapping[str, Outcome],
    after: Mapping[str, Outcome],
    subscriptions: Mapping[str, Subscription],
    sides: Sides | None = None,
) -> list[Difference]:
    """The differences from ``before`` to ``after``, by establishment then finding; ``subscriptions`` (the new
    configuration's, then the old one's for the names it alone has) give a route's rule; ``sides`` what else
    tells the causes apart."""
    found: list[Difference] = []
    sides = sides or Sides()
    for key in sorted(before.keys() | after.keys(), key=lambda k: _order(after[k] if k in after else before[k], k)):
        found += _differences(before.get(key), after.get(key), subscriptions, sides)
    return _asset_changes(found)


def _asset_changes(found: list[Difference]) -> list[Difference]:
    """A warning removed and one added for the same entry, indicator and establishment, matched through another
    asset (a software version edited: the finding's key holds its asset), as one ``asset-changed`` difference in
    the added one's place."""
    removed: dict[tuple[str, str, str, str], list[int]] = {}
    for n, d in enumerate(found):
        if d.change is Change.WARNING_REMOVED and d.cause is Cause.NOT_MATCHED:
            removed.setdefault(_entry(d), []).append(n)
    if not removed:
        return found
    dropped: set[int] = set()
    result: list[Difference] = []
    for d in found:
        pair = removed.get(_entry(d)) if d.change is Change.WARNING_ADDED and d.cause is Cause.MATCHED else None
        if pair:
            n = pair.pop(0)
            dropped.add(n)
            d = replace(d, change=Change.ASSET_CHANGED, before=found[n].finding.asset, after=d.finding.asset)
        result.append(d)
    # A removal paired with an addition after it was appended already: taken out again, by identity.
    gone = {id(found[n]) for n in dropped}
    return [d for d in result if id(d) not in gone]


def _entry(d: Difference) -> tuple[str, str, str, str]:
    f = d.finding
    return f.establishment, f.feed, f.entry, f.indicator.value


def _order(outcome: Outcome, key: str) -> tuple[str, str, str, str]:
    """Differences by establishment, then feed, then indicator: the order a reader looks things up in."""
    f = outcome.finding
    return f.establishment, f.feed, f.indicator.value, key


def _differences(
    old: Outcome | None, new: Outcome | None, subs: Mapping[str, Subscription], sides: Sides
) -> list[Difference]:
    either = new or old
    assert either is not None
    finding = either.finding
    est = finding.establishment

    def diff(change: Change, cause: Cause, was: str | None, now: str | None, because: Because) -> Difference:
        return Difference(est, change, cause, finding, was, now, because)

    was_fate = old.fate if old is not None else None
    now_fate = new.fate if new is not None else None
    result: list[Difference] = []
    if now_fate is Fate.INHIBITED and was_fate is not Fate.INHIBITED:
        assert new is not None
        result.append(diff(Change.NEWLY_INHIBITED, Cause.INHIBITION, _fate(old), now_fate.value, _inhibition(new)))
    elif was_fate is Fate.INHIBITED and now_fate not in (Fate.INHIBITED, None):
        assert old is not None and now_fate is not None
        result.append(
            diff(Change.NO_LONGER_INHIBITED, Cause.INHIBITION, was_fate.value, now_fate.value, _inhibition(old))
        )
    told, tells = was_fate is Fate.ALERTED, now_fate is Fate.ALERTED
    inhibition_says = Fate.INHIBITED in (was_fate, now_fate)
    if tells and not told and not inhibition_says:
        assert new is not None
        cause, rule = (
            _arrived(new.finding, sides)
            if old is None
            else (Cause.TLP_RED, _because())
            if old.fate is Fate.WITHHELD
            else (Cause.SEVERITY_RULE, _because(rule=new.rule, previous_rule=old.rule, severity=new.severity))
            if old.severity != new.severity
            else (Cause.SUBSCRIPTION, _route(new, subs))
        )
        result.append(diff(Change.WARNING_ADDED, cause, None, new.severity.label, rule))
    elif told and not tells and not inhibition_says:
        assert old is not None
        cause, rule = _why_not(new) if new is not None else _left(old.finding, sides)
        result.append(diff(Change.WARNING_REMOVED, cause, old.severity.label, None, rule))
    elif told and tells:
        assert old is not None and new is not None
        result += _both_told(old, new, subs, sides, diff)
    return result


def _arrived(finding: Finding, sides: Sides) -> tuple[Cause, Because]:
    """Why a finding not made before is made now: its feed or establishment is new, or the registry matches it."""
    if sides.old_feeds is not None and finding.feed not in sides.old_feeds:
        return Cause.FEED_ADDED, _because()
    if sides.old_establishments is not None and finding.establishment not in sides.old_establishments:
        return Cause.ESTABLISHMENT_ADDED, _because()
    return Cause.MATCHED, _asset(finding)


def _left(finding: Finding, sides: Sides) -> tuple[Cause, Because]:
    """Why a finding made before is not made now: its feed or establishment is gone, or the registry no longer
    matches it."""
    if sides.new_feeds is not None and finding.feed not in sides.new_feeds:
        return Cause.FEED_REMOVED, _because()
    if sides.new_establishments is not None and finding.establishment not in sides.new_establishments:
        return Cause.ESTABLISHMENT_REMOVED, _because()
    return Cause.NOT_MATCHED, _asset(finding)


def _both_told(
    old: Outcome, new: Outcome, subs: Mapping[str, Subscription], sides: Sides, diff: Callable[..., Difference]
) -> list[Difference]:
    """What changed of a finding told under both configurations: its severity, its route, its recipients."""
    result: list[Difference] = []
    if old.severity != new.severity:
        rules = _because(rule=new.rule, previous_rule=old.rule)
        result.append(diff(Change.SEVERITY_CHANGED, Cause.SEVERITY_RULE, old.severity.label, new.severity.label, rules))
    if old.immediate != new.immediate:
        change = Change.TO_IMMEDIATE if new.immediate else Change.TO_DIGEST
        result.append(diff(change, Cause.SUBSCRIPTION, old.subscription, new.subscription, _route(new, subs)))
    elif old.subscription != new.subscription:
        route = _route(new, subs)
        result.append(diff(Change.SUBSCRIPTION_CHANGED, Cause.SUBSCRIPTION, old.subscription, new.subscription, route))
    elif sides.old_subscriptions is not None and new.subscription is not None:
        was, now = sides.old_subscriptions.get(new.subscription), subs.get(new.subscription)
        if was is not None and now is not None and schedule(was, old) != schedule(now, new):
            route = _route(new, subs)
            when = schedule(was, old), schedule(now, new)
            result.append(diff(Change.SCHEDULE_CHANGED, Cause.SUBSCRIPTION, *when, route))
    contacts = _because(severity=new.severity)
    result += [
        diff(Change.RECIPIENT_ADDED, Cause.CONTACTS, None, address, contacts)
        for address in new.recipients
        if address not in old.recipients
    ]
    result += [
        diff(Change.RECIPIENT_REMOVED, Cause.CONTACTS, address, None, contacts)
        for address in old.recipients
        if address not in new.recipients
    ]
    return result


def schedule(sub: Subscription, outcome: Outcome) -> str:
    """When a subscription sends this alert, as one comparable value: told at once, only its quiet hours (never
    for an imminent one); in a digest, the digest's cron, quiet hours, business days and holidays."""
    quiet = None if sub.quiet_hours is None else f"quiet_hours {sub.quiet_hours[0]:%H:%M}-{sub.quiet_hours[1]:%H:%M}"
    if outcome.immediate:
        return "immediate" if quiet is None or outcome.severity is Severity.IMMINENT else f"immediate; {quiet}"
    parts = [f"digest {sub.digest}"]
    if quiet is not None:
        parts.append(quiet)
    if sub.business_days is not None:
        parts.append("business_days " + ",".join(str(day) for day in sorted(sub.business_days)))
    if sub.holidays:
        parts.append("holidays " + ",".join(str(day) for day in sorted(sub.holidays)))
    return "; ".join(parts)


def _why_not(outcome: Outcome) -> tuple[Cause, Because]:
    """Why a finding matched under a configuration is not told under it (withheld or unrouted)."""
    if outcome.fate is Fate.WITHHELD:
        return Cause.TLP_RED, _because()
    return Cause.NO_SUBSCRIPTION, _because(severity=outcome.severity, rule=outcome.rule)


def _fate(outcome: Outcome | None) -> str | None:
    return outcome.fate.value if outcome is not None else None


def _asset(finding: Finding) -> Because:
    return _because(asset=finding.asset, reason=finding.reason)


def _inhibition(outcome: Outcome) -> Because:
    held = outcome.inhibition, outcome.inhibition_reason
    return _because(inhibition=held[0], inhibition_reason=held[1], severity=outcome.severity)


def _route(outcome: Outcome, subs: Mapping[str, Subscription]) -> Because:
    sub = subs.get(outcome.subscription or "")
    return _because(
        subscription=outcome.subscription,
        min_severity=sub.min_severity if sub is not None else None,
        digest=sub.digest if sub is not None else None,
        severity=outcome.severity,
    )


@functools.cache
def _because(**arguments: Any) -> Because:
    """A rule's arguments, made once for all the differences that share them (a change of subscription removes
    half a million warnings for the same reason: one value, not half a million)."""
    return Because(**arguments)


# -- likely mistakes -----------------------------------------------------------------------------------------


def likely_mistakes(
    before: Mapping[str, Outcome],
    after: Mapping[str, Outcome],
    *,
    old_registry: Registry,
    new_registry: Registry,
    old_subscriptions: Sequence[Subscription],
    new_subscriptions: Sequence[Subscription],
) -> list[LikelyMistake]:
    """The changes that look like mistakes: networks or domains newly shared by two establishments, an
    establishment warned before and of nothing after, an inhibition newly hiding an imminent finding, a
    subscription that selects no establishment (and selected some, or is new)."""
    found: list[LikelyMistake] = []
    old_nets = shared_networks(old_registry)
    found += [
        LikelyMistake(Mistake.SHARED_NETWORK, (a, b), (na, nb))
        for a, na, b, nb in sorted(shared_networks(new_registry) - old_nets)
    ]
    old_domains = shared_domains(old_registry)
    found += [
        LikelyMistake(Mistake.SHARED_DOMAIN, (a, b), (da, db))
        for a, da, b, db in sorted(shared_domains(new_registry) - old_domains)
    ]
    # Warned: an alert with someone to send it to (contacts whose min_severity takes none of them warn nobody).
    old_names = shared_names(old_registry)
    found += [
        LikelyMistake(Mistake.SHARED_NAME, ids, (name,))
        for form, (name, ids) in sorted(shared_names(new_registry).items())
        if form not in old_names or not set(ids) <= set(old_names[form][1])
    ]
    warned_before = {o.finding.establishment for o in before.values() if o.fate is Fate.ALERTED and o.recipients}
    warned_after = {o.finding.establishment for o in after.values() if o.fate is Fate.ALERTED and o.recipients}
    found += [
        LikelyMistake(Mistake.SILENCED, (est,))
        for est in sorted(warned_before - warned_after)
        if est in new_registry.establishments
    ]
    found += [
        LikelyMistake(
            Mistake.INHIBITS_IMMINENT, (o.finding.establishment,), (o.finding.indicator.value, o.inhibition or "")
        )
        for key, o in sorted(after.items(), key=lambda item: _order(item[1], item[0]))
        if o.fate is Fate.INHIBITED and o.severity is Severity.IMMINENT and not _held_imminent(before.get(key))
    ]
    idle_before = {s.name for s in old_subscriptions if not _selects_any(s, old_registry)}
    found += [
        LikelyMistake(Mistake.IDLE_SUBSCRIPTION, (s.name,))
        for s in new_subscriptions
        if s.name not in idle_before and not _selects_any(s, new_registry)
    ]
    return found


# What a feed's parser reads of it, and where the documents come from: entries stored under other values would be
# parsed otherwise (FeedConfig.spec, and the url).
PARSE_SETTINGS = ("url", "format", "kind", "columns", "max_field_bytes", "max_entry_bytes", "max_entries")


def reparsed_feeds(
    old: Sequence[FeedConfig], new: Sequence[FeedConfig], entries: Mapping[str, int]
) -> list[LikelyMistake]:
    """The feeds kept whose parse-time settings changed while entries of theirs are stored (``entries``: how many,
    per feed): what-if replays those entries as parsed then, for both sides, so it cannot show what the change
    does; each with the count and the settings changed."""
    before = {feed.id: feed for feed in old}
    found: list[LikelyMistake] = []
    for feed in new:
        was = before.get(feed.id)
        if was is None or not entries.get(feed.id):
            continue
        changed = tuple(name for name in PARSE_SETTINGS if getattr(was, name) != getattr(feed, name))
        if changed:
            found.append(LikelyMistake(Mistake.FEED_REPARSED, (feed.id,), (str(entries[feed.id]), *changed)))
    return found


def _held_imminent(outcome: Outcome | None) -> bool:
    """Whether an inhibition already held this finding back at imminent severity (nothing new to warn of)."""
    return outcome is not None and outcome.fate is Fate.INHIBITED and outcome.severity is Severity.IMMINENT


def _selects_any(sub: Subscription, registry: Registry) -> bool:
    return any(sub.selector.selects(est) for est in registry.establishments.values())


def shared_networks(registry: Registry) -> set[tuple[str, str, str, str]]:
    """The pairs of networks of two establishments that overlap: (establishment, network, other, its network),
    the first id the smaller. CIDR blocks are nested or apart, so one pass over them sorted by start, with the
    blocks still open on a stack, finds every pair (n log n, plus the pairs)."""
    blocks: list[tuple[int, int, int, str, str]] = []
    for item in registry.establishments.values():
        for block in item.networks:
            first, last = int(block.network_address), int(block.broadcast_address)
            blocks.append((block.version, first, -last, item.id, str(block)))
    blocks.sort()
    pairs: set[tuple[str, str, str, str]] = set()
    open_: list[tuple[int, int, str, str]] = []  # (version, last, establishment, network)
    for version, first, neg_last, est, net in blocks:
        while open_ and (open_[-1][0] != version or open_[-1][1] < first):
            open_.pop()
        for _, _, other, other_net in open_:
            if other != est:
                pairs.add((est, net, other, other_net) if est < other else (other, other_net, est, net))
        open_.append((version, -neg_last, est, net))
    return pairs


def shared_domains(registry: Registry) -> set[tuple[str, str, str, str]]:
    """The pairs of domains of two establishments where one is the other or a parent of it, as
    :func:`shared_networks` gives them."""
    owners: dict[str, set[str]] = {}
    for item in registry.establishments.values():
        for name in item.domains:
            owners.setdefault(name.lower().rstrip("."), set()).add(item.id)
    pairs: set[tuple[str, str, str, str]] = set()
    for domain, ests in owners.items():
        labels = domain.split(".")
        for n in range(len(labels)):  # the domain itself, then each parent
            parent = ".".join(labels[n:])
            for est in ests:
                for other in owners.get(parent, ()):
                    if other != est:
                        pairs.add((est, domain, other, parent) if est < other else (other, parent, est, domain))
    return pairs


def shared_names(registry: Registry) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The names and aliases several establishments give, case and spaces aside: by that form, the name as first
    written and the establishments (sorted). A text naming it counts for one of them only when it names that one's
    commune too. One pass over the names."""
    owners: dict[str, set[str]] = {}
    first: dict[str, str] = {}
    for item in registry.establishments.values():
        for name in (item.name, *item.aliases):
            form = " ".join(name.casefold().split())
            owners.setdefault(form, set()).add(item.id)
            first.setdefault(form, name)
    return {form: (first[form], tuple(sorted(ids))) for form, ids in owners.items() if len(ids) > 1}


def concerning(differences: Iterable[Difference], establishment: str | None) -> list[Difference]:
    """The differences of one establishment (all of them when None)."""
    return [d for d in differences if establishment is None or d.establishment == establishment]
