"""The match index agrees with a brute-force oracle — every establishment, every asset, checked with
``ipaddress`` — on random registries, benign lists, allowlists and indicators: IPv4 and IPv6 addresses, CIDRs,
domains, URLs and email addresses, nested networks and the suppression rules included."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from types import MappingProxyType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertd.domain.establishments import Establishment, Network, Registry
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation
from alertd.match.benign import HOST_PREFIX, PRIVATE_LABEL, SPECIAL_NETWORKS, Allowlist, BenignLists
from alertd.match.index import MatchIndex

T = IndicatorType
SPECIAL = [ipaddress.ip_network(n) for n in SPECIAL_NETWORKS]

# Small universes, so that networks nest and indicators hit them often.
ROOTS = {
    4: [ipaddress.ip_network(n) for n in ("52.16.0.0/16", "147.210.0.0/16", "10.1.0.0/16")],
    6: [ipaddress.ip_network(n) for n in ("2600:1f00::/32", "2001:660::/32", "fd00::/32")],
}
LABELS = ["a", "b", "chu", "x-1"]
TLDS = ["fr", "example"]


@st.composite
def networks(draw: st.DrawFn, version: int | None = None) -> Network:
    version = version or draw(st.sampled_from([4, 6]))
    root = draw(st.sampled_from(ROOTS[version]))
    length = draw(st.integers(root.prefixlen, root.max_prefixlen))
    offset = draw(st.integers(0, root.num_addresses - 1))
    return ipaddress.ip_network((int(root.network_address) + offset, length), strict=False)


@st.composite
def domains(draw: st.DrawFn) -> str:
    labels = draw(st.lists(st.sampled_from(LABELS), min_size=1, max_size=3))
    return ".".join([*labels, draw(st.sampled_from(TLDS))])


@st.composite
def establishments(draw: st.DrawFn, n: int) -> Establishment:
    return Establishment(
        id=f"e{n}",
        name=f"Etablissement {n}",
        networks=tuple(draw(st.lists(networks(), max_size=4, unique=True))),
        domains=tuple(draw(st.lists(domains(), max_size=3, unique=True))),
    )


@st.composite
def registries(draw: st.DrawFn) -> Registry:
    count = draw(st.integers(0, 6))
    ests = [draw(establishments(n)) for n in range(count)]
    return Registry(MappingProxyType({e.id: e for e in ests}), ())


@dataclass(frozen=True)
class Lists:
    benign: list[tuple[Network, str]]
    popular: list[tuple[str, str]]
    allow_networks: list[Network]
    allow_domains: list[str]


@st.composite
def lists(draw: st.DrawFn) -> Lists:
    benign = draw(st.lists(st.tuples(networks(), st.sampled_from(["warninglist:cloud", "warninglist:dns"]))))
    popular = draw(st.lists(st.tuples(domains(), st.sampled_from(["warninglist:top", "warninglist:google"]))))
    allow_networks = draw(st.lists(networks(), max_size=2))
    allow_domains = draw(st.lists(domains(), max_size=2))
    return Lists(benign, popular, allow_networks, allow_domains)


@st.composite
def indicators(draw: st.DrawFn) -> Indicator:
    kind = draw(st.sampled_from(["address", "cidr", "domain", "url", "email"]))
    if kind == "address":
        net = draw(networks())
        address = net.network_address
        return Indicator(T.IPV4 if address.version == 4 else T.IPV6, str(address))
    if kind == "cidr":
        return Indicator(T.CIDR, str(draw(networks())))
    host = draw(domains())
    if kind == "domain":
        return Indicator(T.DOMAIN, host)
    if kind == "url":
        return Indicator(T.URL, f"https://{host}:8443/path?q=1")
    return Indicator(T.EMAIL, f"rh@{host}")


def build(registry: Registry, given_lists: Lists) -> MatchIndex:
    benign = BenignLists.from_entries(
        networks=[(str(n), label) for n, label in given_lists.benign], domains=given_lists.popular
    )
    allow = Allowlist.from_entries(
        [(str(n), "ops") for n in given_lists.allow_networks] + [(d, "ops") for d in given_lists.allow_domains]
    )
    return MatchIndex(registry, benign=benign, allowlist=allow)


# -- the oracle ------------------------------------------------------------------------------------------------

Outcome = tuple[frozenset[tuple[str, str]], str | None]  # ({(establishment, asset or reason)}, suppressed by)


def _inside(a: Network, b: Network) -> bool:
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def oracle_network(registry: Registry, given: Lists, net: Network, single: bool) -> Outcome:
    """The rules of contract §3 and benign.py, written the slow and obvious way."""
    if any(_inside(net, s) for s in SPECIAL):
        return frozenset(), PRIVATE_LABEL
    if any(_inside(net, a) for a in given.allow_networks):
        return frozenset(), "allowlist: ops"
    holding = [(b, label) for b, label in given.benign if _inside(net, b)]
    own = [(e.id, n) for e in registry.establishments.values() for n in e.networks if n.version == net.version]

    def small(n: Network) -> bool:
        return n.prefixlen >= HOST_PREFIX[n.version]

    def blocked(n: Network) -> bool:
        return (
            any(_inside(n, s) for s in SPECIAL)
            or any(_inside(n, a) for a in given.allow_networks)
            or any(_inside(n, b) for b, _ in given.benign if not small(n))
        )

    touching = [(i, n) for i, n in own if n.overlaps(net)]
    if holding:
        widest = min(holding, key=lambda bl: bl[0].prefixlen)[0]
        hits = [(i, n) for i, n in touching if small(n) or (_inside(widest, n) and n.prefixlen < widest.prefixlen)]
        if not hits:
            return frozenset(), max(holding, key=lambda bl: bl[0].prefixlen)[1]
    else:
        hits = [(i, n) for i, n in touching if not blocked(n)]
    if single:  # the asset shown is the establishment's most specific network holding the address
        best: dict[str, Network] = {}
        for i, n in hits:
            if i not in best or n.prefixlen > best[i].prefixlen:
                best[i] = n
        return frozenset((i, str(n)) for i, n in best.items()), None
    return frozenset((i, "network-overlap") for i, _ in hits), None


def oracle_host(registry: Registry, given: Lists, host: str) -> Outcome:
    def under(name: str, domain: str) -> bool:
        return name == domain or name.endswith("." + domain)

    if any(under(host, d) for d in given.allow_domains):
        return frozenset(), "allowlist: ops"
    owned = [(e.id, d) for e in registry.establishments.values() for d in e.domains if under(host, d)]
    listed = [(d, label) for d, label in given.popular if under(host, d)]
    if listed:
        shortest = min(len(d) for d, _ in listed)
        label = next(label for d, label in given.popular if len(d) == shortest and under(host, d))
        owned = [(i, d) for i, d in owned if len(d) > shortest]
        if not owned:
            return frozenset(), label
    best: dict[str, str] = {}
    for i, d in owned:
        if i not in best or len(d) > len(best[i]):
            best[i] = d
    return frozenset(best.items()), None


def oracle(registry: Registry, given: Lists, ind: Indicator) -> Outcome:
    if ind.type in (T.IPV4, T.IPV6, T.CIDR):
        net = ipaddress.ip_network(ind.value, strict=False)
        return oracle_network(registry, given, net, net.num_addresses == 1)
    if ind.type is T.DOMAIN:
        host = ind.value
    elif ind.type is T.EMAIL:
        host = ind.value.rpartition("@")[2]
    else:
        host = ind.value.split("/")[2].partition(":")[0]
    return oracle_host(registry, given, host)


def indexed(index: MatchIndex, ind: Indicator) -> Outcome:
    result = index.match([Observation("f", "e", FeedKind.COMPROMISE, "t", indicators=(ind,))])
    assert len(result.suppressed) <= 1 and not (result.suppressed and result.findings)
    held = result.suppressed[0].list if result.suppressed else None
    if ind.type is T.CIDR and ipaddress.ip_network(ind.value).num_addresses > 1:
        assert all(f.reason == "network-overlap" for f in result.findings)
        return frozenset((f.establishment, f.reason) for f in result.findings), held
    assert len({f.establishment for f in result.findings}) == len(result.findings)
    return frozenset((f.establishment, f.asset) for f in result.findings), held


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(registries(), lists(), st.lists(indicators(), min_size=1, max_size=12))
def test_index_agrees_with_the_oracle(registry: Registry, given_lists: Lists, inds: list[Indicator]) -> None:
    index = build(registry, given_lists)
    for ind in inds:
        assert indexed(index, ind) == oracle(registry, given_lists, ind), ind


@settings(max_examples=200, deadline=None)
@given(registries(), st.lists(indicators(), min_size=1, max_size=12))
def test_without_lists_every_overlap_matches(registry: Registry, inds: list[Indicator]) -> None:
    """With no benign list and no allowlist, only the private ranges hold anything back."""
    index = MatchIndex(registry, benign=None)
    nothing = Lists([], [], [], [])
    for ind in inds:
        assert indexed(index, ind) == oracle(registry, nothing, ind), ind


@settings(max_examples=100, deadline=None)
@given(registries(), lists(), st.lists(indicators(), min_size=2, max_size=6))
def test_one_observation_matches_as_its_indicators_alone(
    registry: Registry, given_lists: Lists, inds: list[Indicator]
) -> None:
    index = build(registry, given_lists)
    together = index.match([Observation("f", "e", FeedKind.COMPROMISE, "t", indicators=tuple(inds))])
    alone = [index.match([Observation("f", "e", FeedKind.COMPROMISE, "t", indicators=(i,))]) for i in inds]
    assert {f.key for f in together.findings} == {f.key for r in alone for f in r.findings}
    assert len(together.suppressed) == sum(len(r.suppressed) for r in alone)
