"""The address column of a large delimited list read as arrays: where each data row is, and the IPv4 address of
every row whose cell is a plain dotted quad, without a Python object per row (numpy over the body's bytes).

Only what this module can prove the ``csv`` module would read the same way is read here: a row is *plain* when
its quotes, if any, wrap whole cells holding no delimiter and no quote, and its address cell is a dotted quad as
``inet_pton`` takes it (four octets of at most 255, no leading zero, nothing else). Every other data row is
handed back as not plain, for the row path to read. A body this module cannot cut into lines as the row path does
(not ASCII, a NUL, a bare CR, a line over the limit or starting with a space) is refused whole (None).

Hand-written rather than a CSV library's reader: the rows it reads must be cut, quoted and skipped exactly as
:mod:`alertd.intake.formats.csvfeed`'s reader does (comments, blank lines, ragged rows), and a row in doubt left
to that reader; a library that parses differently at the edges could not tell which rows those are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

STEP = 1 << 20  # bytes read per step: the arrays of one step stay a few MB, whatever the body's size
_NL, _CR, _QUOTE, _DOT, _ZERO = 10, 13, 34, 46, 48
_SPACES = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f "  # what str.strip() takes off in ASCII
_WIDEST = 15  # "255.255.255.255"

Ints: TypeAlias = "NDArray[np.int64]"
Offsets: TypeAlias = "NDArray[np.signedinteger[Any]]"  # 32-bit below 2 GB


@dataclass(frozen=True, slots=True)
class PlainRows:
    """The data rows of a body, and the address of each plain one."""

    starts: Offsets  # each data row's line, as offsets into the body
    ends: Offsets  # (its end, line break excluded)
    addresses: NDArray[np.uint32]  # the plain rows' addresses, in order
    rows_of: Offsets | None  # the data row of each address (None: every row is plain, the nth address the nth row's)
    irregular: list[int]  # the data rows that are not plain


class TooManyRows(Exception):
    """The body holds more data rows than the feed's ``max_entries``: the row path decides which are read."""


def plain_rows(
    body: bytes, offset: int, *, delimiter: str, column: int, width: int, marks: bytes, limit: int, cap: int
) -> PlainRows | None:
    """The data rows from ``offset`` (the first line after the header) to the end: lines neither blank nor
    starting with one of ``marks``; for each row of at least ``width`` cells whose cell number ``column`` is a plain
    IPv4 address, that address. None when the body is not one this module reads (see the module's docstring).

    Raises :class:`TooManyRows` as soon as a step ends past ``cap`` rows: a hostile body of millions of short
    lines is given up after one step beyond the cap, its arrays never longer than the cap and one step."""
    import numpy as np  # (the module is imported at start; numpy, 0.1 s, for the bodies that need it)

    if not body.isascii() or b"\0" in body or len(delimiter) != 1 or delimiter in '"\r\n':
        return None
    returns = body.count(b"\r")
    crlf = returns > 0
    if crlf and not returns == body.count(b"\r\n") == body.count(b"\n"):
        return None  # lines cut at a bare CR too: the row path's cutting
    whole = np.frombuffer(body, np.uint8)
    # Filled in place, each step's rows after the last's: no array is copied whole at the end.
    # Rows before a step are at most ``cap`` (or it raised), a step's at most its bytes and one line.
    most = min(body.count(b"\n", offset) + 1, cap + STEP + 2)
    offsets = np.dtype(np.int32 if len(body) < 1 << 31 else np.int64)
    starts: Offsets = np.empty(most, offsets)
    ends: Offsets = np.empty(most, offsets)
    addresses = np.empty(most, np.uint32)
    rows_of: Offsets = np.empty(most, offsets)
    irregular: list[int] = []
    rows = found_count = 0
    lo = offset
    marked = np.frombuffer(marks, np.uint8)
    while lo < len(body):
        hi = body.find(b"\n", min(lo + STEP, len(body)) - 1)
        hi = len(body) if hi < 0 else hi + 1
        step = _step(whole[lo:hi], ord(delimiter), column, width, marked, limit, crlf)
        if step is None:
            return None
        first, last, found, plain = step
        n, m = len(first), len(found)
        starts[rows : rows + n] = first + lo
        ends[rows : rows + n] = last + lo
        addresses[found_count : found_count + m] = found
        rows_of[found_count : found_count + m] = np.flatnonzero(plain) + rows
        irregular.extend((np.flatnonzero(~plain) + rows).tolist())
        rows += n
        found_count += m
        if rows > cap:
            raise TooManyRows(cap)
        lo = hi
    return PlainRows(
        starts[:rows], ends[:rows], addresses[:found_count], None if not irregular else rows_of[:found_count], irregular
    )


