"""What CSAF advisories say of each product's versions: the innermost version level of the product tree, every
product status (affected, fixed, not affected) and Red Hat's package builds, read from real advisories."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA as SAMPLES

from alertd.domain.feeds import FeedFormat
from alertd.domain.values import Observation, Product, ProductStatus, VersionRange
from alertd.intake.formats import csaf

DATA = SAMPLES / "csaf"
CISCO = DATA / "cisco-sa-20180328-smi2.json"  # IOS / IOS XE Smart Install: train → service_pack leaves
BSI = DATA / "bsi-2022-0001.json"  # pre-releases known_affected, 1.0.0-rc2 first_fixed
SIEMENS = DATA / "icsa-24-074-09.json"  # Cerberus PRO / Sinteso fire panels: vendor version ranges
REDHAT = DATA / "rhsa-2023_4378.json"  # kernel-rt: only `fixed`, products through relationships
FEED = make_feed_spec("csaf", FeedFormat.CSAF)
AFFECTED, FIXED, NOT_AFFECTED, NAMED = (
    ProductStatus.AFFECTED,
    ProductStatus.FIXED,
    ProductStatus.NOT_AFFECTED,
    ProductStatus.NAMED,
)


def _json(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def _one(path: Path) -> Observation:
    (observation,) = csaf.parse(FEED, path.read_bytes())
    return observation


def _leaves(branches: list[dict[str, Any]], path: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Each product_id of the tree with the branch names leading to it, counted here independently."""
    found: dict[str, tuple[str, ...]] = {}
    for branch in branches:
        here = (*path, branch["name"])
        if "product" in branch:
            found[branch["product"]["product_id"]] = here
        found.update(_leaves(branch.get("branches", []), here))
    return found


def _parse(tree: dict[str, Any], status: dict[str, list[str]]) -> tuple[Product, ...]:
    document = {
        "document": {"category": "csaf_security_advisory", "title": "T", "tracking": {"id": "T-1"}},
        "product_tree": tree,
        "vulnerabilities": [{"cve": "CVE-2099-0001", "product_status": status}],
    }
    (observation,) = csaf.parse(FEED, json.dumps(document).encode())
    return observation.products


def _branch(category: str, name: str, *inner: dict[str, Any], product_id: str | None = None) -> dict[str, Any]:
    branch: dict[str, Any] = {"category": category, "name": name}
    if inner:
        branch["branches"] = list(inner)
    if product_id is not None:
        branch["product"] = {"name": name, "product_id": product_id}
    return branch


# -- Cisco: the real version is the service pack under the release train ----------------------------------------


def test_cisco_leaves_are_the_service_packs_not_the_trains() -> None:
    data = _json(CISCO)
    leaves = _leaves(data["product_tree"]["branches"])
    affected = data["vulnerabilities"][0]["product_status"]["known_affected"]
    assert len(affected) == len(leaves) == 259
    trains = {path[2] for path in leaves.values()}  # vendor, product_name, product_version (train), service_pack
    assert "15.2E" in trains

    observation = _one(CISCO)
    assert observation.entry == "cisco-sa-20180328-smi2#CVE-2018-0171"
    assert len(observation.products) == 259
    assert Counter(p.product for p in observation.products) == Counter(path[1] for path in leaves.values())
    assert {p.product for p in observation.products} == {"IOS", "Cisco IOS XE Software"}  # as Cisco names them
    assert all(p.vendor == "Cisco" and p.status is AFFECTED for p in observation.products)
    versions = [p.versions for p in observation.products]
    assert all(len(v) == 1 and v[0].exact is not None for v in versions)
    assert {v[0].exact for v in versions} == {path[3] for path in leaves.values()}
    assert not {v[0].exact for v in versions} & trains  # no leaf is a bare train
    assert Product("Cisco", "IOS", (VersionRange(exact="15.2(2)E6"),)) in observation.products


def test_innermost_version_level_wins() -> None:
    tree = {
        "branches": [
            _branch(
                "vendor",
                "Acme",
                _branch(
                    "product_name",
                    "Ctl",
                    _branch(
                        "product_version",
                        "4.2",
                        _branch("patch_level", "4.2.1-p3", product_id="P1"),
                        _branch("service_pack", "SP2", _branch("patch_level", "SP2-hotfix7", product_id="P2")),
                    ),
                    _branch("product_version", "5.0", product_id="P3"),
                ),
            )
        ]
    }
    assert _parse(tree, {"known_affected": ["P1", "P2", "P3"]}) == (
        Product("Acme", "Ctl", (VersionRange(exact="4.2.1-p3"),)),
        Product("Acme", "Ctl", (VersionRange(exact="SP2-hotfix7"),)),
        Product("Acme", "Ctl", (VersionRange(exact="5.0"),)),
    )


# -- product status: what each list says -----------------------------------------------------------------------


