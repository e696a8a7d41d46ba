"""What alertd derives from the operator's files and keeps in ``state_dir/cache/`` to start faster: a cache,
never a record.

A national registry takes seconds to parse and its match index seconds to build; both depend on nothing but the
files' bytes, alertd's code and the Python that runs it. Each entry is one file: a header line naming the entry's
*key* (those inputs, hashed) and the SHA-256 of the payload, then the payload. An entry is used only when

- its key is the one wanted (the files, alertd and Python are the same as when it was written),
- its payload hashes to what the header says (a truncated or corrupted file is ignored, then rewritten),
- the file, and the folder holding it, belong to the user running alertd and nobody else may write them (the
  folder is made ``0700``, each file ``0600``), and neither is a symbolic link.

Anything else is a miss: the caller parses or builds again and writes the entry anew. Writes go to a temporary
file renamed over the entry, so a reader sees the old entry or the new one, never half of one. Deleting the folder
is always safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import alertd

FOLDER = "cache"
_MAGIC = b"alertd-cache-1"


@functools.cache
def code_fingerprint() -> str:
    """alertd's version, the Python version and a hash of alertd's own files: an entry written by other code is
    never read back (a development checkout changes code without changing its version)."""
    package = Path(alertd.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".yaml", ".json") and "__pycache__" not in path.parts and path.is_file():
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return f"alertd {alertd.__version__} python {sys.version.split()[0]} code {digest.hexdigest()[:32]}"


def entry_key(*parts: str) -> str:
    """The key of an entry: its parts and :func:`code_fingerprint`, hashed."""
    return hashlib.sha256("\0".join((code_fingerprint(), *parts)).encode()).hexdigest()


def _private(st: os.stat_result, kind: int) -> bool:
    """A file system object of this kind, the running user's own, that no other user may write."""
    return (
        stat.S_IFMT(st.st_mode) == kind and st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    )


class StateCache:
    """The cache folder of one state directory. ``create`` says whether a missing state directory may be made
    (as the store makes it: ``0700``); without it, no state directory means no cache, silently."""

    def __init__(self, state_dir: Path, *, create: bool = True) -> None:
        self.folder = state_dir / FOLDER
        self._create = create
        self.hits = 0  # entries read back
        self.misses = 0  # entries wanted and not found usable (absent, stale, corrupted, not ours)
        self.written = 0

    def _usable_folder(self, make: bool) -> bool:
        try:
            if make and (self._create or self.folder.parent.is_dir()):
                self.folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self.folder.mkdir(mode=0o700, exist_ok=True)
            return _private(os.lstat(self.folder), stat.S_IFDIR)
        except OSError:
            return False

    def read(self, name: str, key: str) -> bytes | None:
        """The payload of entry ``name`` when it was written under ``key`` and is intact; None otherwise."""
        payload = self._read(name, key)
        if payload is None:
            self.misses += 1
        else:
            self.hits += 1
        return payload

    def _read(self, name: str, key: str) -> bytes | None:
        with self._opened(name, key) as file:
            return None if file is None else file.read()

    @contextlib.contextmanager
    def open(self, name: str, key: str) -> Iterator[BinaryIO | None]:
        """Like :meth:`read`, the payload as a file to read from (None when there is none usable): a reader
        that streams it (the index's unpickler) never holds the whole payload (100 MB) beside what it makes."""
        with self._opened(name, key) as file:
            if file is None:
                self.misses += 1
            else:
                self.hits += 1
            yield file

    @contextlib.contextmanager
    def _opened(self, name: str, key: str) -> Iterator[BinaryIO | None]:
        """The entry's file, positioned at its payload once the payload was checked against its digest."""
        file = self._checked(name, key)
        if file is None:
            yield None
            return
        with file:
            yield file

    def _checked(self, name: str, key: str) -> BinaryIO | None:
        if not self._usable_folder(make=False):
            return None
        try:
            fd = os.open(self.folder / name, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        file = os.fdopen(fd, "rb")
        try:
            if not _private(os.fstat(fd), stat.S_IFREG):
                raise OSError("not a private file")
            header = file.readline(200).split()
            if len(header) != 3 or header[0] != _MAGIC or header[1] != key.encode():
                raise OSError("another key")  # the payload (an index: 100 MB) is not read for nothing
            start = file.tell()
            # The payload hashed as it is read, in steps: then read again by the caller, from the page cache.
            if hashlib.file_digest(file, "sha256").hexdigest().encode() != header[2]:
                raise OSError("not the payload written")
            file.seek(start)
        except OSError:
            file.close()
            return None
        return file

    def write(self, name: str, key: str, payload: bytes) -> bool:
        """Write entry ``name`` (replacing any); False when the state directory cannot take it (never raised:
        the cache only ever saves time)."""
        if not self._usable_folder(make=True):
            return False
        header = b" ".join((_MAGIC, key.encode(), hashlib.sha256(payload).hexdigest().encode())) + b"\n"
        for left in self.folder.glob(f".{name}.*"):  # what a writer stopped mid-way left behind
            with contextlib.suppress(OSError):
                left.unlink()
        try:
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.")  # 0600
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(header)
                file.write(payload)
            Path(temporary).replace(self.folder / name)
        except OSError:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()
            return False
        self.written += 1
        return True

    def prune(self, prefix: str, keep: set[str]) -> None:
        """Remove the entries named ``prefix…`` other than ``keep`` (those of files no longer in the registry)."""
        if not self._usable_folder(make=False):
            return
        with contextlib.suppress(OSError):
            for path in self.folder.iterdir():
                if path.name.startswith(prefix) and path.name not in keep:
                    path.unlink()
