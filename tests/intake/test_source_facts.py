"""What the sources say in their own words reaches the findings: a host's status and last activity (CSV), an
advisory's summary (RSS, CSAF, KEV) and topic (RSS)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from builders import make_feed_spec
from paths import DATA, ROOT

from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind
from alertd.intake.formats import csaf, csvfeed, fields, kev, rss

FEODO_2021 = DATA / "abusech" / "feodotracker_ipblocklist_2021-12-20.csv"
FEODO_COLUMNS = {
    "ip": "dst_ip",
    "port": "dst_port",
    "first_seen": "first_seen_utc",
    "malware": "malware",
    "status": "c2_status",
    "last_seen": "last_online",
}
CERTFR_EXAMPLE = ROOT / "config" / "feeds" / "certfr-alertes.xml"  # the example configuration's feed
RSS_FEED = make_feed_spec("certfr-alertes", FeedFormat.RSS)


# -- CSV: status and last activity ----------------------------------------------------------------------------


def test_feodo_status_and_last_online_land_in_their_fields() -> None:
    observations = csvfeed.parse(
        make_feed_spec("feodo", FeedFormat.CSV, columns=FEODO_COLUMNS), FEODO_2021.read_bytes()
    )
    by_ip = {o.indicators[0].value: o for o in observations}
    online, offline = by_ip["51.178.161.32"], by_ip["217.79.184.243"]
    assert (online.facts.status, online.facts.last_seen) == ("online", "2021-12-20")
    assert (offline.facts.status, offline.facts.last_seen) == ("offline", "2021-12-01")
    # The source's first-seen date stays the observation's date, not a fact.
    assert offline.published == datetime(2021, 1, 17, 7, 45, 58, tzinfo=UTC)
    assert offline.facts.first_seen is None
    assert not offline.facts.extra
    assert {o.facts.status for o in observations} == {"online", "offline"}


# -- RSS: summary and topic ------------------------------------------------------------------------------------


def test_certfr_example_bulletins_keep_their_words_and_the_phishing_one_its_topic() -> None:
    bulletins = {o.entry: o for o in rss.parse(RSS_FEED, CERTFR_EXAMPLE.read_bytes())}
    fortinet, phishing, ivanti = (
        bulletins["CERTFR-2024-ALE-004"],
        bulletins["CERTFR-2024-ALE-005"],
        bulletins["CERTFR-2024-ALE-001"],
    )
    assert phishing.facts.topic == "phishing"
    assert phishing.facts.summary is not None
    assert phishing.facts.summary.startswith("Une campagne d'hameçonnage usurpe l'identité du Centre Hospitalier")
    assert "<p>" not in phishing.facts.summary and "\n" not in phishing.facts.summary
    assert fortinet.facts.topic is None and ivanti.facts.topic is None
    assert fortinet.facts.summary is not None and "CVE-2024-21762" in fortinet.facts.summary
    assert ivanti.facts.summary == (
        "Deux vulnérabilités (CVE-2023-46805 et CVE-2024-21887) affectent Ivanti Connect Secure et Ivanti Policy "
        "Secure. Elles sont exploitées de manière chaînée."
    )


def test_a_topic_only_for_advisories() -> None:
    leak_feed = make_feed_spec("leaks-rss", FeedFormat.RSS, kind=FeedKind.LEAK)
    observations = rss.parse(leak_feed, CERTFR_EXAMPLE.read_bytes())
    assert all(o.facts.topic is None for o in observations)
    assert all(o.facts.summary for o in observations)  # the summary is the entry's, whatever the kind


def test_atom_summary() -> None:
    entries = rss.parse(RSS_FEED, (DATA / "rss" / "cisa_advisories_atom.xml").read_bytes())
    assert all(o.facts.summary for o in entries)
    assert entries[0].facts.summary == (
        "Successful exploitation of these vulnerabilities could allow an attacker to access, modify or disable data "
        "(CVE-2023-40704, CVE-2023-40539)."
    )
    assert all(o.facts.topic is None for o in entries)


def test_summary_is_bounded_before_any_expression_reads_it() -> None:
    # 100,000 characters of markup: the summary is cut at a word, and an opened tag the cut left is not text.
    markup = "<p>" + "mot " * 25_000 + "</p>"
    summary = rss.summary_text(markup)
    assert len(summary) <= fields.MAX_SUMMARY
    assert summary.endswith("mot…")
    cut_in_a_tag = "a" * (rss.MAX_SUMMARY_MARKUP - 10) + '<a href="https://example.org/very/long">x</a>'
    assert "href" not in rss.summary_text(cut_in_a_tag)


def test_long_entry_summary_is_cut() -> None:
    description = "Une campagne d'hameçonnage vise les hôpitaux. " + "Détail. " * 2000
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>Alerte</title>'
        f"<guid>X-1</guid><description>{description}</description></item></channel></rss>"
    ).encode()
    (observation,) = rss.parse(RSS_FEED, body)
    assert observation.facts.summary is not None
    assert len(observation.facts.summary) <= fields.MAX_SUMMARY
    assert observation.facts.topic == "phishing"


# -- CSAF and KEV: summary ---------------------------------------------------------------------------------------


def test_csaf_document_summary() -> None:
    feed = make_feed_spec("cisco-csaf", FeedFormat.CSAF)
    (observation,) = csaf.parse(feed, (DATA / "csaf" / "cisco-sa-20180328-smi2.json").read_bytes())
    assert observation.facts.summary is not None
    assert observation.facts.summary.startswith("A vulnerability in the Smart Install feature of Cisco IOS Software")
    assert len(observation.facts.summary) <= fields.MAX_SUMMARY
    assert observation.facts.topic is None  # a vulnerability feed: no topic is looked for


def test_csaf_advisory_feed_gets_a_topic_only_when_it_has_one() -> None:
    feed = make_feed_spec("icsma", FeedFormat.CSAF, kind=FeedKind.ADVISORY)
    observations = csaf.parse(feed, (DATA / "csaf" / "icsma-24-254-01.json").read_bytes())
    assert all(o.facts.summary for o in observations)
    assert all(o.facts.topic is None for o in observations)


def test_kev_short_description_is_the_summary() -> None:
    body = (DATA / "kev" / "known_exploited_vulnerabilities.json").read_bytes()
    described = {v["cveID"]: v["shortDescription"] for v in json.loads(body)["vulnerabilities"]}
    observations = kev.parse(make_feed_spec("cisa-kev", FeedFormat.CISA_KEV), body)
    for observation in observations[:50]:
        assert observation.facts.summary == fields.summary(described[observation.entry])
    assert all(o.facts.summary for o in observations)
