"""CSAF 2.0 advisories (CISA ICS Medical Advisories and an IT advisory) and the listings that publish them."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Product, ProductStatus, VersionRange
from alertd.intake.formats import FORMATS, csaf, parse_feed

DATA = SAMPLES / "csaf"
PACS = DATA / "icsma-24-200-01.json"  # Philips Vue PACS, 13 CVEs
BPL = DATA / "icsma-24-254-01.json"  # BPL weighing scale and app: vers:all/* and <=3.64
WEBMETHODS = DATA / "va-24-254-01.json"  # IBM webMethods, a CSAF VEX with a fixed product
FEED = make_feed_spec("csaf", FeedFormat.CSAF)
BASE = "https://example.org/.well-known/csaf/white/index.txt"


def _json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _parse(document: dict[str, Any]) -> list[Observation]:
    return csaf.parse(FEED, json.dumps(document).encode())


def _document(*vulnerabilities: dict[str, Any], **tree: Any) -> dict[str, Any]:
    """A small CSAF document written for a test."""
    return {
        "document": {
            "category": "csaf_security_advisory",
            "csaf_version": "2.0",
            "title": "Test advisory",
            "publisher": {"name": "Test CERT", "category": "coordinator", "namespace": "https://cert.example"},
            "tracking": {"id": "TEST-2024-001", "current_release_date": "2024-05-01T12:00:00Z"},
            "references": [{"category": "external", "url": "https://vendor.example/psirt/1"}],
        },
        "product_tree": tree or {"branches": []},
        "vulnerabilities": list(vulnerabilities),
    }


# -- the real advisories ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PACS, BPL, WEBMETHODS])
def test_one_observation_per_vulnerability(path: Path) -> None:
    data = _json(path)
    advisory = data["document"]["tracking"]["id"]
    expected = [f"{advisory}#{v['cve']}" for v in data["vulnerabilities"]]
    observations = csaf.parse(FEED, path.read_bytes())
    assert [o.entry for o in observations] == expected
    assert [o.indicators for o in observations] == [
        (Indicator(IndicatorType.CVE, v["cve"]),) for v in data["vulnerabilities"]
    ]
    assert all(o.kind is FeedKind.VULNERABILITY and o.feed == "csaf" and not o.exploited for o in observations)


def test_philips_vue_pacs() -> None:
    assert len(_json(PACS)["vulnerabilities"]) == 13
    observations = {o.entry: o for o in csaf.parse(FEED, PACS.read_bytes())}
    assert len(observations) == 13
    pacs = Product("Philips", "Vue PACS", (VersionRange(end_excluding="12.2.8.410"),))  # "<12.2.8.410"
    assert all(o.products == (pacs,) for o in observations.values())
    observation = observations["ICSMA-24-200-01#CVE-2020-11113"]
    assert observation.title == "Philips Vue PACS"
    assert observation.published == datetime(2024, 7, 18, 6, 0, tzinfo=UTC)
    assert observation.link == (
        "https://raw.githubusercontent.com/cisagov/CSAF/develop/csaf_files/OT/white/2024/icsma-24-200-01.json"
    )
    assert observation.text == (
        "Philips Vue PACS A third-party product component deserializes untrusted data without sufficiently "
        "verifying that the resulting data will be valid."
    )
    facts = observation.facts.to_json()
    # The document's summary note ("Risk evaluation"), shared by its 13 vulnerabilities.
    assert facts.pop("summary").startswith("Successful exploitation of these vulnerabilities could allow")
    assert facts.pop("remediation").startswith("Philips recommends the following mitigations:\nFor vulnerabilities")
    assert facts == {
        "cvss": "8.8",
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H",
        "cvss_version": "3.1",
        "advisory": "ICSMA-24-200-01",
        "publisher": "CISA",
        "tlp": "WHITE",
        "cwe": "CWE-502",
    }
    assert observations["ICSMA-24-200-01#CVE-2020-36518"].facts.cvss == "5.3"


def test_bpl_all_versions_and_bounded_range() -> None:
    (observation,) = csaf.parse(FEED, BPL.read_bytes())
    assert observation.products == (
        Product("BPL Medical Technologies", "Be Well Android Application", (VersionRange(end_including="3.64"),)),
        Product("BPL Medical Technologies", "PWS-01-BT"),  # vers:all/*: every version
    )
    assert observation.published == datetime(2024, 9, 10, 6, 0, tzinfo=UTC)
    assert observation.facts.cvss == "4.6"
    assert "version_range" not in observation.facts.to_json()


def test_webmethods_vex() -> None:
    observations = {o.entry: o for o in csaf.parse(FEED, WEBMETHODS.read_bytes())}
    observation = observations["VA-24-254-01#CVE-2024-45076"]
    assert observation.title == (
        "IBM webMethods Integration Multiple Vulnerabilities — IBM webMethods Integration allows arbitrary file "
        "upload and execution"
    )
    # Corefix 14 is listed as fixed; the SSVC note (E:P, proof of concept) is not exploitation.
    assert observation.products == (
        Product("IBM", "webMethods Integration", (VersionRange(exact="10.15"),)),
        Product("IBM", "webMethods Integration", (VersionRange(exact="Corefix 14"),), ProductStatus.FIXED),
    )
    assert not observation.exploited
    assert observation.published == datetime(2024, 9, 10, 20, 8, tzinfo=UTC)
    assert observation.facts.cvss == "9.9"
    assert observation.facts.extra["remediation"] == "Install Corefix 14"  # given twice, kept once
    assert observation.facts.cwe == "CWE-434"
    assert "SSVC" not in observation.text


def test_parse_feed_dispatches_and_format_expands() -> None:
    assert FORMATS[FeedFormat.CSAF].expand is csaf.expand
    assert len(parse_feed(FEED, PACS.read_bytes())) == 13


# -- product trees, scores and threats written for the tests ---------------------------------------------------


def test_product_tree_levels_full_names_and_relationships() -> None:
    tree = {
        "branches": [
            {
                "category": "vendor",
                "name": "Acme Medical",
                "branches": [
                    {
                        "category": "product_family",
                        "name": "Infusion",
                        "branches": [
                            {
                                "category": "product_name",
                                "name": "PumpCtl",
                                "branches": [
                                    {
                                        "category": "architecture",
                                        "name": "arm64",
                                        "branches": [
                                            {
                                                "category": "product_version_range",
                                                "name": "vers:generic/>=1.0|<2.0|>=3.0|<=3.4",
                                                "product": {"name": "PumpCtl arm64", "product_id": "P1"},
                                            }
                                        ],
                                    }
                                ],
                            },
                            {
                                "category": "product_version",
                                "name": "7.1",
                                "product": {"name": "Infusion 7.1", "product_id": "P2"},
                            },
                        ],
                    },
                    {
                        "category": "product_name",
                        "name": "Gateway",
                        "branches": [
                            {
                                "category": "product_version_range",
                                "name": "all releases shipped before the recall",
                                "product": {"name": "Gateway", "product_id": "P3"},
                            }
                        ],
                    },
                ],
            }
        ],
        "full_product_names": [
            {
                "name": "Fortinet FortiOS 7.2.4",
                "product_id": "P4",
                "product_identification_helper": {"cpe": "cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*"},
            },
            {"name": "Some appliance", "product_id": "P5"},  # no vendor: left to the text
        ],
        "relationships": [
            {
                "category": "installed_on",
                "product_reference": "P4",
                "relates_to_product_reference": "P2",
                "full_product_name": {"name": "FortiOS 7.2.4 on Infusion 7.1", "product_id": "P6"},
            }
        ],
    }
    vulnerability = {
        "cve": "CVE-2024-0001",
        "product_status": {
            "known_affected": ["P1", "P3", "P5", "P6", "unknown-id", 7],
            "first_affected": ["P2"],
            "fixed": ["P4"],
        },
    }
    (observation,) = _parse(_document(vulnerability, **tree))
    assert observation.products == (
        Product(
            "Acme Medical",
            "PumpCtl",
            (
                VersionRange(start_including="1.0", end_excluding="2.0"),
                VersionRange(start_including="3.0", end_including="3.4"),
            ),
        ),
        Product("Acme Medical", "Gateway", status=ProductStatus.NAMED),  # a range it cannot read: never affected
        Product("fortinet", "fortios", (VersionRange(exact="7.2.4"),)),
        # first_affected 7.1: the rest of its release line (7.x) is affected too.
        Product("Acme Medical", "Infusion", (VersionRange(start_including="7.1", end_excluding="8"),)),
        Product("fortinet", "fortios", (VersionRange(exact="7.2.4"),), ProductStatus.FIXED),
    )
    assert observation.facts.extra["version_range"] == "Acme Medical Gateway: all releases shipped before the recall"


def test_highest_score_vector_and_no_cve() -> None:
    vulnerability = {
        "title": "Hard-coded credentials",
        "notes": [
            {"category": "description", "text": "The pump\nships with\ta default   password."},
            {"category": "legal_disclaimer", "text": "Not part of the text."},
        ],
        "scores": [
            {"cvss_v2": {"version": "2.0", "baseScore": 9.3, "vectorString": "AV:N/AC:M/Au:N/C:C/I:C/A:C"}},
            {"cvss_v3": {"version": "3.1", "baseScore": 7.1, "vectorString": "CVSS:3.1/AV:A"}},
            {"cvss_v3": {"version": "3.1", "baseScore": "9.9"}},  # not a number: ignored
        ],
        "cwe": {"id": "CWE-798", "name": "Use of Hard-coded Credentials"},
    }
    (observation,) = _parse(_document(vulnerability))
    assert observation.entry == "TEST-2024-001#1"
    assert observation.indicators == ()
    assert observation.title == "Test advisory — Hard-coded credentials"
    assert observation.text == "Test advisory Hard-coded credentials The pump ships with a default password."
    assert observation.link == "https://vendor.example/psirt/1"  # no "self" reference: the first one
    assert observation.published == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert observation.facts.to_json() == {
        "advisory": "TEST-2024-001",
        "publisher": "Test CERT",
        "summary": "The pump ships with a default password.",  # no document summary: the vulnerability's own
        "cvss": "9.3",
        "cvss_vector": "AV:N/AC:M/Au:N/C:C/I:C/A:C",
        "cvss_version": "2.0",
        "cwe": "CWE-798",
    }


@pytest.mark.parametrize(
    ("details", "exploited"),
    [
        ("CISA is aware of reports of active exploitation of this vulnerability.", True),
        ("This vulnerability is being exploited in the wild.", True),
        ("Exploitation: active", True),
        ("No known public exploitation specifically targeting this vulnerability has been reported.", False),
        ("There is no evidence that this vulnerability has been exploited in the wild.", False),
        ("A public proof of concept exists.", False),
    ],
)
def test_exploit_status_threat(details: str, exploited: bool) -> None:
    vulnerability = {"cve": "CVE-2024-0002", "threats": [{"category": "exploit_status", "details": details}]}
    assert _parse(_document(vulnerability))[0].exploited is exploited
    vulnerability["threats"] = [{"category": "impact", "details": details}]
    assert _parse(_document(vulnerability))[0].exploited is False


def test_ssvc_active_exploitation_note() -> None:
    note = {"category": "details", "title": "SSVC", "text": "SSVCv2/E:A/A:Y/T:T/2024-09-10T17:02:15Z/"}
    assert _parse(_document({"cve": "CVE-2024-0003", "notes": [note]}))[0].exploited


def test_unsafe_links_are_not_kept() -> None:
    document = _document({"cve": "CVE-2024-0004"})
    document["document"]["references"] = [
        {"category": "self", "url": "javascript:alert(1)"},
        {"category": "external", "url": "https://vendor.example/advisory"},
    ]
    assert _parse(document)[0].link == "https://vendor.example/advisory"


def test_informational_advisory_has_nothing_to_match() -> None:
    document = _document()
    document["document"]["category"] = "csaf_informational_advisory"
    del document["vulnerabilities"], document["product_tree"]
    assert _parse(document) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("vers:generic/<=10.5.1", (VersionRange(end_including="10.5.1"),)),
        ("vers:generic/>=1.0|<2.0", (VersionRange(start_including="1.0", end_excluding="2.0"),)),
        ("vers:generic/1.0|2.0", (VersionRange(exact="1.0"), VersionRange(exact="2.0"))),
        ("vers:semver/>1.0|!=1.5|<2.0", (VersionRange(start_excluding="1.0", end_excluding="2.0"),)),
        ("vers:generic/>=4.0", (VersionRange(start_including="4.0"),)),
        ("vers:all/*", ()),
        ("All versions", ()),
        ("<=4.2", (VersionRange(end_including="4.2"),)),
        ("<12.2.8.410", (VersionRange(end_excluding="12.2.8.410"),)),
        (">=1.0, <2.0", (VersionRange(start_including="1.0", end_excluding="2.0"),)),
        ("4.2 and prior", (VersionRange(end_including="4.2"),)),
        ("versions prior to 4.2", (VersionRange(end_excluding="4.2"),)),
        ("3.1 and later", (VersionRange(start_including="3.1"),)),
        ("2.0 to 2.4", (VersionRange(start_including="2.0", end_including="2.4"),)),
        ("R2.1b", (VersionRange(exact="R2.1b"),)),
        ("vers:generic", None),
        ("vers:generic/<=bad version", None),
        ("the ones sold in 2019", None),
    ],
)
def test_read_range(text: str, expected: tuple[VersionRange, ...] | None) -> None:
    assert csaf.read_range(text) == expected


# -- errors and hostile input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (PACS.read_bytes()[:20000], "not valid JSON"),
        (b"2024/icsma-24-200-01.json\n", "not valid JSON"),
        (b'{"vulnerabilities": []}', "no 'document' object"),
        (b'{"document": "x"}', "no 'document' object"),
        (b'{"feed": {"entry": []}}', "ROLIE feed"),
        (b"[1, 2]", "no 'document' object"),
        (b'{"document": {"title": "x"}, "vulnerabilities": []}', "no 'document.tracking.id'"),
        (b'{"document": {"tracking": {"id": "X-1"}}, "vulnerabilities": {}}', "lacks a 'vulnerabilities' list"),
        (b'{"document": {"tracking": {"id": "X-1"}}, "product_tree": [], "vulnerabilities": []}', "'product_tree'"),
        (b'{"document": {"tracking": {"id": "X-1"}}, "product_tree": {}}', "lacks a 'vulnerabilities' list"),
        (b'{"document": ' * 50_000 + b"}" * 50_000, "nests JSON too deeply"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        csaf.parse(FEED, body)
    assert "'csaf'" in str(caught.value)


def test_bom_is_accepted() -> None:
    assert len(csaf.parse(FEED, b"\xef\xbb\xbf" + PACS.read_bytes())) == 13


def test_long_strings_are_capped() -> None:
    vulnerability = {
        "cve": "CVE-2024-0005",
        "title": "T" * 100_000,
        "notes": [{"category": "summary", "text": "word " * 100_000}],
        "remediations": [{"details": "patch " * 100_000}, {"details": "again " * 100_000}],
        "product_status": {"known_affected": ["P1"]},
    }
    tree = {
        "branches": [
            {
                "category": "vendor",
                "name": "V" * 100_000,
                "branches": [{"category": "product_version", "name": "1" * 100_000, "product": {"product_id": "P1"}}],
            }
        ]
    }
    (observation,) = _parse(_document(vulnerability, **tree))
    assert len(observation.text) <= csaf.MAX_TEXT
    assert len(observation.title) <= 2 * csaf.MAX_FIELD + 10
    assert len(observation.facts.extra["remediation"]) <= csaf.MAX_REMEDIATION
    (product,) = observation.products
    assert len(product.vendor) <= csaf.MAX_FIELD and product.versions == ()


def test_deep_product_tree_is_cut_not_fatal() -> None:
    branch: dict[str, Any] = {"category": "product_version", "name": "1", "product": {"product_id": "deep"}}
    for _ in range(200):
        branch = {"category": "product_family", "name": "f", "branches": [branch]}
    tree = {"branches": [{"category": "vendor", "name": "V", "branches": [branch]}]}
    (observation,) = _parse(_document({"cve": "CVE-2024-0006", "product_status": {"known_affected": ["deep"]}}, **tree))
    assert observation.products == ()


def _mutations(value: Any) -> Iterator[Any]:
    """Copies of ``value`` with one node replaced by a value of the wrong type, for every node."""
    wrong: list[Any] = [None, 7, "x", [], {}, True, [None], {"x": None}]
    if isinstance(value, dict):
        for key in value:
            for other in wrong:
                yield {**value, key: other}
            for mutated in _mutations(value[key]):
                yield {**value, key: mutated}
    elif isinstance(value, list):
        for i, item in enumerate(value[:3]):
            for mutated in _mutations(item):
                yield [*value[:i], mutated, *value[i + 1 :]]


def test_no_wrong_type_in_a_vulnerability_or_the_tree_raises() -> None:
    data = _json(WEBMETHODS)
    count = 0
    for part in ("vulnerabilities", "product_tree"):
        for mutated in _mutations(data[part]):
            document = copy.copy(data)
            document[part] = mutated
            count += 1
            try:
                observations = _parse(document)
            except ParseError:
                assert not isinstance(mutated, list if part == "vulnerabilities" else dict)
                continue
            for observation in observations:
                assert all(isinstance(v, str) for v in observation.facts.to_json().values())
    assert count > 500


# -- expand: index.txt, changes.csv, ROLIE ---------------------------------------------------------------------


def test_expand_index_txt() -> None:
    body = b"\n".join(
        [
            b"# CSAF index",
            b"2023/icsma-23-001-01.json",
            b"",
            b"2024/icsma-24-200-01.json",
            b"2024/icsma-24-254-01.json",
            b"2024/icsma-24-254-01.json.sha512",  # not a document
            b"https://example.org/.well-known/csaf/white/2022/va-22-001-01.json",  # absolute, same scheme
            b"http://example.org/2024/downgraded.json",  # another scheme
            b"ftp://example.org/2024/other.json",
            b"../../private/2024/secret.json",  # climbs out of the directory
            b"2024/%2e%2e/%2E%2E/secret.json",
            b"/etc/2024/rooted.json",
            b"//evil.example/2024/elsewhere.json",
            b"2024/with space.json",
            b"2024/icsma-24-200-01.json",  # twice
        ]
    )
    assert csaf.expand(FEED, body.replace(b"\n", b"\r\n"), BASE) == [
        "https://example.org/.well-known/csaf/white/2024/icsma-24-254-01.json",
        "https://example.org/.well-known/csaf/white/2024/icsma-24-200-01.json",
        "https://example.org/.well-known/csaf/white/2023/icsma-23-001-01.json",
        "https://example.org/.well-known/csaf/white/2022/va-22-001-01.json",
    ]


def test_expand_index_txt_without_year_folders_keeps_its_order() -> None:
    body = b"b.json\na.json\nnot-json.txt\n"
    assert csaf.expand(FEED, body, "file:///srv/csaf/index.txt") == [
        "file:///srv/csaf/b.json",
        "file:///srv/csaf/a.json",
    ]


def test_expand_changes_csv_newest_first() -> None:
    body = (
        b'"2024/icsma-24-200-01.json","2024-07-18T06:00:00Z"\n'
        b'"2024/icsma-24-254-01.json","2024-09-10T06:00:00Z"\n'
        b'"2023/old.json","2023-01-02T00:00:00Z"\n'
    )
    assert csaf.expand(FEED, body, "https://example.org/csaf/changes.csv") == [
        "https://example.org/csaf/2024/icsma-24-254-01.json",
        "https://example.org/csaf/2024/icsma-24-200-01.json",
        "https://example.org/csaf/2023/old.json",
    ]


def test_expand_rolie_feed() -> None:
    rolie = {
        "feed": {
            "id": "cisa-csaf-white",
            "title": "CISA CSAF TLP:WHITE",
            "link": [{"rel": "self", "href": "https://example.org/csaf/white-feed.json"}],
            "entry": [
                {
                    "id": "ICSMA-24-200-01",
                    "updated": "2024-07-18T06:00:00Z",
                    "link": [{"rel": "self", "href": "https://example.org/csaf/2024/icsma-24-200-01.json"}],
                },
                {
                    "id": "ICSMA-24-254-01",
                    "updated": "2024-09-10T06:00:00Z",
                    "content": {"type": "application/json", "src": "2024/icsma-24-254-01.json"},
                    "link": [
                        {"rel": "self", "href": "https://example.org/csaf/2024/icsma-24-254-01.json"},
                        {"rel": "hash", "href": "https://example.org/csaf/2024/icsma-24-254-01.json.sha512"},
                    ],
                },
                {"id": "escape", "updated": "2024-10-01T00:00:00Z", "content": {"src": "../secret/2024/x.json"}},
                {
                    "id": "plain-http",
                    "updated": "2024-10-01T00:00:00Z",
                    "content": {"src": "http://example.org/x.json"},
                },
                {"id": "signature", "content": {"src": "2024/icsma-24-254-01.json.asc"}},
                {"id": "no-link"},
                "not an entry",
            ],
        }
    }
    assert csaf.expand(FEED, json.dumps(rolie).encode(), "https://example.org/csaf/white-feed.json") == [
        "https://example.org/csaf/2024/icsma-24-254-01.json",
        "https://example.org/csaf/2024/icsma-24-200-01.json",
    ]


def test_expand_caps_the_number_of_documents() -> None:
    body = "\n".join(f"2024/doc-{i:05}.json" for i in range(5000)).encode()
    urls = csaf.expand(FEED, body, BASE)
    # One more than the poll reads: it tells the index went on, so nothing past the first 2,000 is resolved.
    assert urls is not None and len(urls) == csaf.MAX_DOCUMENTS + 1
    assert urls[0].endswith("/2024/doc-04999.json")


@pytest.mark.parametrize(
    "body",
    [
        PACS.read_bytes(),
        WEBMETHODS.read_bytes(),
        PACS.read_bytes()[:1000],  # truncated: parse says what is wrong
        b'{"document": {}}',
        b"<html><body>Not found</body></html>",
        b"",
        b"\xff\xfe",
    ],
)
def test_expand_returns_none_for_a_document(body: bytes) -> None:
    assert csaf.expand(FEED, body, BASE) is None
