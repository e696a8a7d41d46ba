"""``alertd what-if`` in words: one block per establishment changed, each change with the rule that made it, then
the likely mistakes; or one line per establishment (``--format summary``); or the codes as JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from alertd.domain.codes import MatchReason, SeverityRule
from alertd.domain.values import Severity
from alertd.domain.whatif import Because, Cause, Change, Difference, LikelyMistake, Mistake, Reload
from alertd.render.catalog import rule_text
from alertd.render.headers import CONTROL

_CHANGE_WORDS = {
    Change.WARNING_ADDED: "+ warning",
    Change.WARNING_REMOVED: "- warning",
    Change.SEVERITY_CHANGED: "~ severity",
    Change.RECIPIENT_ADDED: "+ recipient",
    Change.RECIPIENT_REMOVED: "- recipient",
    Change.TO_DIGEST: "> to a digest",
    Change.TO_IMMEDIATE: "> told at once",
    Change.NEWLY_INHIBITED: "x inhibited",
    Change.NO_LONGER_INHIBITED: "o no longer inhibited",
    Change.SUBSCRIPTION_CHANGED: "> another subscription",
    Change.SCHEDULE_CHANGED: "> another schedule",
    Change.ASSET_CHANGED: "~ asset",
}

# The counts of the one-line summary, in this order: one, many.
_COUNTED = (
    (Change.WARNING_ADDED, "warning added", "warnings added"),
    (Change.WARNING_REMOVED, "warning removed", "warnings removed"),
    (Change.SEVERITY_CHANGED, "severity changed", "severities changed"),
    (Change.TO_DIGEST, "to a digest", "to a digest"),
    (Change.TO_IMMEDIATE, "told at once", "told at once"),
    (Change.RECIPIENT_ADDED, "recipient added", "recipients added"),
    (Change.RECIPIENT_REMOVED, "recipient removed", "recipients removed"),
    (Change.NEWLY_INHIBITED, "newly inhibited", "newly inhibited"),
    (Change.NO_LONGER_INHIBITED, "no longer inhibited", "no longer inhibited"),
    (Change.SUBSCRIPTION_CHANGED, "subscription changed", "subscriptions changed"),
    (Change.SCHEDULE_CHANGED, "schedule changed", "schedules changed"),
    (Change.ASSET_CHANGED, "asset changed", "assets changed"),
)

# What the reload sends for a difference, in words (after each line), and counted per finding (after the counts).
_RELOAD_WORDS = {
    Reload.SENT_NOW: "not told as matched now: the next poll sends it",
    Reload.INVENTORY: "backlog on first contact: told in the establishment's inventory email, not as a warning",
    Reload.FOLLOW_UP: "due again: the next poll sends a re-notification",
    Reload.ALREADY_TOLD: "already told: nothing is sent now; this applies from its next re-notification or change",
    Reload.ALREADY_QUEUED: "an alert for it waits already: it goes as it was queued",
    Reload.NOTHING_MORE: "nothing more is sent; what was told stays told",
}
_RELOAD_COUNTED = (
    (Reload.SENT_NOW, "sent now"),
    (Reload.INVENTORY, "in an inventory"),
    (Reload.FOLLOW_UP, "re-notified"),
    (Reload.ALREADY_TOLD, "already told"),
    (Reload.ALREADY_QUEUED, "already queued"),
    (Reload.NOTHING_MORE, "nothing more sent"),
)


def difference_record(d: Difference) -> dict[str, Any]:
    """One difference as ``what-if --format json`` prints it: codes and values, no words."""
    f = d.finding
    return {
        "change": d.change.value,
        "cause": d.cause.value,
        "indicator": f.indicator.value,
        "type": f.indicator.type.value,
        "feed": f.feed,
        "entry": f.entry,
        "asset": f.asset,
        "reason": f.reason.value,
        "before": d.before,
        "after": d.after,
        "rule": rule_record(d.cause, d.because),
        "reload": d.reload.value if d.reload is not None else None,
    }


def rule_record(cause: Cause, b: Because) -> dict[str, Any]:
    """The arguments of the rule that made a difference, as JSON: those its cause takes."""
    if cause in (Cause.MATCHED, Cause.NOT_MATCHED):
        return {"asset": b.asset, "reason": _code(b.reason)}
    if cause is Cause.SUBSCRIPTION:
        return {
            "subscription": b.subscription,
            "min_severity": _label(b.min_severity),
            "digest": b.digest,
            "severity": _label(b.severity),
        }
    if cause is Cause.NO_SUBSCRIPTION:
        return {"severity": _label(b.severity), "rule": b.rule.to_json() if b.rule else None}
    if cause is Cause.SEVERITY_RULE:
        return {
            "before": b.previous_rule.to_json() if b.previous_rule else None,
            "after": b.rule.to_json() if b.rule else None,
        }
    if cause in (Cause.FEED_ADDED, Cause.FEED_REMOVED, Cause.ESTABLISHMENT_ADDED, Cause.ESTABLISHMENT_REMOVED):
        return {}  # the feed and the establishment are the difference's own
    if cause is Cause.INHIBITION:
        return {"inhibition": b.inhibition, "reason": b.inhibition_reason, "severity": _label(b.severity)}
    if cause is Cause.CONTACTS:
        return {"severity": _label(b.severity)}
    return {}


def _label(severity: Severity | None) -> str | None:
    return severity.label if severity is not None else None


def _code(reason: MatchReason | None) -> str | None:
    return reason.value if reason is not None else None


def mistake_record(m: LikelyMistake) -> dict[str, Any]:
    """One likely mistake as JSON."""
    return {"mistake": m.mistake.value, "subjects": list(m.subjects), "values": list(m.values)}


def as_json(
    differences: Sequence[Difference], mistakes: Sequence[LikelyMistake], read: Mapping[str, Any]
) -> dict[str, Any]:
    """The whole what-if as one JSON object: what was read (``read``), the differences per establishment, the
    likely mistakes."""
    per = {est: [difference_record(d) for d in diffs] for est, diffs in by_establishment(differences).items()}
    return {**read, "establishments": per, "mistakes": [mistake_record(m) for m in mistakes]}


def text(
    differences: Sequence[Difference], mistakes: Sequence[LikelyMistake], names: Mapping[str, str], read: str
) -> list[str]:
    """The what-if for people: ``read`` (what was replayed) first, then one block per establishment changed
    (``names``: the establishments' names, of either configuration), then the likely mistakes."""
    lines = [read]
    per = by_establishment(differences)
    if not per and any(m.mistake is Mistake.FEED_REPARSED for m in mistakes):
        lines.append("no difference among the entries replayed; a feed's edit cannot be replayed (below)")
    elif not per:
        lines.append("no difference: every establishment would get what it gets now")
    for est, diffs in per.items():
        lines.append(f"{est} ({names.get(est, '?')}): {_counts(diffs)}")
        lines += [f"  {_line(d)}" for d in diffs]
    if mistakes:
        lines.append(f"likely mistakes ({len(mistakes)}):")
        lines += [f"  ! {mistake_text(m)}" for m in mistakes]
    return _printable(lines)


def summary(differences: Sequence[Difference], mistakes: Sequence[LikelyMistake]) -> list[str]:
    """One line per establishment changed, then one per likely mistake (``what-if --format summary``)."""
    lines = [f"{est}: {_counts(diffs)}" for est, diffs in by_establishment(differences).items()]
    return _printable(lines + [f"! {mistake_text(m)}" for m in mistakes])


def _printable(lines: list[str]) -> list[str]:
    """The lines with control characters (an escape sequence in an inhibition's reason, say) as spaces: for a
    terminal, which would act on them."""
    return [CONTROL.sub(" ", line) for line in lines]


def by_establishment(differences: Sequence[Difference]) -> dict[str, list[Difference]]:
    """The differences grouped by establishment, in the order given."""
    per: dict[str, list[Difference]] = {}
    for d in differences:
        per.setdefault(d.establishment, []).append(d)
    return per


def _counts(diffs: Sequence[Difference]) -> str:
    counted = Counter(d.change for d in diffs)
    changes = ", ".join(
        f"{counted[change]} {one if counted[change] == 1 else many}"
        for change, one, many in _COUNTED
        if counted[change]
    )
    # What the reload sends, once per finding (a finding may change in several ways).
    sends = Counter(reload for reload in {d.finding.key: d.reload for d in diffs}.values() if reload is not None)
    at_reload = ", ".join(f"{sends[code]} {words}" for code, words in _RELOAD_COUNTED if sends[code])
    return f"{changes}; at the reload: {at_reload}" if at_reload else changes


def _line(d: Difference) -> str:
    line = _change(d)
    return line if d.reload is None else f"{line}; at the reload: {_RELOAD_WORDS[d.reload]}"


def _change(d: Difference) -> str:
    f = d.finding
    what = f"{f.indicator.value} ({f.indicator.type.value}, {f.feed} {f.entry})"
    if d.change in (Change.SEVERITY_CHANGED, Change.ASSET_CHANGED):
        return f"{_CHANGE_WORDS[d.change]} {d.before} -> {d.after}: {what}; {_cause(d)}"
    if d.change in (Change.RECIPIENT_ADDED, Change.RECIPIENT_REMOVED):
        return f"{_CHANGE_WORDS[d.change]} {d.after or d.before}: {what}; {_cause(d)}"
    if d.change in (Change.TO_DIGEST, Change.TO_IMMEDIATE, Change.SUBSCRIPTION_CHANGED, Change.SCHEDULE_CHANGED) and (
        d.before != d.after
    ):
        return f"{_CHANGE_WORDS[d.change]} ({d.before} -> {d.after}): {what}; {_cause(d)}"
    severity = f" [{d.after or d.before}]" if d.change in (Change.WARNING_ADDED, Change.WARNING_REMOVED) else ""
    return f"{_CHANGE_WORDS[d.change]}{severity}: {what}; {_cause(d)}"


def _cause(d: Difference) -> str:
    """The rule that made the difference, in words."""
    b, severity = d.because, _label(d.because.severity)
    if d.cause is Cause.MATCHED:
        return f"the registry now matches it: {b.asset} ({_code(b.reason)})"
    if d.cause is Cause.NOT_MATCHED:
        return f"the registry no longer matches it: {b.asset} ({_code(b.reason)}) is gone"
    if d.cause is Cause.SUBSCRIPTION:
        how = f"digest {b.digest}" if b.digest else "immediate"
        return f"subscription {b.subscription} ({how}, min_severity {_label(b.min_severity)}) carries {severity}"
    if d.cause is Cause.NO_SUBSCRIPTION:
        return f"no subscription carries {severity} ({_rule_words(b.rule)})"
    if d.cause is Cause.SEVERITY_RULE:
        if b.previous_rule == b.rule:  # the same rule, its setting edited (a feed's severity, say)
            return f"rule: {_rule_words(b.rule)}, its setting edited"
        return f"rule was: {_rule_words(b.previous_rule)}; now: {_rule_words(b.rule)}"
    if d.cause is Cause.FEED_ADDED:
        return f"feed {d.finding.feed} is new"
    if d.cause is Cause.FEED_REMOVED:
        return f"feed {d.finding.feed} is gone"
    if d.cause is Cause.ESTABLISHMENT_ADDED:
        return f"{d.establishment} is new to the registry"
    if d.cause is Cause.ESTABLISHMENT_REMOVED:
        return f"{d.establishment} is gone from the registry"
    if d.cause is Cause.INHIBITION:
        return f"inhibition {b.inhibition} ({b.inhibition_reason}), severity {severity}"
    if d.cause is Cause.CONTACTS:
        return f"the establishment's contacts for {severity}"
    return "marked TLP:RED: for the operators, emailed to nobody"


def _rule_words(rule: SeverityRule | None) -> str:
    return rule_text("en", rule) if rule is not None else "?"


def mistake_text(m: LikelyMistake) -> str:
    """A likely mistake in words."""
    if m.mistake is Mistake.SHARED_NETWORK:
        return f"network {m.values[0]} of {m.subjects[0]} overlaps {m.values[1]} of {m.subjects[1]}"
    if m.mistake is Mistake.SHARED_DOMAIN:
        return f"domain {m.values[0]} of {m.subjects[0]} and {m.values[1]} of {m.subjects[1]} are one domain"
    if m.mistake is Mistake.SHARED_NAME:
        owners = ", ".join(m.subjects)
        return f"name {m.values[0]!r} is given to {owners}: a text naming it counts only with the commune named too"
    if m.mistake is Mistake.FEED_REPARSED:
        count, *settings = m.values
        return (
            f"feed {m.subjects[0]}: {', '.join(settings)} changed; its {count} stored entries were read under the old "
            "settings, so what it finds under the new ones is not shown here (see it after its next poll)"
        )
    if m.mistake is Mistake.SILENCED:
        return f"{m.subjects[0]} would receive nothing, where it is warned now"
    if m.mistake is Mistake.INHIBITS_IMMINENT:
        return f"inhibition {m.values[1]} hides an imminent finding of {m.subjects[0]}: {m.values[0]}"
    return f"subscription {m.subjects[0]} selects no establishment"
