"""YAML that remembers where each key and value stood, so every config error can name ``file:line:col``.

Mappings load as :class:`YMap` and sequences as :class:`YList`: ordinary ``dict`` and ``list`` that also carry
the positions of their keys, values and items. Scalars load as plain Python values (YAML 1.1 safe types).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import yaml

from .errors import ConfigError, Problem

try:  # the C parser when PyYAML was built with libyaml; the pure one otherwise
    _BaseLoader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - depends on the wheel
    _BaseLoader = yaml.SafeLoader


class Pos(NamedTuple):
    """A 1-based position in a file."""

    file: str
    line: int
    column: int


class YMap(dict[Any, Any]):
    """A mapping with the position of itself, of each key and of each value."""

    pos: Pos
    key_pos: dict[Any, Pos]
    value_pos: dict[Any, Pos]


class YList(list[Any]):
    """A sequence with the position of itself and of each item."""

    pos: Pos
    item_pos: list[Pos]


def _pos(loader: Any, node: yaml.Node) -> Pos:
    mark = node.start_mark
    return Pos(loader.alertd_file, mark.line + 1, mark.column + 1)


def _construct_map(loader: Any, node: yaml.MappingNode) -> YMap:
    loader.flatten_mapping(node)
    result = YMap()
    result.pos = _pos(loader, node)
    result.key_pos = {}
    result.value_pos = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        kpos = _pos(loader, key_node)
        try:
            hash(key)
        except TypeError:
            loader.alertd_problems.append(Problem(*kpos, "a mapping key must be a plain value"))
            continue
        if key in result:
            first = result.key_pos[key]
            loader.alertd_problems.append(
                Problem(*kpos, f"duplicate key {key!r} (first given at line {first.line}); keep only one")
            )
            continue
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_pos[key] = kpos
        result.value_pos[key] = _pos(loader, value_node)
    return result


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> YList:
    result = YList(loader.construct_object(child, deep=True) for child in node.value)
    result.pos = _pos(loader, node)
    result.item_pos = [_pos(loader, child) for child in node.value]
    return result


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    pass


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def loads(text: str | bytes, file: str) -> Any:
    """Parse one YAML document; syntax errors and duplicate keys raise :class:`ConfigError` with positions."""
    loader = _Loader(text)
    loader.alertd_file = file
    loader.alertd_problems = []
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([Problem(file, line, col, f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, 1, 1, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if loader.alertd_problems:
        raise ConfigError(loader.alertd_problems)
    return data


def load(path: Path) -> Any:
    """Read and parse a YAML file; an unreadable file is a :class:`ConfigError` at line 1."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"not UTF-8 text (byte {exc.start})")]) from None
    return loads(text, str(path))


_MISSING: Any = object()
_TYPE_NAMES = {str: "a string", int: "a whole number", bool: "true or false", float: "a number"}


class Reader:
    """Checks loaded YAML against what a config file allows, collecting every problem instead of the first.

    Each getter returns the value (converted) or ``None`` after recording a problem, so one pass over a file
    reports all of its mistakes.
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(pos.file, pos.line, pos.column, message))

    def warn(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(pos.file, pos.line, pos.column, message, warning=True))

    @property
    def failed(self) -> bool:
        return any(not p.warning for p in self.problems)

    def mapping(self, value: Any, pos: Pos, what: str) -> YMap | None:
        if isinstance(value, YMap):
            return value
        self.error(pos, f"{what} must be a mapping of keys to values, not {_describe(value)}")
        return None

    def sequence(self, value: Any, pos: Pos, what: str) -> YList | None:
        if isinstance(value, YList):
            return value
        self.error(pos, f"{what} must be a list, not {_describe(value)}")
        return None

    def keys(self, m: YMap, what: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> bool:
        """Reject unknown keys and report missing required ones; True when the keys are right."""
        ok = True
        allowed = required + optional
        for key in m:
            if key not in allowed:
                ok = False
                self.error(m.key_pos[key], f"unknown key {key!r} in {what}; allowed: {', '.join(allowed)}")
        for key in required:
            if key not in m:
                ok = False
                self.error(m.pos, f"{what} lacks required key {key!r}")
        return ok

    def value(self, m: YMap, key: str, typ: type, default: Any = _MISSING) -> Any:
        """``m[key]`` when it has type ``typ``; ``default`` when absent; ``None`` after a type problem."""
        if key not in m:
            return None if default is _MISSING else default
        value = m[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if typ is str and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # an id such as 330781196 written without quotes
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            self.error(
                m.value_pos[key],
                f"{key!r} must be {_TYPE_NAMES.get(typ, typ.__name__)}, not {_describe(value)}",
            )
            return None
        return value

    def strings(self, m: YMap, key: str) -> tuple[tuple[str, Pos], ...]:
        """A value or a list of values, as strings with their positions; ``()`` when absent."""
        if key not in m:
            return ()
        value = m[key]
        if isinstance(value, YList):
            items = list(zip(value, value.item_pos, strict=True))
        else:
            items = [(value, m.value_pos[key])]
        result = []
        for item, pos in items:
            if isinstance(item, bool) or not isinstance(item, str | int):
                self.error(pos, f"{key!r} takes strings, not {_describe(item)}")
                continue
            result.append((str(item), pos))
        return tuple(result)

    def choice(self, m: YMap, key: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.value(m, key, str, default)
        if value is not None and value not in allowed:
            self.error(m.value_pos[key], f"{key!r} is {value!r}; allowed: {', '.join(allowed)}")
            return None
        return value  # type: ignore[no-any-return]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, YMap):
        return "a mapping"
    if isinstance(value, YList):
        return "a list"
    return f"{type(value).__name__} {value!r}"
