"""Properties of every feed parser and of extraction on arbitrary input (issue #13).

Whatever bytes a feed serves, a parser either returns observations or raises :class:`ParseError` (the only error the
engine takes as the feed's, ``service/poll.py``: anything else is logged as a parser crash), and what it returns
stays within the feed's text caps. Extraction never raises and never returns more than it was allowed to read; a
defanged indicator reads back as itself. The inputs are random bytes, random JSON built from each format's own key
names, and real samples from ``tests/data`` cut and spliced; the examples are few and the deadline generous so the
whole file runs in seconds on a loaded machine (``fuzz/`` runs the same parsers for longer).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

import pytest
from builders import make_feed_spec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from paths import DATA

from alertd.domain.errors import ParseError
from alertd.domain.feeds import INDICATOR_ROLES, ColumnRole, FeedFormat, FeedSpec
from alertd.domain.values import Indicator, IndicatorType, Observation
from alertd.intake.extract import MAX_ENTRY_TEXT, MAX_TEXT, extract_indicators, indicator_for, refang
from alertd.intake.formats import FORMATS, csaf_index, misp, rss
from alertd.render.defang import defang_indicator

FAST = settings(
    max_examples=25,
    deadline=5000,  # ms per example: a loaded machine, and feedparser's first call imports a lot
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples each run: a property failure here is reproducible from the log
)

# Each format's vocabulary: random JSON built from these keys reaches the parser's inner branches, not only its
# "not JSON" error.
_KEYS: dict[FeedFormat, list[str]] = {
    FeedFormat.CISA_KEV: ["vulnerabilities", "cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded",
                          "shortDescription", "requiredAction", "dueDate", "knownRansomwareCampaignUse", "notes",
                          "cwes"],
    FeedFormat.NVD_JSON: ["vulnerabilities", "cve", "id", "descriptions", "lang", "value", "metrics",
                          "cvssMetricV31", "cvssData", "baseScore", "configurations", "nodes", "cpeMatch",
                          "criteria", "vulnerable", "versionEndExcluding", "CVE_Items", "published"],
    FeedFormat.CSAF: ["document", "tracking", "id", "title", "product_tree", "branches", "category", "name",
                      "product", "product_id", "vulnerabilities", "cve", "product_status", "known_affected",
                      "notes", "text", "scores", "cvss_v3", "baseScore", "distribution", "tlp", "label"],
    FeedFormat.MISP: ["Event", "response", "uuid", "info", "Attribute", "Object", "Tag", "name", "type", "value",
                      "to_ids", "comment", "category", "timestamp", "deleted", "date"],
    FeedFormat.STIX: ["type", "bundle", "objects", "id", "spec_version", "pattern", "pattern_type", "name",
                      "description", "indicator", "object_marking_refs", "report", "object_refs", "relationship",
                      "source_ref", "target_ref", "malware", "labels", "valid_from", "revoked"],
    FeedFormat.LEAK_VICTIMS: ["post_title", "group_name", "discovered", "published", "website", "post_url",
                              "country", "activity", "description"],
    FeedFormat.PRESS_REPORTS: ["victim", "domain", "country", "date", "added", "title", "summary", "url"],
}  # fmt: skip
_STRINGS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "CVE-2024-3400", "198.51.100.7", "evil[.]example", "hxxps://evil.example/a",
            "[ipv4-addr:value = '1.2.3.4']", "[url:value = 'http://x.example/']", "stix", "indicator", "url",
            "ip-dst", "domain|ip", "tlp:red", "1", "true", "&lt;" * 50, " " * 300, "2024-06-01T00:00:00Z",
            "Fortinet", "FortiOS", "cpe:2.3:a:x:y:1:*:*:*:*:*:*:*",
        ]
    ),
)  # fmt: skip


def _json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=False), _STRINGS)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), inner, max_size=6)
        ),
        max_leaves=30,
    )


def _sample(path: str, limit: int = 20_000) -> bytes:
    return (DATA / path).read_bytes()[:limit]


_SEEDS: dict[FeedFormat, list[bytes]] = {
    FeedFormat.RSS: [_sample("rss/certfr_alertes_avis.xml"), _sample("rss/cisa_advisories_atom.xml")],
    FeedFormat.CSV: [_sample("abusech/feodotracker_ipblocklist_2021-12-20.csv", 4000)],
    FeedFormat.EPSS_CSV: [_sample("epss/epss_scores_excerpt.csv", 4000)],
    FeedFormat.LEAK_VICTIMS: [_sample("leaks/ransomwatch_posts_sample.json")],
    FeedFormat.PRESS_REPORTS: [_sample("press/ransomware-live_allcyberattacks_2024-06.json", 6000)],
    FeedFormat.STIX: [_sample("stix/oasis_stix21_example_indicator-for-malicious-url.json")],
    # What the fetch packs a TAXII collection's pages into: one STIX bundle.
    FeedFormat.TAXII: [_sample("stix/oasis_stix21_example_indicator-for-malicious-url.json")],
    FeedFormat.MISP: [_sample("misp/talos_2023-07_reddriver.json", 6000)],
    FeedFormat.CISA_KEV: [_sample("kev/kev_2026-08-07.json", 6000)],
    FeedFormat.NVD_JSON: [_sample("nvd/nvd-api-2.0_cves_page_2023-10-18.json", 8000)],
    FeedFormat.CSAF: [_sample("csaf/icsma-24-200-01.json", 8000)],
}


@st.composite
def _spliced(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real sample with a random slice replaced by random bytes (or by nothing: a cut document)."""
    seed = draw(st.sampled_from(seeds))
    start = draw(st.integers(0, len(seed)))
    end = draw(st.integers(start, min(len(seed), start + 200)))
    return seed[:start] + draw(st.binary(max_size=64)) + seed[end:]


