"""Version evidence (contract §3): whether a declared version is affected, judged by what the sources published.

A vulnerability finding names a registry item whose product the source names (:mod:`alertd.match.software`
decides identity). Whether its *version* is affected is decided here, from every statement known for the CVE
(:mod:`alertd.domain.knowledge`: NVD's ranges, CSAF's affected, fixed and not-affected versions, in any feed,
from any poll), restricted to the statements about the same product, edition and platform
(:meth:`alertd.match.software.SoftwareIndex.concerns`):

1. the version is listed as not affected, or is at or after a fixed version of its own line → *not affected*
   (``listed-not-affected``, ``fixed-version``): no alert;
2. a published affected range or version contains it → *affected* (``in-range``, ``listed-affected``), with that
   range and its source;
3. ranges are published, each one comparable with the version, and none contains it → *not affected*
   (``outside-range``); only fixed versions are published (Red Hat), and the version is older than the fix of
   its line → *affected* (``before-fix``, the range ``<fix``); the source says every version → *affected*
   (``all-versions``);
4. otherwise *unverified*: no version declared (``no-version``), no range published (``no-range``, KEV alone),
   or a version that cannot be compared with the ranges (``not-comparable``: another release train).

A finding is never *affected* without a published range, version or fix that contains the declared version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alertd.domain.codes import VersionBasis
from alertd.domain.facts import VersionFact
from alertd.domain.knowledge import Statement
from alertd.domain.values import Product, ProductStatus, VersionRange
from alertd.match.versions import at_or_after, contains

_B = VersionBasis


@dataclass(frozen=True, slots=True)
class Said:
    """One product one source published for a CVE: what the judgement reads."""

    product: Product
    source: str  # the statement's source (feed, or feed:entry)


def relevant(statements: Iterable[Statement]) -> list[Said]:
    """The products of these statements that carry version information, with their source."""
    return [
        Said(product, statement.source)
        for statement in statements
        for product in statement.products
        if product.status is not ProductStatus.NAMED
    ]


def judge(version: str | None, said: Iterable[Said]) -> VersionFact:
    """The evidence that ``version`` (None: the inventory declares none) is affected, by what the sources said of
    its product (:func:`relevant`, already restricted to the same product, edition and platform)."""
    said = list(said)
    if version is None:
        return VersionFact.judged(_B.NO_VERSION, version)
    if not said:
        return VersionFact.judged(_B.NO_RANGE, version)
    undecided = False
    # 1. Listed as not affected, or carrying a published fix of its own line.
    fixes: list[Said] = []
    fixes_incomparable = False
    for item in said:
        status = item.product.status
        if status is ProductStatus.NOT_AFFECTED:
            for rng in item.product.versions:
                if contains(version, rng) is True:
                    return VersionFact.judged(_B.LISTED_NOT_AFFECTED, version, rng.text, item.source)
        elif status is ProductStatus.FIXED:
            for rng in item.product.versions:
                fixed = _fixed_version(rng)
                if fixed is None:
                    continue
                after = at_or_after(version, fixed)
                if after is True:
                    return VersionFact.judged(_B.FIXED_VERSION, version, f">={fixed}", item.source)
                if after is None:
                    fixes_incomparable = True
                else:
                    fixes.append(Said(Product(item.product.vendor, item.product.product, (rng,)), item.source))
    # 2. Inside a published affected range.
    ranged = False
    every: Said | None = None
    for item in said:
        if item.product.status is not ProductStatus.AFFECTED:
            continue
        if not item.product.versions:
            every = every or item
            continue
        for rng in item.product.versions:
            ranged = True
            inside = contains(version, rng)
            if inside is True:
                basis = _B.LISTED_AFFECTED if rng.exact is not None else _B.IN_RANGE
                return VersionFact.judged(basis, version, rng.text, item.source)
            if inside is None:
                undecided = True
    # 3. Ranges that all answer, and none contains it; a fix-only source; every version.
    if ranged and not undecided:
        return VersionFact.judged(_B.OUTSIDE_RANGE, version)
    if not ranged and fixes and not fixes_incomparable:
        first = fixes[0]
        fixed = _fixed_version(first.product.versions[0])
        return VersionFact.judged(_B.BEFORE_FIX, version, f"<{fixed}", first.source)
    if not ranged and every is not None:
        return VersionFact.judged(_B.ALL_VERSIONS, version, VersionRange().text, every.source)
    if undecided or fixes_incomparable or fixes:
        return VersionFact.judged(_B.NOT_COMPARABLE, version)
    return VersionFact.judged(_B.NO_RANGE, version)


@dataclass(frozen=True, slots=True)
class Step:
    """One comparison :func:`judge` reads: a source's range or version, and what comparing gave."""

    source: str
    product: Product
    status: ProductStatus
    range: str  # VersionRange.text; for a fixed version, ``>=fix``
    answer: bool | None  # contained (or carries the fix); None when the versions cannot be compared


def trace(version: str | None, said: Iterable[Said]) -> list[Step]:
    """Every comparison behind :func:`judge`'s answer, for ``alertd explain``: each published range or version
    of the product, and whether ``version`` lies in it (None: not comparable; no step without a version)."""
    steps: list[Step] = []
    if version is None:
        return steps
    for item in said:
        product = item.product
        if product.status is ProductStatus.FIXED:
            for rng in product.versions:
                fixed = _fixed_version(rng)
                if fixed is not None:
                    steps.append(Step(item.source, product, product.status, f">={fixed}", at_or_after(version, fixed)))
            continue
        if not product.versions:
            steps.append(Step(item.source, product, product.status, VersionRange().text, True))
        for rng in product.versions:
            steps.append(Step(item.source, product, product.status, rng.text, contains(version, rng)))
    return steps


def _fixed_version(rng: VersionRange) -> str | None:
    """The version a fixed-status range names: the fixed version itself, or the start of a fixed range."""
    return rng.exact or rng.start_including


__all__ = ["Said", "Step", "judge", "relevant", "trace"]
