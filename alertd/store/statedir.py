"""What can be wrong with the state directory and the store's file, said in the operator's words (contract §1).

A state directory alertd cannot create or write, or a file in its place, is a configuration error (the path and
the permission needed); a database SQLite finds damaged is refused with the path and the next step. Neither ends
in a traceback.
"""

from __future__ import annotations

import os
import pwd
import sqlite3
import stat
from pathlib import Path

from alertd.domain.errors import DamagedState, StateDirError, StoreError

BACKUPS = "backups"  # the default backup folder, inside state_dir
# SQLite's primary result codes for a damaged file and for a file that is not a database.
_CORRUPT, _NOTADB = 11, 26

RESTORE_STEPS = (
    "stop alertd, then run `alertd state restore` (it puts back the newest good backup, keeps the damaged file "
    "aside and carries in what was sent since), and start alertd again; with no backup at all, move the file "
    "aside and run `alertd run --once --new-state`"
)


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def _needs(folder: Path) -> str:
    user = _user()
    return (
        f"alertd, running as {user}, needs read, write and search permission (rwx) on it: "
        f"`chown {user} {folder} && chmod 0700 {folder}`"
    )


def usable_dir(folder: Path) -> None:
    """Create ``folder`` (0700) if need be and make sure this user may write in it; :class:`StateDirError` with
    the path and the permission needed otherwise."""
    check_dir(folder)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except PermissionError:
        parent = next((p for p in folder.parents if p.exists()), folder.parent)
        raise StateDirError(
            f"cannot create state_dir {folder}: permission denied in {parent}; create it for alertd's user "
            f"(`install -d -o {_user()} -m 0700 {folder}`), or point state_dir elsewhere"
        ) from None
    except (NotADirectoryError, FileExistsError):
        raise StateDirError(
            f"cannot create state_dir {folder}: a file stands where one of its folders should be"
        ) from None
    except OSError as exc:
        raise StateDirError(f"cannot create state_dir {folder}: {exc.strerror or exc}") from None
    check_dir(folder)


def absent(path: Path) -> str | None:
    """What stands at the store's path when it holds no store: "no file", "an empty file"; None otherwise."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "no file"
    except OSError:
        return None  # said when it is opened
    return "an empty file" if st.st_size == 0 and not path.is_symlink() else None


def is_damage(exc: BaseException) -> bool:
    """Whether an exception is SQLite saying the file is damaged, or not a database at all."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    text = str(exc)
    return code in (_CORRUPT, _NOTADB) or "malformed" in text or "not a database" in text


def damage(path: Path, detail: str = "") -> DamagedState:
    """The refusal of a damaged store: its path, what SQLite said, the next step."""
    said = f" (SQLite: {detail})" if detail else ""
    return DamagedState(f"{path} is damaged{said}; {RESTORE_STEPS}")


def quick_check(db: sqlite3.Connection, path: Path) -> None:
    """SQLite's quick check of the whole file (every page read once); :class:`DamagedState` when it fails."""
    try:
        rows = [str(row[0]) for row in db.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.DatabaseError as exc:
        raise damage(path, str(exc)) from None
    if rows != ["ok"]:
        first = rows[0].splitlines()
        raise damage(path, "; ".join(line for line in first[:3] if not line.startswith("***")))


def refusal(path: Path, exc: sqlite3.Error) -> StoreError | None:
    """The error to raise for what SQLite said on opening the store: damage, or a file alertd may not write;
    None for anything else (raised as it is)."""
    if is_damage(exc):
        return damage(path, str(exc))
    text = str(exc)
    if "unable to open" in text or "readonly" in text:
        for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
            if (foreign := not_mine(file)) is not None:
                return foreign
        return StateDirError(f"cannot open {path} for writing ({text}): {_needs(path.parent)}")
    return None


def user_name(uid: int) -> str:
    """A user's name, or ``uid N`` for one the system does not name (a ``DynamicUser`` while its unit is stopped)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def not_mine(file: Path) -> StateDirError | None:
    """The refusal of a state file this user may not write because another user owns it (made by root, say):
    the file, its owner and the fix; None when it is not so."""
    try:
        st = os.lstat(file)
    except OSError:
        return None
    if st.st_uid == os.geteuid() or os.access(file, os.R_OK | os.W_OK, follow_symlinks=False):
        return None
    owner, folder = user_name(st.st_uid), file.parent
    return StateDirError(
        f"cannot open {file}: it belongs to {owner}, and alertd runs as {_user()} (a command run as {owner} made "
        f"it?): give it back (`chown {_user()} {file}`), or run alertd's commands as the owner of {folder}"
    )


def owner(folder: Path) -> tuple[int, int] | None:
    """The user and group a command run as root must leave the state files to: ``folder``'s owner, when this
    process is root and the folder belongs to another user (systemd's ``DynamicUser``/``StateDirectory``, a
    service user); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        st = folder.stat()
    except OSError:
        return None
    return None if st.st_uid == 0 else (st.st_uid, st.st_gid)


def give_back(folder: Path, to: tuple[int, int]) -> int:
    """Give the files and folders root made under ``folder`` (the store, its sidecars, the marker, the journal,
    the lock, backups, the cache, a Maildir) to ``to``, the user the service runs as; how many. Run by a command
    run as root once it is done, so the service can open what it left.

    Each entry is opened without following links and checked on what was opened (a regular file with one link,
    or a folder, owned by root) before its owner changes: a link or a hard link another user slipped in is
    never given away."""
    given = 0
    for top, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            entry = Path(top) / name
            try:
                fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                plain = stat.S_ISREG(st.st_mode) and st.st_nlink == 1
                if st.st_uid == 0 and (plain or stat.S_ISDIR(st.st_mode)):
                    os.fchown(fd, *to)
                    given += 1
            except OSError:
                continue
            finally:
                os.close(fd)
    return given


def check_dir(folder: Path) -> None:
    """:func:`usable_dir` without creating anything (``alertd check``): a missing state_dir is fine (the first
    start creates it)."""
    if not os.path.lexists(folder):
        return
    if not folder.is_dir():
        raise StateDirError(f"state_dir {folder} is a file, not a folder: move it away, or point state_dir elsewhere")
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        raise StateDirError(f"state_dir {folder} is not writable: {_needs(folder)}")
