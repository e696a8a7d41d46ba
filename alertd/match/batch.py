"""Addresses looked up in bulk: which of a feed's IPv4 addresses the index yields anything for.

A blocklist of a million rows hits a few hundred establishments' addresses; the others give no finding and no
suppression. :func:`v4_sifted` tells them apart from the addresses alone (integers, as the CSV reader converts
them), before any observation is built: one list index per address into the index's IPv4 buckets
(:class:`alertd.match.addresses._Buckets`), and a short bisect where a bucket is split. Read only: the index's
structures are used as they are built.
"""

from __future__ import annotations

import weakref
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from itertools import compress, repeat
from operator import rshift
from socket import AF_INET, inet_pton
from typing import TYPE_CHECKING, Any

from alertd.match.index import MatchIndex

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

# Of each bucket of an index, whether anything lies in it: made once per index, as an array, for the addresses
# read as arrays (weakly held: a reload's new index drops the old one's).
_FILLED: weakref.WeakKeyDictionary[Any, NDArray[np.bool_]] = weakref.WeakKeyDictionary()


def v4_sifted(index: MatchIndex, addresses: Sequence[int] | NDArray[np.uint32]) -> tuple[list[int], list[int]]:
    """The positions in ``addresses`` (IPv4 addresses as integers) of those the index yields something for, in
    order: those that hit an establishment, and those a list sets aside (a private or benign range, the
    allowlist). Any other address gives no finding and no suppression."""
    buckets = index.addresses.v4_buckets
    single, shift = buckets.single, buckets.shift
    allowed = frozenset(_v4_values(index.allowlist.values))
    if not isinstance(addresses, Sequence):
        candidates: Iterable[tuple[int, int]] = _array_candidates(buckets, addresses, allowed)
    else:
        # Most addresses fall in a bucket whose outcome is None: those are passed over in C loops (an outcome, or
        # a split bucket's [starts, outcomes], is never empty, so never false), and only the others looked at.
        found_in = map(single.__getitem__, map(rshift, addresses, repeat(shift)))
        positions = range(len(addresses)) if allowed else compress(range(len(addresses)), found_in)
        candidates = ((position, addresses[position]) for position in positions)
    hits: list[int] = []
    held: list[int] = []
    hit, hold = hits.append, held.append
    for position, address in candidates:
        found = single[address >> shift]
        if found.__class__ is list:
            starts, outcomes = found
            found = outcomes[bisect_right(starts, address) - 1]
        if allowed and address in allowed:
            hold(position)  # an exact value of the allowlist is held back before any lookup
        elif found is None:
            continue
        elif found.__class__ is str:
            hold(position)
        else:
            hit(position)
    return hits, held


def _array_candidates(
    buckets: Any, addresses: NDArray[np.uint32], allowed: frozenset[int]
) -> Iterable[tuple[int, int]]:
    """The positions and addresses of an array whose bucket holds anything, or that the allowlist names: the
    others are passed over in numpy's loops."""
    import numpy as np

    filled = _FILLED.get(buckets)
    if filled is None:
        filled = np.frombuffer(bytes(map(bool, buckets.single)), np.bool_)
        _FILLED[buckets] = filled
    keep = filled[addresses >> np.uint32(buckets.shift)]
    if allowed:
        keep |= np.isin(addresses, np.fromiter(allowed, np.uint32, len(allowed)))
    positions = np.flatnonzero(keep)
    return zip(positions.tolist(), addresses[positions].tolist(), strict=True)


def _v4_values(values: Iterable[str]) -> Iterable[int]:
    """The allowlist's exact values that are IPv4 addresses (none today: addresses are made networks)."""
    for value in values:
        try:
            yield int.from_bytes(inet_pton(AF_INET, value), "big")
        except OSError:
            continue


__all__ = ["v4_sifted"]
