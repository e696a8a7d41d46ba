"""The email built from alerts (contract §4): structure, headers, isolation, and the body for each finding type."""

from __future__ import annotations

import dataclasses
from zoneinfo import ZoneInfo

import pytest
from builders import (
    CVE,
    DOMAIN,
    ENV,
    IPV4,
    MESSAGE_ID,
    NOW,
    RECIPIENTS,
    SETTINGS,
    URL,
    bodies,
    make_alert,
    make_establishment,
    make_settings,
    many_alerts,
    parsed,
    render,
)

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.domain.establishments import Establishment
from alertd.domain.facts import UNKNOWN_VERSION, Facts, VersionFact
from alertd.domain.tlp import Tlp
from alertd.domain.values import Alert, FeedKind, Indicator, IndicatorType, Severity
from alertd.render.context import email_context
from alertd.render.defang import defang_indicator
from alertd.render.email import render_email


def test_feed_html_is_escaped_in_the_html_part() -> None:
    title = 'Panel <script>alert(1)</script> "><img src=x onerror=alert(2)>'
    alerts = [
        make_alert(
            IPV4, title=title, facts=Facts(malware="<b>bold</b>"), link='https://www.cert.ssi.gouv.fr/"><script>'
        )
    ]
    for language in ("fr", "en"):
        text, html = bodies(render(alerts, language=language))
        assert "<script>" not in html
        assert "<img" not in html
        assert "<b>bold" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert '"&gt;&lt;img src=x onerror=alert(2)&gt;' in html  # a quote needs no escaping in text
        assert 'href="https://www.cert.ssi.gouv.fr/%22%3E%3Cscript%3E"' in html
        assert "&lt;b&gt;bold&lt;/b&gt;" in html
        # The text part shows the title as written (it is not HTML).
        assert "<script>alert(1)</script>" in text


def test_feed_title_cannot_inject_a_header() -> None:
    title = "Innocent\r\nBcc: evil@x\r\n\r\nbody"
    for language in ("fr", "en"):
        msg = render([make_alert(IPV4, title=title, kind=FeedKind.ADVISORY, severity=Severity.INFO)], language=language)
        back = parsed(msg)
        assert back["Bcc"] is None
        assert "\n" not in back["Subject"] and "\r" not in back["Subject"]
        text, _html = bodies(msg)
        assert "Innocent Bcc: evil@x body" in text


def test_establishment_name_cannot_inject_a_header() -> None:
    est = Establishment(id="1", name="Clinique\r\nBcc: evil@x", language="en")
    alert = make_alert(IPV4, est_id="1")
    msg = render_email(ENV, est, [alert], RECIPIENTS, settings=SETTINGS.render, now=NOW, message_id=MESSAGE_ID)
    back = parsed(msg)
    assert back["Bcc"] is None
    assert back["Subject"].startswith("[TLP:AMBER] [IMMINENT] Clinique Bcc: evil@x — 1 alert: ")


@pytest.mark.parametrize("language", ["fr", "en"])
def test_both_languages_render_every_indicator_defanged(language: str) -> None:
    alerts = many_alerts()
    text, html = bodies(render(alerts, language=language))
    for alert in alerts:
        ind = alert.finding.indicator
        shown = defang_indicator(ind)
        assert shown in text
        assert shown in html
        if shown != ind.value:
            assert ind.value not in text
            assert ind.value not in html
    # Hosts inside the URL and the email address are not left clickable either.
    for raw in ("evil-cdn.example", "evil-mail.example", "chu-bordeaux.example", "147.210.0.0"):
        assert raw not in text
        assert raw not in html


def test_indicator_repeated_in_feed_text_is_defanged_there_too() -> None:
    alert = make_alert(
        URL,
        reason=MatchReason.DOMAIN,
        asset="chu-bordeaux.example",
        title="Malware hosted at http://evil-cdn.example/payload.exe",
        link="http://evil-cdn.example/payload.exe",
        facts=Facts(malware="dropped by evil-cdn.example/payload.exe"),
    )
    text, html = bodies(render([alert], language="en"))
    for body in (text, html):
        assert "evil-cdn.example" not in body
        assert "Malware hosted at hxxp://evil-cdn[.]example/payload[.]exe" in body
    assert 'href="http' not in html


