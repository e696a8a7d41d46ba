"""Policy (contract §3–§4): which findings become alerts, how severe, for whom and when. Pure: time is passed in.

The severity rules, highest first:
- ``compromise`` and ``leak`` findings are *imminent*: an asset is used by an attacker, or the establishment is
  named on a leak site;
- ``exposure`` findings and a known-exploited vulnerability (``MatchReason.KEV_PRODUCT``) are *critical*;
- other vulnerability and advisory findings are *high* when their CVSS is 7 or more, *info* otherwise;
- a feed's ``severity`` overrides all of this;
- a vulnerability finding whose version was not checked (``unverified``) is one level lower.

An alert's TLP marking is the strictest of its feed's and of the marking its source gave the entry (a MISP tag, a
STIX marking, a CSAF document's distribution); a finding so marked ``RED`` is never an alert: it is for the
operators to handle by hand (contract §4).

What a first contact finds that is older than its feed's ``backlog_after`` keeps its severity (it ranks the
inventory) but is told in the establishment's inventory email, never at once (:mod:`~alertd.policy.backlog`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta, tzinfo

from alertd.domain.codes import Evidence, MatchReason, RuleKind, SeverityRule
from alertd.domain.establishments import ESCALATION_ROLE, Establishment, Registry
from alertd.domain.feeds import FeedConfig
from alertd.domain.routing import Subscription
from alertd.domain.tlp import Tlp
from alertd.domain.values import Alert, FeedKind, Finding, FindingState, Severity
from alertd.policy.backlog import Contact, is_backlog, still_backlog

#: The code a finding marked TLP:RED is set aside under (``poll --dry-run``'s ``suppressed``, the operators' notice).
TLP_RED = "tlp-red"


def marking(finding: Finding, feed: FeedConfig) -> Tlp:
    """The TLP marking a finding is told under: the strictest of its feed's and its source's (the source wins when
    it is stricter, never when it is laxer than the operator's setting)."""
    return feed.tlp if finding.tlp is None else Tlp.strictest((feed.tlp, finding.tlp))


def withheld(finding: Finding, feed: FeedConfig) -> bool:
    """Whether a finding must not be emailed to its establishment at all: it is marked ``TLP:RED``, which allows no
    sharing beyond those it was given to (an operators' notice tells it instead, contract §4)."""
    return marking(finding, feed) is Tlp.RED


def classify(finding: Finding, feed: FeedConfig) -> tuple[Severity, SeverityRule]:
    """The severity of a finding and the rule that set it (render words the rule).

    A software finding whose version was not checked against a published range (``Evidence.UNVERIFIED``) is
    one level lower than its rule says (never below info), and its rule says so.
    """
    severity, rule = _rule(finding, feed)
    version = finding.facts.version
    if version is not None and version.evidence is Evidence.UNVERIFIED:
        return Severity(max(Severity.INFO, severity - 1)), rule.lowered()
    return severity, rule


def _rule(finding: Finding, feed: FeedConfig) -> tuple[Severity, SeverityRule]:
    if feed.severity is not None:
        return feed.severity, SeverityRule.feed_severity(feed.id)
    if finding.kind is FeedKind.COMPROMISE:
        return Severity.IMMINENT, SeverityRule.of(RuleKind.COMPROMISE_REPORTED)
    if finding.kind is FeedKind.LEAK:
        return Severity.IMMINENT, SeverityRule.of(RuleKind.LEAK_REPORTED)
    if finding.kind is FeedKind.EXPOSURE:
        return Severity.CRITICAL, SeverityRule.of(RuleKind.EXPOSED_SERVICE)
    if finding.reason is MatchReason.KEV_PRODUCT:
        return Severity.CRITICAL, SeverityRule.of(RuleKind.KEV)
    cvss = finding.facts.cvss_score
    if cvss is not None and cvss >= 7.0:
        return Severity.HIGH, SeverityRule.cvss_at_least_7(cvss)
    return Severity.INFO, SeverityRule.of(RuleKind.NO_HIGHER_RULE)


def due(
    state: FindingState | None,
    severity: Severity,
    now: datetime,
    renotify: Mapping[Severity, timedelta | None],
) -> bool:
    """Whether a finding should be told now: never told before, or told long enough ago (contract §4)."""
    if state is None or (state.last_alerted is None and not state.queued):
        return True
    if state.queued or state.last_alerted is None:
        return False
    interval = renotify.get(severity)
    return interval is not None and now - state.last_alerted >= interval


def confirmed(finding: Finding, state: FindingState | None) -> bool:
    """Whether a finding told (or queued) with its version not checked now has a published range that contains
    it: decided again at once, whatever the re-notification interval (a queued alert is replaced)."""
    version = finding.facts.version
    return (
        state is not None
        and state.unverified
        and (state.last_alerted is not None or state.queued)
        and version is not None
        and version.evidence is Evidence.AFFECTED
    )


def route(
    finding: Finding, severity: Severity, est: Establishment, subscriptions: Sequence[Subscription]
) -> Subscription | None:
    """The subscription that carries a finding: an immediate one wins over a digest; None when nobody asked."""
    chosen: Subscription | None = None
    for sub in subscriptions:
        if severity < sub.min_severity or not sub.selector.selects(est):
            continue
        if sub.feeds is not None and finding.feed not in sub.feeds:
            continue
        if sub.immediate:
            return sub
        chosen = chosen or sub
    return chosen


def decide(
    findings: Iterable[Finding],
    *,
    registry: Registry,
    feeds: Mapping[str, FeedConfig],
    subscriptions: Sequence[Subscription],
    states: Mapping[str, FindingState],
    renotify: Mapping[Severity, timedelta | None],
    now: datetime,
    contact: Contact | None = None,
) -> list[Alert]:
    """The alerts to queue now for these findings.

    Imminent findings are never held for a digest: they go out at once even when only a digest covers them.
    With ``contact`` (what tells a first contact), backlog becomes inventory alerts (``Alert.inventory``), never
    immediate; a confirmation of a finding whose alert still waits in an inventory stays in it. Without it,
    every finding is news.
    """
    alerts: list[Alert] = []
    for finding in findings:
        est = registry.establishments.get(finding.establishment)
        feed = feeds.get(finding.feed)
        if est is None or feed is None or withheld(finding, feed):
            continue
        severity, rule = classify(finding, feed)
        state = states.get(finding.key) if states else None  # no state known: no key hashed (what-if)
        confirmation = confirmed(finding, state)
        # A finding told in an inventory is not re-notified as a warning while it is still backlog; once its source
        # marks it active or dates it anew it is news, told at once (contract §4).
        news = state is not None and state.inventoried and not state.queued and not confirmation
        if news and state is not None and still_backlog(finding, feed, now):
            continue
        if not news and not due(state, severity, now, renotify) and not confirmation:
            continue
        sub = route(finding, severity, est, subscriptions)
        if sub is None:
            continue
        inventory = contact is not None and (
            is_backlog(finding, feed, sub, state, contact, now)
            or (confirmation and finding.key in contact.queued_inventory)
        )
        alerts.append(
            Alert(
                finding=finding,
                severity=severity,
                rule=rule,
                subscription=sub.name,
                immediate=not inventory and (sub.immediate or severity is Severity.IMMINENT),
                first_seen=state.first_seen if state else now,
                last_seen=now,
                tlp=marking(finding, feed),
                # A confirmation is news (affected, at full severity), not a reminder of what was told.
                follow_up=state is not None and state.last_alerted is not None and not confirmation and not news,
                inventory=inventory,
            )
        )
    return alerts


def recipients(est: Establishment, alerts: Sequence[Alert]) -> list[str]:
    """The establishment's contacts whose ``min_severity`` the email's most severe alert reaches (but its
    ``role: escalation`` ones, when it has others).

    An inventory is never imminent (its severity capped at critical): a contact who asked for imminent warnings
    only (an on-call line) is not woken for the backlog.
    """
    top = max(min(a.severity, Severity.CRITICAL) if a.inventory else a.severity for a in alerts)
    # The escalation contacts get the reminders of warnings left unanswered, not the warnings themselves, unless
    # they are all the establishment has.
    usual = [c for c in est.contacts if c.role != ESCALATION_ROLE] or est.contacts
    return list(dict.fromkeys(c.email for c in usual if top >= c.min_severity))


# -- when things may go out ----------------------------------------------------------------------------------


def in_quiet_hours(quiet: tuple[time, time] | None, local: datetime) -> bool:
    """Whether a local time falls in ``[start, end)``; a range past midnight (20:00-07:00) wraps."""
    if quiet is None:
        return False
    start, end = quiet
    now = local.time()
    return start <= now < end if start <= end else (now >= start or now < end)


def digest_may_go(sub: Subscription, local: datetime) -> bool:
    """Whether a digest that fires at ``local`` (the settings' time zone) may go out, or waits for its next run."""
    if sub.business_days is not None and local.isoweekday() not in sub.business_days:
        return False
    if local.date() in sub.holidays:
        return False
    return not in_quiet_hours(sub.quiet_hours, local)


def held(alert: Alert, sub: Subscription | None, local: datetime) -> bool:
    """Whether an immediate alert waits for its subscription's quiet hours to end; imminent ones never wait."""
    if sub is None or alert.severity is Severity.IMMINENT:
        return False
    return in_quiet_hours(sub.quiet_hours, local)


#: How long an establishment's inventory waits after its newest backlog alert, so that the feeds first polled
#: together (at start-up) land in one inventory email.
INVENTORY_SETTLE = timedelta(minutes=5)


def inventory_may_go(
    alerts: Sequence[Alert],
    subs: Mapping[str, Subscription],
    newest: datetime,
    now: datetime,
    local: datetime,
    settle: timedelta = INVENTORY_SETTLE,
) -> bool:
    """Whether an establishment's inventory goes now: its newest alert has waited ``settle``, and none of the
    subscriptions routing its alerts is in quiet hours (backlog is never urgent, whatever its severity)."""
    if now - newest < settle:
        return False
    return not any(
        in_quiet_hours(sub.quiet_hours, local) for sub in (subs.get(a.subscription) for a in alerts) if sub is not None
    )


def repeated_wall_time(last: datetime | None, now: datetime, tz: tzinfo) -> bool:
    """Whether ``now`` repeats the local wall-clock minute of ``last`` (the hour that occurs twice in autumn).

    A cron digest at 02:30 fires twice on the night clocks go back; the second run must not send again.
    """
    if last is None or abs(now.astimezone(UTC) - last.astimezone(UTC)) > timedelta(hours=2):
        return False
    fmt = "%Y-%m-%d %H:%M"
    return last.astimezone(tz).strftime(fmt) == now.astimezone(tz).strftime(fmt)
