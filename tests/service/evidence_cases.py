"""The evidence cases of issue #11 on real public documents: a registry whose items meet every evidence basis, the
feeds that serve the documents, and what each (establishment, CVE, item) must be judged.

Shared by ``tests/service/test_evidence_documents.py`` and ``bench/evidence.py``. The documents are those of
``tests/data`` (see ``tests/data/SOURCES.md``): NVD's 2024-06-21 "recent" file, Cisco's, Siemens', Red Hat's and
BSI's CSAF advisories, and the KEV catalogue 2026.08.07. The CVE lists below are read from the documents
themselves, not from alertd's parsers, so that a parser that drops an entry fails the tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent

from paths import DATA

from alertd.domain.codes import Evidence, VersionBasis

B = VersionBasis


@dataclass(frozen=True, slots=True)
class Document:
    """A real public document served as a feed."""

    feed: str
    format: str
    path: str  # under tests/data


NVD = Document("nvd", "nvd-json", "nvd/nvdcve-1.1-recent_2024-06-21_crlf.json")
CISCO = Document("cisco-csaf", "csaf", "csaf/cisco-sa-20180328-smi2.json")
SIEMENS = Document("siemens-csaf", "csaf", "csaf/icsa-24-074-09.json")
REDHAT = Document("redhat-csaf", "csaf", "csaf/rhsa-2023_4378.json")
BSI = Document("bsi-csaf", "csaf", "csaf/bsi-2022-0001.json")
KEV = Document("kev", "cisa-kev", "kev/kev_2026-08-07.json")
CATALOGUES = (NVD, CISCO, SIEMENS, REDHAT, BSI)  # the documents that publish versions
DOCUMENTS = (*CATALOGUES, KEV)

# Each establishment declares the items of one story; two items of one product at two versions show that the
# email names each affected asset, and only those.
REGISTRY = """\
establishments:
  - id: cisco-switches
    name: CH des Commutateurs
    kind: CH
    language: fr
    contacts: [{email: rssi@commutateurs.example}]
    software:
      - {vendor: Cisco, product: IOS, version: "15.2(2)E6"}     # listed by Cisco's advisory
      - {vendor: Cisco, product: IOS, version: "15.2(7)E2"}     # a release of the same train it does not list
  - id: cisco-unknown
    name: Unknown Version Clinic
    kind: clinique
    language: en
    contacts: [{email: it@unknown-version.example}]
    software:
      - {vendor: Cisco, product: IOS}                           # no version declared
  - id: aem-onprem
    name: CHU du Portail
    kind: CHU
    language: fr
    contacts: [{email: web@chu-portail.example}]
    software:
      - {vendor: Adobe, product: Experience Manager, version: "6.5.21"}   # the on-premises fix
  - id: aem-old
    name: Old Portal Hospital
    kind: CH
    language: en
    contacts: [{email: web@old-portal.example}]
    software:
      - {vendor: Adobe, product: Experience Manager, version: "6.5.20"}
  - id: aem-cloud
    name: Clinique du Nuage
    kind: clinique
    language: fr
    contacts: [{email: web@clinique-nuage.example}]
    software:
      - {cpe: "cpe:2.3:a:adobe:experience_manager:2024.4:*:*:*:aem_cloud_service:*:*:*"}
  - id: browsers
    name: Browser General Hospital
    kind: CH
    language: en
    contacts: [{email: desktop@browser-general.example}]
    software:
      - {vendor: Google, product: Chrome, version: "126.0.6478.61"}
      - {vendor: Google, product: Chrome, version: "126.0.6478.126"}  # after NVD's <126.0.6478.114
  - id: fire-panels
    name: CH de la Sécurité Incendie
    kind: CH
    language: fr
    contacts: [{email: technique@ch-incendie.example}]
    software:
      - {vendor: Siemens, product: Sinteso FS20 EN Fire Panel FC20, version: "MP8"}
      - {vendor: Siemens, product: Sinteso FS20 EN Fire Panel FC20, version: "MP8_SR4"}   # the fixed service release
      - {vendor: Siemens, product: Cerberus PRO EN Fire Panel FC72x, version: "IP8"}
  - id: fire-panels-b
    name: Fire Safety Rehabilitation Centre
    kind: SSR
    language: en
    contacts: [{email: facilities@fire-rehab.example}]
    software:
      - {vendor: Siemens, product: Sinteso FS20 EN Fire Panel FC20, version: "IP8"}      # another product line
      - {vendor: Siemens, product: Cerberus PRO EN X200 Cloud Distribution, version: "V4.3.5618"}
      - {vendor: Siemens, product: Sinteso FS20 EN Engineering Tool, version: "MP8"}
  - id: rt-kernels
    name: Realtime Imaging Hospital
    kind: CH
    language: en
    contacts: [{email: linux@rt-imaging.example}]
    software:
      - {vendor: Red Hat, product: kernel-rt, version: "5.14.0-284.11.1.rt14.296.el9_2"}
      - {vendor: Red Hat, product: kernel-rt, version: "5.14.0-284.25.1.rt14.310.el9_2"}  # the fixed build
  - id: rt-kernels-el8
    name: CH du Temps Réel
    kind: CH
    language: fr
    contacts: [{email: linux@ch-temps-reel.example}]
    software:
      - {vendor: Red Hat, product: kernel-rt, version: "4.18.0-477.10.1.rt7.274.el8_8"}   # RHEL 8: not this advisory's
  - id: converters
    name: CH des Convertisseurs
    kind: CH
    language: fr
    contacts: [{email: dev@ch-convertisseurs.example}]
    software:
      - {vendor: CSAF Tools, product: CVRF-CSAF-Converter, version: "1.0.0-rc1"}
      - {vendor: CSAF Tools, product: CVRF-CSAF-Converter, version: "1.0.0-rc2"}   # the first fixed
  - id: phones
    name: Clinique Mobile
    kind: clinique
    language: fr
    contacts: [{email: mobile@clinique-mobile.example}]
    software:
      - {vendor: Google, product: Android, version: "14"}
  - id: gateways
    name: CHU de la Passerelle
    kind: CHU
    language: fr
    contacts: [{email: reseau@chu-passerelle.example}]
    software:
      - {vendor: Citrix, product: NetScaler ADC, version: "13.1-49.13"}   # KEV only: no range anywhere