def test_bsi_pre_releases_affected_and_the_first_fixed_release() -> None:
    observation = _one(BSI)
    assert observation.entry == "BSI-2022-0001#CVE-2022-27193"
    name = ("CSAF Tools", "CVRF-CSAF-Converter")
    assert observation.products == (
        *(
            Product(*name, (VersionRange(exact=v),))
            for v in ("1.0.0-alpha", "1.0.0-dev1", "1.0.0-dev2", "1.0.0-dev3", "1.0.0-rc1")
        ),
        Product(*name, (VersionRange(exact="1.0.0-rc2"),), FIXED),  # listed fixed and first_fixed: once
    )


def test_every_status_list_and_under_investigation_skipped() -> None:
    tree = {
        "branches": [
            _branch(
                "vendor",
                "Acme",
                _branch(
                    "product_name",
                    "Pump",
                    *(_branch("product_version", v, product_id=f"P{v}") for v in ("1", "2", "3", "4", "5", "6")),
                    _branch("product_version", "7", product_id="P7"),
                    _branch("product_version", "8", product_id="P8"),
                    _branch("product_version", "9", product_id="P9"),
                ),
            )
        ]
    }
    status = {
        "first_affected": ["P1"],
        "known_affected": ["P2"],
        "last_affected": ["P3"],
        "first_fixed": ["P4"],
        "fixed": ["P5"],
        "recommended": ["P6"],
        "known_not_affected": ["P7"],
        "under_investigation": ["P8"],
        "unknown": ["P9"],
    }
    products = _parse(tree, status)
    # first_affected and last_affected name one version each: the spec bounds no range with them.
    assert [(p.versions[0].text, p.status) for p in products] == [
        ("=2", AFFECTED),
        ("=1", AFFECTED),
        ("=3", AFFECTED),
        ("=5", FIXED),
        ("=4", FIXED),
        ("=6", FIXED),
        ("=7", NOT_AFFECTED),
    ]


def test_unreadable_or_versionless_ranges_never_say_affected_or_fixed() -> None:
    tree = {
        "branches": [
            _branch(
                "vendor",
                "Acme",
                _branch("product_name", "Gateway", _branch("product_version_range", "some old ones", product_id="G")),
                _branch("product_name", "Panel", product_id="N"),  # no version at all
            )
        ]
    }
    assert _parse(tree, {"known_affected": ["G", "N"]}) == (
        Product("Acme", "Gateway", status=NAMED),  # named, versions unknown: unverified, never affected
        Product("Acme", "Panel"),  # every version
    )
    assert _parse(tree, {"fixed": ["G", "N"]}) == ()  # a fix in no readable version rules nothing out
    assert _parse(tree, {"known_not_affected": ["G", "N"]}) == (Product("Acme", "Panel", status=NOT_AFFECTED),)


# -- Siemens: vendor version ranges ----------------------------------------------------------------------------

SIEMENS_EXPECTED = {
    "CVE-2024-22039": {
        "Cerberus PRO EN Engineering Tool": "<IP8",
        "Cerberus PRO EN Fire Panel FC72x": "<IP8",
        "Cerberus PRO EN X200 Cloud Distribution": "<V4.0.5016",
        "Cerberus PRO EN X300 Cloud Distribution": "<V4.2.5015",
        "Sinteso FS20 EN Engineering Tool": "<MP8",
        "Sinteso FS20 EN Fire Panel FC20": "<MP8",
        "Sinteso FS20 EN X200 Cloud Distribution": "<V4.0.5016",
        "Sinteso FS20 EN X300 Cloud Distribution": "<V4.2.5015",
        "Sinteso Mobile": "<V3.0.0",
    },
    "CVE-2024-22040": {
        "Cerberus PRO EN Engineering Tool": "*",  # vers:all/*
        "Cerberus PRO EN Fire Panel FC72x": "<IP8_SR4",
        "Cerberus PRO EN X200 Cloud Distribution": "<V4.3.5618",
        "Cerberus PRO EN X300 Cloud Distribution": "<V4.3.5617",
        "Sinteso FS20 EN Engineering Tool": "*",
        "Sinteso FS20 EN Fire Panel FC20": "<MP8_SR4",
        "Sinteso FS20 EN X200 Cloud Distribution": "<V4.3.5618",
        "Sinteso FS20 EN X300 Cloud Distribution": "<V4.3.5617",
        "Sinteso Mobile": "*",
    },
}


def test_siemens_ranges_per_product_and_cve() -> None:
    data = _json(SIEMENS)
    assert [v["cve"] for v in data["vulnerabilities"]] == ["CVE-2024-22039", "CVE-2024-22040", "CVE-2024-22041"]
    observations = {o.entry.partition("#")[2]: o for o in csaf.parse(FEED, SIEMENS.read_bytes())}
    assert len(observations) == 3
    for cve, expected in [*SIEMENS_EXPECTED.items(), ("CVE-2024-22041", SIEMENS_EXPECTED["CVE-2024-22040"])]:
        products = observations[cve].products
        assert all(p.vendor == "Siemens" and p.status is AFFECTED for p in products)
        got = {p.product: "|".join(v.text for v in p.versions) or "*" for p in products}
        assert got == expected, cve
    assert "version_range" not in observations["CVE-2024-22039"].facts.to_json()  # every range was read


