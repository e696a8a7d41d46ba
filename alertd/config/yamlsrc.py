"""YAML that remembers where each key and value stood, so every config error can name ``file:line:col``.

Mappings load as :class:`YMap` and sequences as :class:`YList`: ordinary ``dict`` and ``list`` that also carry
the positions of their keys, values and items. Scalars load as plain Python values (YAML 1.1 safe types), or,
with ``as_text=True``, as the text written (``000000011`` stays ``"000000011"``, ``no`` stays ``"no"``).

Building positions costs: PyYAML reads about 1 MB/s that way. Large files that hold only text (the registry) can
first go through :func:`loads_fast`, a Rust parser (yaml-rs) about 25 times faster that gives plain values and no
positions, and come back here only for the parts that need a position. :func:`ambiguous_scalars` and
:func:`sequence_items` are the tools that make that safe; :func:`position` turns a path inside the values (keys
and list indexes) into the place it was written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from alertd.config.sources import read
from alertd.config.yamlwords import explain, near_miss
from alertd.domain.errors import ConfigError, Problem

try:  # the fast parser; without it every file takes the PyYAML path, slower but with the same result
    import yaml_rs
except ImportError:  # pragma: no cover - yaml-rs is a dependency; kept optional on purpose
    yaml_rs = None  # type: ignore[assignment]

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
    return Pos(loader.alertd_file, mark.line + loader.alertd_first_line, mark.column + 1)


def position(node: Any, pos: Pos, path: Sequence[object], *, on_key: bool = False) -> Pos:
    """Where the value at ``path`` (keys and list indexes) inside ``node`` stands, ``node`` itself standing at
    ``pos``; with ``on_key``, where the key at the end of the path stands. A path that leaves the values read
    with positions ends at the last place it reached."""
    last = len(path) - 1
    for number, step in enumerate(path):
        if isinstance(node, YMap) and step in node.value_pos:
            if on_key and number == last:
                return node.key_pos[step]
            pos, node = node.value_pos[step], node[step]
        elif isinstance(node, YList) and type(step) is int and 0 <= step < len(node):
            pos, node = node.item_pos[step], node[step]
        else:
            break
    return pos


def _construct_map(loader: Any, node: yaml.MappingNode) -> YMap:
    loader.flatten_mapping(node)
    written = loader.alertd_written[id(node)]
    result = YMap()
    result.pos = _pos(loader, node)
    result.key_pos = {}
    result.value_pos = {}
    merged: set[Any] = set()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        kpos = _pos(loader, key_node)
        try:
            hash(key)
        except TypeError:
            loader.alertd_problems.append(Problem(*kpos, "a mapping key must be a plain value"))
            continue
        if id(key_node) not in written:
            merged.add(key)  # merged mappings come first; a later one and the keys written override them
        elif key in result and key not in merged:
            first = result.key_pos[key]
            loader.alertd_problems.append(
                Problem(*kpos, f"duplicate key {key!r} (first given at line {first.line}); keep only one")
            )
            continue
        else:
            merged.discard(key)
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
    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """Merge keys (``<<``) as PyYAML does, remembering which keys were written in the mapping itself: those
        may override merged ones without being duplicates. PyYAML flattens merged mappings first, maybe before
        their own construction, hence a record per node taken before its first flattening."""
        self.alertd_written.setdefault(
            id(node), {id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"}
        )
        super().flatten_mapping(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


class _TextLoader(_Loader):
    """Plain scalars as written: no YAML 1.1 booleans, octals, sexagesimals or dates, only text (and null)."""


def _construct_text(loader: Any, node: yaml.ScalarNode) -> str:
    return str(loader.construct_scalar(node))


for _tag in ("bool", "int", "float", "timestamp", "value"):
    _TextLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _construct_text)


# How the problems of a file that could not be read at all begin (below): the cause of every other problem in it,
# and of the "unknown" names in the files that refer to it.
_UNREADABLE = ("invalid YAML: ", "cannot read file: ", "not UTF-8 text")


def unreadable(problem: Problem) -> bool:
    """Whether ``problem`` says its file could not be read at all (not YAML, not UTF-8, no access)."""
    return problem.message.startswith(_UNREADABLE)


class YAMLSyntaxError(ConfigError):
    """The text is not YAML (as opposed to YAML with a duplicate key); its problem says where PyYAML gave up."""


def loads(text: str | bytes, file: str, *, as_text: bool = False, first_line: int = 1) -> Any:
    """Parse one YAML document; syntax errors and duplicate keys raise :class:`ConfigError` with positions.

    ``as_text`` keeps every non-null scalar as the text written; ``first_line`` is the line of the file where
    ``text`` starts (when it is a slice from :func:`sequence_items`), so positions stay those of the file.
    """
    loader = (_TextLoader if as_text else _Loader)(text)
    loader.alertd_file = file
    loader.alertd_first_line = first_line
    loader.alertd_problems = []
    loader.alertd_written = {}
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        raise YAMLSyntaxError([_syntax_problem(exc, text, file, first_line)]) from None
    except yaml.YAMLError as exc:
        raise YAMLSyntaxError([Problem(file, 1, 1, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    if loader.alertd_problems:
        raise ConfigError(loader.alertd_problems)
    return data


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str | bytes, file: str, first_line: int) -> Problem:
    """The cause in plain words at the line where it is (see :mod:`~alertd.config.yamlwords`), the parser's words
    kept as a detail; only the parser's words, at its mark, for the errors that are not explained."""
    said = " ".join(part for part in (exc.context, exc.problem) if part)
    as_text = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    cause = explain(exc, as_text, first_line)
    if cause is not None:
        return Problem(file, cause.line + first_line, cause.column + 1, f"invalid YAML: {cause.words} (parser: {said})")
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + first_line, mark.column + 1) if mark else (first_line, 1)
    return Problem(file, line, col, f"invalid YAML: {said}")