def test_advisory_link_is_shown_as_is_and_clickable() -> None:
    link = "https://www.cert.ssi.gouv.fr/alerte/CERTFR-2024-ALE-005/?a=1&b=2"
    alert = make_alert(
        Indicator(IndicatorType.PRODUCT, "citrix netscaler adc"),
        reason=MatchReason.PRODUCT_MENTION,
        asset="Citrix NetScaler ADC 13.1-49.13",
        kind=FeedKind.ADVISORY,
        severity=Severity.HIGH,
        title="Multiples vulnérabilités dans Citrix NetScaler",
        feed="certfr-alertes",
        link=link,
    )
    text, html = bodies(render([alert]))
    assert link in text
    assert 'href="https://www.cert.ssi.gouv.fr/alerte/CERTFR-2024-ALE-005/?a=1&amp;b=2"' in html


def test_non_web_links_are_never_clickable() -> None:
    alert = make_alert(IPV4, link="javascript:alert(1)")
    _text, html = bodies(render([alert], language="en"))
    assert "href=" not in html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_text_and_html_carry_the_same_facts(language: str) -> None:
    alerts = many_alerts()
    context = email_context(make_establishment(language=language), alerts, SETTINGS.render, NOW)
    text, html = bodies(render(alerts, language=language))
    html_text = html.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&").replace("&nbsp;", "\u00a0")
    for item in context["alerts"]:
        facts = [
            item["indicator"],
            item["indicator_type_label"],
            item["reason_text"],
            item["title"],
            item["feed"],
            item["first_seen"],
            item["last_seen"],
            item["rule"],
            item["severity_label"],
            item["kind_label"],
            *item["actions"],
            *(value for _label, value in item["attrs"]),
        ]
        if item["link"]:
            facts.append(item["link"])
        for row in item["rows"]:
            facts += [row["label"], row["value"], *([row["note"]] if row["note"] else [])]
        for fact in facts:
            assert fact in text, fact
            assert fact in html_text, fact
    for fact in (context["tlp_label"], context["tlp_text"], context["organisation"], context["contact"]):
        assert fact in text
        assert fact in html_text


def test_french_is_french_and_english_is_english() -> None:
    fr_text, fr_html = bodies(render(many_alerts(), language="fr"))
    en_text, en_html = bodies(render(many_alerts(), language="en"))
    assert "Que faire" in fr_text and "Que faire" in fr_html
    assert "Premier relevé par le CERT" in fr_text
    assert "réseau" in fr_text
    assert 'lang="fr"' in fr_html
    assert "What to do" in en_text and "What to do" in en_html
    assert "First noted by the CERT" in en_text
    assert 'lang="en"' in en_html
    assert parsed(render(many_alerts(), language="fr"))["Content-Language"] == "fr"


def test_html_has_no_external_resources_or_scripts() -> None:
    _text, html = bodies(render(many_alerts()))
    lowered = html.lower()
    for forbidden in ("<script", "<img", "<link", "@import", "url(", "src=", "<style"):
        assert forbidden not in lowered
    assert "<table" in lowered


def test_what_to_do_depends_on_the_kind() -> None:
    context = email_context(make_establishment(language="en"), many_alerts(), SETTINGS.render, NOW)
    by_indicator = {a["indicator"]: a for a in context["alerts"]}
    compromise = " ".join(by_indicator["147[.]210[.]1[.]5"]["actions"])
    assert "isolate" in compromise and "logs" in compromise and "cert@cert-sante.example" in compromise
    vulnerability = " ".join(by_indicator["CVE-2023-4966"]["actions"])
    assert "patch" in vulnerability
    assert "8 November 2023" in vulnerability  # KEV's due date, as a day in words
    assert "Apply mitigations per vendor instructions." in vulnerability
    leak = make_alert(
        Indicator(IndicatorType.NAME, "chu de bordeaux"),
        reason=MatchReason.NAME_MENTION,
        asset="CHU de Bordeaux",
        kind=FeedKind.LEAK,
        facts=Facts(group="LockBit"),
    )
    leak_context = email_context(make_establishment(language="en"), [leak], SETTINGS.render, NOW)["alerts"][0]
    assert "incident response" in " ".join(leak_context["actions"])
    assert ("Group", "LockBit") in leak_context["attrs"]
    assert "a post on a data-leak site" in leak_context["reason_text"]


def test_dates_are_shown_in_the_configured_timezone() -> None:
    context = email_context(make_establishment(), [make_alert(IPV4)], SETTINGS.render, NOW)
    assert context["generated"] == "12 mars 2025 à 14\u00a0h\u00a005 CET"
    assert context["alerts"][0]["first_seen"] == "11 mars 2025 à 14\u00a0h\u00a005 CET"
    utc = email_context(make_establishment(), [make_alert(IPV4)], make_settings(timezone=ZoneInfo("UTC")).render, NOW)
    assert utc["generated"] == "12 mars 2025 à 13\u00a0h\u00a005 UTC"


