"""The store's identity and high-water mark, mirrored in a marker file beside it (contract §1, "Recovering state").

A store carries a random id and its creation time (``meta``), and a *high-water mark*: how many emails it has
sent (the send journal's last number, :mod:`alertd.store.journal`) and the last number of each reference series.
The marker file ``alertd.marker.json`` beside the database repeats them, rewritten atomically after every send and
every reference handed out. The store only ever moves forward, so a store found missing, empty, another store's,
or behind its marker is not the one alertd last used: starting on it would tell again, as news, what was told.
The send journal beside it is a second witness: a store that lacks sends the journal holds (beyond the crash
window the next start settles) is behind, marker or no marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from alertd.domain.errors import LostState
from alertd.store import StateFileError, journal
from alertd.store.codecs import encode_time

MARKER = "alertd.marker.json"
# The meta keys of the identity and of the number of the last send the store holds.
ID_KEY, CREATED_KEY, SENDS_KEY, LAST_SEND_KEY = "store_id", "store_created", "sends", "last_send"
_PRIVATE = 0o600

#: What the operator reads after every refusal: the two ways on (README, "Recovering state").
NEXT_STEPS = (
    "to put back the newest good backup (and carry in what was sent since), stop alertd and run "
    "`alertd state restore`; to start on this store knowingly, run `alertd run --once --new-state`"
)


@dataclass(frozen=True, slots=True)
class HighWater:
    """What a store has done that must never be undone: sends journalled, reference numbers handed out."""

    sends: int = 0
    refs: Mapping[str, int] = field(default_factory=dict)  # "ALE-2026" → the last number handed out
    last_send: str | None = None

    def behind(self, other: HighWater) -> list[str]:
        """What this high-water mark lacks of ``other``'s, in words (empty: it covers it)."""
        gaps = [f"{other.sends} emails sent, the store knows of {self.sends}"] if self.sends < other.sends else []
        gaps += [
            f"reference {key} at {number}, the store at {self.refs.get(key, 0)}"
            for key, number in sorted(other.refs.items())
            if self.refs.get(key, 0) < number
        ]
        return gaps

    def joined(self, other: HighWater) -> HighWater:
        """The higher of the two, key by key."""
        refs = dict(self.refs)
        for key, number in other.refs.items():
            refs[key] = max(refs.get(key, 0), number)
        last = max((t for t in (self.last_send, other.last_send) if t), default=None)
        return HighWater(max(self.sends, other.sends), refs, last)


@dataclass(frozen=True, slots=True)
class Marker:
    """The marker file: which store state_dir holds, and how far it went."""

    store: str
    created: str
    high: HighWater

    def to_json(self) -> str:
        high = self.high
        body = {"store": self.store, "created": self.created, "sends": high.sends, "refs": dict(high.refs)}
        return json.dumps({**body, "last_send": high.last_send}, sort_keys=True) + "\n"


def marker_path(db_path: Path) -> Path:
    """The marker file of a database (beside it)."""
    return db_path.with_name(MARKER)


def read_marker(path: Path) -> Marker | None:
    """The marker at ``path``; None when there is none. A marker that cannot be read is refused with its path."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LostState(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
        refs = {str(k): int(v) for k, v in data.get("refs", {}).items()}
        high = HighWater(int(data["sends"]), refs, data.get("last_send"))
        return Marker(str(data["store"]), str(data["created"]), high)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LostState(
            f"{path} is not a marker alertd wrote (it says which store state_dir holds and how far it went): "
            f"whether the store beside it is the one alertd last used cannot be told; {NEXT_STEPS} (the marker is "
            "then written again)"
        ) from None


def write_atomically(path: Path, payload: bytes) -> None:
    """Replace ``path`` with ``payload`` whole or not at all: a temporary file, fsynced, renamed, the folder
    fsynced (a crash leaves the old file or the new one, never half of one)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: two alertd processes may write at once
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, _PRIVATE)
        try:
            journal.write_whole(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()  # a full disk: what it took is given back
        raise StateFileError(path, exc) from exc


def fsync_dir(folder: Path) -> None:
    """Make the renames in a folder reach the disk."""
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_marker(path: Path, marker: Marker) -> None:
    """Write the marker atomically (:func:`write_atomically`); :class:`~alertd.store.StateFileError` when it
    cannot."""
    write_atomically(path, marker.to_json().encode())


def identity(db: sqlite3.Connection, now: datetime) -> tuple[str, str, bool]:
    """The store's id and creation time, given one now if it has none (a new store, or one an earlier alertd
    wrote), in the caller's transaction; the last item says whether it was given now."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (ID_KEY,)).fetchone()
    if row is not None:
        created = db.execute("SELECT value FROM meta WHERE key = ?", (CREATED_KEY,)).fetchone()
        return str(row[0]), str(created[0]) if created else "", False
    store_id, stamp = secrets.token_hex(8), encode_time(now)
    db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", ((ID_KEY, store_id), (CREATED_KEY, stamp)))
    return store_id, stamp, True


def high_water(db: sqlite3.Connection) -> HighWater:
    """The store's high-water mark, read from it."""
    meta = dict(db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", (SENDS_KEY, LAST_SEND_KEY)).fetchall())
    refs = {f"{series}-{year}": int(last) for series, year, last in db.execute("SELECT series, year, last FROM refs")}
    return HighWater(int(meta.get(SENDS_KEY, 0)), refs, meta.get(LAST_SEND_KEY))


def raise_to(db: sqlite3.Connection, high: HighWater) -> None:
    """Lift the store's counters to ``high`` where they are lower, in the caller's transaction: a restored or new
    store never hands out a reference number again, nor reuses a send's number."""
    for key, number in high.refs.items():
        series, _, year = key.rpartition("-")
        db.execute(
            "INSERT INTO refs VALUES (?, ?, ?) "
            "ON CONFLICT (series, year) DO UPDATE SET last = MAX(last, excluded.last)",
            (series, int(year), number),
        )
    current = high_water(db)
    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (SENDS_KEY, str(max(current.sends, high.sends))))
    last = max((t for t in (current.last_send, high.last_send) if t), default=None)
    if last is not None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (LAST_SEND_KEY, last))


