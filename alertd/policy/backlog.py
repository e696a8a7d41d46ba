"""Backlog is not news (contract §4): what a first contact finds that is older than its feed's ``backlog_after``
is told once, in the establishment's inventory email, instead of as warnings.

A *first contact* is a feed's first successful poll, or an establishment, an asset or a subscription added to the
configuration after the feed's previous successful poll. The store notes when each of these *scope keys* was first
seen (:func:`scope_keys`); the poll hands policy those times and each feed's previous poll (:class:`Contact`).
Pure: nothing here reads the clock or the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alertd.domain.codes import SourceStatus
from alertd.domain.establishments import Establishment, Registry
from alertd.domain.feeds import FeedConfig
from alertd.domain.routing import Subscription
from alertd.domain.values import Finding, FindingState
from alertd.intake.formats.jsondoc import source_time


@dataclass(frozen=True, slots=True)
class Contact:
    """What first contact is judged from: each feed's previous successful poll (absent or None: never polled), and
    when each scope key was first noted (absent: not noted yet, so added just now)."""

    previous_poll: Mapping[str, datetime | None] = field(default_factory=dict)
    since: Mapping[str, datetime] = field(default_factory=dict)
    # Findings whose alert waits in an inventory: a newer decision on them (a confirmation) stays in it.
    queued_inventory: frozenset[str] = frozenset()


def establishment_key(est_id: str) -> str:
    """The scope key of an establishment."""
    return f"est:{est_id}"


def asset_key(est_id: str, asset: str) -> str:
    """The scope key of one asset of an establishment, named as the matcher names a finding's asset."""
    return f"asset:{est_id}:{asset}"


def subscription_key(name: str) -> str:
    """The scope key of a subscription."""
    return f"sub:{name}"


def assets(est: Establishment) -> Iterator[str]:
    """An establishment's assets as the matcher names them in :attr:`Finding.asset` (``match/index.py``): its
    networks, AS numbers, domains, names and software items."""
    yield from (str(net) for net in est.networks)
    yield from (f"AS{asn}" for asn in est.asns)
    yield from est.domains
    yield from (est.name, *est.aliases)
    yield from (str(sw) for sw in est.software)


def scope_keys(registry: Registry, subscriptions: Sequence[Subscription], noted: Registry | None = None) -> list[str]:
    """Every scope key of a configuration: its establishments, their assets, its subscriptions. ``noted``: a
    registry whose keys are noted already; its very establishments (the same objects: a reload reuses those of
    the files it did not parse again) are left out, their keys being the same (1.5 million keys for 100,000
    establishments: seconds saved at a reload)."""
    keys: dict[str, None] = {}
    before = noted.establishments if noted is not None else {}
    after = registry.establishments
    if before and list(before) == list(after):  # the usual reload: a walk in C loops over the pairs
        new = [est for old, est in zip(before.values(), after.values(), strict=True) if old is not est]
    else:
        new = [est for est in after.values() if before.get(est.id) is not est]
    for est in new:
        keys[establishment_key(est.id)] = None
        keys.update((asset_key(est.id, asset), None) for asset in assets(est))
    keys.update((subscription_key(sub.name), None) for sub in subscriptions)
    return list(keys)


def contact_keys(subscriptions: Sequence[Subscription], findings: Iterable[Finding]) -> list[str]:
    """The scope keys first contact is judged from for these findings: every subscription's, and each finding's
    establishment and asset (a national registry has 1.5 million keys, a poll's findings a few)."""
    wanted = [subscription_key(sub.name) for sub in subscriptions]
    for finding in findings:
        wanted += (establishment_key(finding.establishment), asset_key(finding.establishment, finding.asset))
    return wanted


def own_date(finding: Finding) -> datetime | None:
    """An entry's own date: the latest of its publication and the source's last sighting (when that reads as a
    date); None when it has neither (nothing proves it old)."""
    dates = [d for d in (finding.published, source_time(finding.facts.last_seen)) if d is not None]
    return max(dates, default=None)


def active(finding: Finding) -> bool:
    """Whether the source marks the host as in use now (``status`` online, active, up...: :class:`SourceStatus`,
    as the email reads it)."""
    return SourceStatus.of(finding.facts.status) is SourceStatus.ACTIVE


def first_contact(finding: Finding, sub: Subscription, contact: Contact) -> bool:
    """Whether alertd meets this finding for the first time: its feed never polled successfully before, or its
    establishment, its asset or the subscription routing it was added since the feed's previous poll."""
    previous = contact.previous_poll.get(finding.feed)
    if previous is None:
        return True
    keys = (
        establishment_key(finding.establishment),
        asset_key(finding.establishment, finding.asset),
        subscription_key(sub.name),
    )
    for key in keys:
        since = contact.since.get(key)
        if since is None or since > previous:
            return True
    return False


def is_backlog(
    finding: Finding,
    feed: FeedConfig,
    sub: Subscription,
    state: FindingState | None,
    contact: Contact,
    now: datetime,
) -> bool:
    """Whether a finding is backlog: met on first contact, never told nor queued, and older by its own date than
    its feed's ``backlog_after``; never a host the source marks active, nor an entry without a date."""
    if feed.backlog_after is None or active(finding):
        return False
    if state is not None and (state.last_alerted is not None or state.queued):
        return False
    when = own_date(finding)
    if when is None or when >= now - feed.backlog_after:
        return False
    return first_contact(finding, sub, contact)


def still_backlog(finding: Finding, feed: FeedConfig, now: datetime) -> bool:
    """Whether a finding told in an inventory is still backlog: nothing its source says makes it news (not marked
    active, and its own date still older than its feed's ``backlog_after``). Such a finding is never told again
    as a warning; once its source marks it active or dates it anew, it is news, told at once."""
    if feed.backlog_after is None or active(finding):
        return False
    when = own_date(finding)
    return when is not None and when < now - feed.backlog_after
