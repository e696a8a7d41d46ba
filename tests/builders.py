"""Builders shared by the tests: settings, feeds, establishments, findings, alerts and a rendered email.

One place builds each value, so a change to a domain type changes one builder, not every test.
"""

from __future__ import annotations

import email
import email.policy
import random
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import jinja2

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.domain.establishments import Contact, Establishment
from alertd.domain.facts import NO_FACTS, Facts
from alertd.domain.feeds import DEFAULT_MAX_BYTES, ColumnRole, FeedConfig, FeedFormat, FeedSpec
from alertd.domain.settings import DEFAULT_RENOTIFY, DeliveryMethod, Settings
from alertd.domain.tlp import Tlp
from alertd.domain.values import Alert, FeedKind, Finding, Indicator, IndicatorType, Severity
from alertd.intake.formats import FORMATS
from alertd.render.email import render_email
from alertd.render.environment import make_environment

NOW = datetime(2025, 3, 12, 13, 5, tzinfo=UTC)
MESSAGE_ID = "<20250312130500.330781196.abc@cert-sante.example>"
RECIPIENTS = ("rssi@chu-bordeaux.example",)
ENV = make_environment(None)
COMPROMISE_REPORTED = SeverityRule.of(RuleKind.COMPROMISE_REPORTED)


def make_settings(**changes: object) -> Settings:
    values: dict[str, object] = {
        "path": Path("/etc/alertd/alertd.yaml"),
        "timezone": ZoneInfo("Europe/Paris"),
        "state_dir": Path("/var/lib/alertd"),
        "feeds_file": Path("/etc/alertd/feeds.yaml"),
        "registry_path": Path("/etc/alertd/establishments"),
        "subscriptions_file": Path("/etc/alertd/subscriptions.yaml"),
        "inhibitions_file": None,
        "allowlist_file": None,
        "templates_dir": None,
        "operators": ("soc@cert-sante.example",),
        "renotify": DEFAULT_RENOTIFY,
        "sender_from": "CERT Santé <alertes@cert-sante.example>",
        "reply_to": "cert@cert-sante.example",
        "delivery_method": DeliveryMethod.MAILDIR,
        "maildir": Path("/var/lib/alertd/maildir"),
        "smtp": None,
        "http_listen": None,
        "tlp": Tlp.AMBER,
        "organisation": "CERT Santé",
    }
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


SETTINGS = make_settings()


def make_feed_spec(
    feed_id: str, fmt: FeedFormat, kind: FeedKind | None = None, columns: Mapping[str, str] | None = None
) -> FeedSpec:
    """A feed as its parser sees it; the kind is the format's own unless given. ``columns`` are keyed as
    ``feeds.yaml`` writes them, and read as config reads them."""
    keyed = {ColumnRole.of(key): column for key, column in (columns or {}).items()}
    return FeedSpec(feed_id, fmt, kind or FORMATS[fmt].kind, MappingProxyType(keyed))


def make_feed(
    feed_id: str,
    fmt: FeedFormat = FeedFormat.CSV,
    kind: FeedKind | None = None,
    severity: Severity | None = None,
    *,
    columns: Mapping[str, str] | None = None,
    url: str | None = None,
    interval: timedelta = timedelta(hours=1),
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = 60.0,
) -> FeedConfig:
    """A feed as ``feeds.yaml`` declares it, at ``file:///<id>`` unless given a url."""
    spec = make_feed_spec(feed_id, fmt, kind, columns)
    return FeedConfig(
        id=spec.id,
        url=url or f"file:///{feed_id}",
        format=spec.format,
        interval=interval,
        kind=spec.kind,
        severity=severity,
        columns=spec.columns,
        max_bytes=max_bytes,
        timeout=timeout,
    )


def make_establishment(est_id: str = "330781196", language: str = "fr") -> Establishment:
    return Establishment(
        id=est_id,
        name="CHU de Bordeaux",
        aliases=("CHU Bordeaux",),
        kind="CHU",
        region="Nouvelle-Aquitaine",
        language=language,
        contacts=(Contact("rssi@chu-bordeaux.example"),),
        domains=("chu-bordeaux.example",),
    )


def make_alert(
    indicator: Indicator,
    *,
    est_id: str = "330781196",
    reason: MatchReason = MatchReason.ADDRESS_IN_NETWORK,
    asset: str = "147.210.0.0/16",
    kind: FeedKind = FeedKind.COMPROMISE,
    severity: Severity = Severity.IMMINENT,
    title: str = "Botnet C2 server",
    feed: str = "feodo",
    link: str | None = "https://feodotracker.abuse.ch/browse/",
    tlp: Tlp = Tlp.AMBER,
    facts: Facts = NO_FACTS,
    rule: SeverityRule = COMPROMISE_REPORTED,
) -> Alert:
    finding = Finding(
        establishment=est_id,
        indicator=indicator,
        asset=asset,
        reason=reason,
        feed=feed,
        kind=kind,
        entry=f"{feed}:{indicator.value}",
        title=title,
        link=link,
        published=NOW - timedelta(days=2),
        facts=facts,
    )
    return Alert(
        finding=finding,
        severity=severity,
        rule=rule,
        subscription="imminent-everyone",
        immediate=True,
        first_seen=NOW - timedelta(days=1),
        last_seen=NOW,
        tlp=tlp,
    )


