"""The text of registry items as ``alertd registry import finess`` edits it: only the lines of the keys FINESS owns.

An item is cut into its top-level keys by their lines (a key at the item's indentation, up to the next one; the
blank and comment lines between two keys belong to neither), its FINESS-owned values are read from those lines
when they are one-line scalars — by PyYAML otherwise — and :func:`edit` replaces the lines of the keys whose value
changed, keeping a one-line value's trailing comment. Every other line of the item stays byte for byte.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml

from alertd.config.finess import FinessError, FinessRecord

OWNED = ("id", "name", "category", "city", "postcode", "finess")  # in the order a new item writes them
FINESS_FIELDS = ("et", "ej", "long_name", "category_label", "address", "department", "opened", "updated", "closed")

_DASH = re.compile(r"( *)-(?: +|(?=\r?\n|$))")
# A key as the import finds it by its line: a name, quoted or not ("name": ... reads as name: ...).
_KEY = re.compile(r"""(["']?)([A-Za-z_][A-Za-z0-9_]*)\1:(?=[ \t]|\r?\n|$)""")
# A value that starts an anchor or is an alias, on a key's line or in a flow collection.
_ANCHOR = re.compile(r"(?:^|(?<=[\s\[{,]))&[^\s,\[\]{}]")
_ALIAS = re.compile(r"(?:^|(?<=[\s\[{,]))\*[^\s,\[\]{}]")
_MERGE = re.compile(r"(?:^|(?<=[\s{,-]))<<[ \t]*:")
_SPECIAL = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})
# What JSON writes as it is but YAML must see escaped: controls, line breaks and marks (U+0085, U+2028, U+FEFF),
# characters a YAML file may not hold (lone surrogates, U+FFFE, U+FFFF) and unassigned code points (Cn), which a
# reader with an older Unicode table could refuse. :func:`_escape` keeps the printable ones as they are.
_ESCAPE = re.compile("[^\x00-\x7e]")


def render_scalar(value: str) -> str:
    """A string as a YAML scalar that every YAML reader reads back as that string: plain when it is words
    (``CH JOSEPH IMBERT D'ARLES``), double-quoted otherwise (numbers, dates, ``yes``, a ``:`` or ``#``)."""
    words = value[:1].isalpha() and ":" not in value and "#" not in value and value.lower() not in _SPECIAL
    if words and value.isprintable() and value == value.strip():
        return value
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # numbers and dates: nothing to escape
    quoted = json.dumps(value, ensure_ascii=False)  # JSON's escapes are YAML's escapes
    return _ESCAPE.sub(_escape, quoted)


def _escape(found: re.Match[str]) -> str:
    char = found.group()
    if char.isprintable() and unicodedata.category(char) != "Cn":
        return char  # an accented letter, an emoji: written as it is
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def finess_values(record: FinessRecord, closed: str = "") -> dict[str, str]:
    return {
        "et": record.et,
        "ej": record.ej,
        "long_name": record.long_name,
        "category_label": record.category_label,
        "address": record.address,
        "department": record.department,
        "opened": record.opened,
        "updated": record.updated,
        "closed": closed,
    }


def owned_values(record: FinessRecord) -> dict[str, Any]:
    return {
        "id": record.et,
        "name": record.name,
        "category": record.category,
        "city": record.city,
        "postcode": record.postcode,
        "finess": finess_values(record),
    }


def render_key(key: str, value: Any) -> list[str]:
    """The lines of one FINESS-owned key, unindented; none for an empty value."""
    if key != "finess":
        return [f"{key}: {render_scalar(value)}"] if value else []
    return ["finess:"] + [f"  {k}: {render_scalar(v)}" for k in FINESS_FIELDS if (v := value.get(k))]


def render_item(record: FinessRecord, indent: int = 2, newline: str = "\n") -> str:
    """A new registry item for a FINESS record, its dash at ``indent``."""
    lines: list[str] = []
    values = owned_values(record)
    for key in OWNED:
        lines += render_key(key, values[key])
    pad = " " * (indent + 2)
    return " " * indent + "- " + lines[0] + newline + "".join(pad + line + newline for line in lines[1:])


# --- reading one item's text --------------------------------------------------------------------------------------


