"""What an alert means for its reader and what to do about it: the opening sentence and the steps of "what to do".

Both are chosen from the alert's codes (its feed kind, its match reason, whether its version was checked, what
the source says of it: a host's state, an advisory's topic) and put into words by the catalogs (contexts
``meaning`` and ``action``); no word is written here. The wording scales to the case: a server the source reports
inactive is no "act now", a phishing bulletin asks for awareness and blocking rather than patches, and the logs to
search start on the day the source first saw the indicator, not on the day alertd polled it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date
from zoneinfo import ZoneInfo

from alertd.domain.codes import SOFTWARE_REASONS, AdvisoryTopic, MatchReason, SourceStatus
from alertd.domain.facts import Fact
from alertd.domain.values import Alert, FeedKind
from alertd.intake.formats.jsondoc import source_time
from alertd.render.catalog import Words
from alertd.render.defang import scrub, scrubber
from alertd.render.headers import CONTROL

# What to do, by feed kind: the catalog's "action" messages KIND.STEP, in this order. In them {i} is the defanged
# indicator, {asset} the item hit, {contact} the CERT's address, {port} the catalog's "port" words or nothing.
# An advisory's steps are chosen by case (:func:`_advisory`), and so are those of an inactive compromise.
ACTION_STEPS: Mapping[FeedKind, tuple[str, ...]] = {
    FeedKind.COMPROMISE: ("isolate", "search-logs", "contact"),
    FeedKind.VULNERABILITY: ("patch", "check-compromise"),
    FeedKind.LEAK: ("check-theft", "respond", "contact"),
    FeedKind.EXPOSURE: ("close", "check-compromise"),
}
# A compromise the source reports inactive: find the device and what it did, rather than cut it off now.
INACTIVE_STEPS = ("identify", "search-logs", "contact")
# A phishing or impersonation bulletin: awareness and blocking, never a patch ("action" messages phishing.STEP).
PHISHING_STEPS = ("warn", "block", "check-accounts", "report")
_MAX_LINK = 2000
# One step in words: the catalog's "action" message, its placeholders filled (more by keyword).
_Say = Callable[..., str]


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


def status(alert: Alert) -> SourceStatus | None:
    """A reported host's state at its source (the ``status`` fact: Feodo's ``online``/``offline``), if it says."""
    return SourceStatus.of(alert.finding.facts.status)


def inactive(alert: Alert) -> bool:
    """Whether a compromise alert's source reports the host inactive: its wording is no "act now"."""
    return alert.finding.kind is FeedKind.COMPROMISE and status(alert) is SourceStatus.INACTIVE


def phishing(alert: Alert) -> bool:
    """Whether an advisory alert is about a phishing or impersonation campaign and did not match on a product
    (a product's advisory keeps its patch, whatever risks it lists)."""
    f = alert.finding
    return (
        f.kind is FeedKind.ADVISORY
        and AdvisoryTopic.of(f.facts.topic) is AdvisoryTopic.PHISHING
        and f.reason not in SOFTWARE_REASONS
    )


def source_day(text: str | None) -> date | None:
    """The day a source's date text names (``2024-03-11``, ``2024-03-11 17:51:44``, ISO 8601 with a zone, a
    `` UTC`` suffix); None for no text or text that is no date (the email then gives no date rather than the
    feed's words)."""
    moment = source_time(text)
    return moment.date() if moment is not None else None


def first_seen_day(alert: Alert, tz: ZoneInfo | None = None) -> date | None:
    """The day the source first saw the finding (its ``published`` date: a blocklist's ``first_seen``), in the
    reader's time zone when given; None when the source gives none."""
    published = alert.finding.published
    if published is None:
        return None
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    try:
        return published.astimezone(tz or UTC).date()
    except OverflowError:  # a source's date at the edge of the calendar: no day to give
        return None


