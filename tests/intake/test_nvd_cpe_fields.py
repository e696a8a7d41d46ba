"""NVD: every CPE field that restricts a product (sw_edition, target_sw, update) and the "running on" platforms
of AND configurations, read from the real 2024 1.1 feed file and the real API 2.0 page."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.feeds import FeedFormat
from alertd.domain.values import Observation, Product, ProductStatus, VersionRange
from alertd.intake.formats import nvd

DATA = SAMPLES / "nvd"
RECENT_2024 = DATA / "nvdcve-1.1-recent_2024-06-21_crlf.json"  # 1185 CVEs, 143 Adobe Experience Manager
V20 = DATA / "nvd-api-2.0_cves_page_2023-10-18.json"
FEED = make_feed_spec("nvd", FeedFormat.NVD_JSON)
NAMED = ProductStatus.NAMED
TOOL = "nmc_tool:1.0:*:*:*:*:*:*:*"


def _json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _by_entry(path: Path) -> dict[str, Observation]:
    return {o.entry: o for o in nvd.parse(FEED, path.read_bytes())}


def _record(cve: str, *configurations: dict[str, Any]) -> bytes:
    record = {"cve": {"id": cve, "published": "2099-01-01T00:00:00.000", "configurations": list(configurations)}}
    return json.dumps({"resultsPerPage": 1, "format": "NVD_CVE", "vulnerabilities": [record]}).encode()


def _match(cpe: str, vulnerable: bool, **bounds: str) -> dict[str, Any]:
    return {"vulnerable": vulnerable, "criteria": cpe, "matchCriteriaId": "00000000-0000-0000-0000-000000000000"} | (
        bounds
    )


def test_aem_cloud_service_edition_is_kept_apart_from_on_premises() -> None:
    items = _json(RECENT_2024)["CVE_Items"]
    assert (len(items), sum(1 for i in items if i["configurations"]["nodes"])) == (1185, 151)
    aem_ids = [
        i["cve"]["CVE_data_meta"]["ID"] for i in items if "experience_manager" in json.dumps(i["configurations"])
    ]
    assert len(aem_ids) == 143

    observations = _by_entry(RECENT_2024)
    assert len(observations) == 1185 and sum(1 for o in observations.values() if o.products) == 151
    # Each AEM CVE: the cloud service before 2024.5 (edition, as people write it) and on-premises before 6.5.21.
    cloud = Product("adobe", "experience manager", (VersionRange(end_excluding="2024.5"),), edition="aem cloud service")
    on_premises = Product("adobe", "experience manager", (VersionRange(end_excluding="6.5.21"),))
    assert Counter(observations[cve].products for cve in aem_ids) == Counter({(cloud, on_premises): 143})


def test_other_products_of_the_2024_file() -> None:
    observations = _by_entry(RECENT_2024)
    assert observations["CVE-2024-6100"].products == (
        Product("google", "chrome", (VersionRange(end_excluding="126.0.6478.114"),)),
    )
    assert observations["CVE-2024-6179"].products == (
        Product("lg", "supersign cms", (VersionRange(start_including="4.1.3", end_excluding="4.3.1"),)),
    )
    # android:- names no version (NA): it says nothing of which versions are affected.
    assert observations["CVE-2024-32896"].products == (Product("google", "android", status=ProductStatus.NAMED),)


def test_crlf_file_reads_as_lf() -> None:
    body = RECENT_2024.read_bytes()
    assert body.count(b"\r\n") > 1000
    assert nvd.parse(FEED, body) == nvd.parse(FEED, body.replace(b"\r\n", b"\n"))


def test_update_is_part_of_the_version_and_open_fields_are_none() -> None:
    body = _record(
        "CVE-2099-0201",
        {
            "nodes": [
                {
                    "operator": "OR",
                    "cpeMatch": [
                        _match("cpe:2.3:a:microsoft:exchange_server:2019:cumulative_update_12:*:*:*:*:*:*", True),
                        _match("cpe:2.3:a:microsoft:exchange_server:2016:-:*:*:*:*:*:*", True),
                        _match("cpe:2.3:a:acme:viewer:*:*:*:*:-:-:*:*", True, versionEndExcluding="3.1"),
                    ],
                }
            ]
        },
    )
    (observation,) = nvd.parse(FEED, body)
    assert observation.products == (
        Product("microsoft", "exchange server", (VersionRange(exact="2019 cumulative_update_12"),)),
        Product("microsoft", "exchange server", (VersionRange(exact="2016"),)),
        Product("acme", "viewer", (VersionRange(end_excluding="3.1"),)),  # `-` edition and target: none
    )


def test_real_and_configuration_application_running_on_macos_or_windows() -> None:
    # IBM Security Verify Privilege On-Premises before 11.5, vulnerable when running on macOS or Windows.
    record = next(r for r in _json(V20)["vulnerabilities"] if r["cve"]["id"] == "CVE-2022-22377")
    (configuration,) = record["cve"]["configurations"]
    assert configuration["operator"] == "AND" and len(configuration["nodes"]) == 2
    observation = _by_entry(V20)["CVE-2022-22377"]
    assert observation.products == (
        Product(
            "ibm",
            "security verify privilege on-premises",
            (VersionRange(end_excluding="11.5"),),
            running_on=(Product("apple", "macos", status=NAMED), Product("microsoft", "windows", status=NAMED)),
        ),
    )


def test_and_configuration_firmware_on_hardware() -> None:
    # Modelled on CVE-2018-7820 (Schneider Electric AP9630 network management card firmware < 6.7.2, vulnerable
    # on the AP9630 and AP9631 cards), written in the API 2.0 layout, beside an OR configuration of its own.
    body = _record(
        "CVE-2099-0202",
        {
            "operator": "AND",
            "nodes": [
                {
                    "operator": "OR",
                    "negate": False,
                    "cpeMatch": [
                        _match(
                            "cpe:2.3:o:schneider-electric:ap9630_firmware:*:*:*:*:*:*:*:*",
                            True,
                            versionEndExcluding="6.7.2",
                        )
                    ],
                },
                {
                    "operator": "OR",
                    "negate": False,
                    "cpeMatch": [
                        _match("cpe:2.3:h:schneider-electric:ap9630:-:*:*:*:*:*:*:*", False),
                        _match("cpe:2.3:h:schneider-electric:ap9631:-:*:*:*:*:*:*:*", False),
                    ],
                },
            ],
        },
        {"nodes": [{"operator": "OR", "cpeMatch": [_match(f"cpe:2.3:a:schneider-electric:{TOOL}", True)]}]},
    )
    (observation,) = nvd.parse(FEED, body)
    cards = (
        Product("schneider-electric", "ap9630", status=NAMED),
        Product("schneider-electric", "ap9631", status=NAMED),
    )
    assert observation.products == (
        Product("schneider-electric", "ap9630 firmware", (VersionRange(end_excluding="6.7.2"),), running_on=cards),
        Product("schneider-electric", "nmc tool", (VersionRange(exact="1.0"),)),  # an OR configuration: anywhere
    )


def test_and_configuration_both_sides_vulnerable_and_platform_versions_kept() -> None:
    body = _record(
        "CVE-2099-0203",
        {
            "operator": "AND",
            "nodes": [
                {"operator": "OR", "cpeMatch": [_match("cpe:2.3:a:acme:agent:2.0:*:*:*:*:*:*:*", True)]},
                {"operator": "OR", "cpeMatch": [_match("cpe:2.3:a:acme:server:*:*:*:*:*:*:*:*", True)]},
                {
                    "operator": "OR",
                    "cpeMatch": [
                        _match("cpe:2.3:o:apple:iphone_os:*:*:*:*:*:*:*:*", False, versionEndExcluding="16.0")
                    ],
                },
                {"operator": "OR", "negate": True, "cpeMatch": [_match("cpe:2.3:o:acme:os:-:*:*:*:*:*:*:*", False)]},
            ],
        },
    )
    (observation,) = nvd.parse(FEED, body)
    ios = Product("apple", "iphone os", (VersionRange(end_excluding="16.0"),), NAMED)
    assert observation.products == (
        Product("acme", "agent", (VersionRange(exact="2.0"),), running_on=(ios,)),
        Product("acme", "server", running_on=(ios,)),
    )


def test_v11_and_nodes_of_the_2019_file_all_give_platforms() -> None:
    items = _json(DATA / "nvdcve-1.1-recent_2019-09-26.json")["CVE_Items"]
    with_and = {
        i["cve"]["CVE_data_meta"]["ID"]
        for i in items
        if any(
            n["operator"] == "AND" and any(not m["vulnerable"] for c in n["children"] for m in c["cpe_match"])
            for n in i["configurations"]["nodes"]
        )
    }
    assert len(with_and) == 50
    observations = _by_entry(DATA / "nvdcve-1.1-recent_2019-09-26.json")
    assert all(any(p.running_on for p in observations[cve].products) for cve in with_and)
    platforms = [q for o in observations.values() for p in o.products for q in p.running_on]
    assert platforms and all(q.status is NAMED and not q.running_on for q in platforms)