# -- Red Hat: only fixed builds, packages reached through relationships -----------------------------------------


def test_redhat_fixed_package_builds() -> None:
    data = _json(REDHAT)
    ids = {p for v in data["vulnerabilities"] for p in v["product_status"]["fixed"]}
    assert {k for v in data["vulnerabilities"] for k in v["product_status"]} == {"fixed"}
    assert len(ids) == 34
    packages = {r["product_reference"].partition("-0:")[0] for r in data["product_tree"]["relationships"]}
    assert len(packages) == 17

    observations = csaf.parse(FEED, REDHAT.read_bytes())
    assert [o.entry for o in observations] == [f"RHSA-2023:4378#{v['cve']}" for v in data["vulnerabilities"]]
    build = (VersionRange(exact="5.14.0-284.25.1.rt14.310.el9_2"),)  # no name-epoch prefix, no arch
    for observation in observations:
        assert observation.products == tuple(Product("Red Hat", name, build, FIXED) for name in sorted(packages))
    assert Product("Red Hat", "kernel-rt", build, FIXED) in observations[0].products


@pytest.mark.parametrize(
    ("purl", "expected"),
    [
        (None, Product("Red Hat", "openssl", (VersionRange(exact="3.0.7-18.el9_2"),), FIXED)),
        (
            "pkg:rpm/redhat/openssl@3.0.7-18.el9_2?arch=x86_64&epoch=1",
            Product("Red Hat", "openssl", (VersionRange(exact="3.0.7-18.el9_2"),), FIXED),
        ),
        (
            "pkg:rpm/redhat/openssl-libs@3.0.7-18.el9_2?arch=x86_64",  # the purl names the package cleanly
            Product("Red Hat", "openssl-libs", (VersionRange(exact="3.0.7-18.el9_2"),), FIXED),
        ),
        ("not a purl", Product("Red Hat", "openssl", (VersionRange(exact="3.0.7-18.el9_2"),), FIXED)),
    ],
)
def test_package_build_name_epoch_version_and_purl(purl: str | None, expected: Product) -> None:
    product: dict[str, Any] = {"name": "openssl-1:3.0.7-18.el9_2.x86_64", "product_id": "B"}
    if purl is not None:
        product["product_identification_helper"] = {"purl": purl}
    tree = {
        "branches": [
            _branch(
                "vendor",
                "Red Hat",
                {
                    "category": "architecture",
                    "name": "x86_64",
                    "branches": [
                        {"category": "product_version", "name": "openssl-1:3.0.7-18.el9_2.x86_64", "product": product}
                    ],
                },
            )
        ]
    }
    assert _parse(tree, {"fixed": ["B"]}) == (expected,)


def test_purl_alone_names_vendor_product_and_version() -> None:
    tree = {
        "full_product_names": [
            {
                "name": "log4j-core 2.17.1",
                "product_id": "L",
                "product_identification_helper": {"purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.1"},
            }
        ]
    }
    assert _parse(tree, {"fixed": ["L"]}) == (
        Product("org.apache.logging.log4j", "log4j-core", (VersionRange(exact="2.17.1"),), FIXED),
    )


def test_cpe_helper_gives_edition_and_target_software() -> None:
    tree = {
        "full_product_names": [
            {
                "name": "AEM cloud",
                "product_id": "A",
                "product_identification_helper": {
                    "cpe": "cpe:2.3:a:adobe:experience_manager:2024.5:*:*:*:aem_cloud_service:*:*:*"
                },
            }
        ]
    }
    assert _parse(tree, {"known_affected": ["A"]}) == (
        Product("adobe", "experience manager", (VersionRange(exact="2024.5"),), edition="aem cloud service"),
    )


def test_last_and_first_affected_bound_their_release_line() -> None:
    from alertd.intake.formats.csaf import _within_line

    def one(version: str, key: str) -> tuple[VersionRange, ...]:
        return _within_line(Product("Fortinet", "FortiOS", (VersionRange(exact=version),)), key).versions

    # CSAF: later versions of the line of a last_affected version are not affected; earlier ones are.
    assert one("7.0.5", "last_affected") == (VersionRange(start_including="7.0", end_including="7.0.5"),)
    assert one("7.0.3", "first_affected") == (VersionRange(start_including="7.0.3", end_excluding="7.1"),)
    # A version that is not plain dotted (a Cisco train) stays the very version listed.
    assert one("15.2(2)E6", "last_affected") == (VersionRange(exact="15.2(2)E6"),)
