"""Readers of the national registry FINESS: one :class:`FinessRecord` per establishment (entité géographique).

Three layouts are read, each recognised by its first bytes, never by the file's name:

- the official etalab extract ``etalab-cs1100507-stock-*.csv`` published on data.gouv.fr ("FINESS extraction du
  fichier des établissements"): a first line ``finess;etalab;…``, then ``structureet;…`` rows (one per
  establishment) and ``geolocalisation;…`` rows (its coordinates, not kept), ``;``-separated, Latin-1 up to 2024
  and UTF-8 since 2025;
- FHIR R4 ``Organization`` resources, as the ANS directory publishes them and as ``flrt/finess-fhir`` converted the
  2021 extract: ndjson, also gzip-compressed, or a tar (gzip or not) of ndjson files; other resource types
  (``Location``) are skipped;
- the historical ET stock ``etalab_stock_et_*.csv`` (42 columns after a ``nofinesset;nofinessej;rs;rslongue;…``
  header row).

Files are read line by line (a national extract is 95,000 establishments), every field is capped, and a file that
is none of these is refused with ``file:line`` and what was expected there.
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import json
import re
import tarfile
import unicodedata
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

from alertd.domain.errors import AlertdError

MAX_FIELD = 300  # characters kept of one field: FINESS's longest long name has about 110
MAX_LINE = 1 << 20  # bytes of one line: an Organization is about 1.8 KB, a CSV row about 400 bytes

# The columns of a ``structureet`` row of cs1100507, in order, as flrt/finess-fhir's generator.py reads the
# 2021-01-08 extract (FINESS_KEYS; github.com/flrt/finess-fhir, commit f33d5e98). Files before 2021 lack the last
# column (numuai); a trailing ``;`` adds an empty one.
STRUCTUREET = (
    "structureet",
    "nofinesset",
    "nofinessej",
    "rs",
    "rslongue",
    "complrs",
    "compldistrib",
    "numvoie",
    "typvoie",
    "voie",
    "compvoie",
    "lieuditbp",
    "commune",
    "departement",
    "libdepartement",
    "ligneacheminement",
    "telephone",
    "telecopie",
    "categetab",
    "libcategetab",
    "categagretab",
    "libcategagretab",
    "siret",
    "codeape",
    "codemft",
    "libmft",
    "codesph",
    "libsph",
    "dateouv",
    "dateautor",
    "datemaj",
    "numuai",
)
_COLUMN = {name: number for number, name in enumerate(STRUCTUREET)}
_HISTORICAL_HEADER = "nofinesset;nofinessej;rs;rslongue;"

# FHIR: the coding systems that carry the establishment category (the flrt conversion's value set, and the ANS
# nomenclature TRE_R66-CategorieEtablissement of the directory), and the identifier types of the FINESS numbers.
_CATEGORY_SYSTEMS = ("finess.sante.gouv.fr/valuesets/CAT_ETAB", "TRE_R66-CategorieEtablissement")
_ET_TYPE, _EJ_TYPE = "FINEG", "FINEJ"

_FINESS_NUMBER = re.compile(r"(?:[0-9]{2}|2[AB])[0-9]{7}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FRENCH_DATE = re.compile(r"([0-9]{2})/([0-9]{2})/([0-9]{4})")  # what a spreadsheet round trip leaves
_ROUTING = re.compile(r"([0-9]{5})\s+(.*)")
_CEDEX = re.compile(r"\s+CEDEX(?:\s+[0-9]{1,3})?\s*$", re.IGNORECASE)
_SPACES = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff]+")  # control characters too: never written to YAML
# Characters no text should hold: lone surrogates (a JSON "\\ud800" escape gives one; UTF-8 cannot encode it) and
# unassigned code points, U+FFFE and U+FFFF among them (PyYAML refuses those in a file).
_UNSAFE = frozenset(("Cs", "Cn"))


class FinessError(AlertdError):
    """A file is not a FINESS extract that alertd reads, or holds a row it cannot read; the message says where."""


@dataclass(frozen=True, slots=True)
class FinessRecord:
    """What one FINESS extract says of one establishment; every field is text, empty when not given."""

    et: str  # nofinesset, the establishment's number
    ej: str  # nofinessej, its legal entity's number
    name: str  # rs, the short name ("CH JOSEPH IMBERT D'ARLES")
    long_name: str  # rslongue (not in the FHIR conversion)
    category: str  # categetab, e.g. "355"
    category_label: str
    address: str  # street and locality lines, joined by ", "
    city: str  # the commune, without a CEDEX tail
    postcode: str
    department: str  # "13", "2A", "971"
    opened: str  # ISO dates
    updated: str
    where: str  # "file:line", for messages


# Overseas departments: the official extract's department column codes them 9A, 9B… (seen in the 2026 extract's
# lines quoted by sister-software/mailwoman's FINESS tests: 9A Guadeloupe with Saint-Barthélemy and Saint-Martin,
# 9B Martinique, 9C Guyane, 9D La Réunion, 9F Mayotte, 9J Wallis-et-Futuna), and their FINESS numbers start 9701…
# or 9805…; postcodes cannot tell (a CEDEX code of Pointe-à-Pitre is 97004).
_OVERSEAS_COLUMN = {"9A": "971", "9B": "972", "9C": "973", "9D": "974", "9E": "975", "9F": "976", "9J": "986"}
_OVERSEAS_NUMBER = {"9701": "971", "9702": "972", "9703": "973", "9704": "974", "9705": "975", "9706": "976"}
_OVERSEAS_NUMBER |= {"9805": "976", "9806": "986"}
_DEPARTMENT = re.compile(r"[0-9]{2}|2[AB]|97[1-6]|98[0-9]")


def is_finess_number(text: str) -> bool:
    """Whether ``text`` is written as a FINESS number (nine characters: two digits or 2A/2B, then seven digits)."""
    return _FINESS_NUMBER.fullmatch(text) is not None


def department_of(et: str, column: str = "") -> str:
    """The department of an establishment: the extract's department column where it gives one (``13``, ``2A``,
    ``9A`` → ``971``), else read from its FINESS number (``13…`` → ``13``, ``9701…`` → ``971``)."""
    column = _OVERSEAS_COLUMN.get(column.strip(), column.strip())
    if _DEPARTMENT.fullmatch(column) and column not in ("97", "98"):
        return column
    return _OVERSEAS_NUMBER.get(et[:4], et[:2])


@functools.cache
def category_labels() -> dict[str, str]:
    """The FINESS category nomenclature shipped with alertd: code → label (DREES, 2021: 274 codes)."""
    text = resources.files("alertd.config").joinpath("finess_categories.csv").read_text(encoding="utf-8")
    rows = csv.reader((line for line in text.splitlines() if line and not line.startswith("#")), delimiter=";")
    next(rows)  # code;libelle;statut;date_fermeture
    return {row[0]: row[1] for row in rows if len(row) >= 2}


def read_finess(path: Path) -> Iterator[FinessRecord]:
    """Every establishment of one FINESS file, whatever its layout (see the module's docstring); raises
    :class:`FinessError` naming ``file:line`` for a file or a row that cannot be read."""
    try:
        with path.open("rb") as raw:
            yield from _read_stream(raw, str(path))
    except OSError as exc:
        raise FinessError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError) as exc:
        raise FinessError(f"{path}: damaged archive: {exc}") from None


def _read_stream(raw: IO[bytes], name: str) -> Iterator[FinessRecord]:
    head = raw.read(512)
    raw.seek(0)
    if head[:2] == b"\x1f\x8b":
        if _is_tar(raw):
            with tarfile.open(fileobj=raw, mode="r:gz") as archive:
                yield from _read_tar(archive, name)
            return
        with gzip.open(raw) as inner:
            yield from _read_plain(inner, name)  # type: ignore[arg-type]  # a GzipFile is a binary file
        return
    if len(head) >= 262 and head[257:262] == b"ustar":
        with tarfile.open(fileobj=raw, mode="r:") as archive:
            yield from _read_tar(archive, name)
        return
    yield from _read_plain(raw, name)


def _is_tar(raw: IO[bytes]) -> bool:
    """Whether a gzip stream holds a tar archive (its first header's ``ustar`` magic)."""
    with gzip.open(raw) as inner:
        block = inner.read(512)
    raw.seek(0)
    return block[257:262] == b"ustar"


def _read_tar(archive: tarfile.TarFile, name: str) -> Iterator[FinessRecord]:
    for member in archive:
        if not member.isfile():
            continue
        inner = archive.extractfile(member)
        if inner is not None:
            yield from _read_plain(inner, f"{name}:{member.name}")


def _read_plain(data: IO[bytes], name: str) -> Iterator[FinessRecord]:
    """One uncompressed file: its layout from its first line."""
    first = data.readline(MAX_LINE + 1).removeprefix(b"\xef\xbb\xbf")
    data.seek(0)
    if not first:
        raise FinessError(f"{name}:1: empty file; expected a FINESS extract")
    if first.lstrip().startswith(b"{"):  # JSON is UTF-8 (RFC 8259)
        yield from _read_ndjson(_lines(data, name, "utf-8"), name)
        return
    lines = _lines(data, name, _encoding(data))
    header = next(lines, (1, ""))[1].lstrip("\ufeff")
    if header.startswith("finess;etalab"):
        yield from _read_official(lines, name)
    elif header.startswith(_HISTORICAL_HEADER):
        yield from _read_historical(header, lines, name)
    else:
        raise FinessError(
            f"{name}:1: not a FINESS extract: expected 'finess;etalab;…' (the official cs1100507 layout), a "
            f"'nofinesset;nofinessej;rs;rslongue;…' header (the historical layout) or FHIR ndjson, "
            f"not {header[:40]!r}"
        )


def _encoding(data: IO[bytes]) -> str:
    """``utf-8`` when the whole file decodes as UTF-8, ``cp1252`` otherwise (the Latin-1 extracts before 2025;
    Windows-1252 reads Latin-1's letters the same and gives the typographic quotes some rows hold)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := data.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "cp1252"
    data.seek(0)
    return encoding


def _lines(data: IO[bytes], name: str, encoding: str) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line, without its line break."""
    number = 0
    while line := data.readline(MAX_LINE + 1):
        number += 1
        if len(line) > MAX_LINE:
            raise FinessError(f"{name}:{number}: line longer than {MAX_LINE} bytes; not a FINESS extract")
        if encoding == "utf-8":
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FinessError(f"{name}:{number}: not UTF-8 text (byte {exc.start + 1} of the line)") from None
        else:  # five bytes have no Windows-1252 character: Latin-1 gives them one (a control, later a space)
            text = line.decode("cp1252", errors="strict") if _cp1252_ok(line) else line.decode("latin-1")
        text = text.rstrip("\r\n")
        if text.strip():
            yield number, text


def _cp1252_ok(line: bytes) -> bool:
    return not any(b in line for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))


def _clean(value: str) -> str:
    """One field as it is written to the registry: spaces collapsed, controls, surrogates and unassigned code
    points removed, capped."""
    if len(value) <= MAX_FIELD and value.isprintable() and "  " not in value and value.strip() == value:
        return value  # most fields: no copy, no regular expression (surrogates and Cn are not printable)
    if not value.isprintable():
        value = "".join(c for c in value if c.isprintable() or unicodedata.category(c) not in _UNSAFE)
    return _SPACES.sub(" ", value).strip()[:MAX_FIELD].strip()


def _date(value: str, where: str, column: str) -> str:
    value = value.strip()
    if not value or _ISO_DATE.fullmatch(value):
        return value
    if found := _FRENCH_DATE.fullmatch(value):
        return f"{found.group(3)}-{found.group(2)}-{found.group(1)}"
    raise FinessError(f"{where}: {column} {value[:30]!r} is not a date (YYYY-MM-DD)")


def _routing(line: str) -> tuple[str, str]:
    """(postcode, commune) from ``ligneacheminement``: ``13637 ARLES CEDEX`` → ``("13637", "ARLES")``."""
    line = _clean(line)
    found = _ROUTING.fullmatch(line)
    if found is None:
        return "", city_of(line)
    return found.group(1), city_of(found.group(2))


def city_of(text: str) -> str:
    """The commune of a routing line's town, without its ``CEDEX nn`` tail."""
    return _CEDEX.sub("", _clean(text)).strip()


def _record(
    where: str,
    *,
    et: str,
    ej: str,
    name: str,
    long_name: str,
    category: str,
    category_label: str,
    address: str,
    city: str,
    postcode: str,
    opened: str,
    updated: str,
    department: str = "",
) -> FinessRecord:
    """A checked record: a FINESS number and a name, dates in ISO form, the category labelled."""
    et = et.strip()
    if not _FINESS_NUMBER.fullmatch(et):
        raise FinessError(f"{where}: {et[:30]!r} is not a FINESS establishment number (9 characters, e.g. 130002827)")
    ej = ej.strip()
    if ej and not _FINESS_NUMBER.fullmatch(ej):
        raise FinessError(f"{where}: {ej[:30]!r} is not a FINESS legal entity number (9 characters)")
    name = _clean(name)
    if not name:
        raise FinessError(f"{where}: establishment {et} has no name (rs)")
    category = _clean(category)
    label = _clean(category_label) or category_labels().get(category, "")
    return FinessRecord(
        et=et,
        ej=ej,
        name=name,
        long_name=_clean(long_name),
        category=category,
        category_label=label,
        address=_clean(address),
        city=city,
        postcode=postcode,
        department=department_of(et, department),
        opened=_date(opened, where, "opening date"),
        updated=_date(updated, where, "update date"),
        where=where,
    )


def _street(*parts: str) -> str:
    return " ".join(p for p in (_clean(part) for part in parts) if p)


# --- the official extract: finess;etalab;… then structureet and geolocalisation rows ------------------------------


def _read_official(lines: Iterator[tuple[int, str]], name: str) -> Iterator[FinessRecord]:
    last = len(STRUCTUREET)
    for number, text in lines:
        fields = next(csv.reader((text,), delimiter=";"))
        kind = fields[0]
        if kind == "geolocalisation":
            continue
        where = f"{name}:{number}"
        if kind != "structureet":
            raise FinessError(f"{where}: unknown row type {kind[:30]!r}; expected structureet or geolocalisation")
        while len(fields) > last and not fields[-1].strip():
            fields.pop()  # the trailing ';'
        if not last - 1 <= len(fields) <= last:
            raise FinessError(f"{where}: a structureet row has {len(fields)} fields; the cs1100507 layout has {last}")

        def field(column: str, fields: list[str] = fields) -> str:
            at = _COLUMN[column]
            return fields[at] if at < len(fields) else ""

        postcode, city = _routing(field("ligneacheminement"))
        yield _record(
            where,
            et=field("nofinesset"),
            ej=field("nofinessej"),
            name=field("rs"),
            long_name=field("rslongue"),
            category=field("categetab"),
            category_label=field("libcategetab"),
            address=", ".join(
                p
                for p in (
                    _street(field("numvoie"), field("compvoie"), field("typvoie"), field("voie")),
                    _clean(field("lieuditbp")),
                )
                if p
            ),
            city=city,
            postcode=postcode,
            opened=field("dateouv"),
            updated=field("datemaj"),
            department=field("departement"),
        )


# --- the historical stock: a header row, then one row per establishment ------------------------------------------


def _read_historical(header: str, lines: Iterator[tuple[int, str]], name: str) -> Iterator[FinessRecord]:
    columns = {column: at for at, column in enumerate(next(csv.reader((header,), delimiter=";")))}
    for number, text in lines:
        fields = next(csv.reader((text,), delimiter=";"))
        where = f"{name}:{number}"
        if len(fields) < len(columns):
            raise FinessError(f"{where}: a row has {len(fields)} fields; its header names {len(columns)}")

        def field(column: str, fields: list[str] = fields) -> str:
            at = columns.get(column)
            return fields[at] if at is not None else ""

        postcode, city = _routing(field("ligneacheminement"))
        yield _record(
            where,
            et=field("nofinesset"),
            ej=field("nofinessej"),
            name=field("rs"),
            long_name=field("rslongue"),
            category=field("categetab"),
            category_label=field("liblongcategetab") or field("libcategetab"),  # libcategetab is short: "C.H."
            address=", ".join(
                p
                for p in (
                    _street(field("numvoie"), field("compvoie"), field("typvoie"), field("voie")),
                    _clean(field("lieuditbp")),
                )
                if p
            ),
            city=city,
            postcode=postcode or _clean(field("codepostal")),
            opened=field("dateouvert") or field("dateouv"),
            updated=field("datemaj"),
            department=field("departement"),
        )


# --- FHIR R4 Organization resources, one JSON object a line -------------------------------------------------------


def _read_ndjson(lines: Iterator[tuple[int, str]], name: str) -> Iterator[FinessRecord]:
    for number, text in lines:
        where = f"{name}:{number}"
        if '"Organization"' not in text and '"Bundle"' not in text and text.startswith("{") and text.endswith("}"):
            continue  # another resource (a Location): not parsed, half the work of the FHIR extract
        try:
            resource = json.loads(text)
        except ValueError as exc:
            raise FinessError(f"{where}: not a JSON object ({exc}); expected one FHIR resource a line") from None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FinessError(f"{where}: not a FHIR resource (no resourceType)")
        if resource["resourceType"] == "Bundle":
            for entry in _list(resource.get("entry")):
                inner = _dict(entry).get("resource")
                record = _organization(inner, where) if isinstance(inner, dict) and _is_organization(inner) else None
                if record is not None:
                    yield record
        elif resource["resourceType"] == "Organization" and (record := _organization(resource, where)) is not None:
            yield record


def _is_organization(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "Organization"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _unquoted(name: str) -> str:
    """A name still in the extract's CSV quoting (in quotes, its own quotes doubled), unquoted: the flrt
    conversion split the extract's lines on ``;`` and kept the quoting of the few names that hold a quote."""
    inner = name[1:-1]
    if len(name) > 2 and name[0] == name[-1] == '"' and '"' not in inner.replace('""', ""):
        return inner.replace('""', '"')
    return name


def _organization(resource: dict[str, Any], where: str) -> FinessRecord | None:
    """The record of an Organization; None for one that is not an establishment (no FINEG identifier) or that the
    directory marks inactive (``active: false``: FINESS closed it)."""
    if resource.get("active") is False:
        return None
    et = ej = ""
    for identifier in _list(resource.get("identifier")):
        identifier = _dict(identifier)
        codes = {_text(_dict(c).get("code")) for c in _list(_dict(identifier.get("type")).get("coding"))}
        if _ET_TYPE in codes:
            et = _text(identifier.get("value"))
        elif _EJ_TYPE in codes:
            ej = _text(identifier.get("value"))
    if not et:
        return None
    if not ej:  # the flrt conversion names the legal entity only in the id: "<ej>-<et>"
        own_id = _text(resource.get("id"))
        if own_id.endswith(f"-{et}"):
            ej = own_id.removesuffix(f"-{et}")
    category = label = ""
    for kind in _list(resource.get("type")):
        for coding in _list(_dict(kind).get("coding")):
            coding = _dict(coding)
            if any(system in _text(coding.get("system")) for system in _CATEGORY_SYSTEMS):
                category, label = _text(coding.get("code")), _text(coding.get("display"))
    address = _dict(next(iter(_list(resource.get("address"))), None))
    opened = ""
    for extension in _list(resource.get("extension")):
        extension = _dict(extension)
        if _text(extension.get("url")).endswith("organization-period"):
            opened = _text(_dict(extension.get("valuePeriod")).get("start"))
    return _record(
        where,
        et=et,
        ej=ej,
        name=_unquoted(_text(resource.get("name"))),
        long_name="",
        category=category,
        category_label=label,
        address=", ".join(p for p in (_clean(_text(line)) for line in _list(address.get("line"))) if p),
        city=city_of(_text(address.get("city"))),
        postcode=_clean(_text(address.get("postalCode"))),
        opened=opened[:10],
        updated=_text(_dict(resource.get("meta")).get("lastUpdated"))[:10],
    )
