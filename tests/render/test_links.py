"""Links and hosts from feeds (issue #13 point 4): every one defanged, a link only towards the CERT's own domains
and the known sources', and a host mixing alphabets flagged, in the text, the HTML and the attachments."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace

import pytest
from builders import IPV4, SETTINGS, bodies, make_alert, make_feed, parsed, render

from alertd.domain.codes import MatchReason
from alertd.domain.facts import Facts
from alertd.domain.feeds import FeedFormat
from alertd.domain.settings import BulletinSettings
from alertd.domain.values import Alert, FeedKind, Indicator, IndicatorType, Severity
from alertd.render.defang import defang_text, mixed_script, mixed_script_hosts, scrub, scrubber
from alertd.render.links import KNOWN_REFERENCES, allowed_domains, link_target, own_domains, source_domains

LOOKALIKE = "https://\u0441ert-sante.example/fuites/ch-bordeaux"  # a Cyrillic "с" in place of the Latin "c"
HREF = re.compile(r'<a\b[^>]*\bhref="([^"]*)"', re.IGNORECASE)


@pytest.mark.parametrize(
    "host",
    [
        "\u0441ert-sante.example",  # Cyrillic с + Latin
        "xn--ert-sante-u3h.example",  # the same as IDNA writes it
        "XN--ERT-SANTE-U3H.EXAMPLE",
        "\u0430pple.com",  # Cyrillic а
        "g\u03bfogle.com",  # Greek ο
        "www.\u0441ert-sante.example",
    ],
)
def test_a_host_mixing_alphabets_is_mixed(host: str) -> None:
    assert mixed_script(host)


@pytest.mark.parametrize(
    "host",
    [
        "cert-sante.example",
        "xn--e1afmkfd.xn--p1ai",  # пример.рф: Cyrillic alone
        "\u043f\u0440\u0438\u043c\u0435\u0440.example",  # a Cyrillic label under a Latin one: each label one script
        "caf\u00e9.fr",  # Latin with an accent
        "\u30c9\u30e1\u30a4\u30f3\u540d\u4f8b.jp",  # Katakana and Han, written together in Japanese
        "sony\u30b9\u30c8\u30a2.jp",  # Latin with Katakana: the same
        "xn--zzzz-.com",  # not punycode after all: read as written
        "192.0.2.1",
    ],
)
def test_a_host_of_one_alphabet_is_not(host: str) -> None:
    assert not mixed_script(host)


def test_hosts_mixing_alphabets_are_found_in_prose_defanged_or_not() -> None:
    text = (
        f"Voir {LOOKALIKE}, ou hxxps://\u0441ert-sante[.]example/x et admin[@]\u0430pple[.]com "
        "(pas cert-sante.example, ni https://www.cisa.gov/)."
    )
    assert mixed_script_hosts(text) == ["\u0441ert-sante.example", "\u0430pple.com"]
    assert mixed_script_hosts("nothing here") == []


def test_a_link_is_a_target_only_on_an_allowed_domain() -> None:
    allowed = allowed_domains(SETTINGS.render)
    assert {"cert-sante.example", "nvd.nist.gov", "cisa.gov", "cert.ssi.gouv.fr"} <= allowed
    assert link_target("https://nvd.nist.gov/vuln/detail/CVE-2023-4966", allowed) == "nvd.nist.gov"
    assert link_target("https://www.cert.ssi.gouv.fr/alerte/", allowed) == "www.cert.ssi.gouv.fr"
    assert link_target("https://portail.cert-sante.example/", allowed) == "portail.cert-sante.example"
    for refused in (
        LOOKALIKE,
        "https://xn--ert-sante-u3h.example/",
        "https://evil.example/",
        "https://nvd.nist.gov.evil.example/",
        "https://evilnvd.nist.gov.example/",
        "https://nvd.nist.gov@evil.example/",
        "https://evil.example\\@nvd.nist.gov/",  # a browser reads "\" as "/": the host is evil.example
        "https://nvd.nist.gov:8443/",
        "http://198.51.100.7/",
        "javascript:alert(1)//nvd.nist.gov",
        "ftp://nvd.nist.gov/",
        "//nvd.nist.gov/",
    ):
        assert link_target(refused, allowed) is None, refused


def test_the_cert_s_own_domains_come_from_its_settings() -> None:
    settings = replace(
        SETTINGS.render,
        bulletin=BulletinSettings(incident_url="https://declaration.cert-sante.example/incident"),
        reply_to="CERT <soc@autre-domaine.example>",
        link_domains=frozenset({"portail.example"}),
    )
    assert own_domains(settings) == {
        "cert-sante.example",  # the sender's
        "autre-domaine.example",  # the reply address's
        "declaration.cert-sante.example",  # the declaration page's
        "portail.example",  # links.allowed_domains
    }
    assert allowed_domains(settings) == own_domains(settings) | KNOWN_REFERENCES


def test_a_csaf_provider_configured_as_a_feed_is_a_source_to_link_to() -> None:
    feeds = [
        make_feed("redhat", FeedFormat.CSAF, url="https://security.access.redhat.com/data/csaf/v2/advisories/"),
        make_feed("leaks", FeedFormat.LEAK_VICTIMS, url="https://leaks.example/recentvictims.json"),
    ]
    assert source_domains(feeds) == {"security.access.redhat.com"}


def _leak(link: str | None, **facts: str) -> list[Alert]:
    return [
        make_alert(
            Indicator(IndicatorType.NAME, "CHU de Bordeaux"),
            reason=MatchReason.NAME_MENTION,
            kind=FeedKind.LEAK,
            feed="leak-victims",
            asset="CHU de Bordeaux",
            title="CHU de Bordeaux",
            link=link,
            severity=Severity.IMMINENT,
            facts=Facts(group="lockbit3", **facts),  # type: ignore[arg-type]
        )
    ]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_lookalike_link_is_defanged_flagged_and_never_clickable(language: str) -> None:
    msg = render(_leak(LOOKALIKE, website="\u0441ert-sante.example"), language=language)
    text, html = bodies(msg)
    shown = "hxxps://\u0441ert-sante[.]example/fuites/ch-bordeaux"
    assert shown in text and shown in html
    assert LOOKALIKE not in text and LOOKALIKE not in html
    assert HREF.findall(html) == []
    warning = {
        "fr": "Nom de domaine trompeur\u00a0: \u0441ert-sante[.]example mêle des caractères de plusieurs alphabets",
        "en": "Deceptive domain name: \u0441ert-sante[.]example mixes characters from several alphabets",
    }[language]
    assert "⚠ " + warning in text and warning in html
    assert html.count(warning) == 1  # the link and the website name one host: told once
    # The summary line carries the mark too.
    assert re.search(r"^1\. \[[^]]+\] ⚠ ", text, re.MULTILINE)
    _csv, document = (part.get_content() for part in list(parsed(msg).iter_parts())[1:])
    finding = json.loads(document)["findings"][0]
    assert finding["link"] == shown and finding["link_raw"] == LOOKALIKE
    assert finding["warnings"] == ["mixed-script-host"]
    assert finding["details"]["website"] == "\u0441ert-sante[.]example"


def test_a_link_to_a_known_source_stays_a_link_any_other_is_defanged_text() -> None:
    cisa = "https://www.cisa.gov/news-events/ics-medical-advisories/icsma-24-200-01"
    for link, clickable in ((cisa, True), ("https://blog.example/post?id=1", False)):
        alert = make_alert(IPV4, link=link, kind=FeedKind.ADVISORY, severity=Severity.INFO)
        text, html = bodies(render([alert], language="en"))
        if clickable:
            assert HREF.findall(html) == [cisa] and cisa in text
        else:
            assert HREF.findall(html) == [] and "hxxps://blog[.]example/post?id=1" in text
            assert "blog.example" not in text and "blog.example" not in html
        assert "\u26a0" not in text


def test_an_operator_s_domain_is_a_link() -> None:
    settings = replace(SETTINGS, link_domains=frozenset({"portail.example"}))
    alert = make_alert(IPV4, link="https://www.portail.example/a", kind=FeedKind.ADVISORY, severity=Severity.INFO)
    _text, html = bodies(render([alert], language="en", settings=settings))
    assert HREF.findall(html) == ["https://www.portail.example/a"]


def test_every_host_address_and_link_in_quoted_text_is_defanged() -> None:
    title = "Campagne depuis 198.51.100.7 et https://evil.example/x vers admin@evil.example"
    summary = "Le serveur evil.example (voir http://evil.example/p) et 2001:db8::7."
    alert = make_alert(
        IPV4,
        title=title,
        kind=FeedKind.ADVISORY,
        severity=Severity.INFO,
        link=None,
        facts=Facts(summary=summary, malware="relais evil.example, voir https://evil.example/c2"),
    )
    msg = render([alert], language="fr")
    text, html = bodies(msg)
    subject = parsed(msg)["Subject"]
    csv_text, document = (part.get_content() for part in list(parsed(msg).iter_parts())[1:])
    finding = json.loads(document)["findings"][0]
    (row,) = csv.DictReader(io.StringIO(csv_text.removeprefix("\ufeff")))
    shown = [value for key, value in row.items() if not key.endswith("_raw")]
    for body in (text, html, subject, *shown, json.dumps(finding["details"])):
        assert "evil.example" not in body and "198.51.100.7" not in body
    assert "evil.example" in row["title_raw"] and "evil.example" in finding["details_raw"]["malware"]
    assert "hxxps://evil[.]example/x" in text and "admin[@]evil[.]example" in text
    assert "2001[:]db8[:][:]7" in text
    assert finding["title_raw"] == title  # for tools, as the feed gave it
    assert defang_text(title) == finding["title"]


def test_an_advisory_of_several_matches_names_its_link_defanged_in_its_steps() -> None:
    link = "https://blog.example/advisory/42"
    alerts = []
    for indicator in (IPV4, Indicator(IndicatorType.NAME, "CHU de Bordeaux")):
        alert = make_alert(indicator, link=link, kind=FeedKind.ADVISORY, severity=Severity.HIGH, feed="rss")
        alerts.append(replace(alert, finding=replace(alert.finding, entry="rss:42")))  # one bulletin, two matches
    for language in ("fr", "en"):
        text, html = bodies(render(alerts, language=language))
        assert "hxxps://blog[.]example/advisory/42" in text
        assert "blog.example" not in text and "blog.example" not in html


def test_scrub_finds_every_indicator_of_a_mass_email_in_one_pass() -> None:
    # 8,000 addresses of one network (a mass event): each found in any case (shown as the feed wrote it), the URL
    # whole before its host.
    alerts = [make_alert(Indicator(IndicatorType.IPV4, f"10.1.{n // 250}.{n % 250}")) for n in range(8000)]
    alerts.append(make_alert(Indicator(IndicatorType.URL, "http://Evil.example/a")))
    patterns = scrubber(alerts)
    text = "C2 10.1.31.249 et 10.1.0.7, voir HTTP://EVIL.EXAMPLE/a puis evil.example ; 10.1.0.77x"
    assert scrub(text, patterns) == (
        "C2 10[.]1[.]31[.]249 et 10[.]1[.]0[.]7, voir hxxp://Evil[.]example/a puis evil[.]example ; 10[.]1[.]0[.]77x"
    )
    assert scrub("İstanbul 10.1.0.7", patterns) == "İstanbul 10[.]1[.]0[.]7"  # a longer lower case keeps offsets


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("foo(https://evil.example/x)", "foo(hxxps://evil[.]example/x)"),
        ("see:https://evil.example/x", "see:hxxps://evil[.]example/x"),
        ("a,https://evil.example", "a,hxxps://evil[.]example"),
        ("x=https://evil.example/a", "x=hxxps://evil[.]example/a"),
        ("\\\\evil.example\\share", "\\\\evil[.]example\\share"),  # a UNC path: Outlook opens it
        ("evil.example/setup.exe", "evil[.]example/setup[.]exe"),  # a path, not a file name
        ("setup.exe et e.g. ceci", "setup.exe et e.g. ceci"),  # a file name and an abbreviation stay
    ],
)
def test_a_link_inside_a_word_is_defanged_from_its_scheme(text: str, shown: str) -> None:
    assert defang_text(text) == shown
