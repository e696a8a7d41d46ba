"""What an alert means for its reader and what to do about it: the opening sentence and the steps of "what to do".

Both are chosen from the alert's codes (its feed kind, its match reason, whether its version was checked, what
the source says of it) and put into words by the catalogs (contexts ``meaning`` and ``action``); no word is
written here.
"""

from __future__ import annotations

from collections.abc import Mapping

from alertd.domain.codes import SOFTWARE_REASONS, MatchReason
from alertd.domain.facts import Fact
from alertd.domain.values import Alert, FeedKind
from alertd.render.catalog import Words

# What to do, by feed kind: the catalog's "action" messages KIND.STEP, in this order. In them {i} is the defanged
# indicator, {asset} the item hit, {contact} the CERT's address, {port} the catalog's "port" words or nothing.
ACTION_STEPS: Mapping[FeedKind, tuple[str, ...]] = {
    FeedKind.COMPROMISE: ("isolate", "search-logs", "contact"),
    FeedKind.VULNERABILITY: ("patch", "check-compromise"),
    FeedKind.LEAK: ("check-theft", "respond", "contact"),
    FeedKind.ADVISORY: ("read", "patch"),
    FeedKind.EXPOSURE: ("close", "check-compromise"),
}


def product(asset: str, version: str | None) -> str:
    """The software item hit, without the version the matcher appended to it (it gets its own row)."""
    if version and asset.endswith(" " + version):
        return asset[: -len(version) - 1]
    return asset


def is_kev(alert: Alert, facts: Mapping[Fact, str]) -> bool:
    """Whether a vulnerability alert comes from a known-exploited catalogue (a KEV product, or a due date)."""
    f = alert.finding
    return f.kind is FeedKind.VULNERABILITY and (f.reason is MatchReason.KEV_PRODUCT or Fact.DUE_DATE in facts)


def unchecked(alert: Alert) -> bool:
    """Whether a software alert's version was not checked: the email never says it is affected."""
    judged = alert.finding.facts.version
    return judged is not None and judged.unverified and alert.finding.reason in SOFTWARE_REASONS


def meaning(words: Words, alert: Alert, facts: Mapping[Fact, str]) -> str:
    """The alert's opening sentence: what it means for the establishment, by its kind and what is known."""
    kind = alert.finding.kind.value
    if alert.finding.kind is FeedKind.VULNERABILITY:
        kind += ".kev" if is_kev(alert, facts) else ""
        kind += ".unchecked" if unchecked(alert) else ""
    return words.word("meaning", kind)


def steps(words: Words, alert: Alert, shown: str, asset: str, facts: Mapping[Fact, str], contact: str) -> list[str]:
    """The steps of "what to do" for one alert, in order; ``shown`` is the defanged indicator, ``asset`` the item
    hit, ``facts`` the feed's facts as shown (cleaned and defanged), ``contact`` the CERT's address."""
    f = alert.finding
    port = words.action("port").format(port=facts[Fact.PORT]) if facts.get(Fact.PORT) else ""
    out = [
        words.action(f"{f.kind.value}.{step}").format(i=shown, asset=asset, contact=contact, port=port)
        for step in ACTION_STEPS[f.kind]
    ]
    judged = f.facts.version
    if judged is not None and unchecked(alert):
        # The version was not checked: first find out whether it is concerned, then patch if it is.
        out.insert(0, words.action("check-version").format(product=product(asset, judged.declared)))
    if f.kind is FeedKind.VULNERABILITY:
        if is_kev(alert, facts):
            out.insert(0, words.action("kev.first"))
        if facts.get(Fact.DUE_DATE):
            out.append(words.action("kev.due-date").format(due_date=facts[Fact.DUE_DATE]))
        if facts.get(Fact.REQUIRED_ACTION):
            required = words.kev_action(facts[Fact.REQUIRED_ACTION])  # CISA's words, in the reader's language
            out.append(words.action("kev.required-action").format(required_action=required))
    return out
