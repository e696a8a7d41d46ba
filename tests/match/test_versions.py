"""Vendor versions compared as vendors mean them, and NVD/CSAF version ranges checked against them."""

from __future__ import annotations

import pytest

from alertd.domain.codes import Evidence
from alertd.domain.values import VersionRange
from alertd.match.versions import Version, affected, at_or_after, compare, contains, in_range


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


# ------------------------------------------------------------------------------------------- issue #11 schemes


@pytest.mark.parametrize(
    "chain",
    [
        # semver and PEP 440 pre-releases (BSI's CSAF lists these; dev comes before alpha, as in PEP 440)
        ["1.0.0-dev1", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-rc1", "1.0.0-rc2", "1.0.0"],
        ["7.2.0.dev1", "7.2.0a1", "7.2.0b2", "7.2.0rc1", "7.2.0", "7.2.0.post1", "7.2.1"],
        ["13.1-49.13", "13.1-51.15", "14.1"],  # Citrix
        ["2019", "2019 CU12", "2019 CU13", "2019.1"],  # Exchange
        ["1.0.2", "1.0.2k", "1.0.2l", "1.0.3"],  # OpenSSL
        ["MP7", "MP8", "MP8_SR1", "MP8_SR4", "MP9"],  # Siemens Sinteso: a service release after its release
        ["IP7", "IP8", "IP8_SR4"],
        ["V4.0.5016", "V4.2.5015", "V4.3.5617", "V4.3.5618"],
        ["15.2(1)E", "15.2(2)E", "15.2(2)E5", "15.2(2)E5a", "15.2(2)E6", "15.2(2a)E1", "15.2(4)E", "15.2(6)E0a"],
        ["12.2(55)SE", "12.2(55)SE1", "12.2(55)SE10", "12.2(58)SE"],  # the rebuild numbers, as numbers
        ["3.6.0E", "3.6.0aE", "3.6.0bE", "3.6.1E", "3.6.5bE"],  # IOS XE 3.x, within train 3.6E
        ["7.2.4 build1396", "7.2.5 build1517", "v7.2.5,build1600", "7.2.6 build1575"],  # Fortinet
        ["0:3.10.0-1160.95.1.rt56.1143.el7", "3.10.0-1160.102.1.rt56.1143.el7", "1:3.9.0-1.el7"],  # rpm, epochs
        ["10.0.17763.1234", "10.0.17763.5329", "10.0.20348.1"],  # Windows builds
    ],
)
def test_vendor_schemes_order(chain: list[str]) -> None:
    for i, older in enumerate(chain):
        assert compare(older, older) == 0
        for newer in chain[i + 1 :]:
            assert (compare(older, newer), compare(newer, older)) == (-1, 1), (older, newer)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("MP8", "IP8"),  # two product lines of Siemens
        ("V4.3.5016", "MP8"),
        ("15.2(2)E6", "15.2(4)M2"),  # two Cisco IOS trains
        ("15.0(2)SE", "15.2(2)E"),
        ("15.2(2)E6", "15.2"),
        ("3.6.5E", "3.7.0E"),  # two IOS XE trains
        ("3.6.5E", "16.3.1"),
        ("2019 SP1", "2019 CU12"),  # two kinds of update: no order between them
        ("1.2-foo", "1.2-bar"),  # words the scheme does not know
        ("1.2-foo", "1.2"),
        ("1.2-foo", "1.2-rc1"),
        ("1.0.0-alpha.beta", "1.0.0-alpha.1"),  # semver and libversion disagree: no guess
        ("1.0.2k", "1.0.2 patch1"),
        ("FortiOS 7.2.4", "7.2.4"),
        ("7.2.5 build1517", "7.2.5"),  # which build is "7.2.5"?
        ("3.10.0-1160.95.1.el7", "3.10.0"),  # a Red Hat build against an upstream version (backports)
        ("", "1.0"),
        ("*", "*"),
        ("-", "1.0"),
        ("7.2", "*"),
    ],
)
def test_versions_that_cannot_be_compared(a: str, b: str) -> None:
    assert compare(a, b) is None
    assert compare(b, a) is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("15.2(2)E6", r"15.2\(2\)e6"),  # as a CPE writes it
        ("7.2.5 build1517", "v7.2.5,build1517"),
        ("7.2.5+build.3", "7.2.5+build.3"),
        ("0:3.10.0-1160.95.1.rt56.1143.el7", "3.10.0-1160.95.1.rt56.1143.el7"),  # no epoch is epoch 0
        ("kernel-rt-0:5.14.0-284.25.1.rt14.310.el9_2.x86_64", "0:5.14.0-284.25.1.rt14.310.el9_2"),
        ("1.0.0-a1", "1.0.0-alpha1"),
        ("8u191", "8 update 191"),
        ("MP8 SR4", "MP8_SR4"),
        ("MP8_SR4", "MP8 service release 4"),
        ("7.2 GA", "7.2.0"),
        ("0", "0.0"),
    ],
)
def test_equal_in_their_scheme(a: str, b: str) -> None:
    assert compare(a, b) == 0
    assert Version(a) == Version(b) and hash(Version(a)) == hash(Version(b))


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        # as rpmvercmp: a tilde before the release, a caret after it, letters after the end, numbers after letters
        ("0:1.0~rc1-1.el9", "0:1.0-1.el9"),
        ("0:1.0-1.el9", "0:1.0^git1-1.el9"),
        ("0:1.0^git1-1.el9", "0:1.0.1-1.el9"),
        ("0:1.0-1.el9", "0:1.0a-1.el9"),
        ("0:2a-1.el9", "0:2.0-1.el9"),
        ("0:1.0-1.el9", "0:1.0.0-1.el9"),  # rpm: one more segment is newer (generic versions pad with zeros)
        ("0:1.01-1.el9", "0:1.2-1.el9"),
        ("5.14.0-284.11.1.rt14.296.el9_2", "5.14.0-284.25.1.rt14.310.el9_2"),
    ],
)
def test_rpm_builds_compare_as_rpm_does(older: str, newer: str) -> None:
    assert (compare(older, newer), compare(newer, older)) == (-1, 1)


