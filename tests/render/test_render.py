"""The render stage: defanging, header cleaning, and the email built from alerts (contract §4)."""

from __future__ import annotations

import dataclasses
import email
import email.header
import email.policy
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import hypothesis
import hypothesis.strategies
import jinja2
import pytest
from builders import (
    CVE,
    DOMAIN,
    ENV,
    IPV4,
    IPV6,
    MAILBOX,
    MESSAGE_ID,
    NOW,
    RECIPIENTS,
    SETTINGS,
    URL,
    make_alert,
    make_establishment,
    make_settings,
    many_alerts,
    render,
)

from alertd.domain.codes import MatchReason, RuleKind, SeverityRule
from alertd.domain.establishments import Establishment
from alertd.domain.values import Alert, FeedKind, Indicator, IndicatorType, Severity
from alertd.render.email import (
    FINDING_FIELDS,
    REASONS,
    clean_header,
    defang,
    defang_indicator,
    email_context,
    findings_csv,
    fold_subject,
    make_environment,
    render_email,
    strictest_tlp,
)


def parsed(msg: EmailMessage) -> EmailMessage:
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
    return text, html


# --- defang -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("http://evil.example/a.php?x=1", "hxxp://evil[.]example/a[.]php?x=1"),
        ("https://login.evil.example:8443/", "hxxps://login[.]evil[.]example:8443/"),
        ("HTTPS://Evil.example", "hxxps://Evil[.]example"),
        ("http://[2001:db8::1]:8080/x", "hxxp://[2001[:]db8[:][:]1]:8080/x"),
        ("evil.example/path/index.html", "evil[.]example/path/index[.]html"),
        ("evil.example", "evil[.]example"),
        ("sub.domain.évil.example", "sub[.]domain[.]évil[.]example"),
        ("147.210.1.5", "147[.]210[.]1[.]5"),
        ("147.210.0.0/16", "147[.]210[.]0[.]0/16"),
        ("147.210.1.5:443", "147[.]210[.]1[.]5:443"),
        ("2001:db8::1", "2001[:]db8[:][:]1"),
        ("2001:660:6101::/48", "2001[:]660[:]6101[:][:]/48"),
        ("::ffff:192.0.2.1", "[:][:]ffff[:]192[.]0[.]2[.]1"),
        ("phish@evil.example", "phish[@]evil[.]example"),
        ("CVE-2023-4966", "CVE-2023-4966"),
        ("d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e"),
        ("Citrix NetScaler ADC 13.1-49.13", "Citrix NetScaler ADC 13.1-49.13"),
        ("13.1.49", "13.1.49"),
        ("CHU de Bordeaux", "CHU de Bordeaux"),
        ("AS2200", "AS2200"),
    ],
)
def test_defang_table(raw: str, shown: str) -> None:
    assert defang(raw) == shown


@pytest.mark.parametrize("raw", ["http://evil.example/a.b", "evil.example", "2001:db8::1", "a@b.example", "1.2.3.4"])
def test_defang_is_idempotent(raw: str) -> None:
    assert defang(defang(raw)) == defang(raw)


@pytest.mark.parametrize(
    ("ind", "shown"),
    [
        (IPV4, "147[.]210[.]1[.]5"),
        (IPV6, "2001[:]660[:]6101[:][:]5"),
        (DOMAIN, "vpn[.]chu-bordeaux[.]example"),
        (URL, "hxxp://evil-cdn[.]example/payload[.]exe"),
        (MAILBOX, "phish[@]evil-mail[.]example"),
        (Indicator(IndicatorType.CIDR, "192.0.2.0/24"), "192[.]0[.]2[.]0/24"),
        (Indicator(IndicatorType.CIDR, "2001:db8::/32"), "2001[:]db8[:][:]/32"),
        (CVE, "CVE-2023-4966"),
        (
            Indicator(IndicatorType.HASH, "e3b0c44298fc1c149afbf4c8996fb924"),
            "e3b0c44298fc1c149afbf4c8996fb924",
        ),
        (Indicator(IndicatorType.PRODUCT, "Node.js 18.1"), "Node.js 18.1"),
        (Indicator(IndicatorType.NAME, "Clinique Saint.Jean"), "Clinique Saint.Jean"),
        (Indicator(IndicatorType.ASN, "AS2200"), "AS2200"),
    ],
)
def test_defang_indicator_by_type(ind: Indicator, shown: str) -> None:
    assert defang_indicator(ind) == shown


