"""The registry of health establishments: one YAML file or a folder of ``*.yaml`` files (contract §2).

A national registry holds about 100,000 establishments in about 100 MB of YAML; it must load in seconds and still
name every mistake as ``file:line:col``. PyYAML with positions reads about 1 MB/s, so each file first goes through
the fast parser (:func:`~alertd.yamlsrc.loads_fast`, yaml-rs) and the fast checks below. Only the items those
refuse, or whose text the fast parser may have typed differently, are parsed again by PyYAML with positions —
item by item where the file's shape allows (:func:`~alertd.yamlsrc.sequence_items`), the whole file otherwise —
and checked by the same rules with a :class:`~alertd.yamlsrc.Reader` that says where and what. The PyYAML path is
the reference: the fast path returns an establishment only where the PyYAML path would return the same one.

Every scalar of the registry is read as the text written: an id ``000000011`` without quotes stays
``"000000011"`` (YAML 1.1 would make it the octal 9, YAML 1.2 the number 11), ``language: no`` is the text
``no``, a version ``7.10`` stays ``7.10``. Merge keys (``<<``) and tags are honoured through the PyYAML path.

A :class:`RegistryCache` keeps each file's result while its bytes are unchanged, so a reload after editing one
file of a folder parses that file only.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import hashlib
import ipaddress
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from alertd.config.yamlsrc import (
    FAST_PARSER,
    FastParseError,
    Pos,
    Reader,
    Slice,
    YAMLSyntaxError,
    YList,
    YMap,
    ambiguous_scalars,
    anchored,
    decode,
    loads,
    loads_fast,
    read,
    sequence_items,
)
from alertd.domain.cpe import FORMATTED_PREFIX, parse_cpe
from alertd.domain.errors import ConfigError, Problem
from alertd.domain.establishments import LANGUAGES, Contact, Establishment, Network, Registry, Software
from alertd.domain.grammar import ASCII_DOMAIN as _DOMAIN
from alertd.domain.grammar import CONTACT_EMAIL as _EMAIL
from alertd.domain.values import SEVERITY_NAMES, Severity

_KEY = "establishments"
_REQUIRED = ("id", "name")
_OPTIONAL = ("aliases", "kind", "region", "tags", "language", "contacts", "networks", "asns", "domains", "software")
_CONTACT_KEYS = ("role", "min_severity", "name")
_SOFTWARE_KEYS = ("vendor", "product", "version", "cpe")
_T = TypeVar("_T")


def registry_files(path: Path) -> tuple[Path, ...]:
    """The YAML files making up the registry, in a stable order."""
    if path.is_dir():
        return tuple(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
    return (path,)


# --- loading ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FileResult:
    """What one registry file holds: its valid establishments, each with its item number, and its problems."""

    establishments: tuple[Establishment, ...] = ()
    items: tuple[int, ...] = ()  # the 0-based number of each establishment's item in the file's list
    id_pos: Mapping[int, Pos] = field(default_factory=dict)  # where ids stand, for items read with positions
    problems: tuple[Problem, ...] = ()
    count: int = 0  # how many items the file's list holds
    slow_items: int = 0  # items that went through PyYAML (all of them when the whole file did)


class RegistryCache:
    """The result of loading each registry file, reused while the file's bytes stay the same.

    Keep one across reloads (SIGHUP): every file is still read and hashed (about 0.15 s per 100 MB) but only the
    files whose bytes changed are parsed again. The key is the path and the SHA-256 of the bytes; size and
    modification time are not trusted alone, since two edits within the file system's timestamp granularity can
    leave both equal. Counters tell what a load did. Not thread-safe: one load at a time.
    """

    def __init__(self) -> None:
        self._entries: dict[Path, tuple[int, bytes, _FileResult]] = {}
        self.parsed = 0  # files parsed since the cache was made
        self.reused = 0  # files whose previous result was reused
        self.slow_items = 0  # items that went through PyYAML, over every file parsed

    def result(self, file: Path, raw: bytes) -> _FileResult:
        """The file's result: the cached one when its bytes are the same, a fresh parse otherwise."""
        digest = hashlib.sha256(raw).digest()
        entry = self._entries.get(file)
        if entry is not None and entry[0] == len(raw) and entry[1] == digest:
            self.reused += 1
            return entry[2]
        result = _load_file(str(file), raw)
        self.parsed += 1
        self.slow_items += result.slow_items
        self._entries[file] = (len(raw), digest, result)
        return result

    def retain(self, files: Sequence[Path]) -> None:
        """Forget files that are no longer part of the registry."""
        keep = set(files)
        for gone in [f for f in self._entries if f not in keep]:
            del self._entries[gone]


