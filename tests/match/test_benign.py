"""False-positive control: private ranges, benign lists (cloud, DNS resolvers, sinkholes, popular domains) and
the operator's allowlist, each suppressing under its own name, and the declared-host exception."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from types import MappingProxyType

import pytest

from alertd.domain.establishments import Establishment, Registry
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation
from alertd.match.benign import (
    DEFAULT,
    PRIVATE_LABEL,
    Allowlist,
    BenignLists,
    default_benign,
    special_label,
)
from alertd.match.index import MatchIndex, MatchResult

T = IndicatorType

# Documentation-free public ranges stand in for cloud ranges: the rules, not the data, are under test here.
CLOUD = BenignLists.from_entries(
    networks=[("52.0.0.0/11", "warninglist:amazon-aws"), ("2600:1f00::/24", "warninglist:amazon-aws")],
    domains=[("cloudfront.net", "warninglist:tranco10k"), ("google.com", "warninglist:google")],
)
DNS = BenignLists.from_entries(
    networks=[("8.8.8.8", "warninglist:public-dns-v4"), ("52.1.2.3", "warninglist:public-dns-v4")]
)


def registry(*ests: Establishment) -> Registry:
    return Registry(MappingProxyType({e.id: e for e in ests}), ())


def est(est_id: str, networks: Sequence[str] = (), domains: Sequence[str] = ()) -> Establishment:
    return Establishment(
        id=est_id,
        name=f"Etablissement {est_id}",
        networks=tuple(ipaddress.ip_network(n) for n in networks),
        domains=tuple(domains),
    )


def run(index: MatchIndex, *indicators: Indicator) -> MatchResult:
    obs = Observation(feed="f", entry="e", kind=FeedKind.COMPROMISE, title="t", indicators=indicators)
    return index.match([obs])


def outcome(index: MatchIndex, ind: Indicator) -> tuple[set[tuple[str, str]], list[str]]:
    result = run(index, ind)
    return {(f.establishment, f.asset) for f in result.findings}, [s.list for s in result.suppressed]


REGISTRY = registry(
    est("host", networks=["52.16.0.10/32", "2600:1f00:1:2::5/128"]),  # its own server rented in the cloud
    est("small", networks=["52.16.1.0/28"]),  # a /28 is still a declared host
    est("rented", networks=["52.16.2.0/24"]),  # a /24 inside the cloud range: not its own address space
    est("campus", networks=["8.8.0.0/16", "10.20.0.0/16"]),  # owns space that holds a listed resolver
    est("web", domains=["chu-x.cloudfront.net", "chu-y.example"]),
    est("google", domains=["google.com"]),
)
INDEX = MatchIndex(REGISTRY, benign=CLOUD, allowlist=None)


@pytest.mark.parametrize(
    ("value", "kind", "found", "suppressed"),
    [
        # a declared host inside a cloud range still matches
        ("52.16.0.10", T.IPV4, {("host", "52.16.0.10/32")}, []),
        ("2600:1f00:1:2::5", T.IPV6, {("host", "2600:1f00:1:2::5/128")}, []),
        ("52.16.1.7", T.IPV4, {("small", "52.16.1.0/28")}, []),
        # a cloud range never alerts by itself, even inside a network an establishment declared
        ("52.16.2.7", T.IPV4, set(), ["warninglist:amazon-aws"]),
        ("52.20.0.1", T.IPV4, set(), ["warninglist:amazon-aws"]),
        ("2600:1f00:9::1", T.IPV6, set(), ["warninglist:amazon-aws"]),
        ("52.16.2.0/25", T.CIDR, set(), ["warninglist:amazon-aws"]),
        ("52.16.0.8/29", T.CIDR, {("host", "52.16.0.10/32")}, []),
        # private and reserved ranges: always, even declared
        ("10.20.1.1", T.IPV4, set(), [PRIVATE_LABEL]),
        ("10.20.0.0/24", T.CIDR, set(), [PRIVATE_LABEL]),
        ("fd00::1", T.IPV6, set(), [PRIVATE_LABEL]),
        ("2001:db8::1", T.IPV6, set(), [PRIVATE_LABEL]),
        # an address on no list, in no network
        ("9.9.9.9", T.IPV4, set(), []),
        # popular domains: suppressed, but a domain declared below one still matches
        ("cloudfront.net", T.DOMAIN, set(), ["warninglist:tranco10k"]),
        ("d111.cloudfront.net", T.DOMAIN, set(), ["warninglist:tranco10k"]),
        ("cdn.chu-x.cloudfront.net", T.DOMAIN, {("web", "chu-x.cloudfront.net")}, []),
        ("https://chu-x.cloudfront.net/login", T.URL, {("web", "chu-x.cloudfront.net")}, []),
        ("google.com", T.DOMAIN, set(), ["warninglist:google"]),  # even when declared: it is shared
        ("mail.google.com", T.DOMAIN, set(), ["warninglist:google"]),
        ("rh@google.com", T.EMAIL, set(), ["warninglist:google"]),
        ("phish.chu-y.example", T.DOMAIN, {("web", "chu-y.example")}, []),
        # a URL on an address: the address rules
        ("http://52.16.0.10/bin.sh", T.URL, {("host", "52.16.0.10/32")}, []),
        ("http://52.16.2.7/bin.sh", T.URL, set(), ["warninglist:amazon-aws"]),
        ("http://[2600:1f00:1:2::5]:8080/x", T.URL, {("host", "2600:1f00:1:2::5/128")}, []),
        ("http://192.168.1.1/admin", T.URL, set(), [PRIVATE_LABEL]),
    ],
)
def test_suppression_rules(value: str, kind: IndicatorType, found: set[tuple[str, str]], suppressed: list[str]) -> None:
    assert outcome(INDEX, Indicator(kind, value)) == (found, suppressed)


def test_a_listed_address_inside_an_establishments_own_space_matches() -> None:
    """An open resolver the establishment runs itself is listed, but the space is the establishment's."""
    index = MatchIndex(REGISTRY, benign=DNS)
    assert outcome(index, Indicator(T.IPV4, "8.8.8.8")) == ({("campus", "8.8.0.0/16")}, [])
    assert outcome(index, Indicator(T.IPV4, "52.1.2.3")) == (set(), ["warninglist:public-dns-v4"])