def has_backups(folder: Path) -> bool:
    """Whether a backup folder holds a backup (then a store existed here once)."""
    with contextlib.suppress(OSError):
        return any(p.name.endswith(".sqlite3") for p in folder.iterdir())
    return False


def existed(path: Path, marker: Marker | None, backups: Path) -> bool:
    """Whether a store existed at ``path`` once: its marker, a backup or a journalled send says so."""
    return marker is not None or has_backups(backups) or journal.last_seq(journal.journal_path(path)) > 0


def missing_words(path: Path, found: str, marker: Marker | None, backups: Path) -> str:
    """The refusal of a missing or empty store where one existed: the path, what was found, why it matters and
    the next steps."""
    if marker is not None:
        evidence = (
            f"{marker_path(path)} says store {marker.store} (created {marker.created}) sent {marker.high.sends} emails"
        )
    elif has_backups(backups):
        evidence = f"backups of it exist in {backups}"
    else:
        evidence = f"the send journal {journal.journal_path(path)} says it sent emails"
    return (
        f"{path}: {found}, but {evidence}. Starting on a new store would send every earlier warning again as "
        f"news; {NEXT_STEPS}"
    )


def behind_words(path: Path, store_id: str, high: HighWater, marker: Marker) -> str | None:
    """The refusal of a store that is not the one the marker names, or is behind it (an old copy put back by
    hand); None when the store is the marker's and covers it."""
    if store_id != marker.store:
        return (
            f"{path} is store {store_id}, but {marker_path(path)} says state_dir holds store {marker.store} "
            f"(created {marker.created}): this is another store's file; {NEXT_STEPS}"
        )
    gaps = high.behind(marker.high)
    if not gaps:
        return None
    return (
        f"{path} is older than what it sent ({'; '.join(gaps)}): an old copy put back by hand? Starting on it "
        f"would warn again of what was told since; {NEXT_STEPS}"
    )


def journal_words(db: sqlite3.Connection, path: Path, high: HighWater, journalled: list[journal.Sent]) -> str | None:
    """The refusal of a store that lacks sends its journal holds (an old copy put back, the marker gone with it);
    None when it lacks none but those still ``sending`` in it (the crash window the next start settles)."""
    waiting = {(s.message_id, s.recipients) for s in journal.unrecorded(db, journalled)}
    beyond = [s for s in journalled if s.seq > high.sends and (s.message_id, s.recipients) not in waiting]
    if not beyond:
        return None
    return (
        f"{path} is older than what it sent: the send journal {journal.journal_path(path)} says {beyond[-1].seq} "
        f"emails were sent (the last at {beyond[-1].at}), the store knows of {high.sends}: an old copy put back "
        f"by hand? Starting on it would warn again of what was told since; {NEXT_STEPS}"
    )


def verify_read_only(db: sqlite3.Connection, path: Path, marker: Marker | None) -> str | None:
    """What ``alertd check`` says of a store opened read-only against its marker (None: nothing wrong). A store
    an earlier alertd wrote has no identity yet: it gets one at its next start."""
    journalled = journal.sends(journal.journal_path(path))
    if marker is None and not journalled:
        return None
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        said = marker_path(path) if marker is not None else journal.journal_path(path)
        return f"{path} holds no alertd store, but {said} says one was here; {NEXT_STEPS}"
    row = db.execute("SELECT value FROM meta WHERE key = ?", (ID_KEY,)).fetchone()
    store_id = str(row[0]) if row is not None else "(none)"
    try:
        high = high_water(db)
    except sqlite3.OperationalError:  # an earlier schema, without reference counters: upgraded at start
        return None
    behind = behind_words(path, store_id, high, marker) if marker is not None else None
    return behind or journal_words(db, path, high, journalled)