def load_registry(path: Path, cache: RegistryCache | None = None) -> Registry:
    """Load every registry file; duplicate ids across files are errors naming both places.

    With a ``cache`` kept from the previous load, files whose bytes did not change are not parsed again.
    """
    files = registry_files(path)
    if not files:
        raise ConfigError([Problem(str(path), 1, 1, "the registry folder holds no *.yaml file")])
    cache = RegistryCache() if cache is None else cache
    problems: list[Problem] = []
    loaded: list[tuple[Path, bytes, _FileResult]] = []
    with _gc_paused():
        for file in files:
            try:
                raw = read(file)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            result = cache.result(file, raw)
            problems.extend(result.problems)
            loaded.append((file, raw, result))
        cache.retain(files)
        establishments, duplicates = _merge(loaded)
    problems.extend(duplicates)
    if problems:
        raise ConfigError(problems)
    return Registry(MappingProxyType(establishments), files)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing builds millions of objects, none of them cyclic garbage, and
    collections triggered by their mere number would double the parsing time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _merge(loaded: list[tuple[Path, bytes, _FileResult]]) -> tuple[dict[str, Establishment], list[Problem]]:
    """All files' establishments by id, and a problem at each later occurrence of an id, naming the first."""
    establishments: dict[str, Establishment] = {}
    first: dict[str, tuple[int, int]] = {}  # id -> (file number, item number)
    duplicates: list[tuple[str, tuple[int, int], tuple[int, int]]] = []
    for number, (_, _, result) in enumerate(loaded):
        for est, item in zip(result.establishments, result.items, strict=True):
            seen = first.setdefault(est.id, (number, item))
            if seen[0] == number and seen[1] == item:
                establishments[est.id] = est
            else:
                duplicates.append((est.id, seen, (number, item)))
    if not duplicates:
        return establishments, []
    wanted: dict[int, set[int]] = {}
    for _, one, other in duplicates:
        for number, item in (one, other):
            wanted.setdefault(number, set()).add(item)
    where = {
        (number, item): pos
        for number, items in wanted.items()
        for item, pos in _id_positions(loaded[number], items).items()
    }
    problems = []
    for est_id, one, other in duplicates:
        pos, first_pos = where[other], where[one]
        problems.append(
            Problem(
                pos.file,
                pos.line,
                pos.column,
                f"duplicate establishment id {est_id!r} (first at {first_pos.file}:{first_pos.line})",
            )
        )
    return establishments, problems


def _id_positions(loaded: tuple[Path, bytes, _FileResult], items: set[int]) -> dict[int, Pos]:
    """Where the ids of some items of a file stand: known already, or read by PyYAML from those items alone."""
    file, raw, result = loaded
    name = str(file)
    found = {item: result.id_pos[item] for item in items if item in result.id_pos}
    missing = sorted(items - found.keys())
    if not missing:
        return found
    text = raw.decode("utf-8")
    slices = sequence_items(text, _KEY, strict=False)
    if slices is not None and len(slices) == result.count:
        with contextlib.suppress(ConfigError):
            for item in missing:
                one = _parse_slice(text, slices[item], name)
                if one is None:
                    break
                em, pos = one
                found[item] = em.value_pos.get("id", pos) if isinstance(em, YMap) else pos
            else:
                return found
    try:
        top = loads(text, name, as_text=True)
        seq = top[_KEY]
        for item in missing:
            em = seq[item]
            found[item] = em.value_pos.get("id", seq.item_pos[item])
    except (ConfigError, LookupError, TypeError, AttributeError):  # PyYAML refuses what yaml-rs read
        found.update((item, Pos(name, 1, 1)) for item in missing)
    return found


