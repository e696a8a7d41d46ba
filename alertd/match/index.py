"""Matching (contract §3): observations in, findings out, through an index built once from the registry.

Pure: the index is a value built from the registry (and the benign lists and allowlist given to it);
``MatchIndex.match`` reads nothing but its arguments.

How each lookup stays cheap at national scale:

- Addresses. Every CIDR block that matters — the registry's networks, the private and reserved ranges, the
  benign lists and the allowlist — is a prefix, so any two either nest or are disjoint. One sweep cuts each
  address space into segments covered by the same blocks, and decides once per segment what an address there
  yields: a suppression label, the establishments it hits, or nothing. Looking an address up is then one
  ``bisect`` over a compact array (IPv4: a list index per /20, and a short bisect where segments split one).
  CIDR indicators use the blocks covering the segment plus the registry networks that start inside them.
- Domains, URL and email hosts: a hash bitmap answers for most hosts that nothing is known under their
  two-label suffix; otherwise one dict probe per parent suffix, outwards, tells which establishments own it,
  whether a popular-domain list holds it, and whether the allowlist does.
- Software: a dict per vendor key, probed with each run of the catalogue's product words (aliases applied), then
  the version ranges checked (:mod:`alertd.versions`).
- Names and product mentions: :class:`alertd.names.PhraseIndex`.
"""

from __future__ import annotations

import functools
import gc
import re
from array import array
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any

from alertd.domain.codes import Evidence, MatchReason
from alertd.domain.cpe import parse_cpe
from alertd.domain.establishments import Registry, Software
from alertd.domain.facts import Facts, VersionFact
from alertd.domain.values import Finding, Indicator, IndicatorType, Observation, Product
from alertd.match.benign import (
    DEFAULT,
    HOST_PREFIX,
    SPECIAL_BLOCKS,
    Allowlist,
    BenignLists,
    Block,
    DefaultLists,
    default_benign,
)
from alertd.match.names import PhraseIndex, name_keys, words_of
from alertd.match.normalise import (
    canonical_product,
    product_key,
    product_tokens,
    tokens,
    vendor_key,
    vendor_words,
)
from alertd.match.versions import affected

Hit = tuple[str, str]  # (establishment id, the asset hit, as shown to the establishment)
Outcome = str | tuple[Hit, ...] | None  # a suppression label, the hits, or nothing
SoftwareHit = tuple[str, Software, str]  # (establishment id, software item, version shown)
_VersionKey = str | None | tuple[str, str | None]  # a registry item's version, or its (CPE, version)

_PRIVATE, _ALLOW, _BENIGN, _NET = 0, 1, 2, 3  # block kinds; at equal ranges the lower sorts first
_MAX_RUN = 8  # the longest run of catalogue product words probed
_BITS_MASK = (1 << 19) - 1  # the domain bitmap's size in bytes, less one
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


class _Net:
    """A registry network, as the address sweep sees it."""

    __slots__ = ("asset", "blocked", "end", "est_id", "small", "start")

    def __init__(self, est_id: str, asset: str, start: int, end: int, small: bool) -> None:
        self.est_id, self.asset, self.start, self.end, self.small = est_id, asset, start, end, small
        self.blocked = False  # inside a private range, the allowlist, or (not a declared host) a benign range


_Block = tuple[int, int, int, "str | _Net"]  # (first, last, kind, label or network)


