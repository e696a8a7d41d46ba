"""Feed text handling in linear time (issue #13): refanging, URL trimming and HTML stripping.

None of these tests is timed. Each hostile input is fed at a size that took minutes with the quadratic
expressions these functions used to run (a cell of 60,000 spaces, a title of 320,000 ``&lt;``, a 150 KB STIX
value), so a regression shows as a test run that does not end, and the result is checked for being right. The
property tests compare the functions with the old expressions (the reference) on small random inputs, where
quadratic costs nothing. ``bench/linear_text.py`` measures the growth.
"""

from __future__ import annotations

import html
import json
import re

from builders import make_feed_spec
from hypothesis import given, settings
from hypothesis import strategies as st
from paths import DATA

from alertd.domain.feeds import ColumnRole, FeedFormat
from alertd.domain.values import Indicator, IndicatorType
from alertd.intake import extract
from alertd.intake.extract import MAX_ENTRY_TEXT, MAX_TEXT, extract_indicators, indicator_for, refang
from alertd.intake.formats import csvfeed, rss, stix

RSS_SAMPLE = DATA / "rss" / "ransomware-live_rss_2023-06.xml"
CSV_SAMPLE = DATA / "other" / "sekoia_eviltokens_iocs_20260330.csv"
T = IndicatorType

# -- the reference: the expressions used before issue #13, right but quadratic on hostile input ---------------

_OLD_REFANG = (
    (re.compile(r"\[://\]"), "://"),
    (re.compile(r"\s*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\})\s*", re.IGNORECASE), "."),
    (re.compile(r"\[:\]"), ":"),
    (re.compile(r"\s*(?:\[at\]|\(at\)|\{at\}|\[@\])\s*", re.IGNORECASE), "@"),
)
_OLD_SCHEMES = (
    (re.compile(r"\bhxxp(s?)\b", re.IGNORECASE), "http"),
    (re.compile(r"\bfxp(s?)(?=://)", re.IGNORECASE), "ftp"),
)
_OLD_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_OLD_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_OLD_TAG = re.compile(r"<[^>]*>")
_OLD_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def old_refang(text: str) -> str:
    for pattern, replacement in _OLD_REFANG:
        text = pattern.sub(replacement, text)
    for pattern, scheme in _OLD_SCHEMES:
        text = pattern.sub(lambda m, scheme=scheme: scheme + m.group(1).lower(), text)  # type: ignore[misc]
    return text


def old_strip_html(markup: str) -> str:
    text = _OLD_TAG.sub(" ", _OLD_COMMENT.sub(" ", _OLD_SCRIPT.sub(" ", markup)))
    return re.sub(r"\s+", " ", _OLD_CONTROL.sub("", html.unescape(text))).strip()


# Random text built from the pieces these functions look for, so that the interesting cases (a token next to
# whitespace, an unclosed comment, a script closed in another case) come up often.
_PIECES = st.sampled_from(
    [
        *" \t\n\u00a0\u2003",
        *"aZ.:/-)]([@<>&;#x0",
        "[.]", "(.)", "{.}", "[DOT]", "(dot)", "{dot}", "[:]", "[://]", "[at]", "(AT)", "{at}", "[@]",
        "hxxp", "HXXPS", "fxp", "://", "evil", ".example",
        "<script>", "<SCRIPT type=x>", "</script>", "</Script >", "<style>", "</style\n>", "<scripts>",
        "<!--", "-->", "<b>", "</p>", "&lt;", "&amp;", "&#65;", "&#x41;", "&#0000000065;", "&#99999999;",
        "\x00", "\x1b",
    ]
)  # fmt: skip
_TEXT = st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=30).map("".join)


@settings(max_examples=600, deadline=None)
@given(_TEXT)
def test_refang_equals_the_reference(text: str) -> None:
    assert refang(text) == old_refang(text)


@settings(max_examples=600, deadline=None)
@given(_TEXT)
def test_strip_html_equals_the_reference(markup: str) -> None:
    assert rss.strip_html(markup) == old_strip_html(markup)


def old_trim_url(url: str) -> str:
    def unbalanced(opening: str, closing: str) -> bool:
        return url[-1] == closing and url.count(opening) < url.count(closing)

    while url and (url[-1] in ".,;:!?'\"»" or unbalanced("(", ")") or unbalanced("[", "]")):
        url = url[:-1]
    return url


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(["a", "(", ")", "[", "]", ".", ",", "»", "'", "?"]), max_size=25).map("".join))
def test_urls_trimmed_as_before(tail: str) -> None:
    """Trailing punctuation and unbalanced closing brackets dropped as the old per-character loop did."""
    url = "http://a.example/" + tail
    assert extract._trim_url(url) == old_trim_url(url)


def test_the_real_feed_strips_as_before() -> None:
    """Every title and description of a real RSS feed (ransomware.live) reads as the reference reads it."""
    body = RSS_SAMPLE.read_text(encoding="utf-8")
    fragments = re.findall(r"<(?:title|description)>(.*?)</(?:title|description)>", body, re.DOTALL)
    assert len(fragments) > 100
    for fragment in fragments:
        assert rss.strip_html(fragment) == old_strip_html(fragment)
        assert refang(fragment) == old_refang(fragment)


# -- hostile inputs at sizes that took minutes ---------------------------------------------------------------