"""

# Everything at once, so that every alert is in an email the tests read; the digest carries corrections.
SUBSCRIPTIONS = """\
subscriptions:
  - {name: vulnerabilities, establishments: all, min_severity: info, delivery: immediate}
  - {name: daily, establishments: all, min_severity: info, delivery: {digest: "0 8 * * *"}}
"""


def write_config(tmp: Path, feeds: Iterable[Document], url: str = "") -> Path:
    """alertd.yaml, its registry, feeds and subscriptions in ``tmp``, delivering into ``tmp/maildir``. The
    documents are read as ``file://`` paths, or under ``url`` (a loopback server serving tests/data) if given."""
    lines = ["feeds:"]
    for doc in feeds:
        where = f"{url}/{doc.path}" if url else f"file://{DATA / doc.path}"
        # Every entry is news: these cases are about version evidence, and their documents are old.
        lines.append(
            f"  - {{id: {doc.feed}, url: {where!r}, format: {doc.format}, tlp: clear, interval: 1h, "
            "backlog_after: never}"
        )
    (tmp / "feeds.yaml").write_text("\n".join(lines) + "\n")
    (tmp / "establishments.yaml").write_text(REGISTRY)
    (tmp / "subscriptions.yaml").write_text(SUBSCRIPTIONS)
    config = tmp / "alertd.yaml"
    config.write_text(
        dedent(
            """\
            timezone: Europe/Paris
            state_dir: state
            feeds: feeds.yaml
            registry: establishments.yaml
            subscriptions: subscriptions.yaml
            organisation: CERT Santé (tests)
            sender: {from: "CERT Test <alertes@cert-test.example>", reply_to: cert@cert-test.example}
            delivery: {method: maildir, maildir: maildir}
            """
        )
    )
    return config


# -- what the documents say, read without alertd ------------------------------------------------------------


def _json(doc: Document) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((DATA / doc.path).read_text(encoding="utf-8"))
    return loaded


