"""The bulletin layout (issue #12): a header with the reference, the summary table first, alerts of one kind and
source grouped into one block, one block per advisory, the CERT's phone and incident line, the inventory email,
and the size budget of the HTML part whatever the number of alerts."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from datetime import UTC, datetime
from html import unescape

import pytest
from builders import (
    ENV,
    IPV4,
    MESSAGE_ID,
    NOW,
    RECIPIENTS,
    bodies,
    make_alert,
    make_establishment,
    make_settings,
    many_alerts,
    parsed,
    render,
)
from paths import DATA

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.domain.facts import Facts
from alertd.domain.settings import BulletinSettings
from alertd.domain.values import Alert, FeedKind, Indicator, IndicatorType, Severity
from alertd.render.context import email_context
from alertd.render.email import HTML_BUDGET, html_size, render_email

KEV = json.loads((DATA / "kev" / "kev_2026-08-07.json").read_text(encoding="utf-8"))["vulnerabilities"]
BULLETIN = BulletinSettings(
    reference_prefix="CERTSANTE",
    phone="+33 1 99 00 12 34",
    on_call="+33 6 39 98 12 34",
    incident_url="https://signalement.social-sante.gouv.fr",
)
SETTINGS = make_settings(bulletin=BULLETIN)
REFERENCE = "CERTSANTE-2025-ALE-0042"


@functools.cache
def _two_thousand() -> tuple[str, str, str]:
    """The email of 2,000 alerts, rendered once for the tests that read it (about 10 s)."""
    return _render(_many(2000))


def _render(alerts: list[Alert], language: str = "fr", reference: str | None = REFERENCE) -> tuple[str, str, str]:
    msg = render_email(
        ENV,
        make_establishment(language=language),
        alerts,
        RECIPIENTS,
        settings=SETTINGS.render,
        now=NOW,
        message_id=MESSAGE_ID,
        reference=reference,
    )
    text, html = bodies(msg)
    return parsed(msg)["Subject"], text, html


def _visible(html: str) -> str:
    """The HTML part's text as a reader sees it: tags dropped, entities read."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def _kev(entry: dict[str, str], asset: str | None = None, *, inventory: bool = False) -> Alert:
    """A real KEV catalogue entry as an alert on its product."""
    alert = make_alert(
        Indicator(IndicatorType.CVE, entry["cveID"]),
        reason=MatchReason.KEV_PRODUCT,
        asset=asset or f"{entry['vendorProject']} {entry['product']}",
        kind=FeedKind.VULNERABILITY,
        severity=Severity.CRITICAL,
        title=entry["vulnerabilityName"],
        feed="cisa-kev",
        link=f"https://nvd.nist.gov/vuln/detail/{entry['cveID']}",
        facts=Facts(
            date_added=entry["dateAdded"],
            due_date=entry["dueDate"],
            required_action=entry["requiredAction"],
            ransomware=entry["knownRansomwareCampaignUse"],
        ),
        rule=SeverityRule.of(RuleKind.KEV),
    )
    return dataclasses.replace(alert, inventory=inventory)


def _windows(n: int) -> list[Alert]:
    entries = [e for e in KEV if (e["vendorProject"], e["product"]) == ("Microsoft", "Windows")][:n]
    assert len(entries) == n
    return [_kev(e, "Microsoft Windows Server 2019") for e in entries]


def _first_contact() -> list[Alert]:
    """The issue's first poll: 27 KEV entries on one product and one imminent compromise."""
    return [*_windows(27), make_alert(IPV4, facts=Facts(malware="QakBot", port="443"))]


def test_the_summary_table_comes_first_with_one_line_per_block() -> None:
    _subject, text, html = _render(_first_contact())
    assert html.index('id="summary"') < html.index('class="alert"')
    summary = html[html.index('id="summary"') : html.index("</table>", html.index('id="summary"'))]
    assert summary.count("<tr>") == 3  # the header and two blocks
    assert "IMMINENT" in summary and "immédiatement" in summary
    assert summary.index("IMMINENT") < summary.index("CRITIQUE")  # the imminent alert first, not buried
    assert "27 vulnérabilités exploitées" in summary
    assert text.index("=== Synthèse ===") < text.index("=== 1/2")
    assert "1. [IMMINENT] adresse compromise 147[.]210[.]1[.]5" in text


