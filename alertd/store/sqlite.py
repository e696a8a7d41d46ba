"""The state store: one SQLite database in WAL mode under ``state_dir`` (contract §1).

Every stage reaches persistent state through this module only, so another backend can replace it without
touching them. Writes that belong together happen in one transaction: an email enters the outbox in the same
transaction that marks its alerts as dispatched, so a crash can neither lose nor double a warning.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alertd.domain.codes import SOFTWARE_REASONS, VersionBasis
from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import LostState, StaleAlerts, StateDirError, StoreError
from alertd.domain.feeds import Validators
from alertd.domain.knowledge import Statement
from alertd.domain.settings import Settings
from alertd.domain.values import Alert, Finding, FindingState, Observation, Product
from alertd.intake.formats.csvfeed import StoredRows
from alertd.store import StateFileError, bulk, identity, journal, knowledge, scope, statedir
from alertd.store.codecs import (
    alert_from_json,
    encode_time,
    finding_from_json,
    finding_to_json,
    observation_from_json,
    recipients_from_json,
    recipients_to_json,
)
from alertd.store.escalations import Escalation, record_escalation
from alertd.store.prune import Pruned, prune_before
from alertd.store.records import (
    DELIVERY_COLUMNS,
    Delivery,
    FeedState,
    HistoryEntry,
    ObservationDelta,
    Outgoing,
    QueuedAlert,
    ResolvedFinding,
    delivery_of,
    feed_state_of,
    finding_states,
)
from alertd.store.schema import open_schema

DATABASE = "alertd.sqlite3"
# The files SQLite keeps beside the database, and the sender's lock: alertd's own, each private to its user.
_SIDECARS = ("-wal", "-shm", "-journal", ".send-lock")
_PRIVATE = 0o600
# Refuse to follow a symbolic link where a state file should be (O_NOFOLLOW fails with ELOOP on one).
_NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC

# The reasons of software findings, as SQL reads them in a finding's stored JSON.
_SOFTWARE = ", ".join(f"'{reason.value}'" for reason in sorted(SOFTWARE_REASONS))


def _refusal(path: Path, exc: OSError) -> str:
    if path.is_symlink():
        return (
            f"{path} is a symbolic link; alertd does not follow links inside state_dir (another user could point "
            "them at a file of alertd's choosing): remove it, or point state_dir itself at the real folder"
        )
    return f"cannot open {path}: {exc.strerror or exc}"


def _private_files(path: Path) -> None:
    """Create the database file 0600 whatever the umask, tighten an existing one and its sidecars to 0600, and
    refuse a symbolic link in place of any of them (contract §1).

    SQLite creates ``-wal``, ``-shm`` and ``-journal`` with the database file's own permissions, so a private
    database keeps them private.
    """
    for file in (path, *(path.with_name(path.name + suffix) for suffix in _SIDECARS)):
        if file is not path and not os.path.lexists(file):
            continue
        try:
            fd = os.open(file, (os.O_CREAT | os.O_RDWR if file is path else os.O_RDONLY) | _NO_FOLLOW, _PRIVATE)
        except PermissionError as exc:  # another user's file (a command run as root made it): exit 1, not 3
            raise statedir.not_mine(file) or StateDirError(_refusal(file, exc)) from None
        except OSError as exc:
            raise StoreError(_refusal(file, exc)) from None
        try:
            # Owned by another user (made by root, say): it cannot be tightened here, and it worked before.
            if os.fstat(fd).st_mode & 0o777 != _PRIVATE:
                with contextlib.suppress(PermissionError):
                    os.fchmod(fd, _PRIVATE)
        finally:
            os.close(fd)


def _holds(db: sqlite3.Connection, sent: journal.Sent) -> bool:
    """Whether the store holds a journalled send as sent (the same Message-ID to the same recipients): another
    store's numbers say nothing of ours, so what it holds is known by identity."""
    row = db.execute(
        "SELECT 1 FROM outbox WHERE message_id = ? AND recipients = ? AND state = ?",
        (sent.message_id, sent.recipients, DeliveryState.SENT),
    ).fetchone()
    return row is not None


def _enqueue(db: sqlite3.Connection, email: Outgoing, stamp: str) -> int:
    """One email into the outbox, its alerts marked dispatched, in the caller's transaction; :class:`StaleAlerts`
    before anything is written when its alerts no longer read as planned (``email.bodies``)."""
    if email.bodies is not None:
        planned = dict(zip(email.alert_ids, email.bodies, strict=True))
        now_waiting = dict(
            db.execute(
                "SELECT id, body FROM alerts WHERE delivery IS NULL AND id IN (SELECT value FROM json_each(?))",
                (json.dumps(sorted(planned)),),
            ).fetchall()
        )
        if now_waiting != planned:
            changed = sum(1 for i, body in planned.items() if now_waiting.get(i) != body)
            raise StaleAlerts(f"{changed} of the email's alerts changed while it was rendered")
    cur = db.execute(
        "INSERT INTO outbox (message_id, establishment, sender, recipients, subject, message, state, "
        "next_attempt, created, reference) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            email.message_id,
            email.establishment,
            email.sender,
            recipients_to_json(email.recipients),
            email.subject,
            email.message,
            DeliveryState.PENDING,
            stamp,
            stamp,
            email.reference,
        ),
    )
    delivery = cur.lastrowid
    assert delivery is not None
    db.executemany("UPDATE alerts SET delivery = ? WHERE id = ?", ((delivery, i) for i in email.alert_ids))
    db.executemany(
        "UPDATE findings SET last_alerted = ?, thread = COALESCE(thread, ?) WHERE key = ?",
        ((stamp, email.message_id, k) for k in email.finding_keys),
    )
    return delivery


