"""Render the example emails shown in the README: one per finding type, in French, text and HTML parts.

    .venv/bin/python templates/examples/render_examples.py

writes ``compromise``, ``vulnerability``, ``leak`` and ``advisory`` ``.txt`` (the text part) and ``.html`` (the
HTML part, CSS inlined) next to this file, from hand-built values: a fictional establishment, the Centre
hospitalier de la Garonne, with addresses from the documentation ranges and real, public vulnerabilities and
advisories; and two bulletins of several alerts: ``grouped`` (an imminent compromise and the FortiOS entries of
the real CISA KEV catalogue, one block with a table) and ``inventory`` (the backlog found on first contact: the
KEV entries on its Exchange and FortiOS, already published before alertd watched for it). Phone numbers are in
the ranges ARCEP keeps for fiction. ``tests/render/test_examples.py`` renders them again and checks that the
files here are identical, so the README's examples are what alertd sends. The README's screenshots are
``docs/screenshots/make_screenshots.py``'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule, VersionBasis
from alertd.domain.establishments import Contact, Establishment, Software
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.settings import DEFAULT_RENOTIFY, BulletinSettings, DeliveryMethod, Settings
from alertd.domain.tlp import Tlp
from alertd.domain.values import Alert, FeedKind, Finding, Indicator, IndicatorType, Severity
from alertd.render.email import render_email
from alertd.render.environment import make_environment

HERE = Path(__file__).resolve().parent
NOW = datetime(2024, 2, 13, 7, 30, tzinfo=UTC)
EXAMPLES = ("compromise", "vulnerability", "leak", "advisory", "grouped", "inventory")
KEV = HERE.parents[1] / "tests" / "data" / "kev" / "kev_2026-08-07.json"  # the real catalogue, CC0

ESTABLISHMENT = Establishment(
    id="470012345",
    name="Centre hospitalier de la Garonne",
    aliases=("CH de la Garonne", "CH Garonne"),
    kind="CH",
    region="Nouvelle-Aquitaine",
    language="fr",
    contacts=(Contact("rssi@ch-garonne.example"), Contact("dsi@ch-garonne.example")),
    domains=("ch-garonne.example",),
    software=(
        Software("Citrix", "NetScaler ADC", "13.1-49.13"),
        Software("Fortinet", "FortiOS", "7.2.4"),
        Software("Microsoft", "Exchange Server", "2016 CU23"),
    ),
)


def settings() -> Settings:
    """The settings of a CERT sending from cert-sante.example, in Paris time."""
    return Settings(
        path=Path("/etc/alertd/alertd.yaml"),
        timezone=ZoneInfo("Europe/Paris"),
        state_dir=Path("/var/lib/alertd"),
        feeds_file=Path("/etc/alertd/feeds.yaml"),
        registry_path=Path("/etc/alertd/establishments"),
        subscriptions_file=Path("/etc/alertd/subscriptions.yaml"),
        inhibitions_file=None,
        allowlist_file=None,
        templates_dir=None,
        operators=("soc@cert-sante.example",),
        renotify=DEFAULT_RENOTIFY,
        sender_from="CERT Santé <alertes@cert-sante.example>",
        reply_to="cert@cert-sante.example",
        delivery_method=DeliveryMethod.MAILDIR,
        maildir=Path("/var/lib/alertd/maildir"),
        smtp=None,
        http_listen=None,
        tlp=Tlp.AMBER,
        organisation="CERT Santé",
        bulletin=BulletinSettings(
            reference_prefix="CERTSANTE",
            phone="+33 1 99 00 12 34",
            on_call="+33 6 39 98 12 34 (24 h/24, 7 j/7)",
            incident_url="https://signalement.social-sante.gouv.fr",
        ),
    )


def _alert(
    indicator: Indicator,
    *,
    asset: str,
    reason: MatchReason,
    kind: FeedKind,
    severity: Severity,
    rule: SeverityRule,
    feed: str,
    entry: str,
    title: str,
    link: str | None,
    published: datetime | None,
    facts: Facts,
    first_seen: datetime,
    tlp: Tlp = Tlp.AMBER,
    inventory: bool = False,
) -> Alert:
    finding = Finding(
        establishment=ESTABLISHMENT.id,
        indicator=indicator,
        asset=asset,
        reason=reason,
        feed=feed,
        kind=kind,
        entry=entry,
        title=title,
        link=link,
        published=published,
        facts=facts,
    )
    return Alert(
        finding=finding,
        severity=severity,
        rule=rule,
        subscription="imminent-tous",
        immediate=True,
        first_seen=first_seen,
        last_seen=NOW,
        tlp=tlp,
        inventory=inventory,
    )


def kev_alerts(vendor: str, product: str, asset: str, version: str, *, inventory: bool) -> list[Alert]:
    """The real KEV catalogue's entries on one product that were published by :data:`NOW`, as alerts on ``asset``
    (its version not checked against ranges: KEV publishes none)."""
    catalogue = json.loads(KEV.read_text(encoding="utf-8"))["vulnerabilities"]
    out = []
    for entry in catalogue:
        added = datetime.fromisoformat(entry["dateAdded"]).replace(tzinfo=UTC)
        if (entry["vendorProject"], entry["product"]) != (vendor, product) or added > NOW:
            continue
        out.append(
            _alert(
                Indicator(IndicatorType.CVE, entry["cveID"]),
                asset=f"{asset} {version}",
                reason=MatchReason.KEV_PRODUCT,
                kind=FeedKind.VULNERABILITY,
                severity=Severity.CRITICAL,
                rule=SeverityRule.of(RuleKind.KEV),
                feed="cisa-kev",
                entry=entry["cveID"],
                title=entry["vulnerabilityName"],
                link=f"https://nvd.nist.gov/vuln/detail/{entry['cveID']}",
                published=added,
                facts=Facts(
                    version=VersionFact.judged(VersionBasis.NO_RANGE, version),
                    date_added=entry["dateAdded"],
                    due_date=entry["dueDate"],
                    required_action=entry["requiredAction"],
                    ransomware=entry["knownRansomwareCampaignUse"],
                    notes=entry["notes"],
                ),
                first_seen=NOW - timedelta(minutes=40),
                tlp=Tlp.CLEAR,
                inventory=inventory,
            )
        )
    return out


def alerts() -> dict[str, list[Alert]]:
    """The alerts of each example email."""
    compromise = _alert(
        Indicator(IndicatorType.IPV4, "198.51.100.23"),
        asset="198.51.100.0/24",
        reason=MatchReason.ADDRESS_IN_NETWORK,
        kind=FeedKind.COMPROMISE,
        severity=Severity.IMMINENT,
        rule=SeverityRule.of(RuleKind.COMPROMISE_REPORTED),
        feed="feodo",
        entry="198.51.100.23:443",
        title="QakBot 198.51.100.23:443",
        link="https://feodotracker.abuse.ch/browse/host/198.51.100.23/",
        published=None,
        facts=Facts(malware="QakBot", port="443", first_seen="2024-02-12 21:14:07"),
        first_seen=NOW - timedelta(hours=9),
    )
    kev = _alert(
        Indicator(IndicatorType.CVE, "CVE-2023-4966"),
        asset="Citrix NetScaler ADC 13.1-49.13",
        reason=MatchReason.KEV_PRODUCT,
        kind=FeedKind.VULNERABILITY,
        severity=Severity.CRITICAL,
        rule=SeverityRule.of(RuleKind.KEV),
        feed="cisa-kev",
        entry="CVE-2023-4966",
        title="Citrix NetScaler ADC and NetScaler Gateway Buffer Overflow Vulnerability",
        link="https://nvd.nist.gov/vuln/detail/CVE-2023-4966",
        published=datetime(2023, 10, 18, tzinfo=UTC),
        facts=Facts(
            # NVD's range for CVE-2023-4966: NetScaler ADC 13.1 before 13.1-49.15.
            version=VersionFact.judged(VersionBasis.IN_RANGE, "13.1-49.13", ">=13.1|<13.1-49.15", "nvd"),
            date_added="2023-10-18",
            due_date="2023-11-08",
            required_action="Apply mitigations and kill all active and persistent sessions per vendor "
            "instructions OR discontinue use of the product if mitigations are unavailable.",
            ransomware="Known",
            notes="https://support.citrix.com/article/CTX579459/netscaler-adc-and-netscaler-gateway-security-"
            "bulletin-for-cve20234966-and-cve20234967 ;  https://nvd.nist.gov/vuln/detail/CVE-2023-4966",
            cwes="CWE-119",
            extra={"vendor": "Citrix", "product": "NetScaler ADC and NetScaler Gateway"},
        ),
        first_seen=NOW - timedelta(minutes=40),
        tlp=Tlp.CLEAR,
    )
    leak = _alert(
        Indicator(IndicatorType.NAME, "Centre Hospitalier de la Garonne"),
        asset="Centre hospitalier de la Garonne",
        reason=MatchReason.NAME_MENTION,
        kind=FeedKind.LEAK,
        severity=Severity.IMMINENT,
        rule=SeverityRule.of(RuleKind.LEAK_REPORTED),
        feed="leak-victims",
        entry="lockbit3:centre-hospitalier-de-la-garonne",
        title="Centre Hospitalier de la Garonne",
        link=None,
        published=datetime(2024, 2, 12, 16, 2, tzinfo=UTC),
        facts=Facts(group="LockBit 3.0", website="ch-garonne.example"),
        first_seen=NOW - timedelta(hours=2),
    )
    advisory = _alert(
        Indicator(IndicatorType.PRODUCT, "fortinet fortios"),
        asset="Fortinet FortiOS 7.2.4",
        reason=MatchReason.PRODUCT_MENTION,
        kind=FeedKind.ADVISORY,
        severity=Severity.HIGH,
        rule=SeverityRule.feed_severity("certfr-alertes"),
        feed="certfr-alertes",
        entry="https://www.cert.ssi.gouv.fr/alerte/CERTFR-2024-ALE-004/",
        title="Vulnérabilité dans Fortinet FortiOS (CVE-2024-21762)",
        link="https://www.cert.ssi.gouv.fr/alerte/CERTFR-2024-ALE-004/",
        published=datetime(2024, 2, 9, 10, 30, tzinfo=UTC),
        # NVD's range for CVE-2024-21762: FortiOS 7.2.0 through 7.2.6.
        facts=Facts(
            cves="CVE-2024-21762",
            version=VersionFact.judged(VersionBasis.IN_RANGE, "7.2.4", ">=7.2.0|<=7.2.6", "nvd"),
        ),
        first_seen=NOW - timedelta(days=3),
        tlp=Tlp.CLEAR,
    )
    return {
        "compromise": [compromise],
        "vulnerability": [kev],
        "leak": [leak],
        "advisory": [advisory],
        "grouped": [compromise, *kev_alerts("Fortinet", "FortiOS", "Fortinet FortiOS", "7.2.4", inventory=False)],
        "inventory": [
            *kev_alerts("Microsoft", "Exchange Server", "Microsoft Exchange Server", "2016 CU23", inventory=True),
            *kev_alerts("Fortinet", "FortiOS", "Fortinet FortiOS", "7.2.4", inventory=True),
        ],
    }


def render_examples() -> dict[str, EmailMessage]:
    """Each example's email, rendered by alertd's own renderer with the bundled templates."""
    env = make_environment(None)
    return {
        name: render_email(
            env,
            ESTABLISHMENT,
            items,
            [c.email for c in ESTABLISHMENT.contacts],
            settings=settings().render,
            now=NOW,
            message_id=f"<alertd.example.{name}@cert-sante.example>",
            reference=f"CERTSANTE-2024-{'INV' if all(a.inventory for a in items) else 'ALE'}-{number:04d}",
        )
        for number, (name, items) in enumerate(alerts().items(), start=40)
    }


def parts(msg: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of an email, decoded, with the text's line breaks as the recipient reads them."""
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and html is not None
    return str(text.get_content()), str(html.get_content()).replace("\r\n", "\n")


def files() -> dict[str, str]:
    """The files this script writes: ``NAME.txt`` and ``NAME.html`` for each example."""
    result: dict[str, str] = {}
    for name, msg in render_examples().items():
        text, html = parts(msg)
        result[f"{name}.txt"] = f"Subject: {msg['Subject']}\n\n{text}"
        result[f"{name}.html"] = html
    return result


def main(argv: list[str] | None = None) -> int:
    """Write the example files next to this script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.parse_args(argv)
    for name, content in files().items():
        (HERE / name).write_text(content, encoding="utf-8")
        print(HERE / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