# --- clean_header -----------------------------------------------------------------------------------------


def test_clean_header_strips_every_control_character() -> None:
    dirty = "Alerte\r\nBcc: evil@x\x00\x1b[31m rouge\x7f\x85\x9b\u2028ligne\u2029para\u202eesrever\ttab"
    clean = clean_header(dirty)
    for char in ("\r", "\n", "\x00", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e", "\t"):
        assert char not in clean
    assert clean == "Alerte Bcc: evil@x [31m rouge ligne para esrever tab"


def test_clean_header_collapses_whitespace_and_truncates() -> None:
    assert clean_header("  a   b \n\n c  ") == "a b c"
    long = "mot " * 100
    cut = clean_header(long, limit=50)
    assert len(cut) <= 50
    assert cut.endswith("…")
    assert clean_header("exactly ten", limit=11) == "exactly ten"
    assert len(clean_header("x" * 500)) == 200


# --- the environment --------------------------------------------------------------------------------------


def test_html_templates_are_autoescaped_and_text_ones_are_not() -> None:
    for language in ("fr", "en"):
        html = ENV.get_template(f"{language}/alert.html.j2")
        text = ENV.get_template(f"{language}/subject.txt.j2")
        assert html.render(_context_with_name("<i>")).count("&lt;i&gt;") >= 1
        assert "<i>" in text.render(_context_with_name("<i>"))


def _context_with_name(name: str) -> dict[str, object]:
    est = Establishment(id="1", name=name)
    return email_context(est, [make_alert(IPV4, est_id="1")], SETTINGS, NOW)


def test_operator_templates_override_the_bundled_ones(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "subject.txt.j2").write_text("Custom {{ establishment.name }} {{ count }}\n")
    env = make_environment(tmp_path)
    msg = render([make_alert(IPV4)], language="en", env=env)
    assert parsed(msg)["Subject"] == "Custom CHU de Bordeaux 1"
    # The other templates still come from the bundled folder.
    text, _html = bodies(msg)
    assert "147[.]210[.]1[.]5" in text


def test_undefined_variables_are_errors(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "subject.txt.j2").write_text("{{ no_such_thing }}")
    with pytest.raises(jinja2.UndefinedError):
        render([make_alert(IPV4)], language="en", env=make_environment(tmp_path))


# --- the email --------------------------------------------------------------------------------------------


def test_feed_html_is_escaped_in_the_html_part() -> None:
    title = 'Panel <script>alert(1)</script> "><img src=x onerror=alert(2)>'
    alerts = [make_alert(IPV4, title=title, attrs={"malware": "<b>bold</b>"}, link='https://x.example/"><script>')]
    for language in ("fr", "en"):
        text, html = bodies(render(alerts, language=language))
        assert "<script>" not in html
        assert "<img" not in html
        assert "<b>bold" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert '"&gt;&lt;img src=x onerror=alert(2)&gt;' in html  # a quote needs no escaping in text
        assert 'href="https://x.example/%22%3E%3Cscript%3E"' in html
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
    msg = render_email(ENV, est, [alert], RECIPIENTS, settings=SETTINGS, now=NOW, message_id=MESSAGE_ID)
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
        attrs={"malware": "dropped by evil-cdn.example/payload.exe"},
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
    context = email_context(make_establishment(language=language), alerts, SETTINGS, NOW)
    text, html = bodies(render(alerts, language=language))
    html_text = html.replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")
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
    assert "Première observation" in fr_text
    assert "réseau" in fr_text
    assert 'lang="fr"' in fr_html
    assert "What to do" in en_text and "What to do" in en_html
    assert "First seen" in en_text
    assert 'lang="en"' in en_html
    assert parsed(render(many_alerts(), language="fr"))["Content-Language"] == "fr"


def test_html_has_no_external_resources_or_scripts() -> None:
    _text, html = bodies(render(many_alerts()))
    lowered = html.lower()
    for forbidden in ("<script", "<img", "<link", "@import", "url(", "src=", "<style"):
        assert forbidden not in lowered
    assert "<table" in lowered


def test_every_reason_code_is_explained_in_both_languages() -> None:
    for language in ("fr", "en"):
        for reason in REASONS:
            alert = make_alert(Indicator(IndicatorType.NAME, "chu de bordeaux"), reason=reason, asset="CHU Bordeaux")
            context = email_context(make_establishment(language=language), [alert], SETTINGS, NOW)
            sentence = context["alerts"][0]["reason_text"]
            assert "CHU Bordeaux" in sentence
            assert sentence.endswith(".") and len(sentence.split()) >= 6  # a sentence, not the code


def test_unknown_reason_code_still_says_which_asset() -> None:
    # A reason without words in the catalog (a store written by a newer version, say) is still explained.
    alert = make_alert(IPV4, reason="new-rule", asset="147.210.0.0/16")  # type: ignore[arg-type]
    context = email_context(make_establishment(language="en"), [alert], SETTINGS, NOW)
    assert context["alerts"][0]["reason_text"] == "Matched your asset 147.210.0.0/16 (rule “new-rule”)."


def test_what_to_do_depends_on_the_kind() -> None:
    context = email_context(make_establishment(language="en"), many_alerts(), SETTINGS, NOW)
    by_indicator = {a["indicator"]: a for a in context["alerts"]}
    compromise = " ".join(by_indicator["147[.]210[.]1[.]5"]["actions"])
    assert "isolate" in compromise and "logs" in compromise and "cert@cert-sante.example" in compromise
    vulnerability = " ".join(by_indicator["CVE-2023-4966"]["actions"])
    assert "patch" in vulnerability
    assert "2023-11-08" in vulnerability
    assert "Apply mitigations per vendor instructions." in vulnerability
    leak = make_alert(
        Indicator(IndicatorType.NAME, "chu de bordeaux"),
        reason=MatchReason.NAME_MENTION,
        asset="CHU de Bordeaux",
        kind=FeedKind.LEAK,
        attrs={"group": "LockBit"},
    )
    leak_context = email_context(make_establishment(language="en"), [leak], SETTINGS, NOW)["alerts"][0]
    assert "incident response" in " ".join(leak_context["actions"])
    assert ("Group", "LockBit") in leak_context["attrs"]
    assert "a post on a data-leak site" in leak_context["reason_text"]


def test_dates_are_shown_in_the_configured_timezone() -> None:
    context = email_context(make_establishment(), [make_alert(IPV4)], SETTINGS, NOW)
    assert context["generated"] == "2025-03-12 14:05 CET"
    assert context["alerts"][0]["first_seen"] == "2025-03-11 14:05 CET"
    utc = email_context(make_establishment(), [make_alert(IPV4)], make_settings(timezone=ZoneInfo("UTC")), NOW)
    assert utc["generated"] == "2025-03-12 13:05 UTC"


def test_alerts_sorted_by_severity_then_indicator() -> None:
    context = email_context(make_establishment(), list(reversed(many_alerts())), SETTINGS, NOW)
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
        email_context(make_establishment(), alerts, SETTINGS, NOW)


def test_no_alert_or_no_recipient_is_refused() -> None:
    with pytest.raises(ValueError, match="no alert"):
        render([])
    with pytest.raises(ValueError, match="no recipient"):
        render_email(ENV, make_establishment(), [make_alert(IPV4)], [], settings=SETTINGS, now=NOW, message_id="<x@y>")


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
        settings=SETTINGS,
        now=NOW,
        message_id=MESSAGE_ID,
    )
    assert parsed(msg)["To"] == "rssi@chu-bordeaux.example, astreinte@chu-bordeaux.example"


