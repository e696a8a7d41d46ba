"""The registry of health establishments: one YAML file or a folder of ``*.yaml`` files (contract §2).

A national registry holds about 100,000 establishments in about 100 MB of YAML; it must load in seconds and still
name every mistake as ``file:line:col``. PyYAML with positions reads about 1 MB/s, so each file first goes through
the fast parser (:func:`~alertd.config.yamlsrc.loads_fast`, yaml-rs) and the registry's rules
(:mod:`alertd.config.establishment_rules`), which take plain values and return an establishment or faults, each at
a path inside its item. Only the items that fail, or whose text the fast parser may have typed differently, are
parsed again by PyYAML with positions — item by item where the file's shape allows
(:func:`~alertd.config.yamlsrc.sequence_items`), the whole file otherwise — and go through the same rules again;
their faults' paths are then turned into positions through PyYAML's marks. The PyYAML reading is the reference:
the fast path returns an establishment only where the PyYAML path would return the same one.

Every scalar of the registry is read as the text written: an id ``000000011`` without quotes stays
``"000000011"`` (YAML 1.1 would make it the octal 9, YAML 1.2 the number 11), ``language: no`` is the text
``no``, a version ``7.10`` stays ``7.10``. Merge keys (``<<``) and tags are honoured through the PyYAML path.

A :class:`RegistryCache` keeps each file's result while its bytes are unchanged, so a reload after editing one
file of a folder parses that file only; attached to a state directory, it also keeps each file's establishments
there (:mod:`alertd.config.snapshot`, :mod:`alertd.store.statecache`), so that the next command or start reads
them back instead of parsing the file again.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from alertd.config import snapshot
from alertd.config.establishment_rules import KEY as _KEY
from alertd.config.establishment_rules import Fault, Rules, registry_items
from alertd.config.sources import listing, read_hashed
from alertd.config.yamlsrc import (
    FAST_PARSER,
    FastParseError,
    Pos,
    Slice,
    YAMLSyntaxError,
    YList,
    YMap,
    ambiguous_scalars,
    anchored,
    decode,
    loads,
    loads_fast,
    position,
    sequence_items,
)
from alertd.domain.errors import ConfigError, Problem
from alertd.domain.establishments import Establishment, Registry
from alertd.store.statecache import StateCache, entry_key


def registry_files(path: Path) -> tuple[Path, ...]:
    """The YAML files making up the registry, in a stable order."""
    files = listing(path, (".yaml", ".yml"))
    return (path,) if files is None else files


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

    ``persist`` lets :meth:`attach` keep the files' establishments in a state directory too, for the next process:
    the CLI and the daemon ask for it; a cache made without it never touches the disk. ``make_state_dir`` says
    whether a missing state directory may be made for it (``alertd check`` leaves that to the daemon, which may
    run as another user). ``defer`` holds the files parsed until :meth:`keep_parsed` writes them: the daemon does
    it in a thread once its configuration serves (encoding and writing a national registry is seconds that need
    not delay the first poll; nothing reads them back before the next process).
    """

    def __init__(self, *, persist: bool = False, make_state_dir: bool = True, defer: bool = False) -> None:
        self._entries: dict[Path, tuple[int, bytes, _FileResult]] = {}
        self.parsed = 0  # files parsed since the cache was made
        self.reused = 0  # files whose previous result was reused
        self.restored = 0  # files read back from the state directory instead of being parsed
        self.slow_items = 0  # items that went through PyYAML, over every file parsed
        # Where each establishment of the last load is written: its file and its item's number in the file's list
        # (what ``alertd check`` needs to put a warning on the right line without searching every file).
        self.origins: dict[str, tuple[Path, int]] = {}
        self.persist = persist
        self.make_state_dir = make_state_dir
        self.defer = defer
        self.disk: StateCache | None = None
        self._unkept: list[tuple[StateCache, Path, bytes, _FileResult]] = []  # parsed, waiting for keep_parsed()

    def attach(self, state_dir: Path) -> None:
        """Keep the files' establishments under ``state_dir`` too, when ``persist`` was asked for."""
        if self.persist and (self.disk is None or self.disk.folder.parent != state_dir):
            self.disk = StateCache(state_dir, create=self.make_state_dir)

    def digest(self, files: Sequence[Path]) -> str:
        """One SHA-256 over these files' names and bytes as last loaded (the key of what is built from them)."""
        whole = hashlib.sha256()
        for file in files:
            entry = self._entries.get(file)
            whole.update(str(file).encode() + b"\0" + (entry[1] if entry else b"?") + b"\0")
        return whole.hexdigest()

    def result(self, file: Path, raw: bytes, digest: bytes) -> _FileResult:
        """The file's result: the cached one when its bytes (``digest``: their SHA-256) are the same, a fresh parse
        otherwise."""
        entry = self._entries.get(file)
        if entry is not None and entry[0] == len(raw) and entry[1] == digest:
            self.reused += 1
            return entry[2]
        result = self._restored(file, digest)
        if result is None:
            result = _load_file(str(file), raw)
            self.parsed += 1
            self.slow_items += result.slow_items
            self._save(file, digest, result)
        self._entries[file] = (len(raw), digest, result)
        return result

    @staticmethod
    def _entry(file: Path, digest: bytes) -> tuple[str, str]:
        """The name of a file's entry in the state directory (one per registry file) and the key it is valid for."""
        name = f"registry-{hashlib.sha256(str(file).encode()).hexdigest()[:24]}.json"
        return name, entry_key(snapshot.FORMAT, str(file), digest.hex())

    def _restored(self, file: Path, digest: bytes) -> _FileResult | None:
        if self.disk is None:
            return None
        payload = self.disk.read(*self._entry(file, digest))
        found = None if payload is None else snapshot.decode(payload)
        if found is None:
            return None
        self.restored += 1
        establishments, items, count = found
        return _FileResult(establishments, items, count=count)

    def _save(self, file: Path, digest: bytes, result: _FileResult) -> None:
        # Only a file without problems: a file with some fails the load, and its problems are always told from a
        # fresh parse.
        if self.disk is not None and not result.problems:
            if self.defer:
                self._unkept.append((self.disk, file, digest, result))
            else:
                self._write(self.disk, file, digest, result)

    def _write(self, disk: StateCache, file: Path, digest: bytes, result: _FileResult) -> None:
        name, key = self._entry(file, digest)
        disk.write(name, key, snapshot.encode(result.establishments, result.items, result.count))

    @property
    def unkept(self) -> int:
        """How many parsed files wait for :meth:`keep_parsed`."""
        return len(self._unkept)

    def keep_parsed(self) -> None:
        """Write the files parsed and held (``defer``) to the state directory; safe in a thread of its own while
        the next load runs (each entry's key names the bytes it was parsed from)."""
        waiting, self._unkept = self._unkept, []
        for disk, file, digest, result in waiting:
            self._write(disk, file, digest, result)

    def retain(self, files: Sequence[Path]) -> None:
        """Forget files that are no longer part of the registry."""
        keep = set(files)
        for gone in [f for f in self._entries if f not in keep]:
            del self._entries[gone]
        if self.disk is not None:
            self.disk.prune("registry-", {self._entry(file, b"")[0] for file in files})


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
    with gc_paused():
        for file in files:
            try:
                raw, digest = read_hashed(file)
            except ConfigError as exc:
                problems.extend(exc.problems)
                continue
            result = cache.result(file, raw, digest)
            problems.extend(result.problems)
            loaded.append((file, raw, result))
        cache.retain(files)
        establishments, duplicates, first = _merge(loaded)
        cache.origins = {est_id: (loaded[number][0], item) for est_id, (number, item) in first.items()}
    problems.extend(duplicates)
    if problems:
        raise ConfigError(problems)
    return Registry(MappingProxyType(establishments), files)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: parsing builds millions of objects, none of them cyclic garbage, and
    collections triggered by their mere number would double the parsing time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _merge(
    loaded: list[tuple[Path, bytes, _FileResult]],
) -> tuple[dict[str, Establishment], list[Problem], dict[str, tuple[int, int]]]:
    """All files' establishments by id, a problem at each later occurrence of an id, naming the first, and where
    each id first stands (file number, item number)."""
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
        return establishments, [], first
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
    return establishments, problems, first


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
                found[item] = position(em, pos, ("id",))
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
    # A mapping's problems stand where it starts; a file that is no mapping is wrong from its first line.
    root = data.pos if isinstance(data, YMap) else Pos(name, 1, 1)
    seq, faults = registry_items(data)
    if faults:
        return _FileResult(problems=_located(faults, data, root))
    rules = Rules()
    ests: list[Establishment] = []
    items: list[int] = []
    id_pos: dict[int, Pos] = {}
    problems: list[Problem] = []
    for number, item in enumerate(seq):
        pos = position(data, root, (_KEY, number))
        found = rules.establishment(item)
        if isinstance(found, Establishment):
            ests.append(found)
            items.append(number)
            id_pos[number] = position(item, pos, ("id",))
        else:
            problems.extend(_located(found, item, pos))
    return _FileResult(tuple(ests), tuple(items), id_pos, tuple(problems), len(seq), len(seq))


