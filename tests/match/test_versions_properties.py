"""Properties of version comparison: a partial order, on real version strings and on generated ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from paths import DATA

from alertd.domain.values import VersionRange
from alertd.match.versions import Version, at_or_after, compare, contains


def _names(branches: list[dict[str, Any]]) -> Iterator[str]:
    for branch in branches:
        yield branch["name"]
        yield from _names(branch.get("branches", []))


def _real_versions() -> list[str]:
    """Every name in the product trees of the four CSAF documents (versions, ranges' versions, and some product
    names: words the schemes must refuse to order), and the versions the issue cites."""
    found: set[str] = set()
    for name in ("cisco-sa-20180328-smi2.json", "bsi-2022-0001.json", "icsa-24-074-09.json", "rhsa-2023_4378.json"):
        with (DATA / "csaf" / name).open(encoding="utf-8") as f:
            found.update(n.lstrip("<") for n in _names(json.load(f)["product_tree"]["branches"]))
    found.update(
        [
            "13.1-49.13",
            "13.1-51.15",
            "14.1",
            "2019 CU12",
            "2019 CU13",
            "2019 SP1",
            "1.0.2",
            "1.0.2k",
            "7.2.0rc1",
            "7.2.0",
            "7.2.5 build1517",
            "v7.2.5,build1517",
            "7.2.5",
            "0:3.10.0-1160.95.1.rt56.1143.el7",
            "3.10.0-1160.102.1.el7",
            "10.0.17763.1234",
            "1.2-foo",
            "1.2-bar",
            "1.2",
            "7.2",
            "MP8_SR3",
            "IP9",
        ]
    )
    return sorted(found)


REAL = _real_versions()
_real = st.sampled_from(REAL)
_generated = st.lists(
    st.one_of(
        st.integers(0, 12).map(str),
        st.sampled_from(["rc", "beta", "dev", "cu", "sp", "sr", "r", "k", "a", "build", "foo", "ga", "u"]),
    ),
    min_size=1,
    max_size=6,
).flatmap(lambda parts: st.sampled_from([".", "-", "", "_", "+"]).map(lambda sep: sep.join(parts)))
_any = st.one_of(_real, _generated)


def test_the_sample_is_large() -> None:
    assert len(REAL) > 300


@settings(max_examples=400)
@given(_any, _any, _any)
def test_compare_is_a_partial_order(a: str, b: str, c: str) -> None:
    ab, bc, ac = compare(a, b), compare(b, c), compare(a, c)
    assert compare(a, a) == (None if Version(a).empty else 0)  # equality is always decidable
    assert compare(b, a) == (None if ab is None else -ab)  # antisymmetric
    if ab is not None and bc is not None and ab <= 0 and bc <= 0:
        assert ac is not None and ac <= 0, (a, b, c)  # transitive where it answers
    if ab == 0:  # equal versions compare the same with everything
        assert (ac, Version(a), hash(Version(a))) == (bc, Version(b), hash(Version(b)))


@settings(max_examples=300)
@given(_any, _any, _any)
def test_a_range_holds_what_lies_between_its_bounds(low: str, version: str, high: str) -> None:
    inside = contains(version, VersionRange(start_including=low, end_excluding=high))
    above, below = compare(version, low), compare(version, high)
    if Version(version).empty:
        assert inside is None
    elif above is not None and below is not None and not Version(low).empty and not Version(high).empty:
        assert inside is (above >= 0 and below < 0)
    if inside is None:
        assert None in (above, below)


@given(_any, _any)
def test_a_fix_is_carried_by_what_compares_at_or_after_it(version: str, fixed: str) -> None:
    carries, order = at_or_after(version, fixed), compare(version, fixed)
    if order is not None:
        assert carries is (order >= 0)
    assert (carries is None) <= (order is None)