def bulletin_link(alert: Alert) -> str | None:
    """The finding's link as a step may name it: a plain web address that carries none of the alert's
    indicators; None otherwise (the step then names no link)."""
    link = alert.finding.link
    if not link or len(link) > _MAX_LINK or CONTROL.search(link) or any(c.isspace() for c in link):
        return None
    if not link.lower().startswith(("https://", "http://")):
        return None
    return link if scrub(link, scrubber([alert])) == link else None


def source_status(words: Words, alert: Alert) -> str | None:
    """A reported host's state at its source in words, with the day it was last seen active when the source
    gives it ("inactif selon la source depuis le 11 mars 2024"); None when the source says nothing of it."""
    state = status(alert)
    if state is None:
        return None
    day = source_day(alert.finding.facts.last_seen)
    if day is None:
        return words.word("source-status", state.value)
    return words.word("source-status", f"{state.value}.dated").format(last_seen=words.day(day))


def meaning(words: Words, alert: Alert, facts: Mapping[Fact, str]) -> str:
    """The alert's opening sentence: what it means for the establishment, by its kind and what is known."""
    f = alert.finding
    kind = f.kind.value
    if f.kind is FeedKind.VULNERABILITY:
        kind += ".kev" if is_kev(alert, facts) else ""
        kind += ".unchecked" if unchecked(alert) else ""
    elif inactive(alert):
        day = source_day(f.facts.last_seen)
        if day is not None:
            return words.word("meaning", "compromise.inactive.dated").format(last_seen=words.day(day))
        return words.word("meaning", "compromise.inactive")
    elif phishing(alert):
        kind += ".phishing"
    return words.word("meaning", kind)


def steps(
    words: Words,
    alert: Alert,
    shown: str,
    asset: str,
    facts: Mapping[Fact, str],
    contact: str,
    *,
    link: str | None = None,
    tz: ZoneInfo | None = None,
    since: date | None = None,
) -> list[str]:
    """The steps of "what to do" for one alert, in order; ``shown`` is the defanged indicator, ``asset`` the item
    hit, ``facts`` the feed's facts as shown (cleaned and defanged), ``contact`` the CERT's address, ``link`` the
    finding's link as the email shows it (else :func:`bulletin_link`'s), ``tz`` the reader's time zone for the
    day the source first saw the indicator; ``since``, when given, the day the logs are searched from (a block of
    several hosts: the earliest of their first sightings)."""
    f = alert.finding
    port = words.action("port").format(port=facts[Fact.PORT]) if facts.get(Fact.PORT) else ""

    def say(step: str, **more: str) -> str:
        return words.action(step).format(i=shown, asset=asset, contact=contact, port=port, **more)

    if f.kind is FeedKind.COMPROMISE:
        return _compromise(words, alert, say, since or first_seen_day(alert, tz))
    if f.kind is FeedKind.ADVISORY:
        out = _advisory(alert, say, link if link is not None else bulletin_link(alert))
    else:
        out = [say(f"{f.kind.value}.{step}") for step in ACTION_STEPS[f.kind]]
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


def _compromise(words: Words, alert: Alert, say: _Say, since: date | None) -> list[str]:
    """Isolate now, or, for a host the source reports inactive, find it and what it did; search the logs from
    ``since``, the day the source first saw it."""
    out = []
    for step in INACTIVE_STEPS if inactive(alert) else ACTION_STEPS[FeedKind.COMPROMISE]:
        if step == "search-logs" and since is not None:
            out.append(say("compromise.search-logs.since", since=words.day(since)))
        else:
            out.append(say(f"compromise.{step}"))
    return out


def _advisory(alert: Alert, say: _Say, link: str | None) -> list[str]:
    """Read the bulletin, then what it calls for: awareness for a phishing campaign, the patch for a product it
    concerns, its own recommendations otherwise."""
    read = say("advisory.read-link", link=link) if link else say("advisory.read")
    if phishing(alert):
        return [read, *(say(f"phishing.{step}") for step in PHISHING_STEPS)]
    if alert.finding.reason in SOFTWARE_REASONS:
        return [read, say("advisory.patch")]
    return [read, say("advisory.follow")]
