"""NVD CVE data: the 1.1 feed file and an API 2.0 page, read from the real samples."""

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
from alertd.intake.formats import nvd, parse_feed

DATA = SAMPLES / "nvd"
V11 = DATA / "nvdcve-1.1-recent_2019-09-26.json"
V20 = DATA / "nvd-api-2.0_cves_page_2023-10-18.json"
FEED = make_feed_spec("nvd", FeedFormat.NVD_JSON)


def _json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _by_entry(observations: list[Observation]) -> dict[str, Observation]:
    return {o.entry: o for o in observations}


def _vulnerable_cpes(nodes: list[dict[str, Any]], key: str, cpe_key: str) -> Iterator[str]:
    for node in nodes:
        for match in node.get(key, []):
            if match["vulnerable"]:
                yield match[cpe_key]
        yield from _vulnerable_cpes(node.get("children", []), key, cpe_key)


def _page(*records: Any) -> bytes:
    return json.dumps({"resultsPerPage": len(records), "format": "NVD_CVE", "vulnerabilities": list(records)}).encode()


# -- the 1.1 feed file -----------------------------------------------------------------------------------------


def test_v11_one_observation_per_cve() -> None:
    items = _json(V11)["CVE_Items"]
    ids = [i["cve"]["CVE_data_meta"]["ID"] for i in items]
    with_configurations = [i for i in items if i["configurations"]["nodes"]]
    with_vulnerable = {
        i["cve"]["CVE_data_meta"]["ID"]
        for i in items
        if any(True for _ in _vulnerable_cpes(i["configurations"]["nodes"], "cpe_match", "cpe23Uri"))
    }
    assert (len(ids), len(with_configurations)) == (463, 378)

    observations = nvd.parse(FEED, V11.read_bytes())
    assert [o.entry for o in observations] == ids
    assert {o.entry for o in observations if o.products} == with_vulnerable
    assert all(o.indicators == (Indicator(IndicatorType.CVE, o.entry),) for o in observations)
    assert all(o.kind is FeedKind.VULNERABILITY and o.feed == "nvd" and not o.exploited for o in observations)
    assert all(o.published is not None and o.published.tzinfo is UTC for o in observations)


def test_v11_file_is_crlf_and_reads_the_same_as_lf() -> None:
    body = V11.read_bytes()
    assert body.count(b"\r\n") > 1000 and body.count(b"\n") == body.count(b"\r\n")
    assert nvd.parse(FEED, body) == nvd.parse(FEED, body.replace(b"\r\n", b"\n"))


def test_v11_children_nodes_give_the_vulnerable_product_running_on_its_platform() -> None:
    # An AND node: asuswrt-merlin (vulnerable) running on the RT-AC68U router (not vulnerable).
    item = next(i for i in _json(V11)["CVE_Items"] if i["cve"]["CVE_data_meta"]["ID"] == "CVE-2018-20336")
    assert "children" in item["configurations"]["nodes"][0]
    observation = _by_entry(nvd.parse(FEED, V11.read_bytes()))["CVE-2018-20336"]
    router = Product("asus", "rt-ac68u", status=ProductStatus.NAMED)
    assert observation.products == (
        Product("asus", "asuswrt-merlin", (VersionRange(exact="3.0.0.4.384.20308"),), running_on=(router,)),
    )
    assert observation.facts.cvss == "7.5"
    assert observation.facts.extra["cvss_version"] == "3.1"
    assert observation.facts.extra["cvss_vector"] == "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"
    assert observation.facts.extra["nvd_severity"] == "HIGH"


