"""``subscriptions.yaml`` and ``inhibitions.yaml``: who gets what and when, and what is held back."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from alertd.config.common import read_listing
from alertd.config.yamlsrc import Reader, YMap
from alertd.config.yamlwords import near_miss
from alertd.domain.establishments import Registry
from alertd.domain.routing import Inhibition, Selector, Subscription
from alertd.domain.values import SEVERITY_NAMES, IndicatorType, Severity
from alertd.intake.extract import refang

_SELECTOR_KEYS = {"ids": "ids", "kind": "kinds", "region": "regions", "tags": "tags"}


def read_subscriptions(
    path: Path, registry: Registry | None, feed_ids: set[str] | None, tz: ZoneInfo, r: Reader
) -> tuple[Subscription, ...]:
    """The subscriptions of ``subscriptions.yaml``, checked against the registry's ids and the declared feeds
    (``feed_ids`` None: feeds.yaml could not be read, so a feed named here is not said unknown)."""
    from apscheduler.triggers.cron import CronTrigger

    items = read_listing(path, "subscriptions.yaml", "subscriptions", r)
    if items is None:
        return ()
    subs: list[Subscription] = []
    seen: set[str] = set()
    for item, pos in zip(items, items.item_pos, strict=True):
        sm = r.mapping(item, pos, "a subscription")
        if sm is None:
            continue
        r.keys(
            sm,
            "a subscription",
            ("name", "establishments", "min_severity"),
            ("delivery", "feeds", "quiet_hours", "business_days", "holidays"),
        )
        name = r.value(sm, "name", str)
        if name is not None:
            if name in seen:
                r.error(sm.value_pos["name"], f"duplicate subscription name {name!r}")
            seen.add(name)
        selector = _read_selector(sm, registry, r) if "establishments" in sm else None
        sev = r.choice(sm, "min_severity", SEVERITY_NAMES)
        digest = None
        if "delivery" in sm:
            delivery = sm["delivery"]
            if delivery == "immediate":
                pass
            elif isinstance(delivery, YMap) and r.keys(delivery, "'delivery'", ("digest",)):
                digest = r.value(delivery, "digest", str)
                if digest is not None:
                    try:
                        CronTrigger.from_crontab(digest, timezone=tz)
                    except ValueError as exc:
                        r.error(delivery.value_pos["digest"], f"invalid cron expression {digest!r}: {exc}")
            elif not isinstance(delivery, YMap):
                r.error(sm.value_pos["delivery"], "'delivery' is 'immediate' or {digest: \"CRON\"}")
        feeds = None
        if "feeds" in sm:
            feeds = frozenset(v for v, _ in r.strings(sm, "feeds"))
            for value, vpos in r.strings(sm, "feeds"):
                if feed_ids is not None and value not in feed_ids:
                    r.error(vpos, unknown_feed(value, feed_ids))
        if name is None or selector is None or sev is None:
            continue
        quiet = read_hours(sm, r, "quiet_hours")
        days = read_business_days(sm, r)
        holidays = read_holidays(sm, r)
        subs.append(Subscription(name, selector, Severity.parse(sev), digest, feeds, quiet, days, holidays))
    return tuple(subs)


_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def read_hours(sm: YMap, r: Reader, key: str) -> tuple[time, time] | None:
    """A range of local times written ``'20:00-07:30'`` (subscriptions' ``quiet_hours``, escalation's
    ``business_hours``); None when absent or wrong (in ``r``)."""
    text = r.value(sm, key, str)
    if text is None:
        return None
    found = _QUIET.match(text)
    try:
        if not found:
            raise ValueError
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        return time(h1, m1), time(h2, m2)
    except ValueError:
        r.error(sm.value_pos[key], f"{key} {text!r} is not a range of local times like '20:00-07:30'")
        return None


def read_business_days(sm: YMap, r: Reader) -> frozenset[int] | None:
    """``business_days: mon-fri`` (days or ranges) as ISO weekdays; None when absent."""
    if "business_days" not in sm:
        return None
    days: set[int] = set()
    for text, pos in r.strings(sm, "business_days"):
        parts = text.lower().split("-")
        if len(parts) == 2 and all(p in _WEEKDAYS for p in parts):
            first, last = _WEEKDAYS[parts[0]], _WEEKDAYS[parts[1]]
            days.update(range(first, last + 1) if first <= last else [*range(first, 8), *range(1, last + 1)])
        elif len(parts) == 1 and parts[0] in _WEEKDAYS:
            days.add(_WEEKDAYS[parts[0]])
        else:
            r.error(pos, f"business_days {text!r}: write days or ranges of mon, tue, wed, thu, fri, sat, sun")
    return frozenset(days)


def read_holidays(sm: YMap, r: Reader) -> frozenset[date]:
    """``holidays: [2026-12-25, …]`` as dates; empty when absent."""
    if "holidays" not in sm:
        return frozenset()
    items = r.sequence(sm["holidays"], sm.value_pos["holidays"], "'holidays'")
    result: set[date] = set()
    for item, pos in zip(items or (), items.item_pos if items else (), strict=True):
        if isinstance(item, date) and not isinstance(item, datetime):
            result.add(item)
        else:
            r.error(pos, f"a holiday is a date written 2026-12-25, not {item!r}")
    return frozenset(result)


def read_inhibitions(
    path: Path, feed_ids: set[str] | None, registry: Registry | None, r: Reader
) -> tuple[Inhibition, ...]:
    """The inhibitions of ``inhibitions.yaml``, each with exactly one matcher and the place it was written
    (``feed_ids`` None: feeds.yaml could not be read, so a feed named here is not said unknown)."""
    items = read_listing(path, "inhibitions.yaml", "inhibitions", r, may_be_empty=True)
    result: list[Inhibition] = []
    matchers = ("indicator", "feed", "type")
    for item, pos in zip(items or (), items.item_pos if items else (), strict=True):
        im = r.mapping(item, pos, "an inhibition")
        if im is None or not r.keys(im, "an inhibition", ("reason",), ("establishment", *matchers, "expires")):
            continue
        given = [k for k in matchers if k in im]
        if len(given) > 1:
            r.error(im.pos, f"an inhibition takes one of {', '.join(matchers)}, not {' and '.join(given)}")
            continue
        if not given and "establishment" not in im:
            r.error(im.pos, "an inhibition needs an 'indicator', 'feed' or 'type', or an 'establishment'")
            continue
        reason = r.value(im, "reason", str)
        expires = im.get("expires")
        if expires is not None and (not isinstance(expires, date) or isinstance(expires, datetime)):
            r.error(im.value_pos["expires"], f"'expires' is a date written 2027-01-01, not {expires!r}")
            continue
        est = r.value(im, "establishment", str)
        if est is not None and registry is not None and est not in registry.establishments:
            r.error(im.value_pos["establishment"], f"no establishment has id {est!r}")
        feed = r.value(im, "feed", str)
        if feed is not None and feed_ids is not None and feed not in feed_ids:
            r.error(im.value_pos["feed"], unknown_feed(feed, feed_ids))
        kind = r.choice(im, "type", tuple(t.value for t in IndicatorType))
        indicator = r.value(im, "indicator", str)
        if reason is None:
            continue
        result.append(
            Inhibition(
                reason=reason,
                expires=expires,
                establishment=est,
                indicator=normalise_inhibited(indicator) if indicator else None,
                feed=feed,
                type=IndicatorType(kind) if kind is not None else None,
                where=f"{im.pos.file}:{im.pos.line}:{im.pos.column}",
            )
        )
    return tuple(result)


def unknown_feed(name: str, feed_ids: set[str]) -> str:
    """The message for a feed name feeds.yaml does not define, with the nearest id if one is close."""
    defined = ", ".join(sorted(feed_ids)) or "no feed"
    return f"unknown feed {name!r}{near_miss(name, feed_ids)}; feeds.yaml defines: {defined}"


def normalise_inhibited(value: str) -> str:
    """An inhibition's indicator as the matcher writes indicators: refanged, lower-cased (a CVE upper-cased)."""
    value = refang(value.strip())
    return value.upper() if value.upper().startswith("CVE-") else value.lower()


def _read_selector(sm: YMap, registry: Registry | None, r: Reader) -> Selector | None:
    value, pos = sm["establishments"], sm.value_pos["establishments"]
    if value == "all":
        return Selector(everyone=True)
    em = r.mapping(value, pos, "'establishments' ('all' or a selector)")
    if em is None:
        return None
    if not r.keys(em, "an establishments selector", (), tuple(_SELECTOR_KEYS)):
        return None
    if not em:
        r.error(pos, "an empty selector; write 'all' or give ids, kind, region or tags")
        return None
    parts: dict[str, frozenset[str]] = {}
    for key, attr in _SELECTOR_KEYS.items():
        values = r.strings(em, key)
        parts[attr] = frozenset(v for v, _ in values)
        if key == "ids" and registry is not None:
            for v, vpos in values:
                if v not in registry.establishments:
                    r.error(vpos, f"no establishment has id {v!r}")
    return Selector(ids=parts["ids"], kinds=parts["kinds"], regions=parts["regions"], tags=parts["tags"])
