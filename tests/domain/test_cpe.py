"""The one CPE parser: 2.3 formatted strings and 2.2 URIs, escapes, ANY and NA."""

from __future__ import annotations

import pytest

from alertd.domain.cpe import Cpe, parse_cpe


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*", Cpe("o", "fortinet", "fortios", "7.2.4")),
        (
            "cpe:2.3:a:microsoft:exchange_server:2019:cumulative_update_12:*:*:*:*:*:*",
            Cpe("a", "microsoft", "exchange_server", "2019", "cumulative_update_12"),
        ),
        ("cpe:2.3:h:cisco:asa_5505:-:*:*:*:*:*:*:*", Cpe("h", "cisco", "asa_5505")),
        (
            "cpe:2.3:a:drupal:search_autocomplete:7.x-3.0:rc3:*:fr:special:drupal:x64:beta",
            Cpe("a", "drupal", "search_autocomplete", "7.x-3.0", "rc3", None, "fr", "special", "drupal", "x64", "beta"),
        ),
        # The prefix is read in any case, as the ABNF of NISTIR 7695 allows.
        ("CPE:2.3:a:v:p:1:*:*:*:*:*:*:*", Cpe("a", "v", "p", "1")),
        # ANY and NA are open alike, in every attribute, the part included.
        ("cpe:2.3:*:v:p:-:-:*:-:*:*:*:*", Cpe(None, "v", "p")),
        ("cpe:2.3:a:*:p:1:*:*:*:*:*:*:*", Cpe("a", None, "p", "1")),
        ("cpe:2.3:a:v:-:1:*:*:*:*:*:*:*", Cpe("a", "v", None, "1")),
    ],
)
def test_formatted_strings(text: str, parsed: Cpe) -> None:
    assert parse_cpe(text) == parsed


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("cpe:2.3:a:vendor:prod\\:uct:1.0:-:*:*:*:*:*:*", Cpe("a", "vendor", "prod:uct", "1.0")),
        ("cpe:2.3:a:acme:a\\:b:1\\.0:*:*:*:*:*:*:*", Cpe("a", "acme", "a:b", "1.0")),
        # NVD's own dictionary: a product whose name holds a colon.
        (
            "cpe:2.3:a:valvesoftware:counter-strike\\:_global_offensive:*:*:*:*:*:*:*:*",
            Cpe("a", "valvesoftware", "counter-strike:_global_offensive"),
        ),
        # An escaped backslash before a separator: the colon separates.
        ("cpe:2.3:a:v:p\\\\:1:*:*:*:*:*:*:*", Cpe("a", "v", "p\\", "1")),
        # An escaped * or - is a value, not ANY or NA.
        ("cpe:2.3:a:v:p:\\*:\\-:*:*:*:*:*:*", Cpe("a", "v", "p", "*", "-")),
        ("cpe:2.3:a:hp:officejet\\!_pro:*:*:*:*:*:*:*:*", Cpe("a", "hp", "officejet!_pro")),
    ],
)
def test_escapes(text: str, parsed: Cpe) -> None:
    assert parse_cpe(text) == parsed


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("cpe:/o:fortinet:fortios:7.2.4", Cpe("o", "fortinet", "fortios", "7.2.4")),
        (
            "cpe:/a:microsoft:internet_explorer:8.0.6001:beta",
            Cpe("a", "microsoft", "internet_explorer", "8.0.6001", "beta"),
        ),
        ("cpe:/a:microsoft:ie", Cpe("a", "microsoft", "ie")),
        ("cpe:/a:microsoft:ie::sp2", Cpe("a", "microsoft", "ie", None, "sp2")),  # an empty component is ANY
        ("cpe:/a:acme:big%24money%20app:2.0", Cpe("a", "acme", "big$money app", "2.0")),  # percent-encoded
        ("CPE:/H:cisco:asa:-", Cpe("h", "cisco", "asa")),  # the part is a code: read in any case
        (
            # The 2.3 extended attributes, packed into a 2.2 edition.
            "cpe:/a:search_autocomplete_project:search_autocomplete:7.x-3.0:rc3:~~~drupal~~:en",
            Cpe(
                "a", "search_autocomplete_project", "search_autocomplete", "7.x-3.0", "rc3", None, "en", None, "drupal"
            ),
        ),
        ("cpe:/:acme:widget", Cpe(None, "acme", "widget")),
    ],
)
def test_uris(text: str, parsed: Cpe) -> None:
    assert parse_cpe(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "not a cpe",
        "",
        "cpe:2.4:a:x:y:1:*:*:*:*:*:*:*",
        "cpe:2.3:o:fortinet:fortios:7.2.4",  # too few components
        "cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*:*",  # too many
        "cpe:2.3:a:vendor",
        "cpe:2.3:x:fortinet:fortios:7.2.4:*:*:*:*:*:*:*",  # no such part
        "cpe:2.3::v:p:1:*:*:*:*:*:*:*",  # no part
        "cpe:2.3:a::p:1:*:*:*:*:*:*:*",  # no vendor
        "cpe:2.3:a:v::1:*:*:*:*:*:*:*",  # no product
        "cpe:2.3:a:v:p:1:*:*:*:*:*:*:*\\",  # ends inside an escape
        "cpe:/a:microsoft",
        "cpe:/x:microsoft:ie",
        "cpe:/a:v:p:1:2:3:4:5",  # a URI has seven components at most
        "cpe:/a:v:p:1:2:~a~b:en",  # a packed edition has five fields
        "cpe:/a::p:1",
    ],
)
def test_not_a_cpe(text: str) -> None:
    assert parse_cpe(text) is None


def test_full_version_joins_the_update() -> None:
    assert Cpe("a", "microsoft", "exchange_server", "2019", "cu12").full_version == "2019 cu12"
    assert Cpe("a", "microsoft", "exchange_server", "2019").full_version == "2019"
    assert Cpe("a", "microsoft", "exchange_server", None, "cu12").full_version is None
