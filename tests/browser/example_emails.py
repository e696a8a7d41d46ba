"""The emails the browser tests load and the README's screenshots show, rendered now by alertd's own renderer.

Built from the same values as ``templates/examples/render_examples.py`` (the fictional Centre hospitalier de la
Garonne): one French email per finding type, the first poll of the real KEV catalogue (the 28 Citrix NetScaler
and Fortinet FortiOS entries of 2025-08-25 that hit the establishment's two products), and one English email
holding every type plus a long URL indicator, the hardest case for wrapping.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.domain.establishments import Establishment
from alertd.domain.facts import Facts
from alertd.domain.tlp import Tlp
from alertd.domain.values import Alert, FeedKind, Finding, Indicator, IndicatorType, Severity
from alertd.render.email import render_email
from alertd.render.environment import make_environment

_ROOT = Path(__file__).resolve().parents[2]
_EXAMPLES = _ROOT / "templates" / "examples"
# render_examples.py is a script beside the examples, not a module of the package: reach it by its folder.
if str(_EXAMPLES) not in sys.path:
    sys.path.insert(0, str(_EXAMPLES))
import render_examples  # noqa: E402

KEV = _ROOT / "tests" / "data" / "kev" / "known_exploited_vulnerabilities.json"  # catalogVersion 2025.08.25
# The establishment's two products as the KEV catalogue names them (NetScaler ADC was Citrix ADC from 2018 to
# 2022), and the asset each alert names.
KEV_PRODUCTS = {
    "Citrix": (("NetScaler", "Application Delivery Controller"), "Citrix NetScaler ADC 13.1-49.13"),
    "Fortinet": (("FortiOS",), "Fortinet FortiOS 7.2.4"),
}


# The emails, in the README's order: each one's name (the screenshots' file stem) and what the README calls it.
TITLES = {
    "compromise": "Compromise (Feodo Tracker)",
    "vulnerability": "Exploited vulnerability (KEV)",
    "leak": "Leak-site mention",
    "advisory": "Advisory (CERT-FR)",
    "kev-first-poll": "28 KEV entries in one email",
    "inventory": "Inventory: the backlog found on first contact",
    "english": "In English: every type, and a long URL",
}
NAMES = tuple(TITLES)
# The examples of render_examples.py shown here, one per finding type (it may hold more, such as an inventory).
KINDS = ("compromise", "vulnerability", "leak", "advisory")


@dataclass(frozen=True, slots=True)
class Example:
    """One email to look at: its name (the screenshots' file stem), what the README calls it, and its HTML part."""

    name: str
    title: str
    language: str
    html: str


def kev_alerts() -> list[Alert]:
    """One alert per real KEV entry on the establishment's Citrix NetScaler and Fortinet FortiOS (28).

    As the first poll of the catalogue finds them: backlog (``inventory``), critical by the KEV rule.
    """
    catalogue: dict[str, Any] = json.loads(KEV.read_text(encoding="utf-8"))
    alerts: list[Alert] = []
    for entry in catalogue["vulnerabilities"]:
        vendor, product = str(entry["vendorProject"]), str(entry["product"])
        if vendor not in KEV_PRODUCTS or not any(word in product for word in KEV_PRODUCTS[vendor][0]):
            continue
        cve = str(entry["cveID"])
        finding = Finding(
            establishment=render_examples.ESTABLISHMENT.id,
            indicator=Indicator(IndicatorType.CVE, cve),
            asset=KEV_PRODUCTS[vendor][1],
            reason=MatchReason.KEV_PRODUCT,
            feed="cisa-kev",
            kind=FeedKind.VULNERABILITY,
            entry=cve,
            title=str(entry["vulnerabilityName"]),
            link=f"https://nvd.nist.gov/vuln/detail/{cve}",
            published=datetime.fromisoformat(entry["dateAdded"]).replace(tzinfo=UTC),
            facts=Facts(
                date_added=str(entry["dateAdded"]),
                due_date=str(entry["dueDate"]),
                required_action=str(entry["requiredAction"]),
                ransomware=str(entry["knownRansomwareCampaignUse"]),
                notes=str(entry["notes"]),
                cwes=", ".join(entry.get("cwes", [])),
                extra={"vendor": vendor, "product": product},
            ),
        )
        alerts.append(
            Alert(
                finding=finding,
                severity=Severity.CRITICAL,
                rule=SeverityRule.of(RuleKind.KEV),
                subscription="imminent-tous",
                immediate=True,
                first_seen=render_examples.NOW,
                last_seen=render_examples.NOW,
                tlp=Tlp.CLEAR,
                inventory=True,
            )
        )
    return alerts


def url_alert() -> Alert:
    """A compromise alert on a long URL (documentation addresses): a line break may only fall after / ? & =."""
    url = "http://198.51.100.23:8080/wp-content/plugins/update-check/bins/mozi.m?arch=mips&session=4f1c9e27ab"
    finding = Finding(
        establishment=render_examples.ESTABLISHMENT.id,
        indicator=Indicator(IndicatorType.URL, url),
        asset="198.51.100.0/24",
        reason=MatchReason.ADDRESS_IN_NETWORK,
        feed="urlhaus",
        kind=FeedKind.COMPROMISE,
        entry=url,
        title=url,
        link=None,
        published=None,
        facts=Facts(malware="Mozi", status="online", first_seen="2024-02-12 19:02:44"),
    )
    return Alert(
        finding=finding,
        severity=Severity.IMMINENT,
        rule=SeverityRule.of(RuleKind.COMPROMISE_REPORTED),
        subscription="imminent-tous",
        immediate=True,
        first_seen=render_examples.NOW,
        last_seen=render_examples.NOW,
        tlp=Tlp.AMBER,
    )


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def examples() -> dict[str, Example]:
    """Every email the browser checks, by name, in the README's order."""
    env = make_environment(None)
    settings = render_examples.settings().render
    french = render_examples.ESTABLISHMENT
    english = dataclasses.replace(french, language="en")
    by_kind: dict[str, list[Alert]] = render_examples.alerts()
    every_kind = [alert for kind in KINDS for alert in by_kind[kind]]
    emails: dict[str, tuple[Establishment, list[Alert]]] = {
        **{kind: (french, by_kind[kind]) for kind in KINDS},
        "kev-first-poll": (french, kev_alerts()),
        "inventory": (french, by_kind["inventory"]),
        "english": (english, [url_alert(), *every_kind]),
    }
    result: dict[str, Example] = {}
    for number, name in enumerate(NAMES, start=1):
        establishment, alerts = emails[name]
        msg = render_email(
            env,
            establishment,
            alerts,
            [c.email for c in establishment.contacts],
            settings=settings,
            now=render_examples.NOW,
            message_id=f"<alertd.browser.{name}@cert-sante.example>",
            reference=f"CERTSANTE-2024-{'INV' if all(a.inventory for a in alerts) else 'ALE'}-{number:04d}",
        )
        result[name] = Example(name, TITLES[name], establishment.language, _html(msg))
    return result