def test_subject_carries_strictest_tlp_and_highest_severity() -> None:
    alerts = many_alerts()  # amber, green and clear
    subject = parsed(render(alerts))["Subject"]
    assert subject == ("[TLP:AMBER] [IMMINENT] CHU de Bordeaux — 6 alertes : adresse compromise 147[.]210[.]1[.]5 …")

    def kev(tlp: str) -> Alert:
        return make_alert(
            CVE,
            reason=MatchReason.KEV_PRODUCT,
            asset="Citrix",
            kind=FeedKind.VULNERABILITY,
            severity=Severity.CRITICAL,
            tlp=tlp,
        )

    assert parsed(render([*alerts[:-1], kev("red")]))["Subject"].startswith("[TLP:RED] [IMMINENT] ")
    subject = parsed(render([kev("green")], language="en"))["Subject"]
    assert subject == "[TLP:GREEN] [CRITICAL] CHU de Bordeaux — 1 alert: exploited vulnerability CVE-2023-4966"


def test_strictest_tlp_order() -> None:
    assert strictest_tlp(["clear", "green"]) == "green"
    assert strictest_tlp(["amber", "amber+strict", "green"]) == "amber+strict"
    assert strictest_tlp(["red", "clear"]) == "red"
    assert strictest_tlp(["TLP:WHITE"]) == "clear"
    assert strictest_tlp(["clear", "something-odd"]) == "red"  # fail closed