class _Space:
    """One IP version's address space, cut into segments that the same blocks cover."""

    def __init__(self, bits: int, blocks: list[_Block]) -> None:
        self.bits = bits
        blocks.sort(key=lambda b: (b[0], -b[1], b[2]))
        starts: list[int] = []
        covers: list[tuple[_Block, ...]] = []
        stack: list[_Block] = []
        cursor = 0
        for block in blocks:
            first = block[0]
            while stack and stack[-1][1] < first:
                last = stack[-1][1]
                if cursor <= last:
                    starts.append(cursor)
                    covers.append(tuple(stack))
                    cursor = last + 1
                stack.pop()
            if cursor < first:
                starts.append(cursor)
                covers.append(tuple(stack))
                cursor = first
            if block[2] == _NET:
                _mark(block, stack)
            stack.append(block)
        while stack:
            last = stack[-1][1]
            if cursor <= last:
                starts.append(cursor)
                covers.append(tuple(stack))
                cursor = last + 1
            stack.pop()
        if cursor < 1 << bits:
            starts.append(cursor)
            covers.append(())
        self.starts = starts
        self.covers = covers
        self.outcomes: list[Outcome] = [_outcome(cover) for cover in covers]
        self.nets = [net for b in blocks if isinstance(net := b[3], _Net)]  # sorted as the blocks are
        # Bisecting a list of Python ints chases a pointer per probe; a compact array of the top 64 bits (all 32
        # in IPv4) keeps the probes in a few cache lines, and three times faster at national scale.
        self._shift = max(bits - 64, 0)
        self._top = array("Q", [start >> self._shift for start in starts])
        self.net_top = array("Q", [n.start >> self._shift for n in self.nets])
        self.buckets = _Buckets(self) if bits == 32 else None

    def _segment(self, address: int) -> int:
        """The index of the segment holding ``address``."""
        if self.buckets is not None:
            return self.buckets.segment(address)
        i = bisect_right(self._top, address >> self._shift) - 1
        if self._shift:
            starts = self.starts
            while starts[i] > address:  # segments starting inside the same /64
                i -= 1
        return i

    def address(self, address: int) -> Outcome:
        return self.outcomes[self._segment(address)]

    def network(self, first: int, last: int) -> Outcome:
        """What a CIDR indicator yields: the networks containing it or inside it, unless a list holds it."""
        benign: _Block | None = None
        allow: str | None = None
        nets: list[_Net] = []
        for block in self.covers[self._segment(first)]:
            if block[1] < last:
                continue  # covers the start of the indicator, not all of it
            kind, payload = block[2], block[3]
            if kind == _PRIVATE:
                return payload  # type: ignore[return-value]
            if kind == _ALLOW:
                allow = payload  # type: ignore[assignment]
            elif kind == _BENIGN:
                benign = benign or block
            else:
                nets.append(payload)  # type: ignore[arg-type]
        if allow is not None:
            return allow
        top, shift = self.net_top, self._shift
        low, high = self.buckets.nets_between(first, last) if self.buckets is not None else (0, len(top))
        lo = bisect_left(top, first >> shift, low, high)
        hi = bisect_right(top, last >> shift, lo, high)
        inside = [n for n in self.nets[lo:hi] if first <= n.start and n.end <= last] if hi > lo else []
        if not nets and not inside:
            return None if benign is None else self._benign_label(first, last)
        nets.reverse()  # the most specific first
        if benign is not None:
            hits = [n for n in nets if _through(n, benign)] + [n for n in inside if n.small]
            if not hits:
                return self._benign_label(first, last)
        else:
            hits = nets + [n for n in inside if not n.blocked]
        return _hits(hits)

    def _benign_label(self, first: int, last: int) -> str:
        cover = self.covers[self._segment(first)]
        return _innermost_label([b for b in cover if b[1] >= last])


def _hits(nets: Iterable[_Net]) -> tuple[Hit, ...] | None:
    """Each establishment once, with its most specific network (the first given)."""
    found: dict[str, str] = {}
    for net in nets:
        if net.est_id not in found:
            found[net.est_id] = net.asset
    return tuple(found.items()) or None


def _mark(block: _Block, ancestors: list[_Block]) -> None:
    """Decide once whether a registry network can be hit at all (contract §3)."""
    net: _Net = block[3]  # type: ignore[assignment]
    for kind_block in ancestors:
        kind = kind_block[2]
        if kind in (_PRIVATE, _ALLOW) or (kind == _BENIGN and not net.small):
            net.blocked = True
            return


def _through(net: _Net, benign: _Block) -> bool:
    """A network inside a benign range lets an address through if it is a declared host, or if it strictly
    contains the benign range (the listed address is then in the establishment's own space)."""
    return net.small or (
        net.start <= benign[0] and benign[1] <= net.end and net.end - net.start > benign[1] - benign[0]
    )


def _innermost_label(cover: Sequence[_Block]) -> str:
    return next(b[3] for b in reversed(cover) if b[2] == _BENIGN)  # type: ignore[return-value]