def test_refang_over_long_runs_of_whitespace() -> None:
    spaces = " " * 60_000
    assert refang(spaces) == spaces
    assert refang("evil" + spaces + "[.]" + spaces + "example") == "evil.example"
    assert refang("soc" + spaces + "[at]" + spaces + "evil [.] example") == "soc@evil.example"
    assert refang(("a [.] " + " " * 1000) * 200) == ("a." * 200).removesuffix(".") + "."


def test_a_csv_cell_of_60000_spaces() -> None:
    """A real SEKOIA IOC list with hostile rows appended: the real rows read, the padded domain too."""
    body = CSV_SAMPLE.read_bytes()
    hostile = (
        "\nevil" + " " * 60_000 + "[.]example,2026-03-19T00:00:00Z,2026-09-15T00:00:00Z,x"
        "\n" + " " * 60_000 + "a,2026-03-19T00:00:00Z,2026-09-15T00:00:00Z,x\n"
    )
    feed = make_feed_spec("sekoia", FeedFormat.CSV, columns={"domain": "IOC"})
    result = csvfeed.read(feed, body + hostile.encode())
    values = [o.indicators[0].value for o in result.observations]
    assert len(values) == 73 and values[-1] == "evil.example"
    assert all(v.endswith(".workers.dev") or "." in v for v in values)
    assert indicator_for(" " * 60_000 + "evil[.]example" + " " * 60_000, ColumnRole.DOMAIN) == Indicator(
        T.DOMAIN, "evil.example"
    )


def test_an_over_long_cell_is_no_indicator() -> None:
    assert indicator_for("a" * MAX_TEXT + ".example", ColumnRole.DOMAIN) is None
    assert indicator_for("http://evil.example/" + ")" * MAX_TEXT, ColumnRole.URL) is None


def test_a_150_kb_stix_value() -> None:
    def bundle(value: str) -> bytes:
        indicator = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
            "created": "2024-01-01T00:00:00.000Z",
            "modified": "2024-01-01T00:00:00.000Z",
            "pattern_type": "stix",
            "valid_from": "2024-01-01T00:00:00Z",
            "pattern": f"[domain-name:value = '{value}']",
        }
        return json.dumps({"type": "bundle", "id": "bundle--1", "objects": [indicator]}).encode()

    feed = make_feed_spec("stix", FeedFormat.STIX)
    (padded,) = stix.parse(feed, bundle("evil" + " " * 60_000 + "[.]example"))
    assert padded.indicators == (Indicator(T.DOMAIN, "evil.example"),)
    result = stix.read(feed, bundle("evil" + " " * 150_000 + "[.]example"))
    assert [o.indicators for o in result.observations] in ([], [()])  # too long to be a domain: no indicator


def test_strip_html_of_320000_lt() -> None:
    lts = "<" * 320_000
    assert rss.strip_html(lts) == lts  # no ">" closes them: text, as before
    assert rss.strip_html(lts + "<b>x</b>") == "x"  # the first "<" opens a tag the first ">" closes...
    assert rss.strip_html("&lt;" * 320_000 + "<b>x</b>") == "<" * 320_000 + " x"  # ...and entities are text
    assert rss.strip_html("<!--" * 80_000 + "x") == "<!--" * 80_000 + "x"
    assert rss.strip_html("<!--" * 80_000 + "-->x") == "x"
    assert rss.strip_html("<script>" * 40_000 + "x") == "x"  # unclosed scripts are tags
    assert rss.strip_html("<script>" * 40_000 + "</SCRIPT >x<style>" * 3) == "x x x"
    assert rss.strip_html("a" + " " * 60_000 + "b") == "a b"


def test_a_rss_title_of_320000_lt() -> None:
    """The real ransomware.live feed with one title of 320,000 ``&lt;``: every entry read, that title cut."""
    body = RSS_SAMPLE.read_bytes()
    hostile = body.replace(b"<item><title>", b"<item><title>" + b"&lt;" * 320_000 + b" ", 1)
    feed = make_feed_spec("ransomware-live", FeedFormat.RSS)
    clean, attacked = rss.parse(feed, body), rss.parse(feed, hostile)
    assert len(attacked) == len(clean) == 50
    assert attacked[0].title.startswith("<<<") and len(attacked[0].title) <= rss.MAX_MARKUP
    assert attacked[1:] == clean[1:]


def test_huge_character_references_do_not_fail_the_feed() -> None:
    """html.unescape() refuses decimal references over 4,300 digits (ValueError): read as U+FFFD instead."""
    assert rss.strip_html("&#" + "9" * 10_000 + ";x") == "\ufffdx"
    assert rss.strip_html("&#" + "0" * 10_000 + "65;x") == "Ax"
    assert rss.strip_html("&#x" + "0" * 10_000 + "41;x") == "Ax"


def test_extraction_over_hostile_text() -> None:
    url = "http://evil.example/path"
    assert extract_indicators(url + ")" * 100_000) == (Indicator(T.URL, url),)
    assert extract_indicators(url + "." * 100_000) == (Indicator(T.URL, url),)
    assert extract_indicators(" " * 60_000 + "evil [.] example" + " " * 60_000) == (
        Indicator(T.DOMAIN, "evil.example"),
    )
    # Only the start of a longer text is read: a cut text keeps its start.
    far = "x " * MAX_ENTRY_TEXT + "far.example"
    assert extract_indicators("near.example " + far) == (Indicator(T.DOMAIN, "near.example"),)
