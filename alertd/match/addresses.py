"""Addresses and CIDR blocks (contract §3): what an IPv4 or IPv6 indicator hits, or which list holds it back.

Every CIDR block that matters — the registry's networks, the private and reserved ranges, the benign lists and
the allowlist — is a prefix, so any two either nest or are disjoint. One sweep cuts each address space into
segments covered by the same blocks, and decides once per segment what an address there yields: a suppression
label, the establishments it hits, or nothing. Looking an address up is then one ``bisect`` over a compact array
(IPv4: a list index per /20, and a short bisect where segments split one). CIDR indicators use the blocks
covering the segment plus the registry networks that start inside them.

Built once per registry, then read only: :class:`Addresses` holds both spaces and answers for an indicator's
text; the match loop reads the arrays of :class:`AddressSpace` directly for plain addresses, its hot path.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import accumulate
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any

from alertd.domain.codes import MatchReason
from alertd.domain.establishments import Registry
from alertd.match.benign import HOST_PREFIX, SPECIAL_BLOCKS, Allowlist, BenignLists, Block
from alertd.match.hits import Hit, Outcome

_PRIVATE, _ALLOW, _BENIGN, _NET = 0, 1, 2, 3  # block kinds; at equal ranges the lower sorts first
_R = MatchReason


class _Net:
    """A registry network, as the address sweep sees it."""

    __slots__ = ("asset", "blocked", "end", "est_id", "small", "start")

    def __init__(self, est_id: str, asset: str, start: int, end: int, small: bool) -> None:
        self.est_id, self.asset, self.start, self.end, self.small = est_id, asset, start, end, small
        self.blocked = False  # inside a private range, the allowlist, or (not a declared host) a benign range


_Block = tuple[int, int, int, "str | _Net"]  # (first, last, kind, label or network)


class AddressSpace:
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
        self.top = array("Q", [start >> self._shift for start in starts])
        self.net_top = array("Q", [n.start >> self._shift for n in self.nets])
        self.buckets = _Buckets(self) if bits == 32 else None

    def _segment(self, address: int) -> int:
        """The index of the segment holding ``address``."""
        if self.buckets is not None:
            return self.buckets.segment(address)
        i = bisect_right(self.top, address >> self._shift) - 1
        if self._shift:
            starts = self.starts
            while starts[i] > address:  # segments starting inside the same /64
                i -= 1
        return i

    def address(self, address: int) -> Outcome:
        """What one address yields."""
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

    def __init__(self, space: AddressSpace) -> None:
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
        """What one IPv4 address yields."""
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


class Addresses:
    """Both address spaces of a registry, with the private ranges, benign lists and allowlist swept in."""

    def __init__(self, registry: Registry, benign: BenignLists | None, allowlist: Allowlist | None) -> None:
        v4, v6 = _blocks(registry, benign, allowlist)
        self.v4 = AddressSpace(32, v4)
        self.v6 = AddressSpace(128, v6)
        assert self.v4.buckets is not None
        self.v4_buckets = self.v4.buckets

    def lookup(self, value: str) -> tuple[Outcome, MatchReason | None]:
        """What an address or CIDR yields, and the reason a hit would carry (None: not an address)."""
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
            return self.v4_buckets.lookup(int.from_bytes(inet_pton(AF_INET, value), "big")), _R.ADDRESS_IN_NETWORK
        except OSError:
            return None, None


__all__ = ["AddressSpace", "Addresses"]