def _bodies(fmt: FeedFormat) -> st.SearchStrategy[bytes]:
    choices = [st.binary(max_size=600), _spliced(_SEEDS[fmt])]
    if fmt in _KEYS:
        choices.append(_json_values(_KEYS[fmt]).map(lambda v: json.dumps(v).encode()))
    if fmt is FeedFormat.STIX:  # JSON Lines: one object a line
        line = _json_values(_KEYS[fmt]).map(json.dumps)
        choices.append(st.lists(line, max_size=5).map(lambda lines: "\n".join(lines).encode()))
    if fmt in (FeedFormat.CSV, FeedFormat.EPSS_CSV):
        cell = st.one_of(_STRINGS, st.sampled_from(['"', '""', "#", ";", "cve", "epss", "percentile", "dst_ip"]))
        row = st.lists(cell, max_size=5).map(",".join)
        choices.append(st.lists(row, max_size=8).map(lambda rows: "\n".join(rows).encode()))
    if fmt is FeedFormat.RSS:
        piece = st.one_of(
            _STRINGS,
            st.sampled_from(["<item>", "</item>", "<title>", "</title>", "<description>", "</description>", "<![CDATA[",
                             "]]>", "<entry>", "</entry>", "<content>", "</content>", "&amp;", "<!--", "-->"]),
        )  # fmt: skip
        head = '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        choices.append(st.lists(piece, max_size=20).map(lambda p: (head + "".join(p) + "</channel></rss>").encode()))
    return st.one_of(*choices)


_COLUMNS = {"ip": "0", "url": "1", "domain": "2", "malware": "3", "first_seen": "4"}
_CAPS = st.sampled_from([(MAX_TEXT, MAX_ENTRY_TEXT), (1024, 1024), (1024, 4096)])


def _spec(fmt: FeedFormat, caps: tuple[int, int]) -> FeedSpec:
    spec = make_feed_spec("fuzzed", fmt, columns=_COLUMNS if fmt is FeedFormat.CSV else None)
    return dataclasses.replace(spec, max_field_bytes=caps[0], max_entry_bytes=caps[1])


def check_bounded(observations: list[Observation], spec: FeedSpec) -> None:
    """What a parser returns stays within the feed's caps: a title and an indicator's value are at most one
    field's worth; the entry's text and each fact at most the entry's."""
    for o in observations:
        assert isinstance(o, Observation)
        assert o.feed == spec.id and o.entry
        assert len(o.title) <= spec.max_field_bytes, (len(o.title), o.title[:80])
        assert len(o.text) <= spec.max_entry_bytes
        for indicator in o.indicators:
            assert len(indicator.value) <= spec.max_field_bytes
        for key, value in o.facts.to_json().items():
            assert len(value) <= spec.max_entry_bytes, key


@pytest.mark.parametrize("fmt", list(FORMATS), ids=str)
def test_a_parser_returns_bounded_observations_or_raises_parse_error(fmt: FeedFormat) -> None:
    parse = FORMATS[fmt].parse

    @FAST
    @given(body=_bodies(fmt), caps=_CAPS)
    def run(body: bytes, caps: tuple[int, int]) -> None:
        spec = _spec(fmt, caps)
        try:
            observations = parse(spec, body)
        except ParseError:
            return
        check_bounded(observations, spec)

    run()