def test_long_subject_is_cut() -> None:
    est = Establishment(id="1", name="Centre hospitalier " * 20, language="fr")
    alerts = [make_alert(IPV4, est_id="1")]
    msg = render_email(ENV, est, alerts, RECIPIENTS, settings=SETTINGS, now=NOW, message_id=MESSAGE_ID)
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
        settings=SETTINGS,
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


# --- the Subject header -----------------------------------------------------------------------------------


def _raw_header(msg: EmailMessage, name: str) -> str:
    head = msg.as_bytes().split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = head.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{name}: "))
    end = start + 1
    while end < len(lines) and lines[end].startswith((" ", "\t")):
        end += 1
    return "\r\n".join(lines[start:end])


def _fits(line: str) -> bool:
    """Within 78 characters, unless the line holds one ASCII word too long to fold."""
    return len(line) <= 78 or (len(line.removeprefix("Subject:").split()) == 1 and "=?" not in line)


@pytest.mark.parametrize("language", ["fr", "en"])
@pytest.mark.parametrize("padding", range(0, 120, 7))
def test_the_subject_decodes_to_exactly_the_rendered_text(language: str, padding: int) -> None:
    # Long non-ASCII subjects used to fold with a trailing space before an encoded-word ("Garonne  —").
    est = Establishment(id="1", name=f"Centre hospitalier {'é' * (padding % 3)}{'x' * padding} de la Garonne")
    est = dataclasses.replace(est, language=language)
    alerts = [make_alert(IPV4, est_id="1"), make_alert(DOMAIN, est_id="1", reason=MatchReason.DOMAIN)]
    for in_reply_to in (None, "<first@cert-sante.example>"):
        msg = render_email(
            ENV, est, alerts, RECIPIENTS, settings=SETTINGS, now=NOW, message_id=MESSAGE_ID, in_reply_to=in_reply_to
        )
        expected = clean_header(
            ("Re: " if in_reply_to else "")
            + ENV.get_template(f"{language}/subject.txt.j2").render(email_context(est, alerts, SETTINGS, NOW))
        )
        assert "  " not in expected
        assert parsed(msg)["Subject"] == expected
        raw = _raw_header(msg, "Subject")
        assert str(email.header.make_header(email.header.decode_header(raw.removeprefix("Subject: ")))) == expected
        assert all(_fits(line) for line in raw.split("\r\n"))
        assert all(len(word) <= 75 for word in raw.split() if word.startswith("=?"))


