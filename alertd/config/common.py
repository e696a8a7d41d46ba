"""What the operator's files share: durations and paths relative to the file that names them."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from alertd.config.yamlsrc import Pos, Reader, YList, YMap, load

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