_EXPANDERS: list[tuple[FeedFormat, Callable[[FeedSpec, bytes, str], list[str] | None]]] = [
    (FeedFormat.CSAF, csaf_index.expand),
    (FeedFormat.MISP, misp.expand),
]


@pytest.mark.parametrize(("fmt", "expand"), _EXPANDERS, ids=lambda v: str(v) if isinstance(v, FeedFormat) else "")
def test_an_index_expander_never_raises_and_stays_on_http(
    fmt: FeedFormat, expand: Callable[[FeedSpec, bytes, str], list[str] | None]
) -> None:
    lines = st.lists(st.one_of(_STRINGS, st.sampled_from(["a.json", "../x.json", "file:///etc/x.json"])), max_size=6)
    listing = lines.map(lambda ls: "\n".join(ls).encode())

    @FAST
    @given(body=st.one_of(_bodies(fmt), listing))
    def run(body: bytes) -> None:
        urls = expand(_spec(fmt, (MAX_TEXT, MAX_ENTRY_TEXT)), body, "https://feeds.example/csaf/index.txt")
        assert urls is None or all(u.startswith(("https://", "http://")) for u in urls), urls

    run()


# -- extraction ------------------------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [" ", "\n", ".", "[.]", "(.)", "[dot]", "[at]", "[:]", "hxxp", "hxxps://", "fxp://", "://", "/", "@", ")", "]",
     "evil", "example", "com", "198.51.100.", "7", "2001:db8::", "CVE-2024-", "12345", "a" * 32, "<", "&lt;", "-"]
)  # fmt: skip
_PROSE = st.lists(st.one_of(_PIECES, st.text(max_size=4)), max_size=40).map("".join)


@FAST
@given(text=st.one_of(_PROSE, st.text(max_size=300)), limit=st.integers(0, 400))
def test_extraction_reads_no_further_than_its_limit(text: str, limit: int) -> None:
    found = extract_indicators(text, limit)
    assert found == extract_indicators(text[:limit], limit)  # what lies past the limit changes nothing
    assert len(set(found)) == len(found)
    for indicator in found:
        assert indicator.value and len(indicator.value) <= max(limit, len("CVE-0000-0000"))


@FAST
@given(
    value=st.one_of(_PROSE, st.text(max_size=200)), role=st.sampled_from(list(ColumnRole)), limit=st.integers(1, 300)
)
def test_a_cell_over_the_limit_is_no_indicator(value: str, role: ColumnRole, limit: int) -> None:
    try:
        found = indicator_for(value, role, limit)
    except ValueError:  # a role that names no indicator: a programming error, documented
        assert role not in INDICATOR_ROLES
        return
    if len(value.strip()) > limit:
        assert found is None


@FAST
@given(text=st.one_of(_PROSE, st.text(max_size=300)))
def test_refang_and_strip_html_never_raise_nor_grow_past_their_input(text: str) -> None:
    assert len(refang(text)) <= len(text)  # each rewrite shortens or keeps its length
    assert len(rss.strip_html(text)) <= len(text)  # a tag becomes a space; an entity decodes no longer than itself


_LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12).filter(
    lambda label: not label.startswith("hxxp") and not label.startswith("fxp")
)
_DOMAIN = st.builds(lambda labels, tld: ".".join([*labels, tld]), st.lists(_LABEL, min_size=1, max_size=3),
                    st.sampled_from(["example", "fr", "com", "org", "net"]))  # fmt: skip
_INDICATORS = st.one_of(
    _DOMAIN.map(lambda d: Indicator(IndicatorType.DOMAIN, d)),
    st.ip_addresses(v=4).filter(lambda a: a.is_global).map(lambda a: Indicator(IndicatorType.IPV4, str(a))),
    st.builds(lambda d, p: Indicator(IndicatorType.URL, f"https://{d}/{p}"), _DOMAIN, _LABEL),
    st.builds(lambda local, d: Indicator(IndicatorType.EMAIL, f"{local}@{d}"), _LABEL, _DOMAIN),
)


@FAST
@given(indicator=_INDICATORS, before=st.sampled_from(["", "C2: ", "voir "]), after=st.sampled_from(["", " ", ". "]))
def test_a_defanged_indicator_is_refanged_back_to_itself(indicator: Indicator, before: str, after: str) -> None:
    defanged = defang_indicator(indicator)
    assert refang(defanged) == indicator.value
    assert indicator in extract_indicators(before + defanged + after)
