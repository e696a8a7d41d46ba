"""Where an establishment's value is written in the registry's files, searched inside that establishment's item.

``alertd check`` puts each warning at the ``file:line:col`` of the value it is about. A national registry holds
100,000 establishments in tens of MB: searching every file for each value, or one pattern made of thousands of
names over all of them, takes minutes, and a name that two establishments share would point at the first one's
line for both. The loader knows which item of which file each establishment came from
(:attr:`~alertd.config.registry.RegistryCache.origins`), so each file holding a warning is cut into its items
once (:func:`~alertd.config.yamlsrc.sequence_items`: a substring search per item) and a value is searched only in
its own item, after the key that holds it: the cost is linear in the size of those files.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from alertd.config.establishment_rules import KEY
from alertd.config.yamlsrc import sequence_items

# A key of an item (``name:``, ``"aliases" :``), not a longer key ending like it (``long_name:``).
_KEYS = {key: re.compile(rf"(?<![\w-])[\"']?{key}[\"']?[ \t]*:") for key in ("name", "aliases", "networks", "domains")}
# An establishment's id, for files whose items the cutter cannot tell apart (a flow sequence): one scan per file.
_ID = re.compile(r"(?<![\w-])[\"']?id[\"']?[ \t]*:[ \t]*[\"']?([^\"'\s,}\]#]+)")
_BEFORE = frozenset(" \t\r\n[{,:'\"-")  # what may stand before a scalar in a list or after a key
_AFTER = frozenset("\r\n]},'\"#")  # what may follow one, after spaces (a plain scalar goes on past a space)


class _File:
    """One registry file's text, its line starts, and its items' spans (None when the file cannot be cut)."""

    def __init__(self, path: Path) -> None:
        self.text = path.read_text(encoding="utf-8-sig", errors="replace")
        self._lines: list[int] | None = None  # line starts, made on the first position asked
        slices = sequence_items(self.text, KEY, strict=False)
        self.items = None if slices is None else [(s.start, s.end) for s in slices]
        self._ids: tuple[list[int], dict[str, int]] | None = None

    def spans(self, number: int, est_id: str) -> list[tuple[int, int]]:
        """Where item ``number`` stands, checked to hold ``est_id``; else, by the ids, the text from its id to the
        next id, then from the previous id to its own (an item may name its establishment before its id)."""
        if self.items is not None and 0 <= number < len(self.items):
            start, end = self.items[number]
            if self.text.find(est_id, start, end) >= 0:
                return [(start, end)]
        if self._ids is None:
            found = list(_ID.finditer(self.text))
            first: dict[str, int] = {}
            for m in found:
                first.setdefault(m.group(1), m.start())
            self._ids = [m.start() for m in found], first
        offsets, first = self._ids
        at = first.get(est_id)
        if at is None:
            return [(0, len(self.text))]
        following = bisect.bisect_right(offsets, at)
        previous = offsets[following - 2] if following >= 2 else 0
        end = offsets[following] if following < len(offsets) else len(self.text)
        return [(at, end), (previous, at)]

    def position(self, at: int) -> tuple[int, int]:
        """The 1-based line and column of offset ``at``."""
        if self._lines is None:
            self._lines = [0, *(m.end() for m in re.finditer("\n", self.text))]
        line = bisect.bisect_right(self._lines, at)
        return line, at - self._lines[line - 1] + 1


class ValueLocator:
    """``locate(establishment id, value, key)`` → ``(file, line, column)`` of the value as written under ``key``
    in that establishment's own item; the key's position, or the item's, when the text does not show the value
    as written (an escape, a line folded)."""

    def __init__(self, origins: Mapping[str, tuple[Path, int]], fallback: str = "registry") -> None:
        self._origins = origins
        self._fallback = fallback
        self._files: dict[Path, _File] = {}

    def __call__(self, est_id: str, value: str, key: str = "name") -> tuple[str, int, int]:
        """Where ``value`` of establishment ``est_id`` is written (``key``: name, aliases, networks, domains)."""
        origin = self._origins.get(est_id)
        if origin is None:
            return self._fallback, 1, 1
        path, number = origin
        file = self._files.get(path)
        if file is None:
            file = self._files[path] = _File(path)
        spans = file.spans(number, est_id)
        text = file.text
        pattern = _KEYS.get(key)
        at = -1
        for start, end in spans:
            keyed = pattern.search(text, start, end) if pattern is not None else None
            at = _whole(text, value, keyed.end() if keyed else start, end)
            if at < 0 and keyed is not None:
                at = _whole(text, value, start, end)  # the key written otherwise (``? name``): anywhere in the item
            if at >= 0:
                break
        if at < 0:
            start, end = spans[0]
            keyed = pattern.search(text, start, end) if pattern is not None else None
            at = keyed.start() if keyed is not None else start
        line, column = file.position(at)
        return str(path), line, column


def origins_by_id(files: Iterable[Path]) -> dict[str, tuple[Path, int]]:
    """Each id's file, found by one scan of each file (item number -1: unknown), for a registry loaded without a
    :class:`~alertd.config.registry.RegistryCache`."""
    origins: dict[str, tuple[Path, int]] = {}
    for path in files:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        for found in _ID.finditer(text):
            origins.setdefault(found.group(1), (path, -1))
    return origins


def _whole(text: str, value: str, start: int, end: int) -> int:
    """The first offset of ``value`` in ``text[start:end]`` standing as a whole scalar (not inside a longer one),
    else its first occurrence at all, else -1."""
    first = at = text.find(value, start, end)
    while at >= 0:
        after = at + len(value)
        while after < end and text[after] in " \t":
            after += 1
        if text[at - 1 : at] in _BEFORE and (after >= end or text[after] in _AFTER):
            return at
        at = text.find(value, at + 1, end)
    return first


__all__ = ["ValueLocator", "origins_by_id"]