def nvd_cves(cpe_part: str) -> frozenset[str]:
    """The CVEs of NVD's file with a configuration naming this CPE part (``adobe:experience_manager``)."""
    items = _json(NVD)["CVE_Items"]
    assert isinstance(items, list)
    return frozenset(
        item["cve"]["CVE_data_meta"]["ID"]
        for item in items
        if f":{cpe_part}:" in json.dumps(item.get("configurations", {}))
    )


def csaf_cves(doc: Document) -> frozenset[str]:
    """The CVEs a CSAF advisory lists."""
    vulnerabilities = _json(doc)["vulnerabilities"]
    assert isinstance(vulnerabilities, list)
    return frozenset(v["cve"] for v in vulnerabilities)


def kev_cves(vendor: str, *products: str) -> frozenset[str]:
    """The KEV entries of a vendor whose product is exactly one of these (KEV's own words)."""
    entries = _json(KEV)["vulnerabilities"]
    assert isinstance(entries, list)
    return frozenset(e["cveID"] for e in entries if e["vendorProject"] == vendor and e["product"] in products)


def _kev_products(vendor: str) -> set[str]:
    entries = _json(KEV)["vulnerabilities"]
    assert isinstance(entries, list)
    return {e["product"] for e in entries if e["vendorProject"] == vendor}


AEM = nvd_cves("adobe:experience_manager")
CHROME = nvd_cves("google:chrome")
ANDROID_PIXEL = "CVE-2024-32896"  # KEV: "Android Pixel"; NVD: cpe:2.3:o:google:android:-
SMART_INSTALL = "CVE-2018-0171"  # Cisco's advisory, and KEV's "Cisco IOS and IOS XE"
CITRIX_BLEED_2 = "CVE-2023-3519"
SIEMENS_22039, SIEMENS_22040, SIEMENS_22041 = "CVE-2024-22039", "CVE-2024-22040", "CVE-2024-22041"
REDHAT_CVES = csaf_cves(REDHAT)
BSI_CVE = "CVE-2022-27193"
# KEV's product names that include Cisco IOS (not IOS XR nor IOS XE alone), Citrix's NetScaler ADC, and Google's
# Chromium parts (not Pixel, nor Chrome for Android).
KEV_IOS = kev_cves(
    "Cisco",
    "IOS",
    "IOS Software",
    "IOS software",
    "IOS and IOS XE",
    "IOS and IOS XE Software",
    "IOS Software and Cisco IOS XE Software",
    "IOS, XR, and XE Software",
    "IOS, IOS XR, and IOS XE",
)
KEV_NETSCALER = kev_cves(
    "Citrix",
    "NetScaler",
    "NetScaler ADC and NetScaler Gateway",
    "NetScaler ADC and Gateway",
    "SD-WAN and NetScaler",
    "Application Delivery Controller (ADC) and Gateway",
    "Application Delivery Controller (ADC), Gateway, and SD-WAN WANOP Appliance",
)
KEV_CHROME = kev_cves("Google", *_kev_products("Google")) - kev_cves("Google", "Pixel", "Chrome for Android UI")


# Establishments whose judgements this suite once found wrong, now unverified: Android 14 was told affected by
# NVD's android:- (NA) for a Pixel-only flaw; a RHEL 8 kernel-rt by a RHEL 9 fix. The bench counts them apart.
QUESTIONED = frozenset({"phones", "rt-kernels-el8"})


@dataclass(frozen=True, slots=True)
class Case:
    """What one (establishment, item) must be judged for some CVEs: evidence, basis, range and source."""

    establishment: str
    asset: str  # the item as a finding names it (``str(Software)``)
    cves: frozenset[str]
    basis: VersionBasis
    range: str | None = None
    source: str | None = None  # the range's source: a feed, or feed:entry

    @property
    def evidence(self) -> Evidence:
        """The evidence level the basis gives."""
        return self.basis.evidence


def _one(cve: str) -> frozenset[str]:
    return frozenset({cve})


_CISCO_SOURCE = "cisco-csaf, cisco-sa-20180328-smi2"
_RH_FIX = "5.14.0-284.25.1.rt14.310.el9_2"