def _scalar(rest: str) -> tuple[str, str] | None:
    """(value, trailing comment) of a one-line scalar written after ``key:``; None for anything else (a block or
    flow collection, a block scalar, an alias, a tag, a multi-line or empty value), which PyYAML reads instead."""
    text = rest.strip()
    if not text or text[0] in "[]{}&*!|>%@`#":
        return None
    if text[0] == '"':
        end = 1
        while (end := text.find('"', end)) != -1 and _escaped(text, end):
            end += 1
        if end == -1:
            return None
        value = text[1:end]
        if "\\" in value:
            try:
                value = json.loads(text[: end + 1])
            except ValueError:  # a YAML escape that JSON lacks (\x41, \e, \N): rare, PyYAML reads it
                return None
        after = text[end + 1 :].strip()
    elif text[0] == "'":
        end = 1
        while (end := text.find("'", end)) != -1 and text[end + 1 : end + 2] == "'":
            end += 2
        if end == -1:
            return None
        value, after = text[1:end].replace("''", "'"), text[end + 1 :].strip()
    else:
        at = text.find(" #")
        value, after = (text, "") if at == -1 else (text[:at].rstrip(), text[at:].strip())
        if ": " in value or value.endswith(":"):
            return None
    if after and not after.startswith("#"):
        return None
    return value, after


def _escaped(text: str, at: int) -> bool:
    slashes = 0
    while text[at - 1 - slashes] == "\\":
        slashes += 1
    return slashes % 2 == 1


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


@dataclass(slots=True)
class Item:
    """One item of a registry file: its lines, where its top-level keys stand, and the values FINESS owns."""

    lines: list[str]
    line: int  # file line of its first line
    tail: list[str]  # trailing blank and comment lines at the dash's indentation: they belong to the next item
    key_indent: int = 0
    keys: dict[str, tuple[int, int]] = field(default_factory=dict)  # key → [start, end) line indexes
    block: bool = True  # a block mapping whose keys the import can find by their lines
    simple: bool = False  # its owned values were read from its lines (no PyYAML needed)
    values: dict[str, Any] = field(default_factory=dict)  # the FINESS-owned values, as text
    other: list[tuple[str, Any]] = field(default_factory=list)  # for a flow item: the operator's keys
    changed: tuple[str, ...] = ()  # the owned keys an import rewrote, and their values: what it checks after
    wanted: dict[str, Any] | None = None
    whole: bool = False  # rewritten whole (a flow item)

    @property
    def id(self) -> str | None:
        value = self.values.get("id")
        return value if isinstance(value, str) else None

    @property
    def et(self) -> str | None:
        """The FINESS number the item stands for: its ``finess.et``, else its id (an operator may give the
        establishment an id of their own once FINESS has written its block)."""
        block = self.values.get("finess")
        number = block.get("et") if isinstance(block, dict) else None
        return number if isinstance(number, str) and number else self.id


def cut_item(text: str, line: int) -> Item:
    lines = text.splitlines(keepends=True)
    dash = _DASH.match(lines[0])
    assert dash is not None  # sequence_items cut at a dash
    tail: list[str] = []
    while len(lines) > 1 and is_filler(lines[-1]) and indent_of(lines[-1]) <= len(dash.group(1)):
        tail.insert(0, lines.pop())
    item = Item(lines, line, tail)
    first = lines[0][dash.end() :]
    if first.strip() and not first.lstrip().startswith("#"):
        start, item.key_indent = 0, dash.end()
    else:
        start = next((i for i in range(1, len(lines)) if not is_filler(lines[i])), len(lines))
        item.key_indent = indent_of(lines[start]) if start < len(lines) else dash.end()
    starts: list[tuple[str, int]] = []
    for number in range(start, len(lines)):
        text_at = lines[number][item.key_indent :] if number else first
        if number and (indent_of(lines[number]) != item.key_indent or is_filler(lines[number])):
            if indent_of(lines[number]) < item.key_indent and not is_filler(lines[number]):
                item.block = False
            continue
        found = _KEY.match(text_at)
        if found is None:
            if text_at.startswith("- "):  # a sequence written at its key's indentation: part of that key
                continue
            item.block = False
            break
        starts.append((found.group(2), number))
    for (key, begin), following in zip(starts, [*starts[1:], ("", len(lines))], strict=False):
        end = following[1]
        while end - 1 > begin and is_filler(lines[end - 1]):
            end -= 1
        if key in item.keys:
            item.block = False  # a duplicate key: PyYAML will say where
        item.keys[key] = (begin, end)
    if item.block:
        item.simple = read_owned(item)
    return item


