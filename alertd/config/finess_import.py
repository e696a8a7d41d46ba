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

import contextlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from alertd.config.establishment_rules import KEY
from alertd.config.finess import FinessError, FinessRecord, is_finess_number, read_finess
from alertd.config.finess_items import (
    FINESS_FIELDS,
    OWNED,
    Item,
    changed_keys,
    cut_item,
    edit,
    indent_of,
    not_editable,
    owned_end,
    owned_values,
    plain,
    render_item,
    rewrite_whole,
    shared_parts,
    split_tail,
)
from alertd.config.finess_verify import Expected, verify
from alertd.config.registry import registry_files
from alertd.config.yamlsrc import loads, sequence_items
from alertd.domain.errors import AlertdError, ConfigError

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
    new: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (FINESS number, text, values) to add
    changed: bool = False
    old_text: str | None = None  # the file as it stands (None for a new file), for :func:`verify`
    bom: str = ""  # a byte-order mark the file starts with (Notepad writes one), kept

    def text(self) -> tuple[str, list[Expected]]:
        """The file's text with its items as edited and the new ones in FINESS number order, and what each item
        must read as (see :mod:`alertd.config.finess_verify`)."""
        out = [self.bom, self.head]
        expected: list[Expected] = []
        line = self.head.count("\n") + 1
        pending = sorted(self.new, key=lambda new: new[0])
        at = 0

        def add_new(number: str, text: str, values: dict[str, Any]) -> None:
            nonlocal line
            expected.append(Expected(f"new item {number}", line, None, OWNED, values))
            out.append(text)
            line += text.count("\n")

        for number, item in enumerate(self.items):
            body = "".join(item.lines)
            if not body.endswith("\n"):  # the last line of a file without a final line break
                body += self.newline
            while at < len(pending) and item.id is not None and pending[at][0] < item.id:
                add_new(*pending[at])
                at += 1
            if number == 0:
                out.append(self.lead)
                line += self.lead.count("\n")
            where = f"{self.path}:{item.line}"
            expected.append(Expected(where, line, number, item.changed, item.wanted, item.whole))
            tail = "".join(item.tail)
            out += [body, tail]
            line += body.count("\n") + tail.count("\n")
        if not self.items:
            out.append(self.lead)
            line += self.lead.count("\n")
        for new in pending[at:]:
            add_new(*new)
        return "".join(out), expected


_HEADER_LINE = re.compile(rf"^{KEY}:[ \t]*(?:#[^\n]*)?\r?$", re.MULTILINE)  # as sequence_items finds it
_DOCUMENT_START = re.compile(r"\A((?:[ \t]*(?:#[^\n]*)?\r?\n)*)---(?=[ \t]*(?:#[^\n]*)?\r?\n)")
_FAST_ID = re.compile(r'( *)- id: "([0-9AB]{9})"\r?\n')


def _read_file(path: Path, records: dict[str, FinessRecord]) -> _File:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FinessError(f"{path}:1: not UTF-8 text (byte {exc.start}); fix it before importing") from None
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    text = text.removeprefix(bom)  # kept apart and written back: the items are cut in the text after it
    newline = "\r\n" if "\r\n" in text else "\n"
    # A leading "---" (the document's start) is read as the comment it stands for, same length, same lines.
    slices = sequence_items(_DOCUMENT_START.sub(lambda m: m.group(1) + "#--", text, count=1), KEY)
    if slices is None:
        document = loads(text, str(path), as_text=True)  # a syntax error: ConfigError with its position
        listed = document.get(KEY) if isinstance(document, dict) else None
        if listed:
            raise FinessError(
                f"{path}:1: the import edits registry files written as '{KEY}:' followed by a block list "
                "('- id: ...' items, one under the other, nothing but comments before that line); rewrite it in "
                "that shape, or move it out of the folder"
            )
        head = "".join(line for line in text.splitlines(keepends=True) if line.lstrip().startswith("#"))
        return _File(path, head + f"{KEY}:{newline}", [], newline, old_text=text, bom=bom)
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
        # Lines that do not cut the item as PyYAML reads it (a quoted name running onto a line that looks like a
        # key, a merge key): the item is rewritten whole from what PyYAML read, never edited by those lines.
        if not item.block or set(item.keys) != {str(key) for key in values}:
            item.keys = {}  # a flow item: rewritten whole if FINESS changes it
    if not slices:
        return _File(path, text, items, newline, old_text=text, bom=bom)
    header = _HEADER_LINE.search(text)
    cut = text.index("\n", header.end()) + 1 if header and "\n" in text[header.end() : slices[0].start] else 0
    head, lead = (text[:cut], text[cut : slices[0].start]) if cut else (text[: slices[0].start], "")
    return _File(path, head, items, newline, indent_of(text[slices[0].start :]), lead, old_text=text, bom=bom)