class Store:
    """The SQLite state store. One instance per process; not shared across threads.

    Opening it checks that it is the store alertd last used here (:mod:`~alertd.store.identity`): a missing, empty,
    foreign or older store where the marker (or a backup) says one existed is refused with :class:`LostState`,
    unless ``new_state`` accepts it knowingly; then what the send journal says was sent is carried in, and the
    reference counters are lifted to the marker's. ``check`` runs SQLite's quick check first (the daemon's start,
    ``run --once``): damage is :class:`DamagedState`, never a traceback.
    """

    def __init__(
        self,
        path: Path,
        *,
        new_state: bool = False,
        check: bool = False,
        backups: Path | None = None,
        sender: bool = False,
    ) -> None:
        statedir.usable_dir(path.parent)
        self.path = path
        self.carried = (0, 0)  # with new_state: the journalled sends carried in, and the findings they told
        self.settled = 0  # at an ordinary start: the sends the journal had and the store had not (a crash between)
        # The marker could not be rewritten after a recorded send (a full disk): it lags the store, which is
        # harmless (the journal holds the send) until a later write of it succeeds (rewrite_marker).
        self.marker_behind: StateFileError | None = None
        self._sender_fd: int | None = None
        self._writer: bulk.Writer | None = None
        self._marker_file = identity.marker_path(path)
        self._journal = journal.journal_path(path)
        # The deliveries this process marked `sending` and has not recorded the outcome of: never picked again by
        # it (a send of them is in flight, or its outcome waits to be recorded); a previous process's are retried.
        self._sending: set[int] = set()
        # Sends journalled (or being journalled) whose store write has not succeeded yet, by delivery: written
        # again they keep their number; and whether their line is in the journal already.
        self._journalled: dict[int, journal.Sent] = {}
        self._appended: set[int] = set()
        self._seq = 0  # the last send number journalled, as far as this process knows
        # The marker is written from the loop and from a worker thread (sends recorded off the loop): the versions
        # of :meth:`_marker_now` keep an older one from replacing a newer one.
        self._marker_lock = threading.Lock()
        self._marker_version = self._marker_written = 0
        # ``sender``: the sender's lock taken before anything is read (``run --once``), so a restore cannot replace
        # the state under the cycle; held by a daemon, the cycle goes on and leaves the outbox to it.
        if sender:
            self.claim_sender()
        try:
            marker = self._connect(new_state, backups or path.parent / statedir.BACKUPS)
        except BaseException:
            self._release_sender()
            raise
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before the marker (fsynced after it) says so; NORMAL may lose the last
            # commits to a power cut, leaving the store behind its marker and refused at the next start.
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            if check:
                statedir.quick_check(self.db, path)
            self._migrate()
            self._adopt(marker, new_state)
        except BaseException as exc:
            self.close()
            if isinstance(exc, sqlite3.Error) and (refused := statedir.refusal(path, exc)) is not None:
                raise refused from None
            raise

    def _connect(self, new_state: bool, backups: Path) -> identity.Marker | None:
        """Refuse a missing or empty store where one existed, make the file private, connect; the marker read."""
        path = self.path
        try:
            marker = identity.read_marker(self._marker_file)
        except LostState:
            if not new_state:
                raise
            marker = None  # a marker alertd did not write, accepted knowingly: written again in _adopt
        found = statedir.absent(path)
        if found is not None and not new_state and identity.existed(path, marker, backups):
            raise LostState(identity.missing_words(path, found, marker, backups))
        _private_files(path)
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        except sqlite3.Error as exc:
            raise statedir.refusal(path, exc) or exc from None
        return marker

    def _adopt(self, marker: identity.Marker | None, new_state: bool) -> None:
        """Check the store against its marker and its send journal (refused when not the marker's, or behind
        either), carry in the send journal when ``new_state`` accepts it, and bring the marker up to date."""
        journalled = journal.sends(self._journal)
        last = journalled[-1] if journalled else None
        with self.transaction() as db:
            store_id, _, _ = identity.identity(db, datetime.now(UTC))
            high = identity.high_water(db)
            if new_state:
                foreign = marker is not None and store_id != marker.store  # its sends are not numbered as ours
                sends = [s for s in journalled if s.seq > high.sends or (foreign and not _holds(db, s))]
                self.carried = journal.replay(db, iter(sends))
                lifted = marker.high if marker is not None else identity.HighWater()
                identity.raise_to(db, lifted.joined(identity.HighWater(last.seq if last else 0)))
            else:
                # The journal witnesses the sends even when the marker is gone (deleted, or torn and removed).
                refused = identity.behind_words(self.path, store_id, high, marker) if marker is not None else None
                refused = refused or identity.journal_words(db, self.path, high, journalled)
                if refused is not None:
                    raise LostState(refused)
                # A crash (or a full disk) between the journal's fsync and the store's commit left sends journalled
                # only: the relay took them, so their deliveries are marked sent here instead of going again
                # (contract §1).
                unrecorded = journal.unrecorded(db, journalled)
                for sent in unrecorded:
                    journal.settle(db, sent)
                self.settled = len(unrecorded)
                if last is not None and last.seq > high.sends:
                    identity.raise_to(db, identity.HighWater(last.seq, {}, last.at))
        self._seq = max(identity.high_water(self.db).sends, last.seq if last else 0)
        self._mark(marker)

    def _mark(self, previous: identity.Marker | None = None) -> None:
        """Rewrite the marker from the store (unless it already says the same); :class:`StateFileError` when it
        cannot."""
        marker, version = self._marker_now()
        if marker != previous:
            self._write_marker(marker, version)
        self.marker_behind = None

    def _marker_now(self) -> tuple[identity.Marker, int]:
        """The marker the store calls for now, and its version (later ones replace it, never the reverse)."""
        store_id, created, _ = identity.identity(self.db, datetime.now(UTC))
        self._marker_version += 1
        return identity.Marker(store_id, created, identity.high_water(self.db)), self._marker_version

    def _write_marker(self, marker: identity.Marker, version: int) -> None:
        """Write ``marker`` unless a later version is written already (one may be written from a worker thread
        while the loop writes another)."""
        with self._marker_lock:
            if version < self._marker_written:
                return
            identity.write_marker(self._marker_file, marker)
            self._marker_written = version

    def rewrite_marker(self) -> None:
        """Bring a marker that lags the store (:attr:`marker_behind`) up to date; :class:`StateFileError` when it
        still cannot be written."""
        if self.marker_behind is not None:
            self._mark()

    @classmethod
    def in_state_dir(
        cls, state_dir: Path, *, new_state: bool = False, check: bool = False, backups: Path | None = None
    ) -> Store:
        """The store of a state directory (``alertd.sqlite3``), opened as :class:`Store` says."""
        return cls(state_dir / DATABASE, new_state=new_state, check=check, backups=backups)

    @classmethod
    def for_settings(
        cls,
        settings: Settings,
        *,
        create: bool = True,
        new_state: bool = False,
        check: bool = False,
        sender: bool = False,
    ) -> Store:
        """The store as every command opens it: in ``state_dir``, judged lost against the configured backup
        folder. Without ``create`` (the commands that only read: ``history``, ``outbox``, ``preview``,
        ``explain``, ``poll --dry-run``) no store is ever made: a lost one is refused (:class:`LostState`), and
        where none was ever made an empty one in memory answers (nothing written, not even ``state_dir``)."""
        path, backups = settings.state_dir / DATABASE, settings.backup_folder
        if not create and statedir.absent(path) is not None:
            statedir.check_dir(settings.state_dir)
            marker = identity.read_marker(identity.marker_path(path))
            if marker is not None or identity.has_backups(backups):
                raise LostState(identity.missing_words(path, statedir.absent(path) or "no file", marker, backups))
            return cls._nothing_yet(path)
        return cls(path, new_state=new_state, check=check, backups=backups, sender=sender)

    @classmethod
    def _nothing_yet(cls, path: Path) -> Store:
        """An empty store in memory, for a command that only reads before alertd ever made one."""
        store = cls.__new__(cls)
        store.path, store.carried, store.settled = path, (0, 0), 0
        store._sender_fd, store._writer = None, None
        store._marker_file, store._journal = identity.marker_path(path), journal.journal_path(path)
        store._marker_lock = threading.Lock()
        store._marker_version = store._marker_written = 0
        store.db = sqlite3.connect(":memory:", isolation_level=None)
        store.db.row_factory = sqlite3.Row
        store._migrate()
        return store

    @property
    def store_id(self) -> str:
        """The store's random id (``meta``), which names its backups."""
        return self.meta(identity.ID_KEY) or ""

    @property
    def writer(self) -> bulk.Writer:
        """The connection of the store's big writes, in a worker thread of its own (opened when first needed)."""
        if self._writer is None:
            self._writer = bulk.Writer(self.path)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.db.close()
        self._release_sender()

    def _release_sender(self) -> None:
        if self._sender_fd is not None:
            os.close(self._sender_fd)  # releases the lock
            self._sender_fd = None

    def claim_sender(self) -> bool:
        """Become the one process that sends the outbox (an advisory lock beside the database).

        Only the holder sends, so two alertd processes (the daemon and an operator's ``run --once``) never send
        the same delivery, and the holder may retry what a dead process left in ``sending``. False when another
        live process holds it.
        """
        if self._sender_fd is not None:
            return True
        lock = self.path.with_name(self.path.name + ".send-lock")
        try:
            fd = os.open(lock, os.O_CREAT | os.O_RDWR | _NO_FOLLOW, _PRIVATE)
        except OSError as exc:
            raise StoreError(_refusal(lock, exc)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._sender_fd = fd
        # Another process may have sent since this store was opened: numbers go on after its last one.
        self._seq = max(self._seq, journal.last_seq(self._journal))
        return True

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        # One transaction: a crash mid-upgrade leaves the earlier version's database as it was, and two processes
        # opening it at once upgrade it once.
        with self.transaction() as db:
            open_schema(db, str(self.path))

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def metas(self, prefix: str) -> dict[str, str]:
        """The notes whose key starts with ``prefix``, by key."""
        rows = self.db.execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
        )
        return {str(k): str(v) for k, v in rows}

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- feeds ---------------------------------------------------------------------------------------------

    def feed_state(self, feed: str) -> FeedState:
        row = self.db.execute("SELECT * FROM feed_state WHERE feed = ?", (feed,)).fetchone()
        return FeedState(feed, Validators(None, None), None, None, 0, None, 0) if row is None else feed_state_of(row)

    def feed_states(self) -> list[FeedState]:
        return [feed_state_of(row) for row in self.db.execute("SELECT * FROM feed_state ORDER BY feed")]

    def record_fetch(self, feed: str, now: datetime, validators: Validators, entries: int | None) -> None:
        """A successful poll; ``entries`` is None when the feed was not modified."""
        with self.transaction() as db:
            db.execute(
                """INSERT INTO feed_state (feed, etag, last_modified, last_attempt, last_success, entries_seen)
                   VALUES (?1, ?2, ?3, ?4, ?4, COALESCE(?5, 0))
                   ON CONFLICT (feed) DO UPDATE SET etag = ?2, last_modified = ?3, last_attempt = ?4,
                       last_success = ?4, consecutive_failures = 0, last_error = NULL,
                       entries_seen = COALESCE(?5, entries_seen)""",
                (feed, validators.etag, validators.last_modified, encode_time(now), entries),
            )

    def record_failure(self, feed: str, now: datetime, error: str) -> int:
        """A failed poll; returns how many polls in a row have failed."""
        with self.transaction() as db:
            db.execute(
                """INSERT INTO feed_state (feed, last_attempt, consecutive_failures, last_error)
                   VALUES (?1, ?2, 1, ?3)
                   ON CONFLICT (feed) DO UPDATE SET last_attempt = ?2,
                       consecutive_failures = consecutive_failures + 1, last_error = ?3""",
                (feed, encode_time(now), error),
            )
            row = db.execute("SELECT consecutive_failures FROM feed_state WHERE feed = ?", (feed,)).fetchone()
        return int(row[0])

    # -- observations --------------------------------------------------------------------------------------

    def save_observations(
        self,
        feed: str,
        observations: Sequence[Observation],
        now: datetime,
        *,
        complete: bool = True,
        rows: StoredRows | None = None,
    ) -> ObservationDelta:
        """Record a poll's entries and what they say of the CVEs they cite (the knowledge, which a delisting
        keeps); entries listed before and absent now are marked delisted, unless the poll read only part of the
        feed (``complete`` False: see :func:`~alertd.store.bulk.save_observations`). ``rows``: a bulk list's
        entries besides ``observations``, each stored as its line (:func:`~alertd.store.bulk.encode`)."""
        entries = bulk.encode(observations, rows)
        return bulk.save_observations(self.db, feed, entries, encode_time(now), complete=complete)

    async def save_observations_off_loop(
        self,
        feed: str,
        observations: Sequence[Observation],
        now: datetime,
        *,
        complete: bool = True,
        rows: StoredRows | None = None,
    ) -> ObservationDelta:
        """:meth:`save_observations`, encoded and written in the store's writer thread (:mod:`~alertd.store.bulk`):
        the event loop keeps serving while a million entries are stored."""
        stamp = encode_time(now)
        return await self.writer.save_observations(feed, observations, stamp, complete=complete, rows=rows)

    def listed_bodies(self, feed: str | None = None) -> dict[str, list[str]]:
        """The stored JSON of every entry the feeds (or one feed) list now, per feed (decode it off the loop)."""
        query = "SELECT feed, body FROM observations WHERE delisted_at IS NULL"
        rows = self.db.execute(query + " AND feed = ?", (feed,)) if feed else self.db.execute(query + " ORDER BY feed")
        result: dict[str, list[str]] = {}
        for feed_id, body in rows:
            result.setdefault(feed_id, []).append(body)
        return result

    def observation(self, feed: str, entry: str) -> Observation | None:
        """One stored entry of a feed, listed or delisted, as it was last seen (``alertd explain --entry``)."""
        row = self.db.execute("SELECT body FROM observations WHERE feed = ? AND entry = ?", (feed, entry)).fetchone()
        return observation_from_json(row[0]) if row is not None else None

    def listed_citing(self, cves: Iterable[str], exclude_feed: str | None = None) -> dict[str, list[str]]:
        """The stored JSON of the listed entries citing any of these CVEs, per feed, but ``exclude_feed``'s: those
        to judge again when what is known of the CVEs changed (decode it off the loop)."""
        return knowledge.listed_citing(self.db, cves, exclude_feed)

    # -- vulnerability knowledge ---------------------------------------------------------------------------

    def knowledge(self, cves: Iterable[str] | None = None) -> dict[str, list[Statement]]:
        """What the sources said of these CVEs (of every CVE when None), per CVE, from every feed and poll so far,
        delisted entries included."""
        return knowledge.read(self.db, cves)

    def cve_products(self) -> dict[str, list[Product]]:
        """The products each CVE's sources name, all statements together (the matcher's input until it reads
        :meth:`knowledge`)."""
        return knowledge.cve_products(self.db)

    # -- findings and alerts -------------------------------------------------------------------------------

    def finding_states(self, keys: Iterable[str]) -> dict[str, FindingState]:
        """What the store remembers of each of these findings (:func:`alertd.store.records.finding_states`)."""
        return finding_states(self.db, keys)

    def save_findings(self, findings: Sequence[Finding], alerts: Sequence[Alert], now: datetime) -> None:
        """Upsert this poll's findings (first and last seen) and queue the alerts policy decided on.

        A finding seen again stands again: a delisting or a withdrawal is cleared (a told withdrawal clears
        ``last_alerted`` too, as :meth:`finding_states` reads it)."""
        bulk.save_findings(self.db, findings, alerts, encode_time(now))

    async def save_findings_off_loop(self, findings: Sequence[Finding], alerts: Sequence[Alert], now: datetime) -> None:
        """:meth:`save_findings` in the store's writer thread (a mass event's thousands of findings)."""
        stamp = encode_time(now)
        await self.writer.run(lambda db: bulk.save_findings(db, findings, alerts, stamp))

    def withdraw(self, findings: Sequence[tuple[Finding, VersionBasis]], now: datetime) -> int:
        """Withdraw findings judged not affected after all, each with the basis of that judgement: resolved now
        with that resolution, their stored finding replaced by the new one (its version fact says why), and their
        alerts not yet emailed dropped. Findings unknown or already resolved are left alone. Returns how many
        were withdrawn; :meth:`resolved_findings_untold` gives those an email warned of."""
        stamp = encode_time(now)
        withdrawn = 0
        with self.transaction() as db:
            for finding, basis in findings:
                cur = db.execute(
                    "UPDATE findings SET resolved_at = ?, resolution = ?, body = ? "
                    "WHERE key = ? AND resolved_at IS NULL",
                    (stamp, basis.value, finding_to_json(finding), finding.key),
                )
                if cur.rowcount:
                    withdrawn += 1
                    db.execute("DELETE FROM alerts WHERE finding = ? AND delivery IS NULL", (finding.key,))
        return withdrawn

    def told_software_findings(self, feed: str, entries: Iterable[str]) -> dict[str, Finding]:
        """The software findings of these entries of a feed that an email told and that still stand, by key: a
        fresh judgement of the entries tells which to withdraw."""
        rows = self.db.execute(
            f"""SELECT key, body FROM findings
                WHERE feed = ? AND entry IN (SELECT value FROM json_each(?))
                    AND last_alerted IS NOT NULL AND resolved_at IS NULL
                    AND json_extract(body, '$.reason') IN ({_SOFTWARE})""",
            (feed, json.dumps(sorted(set(entries)))),
        )
        return {row["key"]: finding_from_json(row["body"]) for row in rows}

    def red_findings(self, red_feeds: Iterable[str] = ()) -> list[Finding]:
        """The findings standing now that are marked TLP:RED, by their source or by their feed (``red_feeds``): the
        operators handle them by hand, as no email may tell them."""
        rows = self.db.execute(
            """SELECT body FROM findings WHERE resolved_at IS NULL
                   AND (json_extract(body, '$.tlp') = 'red' OR feed IN (SELECT value FROM json_each(?)))
               ORDER BY first_seen, key""",
            (json.dumps(sorted(set(red_feeds))),),
        )
        return [finding_from_json(row["body"]) for row in rows]

    def queued_alerts(
        self,
        *,
        immediate: bool = False,
        subscriptions: Sequence[str] = (),
        establishment: str | None = None,
        inventory: bool = False,
    ) -> dict[str, list[QueuedAlert]]:
        """Alerts waiting for an email, per establishment: the immediate ones, or those of given digests; with
        ``inventory``, those waiting for the inventory instead (news and inventory never share an email)."""
        where = ["a.delivery IS NULL", "a.inventory = ?"]
        args: list[Any] = [int(inventory)]
        route = []
        if immediate:
            route.append("a.immediate = 1")
        if subscriptions:
            route.append(f"a.subscription IN ({','.join('?' * len(subscriptions))})")
            args.extend(subscriptions)
        if route:
            where.append("(" + " OR ".join(route) + ")")
        if establishment is not None:
            where.append("a.establishment = ?")
            args.append(establishment)
        grouped: dict[str, list[QueuedAlert]] = {}
        for row in self.db.execute(
            f"""SELECT a.id, a.establishment, a.body, f.thread FROM alerts a JOIN findings f ON f.key = a.finding
                WHERE {" AND ".join(where)} ORDER BY a.establishment, a.severity DESC, a.id""",
            args,
        ):
            grouped.setdefault(row["establishment"], []).append(
                QueuedAlert(row["id"], alert_from_json(row["body"]), row["thread"], row["body"])
            )
        return grouped

    def drop_queued_alerts_except(self, subscriptions: Sequence[str], establishments: Sequence[str]) -> int:
        """Delete undelivered alerts of other subscriptions or establishments; returns how many."""
        with self.transaction() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS keep_sub (name TEXT PRIMARY KEY)")
            db.execute("CREATE TEMP TABLE IF NOT EXISTS keep_est (id TEXT PRIMARY KEY)")
            db.execute("DELETE FROM keep_sub")
            db.execute("DELETE FROM keep_est")
            db.executemany("INSERT OR IGNORE INTO keep_sub VALUES (?)", ((n,) for n in subscriptions))
            db.executemany("INSERT OR IGNORE INTO keep_est VALUES (?)", ((e,) for e in establishments))
            cur = db.execute(
                """DELETE FROM alerts WHERE delivery IS NULL
                   AND (subscription NOT IN (SELECT name FROM keep_sub)
                        OR establishment NOT IN (SELECT id FROM keep_est))"""
            )
        return cur.rowcount

    def enqueue_email(
        self,
        *,
        establishment: str,
        alert_ids: Sequence[int],
        finding_keys: Sequence[str],
        message_id: str,
        sender: str,
        recipients: Sequence[str],
        subject: str,
        message: bytes,
        now: datetime,
        reference: str | None = None,
        bodies: Sequence[str] | None = None,
    ) -> int:
        """Put an email in the outbox and mark its alerts dispatched, in one transaction.

        With ``bodies`` (the alerts as read when the email was planned, :attr:`QueuedAlert.body`), raises
        :class:`StaleAlerts` and writes nothing when one of ``alert_ids`` is no longer waiting, or no longer reads
        so: a poll replaced it while the email was rendered off the event loop (SQLite may give the new alert the
        old one's id, hence the body).
        """
        email = Outgoing(
            establishment, alert_ids, finding_keys, message_id, sender, recipients, subject, message, reference, bodies
        )
        with self.transaction() as db:
            return _enqueue(db, email, encode_time(now))

    def enqueue_emails(self, emails: Sequence[Outgoing], now: datetime) -> list[int | StaleAlerts]:
        """Put emails in the outbox and mark their alerts dispatched, all in one transaction (one commit, one
        fsync, for a batch of a dispatch): each email's delivery id, or the :class:`StaleAlerts` that kept it out
        (its alerts changed while it was rendered, as :meth:`enqueue_email` tells; nothing of it is written)."""
        stamp = encode_time(now)
        done: list[int | StaleAlerts] = []
        with self.transaction() as db:
            for email in emails:
                try:
                    done.append(_enqueue(db, email, stamp))
                except StaleAlerts as exc:  # raised before anything of this email is written
                    done.append(exc)
        return done

    def enqueue_reminders(self, reminders: Sequence[tuple[Outgoing, Escalation]], now: datetime) -> list[int]:
        """Put escalation reminders in the outbox, each with the row recording its warning escalated, all in one
        transaction (a warning is escalated once, across restarts: :mod:`~alertd.store.escalations`)."""
        stamp = encode_time(now)
        with self.transaction() as db:
            done = [_enqueue(db, email, stamp) for email, _ in reminders]
            for _, escalation in reminders:
                record_escalation(db, escalation)
        return done

    # -- first contact and references (alertd/store/scope.py) ----------------------------------------------

    def note_scope(self, keys: Iterable[str], now: datetime) -> int:
        """Note the configuration's scope keys not noted yet (since ``now``); how many were new."""
        with self.transaction() as db:
            return scope.note(db, keys, now)

    def scope_since(self, keys: Iterable[str] | None = None) -> dict[str, datetime]:
        """When each scope key (or each of ``keys``) was first noted."""
        return scope.since(self.db, keys)

    def queued_inventory(self, keys: Iterable[str]) -> frozenset[str]:
        """Those of these findings whose alert waits in an inventory."""
        return scope.queued_inventory(self.db, keys)

    def inventories_waiting(self) -> dict[str, datetime]:
        """Establishments with an inventory waiting, with when its newest alert was queued."""
        return scope.inventories_waiting(self.db)

    def next_reference(self, series: str, year: int) -> int:
        """A reference number, allocated in a transaction of its own: never handed out again."""
        return self.next_references(series, year, 1)[0]

    def next_references(self, series: str, year: int, count: int) -> range:
        """``count`` reference numbers in a row, allocated in one transaction and told to the marker once: never
        handed out again (those the caller does not use are skipped, never reused)."""
        if count < 1:
            raise ValueError("count must be at least 1")
        with self.transaction() as db:
            first = scope.next_number(db, series, year, count)
        self._mark()  # the marker knows them before any email carries one: a restore never hands them out again
        return range(first, first + count)

    # -- outbox --------------------------------------------------------------------------------------------

    def due_deliveries(self, now: datetime) -> list[Delivery]:
        """Deliveries to attempt now: pending ones whose time has come, and any a previous process left in
        ``sending`` (a crash); never one this process has in ``sending`` (in flight, or its outcome unrecorded)."""
        rows = self.db.execute(
            f"SELECT {DELIVERY_COLUMNS} FROM outbox WHERE (state = ? AND next_attempt <= ?) OR state = ? ORDER BY id",
            (DeliveryState.PENDING, encode_time(now), DeliveryState.SENDING),
        )
        return [d for d in map(delivery_of, rows) if d.id not in self._sending]

    def message(self, delivery_id: int) -> bytes:
        row = self.db.execute("SELECT message FROM outbox WHERE id = ?", (delivery_id,)).fetchone()
        return bytes(row[0])

    def mark_sending(self, delivery_id: int) -> None:
        """The delivery is handed to the transport: ``sending`` until its outcome is recorded, and not picked
        again by this process meanwhile (:meth:`due_deliveries`)."""
        self.mark_sending_many([delivery_id])

    def mark_sending_many(self, delivery_ids: Sequence[int]) -> None:
        """:meth:`mark_sending` for several deliveries, in one transaction."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE outbox SET state = ?, attempts = attempts + 1 WHERE id = ?",
                ((DeliveryState.SENDING, delivery_id) for delivery_id in delivery_ids),
            )
        self._sending.update(delivery_ids)

    def release(self, delivery_id: int) -> None:
        """A delivery marked ``sending`` was not handed over after all (its message could not be read): this
        process may pick it again."""
        self._sending.discard(delivery_id)

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        """The relay accepted the delivery: journalled (fsynced) first, then recorded, then the marker.

        Raises a store failure (``STORE_FAILURES``) when the journal or the store cannot be written: called again
        later, the send keeps its number and time. A marker that cannot be rewritten once the send is recorded
        does not fail it: :attr:`marker_behind` says so until :meth:`rewrite_marker` succeeds."""
        self.mark_sent_many([(delivery_id, now)])

    def mark_sent_many(self, sends: Sequence[tuple[int, datetime]]) -> None:
        """Several deliveries the relay accepted, each with its time, recorded as :meth:`mark_sent` records one, but
        with one fsync of the journal, one transaction and one marker rewrite for all. Fails as :meth:`mark_sent`:
        none is recorded then, and each keeps its number when called again."""
        records = self._journal_sends(sends)
        self._write_sends(self.db, records)
        for delivery_id, _ in sends:
            self._recorded(delivery_id, mark=False)
        self._mark_after_send()

    async def mark_sent_off_loop(self, sends: Sequence[tuple[int, datetime]]) -> None:
        """:meth:`mark_sent_many` with the journal's fsync and the marker's in a worker thread: the event loop, and
        the other sends of the pool, go on meanwhile. The store's one commit is made here, on the loop's own
        connection (a second connection would make the two wait for each other's lock). Fails as
        :meth:`mark_sent`."""
        records = self._sent_records(sends)
        todo = [(d, sent) for d, sent in records if d not in self._appended]
        await asyncio.to_thread(journal.append_many, self._journal, [sent for _, sent in todo])
        self._appended.update(d for d, _ in todo)
        self._write_sends(self.db, records)
        for delivery_id, _ in sends:
            self._recorded(delivery_id, mark=False)
        try:
            await asyncio.to_thread(self._write_marker, *self._marker_now())
        except StateFileError as exc:
            self.marker_behind = exc
        else:
            self.marker_behind = None

    def _sent_records(self, sends: Sequence[tuple[int, datetime]]) -> list[tuple[int, journal.Sent]]:
        """The journal's record of each send (made once per send: a send written again keeps its number)."""
        return [(delivery_id, self._sent_record(delivery_id, now)) for delivery_id, now in sends]

    def _journal_sends(self, sends: Sequence[tuple[int, datetime]]) -> list[tuple[int, journal.Sent]]:
        """Append the sends not journalled yet, with one fsync; their records."""
        records = self._sent_records(sends)
        todo = [(d, sent) for d, sent in records if d not in self._appended]
        journal.append_many(self._journal, [sent for _, sent in todo])
        self._appended.update(d for d, _ in todo)
        return records

    def _write_sends(self, db: sqlite3.Connection, records: Sequence[tuple[int, journal.Sent]]) -> None:
        """Mark the journalled sends sent, in one transaction on ``db``."""
        if not records:
            return
        with bulk.transaction(db):
            db.executemany(
                "UPDATE outbox SET state = ?, sent_at = ?, last_error = NULL WHERE id = ?",
                ((DeliveryState.SENT, sent.at, delivery_id) for delivery_id, sent in records),
            )
            last = max((sent for _, sent in records), key=lambda sent: sent.seq)
            identity.raise_to(db, identity.HighWater(last.seq, {}, last.at))

    def _sent_record(
        self, delivery_id: int, now: datetime, later: Sequence[str] = (), never: Sequence[str] = (), error: str = ""
    ) -> journal.Sent:
        """The journal's record of a send, made once (a send whose store write failed keeps its number)."""
        sent = self._journalled.get(delivery_id)
        if sent is None:
            row = self.db.execute(
                "SELECT establishment, message_id, reference, recipients FROM outbox WHERE id = ?", (delivery_id,)
            ).fetchone()
            # Past both the store's count and every number this process journalled: a send whose store write
            # failed keeps its number, and the next one does not take it too.
            self._seq = max(self._seq, identity.high_water(self.db).sends) + 1
            told = tuple(journal.told_by(self.db, delivery_id))
            sent = journal.Sent(
                self._seq,
                encode_time(now),
                row["establishment"],
                row["message_id"],
                row["reference"],
                row["recipients"],
                told,
                tuple(later),
                tuple(never),
                error if later or never else None,
            )
            self._journalled[delivery_id] = sent
        return sent

    def _journal_send(
        self, delivery_id: int, now: datetime, later: Sequence[str] = (), never: Sequence[str] = (), error: str = ""
    ) -> journal.Sent:
        """Append the send to the journal beside the store (:mod:`~alertd.store.journal`), unless an earlier call
        for it did: a send's record, and its number, are made once, whatever failed after."""
        sent = self._sent_record(delivery_id, now, later, never, error)
        if delivery_id not in self._appended:
            journal.append(self._journal, sent)
            self._appended.add(delivery_id)
        return sent

    def _recorded(self, delivery_id: int, *, mark: bool = True) -> None:
        """A send's outcome is in the store: forget it, and bring the marker along (unless ``mark`` is False: the
        caller does, once for several)."""
        self._sending.discard(delivery_id)
        self._journalled.pop(delivery_id, None)
        self._appended.discard(delivery_id)
        if mark:
            self._mark_after_send()

    def _mark_after_send(self) -> None:
        """Rewrite the marker after recorded sends; noted in :attr:`marker_behind` when it cannot be."""
        try:
            self._mark()
        except StateFileError as exc:
            self.marker_behind = exc

    def mark_retry(self, delivery_id: int, error: str, next_attempt: datetime) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = ?, last_error = ?, next_attempt = ? WHERE id = ?",
                (DeliveryState.PENDING, error, encode_time(next_attempt), delivery_id),
            )
        self._sending.discard(delivery_id)

    def shift_waiting(self, step: timedelta, created_by: datetime) -> int:
        """Move the next attempt of every pending delivery created by ``created_by`` by ``step`` (a wall-clock
        step, contract §6), so each waits what it was to wait; how many moved. Deliveries created later were
        planned on the stepped clock already."""
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id, next_attempt FROM outbox WHERE state = ? AND created <= ?",
                (DeliveryState.PENDING, encode_time(created_by)),
            ).fetchall()
            db.executemany(
                "UPDATE outbox SET next_attempt = ? WHERE id = ?",
                ((encode_time(datetime.fromisoformat(at) + step), i) for i, at in rows),
            )
        return len(rows)

    def mark_failed(self, delivery_id: int, error: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = ?, last_error = ? WHERE id = ?", (DeliveryState.FAILED, error, delivery_id)
            )
        self._sending.discard(delivery_id)

    def mark_partly_sent(
        self,
        delivery_id: int,
        now: datetime,
        later: Sequence[str],
        never: Sequence[str],
        error: str,
        next_attempt: datetime,
    ) -> tuple[int | None, int | None]:
        """The server took the message for some recipients only, in one transaction: the delivery is sent; the
        recipients refused for now get a pending delivery of the same message (same Message-ID), those refused
        for good a failed one, listed by ``outbox --state failed`` and told to the operators. The journal names
        both, so a restore (or the next start, after a crash) leaves them their copies too.
        Returns the ids of the two new deliveries (None where there is none); fails as :meth:`mark_sent`."""
        ids: list[int | None] = []
        sent = self._journal_send(delivery_id, now, later, never, error)
        with self.transaction() as db:
            db.execute(
                "UPDATE outbox SET state = ?, sent_at = ?, last_error = ? WHERE id = ?",
                (DeliveryState.SENT, sent.at, error, delivery_id),
            )
            identity.raise_to(db, identity.HighWater(sent.seq, {}, sent.at))
            for recipients, state in ((later, DeliveryState.PENDING), (never, DeliveryState.FAILED)):
                ids.append(
                    journal.copy_for(
                        db,
                        delivery_id,
                        recipients,
                        state,
                        next_attempt=encode_time(next_attempt),
                        error=error,
                        created=sent.at,
                    )
                    if recipients
                    else None
                )
        self._recorded(delivery_id)
        return ids[0], ids[1]

    def resolved_untold(self, establishment: str | None = None) -> dict[str, list[Finding]]:
        """Findings delisted by their feed or withdrawn after their establishment was warned, not yet told so
        (:meth:`resolved_findings_untold` says which were withdrawn, and why)."""
        return {
            est: [r.finding for r in resolved] for est, resolved in self.resolved_findings_untold(establishment).items()
        }

    def resolved_findings_untold(self, establishment: str | None = None) -> dict[str, list[ResolvedFinding]]:
        """Findings delisted by their feed or withdrawn after their establishment was warned, not yet told so,
        each with its resolution, per establishment."""
        query = (
            "SELECT establishment, body, resolution FROM findings WHERE resolved_at IS NOT NULL "
            "AND resolved_told IS NULL AND last_alerted IS NOT NULL"
        )
        rows = (
            self.db.execute(query + " AND establishment = ? ORDER BY rowid", (establishment,))
            if establishment
            else self.db.execute(query + " ORDER BY rowid")
        )
        result: dict[str, list[ResolvedFinding]] = {}
        for row in rows:
            resolution = VersionBasis(row["resolution"]) if row["resolution"] is not None else None
            result.setdefault(row["establishment"], []).append(
                ResolvedFinding(finding_from_json(row["body"]), resolution)
            )
        return result

    def mark_resolved_told(self, keys: Sequence[str], now: datetime) -> None:
        """Note that the resolution of these findings was told; one a poll listed again meanwhile (while its email
        rendered) is open again, and stays unmarked."""
        with self.transaction() as db:
            db.executemany(
                "UPDATE findings SET resolved_told = ? WHERE key = ? AND resolved_at IS NOT NULL",
                ((encode_time(now), k) for k in keys),
            )

    def history(self, establishment: str | None = None, limit: int | None = None) -> list[HistoryEntry]:
        """Who was warned of what, when, by which message: one entry per alert that went into an email, the
        most recent email first."""
        where = "WHERE a.establishment = ?" if establishment else ""
        args: tuple[Any, ...] = (establishment,) if establishment else ()
        rows = self.db.execute(
            f"""SELECT a.body, o.id AS delivery, o.message_id, o.state, o.recipients, o.created, o.sent_at,
                       o.reference
                FROM alerts a JOIN outbox o ON o.id = a.delivery {where}
                ORDER BY o.created DESC, a.id LIMIT ?""",
            (*args, -1 if limit is None else limit),
        )
        return [
            HistoryEntry(
                alert=alert_from_json(row["body"]),
                delivery=row["delivery"],
                state=DeliveryState(row["state"]),
                message_id=row["message_id"],
                recipients=recipients_from_json(row["recipients"]),
                when=datetime.fromisoformat(row["sent_at"] or row["created"]),
                reference=row["reference"],
            )
            for row in rows
        ]

    def deliveries(self, state: DeliveryState | None = None) -> list[Delivery]:
        """Every delivery in the outbox, or those in one state, oldest first."""
        query = f"SELECT {DELIVERY_COLUMNS} FROM outbox"
        rows = (
            self.db.execute(query + " WHERE state = ? ORDER BY id", (state,))
            if state
            else self.db.execute(query + " ORDER BY id")
        )
        return [delivery_of(r) for r in rows]

    def requeue(self, delivery_id: int, now: datetime) -> bool:
        """Put a failed delivery back in the queue; False when there is no failed delivery with that id."""
        with self.transaction() as db:
            cur = db.execute(
                "UPDATE outbox SET state = ?, next_attempt = ?, attempts = 0 WHERE id = ? AND state = ?",
                (DeliveryState.PENDING, encode_time(now), delivery_id, DeliveryState.FAILED),
            )
            if cur.rowcount == 1:  # its attempts start over: the report still counts it as sent after retries
                db.execute(
                    "INSERT INTO requeues (message_id, at) SELECT message_id, ? FROM outbox WHERE id = ?",
                    (encode_time(now), delivery_id),
                )
        return cur.rowcount == 1

    async def prune_off_loop(self, cutoff: datetime) -> Pruned:
        """Delete, in the store's writer thread, what left the feeds before ``cutoff`` and is resolved and told
        (:mod:`~alertd.store.prune`)."""
        return await self.writer.run(lambda db: prune_before(db, cutoff))

    def outbox_counts(self) -> dict[DeliveryState, int]:
        """Deliveries per state (those in none left out), cheap enough for every health refresh."""
        rows = self.db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state")
        return {DeliveryState(state): int(n) for state, n in rows}

    def oldest_waiting(self) -> tuple[int, datetime] | None:
        """The delivery that has waited longest to be sent (pending or sending) and when it entered the outbox;
        None when none waits. Cheap enough for every health refresh (the outbox's state index)."""
        row = self.db.execute(
            "SELECT id, created FROM outbox WHERE id = (SELECT MIN(id) FROM outbox WHERE state IN (?, ?))",
            (DeliveryState.PENDING, DeliveryState.SENDING),
        ).fetchone()
        return None if row is None else (int(row[0]), datetime.fromisoformat(row[1]))
