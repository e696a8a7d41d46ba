"""FIRST's daily EPSS CSV (format ``epss-csv``): scores as knowledge about CVEs, never matched."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from builders import make_feed_spec
from paths import DATA

from alertd.domain.errors import ParseError
from alertd.domain.feeds import FeedFormat
from alertd.domain.knowledge import EPSS, EPSS_PERCENTILE, Statement
from alertd.domain.values import FeedKind, Indicator, IndicatorType
from alertd.intake.formats import FORMATS, epss, parse_feed

SAMPLE = DATA / "epss" / "epss_scores_excerpt.csv"  # the real file's layout; 20 rows
FEED = make_feed_spec("epss", FeedFormat.EPSS_CSV)
HEADER = b"#model_version:v2025.03.14,score_date:2025-03-14T00:00:00+0000\ncve,epss,percentile\n"


def test_format_is_knowledge_only() -> None:
    assert str(FeedFormat.EPSS_CSV) == "epss-csv"
    assert FORMATS[FeedFormat.EPSS_CSV].knowledge_only
    assert FORMATS[FeedFormat.EPSS_CSV].kind is FeedKind.VULNERABILITY
    assert not any(f.knowledge_only for fmt, f in FORMATS.items() if fmt is not FeedFormat.EPSS_CSV)


def test_sample_one_observation_per_row() -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    rows = [line.split(",") for line in lines[2:]]
    assert lines[1] == "cve,epss,percentile" and len(rows) == 20

    observations = parse_feed(FEED, SAMPLE.read_bytes())
    assert [o.entry for o in observations] == [r[0] for r in rows]
    assert [(o.facts.extra[EPSS], o.facts.extra[EPSS_PERCENTILE]) for o in observations] == [(r[1], r[2]) for r in rows]
    first = observations[0]
    assert first.indicators == (Indicator(IndicatorType.CVE, "CVE-1999-0001"),)
    assert first.products == () and first.kind is FeedKind.VULNERABILITY and not first.exploited
    assert first.published == datetime(2025, 1, 1, tzinfo=UTC)  # the file's score_date
    assert first.facts.to_json() == {"epss": "0.00383", "epss_percentile": "0.72779"}
    statement = Statement.of(first)
    assert statement.epss == "0.00383" and statement.says_something and not statement.products


def test_gzip_body_as_served_reads_the_same() -> None:
    body = SAMPLE.read_bytes()
    assert epss.parse(FEED, gzip.compress(body)) == epss.parse(FEED, body)
    assert epss.parse(FEED, body.replace(b"\n", b"\r\n")) == epss.parse(FEED, body)


def test_many_rows_streamed() -> None:
    rows = b"".join(b"CVE-2024-%05d,0.00042,0.05000\n" % n for n in range(1, 50_001))
    observations = epss.parse(FEED, gzip.compress(HEADER + rows))
    assert len(observations) == 50_000
    assert observations[-1].entry == "CVE-2024-50000"


def test_malformed_rows_are_skipped() -> None:
    body = (
        HEADER
        + (
            b"CVE-2024-00001,0.5,0.9\n"
            b"not-a-cve,0.1,0.2\n"
            b"CVE-2024-00002,1.5,0.9\n"  # not a probability
            b"CVE-2024-00003,nan,0.9\n"
            b"CVE-2024-00004,0.1\n"  # a field short
            b"CVE-2024-00005,0.1,0.2,extra\n"
            b"cve-2024-00006,0.2,0.3\n"  # lower case: read
            b"CVE-2024-00001,0.6,0.95\n"  # twice: the first kept
            b"\n"
            b"CVE-2024-00007," + b"9" * 500 + b",0.1\n"  # an over-long line is dropped whole
            b"CVE-2024-00008,0.3,0.4"  # no final newline
        )
    )
    observations = epss.parse(FEED, body)
    assert [(o.entry, o.facts.extra[EPSS]) for o in observations] == [
        ("CVE-2024-00001", "0.5"),
        ("CVE-2024-00006", "0.2"),
        ("CVE-2024-00008", "0.3"),
    ]


def test_columns_are_read_by_the_header() -> None:
    body = b"percentile,cve,epss\n0.9,CVE-2024-00001,0.5\n"
    (observation,) = epss.parse(FEED, body)
    assert observation.entry == "CVE-2024-00001" and observation.facts.extra[EPSS_PERCENTILE] == "0.9"
    assert observation.published is None


def test_header_only_is_an_empty_day() -> None:
    assert epss.parse(FEED, HEADER) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no 'cve,epss,percentile' header"),
        (b"<html><body>Not found</body></html>\n", "not the header"),
        (b"#model_version:v1\n#only comments\n", "no 'cve,epss,percentile' header"),
        (HEADER + b"x,y,z\n1,2,3\n", "none of the 2 rows"),
        (HEADER + b"CVE-2024-00001,0.5,\xff\n", "not UTF-8"),
        (gzip.compress(HEADER + b"CVE-2024-00001,0.5,0.9\n")[:-12], "broken gzip stream"),
        (b"\x1f\x8bnot really gzip", "broken gzip stream"),
    ],
)
def test_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as caught:
        epss.parse(FEED, body)
    assert "'epss'" in str(caught.value)


def test_decompressed_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(epss, "MAX_UNPACKED", 1000)
    rows = b"".join(b"CVE-2024-%05d,0.00042,0.05000\n" % n for n in range(1, 200))
    with pytest.raises(ParseError, match="decompresses to more than 1000"):
        epss.parse(FEED, gzip.compress(HEADER + rows))
