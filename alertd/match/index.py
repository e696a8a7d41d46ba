"""Matching (contract §3): observations in, findings out, through an index built once from the registry.

Pure: the index is a value built from the registry (and the benign lists and allowlist given to it);
``MatchIndex.match`` reads nothing but its arguments.

Each kind of indicator has its own structure, built once so that each lookup stays cheap at national scale:

- addresses and CIDR blocks: :mod:`alertd.match.addresses` (the address space cut into segments, each with its
  outcome decided once);
- domains, URL and email hosts: :mod:`alertd.match.domains` (a bitmap, then a dict probe per parent suffix);
- software: :mod:`alertd.match.software` (a dict per vendor key, then the version ranges);
- names and product mentions: :class:`alertd.match.names.PhraseIndex`;
- AS numbers and the allowlist's exact values: a dict each, here.

This module builds the parts and runs the match loop. The loop is the hot path (a million indicators a
second): it reads the parts' arrays into locals and inlines the plain IPv4 and IPv6 lookups rather than calling
through them.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from socket import AF_INET, AF_INET6, inet_pton

from alertd.domain.codes import MatchReason
from alertd.domain.establishments import Registry
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.values import Finding, Indicator, IndicatorType, Observation, Product
from alertd.match.addresses import Addresses
from alertd.match.benign import DEFAULT, Allowlist, BenignLists, DefaultLists, default_benign
from alertd.match.domains import Domains
from alertd.match.hits import Hit, Outcome
from alertd.match.names import PhraseIndex, name_keys, words_of
from alertd.match.software import SoftwareHit, SoftwareIndex

_URL_HOST = re.compile(r"^[^:/?#]*://(?:[^/?#@]*@)?(\[[^\]/?#]*\]|[^:/?#]*)")
_T = IndicatorType
_R = MatchReason


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


def _asn_hits(registry: Registry) -> dict[int, tuple[Hit, ...]]:
    """The establishments announcing each AS number, as hits on ``AS<number>``."""
    hits: dict[int, list[Hit]] = defaultdict(list)
    for est in registry.establishments.values():
        for asn in est.asns:
            hits[asn].append((est.id, f"AS{asn}"))
    return {asn: tuple(found) for asn, found in hits.items()}


class MatchIndex:
    """Everything the matcher looks up, built once from a registry and swapped whole on reload.

    ``benign`` defaults to the MISP warninglists (:func:`alertd.match.benign.default_benign`); None uses none
    (private and reserved ranges are always suppressed). ``allowlist`` is the operator's.
    """

    def __init__(
        self,
        registry: Registry,
        benign: BenignLists | DefaultLists | None = DEFAULT,
        allowlist: Allowlist | None = None,
    ) -> None:
        lists = default_benign() if benign is DEFAULT else benign
        self.benign: BenignLists | None = lists
        # The build makes millions of small objects that all live on: collecting meanwhile only wastes time
        # (a national registry builds in half the time with the collector paused).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(registry, lists, allowlist)
        finally:
            if was_enabled:
                gc.enable()

    def _build(self, registry: Registry, lists: BenignLists | None, allowlist: Allowlist | None) -> None:
        self.allowlist = allowlist or Allowlist()
        self.addresses = Addresses(registry, lists, allowlist)
        self._allow_values = dict(self.allowlist.values)
        self.domains = Domains(registry, lists, self.allowlist)
        self.asns = _asn_hits(registry)
        self.software = SoftwareIndex(registry)
        safe, self.unsafe_names = name_keys(registry)
        self.names: PhraseIndex[Hit] = PhraseIndex((key, (est_id, name)) for est_id, name, key in safe)

    def scan(self, text: str) -> tuple[list[Hit], list[SoftwareHit]]:
        """Names and products mentioned in ``text`` on word boundaries."""
        words = words_of(text)
        names = [hit for hits in self.names.scan(words).values() for hit in hits]
        return list(dict.fromkeys(names)), self.software.mentioned(words)

    # -- matching ----------------------------------------------------------------------------------------

    def match(
        self, observations: Sequence[Observation], cve_products: Mapping[str, Sequence[Product]] | None = None
    ) -> MatchResult:
        """Findings for a batch of observations; ``cve_products`` tells which products a CVE affects."""
        result = MatchResult()
        suppressed = result.suppressed
        domain, address, asns = self.domains.lookup, self.addresses.lookup, self.asns
        single, v4_shift = self.addresses.v4_buckets.single, self.addresses.v4_buckets.shift
        allow_values = self._allow_values
        product_hits = self.software.product_hits
        url_host = _URL_HOST.match
        cve_hits: dict[str, list[SoftwareHit]] = {}  # the same CVE in several entries is looked up once
        from_bytes = int.from_bytes
        ipv4, domain_type, url, email, asn, cve = _T.IPV4, _T.DOMAIN, _T.URL, _T.EMAIL, _T.ASN, _T.CVE
        v6 = self.addresses.v6
        ipv6, v6_top, v6_starts, v6_outcomes = _T.IPV6, v6.top, v6.starts, v6.outcomes
        in_network, by_domain = _R.ADDRESS_IN_NETWORK, _R.DOMAIN
        reason: MatchReason | None
        for obs in observations:
            emitter: _Emitter | None = None
            for ind in obs.indicators:
                kind = ind.type
                value = ind.value
                if allow_values and (held := allow_values.get(value.casefold())) is not None:
                    suppressed.append(Suppressed(obs.feed, obs.entry, ind, held))
                    continue
                out: Outcome
                if kind is ipv4:
                    reason = in_network
                    try:
                        number = from_bytes(inet_pton(AF_INET, value), "big")
                    except OSError:
                        out, reason = address(value)  # a CIDR written as an address indicator
                    else:
                        found = single[number >> v4_shift]
                        if found.__class__ is list:
                            starts, outcomes = found
                            out = outcomes[bisect_right(starts, number) - 1]
                        else:
                            out = found
                elif kind is domain_type:
                    reason = by_domain
                    out = domain(value.lower())
                elif kind is url or kind is email:
                    reason = by_domain
                    if kind is url:
                        found_host = url_host(value)
                        host = found_host.group(1).lower() if found_host is not None else ""
                    else:
                        host = value.rpartition("@")[2].lower()
                    if host.endswith("."):
                        host = host[:-1]
                    if not host:
                        continue
                    if host[0] == "[" or host[-1].isdigit():
                        out, reason = address(host.strip("[]"))
                        if not reason:
                            out, reason = domain(host), by_domain
                    else:
                        out = domain(host)
                elif kind is asn:
                    reason = _R.ASN
                    out = asns.get(int(value)) if value.isdigit() else None
                elif kind is cve:
                    if not obs.products and cve_products:
                        if value in cve_hits:
                            software_hits = cve_hits[value]
                        else:
                            software_hits = cve_hits[value] = [
                                hit for product in cve_products.get(value, ()) for hit in product_hits(product)
                            ]
                        for est_id, sw, shown in software_hits:
                            emitter = emitter or _Emitter(obs, result)
                            emitter.emit(est_id, ind, str(sw), _R.CVE_PRODUCT, shown)
                    continue
                elif kind is ipv6:
                    reason = in_network
                    try:
                        number = from_bytes(inet_pton(AF_INET6, value), "big")
                    except OSError:
                        out, reason = address(value)  # a CIDR, or a scoped address
                    else:
                        i = bisect_right(v6_top, number >> 64) - 1
                        while v6_starts[i] > number:
                            i -= 1
                        out = v6_outcomes[i]
                elif kind is _T.CIDR:
                    out, reason = address(value)
                else:
                    continue
                if out is None or reason is None:
                    continue
                if isinstance(out, str):
                    suppressed.append(Suppressed(obs.feed, obs.entry, ind, out))
                    continue
                emitter = emitter or _Emitter(obs, result)
                for est_id, asset in out:
                    emitter.emit(est_id, ind, asset, reason)
            if obs.products or obs.text:
                self._match_catalogue(obs, emitter or _Emitter(obs, result))
        return result

    def _match_catalogue(self, obs: Observation, emitter: _Emitter) -> None:
        if obs.products:
            # A catalogue entry: KEV (exploited in the wild) or NVD/CSAF (CPE or product tree, with versions).
            reason = _R.KEV_PRODUCT if obs.exploited else _R.CVE_PRODUCT
            cves = [i for i in obs.indicators if i.type is _T.CVE]
            for product in obs.products:
                for est_id, sw, shown in self.software.product_hits(product):
                    ind = cves[0] if cves else Indicator(_T.PRODUCT, f"{product.vendor} {product.product}")
                    emitter.emit(est_id, ind, str(sw), reason, shown)
        if obs.text:
            names, products = self.scan(obs.text)
            for est_id, name in names:
                emitter.emit(est_id, Indicator(_T.NAME, name), name, _R.NAME_MENTION)
            cve = next((i for i in obs.indicators if i.type is _T.CVE), None)
            for est_id, sw, shown in products:
                if obs.products:
                    if obs.exploited and cve is not None:
                        # KEV names "Fortinet Multiple Products" and lists FortiOS in its description.
                        emitter.emit(est_id, cve, str(sw), _R.KEV_PRODUCT, shown)
                    continue  # NVD and CSAF name their products precisely: their prose adds only noise
                ind = Indicator(_T.PRODUCT, f"{sw.vendor} {sw.product}")
                emitter.emit(est_id, ind, str(sw), _R.PRODUCT_MENTION, shown)


class _Emitter:
    """Findings of one observation, each (establishment, indicator, reason) once."""

    __slots__ = ("facts", "obs", "out", "seen")

    def __init__(self, obs: Observation, out: MatchResult) -> None:
        self.obs, self.out = obs, out
        self.seen: set[tuple[str, str, MatchReason]] = set()
        self.facts: dict[str, Facts] = {}  # by version shown: one value shared by its findings

    def emit(self, est_id: str, ind: Indicator, asset: str, reason: MatchReason, version: str | None = None) -> None:
        key = (est_id, ind.value, reason)
        if key in self.seen:
            return
        self.seen.add(key)
        obs = self.obs
        facts = obs.facts
        if version is not None:
            shared = self.facts.get(version)
            if shared is None:
                shared = self.facts[version] = facts.with_version(VersionFact.of(version))
            facts = shared
        self.out.findings.append(
            Finding(
                est_id, ind, asset, reason, obs.feed, obs.kind, obs.entry, obs.title, obs.link, obs.published, facts
            )
        )


__all__ = ["MatchIndex", "MatchResult", "Suppressed"]
