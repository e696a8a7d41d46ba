"""The template context: everything an email shows, as plain values, with the words of its language.

Each alert's table is laid out for its kind (compromise, exposure, vulnerability, leak, advisory); codes become
words through :mod:`~alertd.render.catalog`. Feed text is cut, cleaned of control characters, scrubbed of the
email's raw indicators and defanged wherever it names a host, an address or a link before it reaches a template.
A link is clickable only towards the CERT's own domains and the known sources' (:mod:`~alertd.render.links`); a
host mixing scripts is flagged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from alertd.domain.codes import NETWORK_REASONS, SOFTWARE_REASONS, AlertKind, MatchReason, SourceStatus, TextWarning
from alertd.domain.establishments import Establishment
from alertd.domain.facts import Fact
from alertd.domain.grammar import CVE_ID
from alertd.domain.settings import RenderSettings
from alertd.domain.tlp import Tlp
from alertd.domain.values import Alert, FeedKind, Finding, IndicatorType, Severity
from alertd.render import actions, bulletin, catalog, links
from alertd.render.attachments import ATTACHMENTS
from alertd.render.catalog import Words
from alertd.render.defang import (
    Scrubber,
    defang,
    defang_indicator,
    defang_text,
    mixed_script_hosts,
    scrub,
    scrubber,
)
from alertd.render.headers import address_parts, clean_header

_ADDRESS_TYPES = frozenset({IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR})
_COMPROMISED: Mapping[IndicatorType, AlertKind] = {
    IndicatorType.IPV4: AlertKind.COMPROMISED_ADDRESS,
    IndicatorType.IPV6: AlertKind.COMPROMISED_ADDRESS,
    IndicatorType.CIDR: AlertKind.COMPROMISED_ADDRESS,
    IndicatorType.DOMAIN: AlertKind.COMPROMISED_DOMAIN,
    IndicatorType.URL: AlertKind.MALICIOUS_URL,
    IndicatorType.EMAIL: AlertKind.COMPROMISED_EMAIL,
}
_BY_FEED_KIND: Mapping[FeedKind, AlertKind] = {
    FeedKind.COMPROMISE: AlertKind.COMPROMISE,
    FeedKind.EXPOSURE: AlertKind.EXPOSURE,
    FeedKind.VULNERABILITY: AlertKind.VULNERABILITY,
    FeedKind.ADVISORY: AlertKind.ADVISORY,
    FeedKind.LEAK: AlertKind.LEAK,
}
_SEVERITY_COLORS = {
    Severity.IMMINENT: "#b00020",
    Severity.CRITICAL: "#c2410c",
    Severity.HIGH: "#a16207",
    Severity.INFO: "#4b5563",
}
# Facts a feed gives (``Finding.facts``) worth showing as details, in this order; the catalog's "attr" messages
# label them. Facts absent here (KEV ``notes``, the version) are shown otherwise; ``extra`` is not for the reader.
SHOWN_FACTS = (
    Fact.STATUS,
    Fact.LAST_SEEN,
    Fact.MALWARE,
    Fact.PORT,
    Fact.FIRST_SEEN,
    Fact.GROUP,
    Fact.WEBSITE,
    Fact.CVES,
    Fact.CVSS,
    Fact.RANSOMWARE,
    Fact.DATE_ADDED,
    Fact.CWES,
    Fact.CWE,
    Fact.DUE_DATE,
    Fact.REQUIRED_ACTION,
)
_SHOWN = frozenset({*SHOWN_FACTS, Fact.VERSION})  # the facts render reads: the details, and the version's own row
# Which rows an alert's table shows, in order, by the finding's kind: a Fact is a detail from the feed, "*" the
# details not placed elsewhere, a string one of render's own rows. What each kind's reader needs first comes first:
# the host and why for a compromise, the product and version for a vulnerability, the group and date for a leak,
# the advisory itself.
_LAYOUT: Mapping[FeedKind, tuple[str | Fact, ...]] = {
    FeedKind.COMPROMISE: (
        "indicator", "why", Fact.STATUS, Fact.LAST_SEEN, Fact.MALWARE, Fact.PORT, "title", "feed", "link",
        "published", Fact.FIRST_SEEN,
        "first_seen", "last_seen", "*", "rule",
    ),
    FeedKind.EXPOSURE: (
        "indicator", "why", Fact.STATUS, Fact.LAST_SEEN, Fact.PORT, "title", "feed", "link", "published",
        Fact.FIRST_SEEN,
        "first_seen", "last_seen", "*", "rule",
    ),
    FeedKind.VULNERABILITY: (
        "indicator", "title", "product", "version", "why", Fact.RANSOMWARE, Fact.DATE_ADDED, Fact.CVSS,
        "*", "feed", "link", "references", "published", "first_seen", "last_seen", "rule",
    ),
    FeedKind.LEAK: (
        "indicator", Fact.GROUP, "published", "title", Fact.WEBSITE, "why", "feed", "link", "*",
        "first_seen", "last_seen", "rule",
    ),
    FeedKind.ADVISORY: (
        "title", "link", "published", "indicator", "product", "version", Fact.CVES, Fact.CVSS, "why", "feed",
        "*", "references", "first_seen", "last_seen", "rule",
    ),
}  # fmt: skip
# A vulnerability's KEV due date and required action are told in "what to do", not twice.
_TOLD_IN_ACTIONS: Mapping[FeedKind, frozenset[Fact]] = {
    FeedKind.VULNERABILITY: frozenset({Fact.DUE_DATE, Fact.REQUIRED_ACTION}),
}
_TLP_COLORS: Mapping[Tlp, tuple[str, str]] = {  # the marking's colour and its background (FIRST TLP 2.0)
    Tlp.CLEAR: ("#ffffff", "#000000"),
    Tlp.GREEN: ("#33ff00", "#000000"),
    Tlp.AMBER: ("#ffc000", "#000000"),
    Tlp.AMBER_STRICT: ("#ffc000", "#000000"),
    Tlp.RED: ("#ff2b2b", "#000000"),
}
_TITLE_LIMIT = 300
_SUMMARY_LIMIT = 1200  # an advisory's own text: a paragraph, not the whole bulletin
_MARK = "\x00"  # stands for the indicator in a summary, to split the words around it
_ATTR_LIMIT = 500


def shown_severity(alert: Alert) -> Severity:
    """The level an email shows for an alert: its severity, but never imminent for backlog in an inventory (an
    offline C2 server of two years ago ranks first there, without "imminent" or the urgent contact block)."""
    return min(alert.severity, Severity.CRITICAL) if alert.inventory else alert.severity


def sort_alerts(alerts: Sequence[Alert]) -> list[Alert]:
    """Most severe first, then by indicator; the rest of the key only makes the order total."""
    return sorted(
        alerts,
        key=lambda a: (
            -a.severity,
            a.finding.indicator,
            a.finding.feed,
            a.finding.reason,
            a.finding.asset,
            a.finding.entry,
        ),
    )


def resolved_context(est: Establishment, resolved: Sequence[Finding]) -> list[dict[str, str]]:
    """The "no longer listed" section: each finding defanged, with its asset and feed."""
    foreign = sorted({f.establishment for f in resolved if f.establishment != est.id})
    if foreign:
        raise ValueError(f"findings of establishment(s) {', '.join(foreign)} given to render {est.id!r}'s email")
    return [
        {
            "indicator": defang_indicator(f.indicator),
            "asset": defang(f.asset),
            "feed": f.feed,
            "title": defang_text(clean_header(f.title, 160)),
        }
        for f in sorted(resolved, key=lambda f: (f.feed, f.indicator.value))
    ]


def corrections_context(words: Words, est: Establishment, withdrawn: Sequence[Finding]) -> list[dict[str, str]]:
    """The corrections section: findings told earlier whose version turned out not affected, each with why."""
    resolved_context(est, withdrawn)  # the same check: never another establishment's findings
    rows = []
    for f in sorted(withdrawn, key=lambda f: (f.indicator.value, f.asset)):
        version = f.facts.version
        rows.append(
            {
                "indicator": defang_indicator(f.indicator),
                "asset": clean_header(f.asset, _TITLE_LIMIT),
                "feed": f.feed,
                "why": (words.evidence(version) or "") if version is not None else "",
            }
        )
    return rows


def _check(est: Establishment, alerts: Sequence[Alert]) -> None:
    if not alerts:
        raise ValueError(f"no alert to render for establishment {est.id!r}")
    foreign = sorted({a.finding.establishment for a in alerts if a.finding.establishment != est.id})
    if foreign:
        # An email never carries another establishment's data (contract §4).
        raise ValueError(f"alerts for establishment(s) {', '.join(foreign)} given to render {est.id!r}'s email")


def _when(words: Words, moment: datetime | None, tz: ZoneInfo) -> str | None:
    if moment is None:
        return None
    try:
        return words.moment(moment, tz)
    except OverflowError:  # a source's date at the calendar's edge (9999-12-31 23:30 UTC is past 9999 in Paris)
        return moment.isoformat()


def _sender(settings: RenderSettings) -> tuple[str, str]:
    name, address = address_parts(settings.sender_from)
    organisation = settings.organisation or name or address
    return clean_header(organisation), address


def alert_kind(finding: Finding) -> AlertKind:
    """What an alert is about, for its summary: the feed's kind, told apart by indicator type or KEV."""
    if finding.kind is FeedKind.COMPROMISE:
        return _COMPROMISED.get(finding.indicator.type, AlertKind.COMPROMISE)
    if finding.kind is FeedKind.VULNERABILITY and finding.reason is MatchReason.KEV_PRODUCT:
        return AlertKind.EXPLOITED_VULNERABILITY
    return _BY_FEED_KIND[finding.kind]


