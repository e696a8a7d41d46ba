"""What a configuration change would do to who gets what (``alertd what-if``), as codes and values.

Policy computes these (:mod:`alertd.policy.difference`); render alone puts them into words.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

from alertd.domain.codes import MatchReason, SeverityRule
from alertd.domain.values import Finding, Severity


class Fate(enum.StrEnum):
    """What became of a finding under one configuration."""

    ALERTED = "alerted"  # an alert for it, routed by a subscription to some contacts
    INHIBITED = "inhibited"  # matched, held back by an inhibition
    UNROUTED = "unrouted"  # matched, but no subscription carries it (its severity, feeds or selector)
    WITHHELD = "withheld"  # matched, marked TLP:RED: for the operators by hand, emailed to nobody


class Change(enum.StrEnum):
    """One difference a change of configuration makes to a finding."""

    WARNING_ADDED = "warning-added"
    WARNING_REMOVED = "warning-removed"
    SEVERITY_CHANGED = "severity-changed"
    RECIPIENT_ADDED = "recipient-added"
    RECIPIENT_REMOVED = "recipient-removed"
    TO_DIGEST = "to-digest"  # told at once before, held for a digest now
    TO_IMMEDIATE = "to-immediate"
    NEWLY_INHIBITED = "newly-inhibited"
    NO_LONGER_INHIBITED = "no-longer-inhibited"
    SUBSCRIPTION_CHANGED = "subscription-changed"  # carried by another subscription of the same kind
    SCHEDULE_CHANGED = "schedule-changed"  # its subscription's digest, quiet hours, business days or holidays
    # The same entry matched through another asset of the same establishment (a software version edited): the
    # finding's key changes with its asset, so it is a warning removed and one added, told as one.
    ASSET_CHANGED = "asset-changed"


class Reload(enum.StrEnum):
    """What the reload itself sends for a difference, given what was told already (the store's findings and first
    contact): the difference is who would get what; this, which email goes out now."""

    SENT_NOW = "sent-now"  # never told: the reload's re-match queues it (at once, or for its digest)
    INVENTORY = "inventory"  # backlog met on first contact: told in the establishment's inventory email
    FOLLOW_UP = "follow-up"  # told before and due again: a re-notification goes
    ALREADY_TOLD = "already-told"  # told before (a warning or an inventory): nothing now; the change applies later
    ALREADY_QUEUED = "already-queued"  # an alert for it waits already: it goes as it was queued
    NOTHING_MORE = "nothing-more"  # no longer told: nothing more is sent; what was told stays told


class Cause(enum.StrEnum):
    """The rule that made a difference (its arguments travel beside it, in :attr:`Difference.rule`)."""

    MATCHED = "matched"  # the registry now has the asset the finding hits
    NOT_MATCHED = "not-matched"  # the registry no longer has it
    SUBSCRIPTION = "subscription"  # the subscription that carries it now (or before)
    NO_SUBSCRIPTION = "no-subscription"  # none carries it at its severity
    SEVERITY_RULE = "severity-rule"  # the rule that sets its severity
    INHIBITION = "inhibition"  # the inhibition that holds it back (or held it)
    CONTACTS = "contacts"  # the establishment's contacts and their min_severity
    TLP_RED = "tlp-red"  # marked TLP:RED: emailed to nobody
    FEED_ADDED = "feed-added"  # the feed that found it is new
    FEED_REMOVED = "feed-removed"  # the feed that found it is gone
    ESTABLISHMENT_ADDED = "establishment-added"  # the establishment is new to the registry
    ESTABLISHMENT_REMOVED = "establishment-removed"  # the establishment is gone from the registry


class Mistake(enum.StrEnum):
    """A change that looks like a mistake: the operator is warned before the reload."""

    SHARED_NETWORK = "shared-network"  # two establishments' networks overlap, as they did not before
    SHARED_DOMAIN = "shared-domain"  # a domain (or a parent of it) declared by two establishments, newly
    SHARED_NAME = "shared-name"  # a name or alias newly given to several establishments: ambiguous in text
    SILENCED = "silenced"  # an establishment warned before would receive nothing
    INHIBITS_IMMINENT = "inhibits-imminent"  # an inhibition now hides a finding of imminent severity
    IDLE_SUBSCRIPTION = "idle-subscription"  # a subscription selects no establishment of the registry
    # A feed's settings read when its documents are parsed (url, format, kind, columns, caps) changed: its stored
    # entries were parsed under the old ones, so what they give under the new ones shows only after its next poll.
    FEED_REPARSED = "feed-reparsed"


class Outcome(NamedTuple):
    """A finding's fate under one configuration, and the rule of each step: its severity and the rule that set it,
    the subscription and contacts it goes to, or the inhibition that holds it back (its ``where``). A named tuple:
    a what-if makes two for each finding replayed (a million at national scale), ten times faster than a frozen
    dataclass's."""

    finding: Finding
    fate: Fate
    severity: Severity
    rule: SeverityRule
    subscription: str | None = None
    immediate: bool = False
    recipients: tuple[str, ...] = ()
    inhibition: str | None = None  # file:line:column of the inhibition
    inhibition_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Because:
    """The arguments of the rule that made a difference, those its :class:`Cause` takes: the registry's ``asset``
    and the match ``reason``; the ``subscription`` with its ``min_severity`` and ``digest``; the ``severity`` and
    the severity ``rule`` (and the ``previous_rule``); the ``inhibition`` (file:line:column) and its reason."""

    asset: str | None = None
    reason: MatchReason | None = None
    subscription: str | None = None
    min_severity: Severity | None = None
    digest: str | None = None
    severity: Severity | None = None
    rule: SeverityRule | None = None
    previous_rule: SeverityRule | None = None
    inhibition: str | None = None
    inhibition_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Difference:
    """One change to one finding of one establishment, with the rule that made it (``cause`` and its arguments)."""

    establishment: str
    change: Change
    cause: Cause
    finding: Finding
    before: str | None = None  # the value before (a severity, a recipient, a subscription), as the change needs
    after: str | None = None
    because: Because = field(default_factory=Because)
    reload: Reload | None = None  # what the reload sends for it; None when not worked out (the pure diff alone)


@dataclass(frozen=True, slots=True)
class LikelyMistake:
    """A likely mistake: what it is, the establishments (or subscription) it concerns, and the values at stake."""

    mistake: Mistake
    subjects: tuple[str, ...]
    values: tuple[str, ...] = ()