def test_ascii_words_stay_readable_and_only_the_others_are_encoded() -> None:
    est = Establishment(id="1", name="Hôpital " + "of the West " * 8 + "Côte-d'Opale", language="en")
    msg = render_email(
        ENV, est, [make_alert(IPV4, est_id="1")], RECIPIENTS, settings=SETTINGS, now=NOW, message_id="<x@y>"
    )
    raw = _raw_header(msg, "Subject")
    assert raw.startswith("Subject: [TLP:AMBER] [IMMINENT] =?utf-8?q?H=C3=B4pital?= of the West")
    assert "\r\n " in raw and "  " not in raw.replace("\r\n", "")
    assert parsed(msg)["Subject"].startswith(f"[TLP:AMBER] [IMMINENT] {est.name} — 1 alert: compromised address")


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii words only",
        "é",
        "a é b",
        "é é é",
        "x" * 200,
        "mot " * 40 + "—",
        "— " * 60,
        "=?utf-8?q?a?= =?utf-8?q?b?=",
        "ends with space-less=?",
        "日本語のテキスト" * 10,
        "mixed 日本 words and 😀 emoji " * 4,
    ],
)
def test_fold_subject_round_trips(text: str) -> None:
    folded = fold_subject("Subject", text)
    assert folded.endswith("\r\n")
    lines = folded[:-2].split("\r\n")
    assert all(line.startswith(" ") for line in lines[1:])
    assert all(_fits(line) for line in lines)
    raw = folded.removeprefix("Subject: ").removesuffix("\r\n")
    message = email.message_from_bytes(f"Subject: {raw}\r\n\r\nbody".encode("ascii"), policy=email.policy.default)
    assert message["Subject"] == text
    assert str(email.header.make_header(email.header.decode_header(raw.replace("\r\n", "")))) == text


def test_an_encoded_word_lookalike_in_the_subject_is_shown_literally() -> None:
    lookalike = Indicator(IndicatorType.URL, "http://evil.example/=?utf-8?q?Bcc=3A_x?=")
    msg = render([make_alert(lookalike, reason=MatchReason.DOMAIN, asset="chu-bordeaux.example")], language="en")
    assert "hxxp://evil[.]example/=?utf-8?q?Bcc=3A_x?=" in parsed(msg)["Subject"]


# --- HTML -------------------------------------------------------------------------------------------------


def test_the_style_block_is_inlined() -> None:
    for language in ("fr", "en"):
        _text, html = bodies(render(many_alerts(), language=language))
        assert "<style" not in html
        assert 'class="label" style="padding: 5px 12px;width: 170px;' in html
        assert "font-family: Arial, Helvetica, sans-serif" in html


def test_an_operator_template_cannot_make_rendering_fetch_a_stylesheet(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "alert.html.j2").write_text(
        '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"><style>p { color: red }</style></head>'
        "<body><p>{{ count }}</p></body></html>"
    )
    _text, html = bodies(render([make_alert(IPV4)], language="en", env=make_environment(tmp_path)))
    assert '<p style="color: red;">1</p>' in html
    assert "<link" not in html


# --- the body, by finding type ----------------------------------------------------------------------------


def _kev_alert(**changes: object) -> Alert:
    attrs = {
        "version": "13.1-49.13",
        "due_date": "2023-11-08",
        "required_action": "Apply mitigations per vendor instructions.",
        "ransomware": "Known",
        "date_added": "2023-10-18",
        "notes": "https://support.citrix.com/article/CTX579459 ; https://nvd.nist.gov/vuln/detail/CVE-2023-4966",
        "vendor": "Citrix",
    }
    values: dict[str, object] = {
        "reason": MatchReason.KEV_PRODUCT,
        "asset": "Citrix NetScaler ADC 13.1-49.13",
        "kind": FeedKind.VULNERABILITY,
        "severity": Severity.CRITICAL,
        "title": "Citrix NetScaler ADC and NetScaler Gateway Buffer Overflow Vulnerability",
        "feed": "cisa-kev",
        "link": "https://nvd.nist.gov/vuln/detail/CVE-2023-4966",
        "attrs": attrs,
        "rule": SeverityRule.of(RuleKind.KEV),
    }
    values.update(changes)
    return make_alert(CVE, **values)  # type: ignore[arg-type]