# The catalogues' own entries (NVD, CSAF), each judged by what its document says.
CATALOGUE_CASES = (
    Case("cisco-switches", "Cisco IOS 15.2(2)E6", _one(SMART_INSTALL), B.LISTED_AFFECTED, "=15.2(2)E6", _CISCO_SOURCE),
    Case("cisco-switches", "Cisco IOS 15.2(7)E2", _one(SMART_INSTALL), B.OUTSIDE_RANGE),
    Case("cisco-unknown", "Cisco IOS", _one(SMART_INSTALL), B.NO_VERSION),
    Case("aem-onprem", "Adobe Experience Manager 6.5.21", AEM, B.OUTSIDE_RANGE),
    Case("aem-old", "Adobe Experience Manager 6.5.20", AEM, B.IN_RANGE, "<6.5.21", "nvd"),
    Case("aem-cloud", "adobe experience manager 2024.4", AEM, B.IN_RANGE, "<2024.5", "nvd"),
    Case("browsers", "Google Chrome 126.0.6478.61", CHROME, B.IN_RANGE, "<126.0.6478.114", "nvd"),
    Case("browsers", "Google Chrome 126.0.6478.126", CHROME, B.OUTSIDE_RANGE),
    # Siemens: CVE-2024-22039 is fixed in MP8 and IP8, the two others in their fourth service release.
    Case("fire-panels", "Siemens Sinteso FS20 EN Fire Panel FC20 MP8", _one(SIEMENS_22039), B.OUTSIDE_RANGE),
    Case(
        "fire-panels",
        "Siemens Sinteso FS20 EN Fire Panel FC20 MP8",
        _one(SIEMENS_22040),
        B.IN_RANGE,
        "<MP8_SR4",
        "siemens-csaf, ICSA-24-074-09",
    ),
    Case(
        "fire-panels",
        "Siemens Sinteso FS20 EN Fire Panel FC20 MP8",
        _one(SIEMENS_22041),
        B.IN_RANGE,
        "<MP8_SR4",
        "siemens-csaf, ICSA-24-074-09",
    ),
    Case(
        "fire-panels",
        "Siemens Sinteso FS20 EN Fire Panel FC20 MP8_SR4",
        frozenset({SIEMENS_22039, SIEMENS_22040, SIEMENS_22041}),
        B.OUTSIDE_RANGE,
    ),
    Case("fire-panels", "Siemens Cerberus PRO EN Fire Panel FC72x IP8", _one(SIEMENS_22039), B.OUTSIDE_RANGE),
    Case(
        "fire-panels",
        "Siemens Cerberus PRO EN Fire Panel FC72x IP8",
        _one(SIEMENS_22040),
        B.IN_RANGE,
        "<IP8_SR4",
        "siemens-csaf, ICSA-24-074-09",
    ),
    Case(
        "fire-panels",
        "Siemens Cerberus PRO EN Fire Panel FC72x IP8",
        _one(SIEMENS_22041),
        B.IN_RANGE,
        "<IP8_SR4",
        "siemens-csaf, ICSA-24-074-09",
    ),
    Case(
        "fire-panels-b",
        "Siemens Sinteso FS20 EN Fire Panel FC20 IP8",
        frozenset({SIEMENS_22039, SIEMENS_22040, SIEMENS_22041}),
        B.NOT_COMPARABLE,
    ),
    Case(
        "fire-panels-b",
        "Siemens Cerberus PRO EN X200 Cloud Distribution V4.3.5618",
        frozenset({SIEMENS_22039, SIEMENS_22040, SIEMENS_22041}),
        B.OUTSIDE_RANGE,
    ),
    Case("fire-panels-b", "Siemens Sinteso FS20 EN Engineering Tool MP8", _one(SIEMENS_22039), B.OUTSIDE_RANGE),
    Case(
        "fire-panels-b",
        "Siemens Sinteso FS20 EN Engineering Tool MP8",
        _one(SIEMENS_22040),
        B.ALL_VERSIONS,
        "*",
        "siemens-csaf, ICSA-24-074-09",
    ),
    Case(
        "fire-panels-b",
        "Siemens Sinteso FS20 EN Engineering Tool MP8",
        _one(SIEMENS_22041),
        B.ALL_VERSIONS,
        "*",
        "siemens-csaf, ICSA-24-074-09",
    ),
    *(
        Case(
            "rt-kernels",
            "Red Hat kernel-rt 5.14.0-284.11.1.rt14.296.el9_2",
            _one(cve),
            B.BEFORE_FIX,
            f"<{_RH_FIX}",
            "redhat-csaf, RHSA-2023:4378",
        )
        for cve in sorted(REDHAT_CVES)
    ),
    *(
        Case(
            "rt-kernels",
            f"Red Hat kernel-rt {_RH_FIX}",
            _one(cve),
            B.FIXED_VERSION,
            f">={_RH_FIX}",
            "redhat-csaf, RHSA-2023:4378",
        )
        for cve in sorted(REDHAT_CVES)
    ),
    Case(
        "converters",
        "CSAF Tools CVRF-CSAF-Converter 1.0.0-rc1",
        _one(BSI_CVE),
        B.LISTED_AFFECTED,
        "=1.0.0-rc1",
        "bsi-csaf, BSI-2022-0001",
    ),
    Case(
        "converters",
        "CSAF Tools CVRF-CSAF-Converter 1.0.0-rc2",
        _one(BSI_CVE),
        B.FIXED_VERSION,
        ">=1.0.0-rc2",
        "bsi-csaf, BSI-2022-0001",
    ),
)

