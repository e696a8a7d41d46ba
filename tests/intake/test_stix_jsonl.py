"""STIX 2.1 objects served as JSON Lines (one object per line, no bundle): SEKOIA's APT31 IOCs, broken lines."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import IndicatorType
from alertd.intake.formats import parse_feed, stix

SEKOIA = DATA / "stix" / "sekoia_stix21_2021-11-10_apt31.jsonl"
FEED = make_feed_spec("sekoia-apt31", FeedFormat.STIX)
_HEX_VALUE = re.compile(r"'([0-9a-fA-F]+)'")


def _lines() -> list[dict[str, Any]]:
    """The sample's objects, read here line by line without the parser."""
    return [json.loads(line) for line in SEKOIA.read_text(encoding="utf-8").splitlines() if line.strip()]


def _indicator(number: int, pattern: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
        "created": "2024-01-02T03:04:05Z",
        "modified": "2024-01-02T03:04:05Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2024-01-02T03:04:05Z",
    }


def _jsonl(*objects: Any) -> bytes:
    return b"\n".join(json.dumps(obj).encode() for obj in objects) + b"\n"


def test_the_sekoia_sample_counted_independently() -> None:
    objects = _lines()
    indicators = [o for o in objects if o["type"] == "indicator"]
    stix_ones = [o for o in indicators if o["pattern_type"] == "stix"]
    first_type = Counter(o["pattern"].lstrip("[").split(":")[0] for o in stix_ones)
    # Hashes alertd keeps (MD5, SHA-1, SHA-256: 32, 40, 64 hex digits), SHA-512 being none of them.
    hashes = [
        value
        for o in stix_ones
        if o["pattern"].startswith("[file:")
        for value in _HEX_VALUE.findall(o["pattern"])
        if len(value) in (32, 40, 64)
    ]
    assert (len(objects), len(indicators), len(stix_ones)) == (370, 104, 102)  # as SOURCES.md says
    assert first_type == {"ipv4-addr": 53, "domain-name": 43, "file": 6}

    result = stix.read(FEED, SEKOIA.read_bytes())
    assert result.indicators == len(indicators)
    assert result.other_languages == len(indicators) - len(stix_ones) == 2  # the YARA rules: not indicators
    assert result.rejected == 0 and result.broken_lines == 0
    assert len(result.observations) == result.mapped == len(stix_ones)
    found = Counter(i.type for o in result.observations for i in o.indicators)
    assert found == {
        IndicatorType.IPV4: first_type["ipv4-addr"],
        IndicatorType.DOMAIN: first_type["domain-name"],
        IndicatorType.HASH: len(hashes),
    }
    assert {o.entry for o in result.observations} == {o["id"] for o in stix_ones}


def test_json_lines_read_as_the_same_objects_in_a_bundle() -> None:
    bundle = json.dumps({"type": "bundle", "id": "bundle--1", "objects": _lines()}).encode()
    assert stix.parse(FEED, SEKOIA.read_bytes()) == stix.parse(FEED, bundle)
    # Relationships on other lines still name the malware an indicator indicates.
    by_title = {o.title: o for o in stix.parse(FEED, SEKOIA.read_bytes())}
    assert by_title["api.ontracting.com"].facts.malware == "Cobalt Strike"


def test_through_the_registered_format_with_crlf_and_bom() -> None:
    body = b"\xef\xbb\xbf" + SEKOIA.read_bytes().replace(b"\n", b"\r\n")
    assert len(parse_feed(FEED, body)) == 102


def test_a_broken_line_is_skipped_and_counted_never_the_feed() -> None:
    good = [_indicator(1, "[ipv4-addr:value = '198.51.100.7']"), _indicator(2, "[domain-name:value = 'evil.example']")]
    body = b"\n".join(
        [
            json.dumps(good[0]).encode(),
            b'{"type": "indicator", "pattern": "[ipv4-addr:value = ',  # cut short
            b"\xff\xfe not UTF-8",
            b"[1, 2, 3]",  # JSON, but no STIX object
            b'{"no": "type"}',
            b"{" + b" " * (stix.MAX_LINE + 1) + b"}",  # over the cap: skipped unread
            b"",
            b"   ",
            json.dumps(good[1]).encode(),
        ]
    )
    result = stix.read(FEED, body)
    assert result.broken_lines == 5  # the blank lines are no lines at all
    assert [str(i) for o in result.observations for i in o.indicators] == ["ipv4:198.51.100.7", "domain:evil.example"]


def test_a_line_holding_a_bundle_gives_its_objects() -> None:
    bundle = {"type": "bundle", "id": "bundle--2", "objects": [_indicator(2, "[domain-name:value = 'b.example']")]}
    body = _jsonl(_indicator(1, "[domain-name:value = 'a.example']"), bundle)
    assert [o.indicators[0].value for o in stix.parse(FEED, body)] == ["a.example", "b.example"]


def test_a_document_of_one_object_is_one_line() -> None:
    (observation,) = stix.parse(FEED, _jsonl(_indicator(1, "[url:value = 'http://evil.example/x']")))
    assert observation.indicators[0].type is IndicatorType.URL


def test_later_lines_revise_an_indicator_and_yara_is_counted() -> None:
    first = _indicator(1, "[domain-name:value = 'old.example']")
    later = {**first, "modified": "2024-02-01T00:00:00Z", "pattern": "[domain-name:value = 'new.example']"}
    yara = {**_indicator(2, "rule x { condition: true }"), "pattern_type": "yara"}
    result = stix.read(FEED, _jsonl(later, yara, first))
    assert [o.indicators[0].value for o in result.observations] == ["new.example"]
    assert (result.indicators, result.other_languages) == (2, 1)


@pytest.mark.parametrize(
    "body",
    [
        b"not json\nnor this\n",
        b"[1]\n[2]\n",
        b'{"no": "type"}\n{"neither": 1}\n',
        b"\n\n\n",
        b"\xff\xfe\n\xfe\n",
    ],
    ids=["text", "arrays", "untyped", "blank", "binary"],
)
def test_no_readable_line_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match=r"neither a STIX bundle .* nor JSON Lines of STIX objects"):
        stix.parse(FEED, body)
