"""The domain table on its own: parent suffixes outwards, popular domains and the allowlist."""

from __future__ import annotations

from types import MappingProxyType

from alertd.domain.establishments import Establishment, Registry
from alertd.match.benign import Allowlist, BenignLists
from alertd.match.domains import Domains

REGISTRY = Registry(
    MappingProxyType(
        {
            "a": Establishment("a", "A", domains=("chu-a.example",)),
            "b": Establishment("b", "B", domains=("labo.chu-a.example", "b.github.io")),
        }
    ),
    (),
)
DOMAINS = Domains(
    REGISTRY,
    BenignLists.from_entries(domains=[("github.io", "warninglist:popular")]),
    Allowlist.from_entries([("test.chu-a.example", "our test host")]),
)


def test_a_host_hits_every_owner_of_its_parents_the_most_specific_first() -> None:
    assert DOMAINS.lookup("chu-a.example") == (("a", "chu-a.example"),)
    assert DOMAINS.lookup("x.labo.chu-a.example") == (("b", "labo.chu-a.example"), ("a", "chu-a.example"))
    assert DOMAINS.lookup("other.example") is None
    assert DOMAINS.lookup("example") is None
    assert DOMAINS.lookup("") is None


def test_popular_domains_hold_back_all_but_what_an_establishment_declared_below_them() -> None:
    assert DOMAINS.lookup("evil.github.io") == "warninglist:popular"
    assert DOMAINS.lookup("x.b.github.io") == (("b", "b.github.io"),)


def test_the_allowlist_holds_back_a_domain_and_every_name_under_it() -> None:
    assert DOMAINS.lookup("test.chu-a.example") == "allowlist: our test host"
    assert DOMAINS.lookup("www.test.chu-a.example") == "allowlist: our test host"