def test_27_kev_entries_on_one_product_are_one_block_with_a_table_and_the_steps_once() -> None:
    _subject, text, html = _render(_first_contact())
    assert html.count('class="alert"') == 2
    assert "=== 2/2 — CRITIQUE — vulnérabilité (27 éléments) ===" in text
    visible = _visible(html)
    for alert in _windows(27):
        assert alert.finding.indicator.value in text and alert.finding.indicator.value in visible
    assert text.count("Ces vulnérabilités sont activement exploitées") == 1
    assert visible.count("Ces vulnérabilités sont activement exploitées") == 1
    assert "Date limite (CISA KEV)" in text  # the due dates differ: a column of the table
    assert "Microsoft Windows Server 2019" in text


def test_identical_actions_are_stated_once_across_the_email() -> None:
    # Two KEV blocks (two products) whose steps are the same words but for the product: told each; two blocks of
    # the same product at two levels: the second refers to the first.
    high = [dataclasses.replace(a, severity=Severity.HIGH) for a in _windows(4)[2:]]
    _subject, text, _html = _render([*_windows(2), *high])
    assert "Les mêmes mesures que pour l'alerte 1 ci-dessus." in text


def test_an_advisory_is_one_block_listing_every_way_it_matched() -> None:
    common = {
        "kind": FeedKind.ADVISORY,
        "severity": Severity.HIGH,
        "feed": "certfr-alertes",
        "title": "Campagne d'hameçonnage usurpant l'identité du CHU de Bordeaux",
        "link": "https://www.cert.ssi.gouv.fr/alerte/CERTFR-2025-ALE-001/",
        "facts": Facts(summary="Une campagne d'hameçonnage usurpe l'identité de l'établissement."),
        "rule": SeverityRule.feed_severity("certfr-alertes"),
    }
    alerts = [
        make_alert(Indicator(IndicatorType.NAME, "CHU de Bordeaux"), reason=MatchReason.NAME_MENTION,
                   asset="CHU de Bordeaux", **common),  # type: ignore[arg-type]
        make_alert(Indicator(IndicatorType.DOMAIN, "chu-bordeaux.example"), reason=MatchReason.DOMAIN,
                   asset="chu-bordeaux.example", **common),  # type: ignore[arg-type]
        make_alert(IPV4, reason=MatchReason.ADDRESS_IN_NETWORK, **common),  # type: ignore[arg-type]
    ]  # fmt: skip
    alerts = [
        dataclasses.replace(a, finding=dataclasses.replace(a.finding, entry="CERTFR-2025-ALE-001")) for a in alerts
    ]
    _subject, text, html = _render(alerts)
    assert html.count('class="alert"') == 1
    assert "=== 1/1 — ÉLEVÉ — avis de sécurité (3 éléments) ===" in text
    visible = _visible(html)
    for body in (text, visible):
        assert body.count("Campagne d'hameçonnage usurpant l'identité du CHU de Bordeaux") == 3  # summary, block, row
        assert "Une campagne d'hameçonnage usurpe l'identité de l'établissement." in body
        assert "https://www.cert.ssi.gouv.fr/alerte/CERTFR-2025-ALE-001/" in body
        assert "apparaît dans l'avis de sécurité" in body  # the name
        assert "votre domaine chu-bordeaux[.]example" in body  # the domain
        assert "votre réseau 147[.]210[.]0[.]0/16" in body  # the address