def read_owned(item: Item) -> bool:
    """The owned values read from the item's lines; False when one is not written the simple way."""
    for key in OWNED:
        span = item.keys.get(key)
        if span is None:
            continue
        begin, end = span
        rest = _after_key(item.lines[begin][item.key_indent :])  # the dash's line too: its key starts there
        if key != "finess":
            scalar = _scalar(rest)
            if scalar is None or end - begin != 1:
                return False
            item.values[key] = scalar[0]
            continue
        if rest.strip() and not rest.strip().startswith("#"):
            return False  # a flow mapping: PyYAML reads it
        block: dict[str, str] = {}
        inner = None
        for text in item.lines[begin + 1 : end]:
            if is_filler(text):
                continue
            inner = indent_of(text) if inner is None else inner
            found = _KEY.match(text[inner:]) if indent_of(text) == inner else None
            scalar = _scalar(_after_key(text[inner:])) if found else None
            if found is None or scalar is None or found.group(2) in block:
                return False
            block[found.group(2)] = scalar[0]
        item.values[key] = block
    return True


def _after_key(line: str) -> str:
    """The text after a line's ``key:`` (its key quoted or not)."""
    found = _KEY.match(line)
    return line[found.end() :] if found else line.split(":", 1)[1]


def not_editable(item: Item, keys: list[str]) -> str | None:
    """Why the lines of ``keys`` cannot be replaced without breaking the file (an anchor another item's alias
    may name, an alias, a merge key), or None."""
    for key in keys:
        begin, end = item.keys.get(key, (0, 0))
        for number in range(begin, end):
            value = _after_key(item.lines[number][item.key_indent :]) if number == begin else item.lines[number]
            if _ANCHOR.search(value):
                return f"its '{key}' lines define an anchor (&) that other items may name"
            if _ALIAS.search(value) or _MERGE.search(value):
                return f"its '{key}' lines take a value from an anchor (* or <<)"
    return None


def shared_parts(item: Item) -> str | None:
    """Why an item cannot be rewritten whole without breaking the file (it defines an anchor, names one or
    merges one), or None."""
    text = "".join(item.lines)
    if _ANCHOR.search(text):
        return "it defines an anchor (&) that other items may name"
    if _ALIAS.search(text) or _MERGE.search(text):
        return "it takes values from an anchor (* or <<)"
    return None


