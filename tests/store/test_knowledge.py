"""The vulnerability knowledge: what each source said of each CVE, kept across feeds and polls, on a real SQLite file.

The catalogues are real ones (KEV of 2023-04-10 and of 2025-08-25, an NVD 1.1 "recent" file of 2019), read by the
feed parsers as a poll would.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest
from builders import CVE, IPV4, make_feed_spec
from paths import DATA

from alertd.domain.facts import Facts
from alertd.domain.feeds import FeedFormat
from alertd.domain.knowledge import EPSS, Statement
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Product, ProductStatus, VersionRange
from alertd.intake.formats import parse_feed
from alertd.store.codecs import observation_from_json, statement_from_json, statement_to_json
from alertd.store.sqlite import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEV_2023 = DATA / "kev" / "known_exploited_vulnerabilities_2023-04-10_crlf.json"
KEV_2025 = DATA / "kev" / "known_exploited_vulnerabilities.json"
NVD_2019 = DATA / "nvd" / "nvdcve-1.1-recent_2019-09-26.json"
CITRIX = Product("citrix", "netscaler_adc", (VersionRange(start_including="13.1", end_excluding="13.1-49.15"),))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "alertd.sqlite3")
    yield store
    store.close()


def read(feed: str, fmt: FeedFormat, path: Path) -> list[Observation]:
    return parse_feed(make_feed_spec(feed, fmt), path.read_bytes())


def cves(observations: list[Observation]) -> set[str]:
    return {i.value for o in observations for i in o.indicators if i.type is IndicatorType.CVE}


def entry(feed: str, name: str, *indicators: Indicator, **more: object) -> Observation:
    return Observation(feed, name, FeedKind.VULNERABILITY, name, indicators, **more)  # type: ignore[arg-type]


def test_knowledge_accumulates_across_feeds_and_polls(store: Store) -> None:
    kev_2023 = read("cisa-kev", FeedFormat.CISA_KEV, KEV_2023)
    kev_2025 = read("cisa-kev", FeedFormat.CISA_KEV, KEV_2025)
    nvd = read("nvd", FeedFormat.NVD_JSON, NVD_2019)

    # First poll of each feed: every CVE it says something of is news.
    assert store.save_observations("cisa-kev", kev_2023, NOW).knowledge_changed == cves(kev_2023)
    assert len(cves(kev_2023)) == 913
    saying = [o for o in nvd if Statement.of(o).says_something]
    assert len(saying) == 378  # the CVEs with CPE configurations; the others name nothing yet
    assert store.save_observations("nvd", nvd, NOW).knowledge_changed == cves(saying)

    # The next day's catalogue: new CVEs, and entries whose statement changed (a product renamed, say), are
    # news; the two entries CISA removed since are delisted, and what they said is kept.
    later = NOW + timedelta(days=1)
    before = {o.entry: Statement.of(o) for o in kev_2023}
    delta = store.save_observations("cisa-kev", kev_2025, later)
    assert delta.delisted == 2
    assert delta.knowledge_changed == {o.entry for o in kev_2025 if before.get(o.entry) != Statement.of(o)}
    assert cves(kev_2025) - cves(kev_2023) <= delta.knowledge_changed
    gone = cves(kev_2023) - cves(kev_2025)
    assert gone == {"CVE-2022-28958", "CVE-2022-31460"}
    assert set(store.knowledge(gone)) == gone
    # The same catalogue polled again changes nothing.
    assert store.save_observations("cisa-kev", kev_2025, later + timedelta(hours=1)).knowledge_changed == frozenset()

    # A CVE both feeds speak of has both statements: exploited from KEV, products and score from NVD.
    (kev_says, nvd_says) = store.knowledge(["CVE-2019-1367"])["CVE-2019-1367"]
    assert (kev_says.feed, kev_says.exploited, kev_says.products[0].product) == ("cisa-kev", True, "Internet Explorer")
    assert (nvd_says.feed, nvd_says.exploited, nvd_says.cvss) == ("nvd", False, "7.5")
    assert nvd_says.products[0] == Product(
        "microsoft",
        "internet explorer",
        (VersionRange("10"),),
        running_on=(Product("microsoft", "windows server 2012", status=ProductStatus.NAMED),),
    )
    everything = store.knowledge()
    assert len(everything) == len(cves(kev_2023) | cves(kev_2025) | cves(saying))
    assert sum(map(len, everything.values())) == len(everything) + len(cves(kev_2023 + kev_2025) & cves(saying))
    assert store.knowledge([]) == {}
    assert store.knowledge(["CVE-1999-0001"]) == {}


def test_what_an_entry_says_of_each_cve_it_cites(store: Store) -> None:
    other = Indicator(IndicatorType.CVE, "CVE-2023-4967")
    scored = entry("nvd", "CVE-2023-4966", CVE, other, products=(CITRIX,), facts=Facts(cvss="9.4"))
    bare = entry("certfr", "CERTFR-2023-AVI-0001", CVE)  # cites the CVE, says nothing of it
    blocklisted = entry("feodo", "feodo:147.210.1.5", IPV4)
    epss = entry("epss", "CVE-2023-4966", CVE, facts=Facts(extra=MappingProxyType({EPSS: "0.94"})))
    assert store.save_observations("nvd", [scored, scored], NOW).knowledge_changed == {CVE.value, other.value}
    assert store.save_observations("certfr", [bare], NOW).knowledge_changed == frozenset()
    assert store.save_observations("feodo", [blocklisted], NOW).knowledge_changed == frozenset()
    assert store.save_observations("epss", [epss], NOW).knowledge_changed == {CVE.value}
    assert store.knowledge([CVE.value, other.value]) == {
        CVE.value: [
            Statement("epss", "CVE-2023-4966", epss="0.94"),
            Statement("nvd", "CVE-2023-4966", (CITRIX,), cvss="9.4"),
        ],
        other.value: [Statement("nvd", "CVE-2023-4966", (CITRIX,), cvss="9.4")],
    }
    assert store.cve_products() == {CVE.value: [CITRIX], other.value: [CITRIX]}
    # The next day's probability is news; the row says when its source last said something new.
    assert store.save_observations("epss", [epss], NOW).knowledge_changed == frozenset()
    tomorrow = entry("epss", "CVE-2023-4966", CVE, facts=Facts(extra=MappingProxyType({EPSS: "0.95"})))
    assert store.save_observations("epss", [tomorrow], NOW + timedelta(days=1)).knowledge_changed == {CVE.value}
    assert [row[0] for row in store.db.execute("SELECT updated FROM knowledge WHERE feed = 'epss'")] == [
        "2026-11-29T12:00:00.000000+00:00"
    ]


def test_a_delisted_entry_keeps_what_it_said(store: Store) -> None:
    fixed = Product("citrix", "netscaler_adc", (VersionRange(exact="13.1-49.15"),), ProductStatus.FIXED)
    advisory = entry("vendor", "CTX579459", CVE, products=(fixed,))
    store.save_observations("vendor", [advisory], NOW)
    delta = store.save_observations("vendor", [], NOW + timedelta(days=1))
    assert (delta.delisted, delta.knowledge_changed) == (1, frozenset())
    assert store.knowledge() == {CVE.value: [Statement("vendor", "CTX579459", (fixed,))]}
    assert store.listed_bodies() == {}
    # Listed again as it was: nothing new is known.
    assert store.save_observations("vendor", [advisory], NOW + timedelta(days=2)).knowledge_changed == frozenset()


def test_the_listed_entries_citing_cves_are_found_in_every_other_feed(store: Store) -> None:
    other = Indicator(IndicatorType.CVE, "CVE-2023-4967")
    kev = entry("cisa-kev", "CVE-2023-4966", CVE, exploited=True)
    advisory = entry("certfr", "CERTFR-2023-AVI-0001", other, CVE)
    older = entry("certfr", "CERTFR-2023-AVI-0000", CVE)
    elsewhere = entry("certfr", "CERTFR-2023-AVI-0002", Indicator(IndicatorType.CVE, "CVE-2024-0001"))
    blocklisted = entry("feodo", "feodo:147.210.1.5", IPV4, text="seen exploiting CVE-2023-4966")
    store.save_observations("cisa-kev", [kev], NOW)
    store.save_observations("certfr", [older], NOW)
    store.save_observations("certfr", [advisory, elsewhere], NOW)  # the older advisory is delisted
    store.save_observations("feodo", [blocklisted], NOW)
    citing = store.listed_citing([CVE.value], exclude_feed="cisa-kev")
    assert {feed: [observation_from_json(b) for b in bodies] for feed, bodies in citing.items()} == {
        "certfr": [advisory]
    }
    assert set(store.listed_citing([CVE.value, "CVE-2024-0001"])) == {"cisa-kev", "certfr"}
    assert len(store.listed_citing([CVE.value, "CVE-2024-0001"])["certfr"]) == 2
    assert store.listed_citing([]) == {}
    assert store.listed_citing(["CVE-1999-0001"]) == {}


def test_a_statement_is_stored_as_the_same_text_and_read_back_equal() -> None:
    platform = Product("microsoft", "windows", (VersionRange(exact="10"),), ProductStatus.NAMED)
    edition = Product("adobe", "experience_manager", (), ProductStatus.AFFECTED, "aem_cloud_service", None, (platform,))
    statement = Statement("nvd", "CVE-2024-0001", (CITRIX, edition), exploited=True, cvss="9.8", epss="0.5")
    text = statement_to_json(statement)
    assert statement_from_json("nvd", "CVE-2024-0001", text) == statement
    assert statement_to_json(statement_from_json("nvd", "CVE-2024-0001", text)) == text
    assert statement_to_json(Statement("kev", "CVE-2024-0001", exploited=True)) == (
        '{"cvss": null, "epss": null, "exploited": true, "products": []}'
    )