def test_v11_record_with_v2_score_only() -> None:
    observation = _by_entry(nvd.parse(FEED, V11.read_bytes()))["CVE-2013-0169"]
    assert observation.title.startswith("CVE-2013-0169: The TLS protocol 1.1 and 1.2 and the DTLS protocol 1.0 and 1.2")
    assert len(observation.title) <= len("CVE-2013-0169: ") + nvd.TITLE_CHARS + 1
    assert observation.text.startswith("The TLS protocol 1.1 and 1.2 and the DTLS protocol 1.0 and 1.2, as used in")
    assert observation.link == "https://nvd.nist.gov/vuln/detail/CVE-2013-0169"
    assert observation.published == datetime(2013, 2, 8, 19, 55, tzinfo=UTC)
    assert observation.facts.to_json() == {
        "cvss": "2.6",
        "cvss_version": "2.0",
        "cvss_vector": "AV:N/AC:H/Au:N/C:P/I:N/A:N",
        "nvd_severity": "LOW",
        "cwe": "CWE-310",
    }
    assert Product("openssl", "openssl", (VersionRange(start_including="0.9.8", end_including="0.9.8x"),)) in (
        observation.products
    )
    # openjdk:- : a version NA (not applicable) names no version, so it says nothing of which are affected.
    assert Product("oracle", "openjdk", status=ProductStatus.NAMED) in observation.products
    assert len(set(observation.products)) == len(observation.products)


def test_v11_version_bounds_and_cpe_escapes() -> None:
    observations = _by_entry(nvd.parse(FEED, V11.read_bytes()))
    tectonic = observations["CVE-2018-9090"]
    assert tectonic.facts.cvss == "6.1"
    assert (
        Product(
            "redhat",
            "tectonic",
            (VersionRange(start_including="1.7.1-tectonic.1", end_excluding="1.8.7-tectonic.2"),),
        )
        in tectonic.products
    )
    cerber = observations["CVE-2016-10990"]  # cerber_security_antispam_\&_malware_scan
    assert cerber.products == (  # a WordPress plugin: target_sw, written as people write it
        Product(
            "wpcerber",
            "cerber security antispam & malware scan",
            (VersionRange(end_excluding="2.7"),),
            target_sw="wordpress",
        ),
    )
    hyperflex = observations["CVE-2019-12620"]  # hyperflex_hx220c_m5_firmware:3.0\(1a\)
    firmware = [p for p in hyperflex.products if p.product == "hyperflex hx220c m5 firmware"]
    assert (VersionRange(exact="3.0(1a)"),) in [p.versions for p in firmware]
    server = Product("cisco", "hyperflex hx220c m5", status=ProductStatus.NAMED)  # the hardware it runs on
    assert all(p.running_on == (server,) for p in firmware)


def test_v11_record_without_score_or_configuration() -> None:
    items = _json(V11)["CVE_Items"]
    bare = next(i for i in items if not i["impact"] and not i["configurations"]["nodes"])
    observation = _by_entry(nvd.parse(FEED, V11.read_bytes()))[bare["cve"]["CVE_data_meta"]["ID"]]
    assert observation.products == ()
    assert "cvss" not in observation.facts.to_json()


# -- the API 2.0 page ------------------------------------------------------------------------------------------


def test_v20_one_observation_per_cve() -> None:
    records = _json(V20)["vulnerabilities"]
    ids = [r["cve"]["id"] for r in records]
    with_configurations = [r for r in records if r["cve"].get("configurations")]
    with_vulnerable = {
        r["cve"]["id"]
        for r in with_configurations
        if any(True for c in r["cve"]["configurations"] for _ in _vulnerable_cpes(c["nodes"], "cpeMatch", "criteria"))
    }
    assert (len(ids), len(with_configurations)) == (38, 25)

    observations = nvd.parse(FEED, V20.read_bytes())
    assert [o.entry for o in observations] == ids
    assert {o.entry for o in observations if o.products} == with_vulnerable
    scored = {r["cve"]["id"] for r in records if r["cve"]["metrics"]}
    assert {o.entry for o in observations if "cvss" in o.facts.to_json()} == scored


def test_v20_record_in_detail() -> None:
    observation = _by_entry(nvd.parse(FEED, V20.read_bytes()))["CVE-2023-27314"]
    assert observation.published == datetime(2023, 10, 12, 19, 15, 11, 747000, tzinfo=UTC)
    # The English description, with its line breaks folded; the Spanish one is not used.
    assert observation.text == (
        "ONTAP 9 versions prior to 9.8P19, 9.9.1P16, 9.10.1P12, 9.11.1P8, 9.12.1P2 and 9.13.1 are susceptible "
        "to a vulnerability which could allow a remote unauthenticated attacker to cause a crash of the HTTP service."
    )
    assert observation.title == "CVE-2023-27314: " + observation.text[: nvd.TITLE_CHARS].rstrip() + "…"
    assert observation.facts.to_json() == {
        "cvss": "7.5",
        "cvss_version": "3.1",
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
        "nvd_severity": "HIGH",
        "cwe": "CWE-400",
    }
    ontap = [p for p in observation.products if p.product == "clustered data ontap"]
    assert ontap[0] == Product(
        "netapp", "clustered data ontap", (VersionRange(start_including="9.0", end_excluding="9.8"),)
    )
    assert Product("netapp", "clustered data ontap", (VersionRange(exact="9.8"),)) in ontap
    assert len(set(observation.products)) == len(observation.products)
    assert not observation.exploited


