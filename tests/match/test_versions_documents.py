"""Version comparison on the version strings of real advisories (tests/data/csaf, see tests/data/SOURCES.md)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from functools import cmp_to_key
from typing import Any

import pytest
from paths import DATA

from alertd.domain.values import VersionRange
from alertd.match.versions import at_or_after, compare, contains

R = VersionRange


def _leaves(branches: list[dict[str, Any]], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    """Each leaf of a CSAF product tree: the names on its path, and its product id."""
    for branch in branches:
        names = (*path, branch["name"])
        if "branches" in branch:
            yield from _leaves(branch["branches"], names)
        else:
            yield names, branch["product"]["product_id"]


def _document(name: str) -> dict[str, Any]:
    with (DATA / "csaf" / name).open(encoding="utf-8") as f:
        document: dict[str, Any] = json.load(f)
    return document


def _cisco_trains() -> dict[tuple[str, str], list[str]]:
    """Cisco's versions (the ``service_pack`` leaves) by (product, release train)."""
    trains: dict[tuple[str, str], list[str]] = {}
    for names, _ in _leaves(_document("cisco-sa-20180328-smi2.json")["product_tree"]["branches"]):
        product, train, version = names[-3:]
        trains.setdefault((product, train), []).append(version)
    return trains


CISCO = _cisco_trains()
CISCO_VERSIONS = [v for versions in CISCO.values() for v in versions]


def test_the_cisco_document_is_what_the_tests_expect() -> None:
    assert len(CISCO_VERSIONS) == 259
    assert "15.2(2)E6" in CISCO[("IOS", "15.2E")]
    assert "3.6.5bE" in CISCO[("Cisco IOS XE Software", "3.6E")]


@pytest.mark.parametrize(("product", "train"), sorted(CISCO))
def test_every_cisco_version_is_ordered_within_its_train(product: str, train: str) -> None:
    versions = CISCO[(product, train)]
    for a, b in itertools.product(versions, repeat=2):
        assert compare(a, b) == 0 if a == b else compare(a, b) in (-1, 1), (a, b)
        assert contains(a, R(exact=b)) is (a == b)


def test_cisco_versions_of_two_trains_are_never_ordered_and_never_equal() -> None:
    lettered = {key: versions for key, versions in CISCO.items() if not key[1].replace(".", "").isdigit()}
    for (key_a, versions_a), (key_b, versions_b) in itertools.combinations(lettered.items(), 2):
        for a, b in itertools.product(versions_a, versions_b):
            assert compare(a, b) is None, (key_a, a, key_b, b)
            assert contains(a, R(exact=b)) is False  # equality is always decidable
            assert at_or_after(a, b) is None


def _order(a: str, b: str) -> int:
    return compare(a, b) or 0  # within one train it always answers


@pytest.mark.parametrize(
    ("train", "in_order"),
    [
        (
            "15.0SE",
            [
                "15.0(1)SE",
                "15.0(1)SE1",
                "15.0(1)SE3",
                "15.0(2)SE",
                "15.0(2)SE9",
                "15.0(2)SE10",
                "15.0(2)SE10a",
                "15.0(2)SE11",
                "15.0(2)SE12",
                "15.0(2a)SE9",
            ],
        ),
        ("15.2E", ["15.2(1)E", "15.2(2)E5", "15.2(2)E5a", "15.2(2)E5b", "15.2(2)E6", "15.2(4)E", "15.2(6)E0c"]),
        ("15.2SY", ["15.2(1)SY", "15.2(1)SY0a", "15.2(1)SY1", "15.2(1)SY1a", "15.2(1)SY5", "15.2(2)SY"]),
        ("15.3SY", ["15.3(0)SY", "15.3(1)SY", "15.3(1)SY3"]),
        ("3.6E", ["3.6.0E", "3.6.0aE", "3.6.0bE", "3.6.1E", "3.6.5E", "3.6.5aE", "3.6.7bE"]),
        ("16.3", ["16.3.1", "16.3.1a", "16.3.2", "16.3.5", "16.3.5b"]),
    ],
)
def test_cisco_trains_sort_as_cisco_numbers_them(train: str, in_order: list[str]) -> None:
    (versions,) = [versions for (_, name), versions in CISCO.items() if name == train]
    ranked = sorted(versions, key=cmp_to_key(_order))
    assert [v for v in ranked if v in in_order] == in_order


