"""Time that survives wall-clock steps (contract §6): the daemon's waits last what they say on the monotonic clock.

APScheduler 3 plans every job with wall-clock datetimes, and the outbox keeps its retry times in wall-clock time
too: a wall clock stepped back two hours (a bad NTP server, an operator's ``date -s``, a VM restored) held every
poll and send for two hours, and one stepped forward ran every job at once and judged every feed stale.

``ClockWatch`` notices a step by comparing how far the wall clock and the monotonic clock moved between two looks;
the daemon then moves its plans by the step, so what was due in 30 s is still due in 30 s. ``SteadyScheduler``
looks before every planning round of APScheduler, so no job is ever run on a plan the step made wrong.
``SuccessAges`` keeps when each feed last succeeded on the monotonic clock, so staleness is judged on how long it
really was.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from alertd.service.clock import utcnow
from alertd.service.logs import get_logger
from alertd.store.sqlite import Store

log = get_logger("alertd")

# A step is a jump of a few seconds at least: smaller differences are NTP slewing the clock (chrony slews up to
# 8.3 % of the time elapsed, ntpd 0.05 %) or the two clocks being read a few microseconds apart.
STEP_THRESHOLD_SECONDS = 2.0
SLEW_ALLOWANCE = 0.1  # of the monotonic time elapsed between two looks (a loop held up for a while)
LOOK_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ClockStep:
    """How far the wall clock jumped beyond the time that passed (< 0: back, > 0: forward)."""

    seconds: float
    before: datetime  # what the wall clock would read now had it not jumped

    @property
    def delta(self) -> timedelta:
        """The step as a duration, to move wall-clock plans by."""
        return timedelta(seconds=self.seconds)

    @property
    def direction(self) -> str:
        """``back`` or ``forward``, as the log tells it."""
        return "back" if self.seconds < 0 else "forward"


class ClockWatch:
    """Looks at the wall and monotonic clocks together; :meth:`look` tells a step since the previous look."""

    def __init__(
        self,
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        threshold: float = STEP_THRESHOLD_SECONDS,
    ) -> None:
        self.wall = wall
        self.monotonic = monotonic
        self.threshold = threshold
        self._wall, self._mono = wall(), monotonic()

    def look(self) -> ClockStep | None:
        """The step the wall clock took since the previous look, or None when it kept pace with the monotonic one."""
        wall, mono = self.wall(), self.monotonic()
        elapsed = mono - self._mono
        drift = (wall - self._wall) - elapsed
        self._wall, self._mono = wall, mono
        if abs(drift) <= self.threshold + SLEW_ALLOWANCE * max(0.0, elapsed):
            return None
        return ClockStep(drift, datetime.fromtimestamp(wall - drift, UTC))


class SteadyScheduler(AsyncIOScheduler):  # type: ignore[misc]  # APScheduler 3 ships no type hints
    """An ``AsyncIOScheduler`` that calls ``before_planning`` at the start of each of its planning rounds.

    The round compares each job's wall-clock ``next_run_time`` with the wall clock: right after a step it would
    run every job at once (forward) or none for hours (back). Looking at the clock first lets the daemon move the
    plans by the step before they are read.
    """

    def __init__(self, before_planning: Callable[[], None], **options: Any) -> None:
        super().__init__(**options)
        self.before_planning = before_planning

    def _process_jobs(self) -> float | None:
        # APScheduler 3's one planning round (wakeup() and its timer both come here): the place to look first.
        try:
            self.before_planning()
        except Exception:  # the round must run whatever happens: it also sets the timer of the next one
            log.exception("re-planning after a clock step failed; the jobs run on their plans as they are")
        wait: float | None = super()._process_jobs()
        return wait


class FeedSuccess(Protocol):
    """What :class:`SuccessAges` reads of a feed's state (``store.FeedState`` fits)."""

    @property
    def feed(self) -> str: ...
    @property
    def last_success(self) -> datetime | None: ...


