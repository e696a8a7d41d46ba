"""Version evidence: a declared version is affected only inside a published range, version or fix.

The ranges are those of real advisories: NVD's for CVE-2023-3519 (Citrix) and CVE-2024-36239 (AEM, with an
``aem_cloud_service`` edition criterion), Red Hat's fixed-only RHSA-2023:4378, Siemens' ICSA-24-074-09 and
Cisco's CVE-2018-0171 lists.
"""

from __future__ import annotations

from types import MappingProxyType

import pytest

from alertd.domain.codes import Evidence, VersionBasis
from alertd.domain.establishments import Establishment, Registry, Software
from alertd.domain.values import Product, ProductStatus, VersionRange
from alertd.match.evidence import Said, judge, trace
from alertd.match.software import SoftwareIndex

B = VersionBasis
CITRIX = Said(
    Product(
        "citrix",
        "netscaler application delivery controller",
        (VersionRange(start_including="13.1", end_excluding="13.1-49.13"),),
    ),
    "nvd",
)
KEV = Said(Product("Citrix", "NetScaler ADC", status=ProductStatus.NAMED), "kev")
REDHAT = Said(
    Product(
        "Red Hat",
        "kernel-rt",
        (VersionRange(exact="3.10.0-1160.95.1.rt56.1143.el7"),),
        ProductStatus.FIXED,
    ),
    "redhat-csaf:RHSA-2023:4378#CVE-2023-20593",
)
SIEMENS = Said(Product("Siemens", "Cerberus PRO EN Engineering Tool", (VersionRange(end_excluding="MP8_SR4"),)), "cisa")
CISCO = Said(
    Product("Cisco", "IOS", (VersionRange(exact="15.2(2)E6"), VersionRange(exact="15.2(4)E"))),
    "cisco-csaf:cisco-sa-20180328-smi2#CVE-2018-0171",
)


@pytest.mark.parametrize(
    ("version", "said", "basis", "range_"),
    [
        ("13.1-48.47", [CITRIX], B.IN_RANGE, ">=13.1|<13.1-49.13"),
        ("13.1-49.13", [CITRIX], B.OUTSIDE_RANGE, None),  # the fixed release itself: no alert
        ("14.1-8.50", [CITRIX], B.OUTSIDE_RANGE, None),
        ("13.1-48.47", [KEV], B.NO_RANGE, None),  # KEV names no versions
        ("13.1-48.47", [], B.NO_RANGE, None),
        (None, [CITRIX], B.NO_VERSION, None),
        ("3.10.0-1160.99.1.rt56.1150.el7", [REDHAT], B.FIXED_VERSION, ">=3.10.0-1160.95.1.rt56.1143.el7"),
        ("3.10.0-1160.95.1.rt56.1143.el7", [REDHAT], B.FIXED_VERSION, ">=3.10.0-1160.95.1.rt56.1143.el7"),
        ("3.10.0-1160.90.1.rt56.1131.el7", [REDHAT], B.BEFORE_FIX, "<3.10.0-1160.95.1.rt56.1143.el7"),
        ("MP8", [SIEMENS], B.IN_RANGE, "<MP8_SR4"),
        ("MP8_SR4", [SIEMENS], B.OUTSIDE_RANGE, None),
        ("IP8", [SIEMENS], B.NOT_COMPARABLE, None),  # another product line: not comparable, never affected
        ("15.2(2)E6", [CISCO], B.LISTED_AFFECTED, "=15.2(2)E6"),
        ("15.2(7)E2", [CISCO], B.OUTSIDE_RANGE, None),
    ],
)
def test_each_evidence_level_rests_on_a_published_range(
    version: str | None, said: list[Said], basis: VersionBasis, range_: str | None
) -> None:
    fact = judge(version, said)
    assert (fact.basis, fact.range) == (basis, range_)
    assert fact.evidence is basis.evidence
    assert fact.declared == version
    if fact.evidence is Evidence.AFFECTED:
        assert fact.source is not None and fact.range is not None


def test_a_version_listed_not_affected_or_fixed_wins_over_a_wider_affected_range() -> None:
    wide = Said(Product("Acme", "Gateway", (VersionRange(end_excluding="8.0"),)), "nvd")
    fixed = Said(Product("Acme", "Gateway", (VersionRange(exact="7.2.5"),), ProductStatus.FIXED), "vendor")
    listed = Said(Product("Acme", "Gateway", (VersionRange(exact="7.1.9"),), ProductStatus.NOT_AFFECTED), "vendor")
    assert judge("7.2.6", [wide, fixed]).basis is B.FIXED_VERSION
    assert judge("7.1.9", [wide, listed]).basis is B.LISTED_NOT_AFFECTED
    assert judge("7.2.4", [wide, fixed]).basis is B.IN_RANGE  # the range says so; the fix is later


