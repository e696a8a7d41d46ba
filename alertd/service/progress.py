"""Whether the daemon's work goes on: polls and outbox flushes, timed on the monotonic clock (contract §6).

The heartbeat of ``/healthz`` and systemd's watchdog tell that the event loop turns; they cannot tell that it
still polls and sends. A scheduler whose plans went wrong (a wall clock that stopped, say) leaves a loop that
turns and does nothing. The loop stamps here each poll it starts and ends and each outbox flush or send; the HTTP
thread and the daemon's STATUS compare how long ago that was with what the schedule expects.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Slack beyond twice the expected pace: the scheduler's wake-ups, a busy loop, a clock step being re-planned.
POLL_MARGIN_SECONDS = 5.0
FLUSH_MARGIN_SECONDS = 30.0
# A poll past its deadline still matches and records what it read (in worker threads): twice the deadline, and
# a minute, before it counts as stuck.
IN_FLIGHT_MARGIN_SECONDS = 60.0

POLL_STARTED = "poll_started"
POLL_FINISHED = "poll_finished"
POLL_CRASHED = "poll_crashed"  # a poll job that raised: it ran, but did no work
OUTBOX = "outbox"


@dataclass(frozen=True, slots=True)
class Overdue:
    """One kind of work not done for longer than expected (``work``: ``poll`` or ``outbox``), in words."""

    work: str
    text: str


def in_flight_limit(deadline_seconds: float) -> float:
    """How long a poll with this deadline may run before it counts as stuck."""
    return 2 * deadline_seconds + IN_FLIGHT_MARGIN_SECONDS


class LoopProgress:
    """Monotonic stamps of the loop's work, written from the loop, judged from any thread."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()  # the HTTP thread reads while the loop writes
        self._since = clock()  # the start (or the last change of plan): work is expected from then on
        self._stamps: dict[str, float] = {}
        self._in_flight: dict[str, tuple[float, float]] = {}  # feed -> (started, may run until this long)
        self._poll_every: float | None = None
        self._flush_every: float | None = None
        self._flush_margin = FLUSH_MARGIN_SECONDS

    # -- written by the loop ----------------------------------------------------------------------------

    def expect(self, *, poll_every: float | None, flush_every: float | None, flush_margin: float) -> None:
        """What the schedule promises: a poll every ``poll_every`` seconds at least (the shortest gap planned
        between two polls of a feed; None without feeds), an outbox flush every ``flush_every``; a send may
        take ``flush_margin`` more (the transport's timeout)."""
        with self._lock:
            first = self._poll_every is None and self._flush_every is None
            self._poll_every, self._flush_every = poll_every, flush_every
            self._flush_margin = flush_margin + FLUSH_MARGIN_SECONDS
            if first:
                self._since = self.clock()

    def poll_started(self, feed: str, limit: float) -> None:
        """A poll of ``feed`` starts; it counts as stuck after ``limit`` seconds (see :func:`in_flight_limit`)."""
        now = self.clock()
        with self._lock:
            self._stamps[POLL_STARTED] = now
            self._in_flight[feed] = (now, limit)

    def poll_finished(self, feed: str, *, crashed: bool = False) -> None:
        """A poll of ``feed`` ended, failed or not; ``crashed``: its job raised (a store it could not read, a bug),
        which is no work done: polls that all crash end up overdue."""
        with self._lock:
            self._stamps[POLL_CRASHED if crashed else POLL_FINISHED] = self.clock()
            self._in_flight.pop(feed, None)

    def outbox_worked(self) -> None:
        """The outbox was worked on: a flush started or ended, or a send attempt ended."""
        with self._lock:
            self._stamps[OUTBOX] = self.clock()

    # -- read from any thread ---------------------------------------------------------------------------

    def ages(self) -> dict[str, float | None]:
        """Seconds since each kind of work was last done (None: not yet since the start)."""
        now = self.clock()
        with self._lock:
            stamps = dict(self._stamps)
        kinds = (POLL_STARTED, POLL_FINISHED, OUTBOX)
        return {k: (None if k not in stamps else max(0.0, now - stamps[k])) for k in kinds}

    def limits(self) -> dict[str, float | None]:
        """Seconds each kind of work may wait before it is overdue (None: none expected)."""
        with self._lock:
            poll, flush, margin = self._poll_every, self._flush_every, self._flush_margin
        return {
            "poll": None if poll is None else 2 * poll + POLL_MARGIN_SECONDS,
            OUTBOX: None if flush is None else 2 * flush + margin,
        }

    def overdue(self) -> list[Overdue]:
        """The work not done for longer than the schedule expects, whatever the wall clock says."""
        now = self.clock()
        with self._lock:
            stamps, in_flight, since = dict(self._stamps), dict(self._in_flight), self._since
            poll_every, flush_every = self._poll_every, self._flush_every
        limits = self.limits()
        found: list[Overdue] = []
        poll_limit, flush_limit = limits["poll"], limits[OUTBOX]
        if poll_limit is not None and poll_every is not None:
            for feed, (started, limit) in sorted(in_flight.items()):
                if now - started > limit:
                    found.append(Overdue("poll", f"the poll of {feed} has run for {now - started:.0f} s"))
            # A poll counts once it ended (those in flight are judged above), and only if its job did not crash.
            last = max(stamps.get(POLL_FINISHED, since), since)
            if not in_flight and now - last > poll_limit:
                text = f"no poll for {now - last:.0f} s (one expected every {poll_every:g} s)"
                if stamps.get(POLL_CRASHED, since) > last:
                    text = f"{text}: the polls since crashed (see the log)"
                found.append(Overdue("poll", text))
        if flush_limit is not None and flush_every is not None:
            last = max(stamps.get(OUTBOX, since), since)
            if now - last > flush_limit:
                found.append(
                    Overdue("outbox", f"no outbox flush for {now - last:.0f} s (one expected every {flush_every:g} s)")
                )
        return found

    def report(self) -> dict[str, Any]:
        """What ``/healthz`` shows under ``work``: the ages, the limits, and what is overdue."""
        ages, limits = self.ages(), self.limits()
        with self._lock:
            in_flight = len(self._in_flight)
        return {
            **{f"{k}_seconds_ago": None if v is None else round(v, 1) for k, v in ages.items()},
            "polls_in_flight": in_flight,
            **{f"{k}_expected_within_seconds": v for k, v in limits.items()},
            "overdue": [o.text for o in self.overdue()],
        }