def _parse_slice(text: str, piece: Slice, name: str) -> tuple[Any, Pos] | None:
    """One item of the file parsed by PyYAML on its own, with file positions; None when it does not stand alone."""
    seq = loads(text[piece.start : piece.end], name, as_text=True, first_line=piece.line)
    if not isinstance(seq, YList) or len(seq) != 1:
        return None
    return seq[0], seq.item_pos[0]


def _load_file(name: str, raw: bytes) -> _FileResult:
    """Check one registry file: fast where it can, with PyYAML's positions where it must."""
    try:
        text = decode(raw, name)
    except ConfigError as exc:
        return _FileResult(problems=exc.problems)
    if FAST_PARSER:
        result = _load_fast(name, raw, text)
        if result is not None:
            return result
    return _load_slow(name, text)


def _load_slow(name: str, text: str) -> _FileResult:
    """The whole file through PyYAML with positions: the reference behaviour."""
    try:
        data = loads(text, name, as_text=True)
    except ConfigError as exc:
        return _FileResult(problems=exc.problems)
    r = Reader()
    top = r.mapping(data, Pos(name, 1, 1), "a registry file")
    if top is None or not r.keys(top, "a registry file", (_KEY,)):
        return _FileResult(problems=tuple(r.problems))
    seq = r.sequence(top[_KEY], top.value_pos[_KEY], f"{_KEY!r}")
    if seq is None:
        return _FileResult(problems=tuple(r.problems))
    ests: list[Establishment] = []
    items: list[int] = []
    id_pos: dict[int, Pos] = {}
    for number, (item, pos) in enumerate(zip(seq, seq.item_pos, strict=True)):
        if (found := _read_item(item, pos, r)) is not None:
            ests.append(found[0])
            items.append(number)
            id_pos[number] = found[1]
    return _FileResult(tuple(ests), tuple(items), id_pos, tuple(r.problems), len(seq), len(seq))


def _load_fast(name: str, raw: bytes, text: str) -> _FileResult | None:
    """The file through yaml-rs, with PyYAML only for the items that need it; None to read the whole file slowly.

    Items that fail the fast checks, and items holding a scalar that yaml-rs may have typed differently from the
    text written (:func:`~alertd.yamlsrc.ambiguous_scalars`), are parsed again by PyYAML one by one, which gives
    both the exact result and the positions of their problems.
    """
    fast = _Fast()
    found: list[Establishment | None] | None = None
    trusted = False  # whether PyYAML refusing an item alone is that item's problem, not a bad cut
    slices = None if anchored(text) else sequence_items(text, _KEY, strict=False)
    if slices is not None:
        found, refused = _parse_chunks(text, slices, fast)
        if refused:
            trusted = sequence_items(text, _KEY) is not None
            if not trusted or None not in found:
                found = None
    if found is None:
        fast, trusted = _Fast(), False
        try:
            data = loads_fast(text)
        except FastParseError:
            return None
        if type(data) is not dict or data.keys() != {_KEY} or type(data[_KEY]) is not list:
            return None  # a problem with the file's shape: PyYAML says which
        found = [fast.item(item) for item in data[_KEY]]
        del data
    redo = {number for number, est in enumerate(found) if est is None}
    offsets = ambiguous_scalars(raw) if fast.ints or b"!" in raw else []
    if not redo and not offsets:
        return _FileResult(tuple(est for est in found if est is not None), tuple(range(len(found))), count=len(found))
    if slices is None or len(slices) != len(found):
        slices = sequence_items(text, _KEY, strict=False)
        if slices is None or len(slices) != len(found):
            return None
    redo.update(_items_at(raw, offsets, slices))
    r = Reader()
    ests: list[Establishment] = []
    items: list[int] = []
    id_pos: dict[int, Pos] = {}
    for number, est in enumerate(found):
        if number not in redo:
            assert est is not None
            ests.append(est)
            items.append(number)
            continue
        try:
            one = _parse_slice(text, slices[number], name)
        except ConfigError as exc:
            if not trusted:
                return None  # yaml-rs read this item with its neighbours: it does not stand alone
            at_fault = _syntax_in_context(text, slices[number], name) if isinstance(exc, YAMLSyntaxError) else exc
            if at_fault is None:
                return None
            r.problems.extend(p for p in at_fault.problems if p not in r.problems)
            continue
        if one is None:
            return None
        if (read_one := _read_item(one[0], one[1], r)) is not None:
            ests.append(read_one[0])
            items.append(number)
            id_pos[number] = read_one[1]
    return _FileResult(tuple(ests), tuple(items), id_pos, tuple(r.problems), len(found), len(redo))


