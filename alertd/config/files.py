"""The operator's files (contract §2) parsed once into frozen, typed objects.

``load_config(path)`` reads ``alertd.yaml`` and every file it names, checks all of them and either returns a
:class:`Config` or raises :class:`ConfigError` listing every problem as ``file:line:col: message``. Nothing
downstream reads YAML or raw dicts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alertd.config.registry import RegistryCache, load_registry
from alertd.config.yamlsrc import Pos, Reader, YMap, load
from alertd.domain.errors import ConfigError, Problem
from alertd.domain.establishments import Registry
from alertd.domain.feeds import DEFAULT_MAX_BYTES, FeedConfig
from alertd.domain.routing import Inhibition, Selector, Subscription
from alertd.domain.settings import DEFAULT_RENOTIFY, TLP_LEVELS, Settings, SigningSettings, SmtpSettings
from alertd.domain.values import SEVERITY_NAMES, FeedKind, IndicatorType, Severity
from alertd.intake.extract import INDICATOR_ROLES, refang
from alertd.intake.formats import FORMATS
from alertd.match.benign import allowlist_entry_problem
from alertd.match.names import unsafe_names

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_FEED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``1d``, ``2w`` as a timedelta; ValueError otherwise."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: 30s, 15m, 1h, 1d, 2w")
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


@dataclass(frozen=True, slots=True)
class Config:
    settings: Settings
    feeds: tuple[FeedConfig, ...]
    registry: Registry
    subscriptions: tuple[Subscription, ...]
    warnings: tuple[Problem, ...] = ()
    inhibitions: tuple[Inhibition, ...] = ()
    allowlist: tuple[tuple[str, str], ...] = ()  # (value, reason): never alerted on, whoever it concerns

    def feed(self, feed_id: str) -> FeedConfig:
        for feed in self.feeds:
            if feed.id == feed_id:
                return feed
        raise KeyError(feed_id)


def _path(base: Path, text: str) -> Path:
    return (base.parent / Path(text).expanduser()).resolve()


def _read_settings(path: Path, r: Reader) -> Settings | None:
    data = load(path)
    pos = Pos(str(path), 1, 1)
    m = r.mapping(data, pos, "alertd.yaml")
    if m is None:
        return None
    r.keys(
        m,
        "the settings",
        ("state_dir", "feeds", "registry", "subscriptions", "sender"),
        (
            "timezone",
            "inhibitions",
            "allowlist",
            "templates",
            "operators",
            "renotify",
            "delivery",
            "http",
            "tlp",
            "organisation",
            "signing",
        ),
    )
    tz_name = r.value(m, "timezone", str, "UTC")
    timezone = ZoneInfo("UTC")
    if tz_name is not None:
        try:
            timezone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            r.error(
                m.value_pos["timezone"],
                f"unknown time zone {tz_name!r}; use an IANA name such as Europe/Paris",
            )
    paths: dict[str, Path | None] = {}
    for key in ("state_dir", "feeds", "registry", "subscriptions", "inhibitions", "allowlist", "templates"):
        text = r.value(m, key, str)
        paths[key] = _path(path, text) if text else None
    for key in ("feeds", "registry", "subscriptions", "inhibitions", "allowlist"):
        p = paths[key]
        if p is not None and not p.exists():
            r.error(m.value_pos[key], f"{key!r} names {p}, which does not exist")
    operators = tuple(v for v, _ in r.strings(m, "operators"))

    renotify = dict(DEFAULT_RENOTIFY)
    if "renotify" in m and (rm := r.mapping(m["renotify"], m.value_pos["renotify"], "'renotify'")) is not None:
        r.keys(rm, "'renotify'", (), SEVERITY_NAMES)
        for name in SEVERITY_NAMES:
            text = r.value(rm, name, str)
            if text is None:
                continue
            if text == "never":
                renotify[Severity.parse(name)] = None
                continue
            try:
                renotify[Severity.parse(name)] = parse_duration(text)
            except ValueError as exc:
                r.error(rm.value_pos[name], f"{exc}, or 'never'")

    sender_from, reply_to = "alertd <alertd@localhost>", None
    if (sm := r.mapping(m.get("sender"), m.value_pos.get("sender", m.pos), "'sender'")) is not None:
        r.keys(sm, "'sender'", ("from",), ("reply_to",))
        sender_from = r.value(sm, "from", str) or sender_from
        reply_to = r.value(sm, "reply_to", str)

    state_dir = paths["state_dir"] or path.parent
    method, maildir, smtp = "maildir", state_dir / "maildir", None
    if "delivery" in m and (dm := r.mapping(m["delivery"], m.value_pos["delivery"], "'delivery'")) is not None:
        r.keys(dm, "'delivery'", (), ("method", "maildir", "smtp"))
        method = r.choice(dm, "method", ("maildir", "smtp"), "maildir") or "maildir"
        if (md := r.value(dm, "maildir", str)) is not None:
            maildir = _path(path, md)
        if "smtp" in dm:
            smtp = _read_smtp(path, dm, r)
        elif method == "smtp":
            r.error(dm.pos, "delivery method 'smtp' needs an 'smtp' section with at least 'host'")

    listen = None
    if "http" in m and (hm := r.mapping(m["http"], m.value_pos["http"], "'http'")) is not None:
        r.keys(hm, "'http'", (), ("listen",))
        listen = r.value(hm, "listen", str)
        if listen is not None:
            try:
                parse_listen(listen)
            except ValueError as exc:
                r.error(hm.value_pos["listen"], str(exc))
    signing = None
    if "signing" in m and (gm := r.mapping(m["signing"], m.value_pos["signing"], "'signing'")) is not None:
        r.keys(gm, "'signing'", (), ("key", "passphrase_file", "gnupg_home"))
        home = r.value(gm, "gnupg_home", str)
        passphrase = r.value(gm, "passphrase_file", str)
        signing = SigningSettings(
            gnupg_home=_path(path, home) if home else (paths["state_dir"] or path.parent) / "gnupg",
            key=r.value(gm, "key", str),
            passphrase_file=_path(path, passphrase) if passphrase else None,
        )
    tlp = r.choice(m, "tlp", TLP_LEVELS, "amber") or "amber"
    organisation = r.value(m, "organisation", str, "") or ""
    if not (paths["feeds"] and paths["registry"] and paths["subscriptions"]):
        return None  # the other files cannot even be found; what is wrong is already recorded
    return Settings(
        path=path,
        timezone=timezone,
        state_dir=state_dir,
        feeds_file=paths["feeds"],
        registry_path=paths["registry"],
        subscriptions_file=paths["subscriptions"],
        inhibitions_file=paths["inhibitions"],
        allowlist_file=paths["allowlist"],
        templates_dir=paths["templates"],
        operators=operators,
        renotify=MappingProxyType(renotify),
        sender_from=sender_from,
        reply_to=reply_to,
        delivery_method=method,
        maildir=maildir,
        smtp=smtp,
        http_listen=listen,
        tlp=tlp,
        organisation=organisation,
        signing=signing,
    )


def _read_smtp(path: Path, dm: YMap, r: Reader) -> SmtpSettings | None:
    sm = r.mapping(dm["smtp"], dm.value_pos["smtp"], "'smtp'")
    if sm is None:
        return None
    r.keys(sm, "'smtp'", ("host",), ("port", "security", "username", "password_file", "ca_file", "timeout"))
    host = r.value(sm, "host", str)
    security = r.choice(sm, "security", ("starttls", "tls", "none"), "starttls")
    port = r.value(sm, "port", int, {"tls": 465, "none": 25}.get(security or "", 587))
    if security == "none" and host is not None and not _is_loopback(host):
        r.error(
            sm.value_pos["security"],
            "security 'none' sends mail in clear text and is allowed only to 127.0.0.0/8 or ::1; use starttls or tls",
        )
    password_file = r.value(sm, "password_file", str)
    ca_file = r.value(sm, "ca_file", str)
    username = r.value(sm, "username", str)
    if password_file and not username:
        r.error(sm.value_pos["password_file"], "'password_file' needs a 'username' to log in with")
    timeout = r.value(sm, "timeout", float, 30.0)
    if host is None or security is None or port is None:
        return None
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        username=username,
        password_file=_path(path, password_file) if password_file else None,
        ca_file=_path(path, ca_file) if ca_file else None,
        timeout=timeout or 30.0,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _read_feeds(path: Path, default_tlp: str, r: Reader, declared: set[str]) -> tuple[FeedConfig, ...]:
    """The feeds of ``feeds.yaml``; ``declared`` receives every id written, valid feed or not."""
    data = load(path)
    top = r.mapping(data, Pos(str(path), 1, 1), "feeds.yaml")
    if top is None or not r.keys(top, "feeds.yaml", ("feeds",)):
        return ()
    items = r.sequence(top["feeds"], top.value_pos["feeds"], "'feeds'")
    if items is None:
        return ()
    feeds: list[FeedConfig] = []
    seen: dict[str, Pos] = {}
    for item, pos in zip(items, items.item_pos, strict=True):
        fm = r.mapping(item, pos, "a feed")
        if fm is None:
            continue
        r.keys(
            fm,
            "a feed",
            ("id", "url", "format", "interval"),
            ("kind", "severity", "columns", "tlp", "max_bytes", "timeout", "stale_after", "failures_alert"),
        )
        feed_id = r.value(fm, "id", str)
        if feed_id is not None:
            if not _FEED_ID.match(feed_id):
                r.error(fm.value_pos["id"], f"feed id {feed_id!r} may use letters, digits, '.', '_' and '-' only")
            elif feed_id in seen:
                r.error(fm.value_pos["id"], f"duplicate feed id {feed_id!r} (first at line {seen[feed_id].line})")
            else:
                seen[feed_id] = fm.value_pos["id"]
                declared.add(feed_id)
        url = r.value(fm, "url", str)
        if url is not None:
            if url.startswith("file://"):
                url = "file://" + str(_path(path, url.removeprefix("file://")))
            elif not url.startswith(("https://", "http://")):
                r.error(fm.value_pos["url"], f"url {url!r} must start with https://, http:// or file://")
        fmt = r.choice(fm, "format", tuple(FORMATS))
        interval = _duration(r, fm, "interval")
        kind_text = r.choice(fm, "kind", tuple(k.value for k in FeedKind))
        sev_text = r.choice(fm, "severity", SEVERITY_NAMES)
        columns: dict[str, str] = {}
        if "columns" in fm and (cm := r.mapping(fm["columns"], fm.value_pos["columns"], "'columns'")) is not None:
            for key in cm:
                value = r.value(cm, key, str)
                if value is not None:
                    columns[str(key)] = value
        if fmt == "csv" and not any(c in columns for c in INDICATOR_ROLES):
            r.error(fm.pos, f"a csv feed needs 'columns' naming at least one of: {', '.join(INDICATOR_ROLES)}")
        tlp = r.choice(fm, "tlp", TLP_LEVELS, default_tlp) or default_tlp
        max_bytes = r.value(fm, "max_bytes", int, DEFAULT_MAX_BYTES)
        timeout = r.value(fm, "timeout", float, 60.0)
        stale_after = _duration(r, fm, "stale_after") if "stale_after" in fm else None
        failures_alert = r.value(fm, "failures_alert", int, 3)
        if feed_id is None or url is None or fmt is None or interval is None:
            continue
        feeds.append(
            FeedConfig(
                id=feed_id,
                url=url,
                format=fmt,
                interval=interval,
                kind=FeedKind(kind_text) if kind_text else FORMATS[fmt].kind,
                severity=Severity.parse(sev_text) if sev_text else None,
                columns=MappingProxyType(columns),
                tlp=tlp,
                max_bytes=max_bytes or DEFAULT_MAX_BYTES,
                timeout=timeout or 60.0,
                stale_after=stale_after,
                failures_alert=failures_alert or 3,
            )
        )
    return tuple(feeds)


def _duration(r: Reader, m: YMap, key: str) -> timedelta | None:
    text = r.value(m, key, str)
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        r.error(m.value_pos[key], str(exc))
        return None
    if value < timedelta(seconds=1):
        r.error(m.value_pos[key], "an interval must be at least 1s")
        return None
    return value


_SELECTOR_KEYS = {"ids": "ids", "kind": "kinds", "region": "regions", "tags": "tags"}


def _read_subscriptions(
    path: Path, registry: Registry | None, feed_ids: set[str], tz: ZoneInfo, r: Reader
) -> tuple[Subscription, ...]:
    from apscheduler.triggers.cron import CronTrigger

    data = load(path)
    top = r.mapping(data, Pos(str(path), 1, 1), "subscriptions.yaml")
    if top is None or not r.keys(top, "subscriptions.yaml", ("subscriptions",)):
        return ()
    items = r.sequence(top["subscriptions"], top.value_pos["subscriptions"], "'subscriptions'")
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
                if value not in feed_ids:
                    r.error(vpos, f"unknown feed {value!r}; feeds.yaml defines: {', '.join(sorted(feed_ids))}")
        if name is None or selector is None or sev is None:
            continue
        quiet = _quiet_hours(sm, r)
        days = _weekdays(sm, r)
        holidays = _holidays(sm, r)
        subs.append(Subscription(name, selector, Severity.parse(sev), digest, feeds, quiet, days, holidays))
    return tuple(subs)


_QUIET = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}


def _quiet_hours(sm: YMap, r: Reader) -> tuple[time, time] | None:
    text = r.value(sm, "quiet_hours", str)
    if text is None:
        return None
    found = _QUIET.match(text)
    try:
        if not found:
            raise ValueError
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        return time(h1, m1), time(h2, m2)
    except ValueError:
        r.error(sm.value_pos["quiet_hours"], f"quiet_hours {text!r} is not a range of local times like '20:00-07:30'")
        return None


def _weekdays(sm: YMap, r: Reader) -> frozenset[int] | None:
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


def _holidays(sm: YMap, r: Reader) -> frozenset[date]:
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


def _read_inhibitions(path: Path, feed_ids: set[str], registry: Registry | None, r: Reader) -> tuple[Inhibition, ...]:
    data = load(path)
    top = r.mapping(data, Pos(str(path), 1, 1), "inhibitions.yaml")
    if top is None or not r.keys(top, "inhibitions.yaml", ("inhibitions",)):
        return ()
    if top["inhibitions"] is None:
        return ()
    items = r.sequence(top["inhibitions"], top.value_pos["inhibitions"], "'inhibitions'")
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
        if feed is not None and feed not in feed_ids:
            r.error(im.value_pos["feed"], f"unknown feed {feed!r}; feeds.yaml defines: {', '.join(sorted(feed_ids))}")
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
                type=kind,
                where=f"{im.pos.file}:{im.pos.line}:{im.pos.column}",
            )
        )
    return tuple(result)


def _read_allowlist(path: Path, r: Reader) -> tuple[tuple[str, str], ...]:

    data = load(path)
    top = r.mapping(data, Pos(str(path), 1, 1), "allowlist.yaml")
    if top is None or not r.keys(top, "allowlist.yaml", ("allowlist",)) or top["allowlist"] is None:
        return ()
    items = r.sequence(top["allowlist"], top.value_pos["allowlist"], "'allowlist'")
    entries: list[tuple[str, str]] = []
    for item, pos in zip(items or (), items.item_pos if items else (), strict=True):
        am = r.mapping(item, pos, "an allowlist entry")
        if am is None or not r.keys(am, "an allowlist entry", ("value", "reason")):
            continue
        value, reason = r.value(am, "value", str), r.value(am, "reason", str)
        if value is None or reason is None:
            continue
        problem = allowlist_entry_problem(value)
        if problem:
            r.error(am.value_pos["value"], problem)
            continue
        entries.append((value, reason))
    return tuple(entries)


def _unsafe_name_warnings(registry: Registry) -> list[Problem]:
    """Names and aliases the index will not look for, each with where it is written (one scan per file)."""

    unsafe = unsafe_names(registry)
    if not unsafe:
        return []
    names = {name for _, name, _ in unsafe}
    where: dict[str, tuple[str, int, int]] = {}
    pattern = re.compile("|".join(re.escape(n) for n in sorted(names, key=len, reverse=True)))
    for path in registry.files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for found in pattern.finditer(text):
            if found.group() not in where:
                line = text.count("\n", 0, found.start()) + 1
                where[found.group()] = (str(path), line, found.start() - text.rfind("\n", 0, found.start()))
    problems = []
    fallback = (str(registry.files[0]) if registry.files else "registry", 1, 1)
    for est_id, name, why in unsafe:
        at, line, column = where.get(name, fallback)
        message = f"establishment {est_id!r}: {why}; it is not used for matching"
        problems.append(Problem(at, line, column, message, warning=True))
    return problems


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


def load_config(path: Path, registry_cache: RegistryCache | None = None) -> Config:
    """Load and check every file; raise :class:`ConfigError` with all the problems found.

    ``registry_cache`` (kept by the daemon across reloads) lets a reload re-read only the registry files whose
    bytes changed.
    """
    path = path.resolve()
    r = Reader()
    try:
        settings = _read_settings(path, r)
    except ConfigError as exc:
        raise ConfigError(r.problems + list(exc.problems)) from None
    if settings is None or not all(
        p.exists() for p in (settings.feeds_file, settings.registry_path, settings.subscriptions_file)
    ):
        raise ConfigError(r.problems)
    problems: list[Problem] = []
    feeds: tuple[FeedConfig, ...] = ()
    registry: Registry | None = None
    subs: tuple[Subscription, ...] = ()
    declared: set[str] = set()
    try:
        feeds = _read_feeds(settings.feeds_file, settings.tlp, r, declared)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        registry = load_registry(settings.registry_path, registry_cache)
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        subs = _read_subscriptions(settings.subscriptions_file, registry, declared, settings.timezone, r)
    except ConfigError as exc:
        problems.extend(exc.problems)
    inhibitions: tuple[Inhibition, ...] = ()
    if settings.inhibitions_file is not None and settings.inhibitions_file.exists():
        try:
            inhibitions = _read_inhibitions(settings.inhibitions_file, declared, registry, r)
        except ConfigError as exc:
            problems.extend(exc.problems)
        today = datetime.now(settings.timezone).date()
        for inh in inhibitions:
            if inh.expires is not None and inh.expires < today:
                file, line, column = inh.where.rsplit(":", 2)
                message = f"inhibition expired on {inh.expires} (no longer applies)"
                problems.append(Problem(file, int(line), int(column), message, warning=True))
    allowlist: tuple[tuple[str, str], ...] = ()
    if settings.allowlist_file is not None:
        try:
            allowlist = _read_allowlist(settings.allowlist_file, r)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if registry is not None:
        problems.extend(_unsafe_name_warnings(registry))
    if settings.templates_dir is not None and not settings.templates_dir.is_dir():
        problems.append(Problem(str(path), 1, 1, f"templates folder {settings.templates_dir} does not exist"))
    all_problems = r.problems + problems
    if any(not p.warning for p in all_problems) or registry is None:
        raise ConfigError(all_problems)
    return Config(settings, feeds, registry, subs, tuple(all_problems), inhibitions, allowlist)


def config_path(explicit: str | None, environ: Mapping[str, str]) -> Path:
    """The config file: ``-c``, then ``$ALERTD_CONFIG``, then ``/etc/alertd/alertd.yaml`` (contract §5)."""
    return Path(explicit or environ.get("ALERTD_CONFIG") or "/etc/alertd/alertd.yaml")


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into (host, port); ValueError with a message fit for ``alertd check``."""
    example = "expected host:port such as 127.0.0.1:9108 or [::1]:9108"
    text = text.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or not rest.startswith(":"):
            raise ValueError(f"http.listen {text!r}: {example}")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or ":" in host:
            raise ValueError(f"http.listen {text!r}: {example} (an IPv6 address goes in brackets)")
    if not host:
        raise ValueError(f"http.listen {text!r}: no address; give one, e.g. 127.0.0.1:9108 (0.0.0.0:9108 for all)")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"http.listen {text!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)


__all__ = ["Config", "config_path", "load_config", "normalise_inhibited", "parse_duration", "parse_listen"]
