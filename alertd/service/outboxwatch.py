"""Whether the outbox empties: the oldest waiting email's age and the last send a relay accepted (contract §6).

An outbox job that runs every 30 s is work done even when each of its attempts fails: a relay down for good kept
``/healthz`` at 200 while warnings piled up unsent (and the operators' notice waited behind them, on the same dead
relay). The loop tells this watch which email has waited longest (read from the store with the rest of the health
snapshot) and each send accepted; the HTTP thread and STATUS= judge from it, on the monotonic clock, that delivery
is failing: the oldest email has waited longer than ``delivery.failing_after`` and no send was accepted for as long.
The first accepted send ends it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any


def _minutes(seconds: float) -> str:
    """``30 min``, or ``20 s`` under a minute: how STATUS= and ``/healthz`` say the limit."""
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


class OutboxWatch:
    """The oldest waiting delivery, dated on the monotonic clock once seen, and the last accepted send."""

    def __init__(self, limit: timedelta, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit.total_seconds()
        self.monotonic = monotonic
        self._lock = threading.Lock()  # the HTTP thread reads while the loop writes
        self._oldest: tuple[int, float] | None = None  # (delivery, monotonic time it began to wait)
        self._accepted: float | None = None  # monotonic time of the last send a relay accepted

    # -- written by the loop ----------------------------------------------------------------------------

    def saw_oldest(self, oldest: tuple[int, datetime] | None, now: datetime) -> None:
        """The store's oldest waiting delivery (its id and when it entered the outbox; None: the outbox is empty).
        A delivery seen before keeps its monotonic date: a wall-clock step changes no age."""
        with self._lock:
            if oldest is None:
                self._oldest = None
                return
            delivery, created = oldest
            if self._oldest is not None and self._oldest[0] == delivery:
                return
            waited = max(0.0, (now - created).total_seconds())
            self._oldest = (delivery, self.monotonic() - waited)

    def accepted(self) -> None:
        """A relay (or the Maildir) accepted a send."""
        with self._lock:
            self._accepted = self.monotonic()

    # -- read from any thread ---------------------------------------------------------------------------

    def oldest_age(self) -> float:
        """Seconds the oldest waiting delivery has waited (0 when nothing waits)."""
        with self._lock:
            oldest = self._oldest
        return 0.0 if oldest is None else max(0.0, self.monotonic() - oldest[1])

    def failing(self) -> str | None:
        """Why delivery is failing, in words that stay the same while it lasts (STATUS= changes only when the
        health does); None while the outbox empties, or has not waited that long."""
        now = self.monotonic()
        with self._lock:
            oldest, accepted = self._oldest, self._accepted
        if oldest is None or now - oldest[1] <= self.limit:
            return None
        if accepted is not None and now - accepted <= self.limit:
            return None  # sends go out: this email alone is refused (its recipients' domain), and retried
        limit = _minutes(self.limit)
        return f"delivery failing: an email has waited over {limit} and no send was accepted for as long"

    def report(self) -> dict[str, Any]:
        """What ``/healthz`` shows under ``delivery``."""
        with self._lock:
            accepted = self._accepted
        return {
            "oldest_waiting_seconds": round(self.oldest_age(), 1),
            "last_accepted_seconds_ago": None if accepted is None else round(self.monotonic() - accepted, 1),
            "failing_after_seconds": self.limit,
            "failing": self.failing(),
        }