def plain(value: Any) -> Any:
    """PyYAML's positioned mappings and lists as plain ones (for yaml.safe_dump)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def split_tail(piece: str, dash_indent: int) -> tuple[str, str]:
    """An item's text without, and then with only, its trailing blank and comment lines at the dash's
    indentation (those are about the next item)."""
    end = len(piece)
    while True:
        start = piece.rfind("\n", 0, end - 1) + 1
        if start == 0 or not is_filler(piece[start:end]) or indent_of(piece[start:end]) > dash_indent:
            return piece[:end], piece[end:]
        end = start


def owned_end(text: str, at: int, end: int, key_indent: int) -> bool:
    """Whether nothing from ``at`` to ``end`` continues the FINESS-owned keys just before it: the next line that
    is not blank or a comment starts another key of the item (or there is none)."""
    while at < end:
        stop = text.find("\n", at, end)
        stop = end if stop == -1 else stop + 1
        line = text[at:stop]
        if not is_filler(line):
            return indent_of(line) == key_indent
        at = stop
    return True


# --- editing ---------------------------------------------------------------------------------------------------------


def changed_keys(item: Item, wanted: dict[str, Any]) -> list[str]:
    """The owned keys whose value differs from ``wanted`` (id never changes: it is how the item was found)."""
    changed = []
    for key in OWNED[1:]:
        old, new = item.values.get(key), wanted[key]
        if key == "finess":
            old = {k: v for k, v in (old or {}).items() if v} if isinstance(old, dict) else old
            new = {k: v for k, v in new.items() if v}
        if (old or None) != (new or None):
            changed.append(key)
    return changed


def edit(item: Item, wanted: dict[str, Any], keys: list[str], newline: str) -> None:
    """Replace the lines of ``keys`` in a block item with their new values; a key absent before goes after the
    owned key before it. A one-line value keeps its trailing comment."""
    pad = " " * item.key_indent
    edits: list[tuple[int, int, int, list[str]]] = []
    for key in keys:
        lines = render_key(key, wanted[key])
        if key in item.keys:
            begin, end = item.keys[key]
            if lines and end - begin == 1 and key != "finess":
                old = item.lines[begin]
                scalar = _scalar(_after_key(old[item.key_indent :]))
                if scalar and scalar[1]:
                    lines = [f"{lines[0]}  {scalar[1]}"]
            elif lines and key == "finess":
                lines = _finess_block(item, begin, end, wanted[key]) or lines
        else:
            before = [k for k in OWNED[: OWNED.index(key)] if k in item.keys]
            begin = end = item.keys[before[-1]][1] if before else len(item.lines)
        edits.append((begin, end, OWNED.index(key), lines))
    # From the bottom up, so that the line numbers above stay right; two keys inserted at one place go in OWNED's
    # order (the later one first, then the earlier one before it).
    for begin, end, _, lines in sorted(edits, key=lambda e: e[:3], reverse=True):
        text = [pad + line + newline for line in lines]
        if begin == 0 and text:  # the dash's line keeps its dash
            text[0] = item.lines[0][: item.key_indent] + lines[0] + newline
        elif begin == 0:
            raise FinessError("internal: the first key of an item cannot be removed")  # pragma: no cover
        if end == len(item.lines) and item.lines and not item.lines[-1].endswith("\n"):
            item.lines[-1] += newline
        item.lines[begin:end] = text
    for key in keys:
        item.values[key] = wanted[key]


def _finess_block(item: Item, begin: int, end: int, values: dict[str, str]) -> list[str] | None:
    """The ``finess`` block's new lines with the operator's comments kept: the one after ``finess:``, each one
    after a field, and the comment lines above a field (above the next one if FINESS dropped that field); at the
    block's own indentation. None when a line of the block is not ``field: value`` (then it is written anew)."""
    rest = _after_key(item.lines[begin][item.key_indent :]).rstrip("\r\n")
    head = "finess:" + (rest if rest.strip().startswith("#") else "")
    notes: dict[str, tuple[list[str], str]] = {}
    pending: list[str] = []
    inner: int | None = None
    for text in item.lines[begin + 1 : end]:
        if is_filler(text):
            pending.append(text.strip())
            continue
        inner = indent_of(text) if inner is None else inner
        found = _KEY.match(text[inner:]) if indent_of(text) == inner else None
        scalar = _scalar(_after_key(text[inner:])) if found else None
        if found is None or scalar is None:
            return None
        notes[found.group(2)] = (pending, scalar[1])
        pending = []
    pad = " " * (inner - item.key_indent if inner is not None and inner > item.key_indent else 2)
    lines = [head]
    for field_name in FINESS_FIELDS:
        if value := values.get(field_name):
            above, comment = notes.pop(field_name, ([], ""))
            pending = [*pending, *above]
            lines += [pad + line if line else "" for line in pending]
            pending = []
            lines.append(f"{pad}{field_name}: {render_scalar(value)}" + (f"  {comment}" if comment else ""))
        elif field_name in notes:
            pending += notes.pop(field_name)[0]
    lines += [pad + line if line else "" for line in pending]
    return lines


def rewrite_whole(item: Item, wanted: dict[str, Any], indent: int, newline: str) -> None:
    """A flow item rewritten in block style: FINESS's keys first, then the operator's, values kept."""
    lines: list[str] = []
    for key in OWNED:
        lines += render_key(key, wanted[key])
    for key, value in item.other:
        dumped = yaml.safe_dump({key: value}, allow_unicode=True, sort_keys=False, width=10**6)
        lines += dumped.rstrip("\n").split("\n")
    pad = " " * (indent + 2)
    item.lines = [" " * indent + "- " + lines[0] + newline] + [pad + line + newline for line in lines[1:]]
    item.values = dict(wanted)