def _outcome(cover: tuple[_Block, ...]) -> Outcome:
    """What an address in a segment covered by ``cover`` (outermost first) yields."""
    if not cover:
        return None
    allow: str | None = None
    benign: _Block | None = None
    nets: list[_Net] = []
    for block in cover:
        kind = block[2]
        if kind == _PRIVATE:
            return block[3]  # type: ignore[return-value]
        if kind == _ALLOW:
            allow = block[3]  # type: ignore[assignment]
        elif kind == _BENIGN:
            benign = benign or block
        else:
            nets.append(block[3])  # type: ignore[arg-type]
    if allow is not None:
        return allow
    nets.reverse()  # the most specific network first: it is the asset shown
    if benign is not None:
        nets = [n for n in nets if _through(n, benign)]
        if not nets:
            return _innermost_label(cover)
    return _hits(nets)


class _Buckets:
    """IPv4 segments split in equal buckets (/20s at national scale), so that most lookups are one list index
    and the rest bisect a short array.

    ``single[address >> shift]`` is the outcome of the whole bucket, or a list ``[starts, outcomes]`` to bisect
    (outcomes are never lists, so the type tells them apart). Each ``starts`` is a compact ``array``: bisecting
    it reads one cache line instead of chasing a pointer per probe. ``base`` holds the index of the segment at
    each bucket's start and ``net_base`` that of the first registry network starting there, for CIDR lookups.
    """

    def __init__(self, space: _Space) -> None:
        starts, outcomes = space.starts, space.outcomes
        # About two buckets per segment, from 256 (a test's registry) to a million (a national one).
        self.shift = shift = 32 - min(max(len(starts).bit_length() + 1, 8), 20)
        count = 1 << (32 - shift)
        # An Outcome, or [starts, outcomes]: a union mypy cannot narrow by ``__class__``, hence Any.
        single: list[Any] = [None] * count
        base = array("I", bytes(4 * count))
        # The /20s wholly inside a segment take its outcome (slice assignments: no loop over a million /20s).
        ends = [*starts[1:], 1 << 32]
        for k, (first, end) in enumerate(zip(starts, ends, strict=True)):
            b0, b1 = (first + (1 << shift) - 1) >> shift, end >> shift
            if b1 > b0:
                single[b0:b1] = [outcomes[k]] * (b1 - b0)
                base[b0:b1] = array("I", [k]) * (b1 - b0)
        # The /20s a segment starts inside of are split.
        for bucket in sorted({first >> shift for first in starts if first & ((1 << shift) - 1)}):
            first = bucket << shift
            i = bisect_right(starts, first) - 1
            j = bisect_left(starts, first + (1 << shift), i + 1)
            single[bucket] = [array("I", [first, *starts[i + 1 : j]]), outcomes[i:j]]
            base[bucket] = i
        counts = [0] * count
        for net_start in space.net_top:
            counts[net_start >> shift] += 1
        self.single = single
        self.base = base
        self.net_base = array("I", accumulate(counts, initial=0))

    def lookup(self, address: int) -> Outcome:
        found = self.single[address >> self.shift]
        if found.__class__ is list:
            starts, outcomes = found
            outcome: Outcome = outcomes[bisect_right(starts, address) - 1]
            return outcome
        return found  # type: ignore[no-any-return]

    def segment(self, address: int) -> int:
        """The index of the segment holding ``address`` in the whole space."""
        bucket = address >> self.shift
        found = self.single[bucket]
        if found.__class__ is list:
            return self.base[bucket] + bisect_right(found[0], address) - 1
        return self.base[bucket]

    def nets_between(self, first: int, last: int) -> tuple[int, int]:
        """The bounds within which to bisect for registry networks starting in [first, last]."""
        return self.net_base[first >> self.shift], self.net_base[(last >> self.shift) + 1]


def _blocks(
    registry: Registry, benign: BenignLists | None, allowlist: Allowlist | None
) -> tuple[list[_Block], list[_Block]]:
    v4: list[_Block] = []
    v6: list[_Block] = []
    by_version = {4: v4, 6: v6}

    def add(blocks: Iterable[Block], kind: int) -> None:
        for version, first, last, label in blocks:
            by_version[version].append((first, last, kind, label))

    add(SPECIAL_BLOCKS, _PRIVATE)
    if allowlist is not None:
        add(allowlist.networks, _ALLOW)
    if benign is not None:
        add(benign.networks, _BENIGN)
    for est in registry.establishments.values():
        for net in est.networks:
            first = int(net.network_address)
            length = net.prefixlen
            if net.version == 4:
                last = first | ((1 << (32 - length)) - 1)
                asset = f"{inet_ntop(AF_INET, first.to_bytes(4, 'big'))}/{length}"  # str(net), 10x faster
                v4.append((first, last, _NET, _Net(est.id, asset, first, last, length >= HOST_PREFIX[4])))
            else:
                last = first | ((1 << (128 - length)) - 1)
                v6.append((first, last, _NET, _Net(est.id, str(net), first, last, length >= HOST_PREFIX[6])))
    return v4, v6


