"""What the operator's files share: durations, paths relative to the file that names them, listen addresses, and
whether a file looks cut."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from alertd.config.yamlsrc import Pos, Reader, YList, YMap, load
from alertd.domain.errors import Problem

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h``, ``1d``, ``2w`` as a timedelta; ValueError otherwise."""
    found = _DURATION.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit: 30s, 15m, 1h, 1d, 2w")
    return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])


def resolve_path(base: Path, text: str) -> Path:
    """A path written in the file ``base``, made absolute: relative paths are relative to that file."""
    return (base.parent / Path(text).expanduser()).resolve()


def read_duration(r: Reader, m: YMap, key: str) -> timedelta | None:
    """The duration under ``key`` (at least 1s), or None with the problem recorded at its position."""
    text = r.value(m, key, str)
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError as exc:
        r.error(m.value_pos[key], str(exc))
        return None
    if value < timedelta(seconds=1):
        r.error(m.value_pos[key], "an interval must be at least 1s")
        return None
    return value


def read_listing(path: Path, name: str, key: str, r: Reader, *, may_be_empty: bool = False) -> YList | None:
    """The list under the one top-level ``key`` of the file ``name`` (``feeds.yaml``...), or None with the problem
    recorded in ``r``; ``may_be_empty`` lets ``key:`` with nothing after it stand for no entry at all."""
    top = r.mapping(load(path), Pos(str(path), 1, 1), name)
    if top is None or not r.keys(top, name, (key,)) or (may_be_empty and top[key] is None):
        return None
    return r.sequence(top[key], top.value_pos[key], repr(key))


def looks_cut(path: Path) -> bool:
    """Whether a non-empty file does not end with a line break: every editor ends a file with one, so it was
    probably cut while written (a full disk, a copy interrupted) — and YAML cut between two entries is still
    valid YAML, only shorter. Reads the last byte only."""
    try:
        with path.open("rb") as file:
            if file.seek(0, 2) == 0:
                return False
            file.seek(-1, 2)
            return file.read(1) != b"\n"
    except OSError:
        return False  # unreadable: reading it for real reports that


def cut_warning(path: Path) -> Problem:
    """The warning for a file that :func:`looks_cut`, at its last line."""
    with path.open("rb") as file:
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: file.read(1 << 20), b"")) + 1
    return Problem(str(path), lines, 1, CUT_WORDS, warning=True)


CUT_WORDS = (
    "the file does not end with a line break, so it may have been cut while written: check that its last entry is "
    "whole, then end the file with a line break"
)
"""What :func:`cut_warning` says: the cause of every other problem of its file, so it is printed first."""


def parse_listen(text: str, key: str = "http.listen") -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into (host, port); ValueError with a message fit for ``alertd check``."""
    example = "expected host:port such as 127.0.0.1:9108 or [::1]:9108"
    text = text.strip()
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or not rest.startswith(":"):
            raise ValueError(f"{key} {text!r}: {example}")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or ":" in host:
            raise ValueError(f"{key} {text!r}: {example} (an IPv6 address goes in brackets)")
    if not host:
        raise ValueError(f"{key} {text!r}: no address; give one, e.g. 127.0.0.1:9108 (0.0.0.0:9108 for all)")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{key} {text!r}: the port must be a number from 0 to 65535")
    return host, int(port_text)
