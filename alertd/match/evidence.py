"""Version evidence (contract §3): whether a declared version is affected, judged by what the sources published.

A vulnerability finding names a registry item whose product the source names (:mod:`alertd.match.software`
decides identity). Whether its *version* is affected is decided here, from every statement known for the CVE
(:mod:`alertd.domain.knowledge`: NVD's ranges, CSAF's affected, fixed and not-affected versions, in any feed,
from any poll), restricted to the statements about the same product, edition and platform
(:meth:`alertd.match.software.SoftwareIndex.concerns`):

1. the version is listed as not affected → *not affected* (``listed-not-affected``);
2. it carries a published fix of its own line (``7.2.6`` and a fix ``7.2.5``) → *not affected*
   (``fixed-version``), whatever wider range another source gives; else a published affected range or version
   contains it → *affected* (``in-range``, ``listed-affected``), with that range and its source — before any fix
   of another line is considered (a fix of 7.2 says nothing of 7.4.1); a plain version
   coarser than the range's bounds (``7.2`` against ``<7.2.5``) does not count as contained;
3. it carries a published fix of its own line (or is newer than every fix) → *not affected* (``fixed-version``);
   the source says every version → *affected* (``all-versions``); ranges are published, each one comparable
   with the version, and none contains it → *not affected* (``outside-range``); only fixes are published (Red
   Hat) and the version is older than all of them, or than the fix of its line → *affected* (``before-fix``);
4. otherwise *unverified*: no version declared (``no-version``), no range published (``no-range``, KEV alone),
   or a version that cannot be compared with the ranges or fixes (``not-comparable``: another release train).

A finding is never *affected* without a published range, version or fix that contains the declared version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
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
    # 1. Listed as not affected.
    for item in said:
        if item.product.status is ProductStatus.NOT_AFFECTED:
            for rng in item.product.versions:
                if contains(version, rng) is True:
                    return VersionFact.judged(_B.LISTED_NOT_AFFECTED, version, rng.text, item.source)
    # A fix of the version's own line that it carries wins over a wider range (NVD's "<8.0", the vendor's 7.2.5).
    fixed, before = _against_fixes(version, said)
    if isinstance(fixed, Said) and _own_line(version, fixed):
        return VersionFact.judged(_B.FIXED_VERSION, version, fixed.product.versions[0].text, fixed.source)
    # 2. Inside a published affected range: this decides before any other fix (a fix of 7.2 says nothing of 7.4.1).
    ranged = undecided = False
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
            if inside is True and _coarser(version, rng):
                inside = None  # "7.2" inside ">=7.2.0|<7.2.5": the declared version does not say which 7.2
            if inside is True:
                basis = _B.LISTED_AFFECTED if rng.exact is not None else _B.IN_RANGE
                return VersionFact.judged(basis, version, rng.text, item.source)
            if inside is None:
                undecided = True
    # 3. A published fix of its line, or newer than every fix; every version; outside every range.
    if isinstance(fixed, Said):
        return VersionFact.judged(_B.FIXED_VERSION, version, fixed.product.versions[0].text, fixed.source)
    if every is not None:
        return VersionFact.judged(_B.ALL_VERSIONS, version, VersionRange().text, every.source)
    if ranged and not undecided:
        return VersionFact.judged(_B.OUTSIDE_RANGE, version)
    if not ranged and isinstance(before, Said):
        return VersionFact.judged(_B.BEFORE_FIX, version, before.product.versions[0].text, before.source)
    if undecided or fixed is None or before is None:
        return VersionFact.judged(_B.NOT_COMPARABLE, version)
    return VersionFact.judged(_B.NO_RANGE, version)


_Answer = Said | bool | None  # the fix that decides; False: no fix published; None: the fixes cannot decide


def _against_fixes(version: str, said: Sequence[Said]) -> tuple[_Answer, _Answer]:
    """(the fix ``version`` carries, the fix it lacks), each False when no fix is published and None when the
    published fixes cannot decide. A fix counts within its own line (``7.2.5`` for 7.2.x) when one of the fixes
    is of the version's line; else the version carries the fixes if it is at or after all of them, and lacks
    them if it is before all of them (Red Hat's builds); between fixes of other lines, nothing is decided."""
    fixes: list[tuple[Said, str]] = []
    for item in said:
        if item.product.status is ProductStatus.FIXED:
            for rng in item.product.versions:
                found = _fixed_version(rng)
                if found is not None:
                    fixes.append(
                        (
                            Said(
                                Product(
                                    item.product.vendor, item.product.product, (VersionRange(start_including=found),)
                                ),
                                item.source,
                            ),
                            found,
                        )
                    )
    if not fixes:
        return False, False
    own = [(s, f) for s, f in fixes if version.startswith(f"{_line(f)}.") and _line(f) is not None]
    if own:
        answers = [(s, at_or_after(version, f)) for s, f in own]
        carried = next((s for s, a in answers if a is True), None)
        if carried is not None:
            return carried, False
        lacked = next((s for s, a in answers if a is False), None)
        return (False, _with_end(lacked)) if lacked is not None else (None, None)
    answers = [(s, at_or_after(version, f)) for s, f in fixes]
    if any(a is None for _, a in answers):
        return None, None
    if all(a is True for _, a in answers):
        return max(answers, key=lambda sa: sa[0].product.versions[0].start_including or "")[0], False
    if all(a is False for _, a in answers):
        return False, _with_end(answers[0][0])
    return None, None


def _own_line(version: str, fix: Said) -> bool:
    """Whether a fix is of the version's own release line (``7.2.5`` for 7.2.6)."""
    line = _line(fix.product.versions[0].start_including or "")
    return line is not None and version.startswith(f"{line}.")


def _with_end(fix: Said) -> Said:
    """A fix as the range of versions it leaves affected (``<fix``), for the email."""
    version = fix.product.versions[0].start_including
    return Said(Product(fix.product.vendor, fix.product.product, (VersionRange(end_excluding=version),)), fix.source)


_NUMERIC = re.compile(r"^\d+(?:\.\d+)*$")


def _line(fixed: str) -> str | None:
    """The release line of a dotted fixed version (``7.2`` of ``7.2.5``); None for one without dots."""
    return fixed.rsplit(".", 1)[0] if _NUMERIC.match(fixed) and "." in fixed else None


def _coarser(version: str, rng: VersionRange) -> bool:
    """Whether a plain dotted version says less than the range's bounds (``7.2`` against ``7.2.5``)."""
    if not _NUMERIC.match(version):
        return False
    parts = version.count(".")
    bounds = (rng.exact, rng.start_including, rng.start_excluding, rng.end_including, rng.end_excluding)
    return any(b is not None and _NUMERIC.match(b) and b.count(".") > parts for b in bounds)


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