def _row(key: str, label: str, value: str, *, note: str | None = None, href: str | None = None) -> dict[str, Any]:
    return {"key": key, "label": label, "value": value, "note": note, "href": href, "code": key == "indicator"}


def _own_label(words: Words, key: str, kind: str) -> str:
    """The label ``key:kind`` where the catalog gives a kind its own (a leak's "Posted on"), else ``key``'s."""
    return words.label(f"{key}:{kind}") if words.has("label", f"{key}:{kind}") else words.label(key)


def _rows(words: Words, f: Finding, item: Mapping[str, Any], facts: Mapping[Fact, str]) -> list[dict[str, Any]]:
    """The alert's table: label, value, optional note and link target, in the order its kind calls for."""
    label = words.label
    kind = f.kind.value
    if f.kind in (FeedKind.COMPROMISE, FeedKind.EXPOSURE):
        hosts = _ADDRESS_TYPES | {IndicatorType.DOMAIN, IndicatorType.URL}
        indicator_label = label("indicator:host") if f.indicator.type in hosts else label("indicator")
    elif f.kind is FeedKind.VULNERABILITY:
        is_cve = f.indicator.type is IndicatorType.CVE
        indicator_label = label("indicator:vulnerability") if is_cve else label("indicator")
    else:
        indicator_label = label(f"indicator:{kind}")
    told = _TOLD_IN_ACTIONS.get(f.kind, frozenset())
    layout = _LAYOUT[f.kind]
    placed = {key for key in layout if isinstance(key, Fact)}

    def fact_row(fact: Fact) -> dict[str, Any] | None:
        if fact not in facts or fact in told:
            return None
        value = facts[fact]
        if fact is Fact.RANSOMWARE:
            value = words.ransomware(value)
        elif fact is Fact.STATUS and (status := SourceStatus.of(f.facts.status)) is not None:
            value = words.word("source-status", status.value)  # "online" in the reader's words
        return _row(f"attr:{fact.value}", words.attr(fact), value)

    rows: list[dict[str, Any] | None] = []
    for key in layout:
        if isinstance(key, Fact):
            rows.append(fact_row(key))
        elif key == "*":
            rows.extend(fact_row(fact) for fact in SHOWN_FACTS if fact not in placed)
        elif key == "indicator":
            rows.append(_row(key, indicator_label, item["indicator"], note=item["indicator_type_label"]))
        elif key == "why":
            rows.append(_row(key, label("why"), item["reason_text"]))
        elif key == "title":
            rows.append(_row(key, _own_label(words, "title", kind), item["title"]))
        elif key == "feed":
            rows.append(_row(key, label("feed"), item["feed"]))
        elif key == "link" and item["link"]:
            rows.append(_row(key, label("link"), item["link"], href=item["link_href"]))
        elif key == "references":
            rows.extend(_row(key, label("reference"), text, href=href) for text, href in item["references"])
        elif key == "published" and item["published"] and item["published"] != facts.get(Fact.DATE_ADDED):
            rows.append(_row(key, _own_label(words, "published", kind), item["published"]))
        elif key == "product" and item["product"]:
            rows.append(_row(key, label("product"), item["product"]))
        elif key == "version" and item["version"]:
            rows.append(_row(key, label("version"), item["version"], note=item["evidence"]))
        elif key in ("first_seen", "last_seen", "rule"):
            rows.append(_row(key, label(key), item[key]))
    return [r for r in rows if r is not None]


