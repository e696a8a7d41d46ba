"""Flushing the outbox: every due delivery through the transport, with retries and back-off (contract §4).

A delivery is marked sent only once the server accepted it. Only the process holding the store's sender lock
sends, so the daemon and an operator's ``run --once`` never send the same delivery.

A stopping daemon holds the flusher (:meth:`~Flusher.hold`): no send starts any more, those in flight end and their
outcome is recorded. An outcome the store cannot record (a full disk: the send journal, the database or the
marker) is kept in memory and recorded before the next flush sends anything; meanwhile its delivery is not sent
again, and the store counts as unwritable (contract §6). A flush never ends while its own sends are in flight:
whatever one delivery raises is caught with it.

The sends the relay accepted are recorded in batches (:class:`Batches`): those accepted while one batch is written
wait for the next, so the journal's fsync, the commit and the marker are paid once per batch, the fsyncs in a
worker thread, while the pool's other sends go on; the deliveries whose turn comes together are marked ``sending``
in one commit too. A send holds its place in the pool until it is recorded, so at most as many accepted sends as
the transport has connections wait to be recorded: that many duplicates at most after a crash (contract §4).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from alertd.domain.delivery import SendOutcome
from alertd.domain.errors import PermanentDeliveryError, TemporaryDeliveryError
from alertd.send.transports import Transport
from alertd.service.clock import utcnow
from alertd.service.logs import get_logger
from alertd.service.vitals import Vitals
from alertd.store import STORE_FAILURES
from alertd.store.records import Delivery
from alertd.store.sqlite import Store

log = get_logger("alertd")
K = TypeVar("K")

MAX_ATTEMPTS = 12
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=2)


@dataclass(slots=True)
class FlushReport:
    """What one flush of the outbox did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    left_to_other: bool = False  # another alertd process holds the outbox: it sends
    held: int = 0  # due deliveries not started: the daemon is stopping, or the store cannot be written

    def add(self, other: FlushReport) -> None:
        """Count ``other``'s flush, a later one, into this one (each delivery it tried is one this one did not)."""
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.errors += other.errors
        self.left_to_other = self.left_to_other or other.left_to_other
        self.held = other.held  # not started by the later flush either: those still held


class Batches(Generic[K]):
    """Store writes made together: ``write`` is given every key asked for while the previous batch was being
    written, one batch at a time. Each caller waits for the batch that holds its key, and gets its failure."""

    def __init__(self, write: Callable[[list[K]], Awaitable[None]]) -> None:
        self._write_batch = write
        self._gathered: dict[K, asyncio.Future[None]] = {}
        self._writing: asyncio.Task[None] | None = None

    async def add(self, key: K) -> None:
        """Write ``key`` with the next batch; the batch's failure is raised here."""
        done = asyncio.get_running_loop().create_future()
        self._gathered[key] = done
        if self._writing is None:
            self._writing = asyncio.create_task(self._write())
        # Shielded: a cancelled caller does not cancel the batch, which writes the other keys too.
        await asyncio.shield(done)

    async def _write(self) -> None:
        try:
            while self._gathered:
                batch, self._gathered = self._gathered, {}
                try:
                    await self._write_batch(list(batch))
                except Exception as exc:  # every waiter gets it
                    for done in batch.values():
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for done in batch.values():
                        if not done.done():
                            done.set_result(None)
        finally:
            self._writing = None