def test_v20_bounds_including() -> None:
    observation = _by_entry(nvd.parse(FEED, V20.read_bytes()))["CVE-2023-22068"]
    assert Product("oracle", "mysql", (VersionRange(start_including="8.0", end_including="8.0.34"),)) in (
        observation.products
    )


def test_v20_record_awaiting_analysis_has_no_score() -> None:
    observation = _by_entry(nvd.parse(FEED, V20.read_bytes()))["CVE-2023-43250"]
    assert "cvss" not in observation.facts.to_json() and "nvd_severity" not in observation.facts.to_json()
    assert observation.products == ()


def test_v20_kev_fields_mark_the_cve_exploited() -> None:
    record = copy.deepcopy(_json(V20)["vulnerabilities"][0])
    record["cve"].update(
        cisaExploitAdd="2023-10-20",
        cisaActionDue="2023-11-10",
        cisaRequiredAction="Apply updates per vendor instructions.",
        cisaVulnerabilityName="NetApp ONTAP Denial of Service",
    )
    (observation,) = nvd.parse(FEED, _page(record))
    assert observation.exploited
    assert observation.facts.due_date == "2023-11-10"
    assert observation.facts.required_action == "Apply updates per vendor instructions."
    assert observation.facts.date_added == "2023-10-20"


def test_v20_score_preference() -> None:
    v2: dict[str, Any] = {
        "source": "nvd@nist.gov",
        "type": "Primary",
        "cvssData": {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "baseScore": 10},
        "baseSeverity": "HIGH",
    }
    v30: dict[str, Any] = {
        "source": "cna@example",
        "type": "Secondary",
        "cvssData": {"version": "3.0", "vectorString": "CVSS:3.0/AV:L", "baseScore": 5.5, "baseSeverity": "MEDIUM"},
    }
    v30_nvd = copy.deepcopy(v30) | {"type": "Primary"}
    v30_nvd["cvssData"] = {**v30["cvssData"], "baseScore": 6.1}

    def facts(metrics: dict[str, Any]) -> dict[str, str]:
        record = {"cve": {"id": "CVE-2099-0001", "published": "2099-01-01T00:00:00.000", "metrics": metrics}}
        return nvd.parse(FEED, _page(record))[0].facts.to_json()

    assert facts({"cvssMetricV2": [v2]}) == {
        "cvss": "10.0",
        "cvss_version": "2.0",
        "cvss_vector": "AV:N/AC:L/Au:N/C:C/I:C/A:C",
        "nvd_severity": "HIGH",
    }
    assert facts({"cvssMetricV2": [v2], "cvssMetricV30": [v30]})["cvss"] == "5.5"
    assert facts({"cvssMetricV30": [v30, v30_nvd]})["cvss"] == "6.1"  # NVD's own (Primary) score first


# -- what the feed's configuration and hostile input change ----------------------------------------------------


def test_kind_comes_from_the_feed_and_parse_feed_dispatches() -> None:
    advisory = make_feed_spec("n", FeedFormat.NVD_JSON, FeedKind.ADVISORY)
    assert {o.kind for o in nvd.parse(advisory, V20.read_bytes())} == {FeedKind.ADVISORY}
    assert len(parse_feed(FEED, V20.read_bytes())) == 38


