"""The CISA KEV catalog: both published layouts, read from the real samples."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Product, ProductStatus
from alertd.intake.formats import kev, parse_feed

DATA = SAMPLES / "kev"
CURRENT = DATA / "known_exploited_vulnerabilities.json"
OLD_CRLF = DATA / "known_exploited_vulnerabilities_2023-04-10_crlf.json"
FEED = make_feed_spec("cisa-kev", FeedFormat.CISA_KEV)


def _catalog(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        vulnerabilities: list[dict[str, Any]] = json.load(f)["vulnerabilities"]
    return vulnerabilities


def test_current_catalog_one_observation_per_vulnerability() -> None:
    expected = _catalog(CURRENT)
    assert len(expected) == 1404
    observations = kev.parse(FEED, CURRENT.read_bytes())
    assert len(observations) == len(expected)
    assert [o.entry for o in observations] == [v["cveID"] for v in expected]


def test_current_catalog_first_entry() -> None:
    first = kev.parse(FEED, CURRENT.read_bytes())[0]
    assert first.feed == "cisa-kev"
    assert first.entry == "CVE-2025-48384"
    assert first.kind is FeedKind.VULNERABILITY
    assert first.title == "Git Link Following Vulnerability"
    assert first.indicators == (Indicator(IndicatorType.CVE, "CVE-2025-48384"),)
    assert first.products == (Product("Git", "Git", status=ProductStatus.NAMED),)  # KEV names no version
    assert first.text.startswith("Git contains a link following vulnerability that stems from Git\u2019s")
    assert first.link == "https://nvd.nist.gov/vuln/detail/CVE-2025-48384"
    assert first.published == datetime(2025, 8, 25, tzinfo=UTC)
    assert first.facts.extra["vendor"] == "Git"
    assert first.facts.extra["product"] == "Git"
    assert first.facts.date_added == "2025-08-25"
    assert first.facts.due_date == "2025-09-15"
    assert (first.facts.required_action or "").startswith("Apply mitigations per vendor instructions")
    assert first.facts.ransomware == "Unknown"
    assert "https://github.com/git/git/security/advisories/GHSA-vwqx-4fm8-6qc9" in (first.facts.notes or "")
    assert (first.facts.cwes or "").startswith("CWE-59")
    assert all(isinstance(v, str) for v in first.facts.to_json().values())


def test_current_catalog_last_entry_and_ransomware_use() -> None:
    expected = _catalog(CURRENT)
    observations = kev.parse(FEED, CURRENT.read_bytes())
    last = observations[-1]
    assert last.entry == expected[-1]["cveID"] == "CVE-2020-29583"
    assert last.products == (
        Product(expected[-1]["vendorProject"], expected[-1]["product"], status=ProductStatus.NAMED),
    )
    known = sum(1 for v in expected if v["knownRansomwareCampaignUse"] == "Known")
    assert known > 0
    assert sum(1 for o in observations if o.facts.ransomware == "Known") == known


def test_2023_crlf_layout_without_ransomware_or_cwes() -> None:
    body = OLD_CRLF.read_bytes()
    assert b"\r\n" in body  # the sample must keep CISA's CRLF line endings to test them
    expected = _catalog(OLD_CRLF)
    assert len(expected) == 913
    observations = kev.parse(FEED, body)
    assert len(observations) == 913
    first = observations[0]
    assert first.entry == "CVE-2021-27104"
    assert first.title == "Accellion FTA OS Command Injection Vulnerability"
    assert first.products == (Product("Accellion", "FTA", status=ProductStatus.NAMED),)
    assert first.published == datetime(2021, 11, 3, tzinfo=UTC)
    assert first.facts.ransomware == "Unknown"
    assert first.facts.notes == ""
    assert "cwes" not in first.facts.to_json()
    assert observations[-1].entry == expected[-1]["cveID"] == "CVE-2023-28206"
    assert {o.facts.ransomware for o in observations} == {"Unknown"}


def test_parse_is_stable_across_polls() -> None:
    body = CURRENT.read_bytes()
    assert kev.parse(FEED, body) == kev.parse(FEED, body)


def test_through_the_format_table() -> None:
    assert len(parse_feed(FEED, OLD_CRLF.read_bytes())) == 913


def test_bom_is_accepted() -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"vulnerabilities": [{"cveID": "CVE-2024-0001"}]}).encode()
    [only] = kev.parse(FEED, body)
    assert only.entry == "CVE-2024-0001"
    assert only.title == "CVE-2024-0001"  # no vulnerabilityName: the CVE id stands in
    assert only.products == ()
    assert only.published is None
    assert only.facts.ransomware == "Unknown"


def test_entry_without_cve_id_is_skipped_not_fatal() -> None:
    catalog = {
        "vulnerabilities": [
            {"vendorProject": "X", "product": "Y"},
            {"cveID": None},
            {"cveID": "not-a-cve"},
            "not an object",
            {"cveID": "cve-2024-21762", "vendorProject": "Fortinet", "product": "FortiOS", "dateAdded": "bad"},
            {"cveID": "CVE-2024-21762", "vendorProject": "Fortinet", "product": "FortiOS"},
        ]
    }
    observations = kev.parse(FEED, json.dumps(catalog).encode())
    assert [o.entry for o in observations] == ["CVE-2024-21762"]
    assert observations[0].published is None


def test_feed_kind_comes_from_the_feed() -> None:
    feed = make_feed_spec("k", FeedFormat.CISA_KEV, FeedKind.ADVISORY)
    body = json.dumps({"vulnerabilities": [{"cveID": "CVE-2024-0001"}]}).encode()
    assert kev.parse(feed, body)[0].kind is FeedKind.ADVISORY


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not valid JSON"),
        (b"<html><body>502 Bad Gateway</body></html>", "not valid JSON"),
        (b'{"vulnerabilities": [', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"title": "CISA Catalog"}', "no 'vulnerabilities' list"),
        (b'{"vulnerabilities": {"cveID": "CVE-2024-0001"}}', "no 'vulnerabilities' list"),
        (b"[1, 2, 3]", "no 'vulnerabilities' list"),
    ],
)
def test_bad_documents_raise_parse_error(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        kev.parse(FEED, body)
    assert "cisa-kev" in str(caught.value)


def test_deeply_nested_json_is_refused_cleanly() -> None:
    hostile = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ParseError, match="nests JSON too deeply"):
        kev.parse(FEED, hostile)


def test_2026_catalog_names_every_product_without_versions() -> None:
    path = DATA / "kev_2026-08-07.json"
    expected = _catalog(path)
    assert len(expected) == 1662
    observations = kev.parse(FEED, path.read_bytes())
    assert [o.entry for o in observations] == [v["cveID"] for v in expected]
    assert [o.products for o in observations] == [
        # stripped: the catalogue writes "SimpleHelp " once
        (Product(v["vendorProject"].strip(), v["product"].strip(), status=ProductStatus.NAMED),)
        for v in expected
    ]
    assert all(o.exploited for o in observations)
