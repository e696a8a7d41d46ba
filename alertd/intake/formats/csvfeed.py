"""Delimited blocklists (format ``csv``): the feed's ``columns`` say which column holds what.

``columns`` maps a role (:class:`~alertd.domain.feeds.ColumnRole`) to a column name, or to a position (``"0"``,
``"1"``) for lists without a header. Indicator roles are ``ip`` (``ip:port`` allowed), ``cidr``, ``domain``,
``host``, ``url``, ``email``, ``asn`` and ``hash``; ``first_seen`` gives the observation's date; ``prefix``
completes a ``cidr`` column that holds a bare network address (DShield); ``threat`` ends the title. ``threat``
and every other key (``port``, ``malware``, ``status``...) is kept in the observation's ``facts``, in a field of
its own when alertd reads it (``port``, ``malware``), in ``extra`` otherwise.

The layouts handled are those abuse.ch and others publish: ``#`` banners and footers, a header row that is
either the first non-comment row (quoted or not) or the last ``#`` comment line before the data, CRLF or LF,
no trailing newline, ragged rows; and, for position-mapped lists, ``;`` comment lines (Spamhaus DROP) and
tab, ``;`` or ``|`` separators.
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import INDICATOR_ROLES, ColumnRole, FactColumn, FeedSpec
from alertd.domain.values import Indicator, IndicatorType, Observation
from alertd.intake.extract import indicator_for
from alertd.intake.formats.entries import Entries
from alertd.intake.formats.jsondoc import source_time

MAX_LINE = 64 * 1024  # longer lines (or longer than the feed's max_entry_bytes) are no rows: skipped, not parsed
DELIMITERS = (",", "\t", ";", "|")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_POSITION = re.compile(r"^\s*\d{1,3}\s*$")
_NOT_FACTS = frozenset({*INDICATOR_ROLES, ColumnRole.FIRST_SEEN, ColumnRole.PREFIX})


@dataclass(frozen=True, slots=True)
class CsvResult:
    """What one body held: the observations, and how many data rows were read, skipped and repeated."""

    observations: list[Observation]
    rows: int
    skipped: int  # rows lacking a mapped column or any valid indicator, over-long or unreadable lines
    duplicates: int  # rows whose indicators an earlier row already reported
    cut: bool = False  # the feed's max_entries reached with rows left: those were not read


def parse(feed: FeedSpec, body: bytes) -> Entries:
    """One observation per data row, up to the feed's ``max_entries`` (``cut`` then); rows lacking a mapped column
    or a valid indicator are skipped."""
    result = read(feed, body)
    return Entries(result.observations, cut=result.cut)


def read(feed: FeedSpec, body: bytes) -> CsvResult:
    """Like :func:`parse`, with the counts of rows read, skipped and repeated (for the fetcher's logs).

    Raises :class:`ParseError` for an empty body, a missing header, or data lines none of which could be read
    (a file whose every line is damaged is no empty list).
    """
    text = _decode(body)
    if not text.strip():
        raise ParseError(f"feed {feed.id!r}: the body is empty; expected CSV rows")
    roles = {role: column.strip() for role, column in feed.columns.items()}
    if not any(role in INDICATOR_ROLES for role in roles):
        raise ParseError(
            f"feed {feed.id!r}: 'columns' names no indicator column; map at least one of: " + ", ".join(INDICATOR_ROLES)
        )
    positions = {role: int(column) for role, column in roles.items() if _POSITION.match(column)}
    names = {role: _name(column) for role, column in roles.items() if role not in positions}

    comments: list[str] = []  # the comment lines before the first data row, where a header may hide
    data: list[str] = []
    skipped = 0
    for line in _LINE_BREAK.split(text):
        stripped = line.strip()
        if not stripped:
            continue
        if len(line) > _max_line(feed):
            skipped += 1
        elif stripped.startswith("#") or (not names and stripped.startswith(";")):
            if not data:
                comments.append(stripped)
        else:
            data.append(line)
    if not data:
        if skipped:
            raise _unreadable(feed, skipped)
        return CsvResult([], 0, 0, 0)

    if names:
        delimiter, header, has_header_row = _find_header(feed, names, data[0], comments)
        index = dict(positions)
        for role, name in names.items():
            index[role] = header.index(name)
        if has_header_row:
            data = data[1:]
    else:
        index = positions
        delimiter = next((d for d in DELIMITERS if d in data[0]), ",")

    observations: list[Observation] = []
    seen: set[str] = set()
    duplicates = 0
    width = max(index.values()) + 1
    cut = False
    for line in data:
        row = _fields(line, delimiter)
        if row is None or len(row) < width:
            skipped += 1
            continue
        observation = _observation(feed, {role: row[i] for role, i in index.items()})
        if observation is None:
            skipped += 1
        elif observation.entry in seen:
            duplicates += 1
        elif len(observations) >= feed.max_entries:
            cut = True  # the rows after are not read: the poll stores these and delists nothing
            break
        else:
            seen.add(observation.entry)
            observations.append(observation)
    if data and not observations and not duplicates:
        raise ParseError(
            f"feed {feed.id!r}: none of the {len(data)} rows holds a valid value in the mapped indicator "
            f"columns ({', '.join(f'{r}: {c}' for r, c in roles.items() if r in INDICATOR_ROLES)}); "
            "check 'columns' against the file"
        )
    if skipped and not observations and not duplicates:
        raise _unreadable(feed, skipped)
    return CsvResult(observations, len(data), skipped, duplicates, cut)


def _unreadable(feed: FeedSpec, skipped: int) -> ParseError:
    # Read as "0 entries", a broken file would delist every entry and resolve every finding of the feed.
    return ParseError(
        f"feed {feed.id!r}: none of the {skipped} data lines could be read (each over {_max_line(feed)} characters or "
        "unreadable); a damaged file is a failure, not an empty list"
    )


_COLUMN_NAME = re.compile(r"[A-Za-z0-9 _().#/-]{1,32}")


def _max_line(feed: FeedSpec) -> int:
    """Characters of one line read as a row: a row is one entry."""
    return min(MAX_LINE, feed.max_entry_bytes)


def _decode(body: bytes) -> str:
    body = body.removeprefix(b"\xef\xbb\xbf")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _name(column: str) -> str:
    """A column name as compared: without surrounding whitespace, quotes or BOM, case-folded."""
    return column.strip().strip("\ufeff").strip().strip("\"'").strip().casefold()


def _fields(line: str, delimiter: str) -> list[str] | None:
    try:
        row = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True), [])
    except csv.Error:
        return None
    return [cell.strip() for cell in row]


def _find_header(
    feed: FeedSpec, names: dict[ColumnRole | FactColumn, str], first: str, comments: list[str]
) -> tuple[str, list[str], bool]:
    """The delimiter, the header's column names, and whether the header is the first data row."""
    wanted = set(names.values())
    for delimiter in DELIMITERS:
        fields = [_name(f) for f in _fields(first, delimiter) or []]
        if wanted <= set(fields):
            return delimiter, fields, True
        for comment in reversed(comments):
            fields = [_name(f) for f in _fields(comment.lstrip("#").strip(), delimiter) or []]
            if wanted <= set(fields):
                return delimiter, fields, False
    available = _shown_names(_fields(first, ",") or [])
    folded = {_name(f) for f in available}
    missing = [column for role, column in feed.columns.items() if role in names and _name(column) not in folded]
    message = (
        f"feed {feed.id!r}: no header row holds the mapped columns; missing: {', '.join(missing)}; "
        f"the first row has: {', '.join(available) or '(nothing)'}"
    )
    texts = [c.lstrip("#").strip() for c in comments]
    last = next((t for t in reversed(texts) if t), None)
    if last is not None:
        fields = _shown_names(_fields(last, ",") or [])
        message += f"; the last comment line before it has: {', '.join(fields)}"
    raise ParseError(message + '. Fix \'columns\' in feeds.yaml, or map positions ("0", "1") instead')


def _shown_names(cells: list[str]) -> list[str]:
    """Column names fit for an error message: the file's text, so only short name-like cells, at most 12 of them
    (contract §2, "Reach": a feed's text in an error is bounded and cleaned); others are shown as ``?``."""
    names = [c if _COLUMN_NAME.fullmatch(c) else "?" for c in cells if c]
    return names[:12] + (["…"] if len(names) > 12 else [])


def _observation(feed: FeedSpec, cells: dict[ColumnRole | FactColumn, str]) -> Observation | None:
    network, prefix = cells.get(ColumnRole.CIDR), cells.get(ColumnRole.PREFIX)
    if network is not None and prefix is not None and "/" not in network and prefix.isdigit():
        cells[ColumnRole.CIDR] = f"{network}/{prefix}"
    indicators: list[Indicator] = []
    for role in INDICATOR_ROLES:
        if role in cells:
            indicator = indicator_for(cells[role], role, feed.max_field_bytes)
            if indicator is not None and indicator not in indicators:
                indicators.append(indicator)
    if not indicators:
        return None
    # The other keys are the operator's names for the columns: the facts alertd knows are found by them.
    given: dict[Fact | str, str] = {
        role: value[: feed.max_field_bytes] for role, value in cells.items() if role not in _NOT_FACTS and value
    }
    first_seen = cells.get(ColumnRole.FIRST_SEEN, "")
    published = _timestamp(first_seen) if first_seen else None
    if first_seen and published is None:
        given[Fact.FIRST_SEEN] = first_seen
    facts = Facts.of(given)
    port = facts.port or ""
    key = "\x1f".join([feed.id, *(str(i) for i in indicators), port])
    label = " ".join(v for v in (facts.malware, cells.get(ColumnRole.THREAT)) if v) or feed.id
    return Observation(
        feed=feed.id,
        entry=hashlib.sha256(key.encode()).hexdigest()[:32],
        kind=feed.kind,
        title=f"{label} {_shown(indicators[0], port)}"[: feed.max_field_bytes],
        indicators=tuple(indicators),
        published=published,
        facts=facts,
    )


def _shown(indicator: Indicator, port: str) -> str:
    if not port.isdigit():
        return indicator.value
    if indicator.type is IndicatorType.IPV4:
        return f"{indicator.value}:{port}"
    if indicator.type is IndicatorType.IPV6:
        return f"[{indicator.value}]:{port}"
    return indicator.value


def _timestamp(text: str) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (abuse.ch, UTC implied, `` UTC`` suffix allowed), ISO 8601, or a date."""
    return source_time(text)
