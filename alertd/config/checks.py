"""Warnings about a registry that is valid but probably not what the operator meant (``alertd check``).

Each is a :class:`Problem` with ``warning=True``, at the ``file:line:col`` of the value in its establishment's
own item (:class:`~alertd.config.positions.ValueLocator`): a network so broad that much of the Internet would
count as one establishment's, a domain that is a public suffix (``gouv.fr``, ``co.uk``: every site under it
would), a name or alias the matcher leaves out (too short, too generic, shared), and a name written inside
another establishment's name (a mention of the longer one is also one of the shorter).

A national registry imported from FINESS has thousands of short names that are shared ("PHARMACIE DU CENTRE")
or generic: one line each would bury the operator's own mistakes. A name FINESS owns (the ``name`` of an
establishment that has a ``finess`` record: a re-import rewrites it) is therefore counted into one summary line
per kind of problem, with a few examples; every alias, and every name the operator wrote, gets its own warning.
All of it is linear in the registry's size: the names' tokens are computed once, and each value is located in
its own item.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from publicsuffixlist import PublicSuffixList

from alertd.config.positions import ValueLocator, origins_by_id
from alertd.domain.codes import NameProblem, UnsafeName
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


def contained_names(safe: Iterable[tuple[str, str, Key]]) -> Iterator[tuple[str, str, str, str]]:
    """(inner id, inner name, outer id, outer name) for each name found as whole words inside another
    establishment's longer name, ``safe`` being :func:`~alertd.match.names.name_keys`' safe names; each
    (inner id, inner name, outer id) once.

    Only the runs of words that start like some registered name, and are as long as one starting with that word,
    are looked up: about one dictionary probe per word of each name, not one per run.
    """
    safe = list(safe)
    owners: dict[Key, list[tuple[str, str]]] = defaultdict(list)
    firsts: dict[str, set[int]] = defaultdict(set)  # first word -> the lengths of the names starting with it
    for est_id, name, key in safe:
        owners[key].append((est_id, name))
        firsts[key[0]].add(len(key))
    lengths = {word: sorted(found) for word, found in firsts.items()}
    told: set[tuple[str, str, str]] = set()
    for outer_id, outer_name, key in safe:
        size = len(key)
        for start in range(size):
            # Shorter than the name itself (the same name is reported as shared already), and inside it.
            longest = min(size - 1, size - start)
            for length in lengths.get(key[start], ()):
                if length > longest:
                    break
                for inner_id, inner_name in owners.get(key[start : start + length], ()):
                    if inner_id == outer_id or (inner_id, inner_name, outer_id) in told:
                        continue
                    told.add((inner_id, inner_name, outer_id))
                    yield inner_id, inner_name, outer_id, outer_name


def _contained_message(inner_id: str, inner_name: str, outer_id: str, outer_name: str) -> str:
    where = f"{outer_name!r} of establishment {outer_id!r}"
    why = f"a mention of {outer_id!r} is also taken as one of {inner_id!r}; make the names distinct"
    return f"establishment {inner_id!r}: name or alias {inner_name!r} is contained in {where}: {why}"


def contained_name_warnings(registry: Registry) -> Iterator[tuple[str, str, str]]:
    """(establishment id, name, message) for each name or alias found as whole words inside another
    establishment's name or alias, compared as the matcher compares them (accents, case, punctuation)."""
    safe, _ = name_keys(registry)  # the unsafe ones are not matched at all, and reported already
    for inner_id, inner_name, outer_id, outer_name in contained_names(safe):
        yield inner_id, inner_name, _contained_message(inner_id, inner_name, outer_id, outer_name)


def unsafe_why(u: UnsafeName) -> str:
    """Why the matcher leaves a name out, in the operator's words."""
    if u.problem is NameProblem.NO_LETTERS:
        return "has no letter or digit to match on"
    if u.problem is NameProblem.GENERIC_ONLY:
        return "is made only of generic words (" + ", ".join(u.words) + "): it would match everywhere"
    if u.problem is NameProblem.SHORT_WORD:
        return f"is a single word of fewer than 6 letters ({u.words[0]!r}): it would match unrelated text"
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
    NameProblem.SHORT_WORD: "are a single word of fewer than 6 letters: they would match unrelated text",
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


def contained_warnings(registry: Registry, safe: Iterable[tuple[str, str, Key]], locate: ValueLocator) -> list[Problem]:
    """A warning at each name inside another establishment's name, one summary line for those where both names
    are FINESS's."""
    problems: list[Problem] = []
    establishments = registry.establishments
    count, examples = 0, list[tuple[str, str, str, str]]()
    for inner_id, inner_name, outer_id, outer_name in contained_names(safe):
        if finess_name(establishments[inner_id], inner_name) and finess_name(establishments[outer_id], outer_name):
            count += 1
            if len(examples) < EXAMPLES:
                examples.append((inner_id, inner_name, outer_id, outer_name))
            continue
        message = _contained_message(inner_id, inner_name, outer_id, outer_name)
        key = "name" if inner_name == establishments[inner_id].name else "aliases"
        problems.append(Problem(*locate(inner_id, inner_name, key), message, warning=True))
    if count:
        shown = ", ".join(f"{i_name!r} ({i_id}) in {o_name!r} ({o_id})" for i_id, i_name, o_id, o_name in examples)
        message = (
            f"{count:,} names given by FINESS are contained in another establishment's FINESS name (e.g. {shown}): "
            "a mention of the longer one is also taken as one of the shorter; declare an alias that tells them apart "
            "for those that matter"
        )
        problems.append(Problem(*locate(examples[0][0], examples[0][1], "name"), message, warning=True))
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
    safe, unsafe = name_keys(registry)  # once, for both kinds of name warnings
    return unsafe_name_warnings(registry, unsafe, locate) + problems + contained_warnings(registry, safe, locate)


__all__ = [
    "MIN_PREFIX",
    "contained_name_warnings",
    "contained_names",
    "domain_warnings",
    "network_warnings",
    "registry_warnings",
    "unsafe_name_warnings",
    "unsafe_why",
]
