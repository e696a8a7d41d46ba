"""``alertd state backup`` and ``alertd state restore``, and what ``alertd check`` says of the state (contract §1,
"Recovering state"; README "Recovering state")."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alertd.domain.errors import LostState, StateDirError, StateRefused
from alertd.domain.settings import Settings
from alertd.service.clock import utcnow
from alertd.store import backup, identity, statedir
from alertd.store.sqlite import DATABASE, Store

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


@contextmanager
def left_to_owner(settings: Settings, *, daemon: bool = False) -> Iterator[None]:
    """Run a command as root on a state_dir another user owns (the service's: systemd's ``DynamicUser`` and
    ``StateDirectory``, or a service user), and give that user every file the command made there and in the
    backup folder once it is done (:func:`~alertd.store.statedir.give_back`): a store restored by root, its
    marker, a backup, the cache stay usable by the service. The daemon itself is refused: it writes as long as it
    runs, so it must run as that user."""
    owner = statedir.owner(settings.state_dir)
    if owner is not None and daemon:
        name = statedir.user_name(owner[0])
        raise StateDirError(
            f"alertd runs as root, but state_dir {settings.state_dir} belongs to {name}: run the daemon as {name} "
            f"(`systemctl start alertd`, or `runuser -u {name} -- alertd run`), so what it writes stays {name}'s"
        )
    try:
        yield
    finally:
        if owner is not None:
            statedir.give_back(settings.state_dir, owner)
            # The backup folder and a Maildir elsewhere go to their own folder's owner (a root-owned one is left).
            for folder in (settings.backup_folder, settings.maildir):
                if not folder.is_relative_to(settings.state_dir) and (theirs := statedir.owner(folder)) is not None:
                    statedir.give_back(folder, theirs)


def state_problem(settings: Settings) -> str | None:
    """What is wrong with the state, read-only (``alertd check``): a state_dir alertd cannot write, a missing or
    empty store where one existed, damage (SQLite's quick check), a store behind its marker. None when it is fine
    or not created yet (the first start creates it)."""
    folder, path = settings.state_dir, settings.state_dir / DATABASE
    try:
        statedir.check_dir(folder)
        marker = identity.read_marker(identity.marker_path(path))
    except StateRefused as exc:
        return str(exc)
    found = statedir.absent(path)
    if found is not None:
        if identity.existed(path, marker, settings.backup_folder):
            return identity.missing_words(path, found, marker, settings.backup_folder)
        return None
    try:
        db = backup.read_only(path)
    except sqlite3.Error as exc:
        refused = statedir.refusal(path, exc)
        return str(refused) if refused is not None else f"{path}: {exc}"
    try:
        statedir.quick_check(db, path)
        return identity.verify_read_only(db, path, marker)
    except StateRefused as exc:
        return str(exc)
    except sqlite3.Error as exc:
        return str(statedir.damage(path, str(exc))) if statedir.is_damage(exc) else f"{path}: {exc}"
    finally:
        db.close()


def cmd_state_backup(settings: Settings, to: str | None) -> int:
    """``alertd state backup [--to FILE]``: an online backup now (the daemon may run), checked before it counts.
    ``--to`` a folder writes the backup inside it; a path alertd cannot write is a usage error (exit 2)."""
    path = settings.state_dir / DATABASE
    if statedir.absent(path) is not None:
        print(f"alertd: {path}: no store to back up", file=sys.stderr)
        return EXIT_INVALID
    removed: list[Path] = []
    if to is not None:
        made = Path(to).absolute()
        if made.is_dir():
            store = backup.store_of(path) or "store"
            made = made / backup.backup_name(store, 0, utcnow())
        if not made.parent.is_dir():
            print(f"alertd: --to {to}: there is no folder {made.parent}", file=sys.stderr)
            return EXIT_USAGE
        try:
            backup.copy_checked(path, made)
        except OSError as exc:  # the operator's path: a folder they may not write, a full disk there…
            print(f"alertd: --to {to}: cannot write {made}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
    else:
        made, removed = backup.take(path, settings.backup_folder, settings.backups.keep, utcnow())
    print(f"backed up {path} to {made} (quick check: ok)")
    for old in removed:
        print(f"  removed the oldest backup {old} (keeping {settings.backups.keep})")
    return EXIT_OK


def _choose(settings: Settings, source: str | None, marker: identity.Marker | None) -> Path | int:
    """The backup to restore, or the exit code of a refusal (said on stderr): a missing file, one the quick check
    fails, another store's backup."""
    folder, marker_file = settings.backup_folder, identity.marker_path(settings.state_dir / DATABASE)
    if source is None:
        ours = marker.store if marker is not None else None
        if ours is None and len({b.store for b in backup.found(folder)}) > 1:
            print(
                f"alertd: {folder} holds backups of several stores and {marker_file} is gone, so which one is this "
                "state_dir's cannot be told: name it, `alertd state restore FILE`",
                file=sys.stderr,
            )
            return EXIT_INVALID
        chosen = backup.newest_good(folder, ours)
        if chosen is None:
            print(
                f"alertd: no good backup{f' of store {ours}' if ours else ''} in {folder}: restore one from "
                "elsewhere with `alertd state restore FILE`, or move the store aside and run "
                "`alertd run --once --new-state`",
                file=sys.stderr,
            )
            return EXIT_INVALID
        return chosen
    chosen = Path(source).absolute()
    if not chosen.exists():
        print(f"alertd: {chosen}: no such file", file=sys.stderr)
        return EXIT_USAGE
    if not chosen.is_file() or not backup.is_good(chosen):
        print(f"alertd: {chosen} is not a database SQLite's quick check passes: choose another", file=sys.stderr)
        return EXIT_INVALID
    store = backup.store_of(chosen)
    if marker is not None and store != marker.store:
        # Another site's or another store's backup would send its queued emails and re-warn what this one told.
        print(
            f"alertd: {chosen} is a backup of {f'store {store}' if store else 'no alertd store'}, but "
            f"{marker_file} says this state_dir holds store {marker.store}: "
            f"choose one of its backups (`alertd state restore` takes the newest; they are named "
            f"alertd-{marker.store}-…{backup.SUFFIX} in {folder})",
            file=sys.stderr,
        )
        return EXIT_INVALID
    return chosen


def cmd_state_restore(settings: Settings, source: str | None) -> int:
    """``alertd state restore [FILE]``: put back a backup of this state_dir's store (the newest good one by
    default) while alertd is stopped, keep the replaced file aside, and carry in what the send journal says was
    sent since."""
    path, folder = settings.state_dir / DATABASE, settings.backup_folder
    statedir.check_dir(path.parent)
    marker = identity.read_marker(identity.marker_path(path))
    chosen = _choose(settings, source, marker)
    if isinstance(chosen, int):
        return chosen
    statedir.usable_dir(path.parent)
    with backup.stopped(path):
        aside = backup.put_back(path, chosen, utcnow())
        try:
            store = Store(path, new_state=True, backups=folder)
        except LostState as exc:  # pragma: no cover - new_state accepts any store; said in case
            print(f"alertd: {exc}", file=sys.stderr)
            return EXIT_INVALID
        sends, findings = store.carried
        store.close()
    print(f"restored {path} from {chosen}")
    if aside is not None:
        print(f"  the file it replaced is kept as {aside} (with its -wal and -shm, if any)")
    print(
        f"  carried in from the send journal: {sends} emails sent since that backup, telling {findings} findings: "
        "they count as told, and are not warned of again"
    )
    print("  start alertd again (`systemctl start alertd`)")
    return EXIT_OK
