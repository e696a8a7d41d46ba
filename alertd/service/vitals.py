"""What this process saw fail and succeed, held in memory (contract §6, "Health without the disk").

The store records each feed's failures and each delivery's outcome, but a full disk or a read-only state
directory cannot record its own failure: ``/healthz``, ``/metrics`` and STATUS= read these vitals beside the
store, so they tell what happened even when nothing could be written, and return to normal by themselves once a
write succeeds. Updated from the event loop only; the HTTP thread reads values that are replaced whole, never
changed in place, so it never sees half of an update.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from alertd.service.clock import utcnow
from alertd.service.logs import get_logger
from alertd.store import STORE_FAILURES, statedir

log = get_logger("alertd")


@dataclass(frozen=True, slots=True)
class FeedVital:
    """A feed as this process saw it: failures in a row, the last error, the last success."""

    consecutive_failures: int = 0
    last_error: str | None = None
    last_success: datetime | None = None
    store_fault: bool = False  # its last poll failed because the store could not be written


@dataclass(frozen=True, slots=True)
class StoreFault:
    """The store could not be written: why, since when, where."""

    error: str
    since: datetime
    path: Path

    def describe(self) -> str:
        """``store cannot be written: database or disk is full (/var/lib/alertd/alertd.sqlite3)``."""
        return f"store cannot be written: {self.error} ({self.path})"


def store_reason(exc: BaseException) -> str:
    """What a store failure says, in SQLite's words: the first error of the chain (a failed ROLLBACK after a
    full disk says "no transaction is active"; the full disk is what the operator must hear of)."""
    first: BaseException = exc
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, STORE_FAILURES):
            first = current
        current = current.__context__
    return str(first) or type(first).__name__


class Vitals:
    """The in-memory record: per feed (:class:`FeedVital`), and the store's writability (:class:`StoreFault`)."""

    def __init__(self, store_path: Path) -> None:
        self.store_path = store_path
        self.feeds: dict[str, FeedVital] = {}
        self.store_fault: StoreFault | None = None
        self.store_write_errors = 0  # since the process started, whatever the store could record
        # SQLite said the file is damaged: sticky, for a small write elsewhere in the file may still succeed while
        # what the damaged pages held is lost; only a restore (and a restart) ends it.
        self.damaged: str | None = None
        # Records what the store could not record before (the flusher's send outcomes); True when nothing waits.
        # Called before a fault ends: SQLite may commit again while the send journal still cannot be written.
        self.catch_up: Callable[[], bool] | None = None

    # -- the store --------------------------------------------------------------------------------------

    @property
    def writable(self) -> bool:
        """Whether the last write to the store succeeded (True until one fails)."""
        return self.store_fault is None and self.damaged is None

    def store_failed(self, exc: BaseException, doing: str) -> str:
        """A write to the store failed while ``doing`` something; the reason. Logged as an error when the store
        turns unwritable, as a warning while it stays so."""
        reason = store_reason(exc)
        self.store_write_errors += 1
        if self.damaged is None and statedir.is_damage(exc):
            self.damaged = str(statedir.damage(self.store_path, reason))
            log.error("state damaged", error=self.damaged, doing=doing)
        if self.store_fault is None:
            self.store_fault = StoreFault(reason, utcnow(), self.store_path)
            log.error("state store cannot be written", error=reason, path=str(self.store_path), doing=doing)
        else:
            if reason != self.store_fault.error:
                self.store_fault = replace(self.store_fault, error=reason)
            log.warning("state store still cannot be written", error=reason, doing=doing)
        return reason

    def store_written(self) -> bool:
        """A write to the store succeeded; True when that ends a fault (the store is writable again). It does not
        while what could not be recorded still cannot be (:attr:`catch_up`)."""
        if self.store_fault is None:
            return False
        if self.catch_up is not None and not self.catch_up():
            return False
        fault, self.store_fault = self.store_fault, None
        if fault is None:
            return False
        log.info("state store writable again", path=str(self.store_path), unwritable_since=fault.since.isoformat())
        return True

    # -- feeds ------------------------------------------------------------------------------------------

    def poll_ok(self, feed: str, when: datetime) -> None:
        """A poll of ``feed`` succeeded and was recorded."""
        self.feeds = {**self.feeds, feed: FeedVital(last_success=when)}

    def poll_failed(self, feed: str, error: str, *, recorded: int | None, stored: int, store_fault: bool) -> int:
        """A poll of ``feed`` failed; its failures in a row: ``recorded`` when the store counted it, else one more
        than the larger of what the store held (``stored``, read as the poll began) and what this process saw."""
        known = self.feeds.get(feed, FeedVital())
        count = recorded if recorded is not None else max(stored, known.consecutive_failures) + 1
        self.feeds = {**self.feeds, feed: FeedVital(count, error, known.last_success, store_fault)}
        return count

    def keep_feeds(self, feeds: Iterable[str]) -> None:
        """Forget the feeds no longer configured (after a reload)."""
        wanted = set(feeds)
        self.feeds = {k: v for k, v in self.feeds.items() if k in wanted}

    def failed_on_store(self) -> list[str]:
        """The feeds whose last poll failed because the store could not be written."""
        return [feed for feed, vital in self.feeds.items() if vital.store_fault and vital.consecutive_failures]


__all__ = ["STORE_FAILURES", "FeedVital", "StoreFault", "Vitals", "store_reason"]
