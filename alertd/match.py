"""Matching (DESIGN §3): observations in, findings out, through an index built once from the registry.

Pure: the index is a value built from the registry; ``MatchIndex.match`` reads nothing but its arguments.
Addresses are looked up per prefix length present in the registry (at most 33 dict probes for IPv4, 129 for
IPv6), domains by walking their parent suffixes, names and product mentions by probing word n-grams of the
text against sets of token tuples.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .model import Finding, Indicator, IndicatorType, Observation, Product
from .normalise import product_tokens, tokens
from .registry import Establishment, Network, Registry, Software

Hit = tuple[str, str]  # (establishment id, the asset hit, as shown to the establishment)


@dataclass(frozen=True, slots=True)
class Suppressed:
    """An indicator set aside before matching, and the list that held it back."""

    feed: str
    entry: str
    indicator: Indicator
    list: str


@dataclass(slots=True)
class MatchResult:
    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)


class _Networks:
    """Networks of one IP version: exact probes per prefix length, and a sorted list for overlap queries."""

    def __init__(self, bits: int, networks: Iterable[tuple[Network, str]]) -> None:
        self.bits = bits
        by_len: dict[int, dict[int, list[Hit]]] = defaultdict(lambda: defaultdict(list))
        spans: list[tuple[int, int, str, str]] = []
        for net, est_id in networks:
            start = int(net.network_address)
            by_len[net.prefixlen][start].append((est_id, str(net)))
            spans.append((start, int(net.broadcast_address), est_id, str(net)))
        self.full = (1 << bits) - 1
        self.lengths = sorted(by_len)
        self.by_len = {length: dict(table) for length, table in by_len.items()}
        spans.sort()
        self.starts = [s[0] for s in spans]
        self.spans = spans

    def _mask(self, length: int) -> int:
        return self.full ^ ((1 << (self.bits - length)) - 1)

    def containing(self, address: int, up_to: int) -> list[Hit]:
        """Registry networks that contain ``address``/``up_to``."""
        hits: list[Hit] = []
        for length in self.lengths:
            if length > up_to:
                break
            found = self.by_len[length].get(address & self._mask(length))
            if found:
                hits.extend(found)
        return hits

    def inside(self, start: int, end: int) -> list[Hit]:
        """Registry networks that start within [start, end] (they lie inside that range or overlap it)."""
        lo, hi = bisect_left(self.starts, start), bisect_right(self.starts, end)
        return [(s[2], s[3]) for s in self.spans[lo:hi]]


def _suppression(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Private and reserved ranges are never alerted on, whoever declared them."""
    if address.is_loopback:
        return "loopback"
    if address.is_private:
        return "private-or-reserved"
    if address.is_multicast or address.is_reserved or address.is_link_local or address.is_unspecified:
        return "reserved"
    return None


