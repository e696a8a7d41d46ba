"""Online backups of the store and their restore (contract §1, "Recovering state").

A backup is SQLite's online backup of the live database (:meth:`sqlite3.Connection.backup`: consistent while the
daemon writes), into a file of its own (no WAL beside it), quick-checked before it takes its place and before the
oldest backup is removed. A restore copies a backup back the same way, the damaged file kept aside, never deleted;
:class:`~alertd.store.sqlite.Store` then carries in what the send journal says was sent since.

A backup's name carries its store's id and a counter (``alertd-<store>-<counter>-<UTC time>.sqlite3``): two alertd
instances sharing a backup folder never pick, nor rotate away, each other's backups, and "newest" follows the
counter, never a wall clock that may have been wrong when the backup was taken. Backups named before the store id
was in the name (``alertd-<time>.sqlite3``) are still read: their store is read from the file, and they count as
older than any counted one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from alertd.domain.errors import DamagedState, StateRefused
from alertd.store.identity import ID_KEY, fsync_dir
from alertd.store.statedir import damage, is_damage, quick_check

SUFFIX = ".sqlite3"
_PRIVATE = 0o600
_SIDECARS = ("-wal", "-shm", "-journal")
_NAME = re.compile(r"alertd-(?:(?P<store>[0-9a-f]+)-(?P<count>\d+)-)?(?P<time>\d{8}T\d{6}Z)\.sqlite3")
# A backup dated more than this ahead of the clock was taken while the clock was wrong: it is warned of.
FUTURE_SLACK = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Found:
    """A backup in a folder: its store (None when the file does not say), its counter (0 for an old name) and
    the UTC time in its name."""

    path: Path
    store: str | None
    count: int
    stamp: str


def backup_name(store: str, count: int, now: datetime) -> str:
    """A backup's file name: its store, its counter (the order of the store's backups) and its UTC time."""
    return f"alertd-{store}-{count:06d}-{now.strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


def store_of(path: Path) -> str | None:
    """The id of the store a database file holds (None when it holds none, or cannot be read)."""
    try:
        db = read_only(path)
    except sqlite3.Error:
        return None
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (ID_KEY,)).fetchone()
        return None if row is None else str(row[0])
    except sqlite3.Error:
        return None
    finally:
        db.close()


def read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection that never creates the file (``mode=ro``); the sidecars SQLite may add for a WAL
    database are private."""
    previous = os.umask(0o077)
    try:
        return sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=30.0)
    finally:
        os.umask(previous)


def copy_checked(source: Path, dest: Path) -> None:
    """Copy the database at ``source`` into ``dest`` with SQLite's backup API, as one file (journal mode DELETE),
    quick-checked and fsynced, put in place atomically. :class:`DamagedState` when the source (or the copy) is
    damaged: ``dest`` is then left as it was."""
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, _PRIVATE))
    try:
        src = read_only(source)
        try:
            target = sqlite3.connect(tmp, isolation_level=None)
            try:
                src.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")
                quick_check(target, source)
            finally:
                target.close()
        finally:
            src.close()
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(dest)
    except sqlite3.Error as exc:
        if is_damage(exc):
            raise damage(source, str(exc)) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(dest.parent)


def found(folder: Path, store: str | None = None) -> list[Found]:
    """The backups in a folder (only ``store``'s when given), newest first: by counter, then by the time in their
    name (backups of an old name, whose store is read from the file, come after the counted ones)."""
    listed: list[Found] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for path in folder.iterdir():
            named = _NAME.fullmatch(path.name)
            if named is None:
                continue
            owner = named["store"] or store_of(path)
            if store is None or owner == store:
                listed.append(Found(path, owner, int(named["count"] or 0), named["time"]))
    return sorted(listed, key=lambda b: (b.count, b.stamp), reverse=True)


def backups(folder: Path, store: str | None = None) -> list[Path]:
    """The backups in a folder (only ``store``'s when given), newest first (:func:`found`)."""
    return [b.path for b in found(folder, store)]


def is_good(path: Path) -> bool:
    """Whether a file is a database SQLite's quick check passes."""
    try:
        db = read_only(path)
    except sqlite3.Error:
        return False
    try:
        quick_check(db, path)
        return True
    except (DamagedState, sqlite3.Error):
        return False
    finally:
        db.close()


def newest_good(folder: Path, store: str | None = None) -> Path | None:
    """The newest backup (of ``store`` when given) that passes the quick check (a damaged one is skipped, and
    left where it is)."""
    return next((b for b in backups(folder, store) if is_good(b)), None)


def take(db_path: Path, folder: Path, keep: int, now: datetime) -> tuple[Path, list[Path]]:
    """A backup of the store into ``folder``, named after its store and counted after that store's newest; once
    it is checked and in place, that store's backups beyond the newest ``keep`` are removed (never another
    store's). Returns the backup and the removed ones."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = store_of(db_path)
    if store is None:  # a file with no identity yet is not a store alertd opened: said as damage would be
        raise damage(db_path, "its store id cannot be read")
    mine = found(folder, store)
    made = folder / backup_name(store, (mine[0].count if mine else 0) + 1, now)
    copy_checked(db_path, made)
    removed = backups(folder, store)[keep:]
    for old in removed:
        old.unlink(missing_ok=True)
    return made, removed


def next_due(folder: Path, store: str, every: timedelta, now: datetime) -> tuple[datetime, Path | None]:
    """When the store's next backup is due: now when it has none, ``every`` after its newest one was written, and
    never later than ``now + every`` (a backup written while the clock was ahead must not hold the next ones
    back). The second item is that newest backup when it is dated in the future (for the caller to warn of)."""
    newest = found(folder, store)[:1]
    if not newest:
        return now, None
    try:
        written = datetime.fromtimestamp(newest[0].path.stat().st_mtime, UTC)
    except OSError:
        return now, None
    ahead = newest[0].path if written > now + FUTURE_SLACK else None
    return min(max(now, written + every), now + every), ahead


@contextmanager
def stopped(db_path: Path) -> Iterator[None]:
    """Hold the store's sender lock while the state is replaced: refused while an alertd daemon (or a ``run
    --once`` sending) runs on it; a daemon started meanwhile refuses to start."""
    lock = db_path.with_name(db_path.name + ".send-lock")
    fd = os.open(lock, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC, _PRIVATE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateRefused(
                f"an alertd process is running on {db_path.parent} (it holds {lock}): stop it first "
                "(`systemctl stop alertd`), then restore"
            ) from None
        yield
    finally:
        os.close(fd)


def put_back(db_path: Path, source: Path, now: datetime) -> Path | None:
    """Replace the store with a checked copy of ``source`` (hold :func:`stopped` around it). The file it replaces
    and its sidecars are kept aside as ``alertd.sqlite3.damaged-<time>``; returns that path (None when there was
    no file)."""
    restoring = db_path.with_name(f"{db_path.name}.restoring")
    copy_checked(source, restoring)
    aside: Path | None = None
    if os.path.lexists(db_path):
        aside = db_path.with_name(f"{db_path.name}.damaged-{now.strftime('%Y%m%dT%H%M%SZ')}")
        db_path.rename(aside)
    for suffix in _SIDECARS:  # the old file's WAL belongs to it, not to the backup
        side = db_path.with_name(db_path.name + suffix)
        if os.path.lexists(side):
            if aside is not None:
                side.rename(aside.with_name(aside.name + suffix))
            else:
                side.unlink()
    restoring.replace(db_path)
    fsync_dir(db_path.parent)
    return aside