def test_alerts_sorted_by_severity_then_indicator() -> None:
    context = email_context(make_establishment(), list(reversed(many_alerts())), SETTINGS.render, NOW)
    order = [(a["severity"], a["indicator"]) for a in context["alerts"]]
    assert [s for s, _ in order] == ["imminent", "imminent", "imminent", "critical", "high", "info"]
    imminent = [i for s, i in order if s == "imminent"]
    # Indicators order by type then value: ipv4 < ipv6 < url.
    assert imminent == [
        "147[.]210[.]1[.]5",
        "2001[:]660[:]6101[:][:]5",
        "hxxp://evil-cdn[.]example/payload[.]exe",
    ]


def test_mixed_establishments_are_refused() -> None:
    alerts = [make_alert(IPV4), make_alert(DOMAIN, est_id="770000004", reason=MatchReason.DOMAIN)]
    with pytest.raises(ValueError, match="770000004"):
        render(alerts)
    with pytest.raises(ValueError, match="770000004"):
        email_context(make_establishment(), alerts, SETTINGS.render, NOW)


def test_no_alert_or_no_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="no alert"):
        render([])
    with pytest.raises(ValueError, match="no recipient"):
        render_email(
            ENV, make_establishment(), [make_alert(IPV4)], [], settings=SETTINGS.render, now=NOW, message_id="<x@y>"
        )


def test_headers() -> None:
    back = parsed(render(many_alerts(), in_reply_to="<first@cert-sante.example>"))
    assert back["Message-ID"] == MESSAGE_ID
    assert back["Date"] == "Wed, 12 Mar 2025 13:05:00 +0000"
    assert back["From"] == "CERT Santé <alertes@cert-sante.example>"
    assert back["To"] == "rssi@chu-bordeaux.example"
    assert back["Reply-To"] == "cert@cert-sante.example"
    assert back["Auto-Submitted"] == "auto-generated"
    assert back["X-Auto-Response-Suppress"] == "All"
    assert back["In-Reply-To"] == "<first@cert-sante.example>"
    assert back["References"] == "<first@cert-sante.example>"


def test_no_reply_to_or_in_reply_to_when_not_given() -> None:
    back = parsed(render([make_alert(IPV4)], settings=make_settings(reply_to=None)))
    assert back["Reply-To"] is None
    assert back["In-Reply-To"] is None
    assert back["References"] is None
    text, _html = bodies(render([make_alert(IPV4)], settings=make_settings(reply_to=None)))
    assert "alertes@cert-sante.example" in text  # the sender is the contact then


def test_several_recipients_are_joined() -> None:
    msg = render_email(
        ENV,
        make_establishment(),
        [make_alert(IPV4)],
        ["rssi@chu-bordeaux.example", "astreinte@chu-bordeaux.example"],
        settings=SETTINGS.render,
        now=NOW,
        message_id=MESSAGE_ID,
    )
    assert parsed(msg)["To"] == "rssi@chu-bordeaux.example, astreinte@chu-bordeaux.example"


def test_subject_carries_strictest_tlp_and_highest_severity() -> None:
    alerts = many_alerts()  # amber, green and clear
    subject = parsed(render(alerts))["Subject"]
    assert subject == ("[TLP:AMBER] [IMMINENT] CHU de Bordeaux — 6 alertes : adresse compromise 147[.]210[.]1[.]5 …")

    def kev(tlp: Tlp) -> Alert:
        return make_alert(
            CVE,
            reason=MatchReason.KEV_PRODUCT,
            asset="Citrix",
            kind=FeedKind.VULNERABILITY,
            severity=Severity.CRITICAL,
            tlp=tlp,
        )

    assert parsed(render([*alerts[:-1], kev(Tlp.RED)]))["Subject"].startswith("[TLP:RED] [IMMINENT] ")
    subject = parsed(render([kev(Tlp.GREEN)], language="en"))["Subject"]
    assert subject == "[TLP:GREEN] [CRITICAL] CHU de Bordeaux — 1 alert: exploited vulnerability CVE-2023-4966"


def test_long_subject_is_cut() -> None:
    est = Establishment(id="1", name="Centre hospitalier " * 20, language="fr")
    alerts = [make_alert(IPV4, est_id="1")]
    msg = render_email(ENV, est, alerts, RECIPIENTS, settings=SETTINGS.render, now=NOW, message_id=MESSAGE_ID)
    subject = parsed(msg)["Subject"]
    assert len(subject) <= 200
    assert subject.endswith("…")


