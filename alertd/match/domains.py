"""Domains, URL and email hosts (contract §3): which establishments own a host or one of its parent domains,
unless a popular-domain list or the allowlist holds it back.

A hash bitmap answers for most hosts that nothing is known under their two-label suffix; otherwise one dict
probe per parent suffix, outwards, tells which establishments own it, whether a popular-domain list holds it,
and whether the allowlist does. Built once per registry, then read only.
"""

from __future__ import annotations

from collections import defaultdict

from alertd.domain.establishments import Registry
from alertd.match.benign import Allowlist, BenignLists
from alertd.match.hits import Hit, Outcome

_BITS_MASK = (1 << 19) - 1  # the domain bitmap's size in bytes, less one


class Domains:
    """The registry's domains, the popular-domain lists and the allowlist's domains, by parent suffix."""

    def __init__(self, registry: Registry, benign: BenignLists | None, allowlist: Allowlist) -> None:
        hits: dict[str, list[Hit]] = defaultdict(list)
        for est in registry.establishments.values():
            for domain in est.domains:
                hits[domain].append((est.id, domain))
        popular = benign.domains if benign is not None else {}
        allowed = allowlist.domains
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

    def lookup(self, host: str) -> Outcome:
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


__all__ = ["Domains"]
