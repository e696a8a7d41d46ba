"""Append one inhibition to ``inhibitions.yaml`` (``alertd inhibitions accept ID``), keeping the operator's file
as written: its comments, order and quoting stay; the new entry is a block added at its end.

The new text is checked on a copy beside the file, read as ``alertd check`` reads it, before the copy replaces
the file: an edit that would leave it invalid (a flow-style ``inhibitions: [...]``, say) changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

from alertd.config.routing import normalise_inhibited, read_inhibitions
from alertd.config.yamlsrc import Reader
from alertd.domain.errors import ConfigError, Problem
from alertd.domain.establishments import Registry
from alertd.domain.routing import Inhibition
from alertd.store.identity import fsync_dir

_ITEM = re.compile(r"^( *)- ", re.MULTILINE)  # the indentation the file's entries already have
_HEADER = "inhibitions:\n"


def quoted(text: str) -> str:
    """``text`` as a YAML double-quoted scalar on one line: JSON's quoting (``"``, ``\\`` and control characters
    escaped), and every other character that is not printable (line and paragraph separators, format
    characters) escaped too, as YAML writes them, so that the value read back is ``text`` exactly."""
    body = json.dumps(text, ensure_ascii=False)
    return "".join(
        c if c.isprintable() else f"\\U{ord(c):08x}" if ord(c) > 0xFFFF else f"\\u{ord(c):04x}" for c in body
    )


def inhibition_block(entry: Inhibition, note: str, indent: str = "  ") -> str:
    """The YAML lines of one inhibition with an establishment and an indicator, under a ``# note`` line. Values
    are quoted (:func:`quoted`): a comment cannot break out of its line or add a key."""
    assert entry.establishment is not None and entry.indicator is not None
    lines = [
        f"{indent}# {' '.join(''.join(c if c.isprintable() else ' ' for c in note).split())}",
        f"{indent}- establishment: {quoted(entry.establishment)}",
        f"{indent}  indicator: {quoted(entry.indicator)}",
        f"{indent}  reason: {quoted(entry.reason)}",
    ]
    if entry.expires is not None:
        lines.append(f"{indent}  expires: {entry.expires.isoformat()}")
    return "\n".join(lines) + "\n"


def already_held(path: Path, entry: Inhibition, registry: Registry) -> Inhibition | None:
    """The entry of ``path`` that already holds ``entry``'s establishment and indicator back for at least as
    long (no feed or type of its own), with its place; None when there is none or the file does not read."""
    if not path.exists():
        return None
    try:
        present = read_inhibitions(path, None, registry, Reader())
    except ConfigError:
        return None  # appending reports what is wrong with the file
    for p in present:
        same = (p.establishment, p.indicator, p.feed, p.type) == (entry.establishment, entry.indicator, None, None)
        if same and (p.expires is None or (entry.expires is not None and p.expires >= entry.expires)):
            return p
    return None


def append_inhibition(path: Path, entry: Inhibition, note: str, registry: Registry) -> Inhibition:
    """Add ``entry`` at the end of ``path`` (made when missing) and return it as read back, with its place; an
    entry already there that holds the same back at least as long is returned instead, the file untouched; a
    :class:`ConfigError` and the file untouched when the result would not read back as valid."""
    entry = replace(entry, indicator=normalise_inhibited(entry.indicator or ""))
    held = already_held(path, entry, registry)
    if held is not None:
        return held
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if not old.strip():
        old = _HEADER
    elif not old.endswith("\n"):
        old += "\n"
    found = _ITEM.search(old)
    text = old + inhibition_block(entry, note, found.group(1) if found else "  ")
    copy = path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        copy.write_text(text, encoding="utf-8")
        if path.exists():
            shutil.copymode(path, copy)
        r = Reader()
        try:
            added = read_inhibitions(copy, None, registry, r)
        except ConfigError as exc:  # not YAML any more
            r.problems.extend(exc.problems)
            added = ()
        # Said of the file itself: the copy is gone when the operator reads the message.
        errors = [replace(p, file=str(path)) for p in r.problems if not p.warning]
        last = added[-1] if added else None
        if errors or last is None or (last.establishment, last.indicator) != (entry.establishment, entry.indicator):
            raise ConfigError(errors or [Problem(str(path), 1, 1, "the new entry did not read back: add it by hand")])
        with copy.open("rb") as file:
            os.fsync(file.fileno())
        copy.replace(path)
        fsync_dir(path.parent)
    finally:
        with contextlib.suppress(OSError):
            copy.unlink()
    _copy, line, column = last.where.rsplit(":", 2)
    return replace(last, where=f"{path}:{line}:{column}")