_CHUNK = 1000  # items parsed by one call of yaml-rs: a whole 100 MB file at once would take 1.4 GB


def _parse_chunks(text: str, slices: list[Slice], fast: _Fast) -> tuple[list[Establishment | None], bool]:
    """The items through yaml-rs a chunk at a time; True when a chunk was refused and read item by item."""
    found: list[Establishment | None] = []
    refused = False
    for first in range(0, len(slices), _CHUNK):
        part = slices[first : first + _CHUNK]
        try:
            data = loads_fast(text[part[0].start : part[-1].end])
        except FastParseError:
            data = None
        if type(data) is list and len(data) == len(part):
            found.extend(fast.item(item) for item in data)
            continue
        refused = True
        for piece in part:
            try:
                one = loads_fast(text[piece.start : piece.end])
            except FastParseError:
                found.append(None)
                continue
            found.append(fast.item(one[0]) if type(one) is list and len(one) == 1 else None)
    return found, refused


def _syntax_in_context(text: str, piece: Slice, name: str) -> ConfigError | None:
    """The syntax error of an item as PyYAML reports it in the whole file, or None if the item reads fine there.

    Alone, an item ends where the next begins, and PyYAML may give up there; in the file it reads on. Reading
    from the item's start to the end of the file puts the problem where the whole file would, at the cost of the
    text up to it, since PyYAML stops at the first syntax error.
    """
    try:
        loads(text[piece.start :], name, as_text=True, first_line=piece.line)
    except YAMLSyntaxError as exc:
        return exc
    except ConfigError:
        pass
    return None  # the cut was wrong: the item goes on past the next "-"


def _items_at(raw: bytes, offsets: list[int], slices: list[Slice]) -> set[int]:
    """The numbers of the items whose text holds these byte offsets (sorted); the header holds none."""
    starts = [piece.line for piece in slices]
    numbers: set[int] = set()
    line, last = 1, 0
    for offset in offsets:
        line += raw.count(b"\n", last, offset)
        last = offset
        number = bisect.bisect_right(starts, line) - 1
        if number >= 0:
            numbers.add(number)
    return numbers


# --- the rules, shared by both paths ----------------------------------------------------------------------------


