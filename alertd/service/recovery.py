"""``alertd state backup`` and ``alertd state restore``, and what ``alertd check`` says of the state (contract §1,
"Recovering state"; README "Recovering state")."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from alertd.domain.errors import LostState, StateRefused
from alertd.domain.settings import Settings
from alertd.service.clock import utcnow
from alertd.store import backup, identity, statedir
from alertd.store.sqlite import DATABASE, Store

EXIT_OK, EXIT_INVALID = 0, 1


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
    """``alertd state backup [--to FILE]``: an online backup now (the daemon may run), checked before it counts."""
    path = settings.state_dir / DATABASE
    if statedir.absent(path) is not None:
        print(f"alertd: {path}: no store to back up", file=sys.stderr)
        return EXIT_INVALID
    if to is not None:
        made = Path(to).absolute()
        backup.copy_checked(path, made)
        removed: list[Path] = []
    else:
        made, removed = backup.take(path, settings.backup_folder, settings.backups.keep, utcnow())
    print(f"backed up {path} to {made} (quick check: ok)")
    for old in removed:
        print(f"  removed the oldest backup {old} (keeping {settings.backups.keep})")
    return EXIT_OK


def cmd_state_restore(settings: Settings, source: str | None) -> int:
    """``alertd state restore [FILE]``: put back a backup (the newest good one by default) while alertd is stopped,
    keep the replaced file aside, and carry in what the send journal says was sent since."""
    path, folder = settings.state_dir / DATABASE, settings.backup_folder
    if source is None:
        chosen = backup.newest_good(folder)
        if chosen is None:
            print(
                f"alertd: no good backup in {folder}: restore one from elsewhere with `alertd state restore FILE`, "
                "or move the store aside and run `alertd run --new-state` once",
                file=sys.stderr,
            )
            return EXIT_INVALID
    else:
        chosen = Path(source).absolute()
        if not chosen.is_file() or not backup.is_good(chosen):
            print(f"alertd: {chosen} is not a database SQLite's quick check passes: choose another", file=sys.stderr)
            return EXIT_INVALID
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
