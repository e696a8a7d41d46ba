"""A YAML syntax error in the operator's words: what is wrong, where it starts, and how to fix it.

PyYAML (and libyaml under it) says where it gave up, in the parser's terms: "mapping values are not allowed in
this context", "did not find expected '-' indicator", "expected <block end>, but found '<block mapping start>'".
Nearly all of these come from a line indented differently from the lines it belongs with, a ``:`` inside an
unquoted value, a key without its ``:``, a tab, or an unclosed quote or bracket. :func:`explain` looks at the
text around the marks the parser gives, names the likely cause at the line where it is, and keeps the parser's
words as a detail; what it cannot explain stays in the parser's words.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import yaml


class Explained(NamedTuple):
    """A syntax error's cause: 0-based line and column in the text given, and the words for it."""

    line: int
    column: int
    words: str


def near_miss(word: object, choices: Iterable[object]) -> str:
    """``" (did you mean 'timezone'?)"`` when one of ``choices`` is close to ``word`` (difflib's ratio), else ``""``.

    Appended to the messages of unknown keys, values and names, so that a typo shows its fix."""
    if not isinstance(word, str):
        return ""
    names = {str(choice): choice for choice in choices}
    # 0.75: a slip of a letter or two ("timezon", "cisa_kev"), not a word that merely shares some ("colour" and
    # "country", 0.62)
    found = difflib.get_close_matches(word, list(names), n=1, cutoff=0.75)
    if not found:
        # A case slip ("Timezone") is as good as a typo, however short the word
        lowered = {name.lower(): name for name in names}
        found = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" (did you mean {found[0]!r}?)" if found and found[0] != word else ""


def explain(exc: yaml.MarkedYAMLError, text: str, first_line: int = 1) -> Explained | None:
    """The cause of a syntax error in ``text`` in plain words, or None when it is not one of the known kinds; the
    words number lines from ``first_line``, the line of the file where ``text`` starts."""
    lines = text.splitlines()
    problem, context = exc.problem or "", exc.context or ""
    at, start = exc.problem_mark, exc.context_mark
    if at is None:
        return None
    # A quote left open runs on to the next quote, lines below, and the parser gives up there, in words about
    # indentation or keys: the open quote is the cause, wherever the parser stopped.
    if (open_quote := _unclosed_quote(lines, at.line)) is not None and not (
        start is not None and "quoted scalar" in context
    ):
        return open_quote
    if "mapping values are not allowed" in problem:
        return _colon(lines, at.line, at.column, first_line)
    if start is not None and ("block collection" in context or "block mapping" in context):
        return (
            _dash_without_space(lines, at.line)
            or _dash_without_space(lines, start.line)
            or _indentation(lines, at.line, at.column, first_line)
        )
    if start is not None and "simple key" in context:
        return _no_colon(lines, start.line)
    if "tab character" in problem:  # libyaml: a tab where an indentation was expected
        return Explained(at.line, at.column, _TAB)
    if "cannot start any token" in problem:
        return _bad_character(lines, at.line, at.column)
    if start is not None and "quoted scalar" in context:
        if "escape" in problem:
            return Explained(
                at.line,
                at.column,
                "an unknown escape in a double-quoted value: write '\\\\' for a backslash, or put the value in "
                "single quotes (which have no escapes)",
            )
        return Explained(
            start.line, start.column, "this quote is never closed: end the value with the same quote it starts with"
        )
    if start is not None and ("flow sequence" in context or "flow mapping" in context):
        opening, closing = ("[", "]") if "sequence" in context else ("{", "}")
        return Explained(
            start.line,
            start.column,
            f"the '{opening}' opened here is not closed with '{closing}', or two of its items lack a ',' between "
            f"them (the parser gave up at line {at.line + first_line}, column {at.column + 1})",
        )
    if "single document" in context:
        return Explained(
            at.line, at.column, "a second YAML document ('---') starts here; a config file holds one: remove it"
        )
    if "undefined alias" in problem:
        return Explained(
            at.line,
            at.column,
            "'*' starts a reference to an anchor ('&name') never defined: put the value in quotes if the '*' is text",
        )
    return None