class _Bad(Exception):
    """A value breaks a rule; ``message`` says how (the fast path only needs to know that it does)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


_PLAIN_V4 = re.compile(r"[0-9.]{7,15}/[0-9]{1,3}")
_PLAIN_V6 = re.compile(r"[0-9A-Fa-f:]{2,39}/[0-9]{1,3}")


def _network(text: str) -> Network:
    address = text.strip()
    # ipaddress parses address text in Python (7 us for IPv6); the C parser of the socket module accepts the same
    # plain forms (digits and dots; hex digits and colons) and yields the same network from its number.
    with contextlib.suppress(OSError, ValueError):
        if _PLAIN_V4.fullmatch(address):
            host, _, bits = address.partition("/")
            return ipaddress.IPv4Network((int.from_bytes(socket.inet_pton(socket.AF_INET, host)), int(bits)))
        if _PLAIN_V6.fullmatch(address):
            host, _, bits = address.partition("/")
            return ipaddress.IPv6Network((int.from_bytes(socket.inet_pton(socket.AF_INET6, host)), int(bits)))
    try:
        return ipaddress.ip_network(address, strict=True)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f"; did you mean {ipaddress.ip_network(address, strict=False)}?"
        raise _Bad(f"bad network {text!r}: {exc}{hint}") from None


def _asn(text: str) -> int:
    """An AS number: digits, with or without ``AS``; written as YAML writes integers (``2_200``, ``0x898``) too,
    so that an ASN reads the same whether YAML typed it as a number or the registry took it as text."""
    value = _yaml_int(text.upper().removeprefix("AS"))
    if value is not None and 0 < value < 2**32:
        return value
    raise _Bad(f"bad ASN {text!r}; write a number such as 2200 or AS2200")


def _yaml_int(text: str) -> int | None:
    """A non-negative integer in YAML 1.2's spellings (``+``, ``_``, ``0x``, ``0o``, ``0b``), or None."""
    body = text.removeprefix("+").replace("_", "")
    base = {"0X": 16, "0O": 8, "0B": 2}.get(body[:2].upper(), 10)
    digits = body if base == 10 else body[2:]
    if not (digits.isascii() and digits.isalnum()):
        return None
    try:
        return int(digits, base)
    except ValueError:
        return None


def _domain(text: str) -> str:
    domain = text.strip().lower().rstrip(".")
    if _DOMAIN.match(domain):
        return domain
    raise _Bad(f"bad domain {text!r}; write a host name such as chu-exemple.fr")


def _email(text: str) -> str:
    if _EMAIL.match(text):
        return text
    raise _Bad(f"bad email address {text!r}")


def _software(vendor: str | None, product: str | None, version: str | None, cpe: str | None) -> Software:
    """A software item from its fields; a bad CPE raises ``_Bad`` with a message, missing names without one."""
    if cpe is not None:
        # The registry takes the 2.3 formatted string only: what NVD publishes, and what the index compares.
        parsed = parse_cpe(cpe) if cpe.startswith(FORMATTED_PREFIX) else None
        if parsed is None:
            raise _Bad(f"bad CPE {cpe!r}; write a CPE 2.3 string cpe:2.3:part:vendor:product:...")
        vendor = vendor or (parsed.vendor or "").replace("_", " ")
        product = product or (parsed.product or "").replace("_", " ")
        version = version or parsed.version
    if not vendor or not product:
        raise _Bad()
    return Software(vendor, product, version, cpe)


# --- the PyYAML path: positions and messages --------------------------------------------------------------------


def _read_item(item: Any, pos: Pos, r: Reader) -> tuple[Establishment, Pos] | None:
    """An item of the list as an establishment and the position of its id, or None after recording problems."""
    em = r.mapping(item, pos, "an establishment")
    if em is None:
        return None
    est = _read_establishment(em, r)
    return None if est is None else (est, em.value_pos.get("id", pos))


def _each(em: YMap, key: str, rule: Callable[[str], _T], r: Reader) -> list[_T]:
    """``rule`` applied to each string under ``key``; a problem at the position of each one it refuses."""
    result = []
    for text, pos in r.strings(em, key):
        try:
            result.append(rule(text))
        except _Bad as bad:
            r.error(pos, bad.message)
    return result


