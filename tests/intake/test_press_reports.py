"""Press-reported cyberattacks (format ``press-reports``): ransomware.live's allcyberattacks, and the leak-victims
format refusing shapes it does not read instead of reading them as "no victims"."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import pytest
from builders import make_feed_spec
from paths import DATA

from alertd.domain.codes import MatchReason
from alertd.domain.errors import ParseError
from alertd.domain.establishments import Establishment, Registry
from alertd.domain.feeds import FeedFormat
from alertd.domain.values import FeedKind, Indicator, IndicatorType
from alertd.intake.formats import FORMATS, leaks, parse_feed, press
from alertd.match.index import MatchIndex

SAMPLE = DATA / "press" / "ransomware-live_allcyberattacks_2024-06.json"
LEAKS = DATA / "leaks" / "ransomware-live_recentvictims_2024-06-16.json"
FEED = make_feed_spec("press", FeedFormat.PRESS_REPORTS)
# Independent of the parser: a plain host name as the tracker writes domains ("n/a" and "" are none).
_HOST = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")


def _records() -> list[dict[str, Any]]:
    with SAMPLE.open(encoding="utf-8") as f:
        records: list[dict[str, Any]] = json.load(f)
    return records


def test_one_observation_per_reported_attack_counted_independently() -> None:
    records = _records()
    assert len(records) == 1215 and SAMPLE.read_bytes().count(b"\r\n") > 1000  # as SOURCES.md says, CRLF
    # The same attack told by several articles (same victim, date and domain) is one entry.
    attacks = {(r["victim"].strip().casefold(), r["date"], r["domain"].lower()) for r in records}
    with_domain = {a for a in attacks if _HOST.fullmatch(a[2])}
    observations = press.parse(FEED, SAMPLE.read_bytes())
    assert len(observations) == len(attacks) == 1211
    assert sum(bool(o.indicators) for o in observations) == len(with_domain) == 1202
    assert {o.indicators[0].value for o in observations if o.indicators} == {a[2] for a in with_domain}
    assert all(o.kind is FeedKind.ADVISORY and o.text == o.title for o in observations)
    assert {o.link for o in observations} <= {r["url"] for r in records}
    assert len({o.entry for o in observations}) == len(observations)


def test_a_french_hospital_as_the_press_named_it() -> None:
    (record,) = [r for r in _records() if r["domain"] == "ch-armentieres.fr"]
    (armentieres,) = [o for o in press.parse(FEED, SAMPLE.read_bytes()) if o.title == record["victim"]]
    assert armentieres.title == "Centre hospitalier d\u2019Armenti\u00e8res"
    assert armentieres.indicators == (Indicator(IndicatorType.DOMAIN, "ch-armentieres.fr"),)
    assert armentieres.link == record["url"]
    assert armentieres.published == datetime(2024, 2, 11, tzinfo=UTC)
    summary = armentieres.facts.summary or ""
    assert summary.startswith(record["title"] + " \u2014 The Armenti\u00e8res hospital")
    assert armentieres.facts.extra["country"] == "FRA"
    assert armentieres.facts.country_code == "FR"  # ISO alpha-2, as the registry writes countries
    assert armentieres.facts.extra["added"] == record["added"]


def test_the_victim_name_is_matched_like_a_leak_post() -> None:
    est = Establishment(id="590781803", name="Centre hospitalier d'Armenti\u00e8res")
    index = MatchIndex(Registry(MappingProxyType({est.id: est}), ()), benign=None)
    findings = index.match(press.parse(FEED, SAMPLE.read_bytes())).findings
    assert {(f.establishment, f.reason, f.kind) for f in findings} == {
        ("590781803", MatchReason.NAME_MENTION, FeedKind.ADVISORY)
    }


def test_registered_format_and_kind() -> None:
    assert FORMATS[FeedFormat.PRESS_REPORTS].kind is FeedKind.ADVISORY
    assert FeedFormat("press-reports") is FeedFormat.PRESS_REPORTS
    assert len(parse_feed(FEED, b"\xef\xbb\xbf" + SAMPLE.read_bytes())) == 1211


def test_hostile_and_odd_reports() -> None:
    reports = [
        {"victim": "  H\u00f4pital\u200b  du\tNord &amp; Co  ", "domain": "https://www.nord.example/", "date": "x"},
        {"victim": "", "domain": "empty.example"},
        {"victim": 42},
        {"victim": "Clinique", "url": "javascript:alert(1)", "summary": "a " * 10_000, "added": "2024-06-01"},
        "not a report",
    ]
    nord, clinic = press.parse(FEED, json.dumps(reports).encode())
    assert nord.title == "H\u00f4pital du Nord & Co"
    assert nord.indicators == (Indicator(IndicatorType.DOMAIN, "www.nord.example"),)
    assert nord.published is None
    assert clinic.link is None and clinic.indicators == ()
    assert clinic.published == datetime(2024, 6, 1, tzinfo=UTC)
    assert len(clinic.facts.summary or "") <= 800


def test_empty_list_is_no_attacks() -> None:
    assert press.parse(FEED, b"[]") == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"victims": []}', "not a JSON list of press reports"),
        (b"[1, 2]", "no item of the list is a press report"),
        (b'[{"name": "x"}]', "no item of the list is a press report"),
        (LEAKS.read_bytes(), "use format 'leak-victims'"),
        (SAMPLE.read_bytes()[:3000], "not valid JSON"),
    ],
    ids=["object", "numbers", "unknown-shape", "leak-posts", "truncated"],
)
def test_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=re.escape(message)):
        press.parse(FEED, body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (SAMPLE.read_bytes(), "use format 'press-reports'"),
        (b'[{"name": "x"}, {"other": 1}]', "no item of the list is a leak-site post"),
        (b'["a", "b"]', "no item of the list is a leak-site post"),
    ],
    ids=["press-reports", "unknown-shape", "strings"],
)
def test_leak_victims_refuses_a_shape_it_does_not_read(body: bytes, message: str) -> None:
    """Before: a press-report list parsed under leak-victims as "0 entries, ok"."""
    with pytest.raises(ParseError, match=re.escape(message)):
        leaks.parse(make_feed_spec("leaks", FeedFormat.LEAK_VICTIMS), body)


@pytest.mark.parametrize("fmt", [FeedFormat.PRESS_REPORTS, FeedFormat.LEAK_VICTIMS])
def test_an_overlong_utf8_sequence_is_a_parse_error(fmt: FeedFormat) -> None:
    # Found by fuzz/run.py: yajl lets "\xc0\xa1" (an overlong "!") through, and Python's decoder refuses it later.
    body = b'[{"victim": "Commune de Benalm\xc0\xa1dena", "domain": "benalmadena.example", "post_title": "x"}]'
    with pytest.raises(ParseError, match="not UTF-8"):
        FORMATS[fmt].parse(make_feed_spec("fuzzed", fmt), body)
