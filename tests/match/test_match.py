"""Matching: addresses, networks, domains, products and names against a registry built by hand."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from types import MappingProxyType

import pytest

from alertd.domain.codes import VersionBasis
from alertd.domain.establishments import Establishment, Registry, Software
from alertd.domain.facts import VersionFact
from alertd.domain.knowledge import Statement
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation, Product, ProductStatus, VersionRange
from alertd.match.benign import BenignLists
from alertd.match.index import MatchIndex
from alertd.match.normalise import product_key, vendor_key

T = IndicatorType


def registry(*ests: Establishment) -> Registry:
    return Registry(MappingProxyType({e.id: e for e in ests}), ())


def est(est_id: str, **kw: object) -> Establishment:
    nets = tuple(ipaddress.ip_network(n) for n in kw.pop("networks", ()))  # type: ignore[attr-defined]
    return Establishment(id=est_id, name=str(kw.pop("name", f"Etablissement {est_id}")), networks=nets, **kw)  # type: ignore[arg-type]


def obs(*indicators: Indicator, text: str = "", products: Sequence[Product] = ()) -> Observation:
    return Observation(
        feed="f",
        entry="e1",
        kind=FeedKind.COMPROMISE,
        title="t",
        indicators=indicators,
        text=text,
        products=tuple(products),
    )


def hits(index: MatchIndex, o: Observation) -> set[tuple[str, str, str]]:
    return {(f.establishment, f.asset, f.reason) for f in index.match([o]).findings}


INDEX = MatchIndex(
    registry(
        est("a", networks=["147.210.0.0/16", "2001:660:6101::/48"], domains=("chu-a.example",), asns=(2200,)),
        est("b", networks=["147.210.8.0/24"], domains=("labo.chu-a.example",)),
        est("c", networks=["10.1.0.0/16", "203.0.113.0/24"]),
        est(
            "d",
            name="Centre Hospitalier d'Arles",
            aliases=("CH Arles",),
            software=(Software("Citrix", "NetScaler ADC", "13.1-49.13"), Software("Fortinet", "FortiOS")),
        ),
    )
)


def test_address_in_nested_networks_matches_both() -> None:
    found = hits(INDEX, obs(Indicator(T.IPV4, "147.210.8.9")))
    assert found == {
        ("a", "147.210.0.0/16", "address-in-network"),
        ("b", "147.210.8.0/24", "address-in-network"),
    }
    assert hits(INDEX, obs(Indicator(T.IPV4, "147.211.0.1"))) == set()


def test_ipv6_address() -> None:
    found = hits(INDEX, obs(Indicator(T.IPV6, "2001:660:6101:1::25")))
    assert found == {("a", "2001:660:6101::/48", "address-in-network")}


def test_indicator_cidr_overlapping_a_smaller_network() -> None:
    found = hits(INDEX, obs(Indicator(T.CIDR, "147.210.8.0/21")))
    assert ("b", "147.210.8.0/24", "network-overlap") in found
    assert ("a", "147.210.0.0/16", "network-overlap") in found
    assert hits(INDEX, obs(Indicator(T.CIDR, "147.0.0.0/8"))) == {
        ("a", "147.210.0.0/16", "network-overlap"),
        ("b", "147.210.8.0/24", "network-overlap"),
    }


def test_private_addresses_are_suppressed_even_when_declared() -> None:
    result = INDEX.match([obs(Indicator(T.IPV4, "10.1.2.3"), Indicator(T.IPV4, "203.0.113.9"))])
    assert [s.list for s in result.suppressed] == ["private-or-reserved", "private-or-reserved"]
    assert result.findings == []


def test_domains_urls_and_emails_by_parent_suffix() -> None:
    assert hits(INDEX, obs(Indicator(T.DOMAIN, "vpn.chu-a.example"))) == {("a", "chu-a.example", "domain")}
    url = Indicator(T.URL, "https://x.labo.chu-a.example:8443/login?u=1")
    assert hits(INDEX, obs(url)) == {("a", "chu-a.example", "domain"), ("b", "labo.chu-a.example", "domain")}
    assert hits(INDEX, obs(Indicator(T.EMAIL, "rh@chu-a.example"))) == {("a", "chu-a.example", "domain")}
    assert hits(INDEX, obs(Indicator(T.DOMAIN, "notchu-a.example"))) == set()
    assert hits(INDEX, obs(Indicator(T.DOMAIN, "chu-a.example.evil.test"))) == set()


def test_asn() -> None:
    assert hits(INDEX, obs(Indicator(T.ASN, "2200"))) == {("a", "AS2200", "asn")}


def test_kev_product_contained_in_catalogue_name() -> None:
    named = Product("Citrix", "NetScaler ADC and NetScaler Gateway", status=ProductStatus.NAMED)
    o = replace(obs(Indicator(T.CVE, "CVE-2023-3519"), products=[named]), exploited=True)
    result = INDEX.match([o]).findings
    assert [(f.establishment, f.reason, f.indicator.value) for f in result] == [("d", "kev-product", "CVE-2023-3519")]
    # KEV names no versions: the product matches, the version is not checked (never "affects 13.1-49.13").
    assert result[0].facts.version == VersionFact.judged(VersionBasis.NO_RANGE, "13.1-49.13")
    # With NVD's ranges known for the CVE, 13.1-49.13 is the fixed release: not affected, no alert.
    nvd = Statement(
        "nvd",
        "CVE-2023-3519",
        (
            Product(
                "citrix",
                "netscaler_application_delivery_controller",
                (VersionRange(start_including="13.1", end_excluding="13.1-49.13"),),
            ),
        ),
    )
    judged = INDEX.match([o], {"CVE-2023-3519": [nvd]})
    assert judged.findings == []
    assert [f.facts.version.basis for f in judged.not_affected if f.facts.version] == [VersionBasis.OUTSIDE_RANGE]
    other_vendor = obs(Indicator(T.CVE, "CVE-1"), products=[Product("Acme", "NetScaler ADC")])
    assert hits(INDEX, other_vendor) == set()


def test_bare_cve_uses_catalogue_knowledge() -> None:
    o = obs(Indicator(T.CVE, "CVE-2024-21762"))
    assert INDEX.match([o]).findings == []
    said = Statement("csaf", "FG-IR-24-015#CVE-2024-21762", (Product("Fortinet", "FortiOS"),))
    found = INDEX.match([o], {"CVE-2024-21762": [said]}).findings
    assert [(f.establishment, f.reason) for f in found] == [("d", "cve-product")]
    assert found[0].facts.version == VersionFact.judged(VersionBasis.NO_VERSION, None)


def test_names_accent_case_punctuation_insensitive_on_word_boundaries() -> None:
    for text in (
        "Victim: CENTRE HOSPITALIER D ARLES (France)",
        "Le centre hospitalier d’Arles a été attaqué",
        "ch-arles: 40 GB leaked",
    ):
        assert ("d", "name-mention") in {(f.establishment, f.reason) for f in INDEX.match([obs(text=text)]).findings}, (
            text
        )
    assert INDEX.match([obs(text="Centre Hospitalier d'Arlesheim")]).findings == []


def test_product_mention_needs_the_vendor() -> None:
    found = hits(INDEX, obs(text="Vulnérabilité dans Fortinet FortiOS (CVE-2024-21762)"))
    assert found == {("d", "Fortinet FortiOS", "product-mention")}
    assert hits(INDEX, obs(text="FortiOS mentioned with no vendor")) == set()


def test_findings_have_stable_keys() -> None:
    a = INDEX.match([obs(Indicator(T.IPV4, "147.210.8.9"))]).findings
    b = INDEX.match([obs(Indicator(T.IPV4, "147.210.8.9"))]).findings
    assert [f.key for f in a] == [f.key for f in b] and len({f.key for f in a}) == 2


# -- software: vendors, products, aliases, CPEs and versions ---------------------------------------------------

R = VersionRange


def kev(vendor: str, product: str, cve: str = "CVE-2023-3519", versions: Sequence[VersionRange] = ()) -> Observation:
    return replace(obs(Indicator(T.CVE, cve), products=[Product(vendor, product, tuple(versions))]), exploited=True)


SOFTWARE = MatchIndex(
    registry(
        est("adc", software=(Software("Citrix Systems, Inc.", "Citrix ADC", "13.1-48.47"),)),
        est("ns", software=(Software("Citrix", "NetScaler ADC", "13.1-49.13"),)),
        est("nover", software=(Software("citrix", "netscaler_adc"),)),
        est("gw", software=(Software("Citrix", "NetScaler Gateway", "14.1-4.42"),)),
        est("pulse", software=(Software("Pulse Secure", "Pulse Connect Secure", "9.1R11.4"),)),
        est(
            "pan",
            software=(
                Software(
                    "paloaltonetworks", "pan-os", "10.2.3", "cpe:2.3:o:paloaltonetworks:pan-os:10.2.3:*:*:*:*:*:*:*"
                ),
            ),
        ),
        est(
            "exch",
            software=(
                Software(
                    "microsoft",
                    "exchange_server",
                    "2019",
                    "cpe:2.3:a:microsoft:exchange_server:2019:cumulative_update_12:*:*:*:*:*:*",
                ),
            ),
        ),
        est("exch16", software=(Software("Microsoft", "Exchange Server 2016", "CU23"),)),
        est("sma", software=(Software("SonicWall", "SMA 100", "10.2.1.9"),)),
        est("ios", software=(Software("Cisco", "IOS XE Software", "17.9.4"),)),
    ),
    benign=None,
)


def software_hits(o: Observation) -> dict[str, VersionFact | None]:
    return {f.establishment: f.facts.version for f in SOFTWARE.match([o]).findings}


@pytest.mark.parametrize(
    ("vendor", "product", "expected"),
    [
        ("Citrix", "NetScaler ADC and NetScaler Gateway", {"adc", "ns", "nover", "gw"}),
        ("Citrix", "Application Delivery Controller (ADC) and Gateway", {"adc", "ns", "nover", "gw"}),
        ("Citrix", "NetScaler ADC", {"adc", "ns", "nover"}),
        ("Citrix Systems", "Citrix ADC", {"adc", "ns", "nover"}),
        ("Citrix", "Gateway", {"gw"}),
        ("Citrix", "ShareFile", set()),
        ("Acme", "NetScaler ADC", set()),  # the vendor must agree
        ("Ivanti", "Pulse Connect Secure", {"pulse"}),  # vendor renamed, product renamed
        ("Ivanti", "Connect Secure and Policy Secure", {"pulse"}),
        ("Palo Alto Networks", "PAN-OS", {"pan"}),
        ("Microsoft", "Exchange Server", {"exch", "exch16"}),  # the catalogue names the product without edition
        ("Microsoft", "Exchange", {"exch", "exch16"}),
        ("SonicWall", "SMA100 Appliances", {"sma"}),
        ("Cisco", "IOS and IOS XE Software", {"ios"}),
        ("Cisco", "IOS XR", set()),
        ("Cisco", "IOS", set()),  # IOS is not IOS XE
    ],
)
def test_products_normalised_with_aliases(vendor: str, product: str, expected: set[str]) -> None:
    assert set(software_hits(kev(vendor, product))) == expected


def test_version_ranges() -> None:
    # CVE-2023-3519: 13.1 before 13.1-49.13
    ranges = [
        R(start_including="13.1", end_excluding="13.1-49.13"),
        R(start_including="14.1", end_excluding="14.1-4.42"),
    ]
    found = software_hits(kev("Citrix", "NetScaler ADC and NetScaler Gateway", versions=ranges))
    # ns (13.1-49.13) and gw (14.1-4.42) are fixed
    assert found == {
        "adc": VersionFact.judged(VersionBasis.IN_RANGE, "13.1-48.47", ">=13.1|<13.1-49.13", "f, e1"),
        "nover": VersionFact.judged(VersionBasis.NO_VERSION, None),
    }
    # Exchange: the CPE's update is part of the version
    found = software_hits(
        kev("Microsoft", "Exchange Server", versions=[R(start_including="2019", end_excluding="2019 CU14")])
    )
    assert found == {
        "exch": VersionFact.judged(VersionBasis.IN_RANGE, "2019 cumulative_update_12", ">=2019|<2019 CU14", "f, e1"),
        # "Exchange Server 2016" is Exchange by identity, but a range for "Exchange Server" is not proved to be
        # its own: not checked, rather than judged by another release's numbers.
        "exch16": VersionFact.judged(VersionBasis.NO_RANGE, "CU23"),
    }
    found = software_hits(
        kev("Microsoft", "Exchange Server", versions=[R(start_including="2019 CU13", end_excluding="2019 CU14")])
    )
    unchecked_2016 = {"exch16": VersionFact.judged(VersionBasis.NO_RANGE, "CU23")}
    assert found == unchecked_2016
    assert software_hits(kev("Microsoft", "Exchange Server", versions=[R(exact="2016 CU23")])) == unchecked_2016
    found = software_hits(kev("Microsoft", "Exchange Server 2016", versions=[R(exact="CU23")]))
    assert found == {
        "exch16": VersionFact.judged(VersionBasis.LISTED_AFFECTED, "CU23", "=CU23", "f, e1"),
        "exch": VersionFact.judged(VersionBasis.NO_RANGE, "2019 cumulative_update_12"),  # 2016's list is not 2019's
    }
    found = software_hits(kev("Ivanti", "Connect Secure", versions=[R(end_excluding="9.1R12")]))
    assert found == {"pulse": VersionFact.judged(VersionBasis.IN_RANGE, "9.1R11.4", "<9.1R12", "f, e1")}
    assert software_hits(kev("Ivanti", "Connect Secure", versions=[R(end_excluding="9.1R11.4")])) == {}


def test_cve_products_with_versions_for_bare_cves() -> None:
    o = obs(Indicator(T.CVE, "CVE-2024-3400"))
    pan_os = Product("Palo Alto Networks", "PAN-OS", (R(start_including="10.2", end_excluding="10.2.9"),))
    catalogue = {"CVE-2024-3400": [Statement("nvd", "CVE-2024-3400", (pan_os,))]}
    found = SOFTWARE.match([o], catalogue).findings
    assert [(f.establishment, f.reason, f.facts.version) for f in found] == [
        ("pan", "cve-product", VersionFact.judged(VersionBasis.IN_RANGE, "10.2.3", ">=10.2|<10.2.9", "nvd"))
    ]
    later = Product("Palo Alto Networks", "PAN-OS", (R(start_including="11.0"),))
    catalogue = {"CVE-2024-3400": [Statement("nvd", "CVE-2024-3400", (later,))]}
    assert SOFTWARE.match([o], catalogue).findings == []


def test_nvd_products_without_exploitation_are_cve_products() -> None:
    o = obs(Indicator(T.CVE, "CVE-1"), products=[Product("cisco", "ios_xe", (R(end_including="17.9.4"),))])
    assert [(f.establishment, f.reason) for f in SOFTWARE.match([o]).findings] == [("ios", "cve-product")]


@pytest.mark.parametrize(
    ("vendor", "key"),
    [
        ("Palo Alto Networks", "paloalto"),
        ("paloaltonetworks", "paloalto"),
        ("palo_alto_networks", "paloalto"),
        ("Citrix Systems, Inc.", "citrix"),
        ("Microsoft Corporation", "microsoft"),
        ("The Apache Software Foundation", "apache"),
        ("Pulse Secure", "ivanti"),
        ("F5 Networks", "f5"),
        ("Check Point Software Technologies", "checkpoint"),
    ],
)
def test_vendor_keys(vendor: str, key: str) -> None:
    assert vendor_key(vendor) == key


def test_product_keys() -> None:
    assert product_key("Citrix", "Citrix NetScaler ADC") == ("citrix", ("netscaler", "adc"))
    assert product_key("citrix", "netscaler_application_delivery_controller_firmware") == (
        "citrix",
        ("netscaler", "adc"),
    )
    assert product_key("SonicWall", "SMA100") == product_key("SonicWall", "SMA 100") == ("sonicwall", ("sma", "100"))
    assert product_key("Cisco", "IOS XE Software") == ("cisco", ("ios", "xe"))


def test_product_mentions_in_prose_show_the_registry_version() -> None:
    found = INDEX.match([obs(text="Vulnérabilité dans Fortinet FortiOS (CVE-2024-21762)")]).findings
    assert [(f.establishment, f.facts.version) for f in found] == [
        ("d", VersionFact.judged(VersionBasis.NO_VERSION, None))
    ]
    found = INDEX.match([obs(text="Citrix publie un correctif pour NetScaler ADC")]).findings
    # A text names no range: the version is not checked.
    assert [(f.establishment, f.reason, f.facts.version) for f in found] == [
        ("d", "product-mention", VersionFact.judged(VersionBasis.NO_RANGE, "13.1-49.13"))
    ]


# -- names, and what is set aside ------------------------------------------------------------------------------


def test_generic_or_shared_names_never_match() -> None:
    index = MatchIndex(
        registry(
            est("1", name="Centre Hospitalier", aliases=("CH Lens",)),
            est("2", name="Pharmacie de la Gare"),
            est("3", name="Pharmacie de la Gare"),
        ),
        benign=None,
    )
    # A shared name is looked for, and counts only where the text names one owner's commune (none here).
    assert {(u.establishment, u.name) for u in index.unsafe_names} == {("1", "Centre Hospitalier")}
    found = index.match([obs(text="Le Centre Hospitalier de Lens (CH Lens) et la Pharmacie de la Gare")]).findings
    assert [(f.establishment, f.asset) for f in found] == [("1", "CH Lens")]


def test_suppressed_indicators_carry_their_list_and_entry() -> None:
    lists = BenignLists.from_entries(networks=[("8.8.8.0/24", "warninglist:public-dns-v4")])
    index = MatchIndex(registry(est("a", networks=["147.210.0.0/16"])), benign=lists)
    result = index.match(
        [obs(Indicator(T.IPV4, "8.8.8.8"), Indicator(T.IPV4, "147.210.1.1"), Indicator(T.IPV4, "10.0.0.1"))]
    )
    assert [(s.indicator.value, s.list, s.feed, s.entry) for s in result.suppressed] == [
        ("8.8.8.8", "warninglist:public-dns-v4", "f", "e1"),
        ("10.0.0.1", "private-or-reserved", "f", "e1"),
    ]
    assert [f.establishment for f in result.findings] == ["a"]


def test_indicators_that_do_not_parse_are_skipped() -> None:
    result = INDEX.match(
        [
            obs(
                Indicator(T.IPV4, "300.1.1.1"),
                Indicator(T.CIDR, "1.2.3.4/40"),
                Indicator(T.ASN, "AS?"),
                Indicator(T.URL, "nope"),
            )
        ]
    )
    assert result.findings == [] and result.suppressed == []


def test_the_most_specific_network_is_the_asset() -> None:
    index = MatchIndex(registry(est("a", networks=["147.210.0.0/16", "147.210.8.0/24"])), benign=None)
    found = index.match([obs(Indicator(T.IPV4, "147.210.8.1"), Indicator(T.IPV4, "147.210.9.1"))]).findings
    assert [(f.indicator.value, f.asset) for f in found] == [
        ("147.210.8.1", "147.210.8.0/24"),
        ("147.210.9.1", "147.210.0.0/16"),
    ]