def _read_establishment(em: YMap, r: Reader) -> Establishment | None:
    before = len(r.problems)
    r.keys(em, "an establishment", _REQUIRED, _OPTIONAL)
    est_id = r.value(em, "id", str)
    name = r.value(em, "name", str)
    if est_id is not None and not est_id.strip():
        r.error(em.value_pos["id"], "an establishment id may not be empty")
    aliases = tuple(v for v, _ in r.strings(em, "aliases"))
    language = r.choice(em, "language", LANGUAGES, "fr") or "fr"
    networks = _each(em, "networks", _network, r)
    asns = _each(em, "asns", _asn, r)
    domains = _each(em, "domains", _domain, r)
    contacts = _read_contacts(em, r)
    software = _read_software(em, r)
    kind = r.value(em, "kind", str, "") or ""
    region = r.value(em, "region", str, "") or ""
    tags = frozenset(v for v, _ in r.strings(em, "tags"))
    if len(r.problems) > before or est_id is None or name is None:
        return None
    return Establishment(
        id=est_id,
        name=name,
        aliases=aliases,
        kind=kind,
        region=region,
        tags=tags,
        language=language,
        contacts=contacts,
        networks=tuple(networks),
        asns=tuple(asns),
        domains=tuple(domains),
        software=software,
    )


def _read_contacts(em: YMap, r: Reader) -> tuple[Contact, ...]:
    if "contacts" not in em or (items := r.sequence(em["contacts"], em.value_pos["contacts"], "'contacts'")) is None:
        return ()
    contacts = []
    for item, pos in zip(items, items.item_pos, strict=True):
        cm = r.mapping(item, pos, "a contact")
        if cm is None or not r.keys(cm, "a contact", ("email",), _CONTACT_KEYS):
            continue
        email = r.value(cm, "email", str)
        r.value(cm, "name", str)
        if email is not None:
            try:
                _email(email)
            except _Bad as bad:
                r.error(cm.value_pos["email"], bad.message)
                continue
        sev = r.choice(cm, "min_severity", SEVERITY_NAMES, "info")
        role = r.value(cm, "role", str, "security")
        if email is not None and sev is not None:
            contacts.append(Contact(email, role or "security", Severity.parse(sev)))
    return tuple(contacts)


def _read_software(em: YMap, r: Reader) -> tuple[Software, ...]:
    if "software" not in em or (items := r.sequence(em["software"], em.value_pos["software"], "'software'")) is None:
        return ()
    result = []
    for item, pos in zip(items, items.item_pos, strict=True):
        sm = r.mapping(item, pos, "a software item")
        if sm is None or not r.keys(sm, "a software item", (), _SOFTWARE_KEYS):
            continue
        cpe = r.value(sm, "cpe", str)
        vendor, product, version = (
            r.value(sm, "vendor", str),
            r.value(sm, "product", str),
            r.value(sm, "version", str),
        )
        try:
            result.append(_software(vendor, product, version, cpe))
        except _Bad as bad:
            if bad.message:
                r.error(sm.value_pos["cpe"], bad.message)
            else:
                r.error(pos, "a software item needs 'vendor' and 'product', or a 'cpe'")
    return tuple(result)


# --- the fast path: plain values, no positions ------------------------------------------------------------------

_ABSENT: Any = object()
_EST_REQUIRED = frozenset(_REQUIRED)
_EST_ALLOWED = frozenset(_REQUIRED + _OPTIONAL)
_CONTACT_ALLOWED = frozenset(("email", *_CONTACT_KEYS))
_SOFTWARE_ALLOWED = frozenset(_SOFTWARE_KEYS)
_SEVERITIES = {name: Severity.parse(name) for name in SEVERITY_NAMES}


def _refuse() -> str:
    raise _Bad()