class Flusher:
    """Sends the outbox's due deliveries; ``on_send`` hears of each attempt (its outcome and duration)."""

    def __init__(self, store: Store, vitals: Vitals | None = None) -> None:
        self.store = store
        self.vitals = vitals or Vitals(store.path)
        self.on_send: Callable[[SendOutcome, float], None] | None = None
        self.holding = False  # set by hold(): the daemon is stopping
        self.in_flight = 0  # sends started and not yet ended
        # Outcomes the store could not record, by delivery: recorded before anything else is sent.
        self.unrecorded: dict[int, Callable[[], object]] = {}
        # A write that succeeds elsewhere (a poll, a probe) does not end the store's fault while these wait.
        self.vitals.catch_up = self.record_pending
        # Marked together: the deliveries whose turn came in the same turn of the event loop (one commit).
        self.sending: Batches[int] = Batches(self._mark_sending)
        self.sent: Batches[tuple[int, datetime]] = Batches(store.mark_sent_off_loop)

    def hold(self) -> None:
        """Start no send from now on (the daemon is stopping): the sends in flight end and their outcome is
        recorded; the due deliveries not started stay queued in the outbox, untouched, for the next start."""
        self.holding = True

    def record_pending(self) -> bool:
        """Record the outcomes the store could not record before (oldest first), and the marker a recorded send
        could not bring along; True when nothing is left waiting."""
        for delivery, record in list(self.unrecorded.items()):
            try:
                record()
            except STORE_FAILURES as exc:
                self.vitals.store_failed(exc, f"recording the outcome of delivery {delivery}")
                return False
            del self.unrecorded[delivery]
            log.info("delivery outcome recorded at last", delivery=delivery)
        try:
            self.store.rewrite_marker()
        except STORE_FAILURES as exc:
            self.vitals.store_failed(exc, "rewriting the state marker")
            return False
        return True

    def waiting(self) -> bool:
        """Whether outcomes (or the marker) wait to be recorded."""
        return bool(self.unrecorded) or self.store.marker_behind is not None

    async def flush(self, transport: Transport, now: datetime | None = None) -> FlushReport:
        """Try every due delivery once, as many at a time as the transport allows (contract §4)."""
        report = FlushReport()
        if not self.store.claim_sender():
            log.info("another alertd process is sending the outbox; it will deliver what was queued")
            report.left_to_other = True
            return report
        gate = asyncio.Semaphore(max(1, getattr(transport, "concurrency", 1)))
        now = now or utcnow()
        # A delivery whose acceptance could not be recorded reads "sending" in the store: it must not go again
        # (the store does not hand it out again to this process either).
        waited = self.waiting()
        recorded = self.record_pending()
        if recorded and waited:
            self.vitals.store_written()
        due = [d for d in self.store.due_deliveries(now) if d.id not in self.unrecorded]
        if not recorded or self.holding:
            report.held = len(due)
            return report

        async def one(d: Delivery) -> None:
            async with gate:
                # Checked once a send may start: a stop (or a store that failed meanwhile) leaves the rest queued.
                if self.holding or not self.vitals.writable:
                    report.held += 1
                    return
                try:
                    await self._deliver(d, transport, report, now)
                except Exception as exc:  # caught here, so the flush waits for every send it started
                    self._unexpected(d, exc, report)

        await asyncio.gather(*(one(d) for d in due))
        return report

    def _unexpected(self, d: Delivery, exc: Exception, report: FlushReport) -> None:
        """A delivery's attempt raised what it does not handle. A store failure there came before the send (its
        message could not be read): the delivery may be picked again. Anything else leaves its outcome unknown
        (the relay may have taken it): it stays ``sending``, not sent again by this process; the next start
        retries it."""
        report.errors.append(str(exc))
        if isinstance(exc, STORE_FAILURES):
            self.store.release(d.id)
            self.vitals.store_failed(exc, f"reading delivery {d.id}")
            report.held += 1
            return
        log.error(
            "delivery attempt failed unexpectedly; not sent again before a restart",
            delivery=d.id,
            establishment=d.establishment,
            exc_info=exc,
        )

    async def _deliver(self, d: Delivery, transport: Transport, report: FlushReport, now: datetime) -> None:
        started = time.monotonic()
        try:
            await self.sending.add(d.id)
        except STORE_FAILURES as exc:
            # Never send what could not be marked "sending": a crash would then forget it was handed over.
            self.store.release(d.id)
            self.vitals.store_failed(exc, f"marking delivery {d.id} sending")
            report.held += 1
            return
        self.in_flight += 1
        try:
            outcome = await self._attempt(d, transport, report, now)
        finally:
            self.in_flight -= 1
        if self.on_send is not None:
            self.on_send(outcome, time.monotonic() - started)

    async def _mark_sending(self, deliveries: list[int]) -> None:
        self.store.mark_sending_many(deliveries)

    def _record(self, delivery: int, record: Callable[[], object]) -> None:
        """Record a send's outcome now; when the store cannot take it, keep it to record later (the delivery is
        not sent again meanwhile)."""
        try:
            record()
        except STORE_FAILURES as exc:
            self._keep(delivery, record, exc)
            return
        self._written()

    async def _record_sent(self, delivery: int, sent_at: datetime) -> None:
        """Record an accepted send with the next batch (:class:`Batches`); kept, as :meth:`_record` keeps an
        outcome, when the store cannot take it."""
        try:
            await self.sent.add((delivery, sent_at))
        except STORE_FAILURES as exc:
            self._keep(delivery, lambda: self.store.mark_sent(delivery, sent_at), exc)
            return
        self._written()

    def _keep(self, delivery: int, record: Callable[[], object], exc: Exception) -> None:
        """The store could not record an outcome: kept to record later (the delivery is not sent again meanwhile)."""
        self.unrecorded[delivery] = record
        self.vitals.store_failed(exc, f"recording the outcome of delivery {delivery}")

    def _written(self) -> None:
        """An outcome is recorded; the marker follows once it can be written."""
        if self.store.marker_behind is not None:
            self.vitals.store_failed(self.store.marker_behind, "rewriting the state marker")
            return
        self.vitals.store_written()

    async def _attempt(self, d: Delivery, transport: Transport, report: FlushReport, now: datetime) -> SendOutcome:
        """One attempt: sent only once the server accepted it; temporary failures retried with back-off."""
        dlog = log.bind(delivery=d.id, establishment=d.establishment)
        try:
            result = await transport.send(self.store.message(d.id), d.sender, d.recipients)
        except TemporaryDeliveryError as exc:
            if d.attempts + 1 >= MAX_ATTEMPTS:
                why = f"gave up after {d.attempts + 1} attempts: {exc}"
                self._record(d.id, lambda: self.store.mark_failed(d.id, why))
                report.failed += 1
                dlog.error("delivery failed", error=str(exc), attempts=d.attempts + 1)
            else:
                retry_at = now + backoff(d.attempts + 1)
                error = str(exc)
                self._record(d.id, lambda: self.store.mark_retry(d.id, error, retry_at))
                report.retrying += 1
                dlog.warning("delivery deferred", error=str(exc), retry_at=retry_at.isoformat())
            report.errors.append(str(exc))
            return SendOutcome.DEFERRED
        except PermanentDeliveryError as exc:
            error = str(exc)
            self._record(d.id, lambda: self.store.mark_failed(d.id, error))
            report.failed += 1
            report.errors.append(str(exc))
            dlog.error("delivery failed", error=str(exc))
            return SendOutcome.FAILED
        report.sent += 1
        if not result.refused:
            await self._record_sent(d.id, utcnow())
            dlog.info("delivery sent", via=transport.describe(), recipients=len(d.recipients))
            return SendOutcome.SENT
        # The message reached some recipients. Those refused for now get a delivery of their own, retried later
        # with the same Message-ID; those refused for good a failed one. All in the transaction that marks it sent.
        later = [r for r, (code, _) in result.refused.items() if 400 <= code < 500]
        never = [r for r in result.refused if r not in later]
        why = "; ".join(f"{r}: {code} {text}" for r, (code, text) in result.refused.items())
        sent_at, retry_at = utcnow(), now + backoff(1)
        ids: list[int | None] = [None, None]

        def record_partly() -> None:
            ids[:] = self.store.mark_partly_sent(d.id, sent_at, later, never, why, retry_at)

        self._record(d.id, record_partly)
        retry, failed = ids
        dlog.info("delivery sent", via=transport.describe(), recipients=len(d.recipients) - len(result.refused))
        if retry is not None:
            dlog.warning("recipients deferred", recipients=later, retry_delivery=retry, error=why)
            report.retrying += 1
        if failed is not None:
            dlog.error("recipients refused", recipients=never, failed_delivery=failed, error=why)
            report.failed += 1
            report.errors.append(why)
        return SendOutcome.SENT


def backoff(attempt: int) -> timedelta:
    """Exponential backoff with jitter: 30 s, 1 min, 2 min … capped at 2 h, each ±25 %."""
    base: timedelta = min(RETRY_BASE * (2 ** (attempt - 1)), RETRY_CAP)
    return base * random.uniform(0.75, 1.25)
