"""Online backups of the store and their restore (contract §1, "Recovering state").

A backup is SQLite's online backup of the live database (:meth:`sqlite3.Connection.backup`: consistent while the
daemon writes), into a file of its own (no WAL beside it), quick-checked before it takes its place and before the
oldest backup is removed. A restore copies a backup back the same way, the damaged file kept aside, never deleted;
:class:`~alertd.store.sqlite.Store` then carries in what the send journal says was sent since.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from alertd.domain.errors import DamagedState, StateRefused
from alertd.store.identity import fsync_dir
from alertd.store.statedir import damage, is_damage, quick_check

SUFFIX = ".sqlite3"
_PRIVATE = 0o600
_SIDECARS = ("-wal", "-shm", "-journal")


def backup_name(now: datetime) -> str:
    """A backup's file name: its UTC time, so names sort as times do."""
    return f"alertd-{now.strftime('%Y%m%dT%H%M%SZ')}{SUFFIX}"


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


def backups(folder: Path) -> list[Path]:
    """The backups in a folder, newest first."""
    with contextlib.suppress(FileNotFoundError):
        found = [p for p in folder.iterdir() if p.name.startswith("alertd-") and p.name.endswith(SUFFIX)]
        return sorted(found, key=lambda p: p.name, reverse=True)
    return []


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


def newest_good(folder: Path) -> Path | None:
    """The newest backup that passes the quick check (a damaged one is skipped, and left where it is)."""
    return next((b for b in backups(folder) if is_good(b)), None)


def take(db_path: Path, folder: Path, keep: int, now: datetime) -> tuple[Path, list[Path]]:
    """A backup of the store into ``folder``; once it is checked and in place, the backups beyond the newest
    ``keep`` are removed. Returns the backup and the removed ones."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = folder / backup_name(now)
    copy_checked(db_path, made)
    removed = backups(folder)[keep:]
    for old in removed:
        old.unlink(missing_ok=True)
    return made, removed


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
