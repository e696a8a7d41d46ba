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

import numpy as np
from numpy.typing import NDArray

STEP = 1 << 22  # bytes read per step: the arrays of one step stay a few tens of MB, whatever the body's size
_NL, _CR, _QUOTE, _DOT, _ZERO = 10, 13, 34, 46, 48
_SPACES = np.array([9, 10, 11, 12, 13, 28, 29, 30, 31, 32], np.uint8)  # what str.strip() takes off in ASCII
_WIDEST = 15  # "255.255.255.255"

Ints = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PlainRows:
    """The data rows of a body, and the address of each plain one."""

    starts: Ints  # each data row's line, as offsets into the body
    ends: Ints  # (its end, line break excluded)
    addresses: NDArray[np.uint32]  # the plain rows' addresses, in order
    rows_of: Ints  # the data row of each address
    irregular: list[int]  # the data rows that are not plain


def plain_rows(
    body: bytes, offset: int, *, delimiter: str, column: int, width: int, marks: bytes, limit: int
) -> PlainRows | None:
    """The data rows from ``offset`` (the first line after the header) to the end: lines neither blank nor
    starting with one of ``marks``; for each row of at least ``width`` cells whose cell number ``column`` is a plain
    IPv4 address, that address. None when the body is not one this module reads (see the module's docstring)."""
    if not body.isascii() or b"\0" in body or len(delimiter) != 1 or delimiter in '"\r\n':
        return None
    returns = body.count(b"\r")
    crlf = returns > 0
    if crlf and not returns == body.count(b"\r\n") == body.count(b"\n"):
        return None  # lines cut at a bare CR too: the row path's cutting
    whole = np.frombuffer(body, np.uint8)
    starts: list[Ints] = []
    ends: list[Ints] = []
    addresses: list[NDArray[np.uint32]] = []
    rows_of: list[Ints] = []
    irregular: list[int] = []
    rows = 0
    lo = offset
    while lo < len(body):
        hi = body.find(b"\n", min(lo + STEP, len(body)) - 1)
        hi = len(body) if hi < 0 else hi + 1
        step = _step(whole[lo:hi], ord(delimiter), column, width, np.frombuffer(marks, np.uint8), limit, crlf)
        if step is None:
            return None
        first, last, found, plain = step
        starts.append(first + lo)
        ends.append(last + lo)
        addresses.append(found)
        rows_of.append(np.flatnonzero(plain) + rows)
        irregular.extend((np.flatnonzero(~plain) + rows).tolist())
        rows += len(first)
        lo = hi
    empty = np.zeros(0, np.int64)
    return PlainRows(
        np.concatenate([empty, *starts]),
        np.concatenate([empty, *ends]),
        np.concatenate([np.zeros(0, np.uint32), *addresses]),
        np.concatenate([empty, *rows_of]),
        irregular,
    )


def _step(
    a: NDArray[np.uint8], delim: int, column: int, width: int, marks: NDArray[np.uint8], limit: int, crlf: bool
) -> tuple[Ints, Ints, NDArray[np.uint32], NDArray[np.bool_]] | None:
    """One run of whole lines: the data rows' starts and ends, the plain rows' addresses, and which rows are."""
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
    if np.any(filled & np.isin(first, _SPACES)):
        return None  # a line starting with a space may be a comment or blank: the row path strips it
    data = filled & ~np.isin(first, marks)
    bad = _misquoted(a, line_starts, delim, crlf)
    ks, ke = line_starts[data], line_ends[data]
    # Each row's delimiters: a sentinel after the last keeps every index in range.
    cuts = np.concatenate([np.flatnonzero(a == delim), np.full(1, size + 1, np.int64)])
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


def _misquoted(a: NDArray[np.uint8], starts: Ints, delim: int, crlf: bool) -> NDArray[np.bool_]:
    """Of each line, whether a quote in it does anything but wrap a whole cell holding no delimiter: such a line
    is left to ``csv``'s reader."""
    bad = np.zeros(len(starts), bool)
    quotes = np.flatnonzero(a == _QUOTE)
    if not len(quotes):
        return bad
    size = len(a)
    before = np.where(quotes > 0, a[np.maximum(quotes - 1, 0)], _NL)
    after = np.where(quotes < size - 1, a[np.minimum(quotes + 1, size - 1)], _NL)
    opens = (before == delim) | (before == _NL)
    closes = (after == delim) | (after == _NL) | ((after == _CR) if crlf else False)
    # Delimiters and line breaks seen up to each byte: a quote and its partner with none between wrap one cell.
    seps = np.cumsum((a == delim) | (a == _NL), dtype=np.int32)[quotes]
    if len(quotes) % 2 == 0 and opens[0::2].all() and closes[1::2].all() and (seps[0::2] == seps[1::2]).all():
        return bad  # every quote pairs with the next one, around a cell: every line is read alike
    line = np.searchsorted(starts, quotes, side="right") - 1  # the line of each quote
    rank = np.arange(len(quotes)) - np.searchsorted(line, line)  # the quote's place among its line's quotes
    partner = np.minimum(np.arange(len(quotes)) + 1, len(quotes) - 1)
    paired = (partner != np.arange(len(quotes))) & (seps[partner] == seps) & closes[partner]
    wrong = np.where(rank % 2 == 0, ~opens | ~paired, ~closes)
    bad[line[wrong]] = True  # (a line's last opening quote left unpaired is wrong: its quotes are odd)
    return bad


def _dotted_quads(a: NDArray[np.uint8], starts: Ints, ends: Ints) -> tuple[NDArray[np.uint32], NDArray[np.bool_]]:
    """The address in each cell [start, end) and whether it is a plain dotted quad (as ``inet_pton`` reads it:
    four octets of one to three digits, none over 255, no leading zero)."""
    lengths = ends - starts
    ok = (lengths >= 7) & (lengths <= _WIDEST)
    # One row per character place, a row per cell; past a cell's end, a dot (it ends the last octet).
    places = np.arange(_WIDEST + 1)[:, None]
    chars = a[np.minimum(starts[None, :] + places, len(a) - 1)]
    chars[places >= lengths[None, :]] = _DOT
    digits = chars - np.uint8(_ZERO)  # a digit is 0-9; a dot wraps to 254
    dot = chars == _DOT
    ok &= ((digits <= 9) | dot).all(axis=0)
    ok &= np.count_nonzero(dot[:_WIDEST], axis=0) - np.count_nonzero(places[:_WIDEST] >= lengths[None, :], axis=0) == 3
    # No empty octet (a dot first or after a dot), no leading zero (a 0 first or after a dot, then a digit).
    opening = np.concatenate([np.ones((1, len(starts)), bool), dot[:-1]])
    ok &= ~(opening & dot & (places <= lengths[None, :])).any(axis=0)
    ok &= ~(opening[:-1] & (chars[:-1] == _ZERO) & ~dot[1:]).any(axis=0)
    value = np.zeros(len(starts), np.int64)
    octet = np.zeros(len(starts), np.int64)
    run = np.zeros(len(starts), np.int64)
    for k in range(_WIDEST + 1):
        is_dot = dot[k]
        octet = np.where(is_dot, octet, octet * 10 + digits[k])
        run = np.where(is_dot, 0, run + 1)
        ok &= (run <= 3) & (octet <= 255)
        value = np.where(is_dot & (lengths >= k), value * 256 + octet, value)
        octet[is_dot] = 0
    return np.where(ok, value, 0).astype(np.uint32), ok


__all__ = ["PlainRows", "plain_rows"]