def _warnings(words: Words, shown: Sequence[str | None]) -> tuple[list[str], list[str]]:
    """The warnings about what an alert shows (its texts as shown: cut, defanged), as codes and in words: one
    for each host mixing scripts."""
    hosts = dict.fromkeys(host for text in shown if text for host in mixed_script_hosts(text))
    codes = [TextWarning.MIXED_SCRIPT_HOST.value] if hosts else []
    return codes, [words.warning(TextWarning.MIXED_SCRIPT_HOST, host=defang(host)) for host in hosts]


def _alert_context(
    words: Words, alert: Alert, tz: ZoneInfo, contact: str, patterns: Scrubber, allowed: frozenset[str]
) -> dict[str, Any]:
    f = alert.finding
    shown = defang_indicator(f.indicator)
    asset = clean_header(f.asset, _TITLE_LIMIT)
    if f.reason in NETWORK_REASONS:
        asset = defang(asset)
    judged = f.facts.version
    unverified = judged is not None and judged.unverified and f.reason in SOFTWARE_REASONS
    reason_code = clean_header(f.reason, 60)
    if unverified and words.has("reason", f"{reason_code}:unverified"):
        # Never "affects <version>" when the version was not checked: the product alone is named.
        reason_text = words.reason(
            f"{reason_code}:unverified", asset=actions.product(asset, judged.text if judged else None), where=""
        )
    else:
        reason_text = words.reason(reason_code, asset=asset, where=words.where(f.kind))
    # A detail that is a host, an address or a URL (a leak post's "website") is as clickable as an indicator.
    facts = {
        fact: (_dated(words, text, tz) if fact in _DATED else None)
        or (words.decimal(score) if fact is Fact.CVSS and (score := f.facts.cvss_score) is not None else None)
        # A whole value that is a host, then every host, address or link within a sentence.
        or defang_text(scrub(defang(clean_header(text, _ATTR_LIMIT)), patterns))
        for fact, text in f.facts.known()
        if fact in _SHOWN and text.strip()
    }
    link_text, link_href = links.shown_link(f.link, patterns, allowed) if f.link else (None, None)
    cve = f.indicator.value.upper() if f.indicator.type is IndicatorType.CVE else None
    if cve is not None and not CVE_ID.match(cve):
        cve = None
    # A declared version is no indicator: shown as the inventory wrote it (5.14.0-284.11.1.el9_2, never defanged).
    version = clean_header(judged.text, _ATTR_LIMIT) if judged is not None else None
    product = actions.product(asset, version) if f.kind in (FeedKind.VULNERABILITY, FeedKind.ADVISORY) else None
    if product is not None and f.reason not in SOFTWARE_REASONS:
        product = None  # the asset is a network or a name, not a software item
    if version is not None and judged is not None and judged.declared is None:
        version = words.label("version_unknown")
    if product is None:
        version = None
    evidence = words.evidence(judged) if version is not None and judged is not None else None
    told = _TOLD_IN_ACTIONS.get(f.kind, frozenset())
    kind, level = alert_kind(f), shown_severity(alert)  # each read three times below
    summary_before, _mark, summary_after = words.summary(kind, indicator=_MARK).partition(_MARK)
    item: dict[str, Any] = {
        "severity": alert.severity.label,
        "severity_label": words.severity(level),
        "severity_color": _SEVERITY_COLORS[level],
        "kind": f.kind.value,
        "kind_label": words.feed_kind(f.kind),
        "kev": actions.is_kev(alert, facts),
        "inactive": actions.inactive(alert),
        "indicator": shown,
        "indicator_type": f.indicator.type.value,
        "indicator_type_label": words.indicator_type(f.indicator.type),
        "asset": asset,
        "product": product,
        "version": version,
        "evidence": evidence,
        "unchecked": unverified,  # the version was not checked: the email never says it is affected
        # For the attachments: the evidence code and the published range it rests on, as stored.
        "version_evidence": judged.evidence.value if judged is not None and judged.basis is not None else "",
        "version_range": (judged.range or "") if judged is not None else "",
        "cve": cve,
        "reason": f.reason,
        "reason_text": reason_text,
        "feed": f.feed,
        "entry": defang_text(scrub(clean_header(f.entry, _TITLE_LIMIT), patterns)),
        "title": defang_text(scrub(clean_header(f.title, _TITLE_LIMIT), patterns)),
        "link": link_text,
        "link_href": link_href,
        "references": [links.shown_link(url, patterns, allowed) for url in links.references(f, cve)]
        if product or cve
        else [],
        "published": _day(words, f.published) or _when(words, f.published, tz),
        "first_seen": _when(words, alert.first_seen, tz),
        "last_seen": _when(words, alert.last_seen, tz),
        "first_seen_iso": _iso(alert.first_seen),
        "last_seen_iso": _iso(alert.last_seen),
        "rule": words.rule(alert.rule),
        "details": {fact.value: text for fact, text in facts.items() if fact is not Fact.VERSION},
        # The shown facts as (label, text), under the name templates have known them by.
        "attrs": [(words.attr(fact), facts[fact]) for fact in SHOWN_FACTS if fact in facts and fact not in told],
        "actions": actions.steps(words, alert, shown, asset, facts, contact, link=link_text, tz=tz),
        "meaning": actions.meaning(words, alert, facts),
        "summary": words.summary(kind, indicator=shown),
        # The summary around its indicator, so that the HTML keeps the indicator whole in a span of its own.
        "summary_before": summary_before,
        "summary_after": summary_after,
        "alert_kind": kind.value,
        "due_date": f.facts.due_date,
        "topic": f.facts.topic,
        "source_summary": (
            defang_text(scrub(clean_header(f.facts.summary, _SUMMARY_LIMIT), patterns)) if f.facts.summary else None
        ),
        "follow_up": alert.follow_up,
        "tlp": alert.tlp,
        "key": f.key,
    }
    item["warning_codes"], item["warnings"] = _warnings(
        words,
        [
            shown,
            item["entry"],
            item["title"],
            link_text,
            item["source_summary"],
            *facts.values(),
            *(text for text, _href in item["references"]),
        ],
    )
    item["rows"] = _rows(words, f, item, facts)
    return item