def test_rendering_is_deterministic() -> None:
    first = render(many_alerts()).as_bytes()
    second = render(list(reversed(many_alerts()))).as_bytes()
    assert first == second
    other = render_email(
        ENV,
        make_establishment(),
        many_alerts(),
        RECIPIENTS,
        settings=SETTINGS.render,
        now=NOW,
        message_id="<other@x>",
    ).as_bytes()
    assert other != first


def test_follow_up_is_marked() -> None:
    alert = make_alert(IPV4)
    again = dataclasses.replace(alert, follow_up=True)
    text, html = bodies(render([again], language="en"))
    assert "reminder: still listed" in text
    assert "reminder: still listed" in html


def test_a_reminder_is_threaded_and_says_so() -> None:
    for language, word in (("fr", "Rappel"), ("en", "Reminder")):
        msg = render([make_alert(IPV4)], language=language, in_reply_to="<first@cert-sante.example>")
        back = parsed(msg)
        assert back["Subject"].startswith("Re: [TLP:AMBER] [IMMINENT] CHU de Bordeaux")
        assert back["In-Reply-To"] == back["References"] == "<first@cert-sante.example>"
        text, html = bodies(msg)
        assert word.upper() in text and word in html
        first = parsed(render([make_alert(IPV4)], language=language))
        assert not first["Subject"].startswith("Re:")
        assert word.upper() not in bodies(first)[0]


def _kev_alert(**changes: object) -> Alert:
    facts = Facts(
        version=VersionFact.declared_as("13.1-49.13"),
        due_date="2023-11-08",
        required_action="Apply mitigations per vendor instructions.",
        ransomware="Known",
        date_added="2023-10-18",
        notes="https://support.citrix.com/article/CTX579459 ; https://nvd.nist.gov/vuln/detail/CVE-2023-4966",
        extra={"vendor": "Citrix"},
    )
    values: dict[str, object] = {
        "reason": MatchReason.KEV_PRODUCT,
        "asset": "Citrix NetScaler ADC 13.1-49.13",
        "kind": FeedKind.VULNERABILITY,
        "severity": Severity.CRITICAL,
        "title": "Citrix NetScaler ADC and NetScaler Gateway Buffer Overflow Vulnerability",
        "feed": "cisa-kev",
        "link": "https://nvd.nist.gov/vuln/detail/CVE-2023-4966",
        "facts": facts,
        "rule": SeverityRule.of(RuleKind.KEV),
    }
    values.update(changes)
    return make_alert(CVE, **values)  # type: ignore[arg-type]


def test_a_compromise_says_which_host_which_feed_since_when_and_what_to_do() -> None:
    alert = make_alert(IPV4, facts=Facts(malware="QakBot", port="443", first_seen="2025-03-08 10:12:00"))
    text, html = bodies(render([alert], language="en"))
    for body in (text, html):
        assert "Reported host" in body and "147[.]210[.]1[.]5" in body
        assert "your network 147[.]210[.]0[.]0/16" in body
        assert "feodo" in body and "Botnet C2 server" in body
        # The source's UTC time, in the reader's time zone and words.
        assert "Reported by the source since" in body and "8 March 2025 at 11:12 CET" in body
        assert "First noted by the CERT" in body and "11 March 2025 at 14:05 CET" in body
        assert "QakBot" in body and "443" in body
        assert "isolate it from the network" in body
        assert "Act now." in body


def test_an_exploited_vulnerability_gives_product_version_cve_kev_terms_and_links() -> None:
    text, html = bodies(render([_kev_alert()], language="fr"))
    for body in (text, html):
        assert "Vulnérabilité" in body and "CVE-2023-4966" in body
        assert "Produit concerné" in body and "Citrix NetScaler ADC" in body
        assert "Version (inventaire)" in body and "13.1-49.13" in body
        # A phrase that is none of CISA's stock ones is quoted as the source's English.
        assert "8 novembre 2023" in body
        quoted = "«\u00a0Apply mitigations per vendor instructions.\u00a0»"
        assert f"{quoted} (texte original de la CISA, en anglais)" in body
        assert "Utilisée par des rançongiciels" in body and "oui" in body
        # A vendor's page is no known source's: shown defanged, never a link (nvd.nist.gov is one).
        assert "hxxps://support[.]citrix[.]com/article/CTX579459" in body
        assert "https://nvd.nist.gov/vuln/detail/CVE-2023-4966" in body
        assert "exploitent déjà" in body
    assert "support.citrix.com" not in html and "support.citrix.com" not in text
    assert text.count("https://nvd.nist.gov/vuln/detail/CVE-2023-4966") == 1  # the link, not again as a reference


