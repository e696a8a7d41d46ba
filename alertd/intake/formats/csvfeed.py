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
import itertools
import json
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from socket import AF_INET, inet_pton
from typing import TYPE_CHECKING, Any, TypeAlias, overload

from alertd.domain.errors import ParseError
from alertd.domain.facts import Fact, Facts
from alertd.domain.feeds import INDICATOR_ROLES, ColumnRole, FactColumn, FeedFormat, FeedSpec
from alertd.domain.values import FeedKind, Indicator, IndicatorType, Observation
from alertd.intake.extract import indicator_for
from alertd.intake.formats import csvbulk
from alertd.intake.formats.entries import Entries, bounded
from alertd.intake.formats.jsondoc import source_time

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

BULK_BYTES = 1 << 20  # a body this long has its rows read as arrays (numpy's import, 0.1 s, then pays for itself)
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
    layout = _layout(feed, body)
    if isinstance(layout, CsvResult):
        return layout
    observations: list[Observation] = []
    seen: set[str] = set()
    duplicates = 0
    skipped = layout.skipped
    cut = False
    for line in layout.data:
        row = _fields(line, layout.delimiter)
        if row is None or len(row) < layout.width:
            skipped += 1
            continue
        observation = _observation(feed, {role: row[i] for role, i in layout.index.items()})
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
    _check_read(feed, layout, len(observations), skipped, duplicates)
    return CsvResult(observations, len(layout.data), skipped, duplicates, cut)


@dataclass(frozen=True, slots=True)
class Sifted:
    """What :func:`read_sifted` gave: the observations built (those the sieve kept, and the rows it could not
    judge), with the counts :func:`read` would give for the whole body."""

    observations: list[Observation]
    entries: int  # the distinct entries the body lists, built or not
    rows: int
    skipped: int
    duplicates: int


#: Given the IPv4 addresses of a body's plain rows (as integers, in the body's order), the positions of those
#: worth an observation: those that hit, and those a list sets aside (the matcher's batch lookup,
#: :func:`alertd.match.batch.v4_sifted`, wired by the poll). The others give no finding and no suppression.
Sieve = Callable[["Addresses"], tuple[Iterable[int], Iterable[int]]]
Addresses: TypeAlias = "Sequence[int] | NDArray[np.uint32]"  # as integers; an array when read in bulk (:func:`_bulk`)


