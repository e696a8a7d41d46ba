"""``feeds.yaml``: each feed's id, url, format, interval, kind, severity, columns and limits."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlsplit

from alertd.config.common import parse_duration, read_duration, read_listing, resolve_path
from alertd.config.yamlsrc import Pos, Reader, YMap
from alertd.domain.feeds import (
    DEFAULT_BACKLOG_AFTER,
    DEFAULT_DEADLINE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_MAX_ENTRY_BYTES,
    DEFAULT_MAX_FIELD_BYTES,
    INDICATOR_ROLES,
    ColumnRole,
    FactColumn,
    FeedConfig,
    FeedFormat,
)
from alertd.domain.tlp import Tlp
from alertd.domain.values import SEVERITY_NAMES, FeedKind, Severity
from alertd.intake.formats import FORMATS
from alertd.intake.reach import valid_allowed_host

_FEED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Bounds of the text caps: below the floor real titles and indicators would be cut; above the ceiling one entry's
# text would cost more memory than a whole feed should (every scan is linear, so time is not the limit).
MIN_TEXT_CAP = 1024
MAX_TEXT_CAP = 16 * 1024 * 1024
# Bounds of max_entries: above the ceiling one poll's observations alone would take gigabytes (about 1.2 KB each).
MAX_ENTRIES_CAP = 5_000_000
_COLLECTION = re.compile(r"/collections/[^/]+/?$")


def read_feeds(path: Path, default_tlp: Tlp, r: Reader, declared: set[str]) -> tuple[FeedConfig, ...]:
    """The feeds of ``feeds.yaml``; ``declared`` receives every id written, valid feed or not."""
    items = read_listing(path, "feeds.yaml", "feeds", r)
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
            (
                "kind",
                "severity",
                "columns",
                "tlp",
                "max_bytes",
                "timeout",
                "stale_after",
                "failures_alert",
                "backlog_after",
                "allow_hosts",
                "deadline",
                "max_field_bytes",
                "max_entry_bytes",
                "max_entries",
                "username",
                "password_file",
            ),
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
                url = "file://" + str(resolve_path(path, url.removeprefix("file://")))
            elif not url.startswith(("https://", "http://")):
                r.error(fm.value_pos["url"], f"url {url!r} must start with https://, http:// or file://")
        format_text = r.choice(fm, "format", tuple(FeedFormat))
        fmt = FeedFormat(format_text) if format_text else None
        username, password_file = _credentials(path, r, fm, fmt, url)
        interval = read_duration(r, fm, "interval")
        kind_text = r.choice(fm, "kind", tuple(k.value for k in FeedKind))
        sev_text = r.choice(fm, "severity", SEVERITY_NAMES)
        columns: dict[ColumnRole | FactColumn, str] = {}
        if "columns" in fm and (cm := r.mapping(fm["columns"], fm.value_pos["columns"], "'columns'")) is not None:
            for key in cm:
                value = r.value(cm, key, str)
                if value is not None:
                    columns[ColumnRole.of(str(key))] = value
        if fmt is FeedFormat.CSV and not any(role in columns for role in INDICATOR_ROLES):
            r.error(fm.pos, f"a csv feed needs 'columns' naming at least one of: {', '.join(INDICATOR_ROLES)}")
        tlp = Tlp(r.choice(fm, "tlp", tuple(Tlp), default_tlp) or default_tlp)
        max_bytes = r.value(fm, "max_bytes", int, DEFAULT_MAX_BYTES)
        timeout = r.value(fm, "timeout", float, 60.0)
        stale_after = read_duration(r, fm, "stale_after") if "stale_after" in fm else None
        failures_alert = r.value(fm, "failures_alert", int, 3)
        backlog_after = _backlog_after(r, fm)
        allow_hosts = _allow_hosts(r, fm)
        deadline = read_duration(r, fm, "deadline") if "deadline" in fm else DEFAULT_DEADLINE
        max_field, max_entry = _text_caps(r, fm)
        max_entries = _max_entries(r, fm, fmt)
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
                backlog_after=backlog_after,
                allow_hosts=allow_hosts,
                deadline=deadline or DEFAULT_DEADLINE,
                max_field_bytes=max_field,
                max_entry_bytes=max_entry,
                max_entries=max_entries,
                username=username,
                password_file=password_file,
            )
        )
    return tuple(feeds)


def _credentials(
    path: Path, r: Reader, fm: YMap, fmt: FeedFormat | None, url: str | None
) -> tuple[str | None, Path | None]:
    """A ``taxii`` feed's ``username`` and ``password_file`` (HTTP basic authentication), and what its url must be.

    A TAXII feed's url is its collection's (``https://…/<api root>/collections/<id>/``); a password goes only over
    ``https://``, or ``http://`` to the machine itself.
    """
    username = r.value(fm, "username", str)
    password_file = r.value(fm, "password_file", str)
    if fmt is FeedFormat.TAXII and url is not None:
        if not url.startswith(("https://", "http://")):
            r.error(fm.value_pos["url"], "a taxii feed's url is its collection's URL, over https:// (or http://)")
        elif not _COLLECTION.search(urlsplit(url).path):
            r.error(
                fm.value_pos["url"],
                f"url {url!r} is no TAXII collection's: it ends with /collections/<id>/ (the collection's id, "
                "listed at <api root>/collections/)",
            )
    if fmt is not None and fmt is not FeedFormat.TAXII:
        for key in ("username", "password_file"):
            if key in fm:
                r.error(fm.key_pos[key], f"'{key}' is read by taxii feeds only")
        return None, None
    if password_file is not None and username is None:
        r.error(fm.value_pos["password_file"], "'password_file' needs a 'username' to log in with")
    if username is not None and url is not None and url.startswith("http://") and not _is_loopback(url):
        r.error(
            fm.value_pos["url"],
            "a password would go in clear text over http://; use https:// (http:// is allowed to 127.0.0.0/8, ::1 "
            "or localhost only)",
        )
    return username, resolve_path(path, password_file) if password_file else None


def _is_loopback(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _backlog_after(r: Reader, fm: YMap) -> timedelta | None:
    """``backlog_after``: a duration, or ``never`` (every entry is news); 30 days when not written."""
    text = r.value(fm, "backlog_after", str)
    if text is None:  # absent, or not a string (already reported)
        return DEFAULT_BACKLOG_AFTER
    if text.strip() == "never":
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        r.error(fm.value_pos["backlog_after"], f"{exc}, or 'never'")
        return DEFAULT_BACKLOG_AFTER


def _allow_hosts(r: Reader, fm: YMap) -> tuple[str, ...]:
    """``allow_hosts``: the hosts an index's documents may come from besides its own origin (contract §2)."""
    hosts: list[str] = []
    for entry, pos in r.strings(fm, "allow_hosts"):
        if valid_allowed_host(entry.strip()):
            hosts.append(entry.strip().lower())
        else:
            r.error(
                pos,
                f"allow_hosts entry {entry!r} is not a host: write a name (cert.example.org), *.domain, an address "
                "([2001:db8::1] for IPv6), then :port if not the scheme's default",
            )
    return tuple(hosts)


def _text_caps(r: Reader, fm: YMap) -> tuple[int, int]:
    """``max_field_bytes`` and ``max_entry_bytes``: whole numbers within the bounds, an entry's at least a field's.

    When only one is written, the other follows it where its default would contradict it (a field cap above the
    default entry cap raises the entry cap; an entry cap below the default field cap lowers the field cap).
    """
    caps = []
    for key, default in (("max_field_bytes", DEFAULT_MAX_FIELD_BYTES), ("max_entry_bytes", DEFAULT_MAX_ENTRY_BYTES)):
        value = r.value(fm, key, int, default)
        if value is not None and not MIN_TEXT_CAP <= value <= MAX_TEXT_CAP:
            r.error(
                fm.value_pos[key],
                f"{key!r} is {value}; it must be between {MIN_TEXT_CAP} and {MAX_TEXT_CAP} (characters of feed text "
                f"read; default {default})",
            )
            value = None
        caps.append(default if value is None else value)
    field_cap, entry_cap = caps
    if entry_cap >= field_cap:
        return field_cap, entry_cap
    if "max_entry_bytes" in fm and "max_field_bytes" in fm:
        r.error(
            fm.value_pos["max_entry_bytes"],
            f"'max_entry_bytes' ({entry_cap}) is less than 'max_field_bytes' ({field_cap}): an entry holds its fields",
        )
        return field_cap, field_cap
    if "max_entry_bytes" in fm:
        return entry_cap, entry_cap
    return field_cap, field_cap


def _max_entries(r: Reader, fm: YMap, fmt: FeedFormat | None) -> int:
    """``max_entries``: a whole number from 1 to :data:`MAX_ENTRIES_CAP`; by default the format's (contract §2)."""
    default = FORMATS[fmt].max_entries if fmt is not None else DEFAULT_MAX_ENTRIES
    value = r.value(fm, "max_entries", int, default)
    if value is None or not 1 <= value <= MAX_ENTRIES_CAP:
        if value is not None:
            r.error(
                fm.value_pos["max_entries"],
                f"'max_entries' is {value}; it must be between 1 and {MAX_ENTRIES_CAP} (entries read from one "
                f"document; default {default})",
            )
        return default
    return int(value)
