"""The address spaces on their own: each segment's outcome decided once, and CIDR indicators against them."""

from __future__ import annotations

import ipaddress
from types import MappingProxyType

from alertd.domain.codes import MatchReason
from alertd.domain.establishments import Establishment, Registry
from alertd.match.addresses import Addresses
from alertd.match.benign import PRIVATE_LABEL, Allowlist, BenignLists

REGISTRY = Registry(
    MappingProxyType(
        {
            e.id: e
            for e in (
                Establishment("a", "A", networks=(ipaddress.ip_network("147.210.0.0/16"),)),
                Establishment("b", "B", networks=(ipaddress.ip_network("147.210.8.0/24"),)),
                Establishment("c", "C", networks=(ipaddress.ip_network("2001:660:6101::/48"),)),
                Establishment("d", "D", networks=(ipaddress.ip_network("52.1.2.0/28"),)),  # a host in a cloud
            )
        }
    ),
    (),
)
ADDRESSES = Addresses(
    REGISTRY,
    BenignLists.from_entries(networks=[("52.0.0.0/11", "warninglist:cloud")]),
    Allowlist.from_entries([("147.210.99.0/24", "our scanner")]),
)
IN, OVERLAP = MatchReason.ADDRESS_IN_NETWORK, MatchReason.NETWORK_OVERLAP


def test_an_address_hits_every_network_holding_it_the_most_specific_first() -> None:
    assert ADDRESSES.lookup("147.210.8.1") == ((("b", "147.210.8.0/24"), ("a", "147.210.0.0/16")), IN)
    assert ADDRESSES.lookup("147.210.9.1") == ((("a", "147.210.0.0/16"),), IN)
    assert ADDRESSES.lookup("2001:660:6101::5") == ((("c", "2001:660:6101::/48"),), IN)
    assert ADDRESSES.lookup("147.211.0.1") == (None, IN)


def test_lists_give_their_label() -> None:
    assert ADDRESSES.lookup("10.0.0.1") == (PRIVATE_LABEL, IN)
    assert ADDRESSES.lookup("147.210.99.7") == ("allowlist: our scanner", IN)
    assert ADDRESSES.lookup("52.3.0.1") == ("warninglist:cloud", IN)
    assert ADDRESSES.lookup("52.1.2.3") == ((("d", "52.1.2.0/28"),), IN)  # a declared host inside a cloud range


def test_a_cidr_hits_the_networks_around_it_and_inside_it() -> None:
    assert ADDRESSES.lookup("147.210.8.0/22") == ((("a", "147.210.0.0/16"), ("b", "147.210.8.0/24")), OVERLAP)
    assert ADDRESSES.lookup("147.0.0.0/8") == ((("a", "147.210.0.0/16"), ("b", "147.210.8.0/24")), OVERLAP)
    assert ADDRESSES.lookup("147.210.8.7/32") == ((("b", "147.210.8.0/24"), ("a", "147.210.0.0/16")), IN)
    assert ADDRESSES.lookup("2001:660::/32") == ((("c", "2001:660:6101::/48"),), OVERLAP)


def test_what_is_no_address_yields_no_reason() -> None:
    for value in ("147.210.8.1/33", "147.210/16", "not-an-address", "2001:db8::1%eth0"):
        assert ADDRESSES.lookup(value) == (None, None)


def test_the_ipv4_buckets_agree_with_the_segments() -> None:
    space, buckets = ADDRESSES.v4, ADDRESSES.v4_buckets
    for start in space.starts:
        for address in (start, max(start - 1, 0), start + 1):
            assert buckets.lookup(address) == space.outcomes[buckets.segment(address)] == space.address(address)
