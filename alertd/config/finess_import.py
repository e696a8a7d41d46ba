"""``alertd registry import finess``: the FINESS extract merged into the registry folder, one file per department.

FINESS owns six keys of an establishment — ``id`` (the FINESS number), ``name``, ``category``, ``city``,
``postcode`` and the ``finess`` block — and the import rewrites those only. Everything else in the folder is the
operator's: the other keys (aliases, acronyms, contacts, networks, asns, domains, software, tags, language, kind,
region, country), the comments, the blank lines, the order of items and the file each item is in. So the import
edits the text, not a parsed tree: each registry file is cut into its items (:func:`~alertd.config.yamlsrc.
sequence_items`), each item into its top-level keys, and only the lines of a FINESS-owned key whose value changed
are replaced. A round-trip YAML library (ruamel.yaml) keeps comments too, but reads and writes the 95,000 items of
a national registry in minutes where this takes seconds (see the README, "Importing FINESS").

An establishment that the extract no longer lists is marked closed (``finess.closed``: the date of the import),
never deleted; one that comes back is reopened. New establishments go to ``finess-<department>.yaml``, in FINESS
number order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from alertd.config.establishment_rules import KEY
from alertd.config.finess import FinessError, FinessRecord, read_finess
from alertd.config.registry import registry_files
from alertd.config.yamlsrc import loads, sequence_items
from alertd.domain.errors import ConfigError

OWNED = ("id", "name", "category", "city", "postcode", "finess")  # in the order a new item writes them
FINESS_FIELDS = ("et", "ej", "long_name", "category_label", "address", "department", "opened", "updated", "closed")

_HEADER = """\
# FINESS establishments of department {department}, written by `alertd registry import finess`.
# A re-import rewrites id, name, category, city, postcode and the finess block only: every other key (aliases,
# acronyms, contacts, networks, domains, software, tags...) and every comment is yours and is kept as written.
"""
_DASH = re.compile(r"( *)-(?: +|(?=\r?\n|$))")
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(?=[ \t]|\r?\n|$)")
_SPECIAL = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})
_ESCAPE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff]")  # printable to JSON, line breaks or marks to YAML


@dataclass(slots=True)
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    read: int = 0  # establishments read from the extract
    files_written: list[Path] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    reopened: int = 0
    rewritten: list[str] = field(default_factory=list)  # "file:line" of items rewritten whole (flow style)


def render_scalar(value: str) -> str:
    """A string as a YAML scalar that every YAML reader reads back as that string: plain when it is words
    (``CH JOSEPH IMBERT D'ARLES``), double-quoted otherwise (numbers, dates, ``yes``, a ``:`` or ``#``)."""
    words = value[:1].isalpha() and ":" not in value and "#" not in value and value.lower() not in _SPECIAL
    if words and value.isprintable() and value == value.strip():
        return value
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'  # numbers and dates: nothing to escape
    quoted = json.dumps(value, ensure_ascii=False)  # JSON's escapes are YAML's escapes
    return _ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _finess_values(record: FinessRecord, closed: str = "") -> dict[str, str]:
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


def _owned_values(record: FinessRecord) -> dict[str, Any]:
    return {
        "id": record.et,
        "name": record.name,
        "category": record.category,
        "city": record.city,
        "postcode": record.postcode,
        "finess": _finess_values(record),
    }


def _render_key(key: str, value: Any) -> list[str]:
    """The lines of one FINESS-owned key, unindented; none for an empty value."""
    if key != "finess":
        return [f"{key}: {render_scalar(value)}"] if value else []
    return ["finess:"] + [f"  {k}: {render_scalar(v)}" for k in FINESS_FIELDS if (v := value.get(k))]


def render_item(record: FinessRecord, indent: int = 2, newline: str = "\n") -> str:
    """A new registry item for a FINESS record, its dash at ``indent``."""
    lines: list[str] = []
    values = _owned_values(record)
    for key in OWNED:
        lines += _render_key(key, values[key])
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


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_filler(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


@dataclass(slots=True)
class _Item:
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

    @property
    def id(self) -> str | None:
        value = self.values.get("id")
        return value if isinstance(value, str) else None


def _cut_item(text: str, line: int) -> _Item:
    lines = text.splitlines(keepends=True)
    dash = _DASH.match(lines[0])
    assert dash is not None  # sequence_items cut at a dash
    tail: list[str] = []
    while len(lines) > 1 and _is_filler(lines[-1]) and _indent(lines[-1]) <= len(dash.group(1)):
        tail.insert(0, lines.pop())
    item = _Item(lines, line, tail)
    first = lines[0][dash.end() :]
    if first.strip() and not first.lstrip().startswith("#"):
        start, item.key_indent = 0, dash.end()
    else:
        start = next((i for i in range(1, len(lines)) if not _is_filler(lines[i])), len(lines))
        item.key_indent = _indent(lines[start]) if start < len(lines) else dash.end()
    starts: list[tuple[str, int]] = []
    for number in range(start, len(lines)):
        text_at = lines[number][item.key_indent :] if number else first
        if number and (_indent(lines[number]) != item.key_indent or _is_filler(lines[number])):
            if _indent(lines[number]) < item.key_indent and not _is_filler(lines[number]):
                item.block = False
            continue
        found = _KEY.match(text_at)
        if found is None:
            if text_at.startswith("- "):  # a sequence written at its key's indentation: part of that key
                continue
            item.block = False
            break
        starts.append((found.group(1), number))
    for (key, begin), following in zip(starts, [*starts[1:], ("", len(lines))], strict=False):
        end = following[1]
        while end - 1 > begin and _is_filler(lines[end - 1]):
            end -= 1
        if key in item.keys:
            item.block = False  # a duplicate key: PyYAML will say where
        item.keys[key] = (begin, end)
    if item.block:
        item.simple = _read_owned(item)
    return item


def _read_owned(item: _Item) -> bool:
    """The owned values read from the item's lines; False when one is not written the simple way."""
    for key in OWNED:
        span = item.keys.get(key)
        if span is None:
            continue
        begin, end = span
        head = item.lines[begin][item.key_indent :] if begin else item.lines[0][_DASH.match(item.lines[0]).end() :]  # type: ignore[union-attr]
        rest = head.split(":", 1)[1]
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
            if _is_filler(text):
                continue
            inner = _indent(text) if inner is None else inner
            found = _KEY.match(text[inner:]) if _indent(text) == inner else None
            scalar = _scalar(text[inner:].split(":", 1)[1]) if found else None
            if found is None or scalar is None or found.group(1) in block:
                return False
            block[found.group(1)] = scalar[0]
        item.values[key] = block
    return True


def _plain(value: Any) -> Any:
    """PyYAML's positioned mappings and lists as plain ones (for yaml.safe_dump)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


# --- one registry file --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _File:
    path: Path
    head: str  # the text through the ``establishments:`` line
    items: list[_Item]
    newline: str
    item_indent: int = 2
    lead: str = ""  # blank and comment lines between that line and the first item: they are about the first item
    new: list[tuple[str, str]] = field(default_factory=list)  # (FINESS number, item text) to add
    changed: bool = False

    def text(self) -> str:
        """The file's text with its items as edited and the new ones in FINESS number order."""
        out = [self.head]
        pending = sorted(self.new)
        at = 0
        for number, item in enumerate(self.items):
            body = "".join(item.lines)
            if not body.endswith("\n"):  # the last line of a file without a final line break
                body += self.newline
            while at < len(pending) and item.id is not None and pending[at][0] < item.id:
                out.append(pending[at][1])
                at += 1
            if number == 0:
                out.append(self.lead)
            out.append(body)
            out.append("".join(item.tail))
        if not self.items:
            out.append(self.lead)
        out += [text for _, text in pending[at:]]
        return "".join(out)


def _split_tail(piece: str, dash_indent: int) -> tuple[str, str]:
    """An item's text without, and then with only, its trailing blank and comment lines at the dash's
    indentation (those are about the next item)."""
    end = len(piece)
    while True:
        start = piece.rfind("\n", 0, end - 1) + 1
        if start == 0 or not _is_filler(piece[start:end]) or _indent(piece[start:end]) > dash_indent:
            return piece[:end], piece[end:]
        end = start


def _unchanged(text: str, at: int, end: int, key_indent: int) -> bool:
    """Whether nothing from ``at`` to ``end`` continues the FINESS-owned keys just before it: the next line that
    is not blank or a comment starts another key of the item (or there is none)."""
    while at < end:
        stop = text.find("\n", at, end)
        stop = end if stop == -1 else stop + 1
        line = text[at:stop]
        if not _is_filler(line):
            return _indent(line) == key_indent
        at = stop
    return True


_HEADER_LINE = re.compile(rf"^{KEY}:[ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)  # as sequence_items finds it
_FAST_ID = re.compile(r'( *)- id: "([0-9AB]{9})"\r?\n')


def _read_file(path: Path, records: dict[str, FinessRecord]) -> _File:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FinessError(f"{path}:1: not UTF-8 text (byte {exc.start}); fix it before importing") from None
    newline = "\r\n" if "\r\n" in text else "\n"
    slices = sequence_items(text, KEY)
    if slices is None:
        document = loads(text, str(path), as_text=True)  # a syntax error: ConfigError with its position
        listed = document.get(KEY) if isinstance(document, dict) else None
        if listed:
            raise FinessError(
                f"{path}:1: the import edits registry files written as '{KEY}:' followed by a block list "
                "('- id: ...' items, one under the other); write this one so, or move it out of the folder"
            )
        head = "".join(line for line in text.splitlines(keepends=True) if line.lstrip().startswith("#"))
        return _File(path, head + f"{KEY}:{newline}", [], newline)
    items = []
    for piece in slices:
        # The common case first: an item whose FINESS-owned lines are what this import would write.
        found = _FAST_ID.match(text, piece.start)
        record = records.get(found.group(2)) if found else None
        if found and record:
            rendered = render_item(record, len(found.group(1)), newline)
            after = piece.start + len(rendered)
            if text.startswith(rendered, piece.start) and _unchanged(text, after, piece.end, len(found.group(1)) + 2):
                body, tail = _split_tail(text[piece.start : piece.end], len(found.group(1)))
                item = _Item([body], piece.line, [tail] if tail else [], simple=True)
                item.values = _owned_values(record)
                items.append(item)
                continue
        items.append(_cut_item(text[piece.start : piece.end], piece.line))
    whole: list[Any] | None = None
    for number, (item, piece) in enumerate(zip(items, slices, strict=True)):
        if item.block and item.simple:
            continue
        try:
            values = loads(text[piece.start : piece.end], str(path), as_text=True, first_line=piece.line)[0]
        except ConfigError:  # an alias of an anchor in another item: the whole file, once
            if whole is None:
                whole = loads(text, str(path), as_text=True)[KEY]
            values = whole[number]
        if not isinstance(values, dict):
            continue  # not an establishment: `alertd check` says so; the import leaves it alone
        item.values = {k: _plain(values[k]) for k in OWNED if k in values}
        item.other = [(k, _plain(v)) for k, v in values.items() if k not in OWNED]
        if not item.block or any(key not in item.keys for key in values):
            item.keys = {}  # a flow item: rewritten whole if FINESS changes it
    if not slices:
        return _File(path, text, items, newline)
    header = _HEADER_LINE.search(text)
    cut = text.index("\n", header.end()) + 1 if header and "\n" in text[header.end() : slices[0].start] else 0
    head, lead = (text[:cut], text[cut : slices[0].start]) if cut else (text[: slices[0].start], "")
    return _File(path, head, items, newline, _indent(text[slices[0].start :]), lead)


# --- the merge ----------------------------------------------------------------------------------------------------


def _changed_keys(item: _Item, wanted: dict[str, Any]) -> list[str]:
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


def _edit(item: _Item, wanted: dict[str, Any], keys: list[str], newline: str) -> None:
    """Replace the lines of ``keys`` in a block item with their new values; a key absent before goes after the
    owned key before it. A one-line value keeps its trailing comment."""
    pad = " " * item.key_indent
    edits: list[tuple[int, int, int, list[str]]] = []
    for key in keys:
        lines = _render_key(key, wanted[key])
        if key in item.keys:
            begin, end = item.keys[key]
            if lines and end - begin == 1 and key != "finess":
                old = item.lines[begin]
                scalar = _scalar(old[item.key_indent :].split(":", 1)[1])
                if scalar and scalar[1]:
                    lines = [f"{lines[0]}  {scalar[1]}"]
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


def _rewrite_whole(item: _Item, wanted: dict[str, Any], indent: int, newline: str) -> None:
    """A flow item rewritten in block style: FINESS's keys first, then the operator's, values kept."""
    lines: list[str] = []
    for key in OWNED:
        lines += _render_key(key, wanted[key])
    for key, value in item.other:
        dumped = yaml.safe_dump({key: value}, allow_unicode=True, sort_keys=False, width=10**6)
        lines += dumped.rstrip("\n").split("\n")
    pad = " " * (indent + 2)
    item.lines = [" " * indent + "- " + lines[0] + newline] + [pad + line + newline for line in lines[1:]]
    item.values = dict(wanted)


def import_finess(
    sources: Sequence[Path], into: Path, *, today: date, dry_run: bool = False, partial: bool = False
) -> ImportReport:
    """Merge the FINESS files ``sources`` into the registry folder ``into`` (see the module's docstring).

    ``partial`` says the files are part of an extract (one department, say): nothing is closed. Raises
    :class:`FinessError` or :class:`ConfigError` before writing anything when an input or a registry file cannot
    be read.
    """
    records: dict[str, FinessRecord] = {}
    for source in sources:
        for record in read_finess(source):
            records[record.et] = record
    if not records:
        raise FinessError(f"{', '.join(map(str, sources))}: no establishment read; nothing imported")
    report = ImportReport(read=len(records))
    files = [_read_file(path, records) for path in registry_files(into)] if into.is_dir() else []
    seen: dict[str, str] = {}
    for registry_file in files:
        for item in registry_file.items:
            if item.id is None:
                continue
            where = f"{registry_file.path}:{item.line}"
            if item.id in seen:
                raise FinessError(f"{where}: id {item.id!r} is also at {seen[item.id]}; keep one before importing")
            seen[item.id] = where
            _merge(item, records.get(item.id), registry_file, today, partial, report)
    by_path = {f.path.name: f for f in files}
    for record in sorted(records.values(), key=lambda r: r.et):
        if record.et in seen:
            continue
        name = f"finess-{record.department}.yaml"
        target = by_path.get(name)
        if target is None:
            header = _HEADER.format(department=record.department) + f"{KEY}:\n"
            target = by_path[name] = _File(into / name, header, [], "\n")
            files.append(target)
        target.new.append((record.et, render_item(record, target.item_indent, target.newline)))
        target.changed = True
        report.added += 1
    for registry_file in files:
        if registry_file.changed:
            report.files_written.append(registry_file.path)
            if not dry_run:
                _write(registry_file.path, registry_file.text())
    return report


def _merge(
    item: _Item, record: FinessRecord | None, registry_file: _File, today: date, partial: bool, report: ImportReport
) -> None:
    """One existing item against the extract: updated, reopened, closed or left as it is."""
    old = item.values.get("finess")
    old_closed = old.get("closed", "") if isinstance(old, dict) else ""
    if record is None:
        if partial or not isinstance(old, dict) or old_closed:
            return  # not FINESS's, or already closed
        wanted = dict(item.values)
        for key in OWNED:
            wanted.setdefault(key, "")
        wanted["finess"] = {**dict.fromkeys(FINESS_FIELDS, ""), **old, "closed": today.isoformat()}
        report.closed += 1
    else:
        wanted = _owned_values(record)
        if old_closed:
            report.reopened += 1
    keys = _changed_keys(item, wanted)
    if not keys:
        report.unchanged += 1
        return
    if record is not None and not old_closed:
        report.updated += 1
    if item.keys:
        _edit(item, wanted, keys, registry_file.newline)
    else:
        _rewrite_whole(item, wanted, registry_file.item_indent, registry_file.newline)
        report.rewritten.append(f"{registry_file.path}:{item.line}")
    registry_file.changed = True


def _write(path: Path, text: str) -> None:
    """Replace the file at once: a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8", newline="")
    temporary.replace(path)


def summary(report: ImportReport, into: Path, *, dry_run: bool, seconds: float) -> Iterable[str]:
    """The lines ``alertd registry import finess`` prints."""
    verb = "would write" if dry_run else "wrote"
    yield (
        f"{report.read} establishments read; {verb} {len(report.files_written)} files in {into}: "
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged, {report.closed} closed, "
        f"{report.reopened} reopened ({seconds:.1f} s)"
    )
    if report.rewritten:
        yield (
            f"{len(report.rewritten)} items written in flow style were rewritten whole in block style (their "
            f"comments are lost): {', '.join(report.rewritten[:5])}" + (" ..." if len(report.rewritten) > 5 else "")
        )
    if dry_run:
        yield "dry run: nothing written"
