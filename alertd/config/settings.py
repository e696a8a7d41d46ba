"""``alertd.yaml``: time zone, paths, sender, delivery (Maildir or SMTP), signing, HTTP, TLP, the web page."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alertd.config.common import parse_duration, parse_listen, read_duration, resolve_path
from alertd.config.settings_backups import read_backups
from alertd.config.settings_escalation import read_escalation
from alertd.config.settings_web import read_web
from alertd.config.sources import exists
from alertd.config.yamlsrc import Pos, Reader, YMap, load
from alertd.domain.settings import (
    DEFAULT_BULLETIN,
    DEFAULT_DELIVERY_FAILING_AFTER,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_RENOTIFY,
    DEFAULT_RETENTION,
    DEFAULT_SMTP_POOL_SIZE,
    MAX_SMTP_POOL_SIZE,
    BulletinSettings,
    DeliveryMethod,
    Settings,
    SigningSettings,
    SmtpSecurity,
    SmtpSettings,
)
from alertd.domain.tlp import DEFAULT_TLP, Tlp
from alertd.domain.values import SEVERITY_NAMES, Severity


def read_settings(path: Path, r: Reader) -> Settings | None:
    """``alertd.yaml`` with every path made absolute, or None when it is too broken to go on (problems in ``r``)."""
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
            "bulletin",
            "links",
            "retention",
            "backups",
            "web",
            "escalation",
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
        paths[key] = resolve_path(path, text) if text else None
    for key in ("feeds", "registry", "subscriptions", "inhibitions", "allowlist"):
        p = paths[key]
        if p is not None and not exists(p):
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
    method, maildir, smtp = DeliveryMethod.MAILDIR, state_dir / "maildir", None
    max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES
    failing_after = DEFAULT_DELIVERY_FAILING_AFTER
    if "delivery" in m and (dm := r.mapping(m["delivery"], m.value_pos["delivery"], "'delivery'")) is not None:
        r.keys(dm, "'delivery'", (), ("method", "maildir", "smtp", "max_message_bytes", "failing_after"))
        failing_after = read_duration(r, dm, "failing_after") or DEFAULT_DELIVERY_FAILING_AFTER
        size = r.value(dm, "max_message_bytes", int, DEFAULT_MAX_MESSAGE_BYTES)
        if size is not None and size < MIN_MESSAGE_BYTES:
            r.error(
                dm.value_pos["max_message_bytes"],
                f"max_message_bytes {size} is too small for any warning; give at least {MIN_MESSAGE_BYTES} "
                "(relays commonly take 10000000)",
            )
        elif size is not None:
            max_message_bytes = size
        method = DeliveryMethod(
            r.choice(dm, "method", tuple(DeliveryMethod), DeliveryMethod.MAILDIR) or DeliveryMethod.MAILDIR
        )
        if (md := r.value(dm, "maildir", str)) is not None:
            maildir = resolve_path(path, md)
        if "smtp" in dm:
            smtp = _read_smtp(path, dm, r)
        elif method is DeliveryMethod.SMTP:
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
            gnupg_home=resolve_path(path, home) if home else (paths["state_dir"] or path.parent) / "gnupg",
            key=r.value(gm, "key", str),
            passphrase_file=resolve_path(path, passphrase) if passphrase else None,
        )
    tlp = Tlp(r.choice(m, "tlp", tuple(Tlp), DEFAULT_TLP) or DEFAULT_TLP)
    organisation = r.value(m, "organisation", str, "") or ""
    bulletin = _read_bulletin(m, r) if "bulletin" in m else DEFAULT_BULLETIN
    link_domains = _read_links(m, r) if "links" in m else frozenset()
    retention = _read_retention(m, r)
    backups = read_backups(path, m, r)
    web = read_web(path, m, r)
    escalation = read_escalation(m, r)
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
        bulletin=bulletin,
        link_domains=link_domains,
        max_message_bytes=max_message_bytes,
        retention=retention,
        backups=backups,
        delivery_failing_after=failing_after,
        web=web,
        escalation=escalation,
    )


def _read_retention(m: YMap, r: Reader) -> timedelta | None:
    """``retention``: how long entries that left their feed and resolved findings are kept (``90d``), or
    ``never`` to keep them for ever."""
    text = r.value(m, "retention", str)
    if text is None:
        return DEFAULT_RETENTION
    if text == "never":
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        r.error(m.value_pos["retention"], f"{exc}, or 'never'")
        return DEFAULT_RETENTION
    if value < MIN_RETENTION:
        # A finding resolved minutes ago may still be told in the next digest: keep a day at least.
        r.error(m.value_pos["retention"], f"retention {text!r} is shorter than a day; give 1d or more, or 'never'")
    return value


MIN_MESSAGE_BYTES = 200_000  # the bodies alone take up to ~200 KB (render/email.py budgets them)
MIN_RETENTION = timedelta(days=1)
_PREFIX = re.compile(r"[A-Z0-9][A-Z0-9-]{0,23}")
_PHONE = re.compile(r"\+?[0-9][0-9 .()-]{2,30}")


def _read_bulletin(m: YMap, r: Reader) -> BulletinSettings:
    """The ``bulletin`` section: the reference prefix, the CERT's phone and on-call line, the declaration URL."""
    bm = r.mapping(m["bulletin"], m.value_pos["bulletin"], "'bulletin'")
    if bm is None:
        return DEFAULT_BULLETIN
    r.keys(bm, "'bulletin'", (), ("reference_prefix", "phone", "on_call", "incident_url"))
    prefix = r.value(bm, "reference_prefix", str) or DEFAULT_BULLETIN.reference_prefix
    if not _PREFIX.fullmatch(prefix):
        r.error(
            bm.value_pos["reference_prefix"],
            f"reference prefix {prefix!r}: write 1 to 24 capital letters, digits or '-', not starting with '-'",
        )
    phones: dict[str, str | None] = {}
    for key in ("phone", "on_call"):
        phone = r.value(bm, key, str)
        if phone is not None and not _PHONE.fullmatch(phone.strip()):
            r.error(
                bm.value_pos[key],
                f"{phone!r} is not a phone number; write digits, spaces, '.', '-', '(', ')' and a leading '+'",
            )
        phones[key] = phone.strip() if phone else None
    url = r.value(bm, "incident_url", str)
    if url is not None and not url.startswith("https://"):
        r.error(bm.value_pos["incident_url"], f"{url!r}: the declaration page must be an https:// URL")
    return BulletinSettings(reference_prefix=prefix, phone=phones["phone"], on_call=phones["on_call"], incident_url=url)


