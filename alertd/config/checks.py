"""Warnings about a registry that is valid but probably not what the operator meant (``alertd check``).

Each is a :class:`Problem` with ``warning=True``, at the ``file:line:col`` of the value when the registry's text
shows it: a network so broad that much of the Internet would count as one establishment's, a domain that is a
public suffix (``gouv.fr``, ``co.uk``: every site under it would), and a name written inside another
establishment's name (a mention of the longer one is also one of the shorter).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from publicsuffixlist import PublicSuffixList

from alertd.domain.errors import Problem
from alertd.domain.establishments import Establishment, Registry
from alertd.match.names import Key, name_keys

# Shorter prefixes than these are a sixteenth of the IPv4 Internet, or a whole regional registry's IPv6 block.
MIN_PREFIX = {4: 8, 6: 32}


@functools.cache
def _suffixes() -> PublicSuffixList:
    # The list bundled with the package (private suffixes such as github.io included): no network at runtime.
    return PublicSuffixList()


def network_warnings(est: Establishment) -> Iterator[tuple[str, str]]:
    """(value, message) for each network of ``est`` shorter than /8 (IPv4) or /32 (IPv6)."""
    for net in est.networks:
        shortest = MIN_PREFIX[net.version]
        if net.prefixlen < shortest:
            why = "any address in it would be taken as this establishment's; write the establishment's own ranges"
            yield str(net), f"establishment {est.id!r}: network {net} is broader than /{shortest}: {why}"


def domain_warnings(est: Establishment) -> Iterator[tuple[str, str]]:
    """(value, message) for each domain of ``est`` that is a public suffix (Public Suffix List)."""
    for domain in est.domains:
        if _suffixes().is_public(domain.lower().rstrip(".")):
            why = (
                "every site registered under it would be taken as this establishment's; "
                "write the establishment's own domain (e.g. chu-exemple.fr)"
            )
            yield domain, f"establishment {est.id!r}: domain {domain} is a public suffix: {why}"


def contained_name_warnings(registry: Registry) -> Iterator[tuple[str, str, str]]:
    """(establishment id, name, message) for each name or alias found as whole words inside another
    establishment's name or alias, compared as the matcher compares them (accents, case, punctuation)."""
    safe, _ = name_keys(registry)  # the unsafe ones are not matched at all, and reported already
    owners: dict[Key, list[tuple[str, str]]] = defaultdict(list)
    for est_id, name, key in safe:
        owners[key].append((est_id, name))
    told: set[tuple[str, str, str]] = set()
    for outer_id, outer_name, key in safe:
        # Every run of whole words shorter than the name itself (the same name is reported as shared already).
        for start in range(len(key)):
            for end in range(start + 1, min(start + len(key), len(key) + 1)):
                for inner_id, inner_name in owners.get(key[start:end], ()):
                    if inner_id == outer_id or (inner_id, inner_name, outer_id) in told:
                        continue
                    told.add((inner_id, inner_name, outer_id))
                    where = f"{outer_name!r} of establishment {outer_id!r}"
                    why = f"a mention of {outer_id!r} is also taken as one of {inner_id!r}; make the names distinct"
                    yield (
                        inner_id,
                        inner_name,
                        (f"establishment {inner_id!r}: name or alias {inner_name!r} is contained in {where}: {why}"),
                    )


class _Locator:
    """Where an establishment's value is written in the registry's files (first match after its id)."""

    def __init__(self, registry: Registry) -> None:
        self._files = registry.files
        self._texts: dict[Path, str] = {}

    def _text(self, path: Path) -> str:
        if path not in self._texts:
            self._texts[path] = path.read_text(encoding="utf-8", errors="replace")
        return self._texts[path]

    def __call__(self, est_id: str, value: str) -> tuple[str, int, int]:
        id_pattern = re.compile(r"\bid:\s*[\"']?" + re.escape(est_id) + r"[\"']?\s*[,}\n]")
        for path in self._files:
            text = self._text(path)
            found = id_pattern.search(text)
            if found is None:
                continue
            at = text.find(value, found.start())
            at = found.start() if at < 0 else at
            line = text.count("\n", 0, at) + 1
            return str(path), line, at - text.rfind("\n", 0, at)
        return (str(self._files[0]) if self._files else "registry"), 1, 1


def registry_warnings(registry: Registry) -> list[Problem]:
    """Every warning of this module about ``registry``, each at the position of the value concerned."""
    found: list[tuple[str, str, str]] = []
    for est in registry.establishments.values():
        found += [(est.id, value, message) for value, message in network_warnings(est)]
        found += [(est.id, value, message) for value, message in domain_warnings(est)]
    found += list(contained_name_warnings(registry))
    if not found:
        return []
    where = _Locator(registry)
    return [Problem(*where(est_id, value), message, warning=True) for est_id, value, message in found]


__all__ = ["MIN_PREFIX", "contained_name_warnings", "domain_warnings", "network_warnings", "registry_warnings"]