def test_the_reference_is_in_the_subject_the_header_and_the_footer() -> None:
    for language in ("fr", "en"):
        subject, text, html = _render([make_alert(IPV4)], language)
        assert subject.startswith(f"[TLP:AMBER] [IMMINENT] [{REFERENCE}] CHU de Bordeaux")
        assert text.count(REFERENCE) >= 2 and _visible(html).count(REFERENCE) >= 2
    subject, _text, _html = _render([make_alert(IPV4)], reference=None)
    assert subject.startswith("[TLP:AMBER] [IMMINENT] CHU de Bordeaux")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_an_imminent_email_shows_the_phone_on_call_and_incident_line_in_its_header_and_footer(language: str) -> None:
    incident = {"fr": "Incident avéré", "en": "Confirmed incident?"}[language]
    _subject, text, html = _render([make_alert(IPV4)], language)
    visible = _visible(html)
    for body in (text, visible):
        for fact in ("+33 1 99 00 12 34", "+33 6 39 98 12 34", "https://signalement.social-sante.gouv.fr", incident):
            assert body.count(fact) == 2, fact  # the header and the footer
        header = body[: body.index(incident) + 10]
        assert "IMMINENT" in header and "147[.]210[.]1[.]5" not in header  # before the summary
    _subject, text, html = _render([dataclasses.replace(make_alert(IPV4), severity=Severity.HIGH)], language)
    for body in (text, _visible(html)):
        assert body.count("+33 1 99 00 12 34") == 1  # the footer only
        assert body.index("+33 1 99 00 12 34") > body.index("147[.]210[.]1[.]5")


def test_french_words_of_the_header_are_french() -> None:
    _subject, text, _html = _render([_kev(KEV[0])])
    assert "Niveau le plus élevé\u00a0: CRITIQUE" in text
    assert "Gravité" not in text.split("===")[0]
    assert "TLP:AMBER — Diffusion limitée" in text  # no double colon in the footer
    assert "TLP:AMBER :" not in text


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_inventory_email_says_the_backlog_is_not_news(language: str) -> None:
    alerts = [dataclasses.replace(a, inventory=True) for a in _windows(5)]
    alerts.append(dataclasses.replace(make_alert(IPV4), inventory=True))
    subject, text, html = _render(alerts, language)
    title, news, urgent = {
        "fr": ("État des lieux", "pas des nouveautés", "immédiatement"),
        "en": ("Inventory", "not news", "now"),
    }[language]
    assert title in subject
    for body in (text, _visible(html)):
        assert title.upper() in body.upper() and news in body
    summary = html[html.index('id="summary"') :][:3000]
    assert urgent not in _visible(summary).split()


@pytest.mark.parametrize("language", ["fr", "en"])
def test_both_languages_render_every_kind(language: str) -> None:
    alerts = many_alerts()
    for kind in FeedKind:
        alerts.append(
            make_alert(
                Indicator(IndicatorType.NAME, f"CHU de Bordeaux {kind.value}"),
                reason=MatchReason.NAME_MENTION,
                asset="CHU de Bordeaux",
                kind=kind,
                feed=f"feed-{kind.value}",
                severity=Severity.HIGH,
            )
        )
    _subject, text, html = _render(alerts, language)
    assert html.count('class="alert"') == len(alerts)  # every alert its own block: no two share feed and asset
    assert "{" not in text  # no placeholder left unfilled


def _many(n: int) -> list[Alert]:
    """``n`` alerts of every shape: KEV entries on their own products, and addresses in many networks."""
    kev = [_kev(e) for e in KEV[: min(n, len(KEV))]]
    addresses = [
        make_alert(
            Indicator(IndicatorType.IPV4, f"10.{i // 250}.{i % 250}.7"),
            asset=f"10.{i // 250}.{i % 250}.0/24",
            severity=Severity.IMMINENT if i % 50 == 0 else Severity.HIGH,
        )
        for i in range(n - len(kev))
    ]
    return [*kev, *addresses][:n]


@pytest.mark.parametrize("count", [1, 28, 300, 2000])
def test_the_html_part_stays_under_the_budget(count: int, capsys: pytest.CaptureFixture[str]) -> None:
    if count == 2000:
        _subject, text, html = _two_thousand()
    else:
        alerts = _first_contact()[-1:] if count == 1 else _first_contact() if count == 28 else _many(count)
        _subject, text, html = _render(alerts)
    size = html_size(html)
    with capsys.disabled():
        print(f"\n{count} alerts: HTML part {size} bytes (quoted-printable), text part {len(text.encode())} bytes")
    assert size < HTML_BUDGET
    assert 'id="summary"' in html
    if count in (1, 28):
        assert "trop long" not in text  # everything fits: every detail is there
    else:
        assert "figure dans les pièces jointes findings.csv et findings.json" in text
        assert ("trop long" in text) == ("trop long" in _visible(html))  # the text part follows the same choice