# A re-import may close at most this share of the open FINESS items of the folder (and always this many) without
# --allow-closing: a download cut short, or the wrong file, would otherwise close the country quietly, and a closed
# establishment's names, aliases and acronyms are no longer looked for.
CLOSING_SHARE = 0.05
CLOSING_MIN = 10


def import_finess(
    sources: Sequence[Path],
    into: Path,
    *,
    today: date,
    dry_run: bool = False,
    partial: bool = False,
    allow_closing: bool = False,
) -> ImportReport:
    """Merge the FINESS files ``sources`` into the registry folder ``into`` (see the module's docstring).

    ``partial`` says the files are part of an extract (one department, say): nothing is closed; without
    ``allow_closing`` no more than :data:`CLOSING_SHARE` of the folder's FINESS items are closed. Raises
    :class:`FinessError` or :class:`ConfigError` before writing anything when an input or a registry file cannot
    be read, an item cannot be edited safely, or the text to be written does not read back as it should; every
    file's text is built and checked before the first one is replaced.
    """
    if into.exists() and not into.is_dir():
        raise FinessError(
            f"{into}: a file, not a folder: the import writes one file per department into the folder --into "
            "names; give the registry's folder (put a single-file registry in a folder first)"
        )
    records: dict[str, FinessRecord] = {}
    for source in sources:
        for record in read_finess(source):
            records[record.et] = record
    if not records:
        raise FinessError(f"{', '.join(map(str, sources))}: no establishment read; nothing imported")
    report = ImportReport(read=len(records))
    files = [_read_file(path, records) for path in registry_files(into)] if into.is_dir() else []
    seen: dict[str, str] = {}
    open_items = 0
    for registry_file in files:
        for item in registry_file.items:
            if (number := item.et) is None:
                continue
            where = f"{registry_file.path}:{item.line}"
            _check_numbers(item, where)
            if number in seen:
                raise FinessError(f"{where}: FINESS number {number!r} is also at {seen[number]}; keep one item")
            seen[number] = where
            block = item.values.get("finess")
            open_items += isinstance(block, dict) and not block.get("closed")
            _merge(item, records.get(number), registry_file, today, partial, report)
    _check_closing(report, open_items, records, allow_closing)
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
        rendered = render_item(record, target.item_indent, target.newline)
        target.new.append((record.et, rendered, owned_values(record)))
        target.changed = True
        report.added += 1
    written = _checked_texts(files)
    report.files_written = [path for path, _ in written]
    if not dry_run:
        _write_all(written)
    return report


def _check_numbers(item: Item, where: str) -> None:
    """An item whose id is one FINESS number and whose ``finess.et`` another would take the other's values and
    then meet it under its own id: refused."""
    block = item.values.get("finess")
    et = block.get("et") if isinstance(block, dict) else None
    if isinstance(et, str) and et and item.id is not None and is_finess_number(item.id) and item.id != et:
        raise FinessError(
            f"{where}: the id is FINESS number {item.id} but finess.et is {et}; give the item the id of the "
            f"establishment it is (or an id of your own that is no FINESS number), then import again"
        )