class MatchIndex:
    """Everything the matcher looks up, built once from a registry and swapped whole on reload.

    ``benign`` defaults to the MISP warninglists (:func:`alertd.benign.default_benign`); None uses none (private
    and reserved ranges are always suppressed). ``allowlist`` is the operator's.
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
        v4, v6 = _blocks(registry, lists, allowlist)
        self.v4 = _Space(32, v4)
        self.v6 = _Space(128, v6)
        assert self.v4.buckets is not None
        self._v4_buckets = self.v4.buckets
        self._asn_lists: dict[int, list[Hit]] = defaultdict(list)
        self._allow_values = dict(self.allowlist.values)
        self._build_domains(registry, lists)
        self.asns: dict[int, tuple[Hit, ...]] = {asn: tuple(hits) for asn, hits in self._asn_lists.items()}
        self._build_software(registry)
        safe, self.unsafe_names = name_keys(registry)
        self.names: PhraseIndex[Hit] = PhraseIndex((key, (est_id, name)) for est_id, name, key in safe)

    # -- building ----------------------------------------------------------------------------------------

    def _build_domains(self, registry: Registry, lists: BenignLists | None) -> None:
        hits: dict[str, list[Hit]] = defaultdict(list)
        for est in registry.establishments.values():
            for domain in est.domains:
                hits[domain].append((est.id, domain))
            for asn in est.asns:
                self._asn_lists[asn].append((est.id, f"AS{asn}"))
        popular = lists.domains if lists is not None else {}
        allowed = self.allowlist.domains
        # domain → (the establishments owning it, the popular list holding it, the allowlist reason)
        self._domains: dict[str, tuple[tuple[Hit, ...], str | None, str | None]] = {}
        for domain in hits.keys() | popular.keys() | allowed.keys():
            self._domains[domain] = (
                tuple(dict.fromkeys(hits.get(domain, ()))),
                popular.get(domain),
                allowed.get(domain),
            )
        # Every parent of a key (down to two labels) is a key too, empty if need be: a lookup walks from the
        # two-label suffix outwards and stops at the first suffix missing, most hosts after one probe.
        for domain in list(self._domains):
            parent = domain.partition(".")[2]
            while "." in parent and parent not in self._domains:
                self._domains[parent] = ((), None, None)
                parent = parent.partition(".")[2]
        # A bitmap of the keys' hashes answers "surely not there" from 512 KB that stay in cache, where a miss
        # in a dict of 150,000 keys costs several trips to memory (the dict then confirms the 4% false hits).
        bits = bytearray(_BITS_MASK + 1)
        for domain in self._domains:
            code = hash(domain)
            bits[(code >> 3) & _BITS_MASK] |= 1 << (code & 7)
        self._domain_bits = bits

    def _build_software(self, registry: Registry) -> None:
        # vendor key → product tokens → items; and vendor key → a product's leading words → product tokens,
        # for catalogue names that are a registry product without its edition ("Exchange Server" → "... 2019").
        software: dict[str, dict[tuple[str, ...], dict[_VersionKey, list[tuple[str, Software]]]]] = defaultdict(dict)
        # The same few thousand (vendor, product) pairs come back a million times: normalise each once. Items
        # are grouped by version, so that a CVE decides each version once, not each of its thousands of items.
        lists: dict[tuple[str, str], dict[_VersionKey, list[tuple[str, Software]]] | None] = {}
        for est in registry.establishments.values():
            est_id = est.id
            for sw in est.software:
                pair = (sw.vendor, sw.product)
                if pair in lists:
                    target = lists[pair]
                else:
                    vkey, pkey = product_key(sw.vendor, sw.product)
                    target = software[vkey].setdefault(pkey, {}) if pkey else None
                    lists[pair] = target
                if target is not None:
                    version_key = sw.version if sw.cpe is None else (sw.cpe, sw.version)
                    group = target.get(version_key)
                    if group is None:
                        target[version_key] = [(est_id, sw)]
                    else:
                        group.append((est_id, sw))
        phrases = [pair for pair, target in lists.items() if target is not None]
        self._software = dict(software)
        self._editions: dict[str, dict[tuple[str, ...], list[tuple[str, ...]]]] = defaultdict(lambda: defaultdict(list))
        for vkey, table in self._software.items():
            for pkey in table:
                for cut in range(1, len(pkey)):
                    if all(_is_edition(word) for word in pkey[cut:]):
                        self._editions[vkey][pkey[:cut]].append(pkey)
        # Product mentions in prose: "Fortinet FortiOS", or "FortiOS" with "Fortinet" elsewhere in the text.
        mentions: list[tuple[tuple[str, ...], tuple[str, tuple[str, ...], tuple[str, ...]]]] = []
        for vendor, product in phrases:
            vkey, pkey = product_key(vendor, product)
            vwords = vendor_words(vendor)
            pwords = tokens(product)
            if not pwords or not vwords:
                continue
            if pwords[: len(vwords)] == vwords:
                mentions.append((pwords, (vkey, pkey, ())))
            else:
                mentions.append((vwords + pwords, (vkey, pkey, ())))
                mentions.append((pwords, (vkey, pkey, vwords)))
        self.products: PhraseIndex[tuple[str, tuple[str, ...], tuple[str, ...]]] = PhraseIndex(mentions)

    # -- lookups -----------------------------------------------------------------------------------------

    def address(self, value: str) -> tuple[Outcome, MatchReason | None]:
        """What an address or CIDR yields, and the reason a hit would carry."""
        if "/" in value:
            text, _, length_text = value.partition("/")
            v6 = ":" in text
            try:
                address = int.from_bytes(inet_pton(AF_INET6 if v6 else AF_INET, text), "big")
                length = int(length_text)
            except (OSError, ValueError):
                return None, None
            bits = 128 if v6 else 32
            if not 0 <= length <= bits:
                return None, None
            host = (1 << (bits - length)) - 1
            first = address & ~host
            space = self.v6 if v6 else self.v4
            if host == 0:
                return space.address(first), _R.ADDRESS_IN_NETWORK
            return space.network(first, first | host), _R.NETWORK_OVERLAP
        try:
            if ":" in value:
                return self.v6.address(int.from_bytes(inet_pton(AF_INET6, value), "big")), _R.ADDRESS_IN_NETWORK
            return self._v4(int.from_bytes(inet_pton(AF_INET, value), "big")), _R.ADDRESS_IN_NETWORK
        except OSError:
            return None, None

    def _v4(self, address: int) -> Outcome:
        return self._v4_buckets.lookup(address)

    def domain(self, host: str) -> Outcome:
        """Establishments owning ``host`` or one of its parent domains, unless a list holds it back."""
        end = host.rfind(".")
        if end <= 0:
            return None
        start = host.rfind(".", 0, end)
        suffix = host[start + 1 :]
        code = hash(suffix)
        if not self._domain_bits[(code >> 3) & _BITS_MASK] & (1 << (code & 7)):
            return None  # most hosts: no registry domain, list or allowlist entry under this suffix
        entry = self._domains.get(suffix)
        if entry is None:
            return None
        table = self._domains
        hits: list[Hit] = []
        popular: str | None = None
        popular_length = 0
        allow: str | None = None
        while True:
            owners, listed, allowed = entry
            if allowed is not None:
                allow = allowed
            if listed is not None and popular is None:
                popular, popular_length = listed, len(host) - start - 1
            hits.extend(owners)
            if start < 0:
                break
            start = host.rfind(".", 0, start)
            entry = table.get(host[start + 1 :])
            if entry is None:
                break
        if allow is not None:
            return allow
        if popular is not None:
            # A popular domain never alerts by itself; a domain an establishment declared below it still does.
            below = tuple(h for h in reversed(hits) if len(h[1]) > popular_length)
            return below or popular
        return tuple(reversed(hits)) if hits else None  # the most specific domain first

    def product_hits(self, product: Product) -> list[SoftwareHit]:
        """Software items a catalogue product names, at an affected version.

        The vendors must agree (:func:`alertd.normalise.vendor_key`); the registry's product must be a run of
        the catalogue's product words ("NetScaler ADC" in "NetScaler ADC and NetScaler Gateway"), or the
        catalogue's product the registry's without an edition ("Exchange Server" for "Exchange Server 2019").
        A version outside every range of the product does not match; an item without a version does, as
        :attr:`Evidence.VERSION_UNKNOWN`.
        """
        vkey = vendor_key(product.vendor)
        table = self._software.get(vkey)
        if not table:
            return []
        editions = self._editions.get(vkey, {})
        words = product_tokens(product.product)
        keys: dict[tuple[str, ...], None] = {}
        for i in range(len(words)):
            for j in range(i + 1, min(len(words), i + _MAX_RUN) + 1):
                run = canonical_product(vkey, words[i:j])
                if run in table:
                    keys[run] = None
                for longer in editions.get(run, ()):
                    keys[longer] = None
        hits: list[SoftwareHit] = []
        ranges = product.versions
        for key in keys:
            for version_key, items in table[key].items():
                version = version_key if not isinstance(version_key, tuple) else _cpe_version(*version_key)
                shown = affected(version, ranges)
                if shown is not None:
                    hits.extend((est_id, sw, shown) for est_id, sw in items)
        return hits

    def scan(self, text: str) -> tuple[list[Hit], list[SoftwareHit]]:
        """Names and products mentioned in ``text`` on word boundaries."""
        words = words_of(text)
        names = [hit for hits in self.names.scan(words).values() for hit in hits]
        products: list[SoftwareHit] = []
        found = self.products.scan(words)
        if found:
            present = words.tokens() if any(needs for values in found.values() for _, _, needs in values) else set()
            for values in found.values():
                for vkey, pkey, needs in values:
                    if all(w in present for w in needs):
                        for items in self._software[vkey][pkey].values():
                            products.extend(
                                (est_id, sw, _version_of(sw) or Evidence.VERSION_UNKNOWN) for est_id, sw in items
                            )
        return list(dict.fromkeys(names)), list(dict.fromkeys(products))

    # -- matching ----------------------------------------------------------------------------------------

    def match(
        self, observations: Sequence[Observation], cve_products: Mapping[str, Sequence[Product]] | None = None
    ) -> MatchResult:
        """Findings for a batch of observations; ``cve_products`` tells which products a CVE affects."""
        result = MatchResult()
        suppressed = result.suppressed
        domain, address, asns = self.domain, self.address, self.asns
        single, v4_shift = self._v4_buckets.single, self._v4_buckets.shift
        allow_values = self._allow_values
        url_host = _URL_HOST.match
        cve_hits: dict[str, list[SoftwareHit]] = {}  # the same CVE in several entries is looked up once
        from_bytes = int.from_bytes
        ipv4, domain_type, url, email, asn, cve = _T.IPV4, _T.DOMAIN, _T.URL, _T.EMAIL, _T.ASN, _T.CVE
        ipv6, v6_top, v6_starts, v6_outcomes = _T.IPV6, self.v6._top, self.v6.starts, self.v6.outcomes
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
                                hit for product in cve_products.get(value, ()) for hit in self.product_hits(product)
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
                for est_id, sw, shown in self.product_hits(product):
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


_EDITION_WORDS = frozenset(
    {"server", "enterprise", "professional", "pro", "standard", "datacenter", "edition", "lts", "ltsc", "esr", "x64"}
)


def _is_edition(word: str) -> bool:
    """Words that name an edition or a release of a product rather than another product."""
    return word.isdigit() or word in _EDITION_WORDS or bool(re.fullmatch(r"[a-z]?\d+[a-z]?", word))


def _version_of(sw: Software) -> str | None:
    """The version a registry item declares; a CPE's update field is part of it (``2019`` + ``cu12``)."""
    return _cpe_version(sw.cpe, sw.version) if sw.cpe else sw.version


@functools.lru_cache(maxsize=65536)
def _cpe_version(cpe_text: str, version: str | None) -> str | None:
    cpe = parse_cpe(cpe_text)
    if cpe is not None and cpe.update and (version is None or version == cpe.version):
        return cpe.full_version
    return version


__all__ = ["MatchIndex", "MatchResult", "Suppressed"]
