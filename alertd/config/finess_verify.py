"""The import checks its own output before it replaces a file: the text it would write is parsed again and every
item compared with what it was and what FINESS wanted.

The import edits lines (:mod:`alertd.config.finess_items`), and lines can lie: a quoted name that runs onto a line
that looks like a key, an anchor that another item's alias needs, a merge key. Rather than trust that every such
shape was foreseen, each file to be written is parsed as the registry loader parses it and compared, item by item,
with the file as it stands: an item the import left alone reads the same, an edited item has the values FINESS
wanted in the keys it changed and the same values everywhere else, a new item holds FINESS's values only. Any
difference refuses the whole import, naming the item where it stands now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alertd.config.establishment_rules import KEY
from alertd.config.finess import FinessError
from alertd.config.yamlsrc import FastParseError, loads, loads_fast
from alertd.domain.errors import ConfigError

_ADVICE = "nothing written; write that item's FINESS keys as plain one-line values (or move it out of the folder)"


@dataclass(frozen=True, slots=True)
class Expected:
    """What one item of a file to be written must read as."""

    where: str  # "file:line" of the item as it stands now, or "new item <FINESS number>"
    first_line: int  # its first line in the text to be written
    old: int | None  # its index among the items of the file as it stands; None for a new item
    changed: tuple[str, ...] = ()  # the owned keys the import rewrote
    wanted: dict[str, Any] | None = None  # their values (every owned key for a new item)
    whole: bool = False  # rewritten whole: the operator's values were re-dumped from their text, so compare text


def _items(text: str, file: str, fast: bool) -> list[Any]:
    document = loads_fast(text) if fast else loads(text, file, as_text=True)
    listed = document.get(KEY) if isinstance(document, dict) else None
    return list(listed) if isinstance(listed, list) else []


def _plain(value: Any) -> Any:
    """A value as text, the way the registry reads an owned value: numbers as their digits, empty as absent."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v not in (None, "")} or None
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return None if value in (None, "") else str(value)


def _loose(value: Any) -> Any:
    """A value compared as text, for an item rewritten whole: ``2200`` and ``'2200'``, ``true`` and ``'true'``
    are the same value once read by the registry."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return {str(k): _loose(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_loose(v) for v in value]
    return value if value is None else str(value)


def _identity(value: Any) -> Any:
    return value


def _owner(expected: list[Expected], line: int) -> str:
    """The item whose lines hold ``line`` of the text to be written."""
    holder = "the file's head"
    for item in expected:
        if item.first_line > line:
            break
        holder = item.where
    return holder


def verify(file: str, old_text: str | None, new_text: str, expected: list[Expected]) -> list[Any]:
    """Check the text to be written against ``expected`` (see the module's docstring) and return its items;
    raises :class:`FinessError` naming the item at fault."""
    try:
        try:
            new = _items(new_text, file, True)
            old = _items(old_text, file, True) if old_text is not None else []
        except FastParseError:  # a shape yaml-rs refuses: PyYAML reads both, the same way, and says where
            new = _items(new_text, file, False)
            old = _items(old_text, file, False) if old_text is not None else []
    except ConfigError as exc:
        problem = exc.problems[0]
        raise FinessError(
            f"{_owner(expected, problem.line)}: the import's edit of this item would leave {file} unreadable "
            f"({problem.message}); {_ADVICE}"
        ) from None
    if len(new) != len(expected):
        raise FinessError(f"{file}: the import would write {len(new)} items, not {len(expected)}; {_ADVICE}")
    for item, value in zip(expected, new, strict=True):
        if item.old is None:
            assert item.wanted is not None  # a new item has FINESS's values
            if not isinstance(value, dict) or {k: _plain(v) for k, v in value.items()} != {
                k: _plain(v) for k, v in item.wanted.items() if _plain(v) is not None
            }:
                raise FinessError(f"{file}: {item.where} would not read as FINESS's values; {_ADVICE}")
            continue
        before = old[item.old] if item.old < len(old) else None
        if item.wanted is None:
            if value != before:
                raise FinessError(f"{item.where}: the import would change this item it does not edit; {_ADVICE}")
            continue
        if not isinstance(value, dict) or not isinstance(before, dict):
            raise FinessError(f"{item.where}: this item would not read as a mapping after the edit; {_ADVICE}")
        same = _loose if item.whole else _identity
        kept = {k: same(v) for k, v in before.items() if k not in item.changed}
        if {k: same(v) for k, v in value.items() if k not in item.changed} != kept:
            lost = sorted({str(k) for k in kept} ^ {str(k) for k in value if k not in item.changed})
            differ = lost or sorted(str(k) for k in kept if value.get(k) != kept[k])
            raise FinessError(
                f"{item.where}: the edit would change this item's {', '.join(differ)} (the operator's values "
                f"or ones FINESS did not change); {_ADVICE}"
            )
        for key in item.changed:
            if _plain(value.get(key)) != _plain(item.wanted[key]):
                raise FinessError(f"{item.where}: '{key}' would not read as FINESS's value after the edit; {_ADVICE}")
    return new