def test_a_compromise_says_which_host_which_feed_since_when_and_what_to_do() -> None:
    alert = make_alert(IPV4, attrs={"malware": "QakBot", "port": "443", "first_seen": "2025-03-08 10:12:00"})
    text, html = bodies(render([alert], language="en"))
    for body in (text, html):
        assert "Reported host" in body and "147[.]210[.]1[.]5" in body
        assert "your network 147[.]210[.]0[.]0/16" in body
        assert "feodo" in body and "Botnet C2 server" in body
        assert "Reported by the source since" in body and "2025-03-08 10:12:00" in body
        assert "First seen" in body and "2025-03-11 14:05 CET" in body
        assert "QakBot" in body and "443" in body
        assert "isolate it from the network" in body
        assert "Act now." in body


def test_an_exploited_vulnerability_gives_product_version_cve_kev_terms_and_links() -> None:
    text, html = bodies(render([_kev_alert()], language="fr"))
    for body in (text, html):
        assert "Vulnérabilité" in body and "CVE-2023-4966" in body
        assert "Produit concerné" in body and "Citrix NetScaler ADC" in body
        assert "Version (inventaire)" in body and "13.1-49.13" in body
        assert "2023-11-08" in body and "Apply mitigations per vendor instructions." in body
        assert "Utilisée par des rançongiciels" in body and "oui" in body
        assert "https://support.citrix.com/article/CTX579459" in body
        assert "https://nvd.nist.gov/vuln/detail/CVE-2023-4966" in body
        assert "exploitent déjà" in body
    assert 'href="https://support.citrix.com/article/CTX579459"' in html
    assert text.count("https://nvd.nist.gov/vuln/detail/CVE-2023-4966") == 1  # the link, not again as a reference


def test_a_vulnerability_on_software_without_a_version_says_to_check_it() -> None:
    alert = _kev_alert(asset="Citrix NetScaler ADC", attrs={"version": "version unknown"})
    for language, words in (("fr", "inconnue : vérifiez-la"), ("en", "unknown: check it in your inventory")):
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
        attrs={"version": "7.2.4", "cvss": "9.8"},
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
        attrs={"group": "LockBit 3.0"},
        rule=SeverityRule.of(RuleKind.LEAK_REPORTED),
    )
    text, html = bodies(render([leak], language="fr"))
    for body in (text, html):
        assert "Groupe" in body and "LockBit 3.0" in body
        assert "Date de la publication" in body and "2025-03-10 14:05 CET" in body
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
        attrs={"cves": "CVE-2023-4966, CVE-2023-4967", "version": "13.1-49.13"},
    )
    text, html = bodies(render([advisory], language="fr"))
    for body in (text, html):
        assert "Avis" in body and "Multiples vulnérabilités dans Citrix NetScaler ADC" in body
        assert "CVE citées" in body and "CVE-2023-4966, CVE-2023-4967" in body
        assert "https://www.cert.ssi.gouv.fr/avis/CERTFR-2023-AVI-0852/" in body
        assert "Lisez l'avis de sécurité" in body
    assert 'href="https://www.cert.ssi.gouv.fr/avis/CERTFR-2023-AVI-0852/"' in html


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_email_has_the_tlp_line_and_the_contact_footer(language: str) -> None:
    for kind_alerts in ([make_alert(IPV4)], [_kev_alert()], many_alerts()):
        context = email_context(make_establishment(language=language), kind_alerts, SETTINGS, NOW)
        text, html = bodies(render(kind_alerts, language=language))
        for body in (text, html.replace("&#39;", "'")):
            assert body.count(context["tlp_text"]) >= 2  # the banner and the footer
            assert "cert@cert-sante.example" in body.split(context["alerts"][-1]["actions"][-1])[-1]


# --- attachments ------------------------------------------------------------------------------------------