def test_the_most_specific_list_names_the_suppression() -> None:
    both = BenignLists.from_entries(
        networks=[("52.0.0.0/11", "warninglist:amazon-aws"), ("52.1.2.3", "warninglist:sinkholes")]
    )
    index = MatchIndex(registry(), benign=both)
    assert outcome(index, Indicator(T.IPV4, "52.1.2.3"))[1] == ["warninglist:sinkholes"]
    assert outcome(index, Indicator(T.IPV4, "52.1.2.4"))[1] == ["warninglist:amazon-aws"]


def test_without_lists_only_private_ranges_are_suppressed() -> None:
    index = MatchIndex(REGISTRY, benign=None)
    assert outcome(index, Indicator(T.IPV4, "52.16.2.7")) == ({("rented", "52.16.2.0/24")}, [])
    assert outcome(index, Indicator(T.DOMAIN, "google.com")) == ({("google", "google.com")}, [])
    assert outcome(index, Indicator(T.IPV4, "10.20.1.1")) == (set(), [PRIVATE_LABEL])


# -- the operator's allowlist ----------------------------------------------------------------------------------

ALLOW = Allowlist.from_entries(
    [
        ("52.16.0.10", "our pentest box"),
        ("147.210.0.0/24", "scanner range of the regional CERT"),
        ("*.partner.example", "partner's tracking links"),
        ("https://chu-y.example/known-good", "a page we checked"),
        ("AS64500", "our transit"),
        ("CVE-2021-44228", "tracked elsewhere"),
    ]
)


@pytest.mark.parametrize(
    ("value", "kind", "label"),
    [
        ("52.16.0.10", T.IPV4, "allowlist: our pentest box"),  # even a declared host
        ("147.210.0.77", T.IPV4, "allowlist: scanner range of the regional CERT"),
        ("147.210.0.0/28", T.CIDR, "allowlist: scanner range of the regional CERT"),
        ("partner.example", T.DOMAIN, "allowlist: partner's tracking links"),
        ("x.partner.example", T.DOMAIN, "allowlist: partner's tracking links"),
        ("http://x.partner.example/a", T.URL, "allowlist: partner's tracking links"),
        ("https://chu-y.example/known-good", T.URL, "allowlist: a page we checked"),
        ("64500", T.ASN, "allowlist: our transit"),
        ("CVE-2021-44228", T.CVE, "allowlist: tracked elsewhere"),
    ],
)
def test_allowlist_suppresses_with_its_reason(value: str, kind: IndicatorType, label: str) -> None:
    reg = registry(est("host", networks=["52.16.0.10/32", "147.210.0.0/16"], domains=["partner.example"]))
    index = MatchIndex(reg, benign=CLOUD, allowlist=ALLOW)
    assert outcome(index, Indicator(kind, value)) == (set(), [label])


