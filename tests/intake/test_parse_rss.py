"""RSS and Atom bulletins: CERT-FR- and CISA-shaped feeds written for these tests, and hostile documents."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind, Indicator, IndicatorType
from alertd.intake.formats import parse_feed, rss

DATA = SAMPLES / "rss"
CERTFR = DATA / "certfr_alertes_avis.xml"
ATOM = DATA / "cisa_advisories_atom.xml"
FEED = make_feed_spec("certfr-alertes", FeedFormat.RSS)
T = IndicatorType


def test_certfr_one_observation_per_item() -> None:
    body = CERTFR.read_bytes()
    observations = rss.parse(FEED, body)
    assert len(observations) == len(re.findall(rb"<item>", body)) == 4
    assert all(o.feed == "certfr-alertes" and o.kind is FeedKind.ADVISORY for o in observations)


def test_certfr_alert_with_guid_accents_and_defanged_indicators() -> None:
    first = rss.parse(FEED, CERTFR.read_bytes())[0]
    assert first.entry == "CERTFR-2024-ALE-004"
    assert first.title == "Vulnérabilité dans Fortinet FortiOS (CVE-2024-21762)"
    assert first.link == "https://www.cert.ssi.gouv.fr/alerte/CERTFR-2024-ALE-004/"
    assert first.published == datetime(2024, 2, 9, 15, 45, tzinfo=UTC)  # +0100 in the feed
    assert first.indicators == (
        Indicator(T.CVE, "CVE-2024-21762"),
        Indicator(T.URL, "https://update-forti.net/sslvpn/login"),
        Indicator(T.IPV4, "203.0.113.77"),
    )
    facts = first.facts.to_json()
    # The bulletin's own words, without its markup, are its summary.
    assert facts.pop("summary").startswith("Le 8 février 2024, Fortinet a publié l'avis de sécurité FG-IR-24-015")
    assert facts == {"cves": "CVE-2024-21762"}
    # text: title and description, tags gone, entities decoded, whitespace collapsed
    assert first.text.startswith("Vulnérabilité dans Fortinet FortiOS (CVE-2024-21762) Le 8 février 2024, Fortinet")
    assert "<" not in first.text and "&nbsp;" not in first.text and "\n" not in first.text
    assert "observés : hxxps://update-forti[.]net/sslvpn/login" in first.text  # kept as written


def test_certfr_advisory_with_a_cve_list() -> None:
    second = rss.parse(FEED, CERTFR.read_bytes())[1]
    assert second.entry == "CERTFR-2024-AVI-0116"
    assert second.published == datetime(2024, 2, 9, 13, 52, 21, tzinfo=UTC)
    assert second.indicators == (
        Indicator(T.CVE, "CVE-2024-21762"),
        Indicator(T.CVE, "CVE-2024-23113"),
        Indicator(T.CVE, "CVE-2023-47537"),
    )
    assert second.facts.cves == "CVE-2024-21762, CVE-2024-23113, CVE-2023-47537"


def test_entry_without_guid_uses_its_link_and_the_link_is_not_an_indicator() -> None:
    third = rss.parse(FEED, CERTFR.read_bytes())[2]
    assert third.entry == third.link == "https://www.cert.ssi.gouv.fr/avis/CERTFR-2024-AVI-0117/"
    assert third.title == "Multiples vulnérabilités dans Microsoft Edge & Chrome"
    # escaped HTML description; a version number and a file name are not indicators
    assert third.indicators == (Indicator(T.EMAIL, "cert@ssi.gouv.fr"),)
    assert third.facts.to_json() == {
        "summary": "Versions Chromium antérieures à 121.0.6167.160 ; le fichier update.exe n'est pas concerné. "
        "Contact : cert [at] ssi.gouv.fr"
    }


def test_entry_without_guid_or_link_uses_a_content_hash() -> None:
    body = CERTFR.read_bytes()
    fourth = rss.parse(FEED, body)[3]
    assert re.fullmatch(r"[0-9a-f]{32}", fourth.entry)
    assert fourth.link is None
    assert fourth.published is None
    assert fourth.title == "Bulletin d'actualité CERTFR-2024-ACT-006"
    assert "Hôpitaux : vérifiez vos équipements Ivanti" in fourth.text
    assert fourth.facts.cves == "CVE-2023-46805, CVE-2024-21887"
    assert rss.parse(FEED, body)[3].entry == fourth.entry  # stable across polls


def test_parse_is_stable_across_polls() -> None:
    body = CERTFR.read_bytes()
    assert rss.parse(FEED, body) == rss.parse(FEED, body)


def test_atom_feed() -> None:
    body = ATOM.read_bytes()
    observations = rss.parse(FEED, body)
    assert len(observations) == len(re.findall(rb"<entry>", body)) == 2
    pacs, basta = observations
    assert pacs.entry == "https://www.cisa.gov/news-events/ics-medical-advisories/icsma-24-200-01"
    assert pacs.title == "Philips Vue PACS"
    assert pacs.published == datetime(2024, 7, 18, 10, 0, tzinfo=UTC)  # published wins over updated
    assert pacs.indicators == (
        Indicator(T.CVE, "CVE-2023-40704"),
        Indicator(T.CVE, "CVE-2023-40539"),
        Indicator(T.IPV6, "2001:db8:4:11::c0"),
        Indicator(T.EMAIL, "report@cisa.gov"),
    )
    assert "EXECUTIVE SUMMARY" in pacs.text  # content is read as well as the summary
    assert "alert(" not in pacs.text  # scripts never reach the text
    assert basta.entry == "tag:cisa.gov,2024:aa24-131a"
    assert basta.published == datetime(2024, 5, 10, 14, 0, tzinfo=UTC)  # from updated
    assert basta.indicators == (
        Indicator(T.URL, "http://moereng.com/x"),
        Indicator(T.IPV4, "66.42.118.54"),
        Indicator(T.HASH, "8ac97ee7a8a1a8b6c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a"),
    )
    assert basta.facts.to_json() == {
        "summary": "Black Basta affiliates have impacted over 500 organizations, including healthcare. Indicators: "
        "hxxp://moereng[.]com/x, 66.42.118[.]54, 8ac97ee7a8a1a8b6c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a."
    }


def test_rss091_with_an_external_dtd_and_latin1() -> None:
    [only] = rss.parse(FEED, (DATA / "rss091_doctype.xml").read_bytes())
    assert only.title == "Avis de sécurité : OpenSSL (CVE-2014-0160)"
    assert only.indicators == (Indicator(T.CVE, "CVE-2014-0160"),)


def test_feed_kind_comes_from_the_feed() -> None:
    feed = make_feed_spec("x", FeedFormat.RSS, FeedKind.COMPROMISE)
    assert {o.kind for o in rss.parse(feed, CERTFR.read_bytes())} == {FeedKind.COMPROMISE}


def test_empty_channel_is_no_entries() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Rien</title></channel></rss>'
    assert rss.parse(FEED, body) == []


def test_through_the_format_table() -> None:
    assert len(parse_feed(FEED, ATOM.read_bytes())) == 2


# -- hostile and broken documents ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["billion_laughs.xml", "xxe_file.xml", "xxe_parameter_entity.xml", "xxe_not_well_formed.xml"]
)
def test_entity_declarations_are_refused(name: str) -> None:
    body = (DATA / name).read_bytes()
    assert b"<!ENTITY" in body
    with pytest.raises(ParseError, match="refused") as caught:
        rss.parse(FEED, body)
    message = str(caught.value)
    assert "certfr-alertes" in message
    assert "entities" in message
    assert "root:" not in message


def test_utf16_xxe_is_refused() -> None:
    body = (DATA / "xxe_file.xml").read_text().replace("UTF-8", "UTF-16").encode("utf-16")
    with pytest.raises(ParseError, match="refused"):
        rss.parse(FEED, body)


def test_html_error_page_is_not_a_feed() -> None:
    with pytest.raises(ParseError, match="not an RSS or Atom feed") as caught:
        rss.parse(FEED, (DATA / "html_error_page.xml").read_bytes())
    # Said in our words: the page's own text (a hostile server's) is never repeated (contract §3, issue #13).
    assert "an HTML page" in str(caught.value) and "502 Bad Gateway" not in str(caught.value)


@pytest.mark.parametrize("body", [(DATA / "empty.xml").read_bytes(), b"  \n\t"])
def test_empty_body(body: bytes) -> None:
    with pytest.raises(ParseError, match="empty"):
        rss.parse(FEED, body)


@pytest.mark.parametrize("body", [b"/etc/passwd", b"http://127.0.0.1:9/feed.xml", b"file:///etc/passwd"])
def test_body_is_never_taken_for_a_file_name_or_url(body: bytes) -> None:
    # feedparser.parse(bytes) would open() a body that names a file; the parser hands it a stream instead
    with pytest.raises(ParseError, match="not an RSS or Atom feed") as caught:
        rss.parse(FEED, body)
    assert "root:" not in str(caught.value)


def test_strip_html() -> None:
    markup = "<p>Un&nbsp;<b>test</b>&amp;\n<script>alert(1)</script><!-- c -->&lt;tag&gt;\x07 fin</p>"
    assert rss.strip_html(markup) == "Un test & <tag> fin"
