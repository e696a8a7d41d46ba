"""Where the configuration loader's files come from: the disk, recorded or not, or the snapshot of the running one.

Every file a load reads goes through :func:`read` and every folder it lists through :func:`listing` (the registry
folder); both consult two context variables, so that one ``load_config`` serves three uses:

- :func:`recording` — the daemon's loads: each file's SHA-256 and each listing noted (:class:`Recording`), and the
  bytes of the files not kept yet held for :func:`alertd.store.loaded.keep`;
- :func:`served_from` — the running configuration: every read answered from the snapshot the daemon kept
  (:class:`Snapshot`), a file it lacks a :class:`ConfigError`;
- neither — the files on disk, as every other command reads them.

Context variables rather than a parameter through every reader: the readers stay as they are, and a worker thread
(``asyncio.to_thread``) sees what its caller set.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import TypeVar

from alertd.domain.errors import ConfigError, Problem
from alertd.store.loaded import Manifest, read_kept, stored

T = TypeVar("T")


class Recording:
    """What one load read: the files' digests, the folders' listings, and the bytes not kept yet."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}
        self.listings: dict[str, tuple[str, ...]] = {}
        self.fresh: dict[str, bytes] = {}  # digest -> bytes, for the files state_dir does not hold yet
        self.kept: set[str] | None = None  # the digests state_dir holds; None until the load knows state_dir

    def attach(self, state_dir: Path) -> None:
        """The state directory is known: bytes it already holds need not be held (a reload holds one file's)."""
        self.kept = stored(state_dir)
        for digest in [d for d in self.fresh if d in self.kept]:
            del self.fresh[digest]

    def saw(self, path: Path, raw: bytes, digest: str) -> None:
        self.files[str(path)] = digest
        if self.kept is None or digest not in self.kept:
            self.fresh[digest] = raw

    def manifest(self, config: Path) -> Manifest:
        return Manifest(str(config.resolve()), dict(self.files), dict(self.listings))


class Snapshot:
    """The files of the running configuration, read from the daemon's manifest and the bytes it kept."""

    def __init__(self, state_dir: Path, manifest: Manifest) -> None:
        self.state_dir = state_dir
        self.manifest = manifest

    def read(self, path: Path) -> bytes:
        digest = self.manifest.files.get(str(path))
        raw = None if digest is None else read_kept(self.state_dir, digest)
        if raw is None:
            why = "was not read by the running daemon" if digest is None else "lost from its snapshot"
            raise ConfigError(
                [Problem(str(path), 1, 1, f"this file {why} ({self.state_dir}/running-config/); reload the daemon")]
            )
        return raw

    def exists(self, path: Path) -> bool:
        return str(path) in self.manifest.files or str(path) in self.manifest.listings


_recording: ContextVar[Recording | None] = ContextVar("alertd_config_recording", default=None)
_served: ContextVar[Snapshot | None] = ContextVar("alertd_config_snapshot", default=None)


@contextlib.contextmanager
def _holding(var: ContextVar[T | None], value: T) -> Iterator[T]:
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


def recording(into: Recording) -> contextlib.AbstractContextManager[Recording]:
    """Note every file and listing the loads within read into ``into``."""
    return _holding(_recording, into)


def served_from(snapshot: Snapshot) -> contextlib.AbstractContextManager[Snapshot]:
    """Answer every read within from ``snapshot`` instead of the disk."""
    return _holding(_served, snapshot)


def read(path: Path) -> bytes:
    """The bytes of a config file; an unreadable file is a :class:`ConfigError` at line 1."""
    return read_hashed(path)[0]


def read_hashed(path: Path) -> tuple[bytes, bytes]:
    """:func:`read`, with the bytes' SHA-256: one hash serves both the recording and the caller (the registry's
    cache, keyed by it: a national registry's 100 MB are hashed once a load, not twice)."""
    snapshot = _served.get()
    raw = snapshot.read(path) if snapshot is not None else _from_disk(path)
    digest = hashlib.sha256(raw).digest()
    noting = _recording.get()
    if snapshot is None and noting is not None:
        noting.saw(path, raw, digest.hex())
    return raw, digest


def _from_disk(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError([Problem(str(path), 1, 1, f"cannot read file: {exc.strerror or exc}")]) from None


def listing(folder: Path, suffixes: tuple[str, ...]) -> tuple[Path, ...] | None:
    """The files of ``folder`` with one of ``suffixes``, sorted; None when ``folder`` is no folder."""
    snapshot = _served.get()
    if snapshot is not None:
        names = snapshot.manifest.listings.get(str(folder))
        return None if names is None else tuple(folder / name for name in names)
    if not folder.is_dir():
        return None
    files = tuple(sorted(p for p in folder.iterdir() if p.suffix in suffixes and p.is_file()))
    noting = _recording.get()
    if noting is not None:
        noting.listings[str(folder)] = tuple(p.name for p in files)
    return files


def exists(path: Path) -> bool:
    """Whether the file or folder exists where the load reads: on disk, or in the snapshot."""
    snapshot = _served.get()
    return path.exists() if snapshot is None else snapshot.exists(path)


def attach(state_dir: Path) -> None:
    """Tell the recording, if any, where the daemon keeps its files (see :meth:`Recording.attach`)."""
    noting = _recording.get()
    if noting is not None:
        noting.attach(state_dir)


def from_snapshot() -> bool:
    """Whether the reads are served from a snapshot (the disk's own checks, the last byte of a file, are not)."""
    return _served.get() is not None