def test_allowlist_leaves_the_rest_alone() -> None:
    reg = registry(est("host", networks=["147.210.0.0/16"], domains=["chu-y.example"]))
    index = MatchIndex(reg, benign=None, allowlist=ALLOW)
    assert outcome(index, Indicator(T.IPV4, "147.210.1.1")) == ({("host", "147.210.0.0/16")}, [])
    assert outcome(index, Indicator(T.URL, "https://chu-y.example/other")) == ({("host", "chu-y.example")}, [])
    # a CIDR wider than the allowlisted range is not held back; the networks it overlaps outside it match
    found, held = outcome(index, Indicator(T.CIDR, "147.210.0.0/23"))
    assert held == [] and found == {("host", "147.210.0.0/16")}


@pytest.mark.parametrize("value", ["", "   ", "10.0.0.1/8", "300.1.1.1/24"])
def test_allowlist_refuses_unusable_values(value: str) -> None:
    # alertd check words the problem (tests/config/test_config_words.py); the matcher only refuses the value.
    with pytest.raises(ValueError, match="unusable allowlist value"):
        Allowlist.from_entries([(value, "reason")])


def test_allowlist_entry_kinds() -> None:
    allow = Allowlist.from_entries([("1.2.3.4", ""), (".Example.ORG.", "x"), ("rh@chu.example", "y"), ("as7", "z")])
    assert allow.networks == ((4, 0x01020304, 0x01020304, "allowlist"),)
    assert dict(allow.domains) == {"example.org": "allowlist: x"}
    assert dict(allow.values) == {"rh@chu.example": "allowlist: y", "7": "allowlist: z"}
    assert Allowlist.from_entries([("1.2.3.0/24", "")]).networks and not Allowlist()


# -- the lists themselves -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "special"),
    [
        ("10.1.2.3", True),
        ("172.31.255.255", True),
        ("192.168.0.1", True),
        ("127.0.0.1", True),
        ("169.254.1.1", True),
        ("100.64.0.1", True),  # carrier-grade NAT
        ("192.0.2.1", True),
        ("198.51.100.77", True),
        ("203.0.113.9", True),
        ("224.0.0.1", True),
        ("255.255.255.255", True),
        ("0.1.2.3", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("ff02::1", True),
        ("2001:db8:11::1", True),
        ("::ffff:8.8.8.8", True),
        ("8.8.8.8", False),
        ("147.210.8.9", False),
        ("2a00:1450::1", False),
        ("2001:660:6101::1", False),
    ],
)
def test_special_ranges(address: str, special: bool) -> None:
    assert (special_label(address) == PRIVATE_LABEL) is special
    # the table agrees with the standard library where both are settled
    parsed = ipaddress.ip_address(address)
    assert (not parsed.is_global or parsed.is_multicast) is special or address.startswith("::ffff:")


def test_default_lists_load_once_and_name_their_list() -> None:
    started = time.perf_counter()
    lists = default_benign()
    assert default_benign() is lists  # cached for the life of the process
    assert time.perf_counter() - started < 5
    assert "amazon-aws" in lists.lists and "tranco10k" in lists.lists and "sinkholes" in lists.lists
    assert lists.label_of("8.8.8.8") == "warninglist:public-dns-v4"
    assert lists.label_of("1.1.1.1") is not None
    assert lists.label_of("google.com") == "warninglist:tranco10k"
    assert lists.label_of("mail.google.com") is not None
    assert lists.label_of("84.247.157.112") is None  # a feodo sample the end-to-end test expects to match
    assert lists.label_of("chu-bordeaux.fr") is None


def test_default_lists_hold_two_feodo_samples_in_akamai() -> None:
    """The bundled feodo sample holds two Linode (Akamai) addresses: `alertd poll --dry-run` shows them
    suppressed rather than matched."""
    lists = default_benign()
    assert lists.label_of("172.232.208.90") == "warninglist:akamai"
    assert lists.label_of("172.233.221.61") == "warninglist:akamai"


def test_match_index_uses_the_default_lists_unless_told() -> None:
    assert MatchIndex(registry()).benign is default_benign()
    assert MatchIndex(registry(), benign=DEFAULT).benign is default_benign()
    assert MatchIndex(registry(), benign=None).benign is None