def test_every_version_is_affected_only_when_no_range_says_otherwise() -> None:
    everything = Said(Product("Siemens", "Sinteso FS20 EN Engineering Tool"), "cisa")  # vers:all/*
    assert judge("V4.3.5618", [everything]).basis is B.ALL_VERSIONS
    assert judge("V4.3.5618", [everything]).range == "*"


def test_an_edition_criterion_never_reaches_an_item_of_another_edition() -> None:
    # CVE-2024-36239 in NVD's 2024-06-21 file: one criterion for the cloud service, one for the rest.
    cloud = Product("adobe", "experience manager", (VersionRange(end_excluding="2024.5"),), edition="aem_cloud_service")
    on_premises = Product("adobe", "experience manager", (VersionRange(end_excluding="6.5.21"),))
    aem = Software("Adobe", "Experience Manager", "6.5.21")
    index = SoftwareIndex(Registry(MappingProxyType({"ch-a": Establishment("ch-a", "CH A", software=(aem,))}), ()))
    group = index.candidates(on_premises)[0]
    assert index.candidates(cloud) == []
    concerned = [p for p in (cloud, on_premises) if index.concerns(p, group.key, group.edition, group.target_sw)]
    assert concerned == [on_premises]
    assert judge(group.version, [Said(p, "nvd") for p in concerned]).basis is B.OUTSIDE_RANGE


def test_the_trace_shows_each_comparison() -> None:
    steps = trace("IP8", [SIEMENS, CITRIX])
    assert [(s.source, s.range, s.answer) for s in steps] == [
        ("cisa", "<MP8_SR4", None),
        ("nvd", ">=13.1|<13.1-49.13", None),
    ]
    assert trace(None, [SIEMENS]) == []


def test_a_fix_counts_within_its_own_line_and_an_affected_range_decides_first() -> None:
    # Affected 7.2.0–7.2.4 and 7.4.0–7.4.1, fixed in 7.2.5 and 7.4.2 (the shape of Fortinet's advisories).
    ranges = Said(
        Product(
            "fortinet",
            "fortios",
            (
                VersionRange(start_including="7.2.0", end_including="7.2.4"),
                VersionRange(start_including="7.4.0", end_including="7.4.1"),
            ),
        ),
        "nvd",
    )
    fixes = Said(
        Product("Fortinet", "FortiOS", (VersionRange(exact="7.2.5"), VersionRange(exact="7.4.2")), ProductStatus.FIXED),
        "fortinet-csaf",
    )
    assert judge("7.4.1", [ranges, fixes]).basis is B.IN_RANGE  # not "fixed" by 7.2.5
    assert judge("7.4.2", [ranges, fixes]).basis is B.FIXED_VERSION
    assert judge("7.4.2", [ranges, fixes]).range == ">=7.4.2"
    only_fixes = [fixes]
    assert judge("7.4.1", only_fixes).basis is B.BEFORE_FIX
    assert judge("7.4.1", only_fixes).range == "<7.4.2"
    assert judge("7.6.0", only_fixes).basis is B.FIXED_VERSION  # newer than every fix
    assert judge("7.3.1", only_fixes).basis is B.NOT_COMPARABLE  # between fixes of other lines: not decided


def test_every_version_is_not_overruled_by_another_sources_narrower_range() -> None:
    narrow = Said(Product("Acme", "Gateway", (VersionRange(end_excluding="7.0"),)), "nvd")
    everything = Said(Product("Acme", "Gateway"), "vendor")
    assert judge("7.4.1", [narrow, everything]).basis is B.ALL_VERSIONS


def test_a_coarse_declared_version_is_not_affected_by_a_finer_range() -> None:
    fine = Said(Product("fortinet", "fortios", (VersionRange(start_including="7.2.0", end_excluding="7.2.5"),)), "nvd")
    assert judge("7.2", [fine]).basis is B.NOT_COMPARABLE  # which 7.2? it may be 7.2.8
    assert judge("7.2.4", [fine]).basis is B.IN_RANGE
