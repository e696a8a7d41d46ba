"""Warnings about a registry that is valid but probably not what the operator meant (``alertd check``).

Each is a :class:`Problem` with ``warning=True``, at the ``file:line:col`` of the value in its establishment's
own item (:class:`~alertd.config.positions.ValueLocator`): a network so broad that much of the Internet would
count as one establishment's, a domain that is a public suffix (``gouv.fr``, ``co.uk``: every site under it
would), and a name or alias the matcher leaves out (no letters, generic words only, too short). A name written
inside another establishment's name needs no warning: the longest name found in a text wins
(:mod:`alertd.match.name_evidence`), and a name several establishments share counts for the one whose commune is
named next to it.

A national registry imported from FINESS has thousands of generic names ("PHARMACIE", "EHPAD"): one line each
would bury the operator's own mistakes. A name FINESS owns (the ``name`` of an establishment that has a
``finess`` record: a re-import rewrites it) is therefore counted into one summary line per kind of problem, with
a few examples; every alias, and every name the operator wrote, gets its own warning. All of it is linear in the
registry's size: the names' tokens are computed once, and each value is located in its own item.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from publicsuffixlist import PublicSuffixList

from alertd.config.positions import ValueLocator, origins_by_id
from alertd.domain.codes import NameProblem, UnsafeName
from alertd.domain.errors import Problem
from alertd.domain.establishments import Establishment, Registry
from alertd.match.names import name_keys

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


def unsafe_why(u: UnsafeName) -> str:
    """Why the matcher leaves a name out, in the operator's words."""
    if u.problem is NameProblem.NO_LETTERS:
        return "has no letter or digit to match on"
    if u.problem is NameProblem.GENERIC_ONLY:
        return "is made only of generic words (" + ", ".join(u.words) + "): it would match everywhere"
    if u.problem is NameProblem.SHORT_WORD:
        return f"is a single word of fewer than 3 letters ({u.words[0]!r}): it would match unrelated text"
    if u.problem is NameProblem.ONE_SHORT_DISTINCTIVE:
        return (
            f"has only one short distinctive word ({' '.join(u.words)!r}) besides generic ones: "
            "it would match ordinary sentences"
        )
    listed = ", ".join(u.others[:3]) + (f" and {len(u.others) - 3} more" if len(u.others) > 3 else "")
    return f"is also a name or alias of establishment {listed}: a mention could not tell them apart"


# What a summary line says of the FINESS names of each kind of problem (the plural of :func:`unsafe_why`).
_SUMMARY_WHY = {
    NameProblem.NO_LETTERS: "have no letter or digit to match on",
    NameProblem.GENERIC_ONLY: "are made only of generic words: they would match everywhere",
    NameProblem.SHORT_WORD: "are a single word of fewer than 3 letters: they would match unrelated text",
    NameProblem.ONE_SHORT_DISTINCTIVE: (
        "have only one short distinctive word besides generic ones: they would match ordinary sentences"
    ),
    NameProblem.SHARED: "are each the name of several establishments: a mention could not tell them apart",
}
EXAMPLES = 3  # examples a summary line gives


def finess_name(est: Establishment, name: str) -> bool:
    """Whether ``name`` is the name FINESS gave ``est`` (a re-import rewrites it), not one the operator wrote."""
    return est.finess is not None and name == est.name


@dataclass(slots=True)
class _Summary:
    """FINESS names with one kind of problem: how many, how many distinct, and the first few."""

    count: int = 0
    distinct: set[str] = field(default_factory=set)
    examples: list[tuple[str, str]] = field(default_factory=list)  # (id, name)

    def add(self, est_id: str, name: str) -> None:
        self.count += 1
        self.distinct.add(name)
        if len(self.examples) < EXAMPLES:
            self.examples.append((est_id, name))


def unsafe_name_warnings(registry: Registry, unsafe: Iterable[UnsafeName], locate: ValueLocator) -> list[Problem]:
    """A warning at each alias, or name the operator wrote, that the matcher leaves out; one summary line per
    kind of problem for the names FINESS gave (at the first one's position)."""
    problems: list[Problem] = []
    summaries: dict[NameProblem, _Summary] = {}
    establishments = registry.establishments
    for u in unsafe:
        est = establishments[u.establishment]
        if finess_name(est, u.name):
            summaries.setdefault(u.problem, _Summary()).add(u.establishment, u.name)
            continue
        key = "name" if u.name == est.name else "aliases"
        why = unsafe_why(u)
        message = f"establishment {u.establishment!r}: name or alias {u.name!r} {why}; it is not used for matching"
        problems.append(Problem(*locate(u.establishment, u.name, key), message, warning=True))
    for problem, summary in summaries.items():
        shown = ", ".join(f"{name!r} ({est_id})" for est_id, name in summary.examples)
        message = (
            f"{summary.count:,} names given by FINESS ({len(summary.distinct):,} distinct) {_SUMMARY_WHY[problem]}; "
            f"they are not used for matching (e.g. {shown}): declare an alias or an acronym for those that must be "
            "found"
        )
        first_id, first_name = summary.examples[0]
        problems.append(Problem(*locate(first_id, first_name, "name"), message, warning=True))
    return problems


def registry_warnings(registry: Registry, origins: Mapping[str, tuple[Path, int]] | None = None) -> list[Problem]:
    """Every warning of this module about ``registry``, each at the position of the value concerned.

    ``origins`` (:attr:`~alertd.config.registry.RegistryCache.origins` of the load that made ``registry``) says
    which item of which file each establishment is; without it each file is scanned for the ids once.
    """
    fallback = str(registry.files[0]) if registry.files else "registry"
    locate = ValueLocator(origins if origins is not None else origins_by_id(registry.files), fallback)
    problems: list[Problem] = []
    for est in registry.establishments.values():
        if est.networks:
            for value, message in network_warnings(est):
                problems.append(Problem(*locate(est.id, value, "networks"), message, warning=True))
        if est.domains:
            for value, message in domain_warnings(est):
                problems.append(Problem(*locate(est.id, value, "domains"), message, warning=True))
    _, unsafe = name_keys(registry)
    return unsafe_name_warnings(registry, unsafe, locate) + problems


__all__ = [
    "MIN_PREFIX",
    "domain_warnings",
    "network_warnings",
    "registry_warnings",
    "unsafe_name_warnings",
    "unsafe_why",
]