# A line that starts a key: something not a quote, bracket or comment, then ':' and a space or the line's end.
_KEY = re.compile(r"""^[^\s#'"{\[][^#]*?:(?:\s|$)""")


_TAB = "a tab: YAML indents with spaces only; replace the tab with spaces"


def _content(lines: Sequence[str]) -> Iterable[tuple[int, str]]:
    """The lines that hold something (neither blank nor only a comment), numbered."""
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield number, line


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _spaces(count: int) -> str:
    return f"{count} space" + ("" if count == 1 else "s")


def _levels(lines: Sequence[str], before: int) -> list[tuple[int, int, str]]:
    """The indentations a line at ``before`` may take, nearest first: (indentation, line number, what stands
    there) for each block still open above it — its siblings, the keys of the list item it is in, that list's
    items, their parent's keys..."""
    levels: list[tuple[int, int, str]] = []
    lowest = 1 << 30
    for number, line in reversed(list(_content(lines[:before]))):
        indent = _indent(line)
        rest = line[indent:]
        if rest.startswith("- ") and indent < lowest:
            inner = indent + 2 + _indent(rest[2:])
            if inner < lowest and _KEY.match(rest[2:].lstrip(" ")):
                levels.append((inner, number, "keys"))
            levels.append((indent, number, "items"))
            lowest = indent
        elif indent < lowest:
            levels.append((indent, number, "keys"))
            lowest = indent
        if lowest == 0:
            break
    return levels


def _indentation(lines: Sequence[str], number: int, column: int, base: int) -> Explained | None:
    """A line that closes or opens no block the parser expected: say how it is indented and how the lines
    above it are."""
    if number >= len(lines):
        return None
    line = lines[number]
    indent = _indent(line)
    rest = line[indent:]
    is_item = rest == "-" or rest.startswith("- ")
    levels = _levels(lines, number)
    same = [level for level in levels if level[0] == indent]
    if same and same[0][2] == "items" and not is_item:
        keys = next((lv for lv in reversed(levels) if lv[2] == "keys" and lv[0] > indent), None)
        inside = f"indent it {_spaces(keys[0])} like the keys of the item above, " if keys else ""
        return Explained(
            number,
            indent,
            f"this line stands in the column of the list's '-' but does not start an item: {inside}or start it "
            "with '- ' for a new item",
        )
    if same and same[0][2] == "keys" and is_item:
        items = next((lv for lv in levels if lv[2] == "items"), None)
        where = f" ({_spaces(items[0])}, as on line {items[1] + base})" if items else ""
        return Explained(
            number,
            indent,
            f"this list item starts in the column of the keys above it (line {same[0][1] + base}): indent its '-' "
            f"as the items of its list{where}",
        )
    above = ", ".join(f"{_spaces(lv[0])} on line {lv[1] + base}" for lv in levels[:4])
    return Explained(
        number,
        indent,
        f"this line is indented differently from the ones before it ({_spaces(indent)}; "
        f"{'the lines above: ' + above if above else 'it is the first line'}): indent it exactly as the lines it "
        "belongs with, using spaces",
    )