IPV4 = Indicator(IndicatorType.IPV4, "147.210.1.5")
IPV6 = Indicator(IndicatorType.IPV6, "2001:660:6101::5")
DOMAIN = Indicator(IndicatorType.DOMAIN, "vpn.chu-bordeaux.example")
URL = Indicator(IndicatorType.URL, "http://evil-cdn.example/payload.exe")
MAILBOX = Indicator(IndicatorType.EMAIL, "phish@evil-mail.example")
CVE = Indicator(IndicatorType.CVE, "CVE-2023-4966")


def many_alerts() -> list[Alert]:
    return [
        make_alert(IPV4, facts=Facts(malware="QakBot", port="443")),
        make_alert(IPV6, asset="2001:660:6101::/48", tlp=Tlp.GREEN),
        make_alert(DOMAIN, reason=MatchReason.DOMAIN, asset="chu-bordeaux.example", severity=Severity.HIGH),
        make_alert(URL, reason=MatchReason.DOMAIN, asset="chu-bordeaux.example", link=None),
        make_alert(MAILBOX, reason=MatchReason.DOMAIN, asset="chu-bordeaux.example", severity=Severity.INFO),
        make_alert(
            CVE,
            reason=MatchReason.KEV_PRODUCT,
            asset="Citrix NetScaler ADC 13.1-49.13",
            kind=FeedKind.VULNERABILITY,
            severity=Severity.CRITICAL,
            title="Citrix NetScaler ADC and Gateway Buffer Overflow",
            feed="cisa-kev",
            link="https://www.cisa.gov/known-exploited-vulnerabilities-catalog",
            facts=Facts(due_date="2023-11-08", required_action="Apply mitigations per vendor instructions."),
            tlp=Tlp.CLEAR,
        ),
    ]


def render(
    alerts: Sequence[Alert],
    *,
    language: str = "fr",
    settings: Settings = SETTINGS,
    env: jinja2.Environment = ENV,
    in_reply_to: str | None = None,
) -> EmailMessage:
    return render_email(
        env,
        make_establishment(language=language),
        alerts,
        RECIPIENTS,
        settings=settings.render,
        now=NOW,
        message_id=MESSAGE_ID,
        in_reply_to=in_reply_to,
    )


def parsed(msg: EmailMessage) -> EmailMessage:
    """An email as a recipient's client reads it back from the wire."""
    back = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    assert isinstance(back, EmailMessage)
    return back


def bodies(msg: EmailMessage) -> tuple[str, str]:
    """The text and HTML alternatives, checking the structure: mixed(alternative(text, html), csv, json)."""
    back = parsed(msg)
    assert back.get_content_type() == "multipart/mixed"
    alternative, *attachments = back.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [a.get_content_type() for a in attachments] == ["text/csv", "application/json"]
    assert isinstance(alternative, EmailMessage)
    parts = list(alternative.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    text, html = (p.get_content() for p in parts)
    assert isinstance(text, str)
    assert isinstance(html, str)
    # As a person reads them: the flowed text's soft breaks joined and a list item's hanging lines with them (one
    # item per line), a no-break space as the character it is.
    assert parts[0].get_param("format") == "flowed"
    return join_hanging(unflow(text)), html.replace("&nbsp;", "\u00a0")


_LIST_ITEM = re.compile(r"^( *(?:[-*•]|\d{1,3}[.)]) +)\S")


def join_hanging(text: str) -> str:
    """A text whose list items hang (their lines indented under the item's text) with each item on one line."""
    out: list[str] = []
    indent = 0
    for line in text.split("\n"):
        if indent and line.startswith(" " * indent) and line[indent : indent + 1] not in ("", " "):
            out[-1] += " " + line[indent:]
            continue
        item = _LIST_ITEM.match(line)
        indent = len(item.group(1)) if item else 0
        out.append(line)
    return "\n".join(out)


def unflow(text: str) -> str:
    """A format=flowed (delsp=no) text as a flowed-aware reader joins it (RFC 3676 §4.2): a line ending with a
    space continues on the next, one leading space of a stuffed line is dropped, "-- " stays a line of its own."""
    out: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line != "-- " and line.startswith(" "):
            line = line[1:]
        if line != "-- " and line.endswith(" "):
            pending += line
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


FEODO_HEADER = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"'


def feodo_row(ip: str, port: str = "443", malware: str = "Pikabot", status: str = "online") -> str:
    """One row of an abuse.ch Feodo Tracker ipblocklist CSV."""
    return f'"2024-03-01 10:00:00","{ip}","{port}","{status}","2024-04-01","{malware}"'


def feodo_rows(
    seed: int, count: int, drawn: Sequence[tuple[float, Sequence[str]]], octets: Sequence[int], ports: Sequence[str]
) -> list[str]:
    """``count`` Feodo rows, seeded: each address from the first ``(share, addresses)`` of ``drawn`` whose
    cumulative share a draw falls under, else a random one whose first octet is one of ``octets``."""
    rnd = random.Random(seed)
    lines: list[str] = []
    for _ in range(count):
        pick, ip = rnd.random(), ""
        for share, addresses in drawn:
            if pick < share:
                ip = rnd.choice(addresses)
                break
        else:
            ip = f"{rnd.choice(octets)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}"
        lines.append(feodo_row(ip, rnd.choice(ports), rnd.choice(("Pikabot", "QakBot", ""))))
    return lines