# KEV's entries when the catalogues were polled before: judged at once by their ranges.
KEV_KNOWN_CASES = (
    Case("cisco-switches", "Cisco IOS 15.2(2)E6", _one(SMART_INSTALL), B.LISTED_AFFECTED, "=15.2(2)E6", _CISCO_SOURCE),
    Case("cisco-switches", "Cisco IOS 15.2(7)E2", _one(SMART_INSTALL), B.OUTSIDE_RANGE),
    Case("cisco-unknown", "Cisco IOS", KEV_IOS, B.NO_VERSION),
    Case("cisco-switches", "Cisco IOS 15.2(2)E6", KEV_IOS - {SMART_INSTALL}, B.NO_RANGE),
    Case("cisco-switches", "Cisco IOS 15.2(7)E2", KEV_IOS - {SMART_INSTALL}, B.NO_RANGE),
    Case("gateways", "Citrix NetScaler ADC 13.1-49.13", KEV_NETSCALER, B.NO_RANGE),
    Case("browsers", "Google Chrome 126.0.6478.61", KEV_CHROME, B.NO_RANGE),
    Case("browsers", "Google Chrome 126.0.6478.126", KEV_CHROME, B.NO_RANGE),
)

# KEV's entries when nothing else was polled: no version checked.
KEV_ALONE_CASES = (
    Case("cisco-switches", "Cisco IOS 15.2(2)E6", KEV_IOS, B.NO_RANGE),
    Case("cisco-switches", "Cisco IOS 15.2(7)E2", KEV_IOS, B.NO_RANGE),
    Case("cisco-unknown", "Cisco IOS", KEV_IOS, B.NO_VERSION),
    Case("gateways", "Citrix NetScaler ADC 13.1-49.13", KEV_NETSCALER, B.NO_RANGE),
    Case("browsers", "Google Chrome 126.0.6478.61", KEV_CHROME, B.NO_RANGE),
    Case("browsers", "Google Chrome 126.0.6478.126", KEV_CHROME, B.NO_RANGE),
)


def expected(cases: Iterable[Case]) -> dict[tuple[str, str, str], Case]:
    """The cases by (establishment, CVE, asset)."""
    out: dict[tuple[str, str, str], Case] = {}
    for case in cases:
        for cve in case.cves:
            key = (case.establishment, cve, case.asset)
            assert key not in out, key
            out[key] = case
    return out


__all__ = [
    "AEM",
    "ANDROID_PIXEL",
    "BSI_CVE",
    "CATALOGUES",
    "CATALOGUE_CASES",
    "CHROME",
    "CISCO",
    "CITRIX_BLEED_2",
    "DOCUMENTS",
    "KEV",
    "KEV_ALONE_CASES",
    "KEV_KNOWN_CASES",
    "NVD",
    "QUESTIONED",
    "REGISTRY",
    "SMART_INSTALL",
    "Case",
    "Document",
    "expected",
    "write_config",
]
