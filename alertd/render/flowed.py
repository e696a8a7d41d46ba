"""The plain-text part as ``format=flowed`` text (RFC 3676): paragraphs wrapped at 72 columns with soft breaks.

A line that ends with a space is a soft break: a reader that knows format=flowed joins it with the next one and
re-wraps the paragraph to its window; any other reader shows the lines as they are, none longer than 72 columns
but for a single token (a long URL) that cannot be cut. The text part is sent with ``delsp=no``: the space that
ends a soft line is the one that stood between its two words, so joining the lines gives back the paragraph.

A list item ("  - step", "  2. [CRITIQUE] …") is wrapped with a hanging indent and hard breaks instead: format=
flowed has no hanging indent (the spaces of a soft-broken continuation would be read into the sentence), and a
list read in any client as a list beats a list item re-flowed. Only a plain space is a break: a no-break space
(French "08 h 30", "Motif :") keeps its words on one line.
"""

from __future__ import annotations

import re
from functools import lru_cache

WIDTH = 72
SIGNATURE = "-- "  # the signature separator: kept as it is, its trailing space included (RFC 3676 §4.3)
_LIST_ITEM = re.compile(r"^( *(?:[-*•]|\d{1,3}[.)]) +)\S")
_STUFFED = (" ", ">", "From ")  # a line starting so is space-stuffed, and its reader removes one space


def _stuff(line: str) -> str:
    return " " + line if line.startswith(_STUFFED) else line


@lru_cache(maxsize=16)
def _fitting(room: int) -> re.Pattern[str]:
    """What one line of at most ``room`` columns takes of a text, from where it starts: the longest run of whole
    words (with the spaces between) that ends within ``room`` columns, or a word longer than that on its own
    (leading spaces kept with it); then the plain spaces that follow, where a break may fall."""
    return re.compile(rf"(?:.{{0,{room - 1}}}[^ ](?= |\Z)| *[^ ]+) *")


def _fill(text: str, width: int) -> list[str]:
    """``text`` on lines of at most ``width`` columns, cut after the spaces that follow a word; a word longer
    than a line gets one of its own. One regular-expression match per line (not a step per word): the text part
    of a long email holds thousands of words."""
    fitting = _fitting(max(width, 1))
    lines: list[str] = []
    pos, end = 0, len(text)
    while pos < end:
        found = fitting.match(text, pos)
        assert found is not None and found.end() > pos  # the second branch matches any rest of a line
        lines.append(found.group())
        pos = found.end()
    return lines or [""]


def _paragraph(line: str, width: int) -> list[str]:
    """One long line as soft-broken lines: each but the last ends with the space that followed its last word."""
    return [_stuff(part) for part in _fill(line, width)]


def _list_item(line: str, prefix: str, width: int) -> list[str]:
    """A list item with a hanging indent under its text, hard-broken (no trailing space)."""
    indent = " " * len(prefix)
    lines = _fill(line[len(prefix) :], width - len(indent))
    return [_stuff((prefix if i == 0 else indent) + part.rstrip(" ")) for i, part in enumerate(lines)]


def wrap(text: str, width: int = WIDTH) -> str:
    """``text`` wrapped as format=flowed (``delsp=no``) at ``width`` columns: long lines soft-broken, list items
    hanging, lines starting with " ", ">" or "From " space-stuffed, every hard line stripped of trailing spaces
    (which a reader would take for a soft break) but the signature separator "-- "."""
    out: list[str] = []
    for raw in text.splitlines():
        if raw == SIGNATURE:
            out.append(raw)
            continue
        line = raw.rstrip()
        item = _LIST_ITEM.match(line)
        if len(line) <= width:
            out.append(_stuff(line))
        elif item is not None:
            out.extend(_list_item(line, item.group(1), width))
        else:
            out.extend(_paragraph(line, width))
    return "\n".join(out) + ("\n" if text.endswith(("\n", "\r")) else "")