def _status(document: dict[str, Any]) -> dict[str, set[str]]:
    """Product ids by CSAF product status, over all the document's vulnerabilities."""
    status: dict[str, set[str]] = {}
    for vulnerability in document["vulnerabilities"]:
        for name, ids in vulnerability.get("product_status", {}).items():
            status.setdefault(name, set()).update(ids)
    return status


def test_bsi_pre_releases_before_the_first_fixed_are_affected() -> None:
    document = _document("bsi-2022-0001.json")
    version_of = {pid: names[-1] for names, pid in _leaves(document["product_tree"]["branches"])}
    status = _status(document)
    affected = sorted(version_of[pid] for pid in status["known_affected"])
    (fixed,) = {version_of[pid] for pid in status["first_fixed"]}
    assert fixed == "1.0.0-rc2"
    assert affected == ["1.0.0-alpha", "1.0.0-dev1", "1.0.0-dev2", "1.0.0-dev3", "1.0.0-rc1"]
    for version in affected:
        assert at_or_after(version, fixed) is False, version
        assert contains(version, R(end_excluding=fixed)) is True, version
    for later in (fixed, "1.0.0", "1.0.1", "1.1.0-alpha"):
        assert at_or_after(later, fixed) is True, later


SIEMENS_RANGES = {
    names[-1]
    for names, _ in _leaves(_document("icsa-24-074-09.json")["product_tree"]["branches"])
    if names[-1].startswith("<")
}


@pytest.mark.parametrize(
    ("bound", "version", "inside"),
    [
        ("<IP8", "IP7", True),
        ("<IP8", "IP8", False),
        ("<IP8", "IP8_SR4", False),
        ("<IP8", "MP8", None),  # a range of one line says nothing of the other
        ("<IP8_SR4", "IP8", True),
        ("<IP8_SR4", "IP8_SR3", True),
        ("<IP8_SR4", "IP8_SR4", False),
        ("<IP8_SR4", "IP9", False),
        ("<MP8", "MP7", True),
        ("<MP8_SR4", "MP8", True),
        ("<MP8_SR4", "MP8_SR4", False),
        ("<MP8_SR4", "IP8_SR3", None),
        ("<V4.0.5016", "V4.0.5015", True),
        ("<V4.0.5016", "4.0.5016", False),
        ("<V4.3.5618", "V4.3.5617", True),
        ("<V4.3.5618", "V4.3.5618", False),
        ("<V4.3.5618", "MP8", None),
        ("<V4.2.5015", "V4.10.1", False),  # numbers, not text
        ("<V4.3.5617", "V4.3.5616", True),
        ("<V3.0.0", "V2.9", True),
    ],
)
def test_siemens_ranges(bound: str, version: str, inside: bool | None) -> None:
    assert bound in SIEMENS_RANGES
    assert contains(version, VersionRange.from_text(bound)) is inside


def test_red_hat_fixed_builds_are_carried_by_later_builds_only() -> None:
    document = _document("rhsa-2023_4378.json")
    builds = {names[-1] for names, _ in _leaves(document["product_tree"]["branches"]) if ":" in names[-1]}
    fixed_ids = _status(document)["fixed"]
    assert len(builds) == 18  # 34 fixed ids: each build as a component of two products
    assert all(any(pid.endswith(build) for pid in fixed_ids) for build in builds)
    for build in builds:
        assert at_or_after(build, build) is True
        assert at_or_after("5.14.0-284.25.1.rt14.310.el9_2", build) is True  # the same build, epoch 0
        assert at_or_after("5.14.0-284.30.1.rt14.315.el9_2", build) is True
        assert at_or_after("0:5.14.0-362.8.1.el9_3", build) is True
        assert at_or_after("5.14.0-284.11.1.rt14.296.el9_2", build) is False
        assert at_or_after("0:5.14.0-70.13.1.rt21.83.el9_0", build) is False
        assert at_or_after("5.14.0", build) is None  # the upstream version says nothing of backports
