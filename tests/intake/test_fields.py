"""The accessors every feed format reads untrusted JSON through: never raising, always bounded."""

from __future__ import annotations

from typing import Any

import pytest

from alertd.intake.formats import fields


@pytest.mark.parametrize(("value", "expected"), [({"a": 1}, {"a": 1}), ([1], {}), ("x", {}), (None, {})])
def test_mapping(value: Any, expected: dict[str, Any]) -> None:
    assert fields.mapping(value) == expected


@pytest.mark.parametrize(("value", "expected"), [([1, "a"], [1, "a"]), ({"a": 1}, []), ("ab", []), (None, [])])
def test_items(value: Any, expected: list[Any]) -> None:
    assert fields.items(value) == expected


def test_mappings_keeps_the_objects_of_an_array() -> None:
    assert list(fields.mappings([{"a": 1}, "x", None, [2], {"b": 2}])) == [{"a": 1}, {"b": 2}]
    assert list(fields.mappings({"a": 1})) == []
    assert list(fields.mappings(None)) == []


@pytest.mark.parametrize(
    ("value", "limit", "numbers", "expected"),
    [
        ("  CVE-2024-1  ", None, False, "CVE-2024-1"),
        ("  abcdef ", 3, False, "abc"),  # stripped before it is cut
        ("a\x1bb", None, False, "a\x1bb"),  # other characters are kept: text() only trims
        (42, None, False, ""),
        (42, None, True, "42"),  # MISP writes "42" and 42 alike
        (1777986041, 4, True, "1777"),
        (True, None, True, ""),  # a boolean is no number here
        (4.5, None, True, ""),
        (None, None, True, ""),
        (["x"], None, False, ""),
    ],
)
def test_text(value: Any, limit: int | None, numbers: bool, expected: str) -> None:
    assert fields.text(value, limit, numbers=numbers) == expected


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("  Buffer\n\toverflow  in\r\nX ", 500, "Buffer overflow in X"),
        ("a\x00b\x1b[31mc\x7fd\x85e", 500, "a b [31mc d e"),  # C0, DEL and C1 controls become spaces
        ("zero\u200bwidth", 500, "zero\u200bwidth"),  # kept unless asked
        ("x" * 600, 500, "x" * 500),
        ("a  b  c", 3, "a b"),  # cut after the whitespace is folded
        (None, 500, ""),
        (7, 500, ""),
    ],
)
def test_clean(value: Any, limit: int, expected: str) -> None:
    assert fields.clean(value, limit) == expected


def test_clean_invisible_also_folds_zero_width_and_direction_marks() -> None:
    text = "\ufeffhancock\u200bassociates\u200e  \u2028group\x00"
    assert fields.clean(text, 100, invisible=True) == "hancock associates group"
    assert fields.clean(text, 100) == "\ufeffhancock\u200bassociates\u200e group"


def test_clean_reads_a_bounded_prefix() -> None:
    # A hostile value: the work done depends on the limit, not on the value's size.
    assert fields.clean(" " * 10_000_000 + "tail", 10) == ""
    assert fields.clean(" " * 30 + "tail", 10) == "tail"


def test_clean_default_limit() -> None:
    assert len(fields.clean("y" * 10_000)) == fields.MAX_FIELD


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.cisa.gov/news-events/ics-medical-advisories", True),
        ("HTTP://Example.org/a?b=c#d", True),
        ("http://[2001:db8::1]:8080/", True),
        ("ftp://example.org/file", False),
        ("javascript:alert(1)", False),
        ("https:///no-host", False),  # no host
        ("https:/example.org", False),
        ("http://[2001:db8::1/", False),  # an unbalanced IPv6 bracket
        ("https://example.org/a b", False),  # whitespace, ASCII or not
        ("https://example.org/\u00a0", False),
        ("https://example.org/\x00", False),  # a control character
        ("https://example.org/\u009b", False),
        (" https://example.org/", False),  # a caller strips what it means to accept
        ("https://example.org/" + "a" * (fields.MAX_URL - 20), True),
        ("https://example.org/" + "a" * (fields.MAX_URL - 19), False),
        (None, False),
        (42, False),
    ],
)
def test_web_link(value: Any, expected: bool) -> None:
    assert fields.web_link(value) == (value if expected else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("  a \n b\t\tc  ", "a b c"), ("", ""), ("a\x00b", "a\x00b"), ("\u00a0x\u2003y", "x y")],
)
def test_one_line(value: str, expected: str) -> None:
    assert fields.one_line(value) == expected
