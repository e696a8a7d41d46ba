"""The software table on its own: catalogue products against the registry's items, and mentions in text."""

from __future__ import annotations

from types import MappingProxyType

from alertd.domain.codes import Evidence
from alertd.domain.establishments import Establishment, Registry, Software
from alertd.domain.values import Product, VersionRange
from alertd.match.names import words_of
from alertd.match.software import SoftwareIndex, item_key

EXCHANGE_CPE = "cpe:2.3:a:microsoft:exchange_server:2019:cu12:*:*:*:*:*:*"
EXCHANGE = Software("Microsoft", "Exchange Server 2019", "2019", EXCHANGE_CPE)
FORTIOS = Software("Fortinet", "FortiOS")
NETSCALER = Software("Citrix", "NetScaler ADC", "13.1-49.13")
SOFTWARE = SoftwareIndex(
    Registry(
        MappingProxyType(
            {
                "a": Establishment("a", "A", software=(EXCHANGE, FORTIOS)),
                "b": Establishment("b", "B", software=(NETSCALER,)),
            }
        ),
        (),
    )
)


def test_a_catalogue_product_names_a_run_of_its_words_or_a_product_without_its_edition() -> None:
    both = Product("Citrix", "NetScaler ADC and NetScaler Gateway")
    assert SOFTWARE.product_hits(both) == [("b", NETSCALER, "13.1-49.13")]
    assert SOFTWARE.product_hits(Product("Microsoft", "Exchange Server")) == [("a", EXCHANGE, "2019 cu12")]
    assert SOFTWARE.product_hits(Product("Fortinet", "FortiOS")) == [("a", FORTIOS, Evidence.VERSION_UNKNOWN)]
    assert SOFTWARE.product_hits(Product("Other", "FortiOS")) == []


def test_a_version_outside_every_range_does_not_match() -> None:
    fixed = Product("Citrix", "NetScaler ADC", versions=(VersionRange(end_excluding="13.1-49.13"),))
    vulnerable = Product("Citrix", "NetScaler ADC", versions=(VersionRange(end_excluding="13.1-51.15"),))
    assert SOFTWARE.product_hits(fixed) == []
    assert SOFTWARE.product_hits(vulnerable) == [("b", NETSCALER, "13.1-49.13")]


def test_a_mention_needs_the_vendor_in_the_phrase_or_elsewhere_in_the_text() -> None:
    assert SOFTWARE.mentioned(words_of("A flaw in Fortinet FortiOS.")) == [("a", FORTIOS, Evidence.VERSION_UNKNOWN)]
    assert SOFTWARE.mentioned(words_of("FortiOS, by Fortinet.")) == [("a", FORTIOS, Evidence.VERSION_UNKNOWN)]
    assert SOFTWARE.mentioned(words_of("FortiOS alone.")) == []


# -- identity: item keys and candidates ------------------------------------------------------------------------


def test_an_item_key_comes_from_its_cpe_with_its_update_edition_and_platform() -> None:
    found = item_key(EXCHANGE)
    assert found is not None
    assert (found.key, found.version, found.edition, found.target_sw) == (
        ("microsoft", ("exchange",)),
        "2019 cu12",
        None,
        None,
    )
    named = item_key(Software("Microsoft", "Exchange Server 2019"))
    assert named is not None and named.key == found.key
    cloud = item_key(
        Software("Adobe", "AEM", "2024.1", "cpe:2.3:a:adobe:experience_manager:2024.1:*:*:*:aem_cloud_service:*:*:*")
    )
    assert cloud is not None and (cloud.key, cloud.edition) == (
        ("adobe", ("experience", "manager")),
        "aem cloud service",  # as NVD's reader writes it: one edition whichever way it is spelled
    )
    assert item_key(Software("Apple", "Multiple Products")) is None


def test_candidates_group_items_by_version_edition_and_platform() -> None:
    same = Software("Fortinet", "FortiOS", "7.2.5")
    index = SoftwareIndex(
        Registry(
            MappingProxyType(
                {
                    "a": Establishment("a", "A", software=(same, Software("Fortinet", "FortiGate", "7.4.1"))),
                    "b": Establishment("b", "B", software=(same,)),
                    "c": Establishment("c", "C", software=(Software("Microsoft", "Windows 10", "22H2"),)),
                    "d": Establishment("d", "D", software=(Software("Microsoft", "Windows Server 2019"),)),
                }
            ),
            (),
        )
    )
    found = {(c.version, c.items) for c in index.candidates(Product("Fortinet", "FortiOS"))}
    assert found == {
        ("7.2.5", (("a", same), ("b", same))),
        ("7.4.1", (("a", Software("Fortinet", "FortiGate", "7.4.1")),)),
    }
    # "Windows" names every Windows; "Windows 10" names neither Windows Server nor Windows 11.
    assert {c.items[0][0] for c in index.candidates(Product("Microsoft", "Windows"))} == {"c", "d"}
    assert {c.items[0][0] for c in index.candidates(Product("Microsoft", "Windows 10"))} == {"c"}
    assert index.candidates(Product("Microsoft", "Windows 11")) == []
    assert {c.items[0][0] for c in index.candidates(Product("Microsoft", "Win32k"))} == {"c", "d"}


def test_a_source_restricted_to_an_edition_or_platform_names_only_items_that_declare_it() -> None:
    on_premises = Software("Adobe", "Experience Manager", "6.5.21")
    cloud = Software(
        "Adobe", "AEM", "2024.1", "cpe:2.3:a:adobe:experience_manager:2024.1:*:*:*:aem_cloud_service:*:*:*"
    )
    android = Software("Google", "Chrome", "126.0", "cpe:2.3:a:google:chrome:126.0:*:*:*:*:android:*:*")
    index = SoftwareIndex(
        Registry(MappingProxyType({"a": Establishment("a", "A", software=(on_premises, cloud, android))}), ())
    )
    named = index.candidates(Product("adobe", "experience_manager", edition="aem_cloud_service"))
    assert [c.items for c in named] == [(("a", cloud),)]
    assert len(index.candidates(Product("adobe", "experience_manager"))) == 2
    assert [c.target_sw for c in index.candidates(Product("google", "chrome", target_sw="Android"))] == ["android"]


def test_a_mention_inside_a_longer_product_name_is_not_a_mention() -> None:
    ios = Software("Cisco", "IOS", "15.2(2)E6")
    index = SoftwareIndex(Registry(MappingProxyType({"a": Establishment("a", "A", software=(ios,))}), ()))
    assert index.mentioned(words_of("A flaw in Cisco IOS XR Software.")) == []
    assert index.mentioned(words_of("Cisco IOS XR and IOS XE, not IOS.")) == [("a", ios, "15.2(2)E6")]
    assert index.mentioned(words_of("Cisco IOS and IOS XE Software")) == [("a", ios, "15.2(2)E6")]
    netscaler = SoftwareIndex(Registry(MappingProxyType({"b": Establishment("b", "B", software=(NETSCALER,))}), ()))
    assert netscaler.mentioned(words_of("Citrix ADC 13.1 before 13.1-49.15")) == [("b", NETSCALER, "13.1-49.13")]
