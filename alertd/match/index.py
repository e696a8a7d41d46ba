"""Matching (contract §3): observations in, findings out, through an index built once from the registry.

Pure: the index is a value built from the registry (and the benign lists and allowlist given to it);
``MatchIndex.match`` reads nothing but its arguments.

Each kind of indicator has its own structure, built once so that each lookup stays cheap at national scale:

- addresses and CIDR blocks: :mod:`alertd.match.addresses` (the address space cut into segments, each with its
  outcome decided once);
- domains, URL and email hosts: :mod:`alertd.match.domains` (a bitmap, then a dict probe per parent suffix);
- software: :mod:`alertd.match.software` (a dict per vendor key, then the version ranges);
- names: :class:`alertd.match.name_evidence.NameMatcher` (the forms of each name, and the evidence a mention
  needs); product mentions: :class:`alertd.match.names.PhraseIndex`;
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from socket import AF_INET, AF_INET6, inet_pton

from alertd.domain.codes import Evidence, MatchReason, NameForm, VersionBasis
from alertd.domain.establishments import Establishment, Registry, Software
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.knowledge import NO_KNOWLEDGE, Knowledge, Statement
from alertd.domain.values import Finding, Indicator, IndicatorType, Observation, Product, ProductStatus
from alertd.match.addresses import Addresses
from alertd.match.benign import DEFAULT, Allowlist, BenignLists, DefaultLists, default_benign
from alertd.match.domains import Domains
from alertd.match.evidence import Said, Step, judge, relevant, trace
from alertd.match.hits import Hit, Outcome
from alertd.match.name_evidence import Mention, NameMatcher, naming
from alertd.match.names import words_of
from alertd.match.normalise import ProductKey, product_signatures
from alertd.match.software import Candidate, SoftwareHit, SoftwareIndex, item_key, item_signature

_OWN_FORMS = frozenset({NameForm.NAME, NameForm.ALIAS, NameForm.LONG_NAME})
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
    """What a batch of observations gave: findings to decide on, indicators set aside before matching, and
    software findings judged *not affected* (their version fact says why; never an alert)."""

    findings: list[Finding] = field(default_factory=list)
    suppressed: list[Suppressed] = field(default_factory=list)
    not_affected: list[Finding] = field(default_factory=list)


def _asn_hits(registry: Registry) -> dict[int, tuple[Hit, ...]]:
    """The establishments announcing each AS number, as hits on ``AS<number>``."""
    hits: dict[int, list[Hit]] = defaultdict(list)
    for est in registry.establishments.values():
        for asn in est.asns:
            hits[asn].append((est.id, f"AS{asn}"))
    return {asn: tuple(found) for asn, found in hits.items()}


def _networks(est: Establishment) -> object:
    return est.networks


def _domains(est: Establishment) -> object:
    return est.domains


def _asns(est: Establishment) -> object:
    return est.asns


def _software(est: Establishment) -> object:
    return est.software


class _Unchanged:
    """Which parts of the index before a reload can serve the registry after it, unchanged.

    A part is built from some fields of every establishment, in the registry's order (the order of the hits it
    gives), and for addresses and domains from the benign lists and the allowlist too. It serves again when those
    are equal: the establishments taken unchanged from the files a reload did not parse again are the very same
    objects, so the comparison costs a walk over the registry, where a build costs seconds. Equal inputs give an
    equal part: the index built this way answers as one built from scratch (``tests/match/test_rebuild.py``).
    """

    def __init__(
        self, previous: MatchIndex | None, registry: Registry, lists: BenignLists | None, allowlist: Allowlist | None
    ) -> None:
        self.previous = previous
        before = previous._registry.establishments if previous is not None else {}
        after = registry.establishments
        self._same_lists = (
            previous is not None and previous.benign == lists and previous.allowlist == (allowlist or Allowlist())
        )
        # The establishments a reload did not take unchanged, before and after: when the ids are the same, in the
        # same order, a part serves again when these pairs read the same (a walk over the pairs edited, not over
        # the registry); otherwise each part compares everything it reads, in order.
        self._pairs: list[tuple[Establishment, Establishment]] | None = None
        if list(before) == list(after):
            self._pairs = [
                (old, new) for old, new in zip(before.values(), after.values(), strict=True) if old is not new
            ]
        self._before, self._after = tuple(before.values()), tuple(after.values())

    def reusable(self) -> tuple[str, ...]:
        """The names of the parts that can serve again."""
        parts = (
            ("addresses", _networks, True),
            ("domains", _domains, True),
            ("asns", _asns, False),
            ("software", _software, False),
            ("names", naming, False),
        )
        return tuple(name for name, read, lists in parts if self.part(read, lists=lists))

    def part(self, read: Callable[[Establishment], object], *, lists: bool = False) -> bool:
        """Whether what ``read`` takes of each establishment (the empty values left out) is the same, in the same
        order, before and after; and the lists, when the part reads them."""
        if self.previous is None or (lists and not self._same_lists):
            return False
        if self._pairs is not None:
            return all(read(old) == read(new) for old, new in self._pairs)
        before = [(est.id, value) for est in self._before if (value := read(est))]
        after = [(est.id, value) for est in self._after if (value := read(est))]
        return before == after


@dataclass(frozen=True, slots=True)
class Judgement:
    """One registry item judged for one CVE, as ``alertd explain`` shows it."""

    item: Software
    version: str | None  # the version judged (a CPE's update folded in)
    said: tuple[Said, ...]  # what the sources said of its product
    steps: tuple[Step, ...]  # each comparison
    fact: VersionFact  # the evidence


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
        previous: MatchIndex | None = None,
    ) -> None:
        """``previous``: the index of the configuration before a reload; each of its parts whose inputs are the
        same (the registry's fields that part reads, in the same order; the same lists) serves again instead of
        being built (:class:`_Unchanged`)."""
        lists = default_benign() if benign is DEFAULT else benign
        self.benign: BenignLists | None = lists
        # The build makes millions of small objects that all live on: collecting meanwhile only wastes time
        # (a national registry builds in half the time with the collector paused).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._build(registry, lists, allowlist, _Unchanged(previous, registry, lists, allowlist))
        finally:
            if was_enabled:
                gc.enable()

    def _build(
        self, registry: Registry, lists: BenignLists | None, allowlist: Allowlist | None, same: _Unchanged
    ) -> None:
        self.allowlist = allowlist or Allowlist()
        self._allow_values = dict(self.allowlist.values)
        old = same.previous
        # The parts of the index before a reload that serve again, by name (logged by the daemon).
        self.reused: tuple[str, ...] = same.reusable()
        reused = self.reused
        self.addresses: Addresses = (
            old.addresses if old and "addresses" in reused else Addresses(registry, lists, allowlist)
        )
        self.domains: Domains = old.domains if old and "domains" in reused else Domains(registry, lists, self.allowlist)
        self.asns: dict[int, tuple[Hit, ...]] = old.asns if old and "asns" in reused else _asn_hits(registry)
        self.software: SoftwareIndex = old.software if old and "software" in reused else SoftwareIndex(registry)
        self._registry: Registry = registry
        self._platform_keys: dict[str, set[ProductKey]] = {}  # filled on demand: NVD "running on" conditions
        matcher: NameMatcher | None = None
        if old is not None:
            # Names edited: the forms of the establishments concerned replaced in the matcher before, when the
            # edit allows it (NameMatcher.edited), rather than every name's worked out again.
            matcher = old.names.serving(registry) if "names" in reused else old.names.edited(registry)
        self.names: NameMatcher = matcher or NameMatcher(registry, old.names.own_keys() if old else None)
        self.unsafe_names = self.names.unsafe

    def scan(self, text: str, country: str = "") -> tuple[list[Mention], list[SoftwareHit]]:
        """Establishments named in ``text`` (``country``: the post's ISO code, if its source gives one), and
        products mentioned in it, on word boundaries."""
        words = words_of(text)
        return self.names.matched(text, country, words), self.software.mentioned(words)

    # -- matching ----------------------------------------------------------------------------------------

    def match(self, observations: Sequence[Observation], knowledge: Knowledge = NO_KNOWLEDGE) -> MatchResult:
        """Findings for a batch of observations; ``knowledge`` is what the sources said so far of the CVEs they
        cite (:mod:`alertd.domain.knowledge`): the products a bare CVE affects, the ranges a KEV entry is judged
        by."""
        result = MatchResult()
        suppressed = result.suppressed
        domain, address, asns = self.domains.lookup, self.addresses.lookup, self.asns
        single, v4_shift = self.addresses.v4_buckets.single, self.addresses.v4_buckets.shift
        allow_values = self._allow_values
        url_host = _URL_HOST.match
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
                    if obs.products or value in knowledge:
                        emitter = emitter or _Emitter(obs, result)
                        self._match_cve(obs, ind, knowledge, emitter)
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
            if obs.products and not any(i.type is _T.CVE for i in obs.indicators):
                # An advisory naming products without a CVE: judged by its own products alone.
                product = obs.products[0]
                ind = Indicator(_T.PRODUCT, f"{product.vendor} {product.product}")
                self._match_products(obs, ind, [Statement.of(obs)], emitter or _Emitter(obs, result))
            if obs.text:
                self._match_text(obs, knowledge, emitter or _Emitter(obs, result))
        return result

    # -- vulnerabilities ---------------------------------------------------------------------------------

    def _match_cve(self, obs: Observation, cve: Indicator, knowledge: Knowledge, emitter: _Emitter) -> None:
        """The registry items a CVE concerns, each judged by every statement known for it (this entry's own
        statement in place of what the store holds for it)."""
        statements = [s for s in knowledge.get(cve.value, ()) if (s.feed, s.entry) != (obs.feed, obs.entry)]
        if obs.products or obs.exploited:
            statements.append(Statement.of(obs))
        self._match_products(obs, cve, statements, emitter)

    def _match_products(
        self, obs: Observation, ind: Indicator, statements: Sequence[Statement], emitter: _Emitter
    ) -> None:
        """Findings for the registry items the products name, one per item, with their version judgement.

        Identity comes from the entry's own products; an entry naming none, or naming products without versions
        (KEV), also takes the products other sources named for the CVE. Prose never makes a product match here.
        """
        reason = _R.KEV_PRODUCT if obs.exploited else _R.CVE_PRODUCT
        identity = list(obs.products)
        if not identity or all(p.status is ProductStatus.NAMED for p in identity):
            identity += [p for s in statements for p in s.products if (s.feed, s.entry) != (obs.feed, obs.entry)]
        for group, said in self._judged_groups(identity, relevant(statements)):
            self._emit_judged(emitter, ind, reason, group.items, group.version, said)

    def _judged_groups(
        self, identity: Iterable[Product], said: Sequence[Said]
    ) -> Iterator[tuple[Candidate, list[Said]]]:
        """Each group of registry items the products name, once, with what the sources said of its product (the
        statements about one key, edition and platform are sorted out once, whatever the versions)."""
        concerns = self.software.concerns
        about: dict[tuple[ProductKey, str | None, str | None], list[Said]] = {}
        seen: set[tuple[object, ...]] = set()
        for product in identity:
            for group in self.software.candidates(product):
                mark = (group.key, group.version, group.edition, group.target_sw)
                if mark in seen:
                    continue
                seen.add(mark)
                scope = (group.key, group.edition, group.target_sw)
                mine = about.get(scope)
                if mine is None:
                    mine = about[scope] = [s for s in said if concerns(s.product, *scope)]
                yield group, mine

    def explain(self, est_id: str, cve: str, knowledge: Knowledge) -> list[Judgement]:
        """How each of an establishment's registry items is judged for a CVE, by what the sources said of it:
        the statements about its product, every comparison, and the evidence (``alertd explain``). The same
        identity and judgement as :meth:`match`, for one establishment."""
        statements = list(knowledge.get(cve, ()))
        out: list[Judgement] = []
        identity = [p for s in statements for p in s.products]
        for group, about in self._judged_groups(identity, relevant(statements)):
            for est, sw in group.items:
                if est == est_id:
                    mine = _same_product(about, item_signature(sw))
                    fact = self._judge_for(est_id, group.version, mine)
                    out.append(Judgement(sw, group.version, tuple(mine), tuple(trace(group.version, mine)), fact))
        return out

    def _emit_judged(
        self,
        emitter: _Emitter,
        ind: Indicator,
        reason: MatchReason,
        items: Sequence[tuple[str, Software]],
        version: str | None,
        said: Sequence[Said],
    ) -> None:
        """Judge a group of items sharing a product and version, and emit each item's finding.

        A product NVD says is vulnerable only when running on some platform counts for an establishment only
        if it declares one of those platforms; one that declares none is told the version was not checked.
        """
        by_signature: dict[ProductKey | None, Sequence[tuple[str, Software]]] = {}
        first = items[0][1]
        vendor, product, cpe = first.vendor, first.product, first.cpe
        if all(sw.product == product and sw.vendor == vendor and sw.cpe == cpe for _, sw in items):
            by_signature[item_signature(first)] = items  # the usual case: one product name in the group
        else:
            split: dict[ProductKey | None, list[tuple[str, Software]]] = {}
            for item in items:
                split.setdefault(item_signature(item[1]), []).append(item)
            by_signature.update(split)
        for signature, members in by_signature.items():
            mine = _same_product(said, signature)
            if not any(s.product.running_on for s in mine):
                fact = judge(version, mine)
                for est_id, sw in members:
                    emitter.emit_software(est_id, ind, str(sw), reason, fact)
                continue
            for est_id, sw in members:
                emitter.emit_software(est_id, ind, str(sw), reason, self._judge_for(est_id, version, mine))

    def _judge_for(self, est_id: str, version: str | None, said: Sequence[Said]) -> VersionFact:
        """The judgement for one establishment: a product vulnerable only when running on some platform counts
        only if it declares one; if that alone would make it affected, the version is not checked (platform)."""
        here = [s for s in said if not s.product.running_on or self._runs_on(est_id, s.product.running_on)]
        fact = judge(version, here)
        if len(here) < len(said) and not fact.affected and judge(version, said).affected:
            return VersionFact.judged(VersionBasis.PLATFORM, version)
        return fact

    def _runs_on(self, est_id: str, platforms: Sequence[Product]) -> bool:
        """Whether the establishment declares one of these platforms in its inventory."""
        keys = self._platform_keys.get(est_id)
        if keys is None:
            est = self._registry.establishments.get(est_id)
            items = (item_key(sw) for sw in est.software) if est else ()
            keys = self._platform_keys[est_id] = {item.key for item in items if item is not None}
        return any(self.software.concerns(p, key, None, None) for p in platforms for key in keys)

    def _match_text(self, obs: Observation, knowledge: Knowledge, emitter: _Emitter) -> None:
        """Names in any text; products only in an advisory's prose (a catalogue names its products exactly, and
        a description that merely mentions a product is no product match). A mentioned product's version is
        judged by what the sources said of the CVEs the advisory cites, if any."""
        names, products = self.scan(obs.text, obs.facts.country_code or "")
        for found in names:
            # A registered name or alias is the indicator, as the registry writes it; a derived form or an
            # acronym is shown as the text writes it, the establishment's name as the asset.
            if found.kind in _OWN_FORMS:
                emitter.emit(found.establishment, Indicator(_T.NAME, found.name), found.name, _R.NAME_MENTION)
            else:
                name = self._registry.establishments[found.establishment].name
                emitter.emit(found.establishment, Indicator(_T.NAME, found.written), name, _R.NAME_MENTION)
        if obs.products or obs.exploited or not products:
            return
        cves = [i.value for i in obs.indicators if i.type is _T.CVE]
        said = relevant(s for cve in cves for s in knowledge.get(cve, ()))
        for est_id, sw, _shown in products:
            item = item_key(sw)
            if item is None:
                continue
            mine = [s for s in said if self.software.concerns(s.product, item.key, item.edition, item.target_sw)]
            mine = _same_product(mine, item_signature(sw))
            ind = Indicator(_T.PRODUCT, f"{sw.vendor} {sw.product}")
            emitter.emit_software(est_id, ind, str(sw), _R.PRODUCT_MENTION, judge(item.version, mine))


def _same_product(said: Sequence[Said], signature: ProductKey | None) -> list[Said]:
    """What the sources said of exactly this product (:func:`alertd.match.software.item_signature`): identity
    lets "Windows" name Windows Server 2019, and Chromium name Edge, but Server 2019's ranges never judge
    Windows Server 2008, nor Chromium's build numbers Edge's."""
    if signature is None:
        return []
    return [s for s in said if signature in product_signatures(s.product.vendor, s.product.product)]


class _Emitter:
    """Findings of one observation, each (establishment, indicator, reason) once, and for software each
    (establishment, indicator, reason, asset) once."""

    __slots__ = ("facts", "obs", "out", "seen")

    def __init__(self, obs: Observation, out: MatchResult) -> None:
        self.obs, self.out = obs, out
        self.seen: set[tuple[str, str, MatchReason, str]] = set()
        self.facts: dict[VersionFact, Facts] = {}  # by version judgement: one value shared by its findings

    def emit(self, est_id: str, ind: Indicator, asset: str, reason: MatchReason) -> None:
        """A finding that is not about software: one per (establishment, indicator, reason)."""
        key = (est_id, ind.value, reason, "")
        if key in self.seen:
            return
        self.seen.add(key)
        self.out.findings.append(self._finding(est_id, ind, asset, reason, self.obs.facts))

    def emit_software(self, est_id: str, ind: Indicator, asset: str, reason: MatchReason, version: VersionFact) -> None:
        """A software finding, one per (establishment, indicator, reason, asset): a finding when the version is
        affected or unverified, a not-affected record otherwise."""
        key = (est_id, ind.value, reason, asset)
        if key in self.seen:
            return
        self.seen.add(key)
        facts = self.facts.get(version)
        if facts is None:
            facts = self.facts[version] = self.obs.facts.with_version(version)
        finding = self._finding(est_id, ind, asset, reason, facts)
        if version.evidence is Evidence.NOT_AFFECTED:
            self.out.not_affected.append(finding)
        else:
            self.out.findings.append(finding)

    def _finding(self, est_id: str, ind: Indicator, asset: str, reason: MatchReason, facts: Facts) -> Finding:
        obs = self.obs
        return Finding(
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
            facts,
            obs.tlp,
        )


__all__ = ["Judgement", "MatchIndex", "MatchResult", "Suppressed"]