def _colon(lines: Sequence[str], number: int, column: int, base: int) -> Explained | None:
    """A ``:`` where no key may start: a value holding ``': '``, or a line indented deeper than the key above
    it (YAML then reads it as the rest of that key's value)."""
    if number >= len(lines):
        return None
    line = lines[number]
    indent = _indent(line)
    head = line[:column]
    if (glued := _KEY_WITHOUT_COLON.match(line[indent:])) is not None:
        return Explained(
            number,
            indent + glued.end(1),
            f"the key '{glued.group(1)}' lacks its ':' before the value: write '{glued.group(1)}: {glued.group(2)}…'",
        )
    key_end = head.find(": ")
    if key_end != -1 and head[indent:].lstrip("- ").strip():
        value = key_end + 2 + _indent(line[key_end + 2 :])
        return Explained(
            number,
            value,
            "this value holds ': ', which YAML reads as another key: put the whole value in quotes",
        )
    previous = [(n, text) for n, text in _content(lines[:number])]
    if len(previous) >= 2 and _indent(previous[-2][1]) >= indent > _indent(previous[-1][1]):
        # The line above is the odd one: less indented than the lines on both sides of it (a key pushed to the
        # left), so this well-indented line reads as the rest of its value.
        odd, odd_text = previous[-1]
        return Explained(
            odd,
            _indent(odd_text),
            f"this line is indented less than the lines around it ({_spaces(_indent(odd_text))}; line "
            f"{previous[-2][0] + base} has {_spaces(_indent(previous[-2][1]))}, line {number + base} "
            f"{_spaces(indent)}): indent it exactly as the keys it belongs with",
        )
    if previous and indent > _indent(previous[-1][1]):
        above_number, above = previous[-1]
        return Explained(
            number,
            indent,
            f"this line is indented more than the line above it ({_spaces(indent)}, not {_indent(above)}), so YAML "
            f"reads it as the rest of the value on line {above_number + base}: "
            "indent it exactly as the keys it belongs with",
        )
    return _indentation(lines, number, column, base)


# ``columns {ip: dst_ip}`` or ``networks [10.0.0.0/8]``: a key, a space, then a flow collection, no ':' between.
_KEY_WITHOUT_COLON = re.compile(r"^(?:- )?([A-Za-z_][\w.-]*) ([\[{])")
# The start of a quoted value: after 'key: ', after '- ', or a whole line.
_QUOTED_VALUE = re.compile(r"""(?:^|:\s+)(["'])""")


def _unclosed_quote(lines: Sequence[str], before: int) -> Explained | None:
    """The last line above ``before`` whose quoted value is not closed on that line (a config never needs a
    quoted value spanning lines), when the parser stopped on a later line."""
    for number, line in reversed(list(_content(lines[:before]))):
        stripped = line.strip()
        body = stripped.removeprefix("- ")
        found = _QUOTED_VALUE.search(body)
        if found is None:
            continue
        quote = found.group(1)
        if not _closes(body[found.end() :], quote):
            column = _indent(line) + (len(stripped) - len(body)) + found.start(1)
            return Explained(
                number,
                column,
                f"this {'double' if quote == chr(34) else 'single'} quote is not closed on its line: end the value "
                f"with {quote} (YAML read on to the next {quote}, lines below, and stopped there)",
            )
    return None


def _closes(rest: str, quote: str) -> bool:
    """Whether ``rest`` (what follows an opening quote) closes it on the line: ``\\"`` escapes in double quotes,
    ``''`` in single ones."""
    i = 0
    while i < len(rest):
        char = rest[i]
        if quote == '"' and char == "\\":
            i += 2
            continue
        if char == quote:
            if quote == "'" and rest[i + 1 : i + 2] == "'":
                i += 2
                continue
            return True
        i += 1
    return False


def _dash_without_space(lines: Sequence[str], number: int) -> Explained | None:
    """``-id: x``: a dash glued to its item reads as a key named ``-id``."""
    if number >= len(lines):
        return None
    line = lines[number]
    rest = line[_indent(line) :]
    if rest.startswith("-") and len(rest) > 1 and rest[1] not in " \t-":
        return Explained(number, _indent(line), "a list item's '-' must be followed by a space: write '- ' here")
    return None


def _no_colon(lines: Sequence[str], number: int) -> Explained | None:
    if number >= len(lines):
        return None
    return Explained(
        number,
        _indent(lines[number]),
        "this line has no ':' after its key: write 'key: value'; if it is text that goes on from the line above, "
        "indent it more than that line's key, or put the whole value in quotes",
    )


def _bad_character(lines: Sequence[str], number: int, column: int) -> Explained | None:
    if number >= len(lines) or column >= len(lines[number]):
        return None
    char = lines[number][column]
    if char == "\t":
        return Explained(number, column, _TAB)
    return Explained(number, column, f"a value cannot start with {char!r} (YAML reserves it): put the value in quotes")


__all__ = ["Explained", "explain", "near_miss"]