def _step(
    a: NDArray[np.uint8], delim: int, column: int, width: int, marks: NDArray[np.uint8], limit: int, crlf: bool
) -> tuple[Ints, Ints, NDArray[np.uint32], NDArray[np.bool_]] | None:
    """One run of whole lines: the data rows' starts and ends, the plain rows' addresses, and which rows are."""
    import numpy as np

    size = len(a)
    breaks = np.flatnonzero(a == _NL)
    line_starts = np.concatenate([np.zeros(1, np.int64), breaks + 1])
    line_ends = np.concatenate([breaks - 1 if crlf else breaks, np.full(1, size, np.int64)])
    if len(breaks) and breaks[-1] == size - 1:  # the run ends with a line break: no line after it
        line_starts, line_ends = line_starts[:-1], line_ends[:-1]
    lengths = line_ends - line_starts
    if len(lengths) and int(lengths.max()) > limit:
        return None  # an over-long line: the row path counts it as skipped
    filled = lengths > 0
    first = a[np.minimum(line_starts, size - 1)]
    if np.any(filled & np.isin(first, np.frombuffer(_SPACES, np.uint8))):
        return None  # a line starting with a space may be a comment or blank: the row path strips it
    data = filled & ~np.isin(first, marks)
    ks, ke = line_starts[data], line_ends[data]
    # Each row's delimiters: a sentinel after the last keeps every index in range.
    cuts = np.concatenate([np.flatnonzero(a == delim), np.full(1, size + 1, np.int64)])
    bad = _misquoted(a, line_starts, line_ends, cuts, delim, crlf)
    j = np.searchsorted(cuts, ks)
    count = np.searchsorted(cuts, ke) - j
    top = len(cuts) - 1
    cell_start = ks if column == 0 else cuts[np.minimum(j + column - 1, top)] + 1
    cell_end = np.where(count > column, cuts[np.minimum(j + column, top)], ke)
    quoted = a[np.minimum(cell_start, size - 1)] == _QUOTE
    quoted &= cell_end - cell_start >= 2
    cell_start = cell_start + quoted
    cell_end = cell_end - quoted
    found, plain = _dotted_quads(a, cell_start, cell_end)
    plain &= (count >= width - 1) & ~bad[data]
    return ks, ke, found[plain], plain


def _misquoted(a: NDArray[np.uint8], starts: Ints, ends: Ints, cuts: Ints, delim: int, crlf: bool) -> NDArray[np.bool_]:
    """Of each line, whether a quote in it does anything but wrap a whole cell holding no delimiter: such a line
    is left to ``csv``'s reader. ``cuts``: the delimiters' places, in order."""
    import numpy as np

    bad = np.zeros(len(starts), bool)
    quotes = np.flatnonzero(a == _QUOTE)
    if not len(quotes):
        return bad
    size = len(a)
    before = np.where(quotes > 0, a[np.maximum(quotes - 1, 0)], _NL)
    after = np.where(quotes < size - 1, a[np.minimum(quotes + 1, size - 1)], _NL)
    opens = (before == delim) | (before == _NL)
    closes = (after == delim) | (after == _NL) | ((after == _CR) if crlf else False)
    # A line whose quotes each open or close a cell, two to a cell for every cell, holds no quote in a cell and
    # no delimiter in a quoted one: each quote is at a cell's edge, and a cell has two edges.
    held = np.searchsorted(quotes, ends, side="right") - np.searchsorted(quotes, starts)
    cells = np.searchsorted(cuts, ends) - np.searchsorted(cuts, starts) + 1
    good = (held == 0) | (held == 2 * cells)
    stray = quotes[~(opens | closes)]
    good[np.searchsorted(starts, stray, side="right") - 1] = False
    if good.all():
        return bad
    # Other lines (quoted and bare cells mixed, or a stray quote), quote by quote: a quote of even rank in its
    # line opens a cell, and its partner (the next quote) closes it with no delimiter or line break between.
    separators = ((a == delim) | (a == _NL)).view(np.uint8)
    between = np.add.reduceat(separators, quotes, dtype=np.int32) > 0  # in [quote, next): the quote is none
    line = np.searchsorted(starts, quotes, side="right") - 1  # the line of each quote
    rank = np.arange(len(quotes)) - np.searchsorted(line, line)  # the quote's place among its line's quotes
    partner = np.minimum(np.arange(len(quotes)) + 1, len(quotes) - 1)
    paired = (partner != np.arange(len(quotes))) & ~between & closes[partner]
    wrong = np.where(rank % 2 == 0, ~opens | ~paired, ~closes)
    bad[line[wrong]] = True  # (a line's last opening quote left unpaired is wrong: its quotes are odd)
    return bad


def _dotted_quads(a: NDArray[np.uint8], starts: Ints, ends: Ints) -> tuple[NDArray[np.uint32], NDArray[np.bool_]]:
    """The address in each cell [start, end) and whether it is a plain dotted quad (as ``inet_pton`` reads it:
    four octets of one to three digits, none over 255, no leading zero)."""
    import numpy as np

    size = len(a)
    lengths = ends - starts
    ok = (lengths >= 7) & (lengths <= _WIDEST)
    # The cell's three dots: the first three at or after its start, all before its end, the fourth not.
    dots = np.concatenate([np.flatnonzero(a == _DOT), np.full(4, size + 1, np.int64)])
    first = np.minimum(np.searchsorted(dots, starts), len(dots) - 4)  # (a short row's cell starts past the end)
    bounds = [starts - 1, dots[first], dots[first + 1], dots[first + 2], ends]
    ok &= (bounds[3] < ends) & (dots[first + 3] >= ends)
    value = np.zeros(len(starts), np.uint32)
    for k in range(4):
        begin, count = bounds[k] + 1, bounds[k + 1] - bounds[k] - 1
        ok &= (count >= 1) & (count <= 3)
        # Its digits (a place past the octet reads the dot after it: weighed by nothing).
        d0, d1, d2 = (a[np.minimum(begin + j, size - 1)].astype(np.int16) - _ZERO for j in range(3))
        ok &= (d0 >= 0) & (d0 <= 9) & ((count < 2) | ((d1 >= 0) & (d1 <= 9))) & ((count < 3) | ((d2 >= 0) & (d2 <= 9)))
        ok &= (count == 1) | (d0 != 0)  # no leading zero
        octet = np.where(count == 1, d0, np.where(count == 2, d0 * 10 + d1, d0 * 100 + d1 * 10 + d2))
        ok &= octet <= 255
        value = (value << np.uint32(8)) | octet.astype(np.uint32) & np.uint32(255)
    return np.where(ok, value, 0).astype(np.uint32), ok


__all__ = ["PlainRows", "TooManyRows", "plain_rows"]