def _located(faults: list[Fault], node: Any, pos: Pos) -> tuple[Problem, ...]:
    """The faults the rules found in ``node`` (read by PyYAML, standing at ``pos``), at their file positions."""
    return tuple(Problem(*position(node, pos, f.path, on_key=f.on_key), f.message) for f in faults)


def _valid(rules: Rules, item: Any) -> Establishment | None:
    """The item as an establishment, or None when it has faults: the fast path needs no more to know that PyYAML
    must read it again."""
    found = rules.establishment(item)
    return found if isinstance(found, Establishment) else None


def _load_fast(name: str, raw: bytes, text: str) -> _FileResult | None:
    """The file through yaml-rs, with PyYAML only for the items that need it; None to read the whole file slowly.

    Items with faults, and items holding a scalar that yaml-rs may have typed differently from the text written
    (:func:`~alertd.config.yamlsrc.ambiguous_scalars`), are parsed again by PyYAML one by one and go through the
    rules again, which gives both the exact result and the positions of their faults.
    """
    rules = Rules()
    found: list[Establishment | None] | None = None
    trusted = False  # whether PyYAML refusing an item alone is that item's problem, not a bad cut
    slices = None if anchored(text) else sequence_items(text, _KEY, strict=False)
    if slices is not None:
        found, refused = _parse_chunks(text, slices, rules)
        if refused:
            trusted = sequence_items(text, _KEY) is not None
            if not trusted or None not in found:
                found = None
    if found is None:
        rules, trusted = Rules(), False
        try:
            data = loads_fast(text)
        except FastParseError:
            return None
        seq, faults = registry_items(data)
        if faults:
            return None  # a problem with the file's shape: PyYAML says where
        found = [_valid(rules, item) for item in seq]
        del data, seq
    redo = {number for number, est in enumerate(found) if est is None}
    offsets = ambiguous_scalars(raw) if rules.ints or b"!" in raw else []
    if not redo and not offsets:
        return _FileResult(tuple(est for est in found if est is not None), tuple(range(len(found))), count=len(found))
    if slices is None or len(slices) != len(found):
        slices = sequence_items(text, _KEY, strict=False)
        if slices is None or len(slices) != len(found):
            return None
    redo.update(_items_at(raw, offsets, slices))
    ests: list[Establishment] = []
    items: list[int] = []
    id_pos: dict[int, Pos] = {}
    problems: list[Problem] = []
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
            problems.extend(p for p in at_fault.problems if p not in problems)
            continue
        if one is None:
            return None
        item, pos = one
        read_one = rules.establishment(item)
        if isinstance(read_one, Establishment):
            ests.append(read_one)
            items.append(number)
            id_pos[number] = position(item, pos, ("id",))
        else:
            problems.extend(_located(read_one, item, pos))
    return _FileResult(tuple(ests), tuple(items), id_pos, tuple(problems), len(found), len(redo))


_CHUNK = 1000  # items parsed by one call of yaml-rs: a whole 100 MB file at once would take 1.4 GB


def _parse_chunks(text: str, slices: list[Slice], rules: Rules) -> tuple[list[Establishment | None], bool]:
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
            found.extend(_valid(rules, item) for item in data)
            continue
        refused = True
        for piece in part:
            try:
                one = loads_fast(text[piece.start : piece.end])
            except FastParseError:
                found.append(None)
                continue
            found.append(_valid(rules, one[0]) if type(one) is list and len(one) == 1 else None)
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