def decode(raw: bytes, file: str) -> str:
    """UTF-8 text, or a :class:`ConfigError` at line 1 naming the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, 1, 1, f"not UTF-8 text (byte {exc.start})")]) from None


def load(path: Path) -> Any:
    """Read and parse a YAML file; an unreadable file is a :class:`ConfigError` at line 1."""
    return loads(decode(read(path), str(path)), str(path))


# --- the fast path: plain values without positions ------------------------------------------------------------

FAST_PARSER = yaml_rs is not None


class FastParseError(ValueError):
    """The fast parser refused the text (syntax, duplicate key, ...); :func:`loads` will say where and why."""


def loads_fast(text: str) -> Any:
    """Parse one YAML document with yaml-rs into plain ``dict``, ``list`` and scalars, without positions.

    Scalars follow YAML 1.2 (``yes`` is text, ``0755`` is 755); dates stay text; a duplicate key is refused.
    Several documents come back as a list of them. Use it only where :func:`ambiguous_scalars` says that typed
    scalars read the same as their text, and turn to :func:`loads` for any position.
    """
    if yaml_rs is None:  # pragma: no cover - see the import
        raise FastParseError("the fast YAML parser (yaml-rs) is not installed")
    try:
        return yaml_rs.loads(
            text.removeprefix("\ufeff"),  # PyYAML skips a byte-order mark; yaml-rs would make it part of a key
            parse_datetime=False,
            duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error,
        )
    except Exception as exc:  # a refusal, an alias bomb, a recursion limit: PyYAML will tell the operator
        raise FastParseError(str(exc)) from None


# A plain scalar starts after a separator: a space, a line break or a flow indicator (or at the very start).
# Each search leads with a literal byte, which the regular expression engine finds at memchr speed.
_SEP = rb"[ \t\r\n\[{,:]"
_AMBIGUOUS = tuple(
    re.compile(pattern)
    for pattern in (
        rb"0(?<=" + _SEP + rb"0)",  # 000000011, 0755, 0x1F
        rb"\+(?<=" + _SEP + rb"\+)",  # +5
        rb"!(?<=" + _SEP + rb"!)",  # a tag: !!binary, !!int "5"
        rb"_(?<=[0-9 \t\r\n\[{,:]_)",  # 1_000, _12, 12_
        rb"-(?=[0+!_])(?<=" + _SEP + rb"-)",  # -0755
    )
)


def ambiguous_scalars(raw: bytes) -> list[int]:
    """Byte offsets of plain scalars whose typed value may not read back as the text written (sorted).

    :func:`loads_fast` turns ``330781196`` into an int, whose ``str()`` is the text written; but ``000000011``,
    ``+5``, ``1_000``, ``0x1F`` or a tagged ``!!binary`` would not read back the same. Those begin with ``0``,
    ``+``, ``_`` or ``!`` after a separator (or after ``-``), or carry ``_`` after a digit. Five searches for a
    byte each (about 0.25 s for 100 MB); they over-report (a comment, a quoted string, an IPv6 ``::0``), which
    only sends the scalar's part of the file through PyYAML.
    """
    found = [m.start() for pattern in _AMBIGUOUS for m in pattern.finditer(raw)]
    if raw[:1] in (b"0", b"+", b"!", b"_") or (raw[:1] == b"-" and raw[1:2] in (b"0", b"+", b"!", b"_")):
        found.append(0)
    return sorted(found)


class Slice(NamedTuple):
    """One item of a block sequence: the file line where it starts (1-based) and its span in the text."""

    line: int
    start: int
    end: int


def _counts_lines_alike(text: str) -> bool:
    """Whether PyYAML counts exactly the ``\n`` line breaks (not a lone CR, NEL or Unicode separators)."""
    if "\x85" in text or "\u2028" in text or "\u2029" in text:
        return False
    return "\r" not in text or text.count("\r") == text.count("\r\n")


def sequence_items(text: str, key: str, *, strict: bool = True) -> list[Slice] | None:
    """Cut a file shaped ``key:`` then a block sequence into one slice per item; None for any other shape.

    Each slice starts at the beginning of its item's line (a ``-`` at the indentation of the first item) and
    parses on its own as a one-item sequence whose positions are those of the file once :func:`loads` is given
    its ``first_line`` — unless an item leans on another's anchor (see :func:`anchored`). None when the file has
    another shape (a flow sequence, a document marker before the key, a line break that PyYAML counts
    differently), so that callers parse the whole file instead. Lines indented deeper than the items, comments
    and blank lines belong to the item above: a block scalar or a key of the item is always indented deeper.

    The cutting costs a substring search per item. ``strict`` also checks, with a regular expression over every
    line (about 0.5 s for 100 MB), that no other line stands at the items' indentation or left of it, for
    callers that cannot check the number of slices against the items a parser found.
    """
    header = re.compile(rf"^{re.escape(key)}:[ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE).search(text)
    if header is None or not _counts_lines_alike(text):
        return None
    before = text[: header.start()].removeprefix("\ufeff").splitlines()
    if any(line.strip() and not line.lstrip().startswith("#") for line in before):
        return None
    first = re.compile(r"\n( *)(?=[^ \t\r\n#])").search(text, header.end())
    if first is None:
        return None
    indent = len(first.group(1))
    needle = "\n" + " " * indent + "-"
    starts: list[int] = []
    at = first.start()
    while at != -1:
        if text[at + len(needle) : at + len(needle) + 1] in ("", " ", "\r", "\n"):
            starts.append(at + 1)
        at = text.find(needle, at + len(needle))
    if not starts or starts[0] != first.start() + 1:
        return None
    if strict:
        known = set(starts)
        lines = re.compile(rf"\n {{0,{indent}}}(?=[^ \t\r\n#])")
        if any(found.start() + 1 not in known for found in lines.finditer(text, header.end())):
            return None
    items: list[Slice] = []
    line = text.count("\n", 0, header.end()) + 1
    pos = header.end()
    for number, start in enumerate(starts):
        line += text.count("\n", pos, start)
        pos = start
        items.append(Slice(line, start, starts[number + 1] if number + 1 < len(starts) else len(text)))
    return items


def anchored(text: str) -> bool:
    """Whether the text defines an anchor (``&name``), on which a slice of it might lean."""
    at = text.find("&")
    while at != -1:
        if (at == 0 or text[at - 1] in " \t\r\n[{,") and text[at + 1 : at + 2] not in ("", " ", "\t", "\r", "\n", ","):
            return True
        at = text.find("&", at + 1)
    return False


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
        self.error(pos, f"{what} must be a mapping of keys to values, not {describe(value)}")
        return None

    def sequence(self, value: Any, pos: Pos, what: str) -> YList | None:
        if isinstance(value, YList):
            return value
        self.error(pos, f"{what} must be a list, not {describe(value)}")
        return None

    def keys(self, m: YMap, what: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> bool:
        """Reject unknown keys and report missing required ones; True when the keys are right."""
        ok = True
        allowed = required + optional
        for key in m:
            if key not in allowed:
                ok = False
                hint = near_miss(key, allowed)
                self.error(m.key_pos[key], f"unknown key {key!r} in {what}{hint}; allowed: {', '.join(allowed)}")
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
                f"{key!r} must be {_TYPE_NAMES.get(typ, typ.__name__)}, not {describe(value)}",
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
                self.error(pos, f"{key!r} takes strings, not {describe(item)}")
                continue
            result.append((str(item), pos))
        return tuple(result)

    def choice(self, m: YMap, key: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        value = self.value(m, key, str, default)
        if value is not None and value not in allowed:
            hint = near_miss(value, allowed)
            self.error(m.value_pos[key], f"{key!r} is {value!r}{hint}; allowed: {', '.join(allowed)}")
            return None
        return value  # type: ignore[no-any-return]


def describe(value: Any) -> str:
    """A value as a message names it: ``a mapping``, ``a list``, ``nothing (null)``, or its type and repr.

    Plain dicts and lists (the fast parser's) read as mappings and lists, like the positional ``YMap``/``YList``.
    """
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"
