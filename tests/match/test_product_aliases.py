"""The shipped product alias table (alertd/match/products.yaml): it parses, every name in it lands on its product,
and a table claiming one name for two products is refused."""

from __future__ import annotations

import pytest
import yaml
from paths import ROOT

from alertd.match.normalise import ALIASES, AliasError, identify, load_aliases, product_keys

TEXT = (ROOT / "alertd" / "match" / "products.yaml").read_text(encoding="utf-8")
DATA = yaml.safe_load(TEXT)


def test_the_shipped_table_has_a_header_saying_how_to_review_and_extend_it() -> None:
    header = TEXT.split("\n\n", 1)[0]
    assert header.startswith("# alertd's product alias table")
    assert "Reviewing:" in TEXT and "Extending:" in TEXT


def test_every_name_of_the_shipped_table_lands_on_its_product() -> None:
    checked = 0
    for vendor, products in DATA["products"].items():
        for product, others in products.items():
            expected = identify(vendor, product)
            assert expected is not None, product
            for other in others:
                found = identify(vendor, other)
                assert found is not None and found.key == expected.key, other
                checked += 1
    for vendor, products in DATA["components"].items():
        for product, parts in products.items():
            expected = identify(vendor, product)
            assert expected is not None
            for part in parts:
                found = identify(vendor, f"{product} {part}")
                assert found is not None and found.key == expected.key, part
                checked += 1
    assert checked > 50


def test_umbrellas_name_every_product_they_cover() -> None:
    assert product_keys("Google", "Chromium V8") == {
        ("google", ("chromium",)),
        ("google", ("chrome",)),
        ("microsoft", ("edge",)),
    }
    assert product_keys("Citrix", "NetScaler") == {
        ("citrix", ("netscaler", "adc")),
        ("citrix", ("netscaler", "gateway")),
    }
    for (vkey, _), covered in ALIASES.umbrellas.items():
        assert covered and all(key[1] for key in covered), vkey


def test_renamed_vendors_are_not_renamed_twice() -> None:
    assert set(ALIASES.vendors.values()).isdisjoint(ALIASES.vendors)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("products: {cisco: {ios xe: [xe], ios xr: [xe]}}", "already a name of 'ios xe'"),
        ("products: {cisco: {ios: [ios xr], ios xr: [xr]}}", "is a product of its own"),
        ("components: {google: {chromium: [v8]}}\nproducts: {google: {chrome: [chromium v8]}}", "already a name"),
        ("vendors: {pulsesecure: ivanti, ivanti: broadcom}", "itself renamed"),
        ("umbrellas: {google: {chromium: [chrome]}}", "is not a vendor:product"),
        ("umbrellas: {citrix: {netscaler: ['citrix:adc'], adc: ['citrix:gateway']}}", "covers another umbrella"),
        ("products: {citrix: {netscaler adc: [{adc: 1}]}}", "expected a name"),
        ("aliases: {}", "the top level holds"),
    ],
)
def test_a_name_claimed_twice_or_malformed_is_refused(text: str, problem: str) -> None:
    with pytest.raises(AliasError, match=problem):
        load_aliases(text, "test.yaml")


def test_the_same_name_twice_for_the_same_product_is_allowed() -> None:
    table = load_aliases("products: {citrix: {netscaler adc: [adc, ADC, application delivery controller]}}")
    assert table.keys("Citrix", "Citrix ADC") == {("citrix", ("netscaler", "adc"))}
