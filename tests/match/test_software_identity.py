"""Product identity on the real KEV catalogue (2026.08.07): which entries reach which registry item by their
product's key alone, the version left to the evidence judge."""

from __future__ import annotations

import json
from collections import defaultdict
from types import MappingProxyType

from paths import DATA

from alertd.domain.establishments import Establishment, Registry, Software
from alertd.domain.values import Product, ProductStatus
from alertd.match.names import words_of
from alertd.match.software import SoftwareIndex

KEV = json.loads((DATA / "kev" / "kev_2026-08-07.json").read_text(encoding="utf-8"))["vulnerabilities"]
ENTRIES = {entry["cveID"]: entry for entry in KEV}

IOS = Software("Cisco", "IOS", "15.2(2)E6")
IOS_XR = Software("Cisco", "IOS XR", "7.5.2")
CHROME = Software("Google", "Chrome", "126.0.6478.126")
EDGE = Software("Microsoft", "Edge", "126.0.2592.87", "cpe:2.3:a:microsoft:edge_chromium:126.0.2592.87:*:*:*:*:*:*:*")
NETSCALER = Software("Citrix", "NetScaler ADC", "13.1-49.13")
EXCHANGE = Software("Microsoft", "Exchange Server 2019", "2019 CU12")
AEM = Software("Adobe", "Experience Manager", "6.5.21", "cpe:2.3:a:adobe:experience_manager:6.5.21:*:*:*:*:*:*:*")
ITEMS = {
    "ios": IOS,
    "ios-xr": IOS_XR,
    "chrome": CHROME,
    "edge": EDGE,
    "netscaler": NETSCALER,
    "exchange": EXCHANGE,
    "aem": AEM,
}
INDEX = SoftwareIndex(
    Registry(
        MappingProxyType({name: Establishment(name, name.upper(), software=(sw,)) for name, sw in ITEMS.items()}),
        (),
    )
)


def kev_product(entry: dict[str, str]) -> Product:
    """A KEV entry's product as the KEV reader gives it: named, nothing said of its versions."""
    return Product(entry["vendorProject"], entry["product"], status=ProductStatus.NAMED)


def reached() -> dict[str, set[str]]:
    """Registry item → the KEV entries whose product is that item's product."""
    found: dict[str, set[str]] = defaultdict(set)
    for entry in KEV:
        for candidate in INDEX.candidates(kev_product(entry)):
            for est_id, _ in candidate.items:
                found[est_id].add(entry["cveID"])
    return found


REACHED = reached()


def products_of(item: str) -> set[str]:
    """The distinct KEV product names that reach an item."""
    return {ENTRIES[cve]["product"].strip() for cve in REACHED.get(item, ())}


def test_ios_xr_entries_do_not_reach_ios_and_ios_entries_do_not_reach_ios_xr() -> None:
    assert "CVE-2022-20821" in REACHED["ios-xr"]  # KEV product "IOS XR"
    assert "CVE-2022-20821" not in REACHED["ios"]
    assert "CVE-2018-0171" not in REACHED["ios-xr"]  # Smart Install: "IOS and IOS XE Software"
    assert "CVE-2018-0171" in REACHED["ios"]
    assert products_of("ios") == {
        "IOS",
        "IOS Software",
        "IOS software",
        "IOS and IOS XE",
        "IOS and IOS XE Software",
        "IOS Software and Cisco IOS XE Software",
        "IOS, IOS XR, and IOS XE",
        "IOS, XR, and XE Software",
    }
    assert products_of("ios-xr") == {"IOS XR", "IOS, IOS XR, and IOS XE", "IOS, XR, and XE Software"}


def test_chromium_v8_entries_reach_chrome_and_edge() -> None:
    v8 = {cve for cve, entry in ENTRIES.items() if entry["product"] == "Chromium V8"}
    assert len(v8) == 39
    assert v8 <= REACHED["chrome"] and v8 <= REACHED["edge"]
    # Chromium's parts, and Chrome's own: KEV's "Chromium WebP" (CVE-2023-4863) is in every Chromium browser.
    assert "CVE-2023-4863" in REACHED["chrome"] and "CVE-2023-4863" in REACHED["edge"]
    chrome_only = {cve for cve, entry in ENTRIES.items() if entry["product"] == "Chrome"}
    assert chrome_only <= REACHED["chrome"] and not chrome_only & REACHED["edge"]


def test_the_malware_protection_engine_reaches_nothing() -> None:
    entry = ENTRIES["CVE-2017-8540"]
    assert INDEX.candidates(kev_product(entry)) == []
    assert not any("CVE-2017-8540" in cves for cves in REACHED.values())
    # Its description names "Microsoft Exchange Server 2013 and 2016": not the registry's Exchange Server 2019.
    assert INDEX.mentioned(words_of(entry["shortDescription"])) == []


def test_netscaler_exchange_and_aem_by_their_own_names() -> None:
    assert "CVE-2023-3519" in REACHED["netscaler"]  # "NetScaler ADC and NetScaler Gateway"
    assert products_of("netscaler") == {
        "Application Delivery Controller (ADC) and Gateway",
        "Application Delivery Controller (ADC), Gateway, and SD-WAN WANOP Appliance",
        "NetScaler",
        "NetScaler ADC and Gateway",
        "NetScaler ADC and NetScaler Gateway",
        "SD-WAN and NetScaler",
    }
    assert products_of("exchange") == {"Exchange", "Exchange Server"}
    assert products_of("aem") == set()  # KEV names "Experience Manager (AEM) Forms" only, another product


def test_vague_names_reach_nothing() -> None:
    vague = [entry for entry in KEV if "Multiple" in entry["product"]]
    assert len(vague) > 100
    assert all(INDEX.candidates(kev_product(entry)) == [] for entry in vague)


def test_the_whole_catalogue_reaches_each_item_only_through_its_products() -> None:
    counts = {item: len(cves) for item, cves in sorted(REACHED.items())}
    assert counts == {"chrome": 70, "edge": 70, "exchange": 18, "ios": 36, "ios-xr": 9, "netscaler": 15}
    # 65 Chromium entries reach both browsers; Chrome's own 5 (Chrome, Chrome Blink...) reach Chrome only, and
    # Edge's own 5 ("Edge", "Internet Explorer and Edge": EdgeHTML, before Edge was built on Chromium) reach the
    # Edge product, whose version tells the two engines apart.
    assert len(REACHED["chrome"] & REACHED["edge"]) == 65


def test_an_edition_restricted_product_reaches_only_items_of_that_edition() -> None:
    # NVD 2024-06-21: AEM criteria with sw_edition=aem_cloud_service concern Adobe's cloud service only.
    cloud = Product("adobe", "experience_manager", edition="aem_cloud_service")
    assert INDEX.candidates(cloud) == []
    [candidate] = INDEX.candidates(Product("adobe", "experience_manager"))
    assert (candidate.version, candidate.edition, candidate.items) == ("6.5.21", None, (("aem", AEM),))