# A domain name of ASCII labels (an IDN in its xn-- form), without scheme, path or port.
_LINK_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}", re.ASCII)


def _read_links(m: YMap, r: Reader) -> frozenset[str]:
    """The ``links`` section: ``allowed_domains``, the CERT's other sites an email may link to (its own configured
    URLs' and the known sources' are allowed already)."""
    lm = r.mapping(m["links"], m.value_pos["links"], "'links'")
    if lm is None:
        return frozenset()
    r.keys(lm, "'links'", (), ("allowed_domains",))
    found = set()
    for text, pos in r.strings(lm, "allowed_domains"):
        domain = text.strip().rstrip(".").lower()
        if not _LINK_DOMAIN.fullmatch(domain):
            r.error(pos, f"{text!r} is not a domain name; write it as 'cert-sante.example', without https:// or /")
            continue
        found.add(domain)
    return frozenset(found)


_DEFAULT_PORTS = {SmtpSecurity.STARTTLS: 587, SmtpSecurity.TLS: 465, SmtpSecurity.NONE: 25}


def _read_smtp(path: Path, dm: YMap, r: Reader) -> SmtpSettings | None:
    sm = r.mapping(dm["smtp"], dm.value_pos["smtp"], "'smtp'")
    if sm is None:
        return None
    optional = ("port", "security", "username", "password_file", "ca_file", "timeout", "pool_size")
    r.keys(sm, "'smtp'", ("host",), optional)
    host = r.value(sm, "host", str)
    chosen = r.choice(sm, "security", tuple(SmtpSecurity), SmtpSecurity.STARTTLS)
    security = SmtpSecurity(chosen) if chosen is not None else None
    port = r.value(sm, "port", int, _DEFAULT_PORTS[security or SmtpSecurity.STARTTLS])
    if security is SmtpSecurity.NONE and host is not None and not _is_loopback(host):
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
    pool_size = r.value(sm, "pool_size", int, DEFAULT_SMTP_POOL_SIZE)
    if pool_size is not None and not 1 <= pool_size <= MAX_SMTP_POOL_SIZE:
        r.error(
            sm.value_pos["pool_size"],
            f"'pool_size' must be between 1 and {MAX_SMTP_POOL_SIZE} connections (a crash may send that many emails "
            f"twice); the default is {DEFAULT_SMTP_POOL_SIZE}",
        )
    if host is None or security is None or port is None:
        return None
    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        username=username,
        password_file=resolve_path(path, password_file) if password_file else None,
        ca_file=resolve_path(path, ca_file) if ca_file else None,
        timeout=timeout or 30.0,
        pool_size=pool_size or DEFAULT_SMTP_POOL_SIZE,
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
