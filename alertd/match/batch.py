"""Addresses looked up in bulk: which of a feed's IPv4 addresses the index yields anything for.

A blocklist of a million rows hits a few hundred establishments' addresses; the others give no finding and no
suppression. :func:`v4_wanted` tells them apart from the addresses alone (integers, as the CSV reader converts
them), before any observation is built: one list index per address into the index's IPv4 buckets
(:class:`alertd.match.addresses._Buckets`), and a short bisect where a bucket is split. Read only: the index's
structures are used as they are built.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from socket import AF_INET, inet_pton

from alertd.match.index import MatchIndex


def v4_wanted(index: MatchIndex, addresses: Sequence[int]) -> list[int]:
    """The positions in ``addresses`` (IPv4 addresses as integers) of those the index yields something for: a
    hit, a list that sets it aside, or an exact value of the allowlist; in order."""
    buckets = index.addresses.v4_buckets
    single, shift = buckets.single, buckets.shift
    allowed = frozenset(_v4_values(index.allowlist.values))
    wanted: list[int] = []
    append = wanted.append
    for position, address in enumerate(addresses):
        found = single[address >> shift]
        if found is None:
            if allowed and address in allowed:
                append(position)
        elif found.__class__ is not list:
            append(position)
        else:
            starts, outcomes = found
            if outcomes[bisect_right(starts, address) - 1] is not None or (allowed and address in allowed):
                append(position)
    return wanted


def _v4_values(values: Iterable[str]) -> Iterable[int]:
    """The allowlist's exact values that are IPv4 addresses (none today: addresses are made networks)."""
    for value in values:
        try:
            yield int.from_bytes(inet_pton(AF_INET, value), "big")
        except OSError:
            continue


__all__ = ["v4_wanted"]