def test_past_the_budget_the_most_severe_lines_stay_and_the_rest_is_counted() -> None:
    _subject, text, html = _two_thousand()
    shown = re.findall(r"^(\d+)\. \[", text, re.MULTILINE)
    hidden = int(re.search(r"… et (\d+) autres alertes", text).group(1))  # type: ignore[union-attr]
    assert len(shown) > 0 and hidden > 0
    assert "IMMINENT" in text.split("=== Synthèse ===")[1].splitlines()[2]  # the most severe first
    assert "… et" in _visible(html)


def test_an_indicator_is_never_split_inside_a_token() -> None:
    url = Indicator(IndicatorType.URL, "http://evil-cdn.example/a/very/long/path/to-the/payload.exe?x=1&y=2")
    _subject, _text, html = _render([make_alert(url, reason=MatchReason.DOMAIN, asset="chu-bordeaux.example")])
    assert "break-all" not in html
    code = re.search(r'<code class="indicator"[^>]*>(.*?)</code>', html).group(1)  # type: ignore[union-attr]
    pieces = re.findall(r'<span class="tok" style="white-space: nowrap;">([^<]*)</span>', code)
    assert "".join(pieces) == "hxxp://evil-cdn[.]example/a/very/long/path/to-the/payload[.]exe?x=1&amp;y=2"
    assert all(p.endswith(("/", "?", "&amp;", "=")) for p in pieces[:-1])
    assert code.count("<wbr>") == len(pieces) - 1


def test_a_due_date_ahead_is_the_deadline_of_its_line() -> None:
    entry = next(e for e in KEV if e["cveID"] == "CVE-2024-21762")
    alert = _kev(entry)
    now = datetime(2024, 2, 12, tzinfo=UTC)
    msg = render_email(
        ENV, make_establishment(), [alert], RECIPIENTS, settings=SETTINGS.render, now=now, message_id=MESSAGE_ID
    )
    text, _html = bodies(msg)
    assert "au plus tard le 16 février 2024" in text


def test_a_source_date_at_the_edge_of_the_calendar_is_shown_as_written() -> None:
    # 9999-12-31 23:30 UTC is past the year 9999 in Paris: the email still renders, the date as the feed wrote it.
    alert = make_alert(IPV4, facts=Facts(first_seen="9999-12-31 23:30:00", last_seen="0001-01-01T00:00:00+01:00"))
    text, html = bodies(render([alert], language="fr"))
    assert "9999-12-31 23:30:00" in text and "9999-12-31 23:30:00" in html


def test_hosts_and_links_in_an_advisory_s_own_words_are_defanged_too() -> None:
    # The summary names a link, a host, an address and a mailbox that are no indicator of this email: none of them
    # reaches either part clickable.
    summary = "Voir https://evil.example/login, evil-login.example (203.0.113.9) ou user@evil.example."
    alert = make_alert(
        Indicator(IndicatorType.CVE, "CVE-2024-21762"),
        kind=FeedKind.ADVISORY,
        title="Campagne vers http://evil.example/portail",
        facts=Facts(summary=summary),
    )
    text, html = bodies(render([alert], language="fr"))
    for raw in ("evil.example", "203.0.113.9", "user@evil.example", "https://evil", "http://evil"):
        assert raw not in text and raw not in html, raw
    assert "hxxps://evil[.]example/login" in text and "203[.]0[.]113[.]9" in text


def test_an_online_and_an_offline_host_are_two_blocks_and_the_logs_are_searched_once_per_block() -> None:
    online = [make_alert(Indicator(IndicatorType.IPV4, f"147.210.1.{n}"), facts=Facts(status="online")) for n in (5, 6)]
    offline = make_alert(Indicator(IndicatorType.IPV4, "147.210.1.7"), facts=Facts(status="offline"))
    context = email_context(make_establishment(), [*online, offline], SETTINGS.render, NOW)
    groups = context["groups"]
    assert [g["count"] for g in groups] == [2, 1]
    both = groups[0]
    logs = [step for step in both["steps"] if "journaux" in step]
    assert len(logs) == 1 and "chacun des éléments listés" in logs[0]
    assert "inactif" not in both["meaning"] and "inactif" in groups[1]["meaning"]
    rows = {row["label"]: row["value"] for row in both["rows"]}
    assert rows["État à la source"] == "actif selon la source"