def _check_closing(report: ImportReport, open_items: int, records: dict[str, FinessRecord], allowed: bool) -> None:
    limit = max(CLOSING_MIN, int(open_items * CLOSING_SHARE))
    if allowed or report.closed <= limit:
        return
    departments = len({record.department for record in records.values()})
    raise FinessError(
        f"the import would close {report.closed} of the {open_items} open FINESS establishments of the folder "
        f"(at most {limit} without --allow-closing: {CLOSING_SHARE:.0%}, at least {CLOSING_MIN}), because the "
        f"extract ({report.read} establishments in {departments} department{'s' if departments != 1 else ''}) "
        "does not list them. A download cut short or the wrong file would turn off their name alerts; nothing "
        "written. Give --partial if the files are part of the extract, --allow-closing if FINESS really closed "
        "them."
    )


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
    wanted["id"] = item.values.get("id", wanted["id"])  # an id of the operator's own stays
    keys = changed_keys(item, wanted)
    if not keys:
        report.unchanged += 1
        return
    if record is not None and not old_closed:
        report.updated += 1
    where = f"{registry_file.path}:{item.line}"
    if item.keys:
        if blocker := not_editable(item, keys):
            raise FinessError(
                f"{where}: FINESS changed this item's {', '.join(keys)}, but {blocker}: the import edits those "
                "lines and would break what leans on them; write the FINESS keys as plain one-line values "
                "(the other keys may keep theirs), or move the item out of the folder. Nothing written."
            )
        edit(item, wanted, keys, registry_file.newline)
        item.changed, item.wanted = tuple(keys), wanted
    else:
        if blocker := shared_parts(item):
            raise FinessError(
                f"{where}: FINESS changed this item, which is written in flow style or with a key the import "
                f"cannot find by its lines, and {blocker}: rewriting it whole would break what leans on it; "
                "write it in block style with plain values, or move it out of the folder. Nothing written."
            )
        rewrite_whole(item, wanted, registry_file.item_indent, registry_file.newline)
        item.changed, item.wanted, item.whole = OWNED, wanted, True
        report.rewritten.append(where)
    registry_file.changed = True


def _checked_texts(files: list[_File]) -> list[tuple[Path, bytes]]:
    """The bytes of every file to be written, each parsed again and checked against what it should hold (see
    :mod:`alertd.config.finess_verify`), and the ids unique across the folder: nothing is written before all are."""
    written: list[tuple[Path, bytes]] = []
    ids: dict[str, str] = {}
    for registry_file in files:
        if registry_file.changed:
            text, expected = registry_file.text()
            values = verify(str(registry_file.path), registry_file.old_text, text, expected)
            places = [item.where for item in expected]
            try:
                written.append((registry_file.path, text.encode("utf-8")))
            except UnicodeEncodeError as exc:  # a value _clean let through: a bug, but never half a registry
                raise FinessError(f"{registry_file.path}: cannot be written as UTF-8 ({exc.reason})") from None
        else:
            values = [{"id": item.id} if item.id is not None else None for item in registry_file.items]
            places = [f"{registry_file.path}:{item.line}" for item in registry_file.items]
        for value, where in zip(values, places, strict=True):
            number = value.get("id") if isinstance(value, dict) else None
            if number is None:
                continue
            if str(number) in ids:
                raise FinessError(f"{where}: id {number!s} is also at {ids[str(number)]}; keep one. Nothing written.")
            ids[str(number)] = where
    return written


def _write_all(written: list[tuple[Path, bytes]]) -> None:
    """Write every file beside its place, then put them in place: a failure while writing leaves the folder as
    it was and no temporary file behind; a reader never sees half of a file."""
    temporaries: list[tuple[Path, Path]] = []
    try:
        for path, data in written:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.tmp")
            temporaries.append((temporary, path))
            temporary.write_bytes(data)
    except OSError as exc:
        for temporary, _ in temporaries:
            with contextlib.suppress(OSError):  # the one that failed may be no file of ours (a folder, say)
                temporary.unlink(missing_ok=True)
        raise AlertdError(
            f"{exc.filename or temporaries[-1][1]}: cannot write: {exc.strerror or exc}; nothing replaced"
        ) from None
    for temporary, path in temporaries:
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
            f"{len(report.rewritten)} items written in flow style (or whose lines do not cut as YAML reads them) "
            "were rewritten whole in block style (their comments are lost): "
            + ", ".join(report.rewritten[:5])
            + (" ..." if len(report.rewritten) > 5 else "")
        )
    if dry_run:
        yield "dry run: nothing written"