def test_bom_is_accepted() -> None:
    assert len(nvd.parse(FEED, b"\xef\xbb\xbf" + V20.read_bytes())) == 38


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (V20.read_bytes()[:5000], "not valid JSON"),
        (b"<html><body>Service unavailable</body></html>", "not valid JSON"),
        (b'{"CVE_data_type": "CVE"}', "neither an NVD CVE API 2.0 page"),
        (b"[]", "neither an NVD CVE API 2.0 page"),
        (b'{"vulnerabilities": [{"cveID": "CVE-2021-44228", "vendorProject": "Apache"}]}', "none of the 1 records"),
        (b"[" * 100_000 + b"]" * 100_000, "nests JSON too deeply"),
        (b'{"vulnerabilities": "\xff"}', "not UTF-8"),
    ],
)
def test_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        nvd.parse(FEED, body)
    assert "'nvd'" in str(caught.value)


def test_empty_page_is_no_error() -> None:
    assert nvd.parse(FEED, _page()) == []


def test_malformed_records_are_skipped() -> None:
    good = _json(V20)["vulnerabilities"][0]
    body = _page(
        "not a record",
        None,
        {"cve": None},
        {"cve": {"id": "not-a-cve"}},
        {"cve": {"id": "CVE-2099-0002", "configurations": "all", "metrics": [], "descriptions": [1, None]}},
        good,
    )
    observations = nvd.parse(FEED, body)
    assert [o.entry for o in observations] == ["CVE-2099-0002", "CVE-2023-27314"]
    assert observations[0].title == "CVE-2099-0002" and observations[0].products == ()


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


@pytest.mark.parametrize(
    ("path", "key", "entry"),
    [(V20, "vulnerabilities", "CVE-2023-27314"), (V11, "CVE_Items", "CVE-2018-20336")],
)
def test_no_wrong_type_anywhere_in_a_record_raises(path: Path, key: str, entry: str) -> None:
    record = next(r for r in _json(path)[key] if entry in json.dumps(r)[:400])
    count = 0
    for mutated in _mutations(record):
        count += 1
        for observation in nvd.parse(FEED, json.dumps({key: [mutated, record]}).encode()):
            assert all(isinstance(v, str) for v in observation.facts.to_json().values())
    assert count > 500


def test_long_strings_are_capped() -> None:
    record = {
        "cve": {
            "id": "CVE-2099-0003",
            "descriptions": [{"lang": "en", "value": "A" * 1_000_000}],
            "configurations": [
                {
                    "nodes": [
                        {
                            "cpeMatch": [
                                {"vulnerable": True, "criteria": "cpe:2.3:a:" + "v" * 5000 + ":p:1:*:*:*:*:*:*:*"},
                                {
                                    "vulnerable": True,
                                    "criteria": "cpe:2.3:a:v:p:*:*:*:*:*:*:*:*",
                                    "versionEndExcluding": "9" * 5000,
                                },
                                {"vulnerable": True, "criteria": "cpe:2.3:a:v:p:" + "1" * 5000 + ":*:*:*:*:*:*:*"},
                            ]
                        }
                    ]
                }
            ],
        }
    }
    (observation,) = nvd.parse(FEED, _page(record))
    assert len(observation.text) == nvd.MAX_TEXT
    assert len(observation.title) < 200
    assert observation.products == (Product("v", "p"),)  # the over-long CPE and version are not kept


@pytest.mark.parametrize(
    ("cpe", "expected"),
    [
        ("cpe:2.3:a:netapp:clustered_data_ontap:9.8:p7:*:*:*:*:*:*", ("netapp", "clustered data ontap", "9.8")),
        ("cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*", ("fortinet", "fortios", None)),
        ("cpe:2.3:h:asus:rt-ac68u:-:*:*:*:*:*:*:*", ("asus", "rt-ac68u", None)),
        ("cpe:2.3:a:acme:a\\:b:1\\.0:*:*:*:*:*:*:*", ("acme", "a:b", "1.0")),
        ("cpe:/a:microsoft:internet_explorer:8.0.6001", ("microsoft", "internet explorer", "8.0.6001")),
        ("cpe:2.3:a:*:product:1:*:*:*:*:*:*:*", None),
        ("cpe:2.3:a:vendor", None),
        ("not a cpe", None),
    ],
)
def test_split_cpe(cpe: str, expected: tuple[str, str, str | None] | None) -> None:
    assert nvd.split_cpe(cpe) == expected
