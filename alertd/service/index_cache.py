"""The match index kept in ``state_dir/cache/`` between runs, so that a start or a poll with an unchanged
registry reads it back instead of building it (seconds at national scale).

The entry's key (:mod:`alertd.store.statecache`) covers everything the index is built from: the registry files'
names and bytes, the operator's allowlist, the version of the default benign lists, alertd's code and Python's
version. The index is stored with :mod:`pickle`: its name structures are many small objects of classes that
change with alertd (JSON would need a form per class). Pickle runs code named in the file, so this one is read
only under these conditions:

- the file passed the cache's checks: in the daemon's own state directory, owned by the user running alertd,
  writable by nobody else, not a link, its payload intact;
- the unpickler resolves only an allowlist of names (:data:`_ALLOWED`, alertd's own classes and a few standard
  ones): no function of any module can be called by a crafted file;
- establishments are not stored but named by id and taken from the registry just loaded, so the index read back
  serves that registry's own objects (and costs no memory twice).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import importlib.metadata
import io
import json
import pickle
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import IO, Any

from alertd.config.registry import gc_paused
from alertd.domain.establishments import Establishment, Registry
from alertd.match.benign import Allowlist, BenignLists, default_benign
from alertd.match.index import MatchIndex
from alertd.service.logs import get_logger
from alertd.store.statecache import StateCache, entry_key

ENTRY = "match-index.pickle"
FORMAT = "match-index-1"
BENIGN_ENTRY = "benign-lists.json"
BENIGN_FORMAT = "benign-lists-1"
log = get_logger("alertd")

# The standard names an index is made of; anything else of the standard library is refused.
_ALLOWED = {
    ("builtins", "frozenset"),
    ("builtins", "set"),
    ("builtins", "list"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("ipaddress", "IPv4Network"),
    ("ipaddress", "IPv6Network"),
    ("ipaddress", "IPv4Address"),
    ("ipaddress", "IPv6Address"),
    ("re", "_compile"),
    ("array", "_array_reconstructor"),
    ("array", "array"),
    ("pathlib", "PosixPath"),
    ("collections", "defaultdict"),
    ("collections", "OrderedDict"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    """The fields of a dataclass whose ``__init__`` takes them all (stored as its arguments), else ()."""
    names = _FIELDS.get(cls)
    if names is None:
        fields = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
        names = tuple(f.name for f in fields) if fields and all(f.init for f in fields) else ()
        _FIELDS[cls] = names
    return names


def _proxy(mapping: dict[Any, Any]) -> MappingProxyType[Any, Any]:
    """A read-only view again, as the index held it (a ``mappingproxy`` has no pickle form of its own)."""
    return MappingProxyType(mapping)


def _establishment(est_id: str) -> Establishment:  # pragma: no cover - replaced by the unpickler's own lookup
    raise pickle.UnpicklingError(f"establishment {est_id!r} read outside an index")


def _registry() -> Registry:  # pragma: no cover - replaced by the unpickler's own
    raise pickle.UnpicklingError("registry read outside an index")


def _same(registry: Registry) -> Callable[[], Registry]:
    return lambda: registry


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO, registry: Registry) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._registry = registry
        self._ests = registry.establishments

    def reducer_override(self, obj: Any) -> Any:
        cls = type(obj)
        if cls is Establishment:
            est_id: str = obj.id
            if self._ests.get(est_id) is obj:  # the registry's own: named, and taken from the registry read
                return _establishment, (est_id,)
        if obj is self._registry:
            return _registry, ()
        if cls is MappingProxyType:
            return _proxy, (dict(obj),)
        names = _fields(cls)
        if names:  # frozen dataclasses: their arguments, not a state set field by field (3x faster to read)
            return cls, tuple([getattr(obj, name) for name in names])
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes], registry: Registry) -> None:
        super().__init__(file)
        self._registry = registry

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_establishment":
            return self._registry.establishments.__getitem__
        if module == __name__ and name == "_registry":
            return _same(self._registry)  # not a closure over the unpickler: its memo would live on in a cycle
        if module == __name__ and name == "_proxy":
            return _proxy
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module == "alertd" or module.startswith("alertd."):
            found = super().find_class(module, name)
            if isinstance(found, type):  # a class of alertd's: never a function of alertd's
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a match index")


def _benign_version() -> str:
    try:
        return importlib.metadata.version("pymispwarninglists")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - a dependency
        return "?"


def benign_lists(cache: StateCache) -> BenignLists:
    """The default benign lists (:func:`alertd.match.benign.default_benign`), read back from the state directory
    as JSON when this version of them was read before: about 1 s of parsing the warninglists' files (and of
    importing their package) saved at each start that builds an index."""
    key = entry_key(BENIGN_FORMAT, _benign_version())
    payload = cache.read(BENIGN_ENTRY, key)
    if payload is not None:
        try:
            form, networks, domains, lists = json.loads(payload)
            if form == BENIGN_FORMAT:
                blocks = tuple([(int(v), int(first), int(last), str(label)) for v, first, last, label in networks])
                return BenignLists(blocks, MappingProxyType(dict(domains)), tuple(lists))
        except (ValueError, TypeError):
            pass  # not of this form: read from the warninglists again
    lists = default_benign()
    document = [BENIGN_FORMAT, lists.networks, dict(lists.domains), lists.lists]
    cache.write(BENIGN_ENTRY, key, json.dumps(document, separators=(",", ":")).encode())
    return lists


def index_key(registry_digest: str, allowlist: Allowlist | None) -> str:
    """The key of an index built from these registry files, this allowlist and the default benign lists."""
    return entry_key(FORMAT, registry_digest, repr(allowlist), _benign_version())


def read_index(cache: StateCache, key: str, registry: Registry) -> MatchIndex | None:
    """The index stored under ``key``, serving ``registry``; None when there is none usable."""
    with cache.open(ENTRY, key) as file:
        if file is None:
            return None
        try:
            with kept_for_good():
                # Read from the file: its 100 MB are never held whole beside the index being made.
                found = _Unpickler(file, registry).load()
        except Exception as exc:  # a stale or foreign entry: built again, never trusted
            log.warning("match index cache ignored", error=repr(exc)[:200])
            return None
    return found if isinstance(found, MatchIndex) else None


def write_index(cache: StateCache, key: str, registry: Registry, index: MatchIndex) -> bool:
    """Store ``index`` (built from ``registry``) under ``key``; False when it could not be."""
    out = io.BytesIO()
    try:
        with gc_paused():
            _Pickler(out, registry).dump(index)
    except (pickle.PicklingError, TypeError, AttributeError, RuntimeError) as exc:  # a part with no pickle form
        log.warning("match index not cached", error=repr(exc)[:200])
        return False
    return cache.write(ENTRY, key, out.getvalue())


def cached_index(
    cache: StateCache, key: str, registry: Registry, build: Callable[[], MatchIndex]
) -> tuple[MatchIndex, bool]:
    """The index stored under ``key``, or ``build()``'s (then stored); and whether it was read back."""
    found = read_index(cache, key, registry)
    if found is not None:
        return found, True
    index = build()
    write_index(cache, key, registry, index)
    return index, False


@contextlib.contextmanager
def kept_for_good() -> Iterator[None]:
    """Make objects that live as long as the configuration (the index: millions of them) with the collector
    paused, then freeze everything made so far (:func:`gc.freeze`): left to the collector, each full collection
    would walk them all (3 s of an 8 s poll of the national registry). A reload thaws them
    (:meth:`~alertd.service.engine.Engine.adopt`), so that what the old configuration leaves is collected."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
