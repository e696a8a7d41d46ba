"""``web`` in ``alertd.yaml``: the acknowledgement page and the personal link every email then carries
(contract §2 and §4, "Acknowledgements"). Absent: no link, no page, nothing else changes."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse as parse_rate_limit

from alertd.config.common import parse_duration, parse_listen, resolve_path
from alertd.config.yamlsrc import Reader, YMap
from alertd.domain.settings import (
    DEFAULT_LINK_KEY,
    DEFAULT_LINK_TTL,
    DEFAULT_PROPOSAL_EXPIRY,
    DEFAULT_WEB_RATE_LIMIT,
    WebSettings,
)

MIN_LINK_TTL_DAYS = 1
MAX_LINK_TTL_DAYS = 366
MAX_PROPOSAL_DAYS = 3 * 366  # an inhibition accepted from a "not us" response: years would be one forgotten
_CREDENTIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # systemd's credential names, without "/"


def read_web(path: Path, m: YMap, r: Reader) -> WebSettings | None:
    """``web: {listen, base_url, key, key_file, link_ttl, rate_limit, trusted_proxies, proposal_expiry}``; None
    when absent or too broken to use (problems in ``r``)."""
    if "web" not in m or (wm := r.mapping(m["web"], m.value_pos["web"], "'web'")) is None:
        return None
    optional = ("key", "key_file", "link_ttl", "rate_limit", "trusted_proxies", "proposal_expiry")
    r.keys(wm, "'web'", ("listen", "base_url"), optional)
    listen = r.value(wm, "listen", str)
    if listen is not None:
        try:
            parse_listen(listen, "web.listen")
        except ValueError as exc:
            r.error(wm.value_pos["listen"], str(exc))
    base_url = r.value(wm, "base_url", str)
    if base_url is not None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            r.error(
                wm.value_pos["base_url"],
                f"{base_url!r}: give the page's address as the reverse proxy publishes it, such as "
                "https://alertes.cert-sante.example/reponse (no query, no fragment)",
            )
    key = r.value(wm, "key", str, DEFAULT_LINK_KEY) or DEFAULT_LINK_KEY
    if not _CREDENTIAL.fullmatch(key):
        r.error(wm.value_pos["key"], f"{key!r} is not a systemd credential name (letters, digits, '_', '.', '-')")
    key_file = r.value(wm, "key_file", str)
    ttl = _days(wm, "link_ttl", DEFAULT_LINK_TTL, (MIN_LINK_TTL_DAYS, MAX_LINK_TTL_DAYS), r)
    expiry = _days(wm, "proposal_expiry", DEFAULT_PROPOSAL_EXPIRY, (1, MAX_PROPOSAL_DAYS), r)
    rate = r.value(wm, "rate_limit", str, DEFAULT_WEB_RATE_LIMIT) or DEFAULT_WEB_RATE_LIMIT
    try:
        parse_rate_limit(rate)
    except ValueError:
        r.error(wm.value_pos["rate_limit"], f"rate_limit {rate!r}: write requests per period, such as 30/minute")
    proxies = []
    for text, pos in r.strings(wm, "trusted_proxies"):
        try:
            proxies.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            r.error(pos, f"{text!r} is not an address or a network (127.0.0.1, 10.0.0.0/8, ::1)")
    if listen is None or base_url is None:
        return None
    return WebSettings(
        listen=listen,
        base_url=base_url.rstrip("/"),
        key=key,
        key_file=resolve_path(path, key_file) if key_file else None,
        link_ttl=ttl,
        rate_limit=rate,
        trusted_proxies=tuple(proxies),
        proposal_expiry=expiry,
    )


def _days(wm: YMap, key: str, default: timedelta, bounds: tuple[int, int], r: Reader) -> timedelta:
    """A duration of ``low`` to ``high`` days (``30d``, ``12w``); ``default`` when absent or wrong (in ``r``)."""
    if (text := r.value(wm, key, str)) is None:
        return default
    low, high = bounds
    try:
        value = parse_duration(text)
    except ValueError as exc:
        r.error(wm.value_pos[key], f"{key}: {exc}")
        return default
    if not low <= value.days <= high:
        r.error(wm.value_pos[key], f"{key} {text!r}: give {low}d to {high}d (default {default.days}d)")
    return value
