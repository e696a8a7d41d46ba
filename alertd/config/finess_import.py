"""``alertd registry import finess``: the FINESS extract merged into the registry folder, one file per department.

FINESS owns six keys of an establishment — ``id`` (the FINESS number), ``name``, ``category``, ``city``,
``postcode`` and the ``finess`` block — and the import rewrites those only. Everything else in the folder is the
operator's: the other keys (aliases, acronyms, contacts, networks, asns, domains, software, tags, language, kind,
region, country), the comments, the blank lines, the order of items and the file each item is in. So the import
edits the text, not a parsed tree: each registry file is cut into its items (:func:`~alertd.config.yamlsrc.
sequence_items`), each item into its top-level keys, and only the lines of a FINESS-owned key whose value changed
are replaced (:mod:`alertd.config.finess_items`). A round-trip YAML library (ruamel.yaml) keeps comments too,
but reads and writes the 95,000 items of a national registry in minutes where this takes seconds (see the README,
"Importing FINESS").

An establishment that the extract no longer lists is marked closed (``finess.closed``: the date of the import),
never deleted; one that comes back is reopened. New establishments go to ``finess-<department>.yaml``, in FINESS
number order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from alertd.config.establishment_rules import KEY
from alertd.config.finess import FinessError, FinessRecord, read_finess
from alertd.config.finess_items import (
    FINESS_FIELDS,
    OWNED,
    Item,
    changed_keys,
    cut_item,
    edit,
    indent_of,
    owned_end,
    owned_values,
    plain,
    render_item,
    rewrite_whole,
    split_tail,
)
from alertd.config.registry import registry_files
from alertd.config.yamlsrc import loads, sequence_items
from alertd.domain.errors import ConfigError

_HEADER = """\
# FINESS establishments of department {department}, written by `alertd registry import finess`.
# A re-import rewrites id, name, category, city, postcode and the finess block only: every other key (aliases,
# acronyms, contacts, networks, domains, software, tags...) and every comment is yours and is kept as written.
"""


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


# --- one registry file --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _File:
    path: Path
    head: str  # the text through the ``establishments:`` line
    items: list[Item]
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
            if text.startswith(rendered, piece.start) and owned_end(text, after, piece.end, len(found.group(1)) + 2):
                body, tail = split_tail(text[piece.start : piece.end], len(found.group(1)))
                item = Item([body], piece.line, [tail] if tail else [], simple=True)
                item.values = owned_values(record)
                items.append(item)
                continue
        items.append(cut_item(text[piece.start : piece.end], piece.line))
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
        item.values = {k: plain(values[k]) for k in OWNED if k in values}
        item.other = [(k, plain(v)) for k, v in values.items() if k not in OWNED]
        if not item.block or any(key not in item.keys for key in values):
            item.keys = {}  # a flow item: rewritten whole if FINESS changes it
    if not slices:
        return _File(path, text, items, newline)
    header = _HEADER_LINE.search(text)
    cut = text.index("\n", header.end()) + 1 if header and "\n" in text[header.end() : slices[0].start] else 0
    head, lead = (text[:cut], text[cut : slices[0].start]) if cut else (text[: slices[0].start], "")
    return _File(path, head, items, newline, indent_of(text[slices[0].start :]), lead)


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
            if (number := item.et) is None:
                continue
            where = f"{registry_file.path}:{item.line}"
            if number in seen:
                raise FinessError(f"{where}: FINESS number {number!r} is also at {seen[number]}; keep one item")
            seen[number] = where
            _merge(item, records.get(number), registry_file, today, partial, report)
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
    item: Item, record: FinessRecord | None, registry_file: _File, today: date, partial: bool, report: ImportReport
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
        wanted = owned_values(record)
        if old_closed:
            report.reopened += 1
    keys = changed_keys(item, wanted)
    if not keys:
        report.unchanged += 1
        return
    if record is not None and not old_closed:
        report.updated += 1
    if item.keys:
        edit(item, wanted, keys, registry_file.newline)
    else:
        rewrite_whole(item, wanted, registry_file.item_indent, registry_file.newline)
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
    files = len(report.files_written)
    yield (
        f"{report.read} establishments read; {verb} {files} file{'s' if files != 1 else ''} in {into}: "
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
