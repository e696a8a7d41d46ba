"""Flushing the outbox: every due delivery through the transport, with retries and back-off (contract §4).

A delivery is marked sent only once the server accepted it. Only the process holding the store's sender lock
sends, so the daemon and an operator's ``run --once`` never send the same delivery.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alertd.domain.delivery import SendOutcome
from alertd.domain.errors import PermanentDeliveryError, TemporaryDeliveryError
from alertd.send.transports import Transport
from alertd.service.clock import utcnow
from alertd.service.logs import get_logger
from alertd.store.records import Delivery
from alertd.store.sqlite import Store

log = get_logger("alertd")

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


class Flusher:
    """Sends the outbox's due deliveries; ``on_send`` hears of each attempt (its outcome and duration)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.on_send: Callable[[SendOutcome, float], None] | None = None

    async def flush(self, transport: Transport, now: datetime | None = None) -> FlushReport:
        """Try every due delivery once, as many at a time as the transport allows (contract §4)."""
        report = FlushReport()
        if not self.store.claim_sender():
            log.info("another alertd process is sending the outbox; it will deliver what was queued")
            report.left_to_other = True
            return report
        gate = asyncio.Semaphore(max(1, getattr(transport, "concurrency", 1)))
        now = now or utcnow()

        async def one(d: Delivery) -> None:
            async with gate:
                await self._deliver(d, transport, report, now)

        await asyncio.gather(*(one(d) for d in self.store.due_deliveries(now)))
        return report

    async def _deliver(self, d: Delivery, transport: Transport, report: FlushReport, now: datetime) -> None:
        started = time.monotonic()
        outcome = await self._attempt(d, transport, report, now)
        if self.on_send is not None:
            self.on_send(outcome, time.monotonic() - started)

    async def _attempt(self, d: Delivery, transport: Transport, report: FlushReport, now: datetime) -> SendOutcome:
        """One attempt: sent only once the server accepted it; temporary failures retried with back-off."""
        dlog = log.bind(delivery=d.id, establishment=d.establishment)
        self.store.mark_sending(d.id)
        try:
            result = await transport.send(self.store.message(d.id), d.sender, d.recipients)
        except TemporaryDeliveryError as exc:
            if d.attempts + 1 >= MAX_ATTEMPTS:
                self.store.mark_failed(d.id, f"gave up after {d.attempts + 1} attempts: {exc}")
                report.failed += 1
                dlog.error("delivery failed", error=str(exc), attempts=d.attempts + 1)
            else:
                retry_at = now + backoff(d.attempts + 1)
                self.store.mark_retry(d.id, str(exc), retry_at)
                report.retrying += 1
                dlog.warning("delivery deferred", error=str(exc), retry_at=retry_at.isoformat())
            report.errors.append(str(exc))
            return SendOutcome.DEFERRED
        except PermanentDeliveryError as exc:
            self.store.mark_failed(d.id, str(exc))
            report.failed += 1
            report.errors.append(str(exc))
            dlog.error("delivery failed", error=str(exc))
            return SendOutcome.FAILED
        report.sent += 1
        if not result.refused:
            self.store.mark_sent(d.id, utcnow())
            dlog.info("delivery sent", via=transport.describe(), recipients=len(d.recipients))
            return SendOutcome.SENT
        # The message reached some recipients. Those refused for now get a delivery of their own, retried later
        # with the same Message-ID; those refused for good a failed one. All in the transaction that marks it sent.
        later = [r for r, (code, _) in result.refused.items() if 400 <= code < 500]
        never = [r for r in result.refused if r not in later]
        why = "; ".join(f"{r}: {code} {text}" for r, (code, text) in result.refused.items())
        retry, failed = self.store.mark_partly_sent(d.id, utcnow(), later, never, why, now + backoff(1))
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
