"""Matching: addresses, networks, domains, products and names against a registry built by hand."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import replace
from types import MappingProxyType

from alertd.match import MatchIndex
from alertd.model import FeedKind, Indicator, IndicatorType, Observation, Product
from alertd.registry import Establishment, Registry, Software

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
    o = obs(Indicator(T.CVE, "CVE-2023-3519"), products=[Product("Citrix", "NetScaler ADC and NetScaler Gateway")])
    o = replace(o, exploited=True)
    result = INDEX.match([o]).findings
    assert [(f.establishment, f.reason, f.indicator.value) for f in result] == [("d", "kev-product", "CVE-2023-3519")]
    assert result[0].attrs["version"] == "13.1-49.13"
    other_vendor = obs(Indicator(T.CVE, "CVE-1"), products=[Product("Acme", "NetScaler ADC")])
    assert hits(INDEX, other_vendor) == set()


def test_bare_cve_uses_catalogue_knowledge() -> None:
    o = obs(Indicator(T.CVE, "CVE-2024-21762"))
    assert INDEX.match([o]).findings == []
    found = INDEX.match([o], {"CVE-2024-21762": [Product("Fortinet", "FortiOS")]}).findings
    assert [(f.establishment, f.reason) for f in found] == [("d", "cve-product")]
    assert found[0].attrs["version"] == "version unknown"


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