def _attachments(msg: EmailMessage) -> tuple[str, str]:
    back = parsed(msg)
    _alternative, table, document = back.iter_parts()
    assert table.get_filename() == "findings.csv" and document.get_filename() == "findings.json"
    assert table.get_content_disposition() == document.get_content_disposition() == "attachment"
    csv_text, json_bytes = table.get_content(), document.get_content()
    assert isinstance(csv_text, str) and isinstance(json_bytes, bytes)
    assert table.get_content_charset() == "utf-8"
    assert csv_text.startswith("\ufeffseverity,")  # the BOM Excel needs to read UTF-8
    return csv_text.removeprefix("\ufeff"), json_bytes.decode("utf-8")


def test_the_findings_are_attached_as_csv_and_json_with_defanged_indicators() -> None:
    import csv
    import io
    import json

    alerts = many_alerts()
    csv_text, json_text = _attachments(render(alerts, language="en"))
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    document = json.loads(json_text)
    assert document["tlp"] == "TLP:AMBER"
    assert document["establishment"] == {"id": "330781196", "name": "CHU de Bordeaux"}
    findings = document["findings"]
    assert len(rows) == len(findings) == len(alerts)
    for row, finding in zip(rows, findings, strict=True):
        assert list(row) == list(FINDING_FIELDS)
        assert {k: finding[k] for k in FINDING_FIELDS} == row
    assert [r["indicator"] for r in rows] == [
        "147[.]210[.]1[.]5",
        "2001[:]660[:]6101[:][:]5",
        "hxxp://evil-cdn[.]example/payload[.]exe",
        "CVE-2023-4966",
        "vpn[.]chu-bordeaux[.]example",
        "phish[@]evil-mail[.]example",
    ]
    first = rows[0]
    assert first["severity"] == "imminent" and first["kind"] == "compromise" and first["type"] == "ipv4"
    assert first["reason"] == "address-in-network" and first["asset"] == "147[.]210[.]0[.]0/16"
    assert first["feed"] == "feodo" and first["entry"] == "feodo:147[.]210[.]1[.]5"
    assert first["first_seen"] == "2025-03-11T13:05:00+00:00" and first["last_seen"] == "2025-03-12T13:05:00+00:00"
    assert first["link"] == "https://feodotracker.abuse.ch/browse/"
    assert findings[0]["details"] == {"malware": "QakBot", "port": "443"}
    for raw in ("147.210.1.5", "evil-cdn.example", "evil-mail.example", "chu-bordeaux.example"):
        assert raw not in csv_text and raw not in json_text


def test_csv_cells_cannot_start_a_spreadsheet_formula() -> None:
    alerts = [
        make_alert(IPV4, title='=HYPERLINK("http://x.example","click")', feed="+feed"),
        make_alert(IPV6, title="@SUM(A1:A2)", feed="-cmd", asset="2001:660:6101::/48"),
    ]
    csv_text, json_text = _attachments(render(alerts, language="en"))
    assert "'=HYPERLINK(" in csv_text and "'@SUM(A1:A2)" in csv_text
    assert "'+feed" in csv_text and "'-cmd" in csv_text
    for line in csv_text.splitlines():
        for cell in line.split(","):
            assert not cell.startswith(("=", "+", "-", "@"))
    assert '"title": "=HYPERLINK(' in json_text  # JSON is data, not a spreadsheet: left as it was


def test_findings_csv_quotes_and_prefixes() -> None:
    record = dict.fromkeys(FINDING_FIELDS, "plain")
    record.update(title='a "quoted", title', asset="-1", link="=cmd|' /C calc'!A0")
    table = findings_csv([record])
    header, line = table.removeprefix("\ufeff").split("\r\n")[:2]
    assert header == ",".join(FINDING_FIELDS)
    assert '"a ""quoted"", title"' in line and ",'-1," in line and "'=cmd|' /C calc'!A0" in line


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(hypothesis.strategies.text(min_size=1, max_size=220))
def test_fold_subject_round_trips_any_clean_text(raw: str) -> None:
    text = clean_header(raw, 204)
    hypothesis.assume(text)
    folded = fold_subject("Subject", text)
    assert all(_fits(line) for line in folded[:-2].split("\r\n"))
    message = email.message_from_bytes(f"{folded}\r\nbody".encode("ascii"), policy=email.policy.default)
    assert message["Subject"] == text