def _day(words: Words, moment: datetime | None) -> str | None:
    """A feed's date without a time (KEV's dateAdded...) comes as midnight UTC: shown as that day, not 01:00 CET."""
    if moment is None or moment.utcoffset() not in (None, timedelta(0)) or moment.time() != time(0, 0):
        return None
    return words.day(moment.date())


_DATED = frozenset({Fact.DATE_ADDED, Fact.DUE_DATE, Fact.FIRST_SEEN, Fact.LAST_SEEN})
_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


def _dated(words: Words, text: str, tz: ZoneInfo) -> str | None:
    """A date a feed wrote in ISO 8601 (KEV's ``2022-03-25``, Feodo's ``2024-02-12 21:14:07`` in UTC) in the
    reader's words and time zone; None for any other text, shown as written."""
    text = text.strip()
    if len(text) == 10 and (day := bulletin.iso_day(text)) is not None:
        return words.day(day)
    if len(text) <= 32 and _ISO_MOMENT.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return words.moment(moment if moment.tzinfo else moment.replace(tzinfo=UTC), tz)
        except (ValueError, OverflowError):  # no date, or one at the calendar's edge: shown as written
            return None
    return None


def _iso(moment: datetime) -> str:
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat(timespec="seconds")


def email_context(
    est: Establishment,
    alerts: Sequence[Alert],
    settings: RenderSettings,
    now: datetime,
    *,
    in_reply_to: str | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Everything the templates show, as plain values; raises ValueError on no alert or a foreign alert.

    ``in_reply_to`` (the Message-ID of an earlier email about these findings) makes the email a reminder;
    ``reference`` is the email's bulletin reference.
    """
    _check(est, alerts)
    words = catalog.words(est.language)
    tz = settings.timezone
    ordered = sort_alerts(alerts)
    organisation, sender = _sender(settings)
    reply_to = address_parts(settings.reply_to)[1] if settings.reply_to else None
    contact = reply_to or sender
    patterns = scrubber(ordered)
    tlp = Tlp.strictest(a.tlp for a in ordered)
    top = max(shown_severity(a) for a in ordered)
    tlp_color, tlp_background = _TLP_COLORS[tlp]
    allowed = links.allowed_domains(settings)
    items = [_alert_context(words, a, tz, contact, patterns, allowed) for a in ordered]
    name = clean_header(est.name)
    named = words.establishment(name)
    groups = bulletin.blocks(words, list(zip(ordered, items, strict=True)), contact=contact, now=now, tz=tz)
    return {
        "lang": words.language,
        "resolved": [],  # render_email fills it: the findings no longer listed
        "ack_url": None,  # and the personal link to the acknowledgement page, when the settings have `web`
        "escalation": None,  # and, for the reminder of a warning left unanswered, its reference and sending time
        "corrections": [],  # and those withdrawn: their version turned out not affected
        "establishment": {
            "id": est.id,
            "name": name,
            # The name as a sentence takes it: with its article, after "of", after "to" (French "le Centre...").
            "the": named.the,
            "of": named.of,
            "to": named.to,
            "kind": est.kind,
            "region": est.region,
        },
        "alerts": items,
        "count": len(ordered),
        # The bulletin: one block per group of alerts, each with its summary line (render/bulletin.py). The size
        # budget (render/email.py) may keep the details of the first groups only ("detailed"), leave them all out
        # ("details" False) and cut the summary to its most severe lines ("summary_lines", with "hidden" alerts
        # left to the attachments).
        "groups": groups,
        "summary_lines": groups,
        "details": True,
        "detailed": len(groups),
        "hidden": 0,
        "mass": [],  # a mass event's alerts counted by kind (render/email.py: over the message size limit)
        "left_out": 0,  # and how many of them its attachments could not carry
        "imminent": top is Severity.IMMINENT,
        "kinds": sorted({a["kind"] for a in items}),
        "reminder": bool(in_reply_to),
        "label_width": max(len(row["label"]) for a in items for row in a["rows"]),
        "severity": top.label,
        "severity_label": words.severity(top),
        "severity_color": _SEVERITY_COLORS[top],
        "tlp": tlp,
        "tlp_label": tlp.label,
        "tlp_text": words.tlp(tlp),
        "tlp_color": tlp_color,
        "tlp_background": tlp_background,
        "generated": words.moment(now, tz),
        "generated_iso": _iso(now),
        "timezone": str(tz),
        "organisation": organisation,
        "sender": sender,
        "reply_to": reply_to,
        "contact": contact,
        "attachments": list(ATTACHMENTS),
        "reference": clean_header(reference, 60) if reference else None,
        "inventory": all(a.inventory for a in ordered),
        "phone": settings.bulletin.phone,
        "on_call": settings.bulletin.on_call,
        "incident_url": settings.bulletin.incident_url,
    }