def test_a_vulnerability_on_software_without_a_version_says_to_check_it() -> None:
    alert = _kev_alert(asset="Citrix NetScaler ADC", facts=Facts(version=UNKNOWN_VERSION))
    for language, words in (("fr", "non déclarée"), ("en", "not declared")):
        text, html = bodies(render([alert], language=language))
        assert words in text and words in html
        assert "version unknown" not in text


def test_a_cve_without_kev_gets_its_nvd_reference() -> None:
    alert = make_alert(
        CVE,
        reason=MatchReason.CVE_PRODUCT,
        asset="Fortinet FortiOS 7.2.4",
        kind=FeedKind.VULNERABILITY,
        severity=Severity.HIGH,
        title="Heap-based buffer overflow in FortiOS",
        feed="nvd",
        link=None,
        facts=Facts(version=VersionFact.declared_as("7.2.4"), cvss="9.8"),
    )
    text, html = bodies(render([alert], language="en"))
    assert "Reference" in text and "https://nvd.nist.gov/vuln/detail/CVE-2023-4966" in text
    assert 'href="https://nvd.nist.gov/vuln/detail/CVE-2023-4966"' in html
    assert "affected by a published vulnerability" in text
    assert "CVSS score" in text and "9.8" in text


def test_a_leak_site_mention_gives_the_group_the_date_and_what_to_check() -> None:
    leak = make_alert(
        Indicator(IndicatorType.NAME, "CHU de Bordeaux"),
        reason=MatchReason.NAME_MENTION,
        asset="CHU de Bordeaux",
        kind=FeedKind.LEAK,
        title="chu-bordeaux.example",
        feed="ransomware-live",
        link=None,
        facts=Facts(group="LockBit 3.0"),
        rule=SeverityRule.of(RuleKind.LEAK_REPORTED),
    )
    text, html = bodies(render([leak], language="fr"))
    for body in (text, html):
        assert "Groupe" in body and "LockBit 3.0" in body
        assert "Date de la publication" in body and "10 mars 2025 à 14\u00a0h\u00a005 CET" in body
        assert "Nom publié" in body
        assert "Vérifiez si des données de votre établissement ont été dérobées" in body
        assert "rançongiciel publie ses victimes" in body


def test_an_advisory_gives_its_link_and_the_cves_it_names() -> None:
    advisory = make_alert(
        Indicator(IndicatorType.PRODUCT, "citrix netscaler adc"),
        reason=MatchReason.PRODUCT_MENTION,
        asset="Citrix NetScaler ADC 13.1-49.13",
        kind=FeedKind.ADVISORY,
        severity=Severity.HIGH,
        title="Multiples vulnérabilités dans Citrix NetScaler ADC",
        feed="certfr",
        link="https://www.cert.ssi.gouv.fr/avis/CERTFR-2023-AVI-0852/",
        facts=Facts(cves="CVE-2023-4966, CVE-2023-4967", version=VersionFact.declared_as("13.1-49.13")),
    )
    text, html = bodies(render([advisory], language="fr"))
    for body in (text, html):
        assert "Avis" in body and "Multiples vulnérabilités dans Citrix NetScaler ADC" in body
        assert "CVE citées" in body and "CVE-2023-4966, CVE-2023-4967" in body
        assert "https://www.cert.ssi.gouv.fr/avis/CERTFR-2023-AVI-0852/" in body
        assert "Lisez l'avis" in body  # its link and the patch (#12: the step names the bulletin's link)
        assert "Appliquez les correctifs" in body
    assert 'href="https://www.cert.ssi.gouv.fr/avis/CERTFR-2023-AVI-0852/"' in html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_email_has_the_tlp_line_and_the_contact_footer(language: str) -> None:
    for kind_alerts in ([make_alert(IPV4)], [_kev_alert()], many_alerts()):
        context = email_context(make_establishment(language=language), kind_alerts, SETTINGS.render, NOW)
        text, html = bodies(render(kind_alerts, language=language))
        for body in (text, html.replace("&#39;", "'")):
            assert body.count(context["tlp_text"]) >= 2  # the banner and the footer
            assert "cert@cert-sante.example" in body.split(context["alerts"][-1]["actions"][-1])[-1]
