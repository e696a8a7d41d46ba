"""FIRST's daily EPSS scores (format ``epss-csv``): one observation per CVE, the probability of its exploitation.

FIRST publishes ``epss_scores-current.csv.gz``, about 300,000 rows of gzip-compressed CSV::

    #model_version:v2025.03.14,score_date:2025-03-14T00:00:00+0000
    cve,epss,percentile
    CVE-1999-0001,0.01234,0.78901

A ``.csv.gz`` is served as a file, not with ``Content-Encoding``: a body starting with gzip's magic bytes is
decompressed here, at most :data:`MAX_UNPACKED` characters of it, and read one line at a time (no list of rows, no
mapping per row). Each observation carries the CVE as its indicator, no product, and the score and percentile
as written (``epss`` and ``epss_percentile`` facts); its date is the file's ``score_date``.

The format is knowledge only: the scores say how likely a CVE is to be exploited, not whom it concerns, so its
entries are kept with what the other sources say of each CVE and never matched on their own.
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from collections.abc import Iterator
from datetime import datetime
from types import MappingProxyType
from typing import TextIO

from alertd.domain.errors import ParseError
from alertd.domain.facts import Facts
from alertd.domain.feeds import FeedSpec
from alertd.domain.grammar import CVE_ID
from alertd.domain.knowledge import EPSS, EPSS_PERCENTILE
from alertd.domain.values import Indicator, IndicatorType, Observation
from alertd.intake.formats.jsondoc import utc_timestamp

MAX_UNPACKED = 256 * 1024 * 1024  # characters of decompressed CSV; the real file is about 10 million
MAX_LINE = 200  # characters of a row; a real one is about 35
MAX_NUMBER = 20  # characters of a score as written
COLUMNS = ("cve", "epss", "percentile")
_GZIP_MAGIC = b"\x1f\x8b"


def parse(feed: FeedSpec, body: bytes) -> list[Observation]:
    """The scores of one EPSS CSV (gzip-compressed or not), one observation per CVE; malformed rows are skipped.

    Raises :class:`ParseError` when the body is not UTF-8, is a broken gzip stream, decompresses past
    :data:`MAX_UNPACKED`, has no ``cve,epss,percentile`` header, or holds rows none of which is a score.
    """
    observations: list[Observation] = []
    seen: set[str] = set()
    shared: dict[str, str] = {}
    published: datetime | None = None
    positions: tuple[int, int, int] | None = None
    width = 0
    rows = 0
    for line in _lines(feed, body):
        if positions is None:
            if line.startswith("#"):
                published = published or _score_date(line)
                continue
            positions, width = _header(feed, line)
            continue
        if not line or line.startswith("#"):
            continue
        rows += 1
        cells = line.split(",")
        if len(cells) != width:
            continue
        cve, epss, percentile = cells[positions[0]].strip().upper(), cells[positions[1]], cells[positions[2]]
        if cve in seen or not CVE_ID.match(cve) or not _probability(epss) or not _probability(percentile):
            continue
        seen.add(cve)
        # Scores repeat across rows (five decimals): one string per value rather than one per row.
        epss, percentile = shared.setdefault(epss, epss), shared.setdefault(percentile, percentile)
        observations.append(
            Observation(
                feed=feed.id,
                entry=cve,
                kind=feed.kind,
                title=cve,
                indicators=(Indicator(IndicatorType.CVE, cve),),
                published=published,
                # Built directly: Facts.of's ordering costs more than the rest of the row, for the same facts.
                facts=Facts(extra=MappingProxyType({EPSS: epss, EPSS_PERCENTILE: percentile})),
            )
        )
    if positions is None:
        raise ParseError(
            f"feed {feed.id!r}: no 'cve,epss,percentile' header line; this is not FIRST's EPSS CSV "
            "(format 'epss-csv' reads epss_scores-current.csv.gz)"
        )
    if rows and not observations:
        raise ParseError(
            f"feed {feed.id!r}: none of the {rows} rows is a CVE with an EPSS score and percentile between 0 and 1; "
            "check that the url serves FIRST's EPSS CSV"
        )
    return observations


def _lines(feed: FeedSpec, body: bytes) -> Iterator[str]:
    """The body's lines without their line ends, decompressed if it is gzip, decoded as UTF-8 (a BOM allowed)."""
    source = io.BytesIO(body)
    raw = gzip.GzipFile(fileobj=source) if body.startswith(_GZIP_MAGIC) else source
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline=None)
    read = 0
    try:
        while line := text.readline(MAX_LINE):
            read += len(line)
            if read > MAX_UNPACKED:
                raise ParseError(
                    f"feed {feed.id!r}: the EPSS CSV decompresses to more than {MAX_UNPACKED} characters; "
                    "this is not FIRST's file"
                )
            if not line.endswith("\n") and len(line) == MAX_LINE:
                _skip_rest(text)  # an over-long line is no row: its remainder is dropped, not read as one
                continue
            yield line.rstrip("\n")
    except UnicodeDecodeError as exc:
        raise ParseError(f"feed {feed.id!r}: the EPSS CSV is not UTF-8 ({exc})") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ParseError(
            f"feed {feed.id!r}: the EPSS CSV is a broken gzip stream ({exc}); a truncated download gives this"
        ) from None


def _skip_rest(text: TextIO) -> None:
    while (part := text.readline(MAX_LINE)) and not part.endswith("\n"):
        pass


def _header(feed: FeedSpec, line: str) -> tuple[tuple[int, int, int], int]:
    """Where the header line puts the CVE, the score and the percentile, and how many columns it has."""
    names = [name.strip().lower() for name in line.split(",")]
    if not all(column in names for column in COLUMNS):
        raise ParseError(  # the line itself is the server's text: not repeated (contract §2, "Reach")
            f"feed {feed.id!r}: the first line that is not a comment is not the header "
            "'cve,epss,percentile'; this is not FIRST's EPSS CSV (format 'epss-csv')"
        )
    cve, epss, percentile = (names.index(column) for column in COLUMNS)
    return (cve, epss, percentile), len(names)


def _score_date(line: str) -> datetime | None:
    """The ``score_date`` of the comment line ``#model_version:…,score_date:…``."""
    for part in line.lstrip("#").split(","):
        key, _, value = part.partition(":")
        if key.strip() == "score_date":
            return utc_timestamp(value.strip())
    return None


def _probability(text: str) -> bool:
    """Whether ``text`` is a number between 0 and 1, as EPSS writes scores and percentiles."""
    text = text.strip()
    if not text or len(text) > MAX_NUMBER:
        return False
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and 0.0 <= value <= 1.0