class SuccessAges:
    """When each feed last succeeded, on the monotonic clock, as this process saw it.

    A success this process recorded is dated on the monotonic clock when it is seen; one it did not (found at
    start, or recorded by an ``alertd run --once`` beside the daemon) is dated once from its wall-clock age. A
    later wall-clock step changes neither.
    """

    def __init__(
        self, *, monotonic: Callable[[], float] = time.monotonic, now: Callable[[], datetime] = utcnow
    ) -> None:
        self.monotonic = monotonic
        self.now = now
        self._seen: dict[str, tuple[datetime, float]] = {}  # feed -> (stored last success, monotonic time of it)

    def saw(self, feed: str, last_success: datetime | None, *, just_now: bool = False) -> None:
        """Note a feed's stored last success; ``just_now`` when this process's poll has just recorded it."""
        if last_success is None:
            self._seen.pop(feed, None)
            return
        known = self._seen.get(feed)
        if known is not None and known[0] == last_success:
            return
        age = 0.0 if just_now else max(0.0, (self.now() - last_success).total_seconds())
        self._seen[feed] = (last_success, self.monotonic() - age)

    def saw_all(self, states: Iterable[FeedSuccess]) -> None:
        """:meth:`saw` for each state read from the store."""
        for state in states:
            self.saw(state.feed, state.last_success)

    def ages(self) -> dict[str, timedelta]:
        """{feed: time since its last success}, on the monotonic clock."""
        now = self.monotonic()
        return {feed: timedelta(seconds=max(0.0, now - at)) for feed, (_, at) in self._seen.items()}


def replan(jobs: Iterable[Any], step: ClockStep, now: datetime) -> None:
    """Move APScheduler jobs by a wall-clock step (``now``: the wall clock after it).

    An interval job (a feed's poll, the outbox) keeps the time it had left. A cron job (a digest) is planned
    again from the new wall time when that brings it sooner; a slot the clock jumped over stays due and runs once,
    late (the digest job itself refuses a slot already sent, see ``Daemon.digest_job``).
    """
    for job in jobs:
        if job.next_run_time is None:
            continue  # paused
        if isinstance(job.trigger, CronTrigger):
            fire = job.trigger.get_next_fire_time(None, now)
            if fire is not None and fire < job.next_run_time:
                job.modify(next_run_time=fire)
        else:
            job.modify(next_run_time=job.next_run_time + step.delta)


def replan_after_step(step: ClockStep, scheduler: Any, store: Store | None) -> None:
    """Log the step and move every plan made on the wall clock by it: the scheduler's jobs (:func:`replan`) and,
    with ``store``, the outbox's waiting deliveries (:func:`replan_outbox`); then wake the scheduler up. Without
    ``store`` the outbox is being written with a wall time read before the step: the daemon re-plans it once that
    work is done."""
    now = utcnow()
    log.warning(
        "wall clock stepped",
        seconds=round(abs(step.seconds), 1),
        direction=step.direction,
        wall_clock=now.isoformat(timespec="seconds"),
    )
    replan(scheduler.get_jobs(), step, now)
    scheduler.wakeup()
    if store is not None:
        replan_outbox(step, store)


def replan_outbox(step: ClockStep, store: Store) -> None:
    """Move the outbox's waiting deliveries (made before the step) by it: a retry waits its back-off."""
    moved = store.shift_waiting(step.delta, step.before)
    if moved:
        log.info("outbox deliveries re-planned after the clock step", deliveries=moved)


def slot_gap(crontab: str, tz: tzinfo, now: datetime) -> timedelta:
    """The shortest gap between the next slots of a cron schedule (a day for a daily digest, 23 h over a spring
    DST night); ``timedelta.max`` when it fires less than twice more."""
    trigger = CronTrigger.from_crontab(crontab, timezone=tz)
    fires: list[datetime] = []
    at: datetime | None = now
    while at is not None and len(fires) < 3:
        at = trigger.get_next_fire_time(fires[-1] if fires else None, at)
        if at is not None:
            fires.append(at)
            at = at + timedelta(seconds=1)
    # In UTC: two times of one ZoneInfo subtract as wall times, which would miss the DST hour.
    gaps = [b.astimezone(UTC) - a.astimezone(UTC) for a, b in pairwise(fires)]
    return min(gaps, default=timedelta.max)