class MatchIndex:
    """Everything the matcher looks up, built once from a registry and swapped whole on reload."""

    def __init__(self, registry: Registry) -> None:
        v4: list[tuple[Network, str]] = []
        v6: list[tuple[Network, str]] = []
        self.domains: dict[str, list[Hit]] = defaultdict(list)
        self.asns: dict[int, list[Hit]] = defaultdict(list)
        self.software: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, Software]]] = defaultdict(list)
        self.product_names: dict[tuple[str, ...], list[tuple[str, Software, tuple[str, ...]]]] = defaultdict(list)
        self.names: dict[tuple[str, ...], list[Hit]] = defaultdict(list)
        for est in registry.establishments.values():
            self._add(est, v4, v6)
        self.v4 = _Networks(32, v4)
        self.v6 = _Networks(128, v6)
        self.name_lengths = sorted({len(k) for k in self.names})
        self.product_lengths = sorted({len(k) for k in self.product_names})

    def _add(self, est: Establishment, v4: list[tuple[Network, str]], v6: list[tuple[Network, str]]) -> None:
        for net in est.networks:
            (v4 if net.version == 4 else v6).append((net, est.id))
        for domain in est.domains:
            self.domains[domain].append((est.id, domain))
        for asn in est.asns:
            self.asns[asn].append((est.id, f"AS{asn}"))
        for sw in est.software:
            vendor, product = product_tokens(sw.vendor), product_tokens(sw.product)
            if not product:
                continue
            self.software[(vendor, product)].append((est.id, sw))
            # An advisory names "Fortinet FortiOS" or just "FortiOS" next to "Fortinet".
            self.product_names[vendor + product].append((est.id, sw, ()))
            if product[: len(vendor)] != vendor:
                self.product_names[product].append((est.id, sw, vendor))
        for name in (est.name, *est.aliases):
            key = tokens(name)
            if key:
                self.names[key].append((est.id, name))

    # -- lookups -----------------------------------------------------------------------------------------

    def networks_hit(self, ind: Indicator) -> tuple[list[Hit], str]:
        """Establishments whose networks contain (or overlap) an address or CIDR indicator."""
        net = ipaddress.ip_network(ind.value, strict=False)
        table = self.v4 if net.version == 4 else self.v6
        start, end = int(net.network_address), int(net.broadcast_address)
        hits = table.containing(start, net.prefixlen)
        if net.num_addresses == 1:
            return hits, "address-in-network"
        seen = set(hits)
        hits.extend(h for h in table.inside(start, end) if h not in seen)
        return hits, "network-overlap"

    def domain_hits(self, host: str) -> list[Hit]:
        """Establishments owning ``host`` or one of its parent domains."""
        hits: list[Hit] = []
        labels = host.lower().rstrip(".").split(".")
        for i in range(len(labels) - 1):
            found = self.domains.get(".".join(labels[i:]))
            if found:
                hits.extend(found)
        return hits

    def product_hits(self, product: Product) -> list[tuple[str, Software]]:
        """Software items whose vendor equals the catalogue's and whose product is part of its product name.

        KEV's "NetScaler ADC and NetScaler Gateway" hits a registry's "NetScaler ADC"; every contiguous run of
        the catalogue's product words is probed.
        """
        vendor, words = product_tokens(product.vendor), product_tokens(product.product)
        hits: list[tuple[str, Software]] = []
        seen: set[tuple[str, ...]] = set()
        for i in range(len(words)):
            for j in range(i + 1, len(words) + 1):
                run = words[i:j]
                if run in seen:
                    continue
                seen.add(run)
                hits.extend(self.software.get((vendor, run), ()))
        return hits

    def scan(self, text: str) -> tuple[list[Hit], list[tuple[str, Software]]]:
        """Names and products mentioned in ``text`` on word boundaries."""
        words = tokens(text)
        present = set(words)
        names: list[Hit] = []
        products: list[tuple[str, Software]] = []
        for i in range(len(words)):
            for n in self.name_lengths:
                found = self.names.get(words[i : i + n]) if i + n <= len(words) else None
                if found:
                    names.extend(found)
            for n in self.product_lengths:
                if i + n > len(words):
                    break
                for est_id, sw, needs in self.product_names.get(words[i : i + n], ()):
                    if all(w in present for w in needs):
                        products.append((est_id, sw))
        return list(dict.fromkeys(names)), list(dict.fromkeys(products))

    # -- matching ----------------------------------------------------------------------------------------

    def match(
        self, observations: Sequence[Observation], cve_products: Mapping[str, Sequence[Product]] | None = None
    ) -> MatchResult:
        """Findings for a batch of observations; ``cve_products`` tells which products a CVE affects."""
        result = MatchResult()
        for obs in observations:
            self._match_one(obs, cve_products or {}, result)
        return result

    def _match_one(self, obs: Observation, cve_products: Mapping[str, Sequence[Product]], out: MatchResult) -> None:
        seen: set[tuple[str, Indicator, str]] = set()

        def emit(est_id: str, ind: Indicator, asset: str, reason: str, extra: Mapping[str, str] | None = None) -> None:
            if (est_id, ind, reason) in seen:
                return
            seen.add((est_id, ind, reason))
            attrs = dict(obs.attrs)
            if extra:
                attrs.update(extra)
            out.findings.append(
                Finding(
                    est_id,
                    ind,
                    asset,
                    reason,
                    obs.feed,
                    obs.kind,
                    obs.entry,
                    obs.title,
                    obs.link,
                    obs.published,
                    attrs,
                )
            )

        for ind in obs.indicators:
            kind = ind.type
            if kind in (IndicatorType.IPV4, IndicatorType.IPV6, IndicatorType.CIDR):
                try:
                    net = ipaddress.ip_network(ind.value, strict=False)
                except ValueError:
                    continue
                why = _suppression(net.network_address) if net.num_addresses == 1 else _net_suppression(net)
                if why:
                    out.suppressed.append(Suppressed(obs.feed, obs.entry, ind, why))
                    continue
                hits, reason = self.networks_hit(ind)
                for est_id, asset in hits:
                    emit(est_id, ind, asset, reason)
            elif kind in (IndicatorType.DOMAIN, IndicatorType.URL, IndicatorType.EMAIL):
                host = _host_of(ind)
                if host:
                    for est_id, asset in self.domain_hits(host):
                        emit(est_id, ind, asset, "domain")
            elif kind is IndicatorType.ASN:
                for est_id, asset in self.asns.get(int(ind.value), ()):
                    emit(est_id, ind, asset, "asn")
            elif kind is IndicatorType.CVE and not obs.products:
                for product in cve_products.get(ind.value, ()):
                    for est_id, sw in self.product_hits(product):
                        emit(est_id, ind, str(sw), "cve-product", _version_note(sw))
        if obs.products:
            # A catalogue entry: KEV (exploited in the wild) or NVD/CSAF (CPE or product tree, with versions).
            reason = "kev-product" if obs.exploited else "cve-product"
            cves = [i for i in obs.indicators if i.type is IndicatorType.CVE]
            for product in obs.products:
                for est_id, sw in self.product_hits(product):
                    ind = cves[0] if cves else Indicator(IndicatorType.PRODUCT, f"{product.vendor} {product.product}")
                    emit(est_id, ind, str(sw), reason, _version_note(sw))
        if obs.text:
            names, products = self.scan(obs.text)
            for est_id, name in names:
                emit(est_id, Indicator(IndicatorType.NAME, name), name, "name-mention")
            cve = next((i for i in obs.indicators if i.type is IndicatorType.CVE), None)
            for est_id, sw in products:
                if obs.products:
                    if obs.exploited and cve is not None:
                        # KEV names "Fortinet Multiple Products" and lists FortiOS in its description.
                        emit(est_id, cve, str(sw), "kev-product", _version_note(sw))
                    continue  # NVD and CSAF name their products precisely: their prose adds only noise
                ind = Indicator(IndicatorType.PRODUCT, f"{sw.vendor} {sw.product}")
                emit(est_id, ind, str(sw), "product-mention", _version_note(sw))


def _net_suppression(net: Network) -> str | None:
    first = _suppression(net.network_address)
    return first if first and _suppression(net.broadcast_address) else None


def _version_note(sw: Software) -> dict[str, str]:
    return {"version": sw.version or "version unknown"}


def _host_of(ind: Indicator) -> str | None:
    if ind.type is IndicatorType.DOMAIN:
        return ind.value
    if ind.type is IndicatorType.EMAIL:
        return ind.value.rpartition("@")[2] or None
    try:
        return urlsplit(ind.value).hostname
    except ValueError:
        return None