def read_sifted(
    feed: FeedSpec, body: bytes, sieve: Sieve, *, counted: bool = False, bulk_from: int = BULK_BYTES
) -> Sifted | None:
    """The body's rows judged in bulk: observations only for the rows ``sieve`` keeps (and for the rows whose
    indicator is not a plain IPv4 address, built as :func:`read` builds them), with :func:`read`'s errors and,
    when ``counted``, its counts (else ``entries`` and ``duplicates`` are 0: telling repeated rows apart costs a
    key per row). None when the bulk path does not apply (an indicator column other than ``ip``; more rows
    than ``max_entries``; a line ending inside quotes): read the body with :func:`read` then.

    For a dry run, which stores nothing: an observation no lookup yields anything for gives no finding and no
    suppression. A plain row costs one pass of ``csv``'s reader and an address conversion, in C loops
    (``map``), and no Python object beyond its cells. A plain row a list sets aside is built as what a set-aside
    indicator is told by: its feed, entry, kind and indicator (no title, no facts); its only indicator being
    set aside, it can give nothing else (``counted`` then still counts it as the row path does).

    A body of ``bulk_from`` bytes or more has its rows found and its plain addresses read as arrays
    (:func:`_bulk`), the rows that are not plain being read as above.
    """
    indicator_roles = [role for role in feed.columns if role in INDICATOR_ROLES or role is ColumnRole.PREFIX]
    if indicator_roles != [ColumnRole.IP]:
        return None
    # What tells entries apart, of every row giving one: "address\x1fport" for a plain row (as
    # :func:`_plain_key`), :func:`_entry_key` for the others (which starts with a letter: never the same).
    keys: set[str] = set()
    try:
        bulk = None if counted or len(body) < bulk_from else _bulk(feed, body)
    except csvbulk.TooManyRows:
        return None  # more rows than max_entries: the row path decides which rows are read
    if bulk is not None:
        layout, plain = bulk
    else:
        found = _layout(feed, body)
        if isinstance(found, CsvResult):
            return Sifted([], 0, 0, 0, 0)
        layout = found
        port = _port_column(layout)
        # A cell is never longer than its line: the port is cut to max_field_bytes only if a line may be longer.
        cut = feed.max_field_bytes if feed.max_field_bytes < _max_line(feed) else None
        try:
            read = None if counted else _plain_rows(layout.data, layout)
            if read is None:
                read = _rows(layout.data, layout, keys.add if counted else None, port, cut)
        except csv.Error:
            return None  # a line the reader refuses: the row path skips that line alone
        if read is None:
            return None  # a quoted cell ran over a line break: the row path reads those lines one by one
        plain = read
    data, width, ip = layout.data, layout.width, layout.index[ColumnRole.IP]
    port = _port_column(layout)
    addresses, rows_of, irregular = plain
    odd = set(irregular)
    if len(addresses) + len(odd) > feed.max_entries:
        return None  # perhaps cut: the row path decides which rows are read
    # A plain row's lookups depend on its address alone: the rows the sieve keeps hold every first row of
    # their entries, so the first of each entry among the rows built is the row path's.
    hits, held = sieve(addresses)
    if rows_of is not None:
        hits, held = (int(rows_of[i]) for i in hits), [int(rows_of[i]) for i in held]
    aside = set(held)
    built = sorted(odd.union(hits, aside))
    skipped, valid = layout.skipped, len(addresses)
    observations: list[Observation] = []
    taken: set[str] = set()
    lines = data.take(built) if isinstance(data, _Lines) else [data[n] for n in built]
    for row_number, line in zip(built, lines, strict=True):
        if bulk is not None and row_number in aside:
            # A row the bulk path found plain (quotes around whole cells, no delimiter in one) set aside: its two
            # cells taken as they are (tens of thousands of such rows in a big list).
            raw = line.split(layout.delimiter)
            address = _bare(raw[ip])
            key = f"{address}\x1f{'' if port is None else _bare(raw[port])[: feed.max_field_bytes]}"
            if key not in taken:
                taken.add(key)
                observations.append(_set_aside(feed, address, key))
            continue
        # A row the bulk path found plain is cut as it is.
        cells = _fields(line, layout.delimiter) if bulk is None or row_number in odd else _cut(line, layout.delimiter)
        if cells is None or len(cells) < width:
            observation = None
        elif row_number in aside:
            key = f"{cells[ip]}\x1f{_port(cells, port, feed.max_field_bytes)}"  # as :func:`_plain_key`
            if key not in taken:
                taken.add(key)
                observations.append(_set_aside(feed, cells[ip], key))
            continue
        else:
            # A plain row's cell is its indicator's value already (no spaces, no leading zeros, no port).
            known = None if row_number in odd else Indicator(IndicatorType.IPV4, cells[ip])
            observation = _observation(feed, {role: cells[i] for role, i in layout.index.items()}, known)
        if observation is None:
            skipped += 1
            continue
        key = _plain_key(observation)
        if row_number in odd:
            valid += 1
            keys.add(key)
        if key not in taken:  # (an odd row repeating a plain row not built: the same lookups, nothing found)
            taken.add(key)
            observations.append(observation)
    entries = len(keys) if counted else valid
    duplicates = valid - entries
    _check_read(feed, layout, entries, skipped, duplicates)
    if not counted:
        entries = 0
    return Sifted(observations, entries, len(data), skipped, duplicates)


def _port_column(layout: _Layout) -> int | None:
    """The column of the port, if the feed maps one."""
    return next((i for role, i in layout.index.items() if role == Fact.PORT.value), None)