@pytest.mark.parametrize(
    ("version", "rng", "inside"),
    [
        # Siemens ICSA-24-074-09: a range of one line says nothing of another
        ("IP7", R(end_excluding="IP8"), True),
        ("IP8", R(end_excluding="IP8"), False),
        ("MP8", R(end_excluding="IP8"), None),
        ("IP8", R(end_excluding="IP8_SR4"), True),
        ("IP8_SR4", R(end_excluding="IP8_SR4"), False),
        ("MP8", R(end_excluding="MP8_SR4"), True),
        ("MP8_SR4", R(end_excluding="MP8_SR4"), False),
        ("V4.3.5617", R(end_excluding="V4.3.5618"), True),
        ("MP8", R(end_excluding="V4.3.5618"), None),
        # Cisco: within the train, or nothing to say
        ("15.2(2)E6", R(end_excluding="15.2(4)E"), True),
        ("15.2(4)E1", R(end_excluding="15.2(4)E"), False),
        ("15.2(2)E6", R(end_excluding="15.2(4)M2"), None),
        # a bound that is certainly outside decides, whatever the other says
        ("MP8", R(start_including="IP8", end_excluding="MP7"), False),
        ("13.0-91.12", R(start_including="13.1", end_excluding="V4"), False),
        # equality: 7.2 is 7.2.0; another train or line is certainly another version; a build is unsure
        ("7.2", R(exact="7.2.0"), True),
        ("7.2.0", R(exact="7.2"), True),
        ("15.2(2)E6", R(exact="15.2(2)E6"), True),
        ("15.2(2)E6", R(exact="15.2(2)M6"), False),
        ("15.2(2)E6", R(exact="3.6.5E"), False),
        ("MP8", R(exact="IP8"), False),
        ("7.2.5", R(exact="7.2.5 build1517"), None),
        # a bound without a build covers every build of its release
        ("7.2.5 build1517", R(exact="7.2.5"), True),
        ("7.2.6 build1575", R(start_including="7.2.0", end_including="7.2.6"), True),
        ("7.2.6 build1575", R(end_excluding="7.2.6"), False),
        ("7.2.6", R(end_excluding="7.2.6 build1575"), None),
        # nothing to compare
        ("", R(end_excluding="7.2.6"), None),
        ("*", R(), None),
        ("7.2.4", R(exact="*"), True),
    ],
)
def test_contains(version: str, rng: VersionRange, inside: bool | None) -> None:
    assert contains(version, rng) is inside
    assert in_range(version, rng) is (inside is True)


@pytest.mark.parametrize(
    ("version", "fixed", "carries_fix"),
    [
        ("13.1-49.13", "13.1-49.13", True),  # issue #11: the fixed release is not affected
        ("13.1-51.15", "13.1-49.13", True),
        ("13.1-48.47", "13.1-49.13", False),
        ("1.0.0-rc1", "1.0.0-rc2", False),
        ("1.0.0", "1.0.0-rc2", True),
        ("15.2(4)E8", "15.2(4)E7", True),
        ("15.2(7)E", "15.2(4)E7", True),
        ("15.2(2)E6", "15.2(4)E7", False),
        ("15.2(4)M8", "15.2(4)E7", None),  # another train: its fix is not this one
        ("MP8_SR4", "MP8_SR4", True),
        ("MP8", "MP8_SR4", False),
        ("IP8_SR4", "MP8_SR4", None),  # another line
        ("7.2.6 build1575", "7.2.6", True),
        ("7.2.6", "7.2.6 build1575", None),
        ("5.14.0-284.30.1.rt14.315.el9_2", "kernel-rt-0:5.14.0-284.25.1.rt14.310.el9_2.x86_64", True),
        ("5.14.0-284.11.1.rt14.296.el9_2", "kernel-rt-0:5.14.0-284.25.1.rt14.310.el9_2.x86_64", False),
        ("5.14.0", "kernel-rt-0:5.14.0-284.25.1.rt14.310.el9_2.x86_64", None),  # upstream against a build
        ("", "1.0", None),
        ("1.0", "*", None),
    ],
)
def test_at_or_after(version: str, fixed: str, carries_fix: bool | None) -> None:
    assert at_or_after(version, fixed) is carries_fix


def test_affected_says_unknown_when_no_range_can_be_compared() -> None:
    siemens = (R(end_excluding="IP8"), R(end_excluding="IP8_SR4"))
    assert affected("MP8", siemens) == Evidence.VERSION_UNKNOWN  # never shown as an affected version
    assert affected("IP8", siemens) == "IP8"
    assert affected("IP8_SR4", siemens) is None
    # one range that holds it is enough, whatever the others cannot say
    assert affected("IP7", (R(end_excluding="MP8"), R(end_excluding="IP8"))) == "IP7"
