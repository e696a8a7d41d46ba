"""The software table on its own: catalogue products against the registry's items, and mentions in text."""

from __future__ import annotations

from types import MappingProxyType

from alertd.domain.codes import Evidence
from alertd.domain.establishments import Establishment, Registry, Software
from alertd.domain.values import Product, VersionRange
from alertd.match.names import words_of
from alertd.match.software import SoftwareIndex

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