class _Fast:
    """Applies the rules to plain values from yaml-rs; any doubt sends the item to the PyYAML path.

    ``ints`` records that a number was read as text, which is exact only when the file holds no ambiguous
    scalar; the caller then checks the file's text. Identical software items share one object.
    """

    __slots__ = ("_software", "ints")

    def __init__(self) -> None:
        self.ints = False
        self._software: dict[tuple[Any, ...], Software] = {}

    def text(self, value: Any) -> str:
        """A scalar as text; an int stands for the digits written, anything else is for PyYAML to judge."""
        if type(value) is str:
            return value
        if type(value) is int:  # not bool: type() is exact
            self.ints = True
            return str(value)
        raise _Bad()

    def texts(self, value: Any) -> list[str]:
        """A value or a list of values, as text."""
        if type(value) is list:
            return list(map(self.text, value))
        return [self.text(value)]

    @staticmethod
    def asns(value: Any) -> tuple[int, ...]:
        """AS numbers: an int from yaml-rs needs no check of its spelling, :func:`_asn` reads them all alike."""
        values = value if type(value) is list else [value]
        return tuple(_asn(v if type(v) is str else str(v) if type(v) is int else _refuse()) for v in values)

    def item(self, item: Any) -> Establishment | None:
        """The establishment, or None when the item must go through the PyYAML path."""
        try:
            return self._establishment(item)
        except (_Bad, ValueError, TypeError, LookupError):
            return None

    def _establishment(self, item: Any) -> Establishment:
        if type(item) is not dict or not (_EST_REQUIRED <= item.keys() <= _EST_ALLOWED):
            raise _Bad()
        text, texts, get = self.text, self.texts, item.get
        est_id = text(item["id"])
        if not est_id.strip():
            raise _Bad()
        language = "fr" if (v := get("language", _ABSENT)) is _ABSENT else text(v)
        if language not in LANGUAGES:
            raise _Bad()
        return Establishment(
            est_id,
            text(item["name"]),
            () if (v := get("aliases", _ABSENT)) is _ABSENT else tuple(texts(v)),
            "" if (v := get("kind", _ABSENT)) is _ABSENT else text(v),
            "" if (v := get("region", _ABSENT)) is _ABSENT else text(v),
            frozenset() if (v := get("tags", _ABSENT)) is _ABSENT else frozenset(texts(v)),
            language,
            () if (v := get("contacts", _ABSENT)) is _ABSENT else tuple(map(self._contact, self._list(v))),
            () if (v := get("networks", _ABSENT)) is _ABSENT else tuple(map(_network, texts(v))),
            () if (v := get("asns", _ABSENT)) is _ABSENT else self.asns(v),
            () if (v := get("domains", _ABSENT)) is _ABSENT else tuple(map(_domain, texts(v))),
            () if (v := get("software", _ABSENT)) is _ABSENT else tuple(map(self._software_item, self._list(v))),
        )

    @staticmethod
    def _list(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _Bad()
        return value

    def _contact(self, c: Any) -> Contact:
        if type(c) is not dict or "email" not in c or not c.keys() <= _CONTACT_ALLOWED:
            raise _Bad()
        text, get = self.text, c.get
        email = _email(text(c["email"]))
        if (v := get("name", _ABSENT)) is not _ABSENT:
            text(v)
        severity = _SEVERITIES["info" if (v := get("min_severity", _ABSENT)) is _ABSENT else text(v)]
        role = "security" if (v := get("role", _ABSENT)) is _ABSENT else text(v)
        return Contact(email, role or "security", severity)

    def _software_item(self, s: Any) -> Software:
        if type(s) is not dict:
            raise _Bad()
        # Registries repeat the same products: an item already seen, key for key and text for text, is shared.
        seen = tuple(s.items())
        known = self._software.get(seen)
        if known is not None:
            return known
        if not s.keys() <= _SOFTWARE_ALLOWED:
            raise _Bad()
        text, get = self.text, s.get
        fields = tuple(None if (v := get(k, _ABSENT)) is _ABSENT else text(v) for k in _SOFTWARE_KEYS)
        known = _software(*fields)
        if all(type(v) is str for _, v in seen):  # never 7 for "7", nor 1 for True: only text is shared
            self._software[seen] = known
        return known