def _bulk(feed: FeedSpec, body: bytes) -> tuple[_Layout, _Plain] | None:
    """The body's data rows and the address of each plain one, read as arrays
    (:func:`alertd.intake.formats.csvbulk.plain_rows`), its head (banner, header) read by :func:`_layout`; None
    when that module does not read this body, or its head is not one line of data or header after comments."""
    if not body.isascii():
        return None
    head = _head(body)
    if head is None:
        return None
    line_start, after = head
    try:
        found = _layout(feed, body[:after])
    except ParseError:
        return None  # the row path says what is wrong, as it reads the whole body
    if isinstance(found, CsvResult) or found.skipped or len(found.data) > 1:
        return None
    if found.data and found.data[0] != body[line_start:after].decode().rstrip("\r\n"):
        return None
    names = any(not _POSITION.match(column.strip()) for column in feed.columns.values())
    rows = csvbulk.plain_rows(
        body,
        line_start if found.data else after,
        delimiter=found.delimiter,
        column=found.index[ColumnRole.IP],
        width=found.width,
        marks=b"#" if names else b"#;",
        limit=_max_line(feed),
        cap=feed.max_entries,
    )
    if rows is None:
        return None
    layout = _Layout(_Lines(body, rows.starts, rows.ends), found.index, found.delimiter, 0)
    return layout, (rows.addresses, rows.rows_of, rows.irregular)


def _head(body: bytes, most: int = 10_000) -> tuple[int, int] | None:
    """Where the body's first line that is neither blank nor a comment starts, and where the line after it does
    (None when the first ``most`` lines are all blank or comments)."""
    start = 0
    for _ in range(most):
        if start >= len(body):
            return None
        end = body.find(b"\n", start)
        end = len(body) if end < 0 else end + 1
        stripped = body[start:end].strip()
        if stripped and not stripped.startswith((b"#", b";")):
            return start, end
        start = end
    return None


class _Lines(Sequence[str]):
    """The data rows' lines of a body, each decoded when it is read (the bulk path reads few of them)."""

    def __init__(self, body: bytes, starts: NDArray[np.integer[Any]], ends: NDArray[np.integer[Any]]) -> None:
        self._body, self._starts, self._ends = body, starts, ends

    def __len__(self) -> int:
        return len(self._starts)

    def take(self, rows: list[int]) -> list[str]:
        """The lines of these rows (their places read in one numpy index, not one scalar at a time)."""
        starts, ends = self._starts[rows].tolist(), self._ends[rows].tolist()
        return [self._body[start:end].decode("ascii") for start, end in zip(starts, ends, strict=True)]

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> list[str]: ...
    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        return self._body[int(self._starts[i]) : int(self._ends[i])].decode("ascii")


def _port(cells: list[str], port: int | None, limit: int) -> str:
    """The port a row's facts would hold (:func:`_observation`), "" for none."""
    return "" if port is None else cells[port][:limit]


def _set_aside(feed: FeedSpec, address: str, key: str) -> Observation:
    """A plain row the index sets aside, given its key (:func:`_plain_key`): its entry (as :func:`_observation`
    makes it) and its indicator."""
    return Observation(
        feed=feed.id,
        entry=_plain_entry(feed.id, key),
        kind=feed.kind,
        title="",
        indicators=(Indicator(IndicatorType.IPV4, address),),
    )


_IPV4_PREFIX = f"{IndicatorType.IPV4}:"  # an IPv4 indicator as :func:`_entry_key` writes it


