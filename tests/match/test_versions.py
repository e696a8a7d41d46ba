"""Vendor versions compared as vendors mean them, and NVD/CSAF version ranges checked against them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alertd.domain.codes import Evidence
from alertd.domain.values import VersionRange
from alertd.match.versions import Version, affected, compare, in_range


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("7.2.3", "7.2.4"),
        ("7.2.9", "7.2.10"),  # numbers, not text
        ("7.2", "7.2.1"),
        ("13.1-49.13", "13.1-51.15"),  # Citrix build numbers
        ("13.1-49.13", "14.1-4.42"),
        ("13.1", "13.1-49.13"),
        ("2019 CU12", "2019 CU13"),  # Exchange cumulative updates
        ("2016 CU23", "2019 CU1"),
        ("2019", "2019 CU1"),
        ("2019 CU14", "2019.1"),
        ("10.0.17763.1234", "10.0.17763.2000"),  # Windows builds
        ("10.0.17763.9999", "10.0.20348.1"),
        ("7.2.0rc1", "7.2.0"),  # pre-releases come before the release
        ("7.2.0alpha", "7.2.0beta"),
        ("7.2.0beta2", "7.2.0rc1"),
        ("1.0.2", "1.0.2k"),  # OpenSSL letter releases come after
        ("1.0.2k", "1.0.2l"),
        ("1.0.2z", "1.0.3"),
        ("22.7R2", "22.7R2.3"),  # Ivanti
        ("22.7R1", "22.7R2"),
        ("9.16(4)", "9.16(4)27"),  # Cisco ASA
        ("8u191", "8u202"),  # Java updates
        ("2019 SP1", "2019 SP2"),
        ("v1.2", "1.3"),
    ],
)
def test_order(older: str, newer: str) -> None:
    assert compare(older, newer) == -1
    assert compare(newer, older) == 1
    assert Version(older) < Version(newer) and Version(newer) > Version(older)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("7.2", "7.2.0"),
        ("7.2.0", "7.2.0.0"),
        ("v7.2.4", "7.2.4"),
        ("2019 CU12", "2019 cumulative_update_12"),
        ("2019 CU12", "2019 Cumulative Update 12"),
        ("2016 SP1", "2016 service pack 1"),
        ("13.1-49.13", "13.1.49.13"),
        ("FortiOS 7.2.4", "fortios 7.2.4"),
    ],
)
def test_equal(a: str, b: str) -> None:
    assert compare(a, b) == 0
    assert Version(a) == Version(b) and hash(Version(a)) == hash(Version(b))


R = VersionRange


@pytest.mark.parametrize(
    ("version", "rng", "inside"),
    [
        # CVE-2023-3519, NetScaler ADC: 13.1 before 13.1-49.13
        ("13.1-48.47", R(start_including="13.1", end_excluding="13.1-49.13"), True),
        ("13.1-49.13", R(start_including="13.1", end_excluding="13.1-49.13"), False),
        ("13.1", R(start_including="13.1", end_excluding="13.1-49.13"), True),
        ("13.0-91.12", R(start_including="13.1", end_excluding="13.1-49.13"), False),
        # CVE-2024-21762, FortiOS 7.2.0 through 7.2.6
        ("7.2.4", R(start_including="7.2.0", end_including="7.2.6"), True),
        ("7.2.6", R(start_including="7.2.0", end_including="7.2.6"), True),
        ("7.2.7", R(start_including="7.2.0", end_including="7.2.6"), False),
        ("7.0.13", R(start_including="7.2.0", end_including="7.2.6"), False),
        ("7.2.0", R(start_excluding="7.2.0", end_including="7.2.6"), False),
        ("7.2.0.1", R(start_excluding="7.2.0", end_including="7.2.6"), True),
        # Exchange 2019 before CU14
        ("2019 CU12", R(start_including="2019", end_excluding="2019 CU14"), True),
        ("2019 CU14", R(start_including="2019", end_excluding="2019 CU14"), False),
        ("2016 CU23", R(start_including="2019", end_excluding="2019 CU14"), False),
        ("10.0.17763.1234", R(end_excluding="10.0.17763.5329"), True),
        ("10.0.17763.5329", R(end_excluding="10.0.17763.5329"), False),
        # exact versions, and ranges that say nothing
        ("7.2.4", R(exact="7.2.4"), True),
        ("7.2.4", R(exact="7.2.5"), False),
        ("7.2.4", R(exact="*"), True),
        ("7.2.4", R(), True),
        ("7.2.4", R(start_including="-", end_excluding="*"), True),
    ],
)
def test_in_range(version: str, rng: VersionRange, inside: bool) -> None:
    assert in_range(version, rng) is inside


def test_affected_shows_the_version_or_says_it_is_unknown() -> None:
    ranges = (
        R(start_including="13.1", end_excluding="13.1-49.13"),
        R(start_including="13.0", end_excluding="13.0-91.13"),
    )
    assert affected("13.1-48.47", ranges) == "13.1-48.47"
    assert affected("13.0-90.7", ranges) == "13.0-90.7"
    assert affected("13.1-49.13", ranges) is None  # outside every range: no match
    assert affected("14.1-4.42", ranges) is None
    assert affected(None, ranges) == Evidence.VERSION_UNKNOWN
    assert str(Evidence.VERSION_UNKNOWN) == "version unknown"  # the text stores hold
    assert affected("", ranges) == Evidence.VERSION_UNKNOWN
    assert affected("14.1-4.42", ()) == "14.1-4.42"  # the source names no version: every version
    assert affected(None, ()) == Evidence.VERSION_UNKNOWN


_versions = st.lists(
    st.one_of(st.integers(0, 30).map(str), st.sampled_from(["rc", "beta", "cu", "sp", "r", "k", "a", "build"])),
    min_size=1,
    max_size=6,
).map(lambda parts: ".".join(parts))


@given(_versions, _versions, _versions)
def test_comparison_is_a_total_order(a: str, b: str, c: str) -> None:
    assert compare(a, a) == 0
    assert compare(a, b) == -compare(b, a)
    if compare(a, b) <= 0 and compare(b, c) <= 0:
        assert compare(a, c) <= 0
    if compare(a, b) == 0:
        assert hash(Version(a)) == hash(Version(b))


@given(_versions, _versions, _versions)
def test_a_range_holds_what_lies_between_its_bounds(low: str, version: str, high: str) -> None:
    rng = R(start_including=low, end_excluding=high)
    assert in_range(version, rng) is (compare(low, version) <= 0 < compare(high, version))