def _plain_entry(feed: str, key: str) -> str:
    """The entry of a plain row, given its key (:func:`_plain_key`), as :func:`_observation` makes it."""
    return hashlib.sha256(f"{feed}\x1f{_IPV4_PREFIX}{key}".encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class StoredRows:
    """A bulk list's entries as the store keeps them (:func:`stored_rows`): each plain row (one IPv4 address) as its
    entry and its line, which :func:`row_observation` reads back with ``layout``; each other row as its observation.
    The first row of each entry, in the body's order."""

    layout: str  # JSON: how a line is read (the feed, its kind, the delimiter, each role's column, the field cap)
    entries: list[str]
    lines: list[str]
    observations: list[Observation]  # the entries whose first row is not plain, built as :func:`read` builds them

    def __len__(self) -> int:
        return len(self.entries) + len(self.observations)


def stored_rows(feed: FeedSpec, body: bytes) -> StoredRows | None:
    """Every entry of the body as the store keeps it, without an observation per plain row: its entry (the same
    hash :func:`_observation` makes) and its line. None where :func:`read_sifted` gives None (read the body with
    :func:`read` then). Call it once :func:`read_sifted` has accepted the body: its errors are not raised again.

    The daemon's poll stores every entry a list holds, a million for a big blocklist; built and encoded, each
    costs tens of microseconds, read this way a few (one pass of ``csv``'s reader and a hash)."""
    indicator_roles = [role for role in feed.columns if role in INDICATOR_ROLES or role is ColumnRole.PREFIX]
    if indicator_roles != [ColumnRole.IP]:
        return None
    layout = _layout(feed, body)
    if isinstance(layout, CsvResult):
        return StoredRows("{}", [], [], [])
    data, width, ip, delimiter = layout.data, layout.width, layout.index[ColumnRole.IP], layout.delimiter
    port = next((i for role, i in layout.index.items() if role == Fact.PORT.value), None)
    limit = feed.max_field_bytes
    entries: list[str] = []
    lines: list[str] = []
    observations: list[Observation] = []
    seen: set[str] = set()  # the keys of the entries kept (:func:`_plain_key`)
    reader = csv.reader(data, delimiter=delimiter, skipinitialspace=True)
    n = -1
    try:
        for n, row in enumerate(reader):
            if len(row) >= width:
                cell = row[ip]
                try:
                    inet_pton(AF_INET, cell)  # a plain row: its cell is its indicator's value (see :func:`_rows`)
                except (OSError, ValueError):
                    pass
                else:
                    key = f"{cell}\x1f{'' if port is None else row[port].strip()[:limit]}"
                    if key not in seen:
                        seen.add(key)
                        entries.append(_plain_entry(feed.id, key))
                        lines.append(data[n])
                    continue
            cells = _fields(data[n], delimiter)
            if cells is None or len(cells) < width:
                continue
            observation = _observation(feed, {role: cells[i] for role, i in layout.index.items()})
            if observation is not None and (key := _plain_key(observation)) not in seen:
                seen.add(key)
                observations.append(bounded(observation))
    except csv.Error:
        return None
    if n + 1 != len(data) or reader.line_num != len(data) or len(seen) > feed.max_entries:
        return None  # as :func:`read_sifted`
    return StoredRows(_layout_json(feed, layout), entries, lines, observations)


def _layout_json(feed: FeedSpec, layout: _Layout) -> str:
    """What :func:`row_observation` needs to read a stored line: the text changes when the observation would."""
    return json.dumps(
        {
            "feed": feed.id,
            "kind": feed.kind.value,
            "delimiter": layout.delimiter,
            "columns": [[str(role), i] for role, i in layout.index.items()],
            "max_field_bytes": feed.max_field_bytes,
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def row_observation(layout: Mapping[str, Any], line: str) -> Observation | None:
    """A stored plain row back (:class:`StoredRows`): the observation :func:`read` built of it, title cut as the
    poll cuts it (:func:`~alertd.intake.formats.entries.bounded`). ``layout``: :func:`_layout_json`'s object."""
    feed = FeedSpec(layout["feed"], FeedFormat.CSV, FeedKind(layout["kind"]), max_field_bytes=layout["max_field_bytes"])
    cells = _fields(line, layout["delimiter"])
    columns: list[tuple[ColumnRole | FactColumn, int]] = [(_role(role), i) for role, i in layout["columns"]]
    if cells is None or len(cells) <= max(i for _, i in columns):
        return None
    observation = _observation(feed, {role: cells[i] for role, i in columns})
    return None if observation is None else bounded(observation)


def kept_lines(layout: Mapping[str, Any], lines: Sequence[str], sieve: Sieve) -> list[int] | None:
    """The positions of stored plain rows (:class:`StoredRows`' lines, read with ``layout``) worth an observation:
    those ``sieve`` keeps, in order (as :func:`read_sifted` judges a body's rows). None when one of them is no plain
    row after all: read them all then."""
    ip = next(i for role, i in layout["columns"] if role == ColumnRole.IP)
    reader = csv.reader(lines, delimiter=layout["delimiter"], skipinitialspace=True)
    try:
        packed = b"".join(map(inet_pton, itertools.repeat(AF_INET), map(itemgetter(ip), reader)))
    except (IndexError, OSError, ValueError, csv.Error):
        return None
    if len(packed) != 4 * len(lines) or reader.line_num != len(lines):
        return None
    hits, held = sieve([int.from_bytes(packed[i : i + 4], "big") for i in range(0, len(packed), 4)])
    return sorted({*hits, *held})


_ROLES = {role.value: role for role in ColumnRole}


def _role(name: str) -> ColumnRole | FactColumn:
    """A column's role as :attr:`FeedSpec.columns` names it: one of :class:`ColumnRole`, or a fact's name."""
    return _ROLES.get(name) or FactColumn(name)


# The addresses, the row of each (None: the same), the rows that are not plain.
_Plain = tuple["Addresses", "Sequence[int] | NDArray[np.integer[Any]] | None", list[int]]


def _plain_rows(data: Sequence[str], layout: _Layout) -> _Plain | None:
    """Every row's address, when every row is plain: the cells taken and converted in C loops (``map``). None
    when a row is short or its cell no plain IPv4 address (:func:`_rows` reads them one by one), or when a
    quoted cell ran over a line break."""
    reader = csv.reader(data, delimiter=layout.delimiter, skipinitialspace=True)
    try:
        # Each row's cell, packed by inet_pton, the packed addresses side by side: no object kept per row.
        packed = b"".join(
            map(inet_pton, itertools.repeat(AF_INET), map(itemgetter(layout.index[ColumnRole.IP]), reader))
        )
    except (IndexError, OSError, ValueError):  # ValueError: a NUL in the cell
        return None
    if len(packed) != 4 * len(data) or reader.line_num != len(data):
        return None
    # An array of big-endian 32-bit integers, read as one.
    addresses = array("I", packed)
    if addresses.itemsize != 4:
        return [int.from_bytes(packed[i : i + 4], "big") for i in range(0, len(packed), 4)], None, []
    if sys.byteorder == "little":
        addresses.byteswap()
    return addresses, None, []


def _rows(
    data: Sequence[str], layout: _Layout, add_key: Callable[[str], None] | None, port: int | None, cut: int | None
) -> _Plain | None:
    """Each plain row's address and row, and the rows that are not plain (short, or any other address text);
    with ``add_key``, the key of each plain row. None when a quoted cell ran over a line break."""
    addresses = array("L")
    rows_of = array("L")
    irregular: list[int] = []
    width, ip = layout.width, layout.index[ColumnRole.IP]
    reader = csv.reader(data, delimiter=layout.delimiter, skipinitialspace=True)
    add_address, add_row, odd_row = addresses.append, rows_of.append, irregular.append
    from_bytes = int.from_bytes
    n = -1
    for n, row in enumerate(reader):
        if len(row) < width:
            odd_row(n)
            continue
        cell = row[ip]
        try:
            # inet_pton takes the dotted quad alone, without spaces or leading zeros: the very text the row
            # path would make the indicator's value (tests/intake/test_csv_sifted.py holds it to that).
            packed = inet_pton(AF_INET, cell)
        except (OSError, ValueError):  # ValueError: a NUL in the cell, which the row path skips as well
            odd_row(n)
            continue
        add_address(from_bytes(packed, "big"))
        add_row(n)
        if add_key is not None:
            given = "" if port is None else row[port].strip() if cut is None else row[port].strip()[:cut]
            add_key(f"{cell}\x1f{given}")
    if n + 1 != len(data) or reader.line_num != len(data):
        return None
    return addresses, rows_of, irregular


@dataclass(frozen=True, slots=True)
class _Layout:
    """A body cut into its data lines, with the column of each role and the delimiter found."""

    data: Sequence[str]  # the data rows' lines, header excluded
    index: dict[ColumnRole | FactColumn, int]
    delimiter: str
    skipped: int  # over-long lines

    @property
    def width(self) -> int:
        """Cells a row needs to hold every mapped column."""
        return max(self.index.values()) + 1


def _layout(feed: FeedSpec, body: bytes) -> _Layout | CsvResult:
    """The body's data lines and columns, or the empty result of a body with no data line."""
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
    limit = _max_line(feed)
    marks = ("#",) if names else ("#", ";")
    lines = _lines(text)
    # Over-long lines are counted, not read: looked for only when there is one (most bodies have none).
    longest = max(map(len, lines))
    skipped = sum(1 for line in lines if len(line) > limit and line.strip()) if longest > limit else 0
    start = len(lines)
    for number, line in enumerate(lines):  # up to the first data line
        stripped = line.strip()
        if not stripped or len(line) > limit:
            continue
        if not stripped.startswith(marks):
            start = number
            break
        comments.append(stripped)
    # Then every line that is not blank, over-long or a comment, in one comprehension (a million lines a second).
    rest = itertools.islice(lines, start, None)
    if longest <= limit:  # the usual case: no length to check
        data = [line for line in rest if (stripped := line.strip()) and not stripped.startswith(marks)]
    else:
        data = [
            line
            for line in rest
            if len(line) <= limit and (stripped := line.strip()) and not stripped.startswith(marks)
        ]
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
    return _Layout(data, index, delimiter, skipped)


def _check_read(feed: FeedSpec, layout: _Layout, entries: int, skipped: int, duplicates: int) -> None:
    """Refuse a body none of whose rows gave an entry (see :func:`read`)."""
    if layout.data and not entries and not duplicates:
        raise ParseError(
            f"feed {feed.id!r}: none of the {len(layout.data)} rows holds a valid value in the mapped indicator "
            f"columns ({', '.join(f'{r}: {c.strip()}' for r, c in feed.columns.items() if r in INDICATOR_ROLES)}); "
            "check 'columns' against the file"
        )
    if skipped and not entries and not duplicates:
        raise _unreadable(feed, skipped)


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


def _lines(text: str) -> list[str]:
    """The lines of ``text``, cut at CRLF, CR or LF: a plain ``split`` when the body uses one of them alone (ten
    times faster than the expression on a 60 MB body)."""
    returns = text.count("\r")
    if not returns:
        return text.split("\n")
    if returns == text.count("\r\n") == text.count("\n"):
        return text.split("\r\n")
    return _LINE_BREAK.split(text)


def _decode(body: bytes) -> str:
    body = body.removeprefix(b"\xef\xbb\xbf")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("latin-1")


def _name(column: str) -> str:
    """A column name as compared: without surrounding whitespace, quotes or BOM, case-folded."""
    return column.strip().strip("\ufeff").strip().strip("\"'").strip().casefold()


def _cut(line: str, delimiter: str) -> list[str]:
    """:func:`_fields` of a line whose quotes, if any, wrap whole cells holding no delimiter and no quote."""
    return [_bare(cell) for cell in line.split(delimiter)]


def _bare(cell: str) -> str:
    """A cell of such a line as ``csv`` reads it, stripped."""
    return (cell[1:-1] if cell[:1] == '"' else cell).strip()


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


def _observation(
    feed: FeedSpec, cells: dict[ColumnRole | FactColumn, str], address: Indicator | None = None
) -> Observation | None:
    """The row's observation; ``address``: its ``ip`` cell's indicator, when the caller read it already."""
    network, prefix = cells.get(ColumnRole.CIDR), cells.get(ColumnRole.PREFIX)
    if network is not None and prefix is not None and "/" not in network and prefix.isdigit():
        cells[ColumnRole.CIDR] = f"{network}/{prefix}"
    indicators: list[Indicator] = []
    for role in INDICATOR_ROLES:
        if role in cells:
            if role is ColumnRole.IP and address is not None:
                indicators.append(address)
                continue
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
    key = f"{feed.id}\x1f{_entry_key(indicators, port)}"
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


def _entry_key(indicators: Sequence[Indicator], port: str) -> str:
    """What tells one entry from another: its indicators and its port (hashed with the feed's id, the entry)."""
    return "\x1f".join([*(str(i) for i in indicators), port])


def _plain_key(observation: Observation) -> str:
    """What tells an entry apart, as :func:`read_sifted` keeps it: for one IPv4 address, the address and the port."""
    port = observation.facts.port or ""
    (first, *more) = observation.indicators
    if not more and first.type is IndicatorType.IPV4:
        return f"{first.value}\x1f{port}"
    return _entry_key(observation.indicators, port)


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
