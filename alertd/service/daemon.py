"""The service shell: one cycle for ``run --once``, and the daemon for ``run`` (APScheduler, signals, systemd)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alertd import __version__
from alertd.config.files import Config, load_recorded
from alertd.config.registry import RegistryCache
from alertd.config.sources import Recording
from alertd.domain.delivery import DeliveryState, SendOutcome
from alertd.domain.errors import ConfigError, DeliveryError, StoreError
from alertd.domain.routing import Subscription
from alertd.domain.settings import DeliveryMethod, Settings
from alertd.domain.values import FeedKind, Severity
from alertd.intake.fetch import Fetcher
from alertd.policy.decide import INVENTORY_SETTLE, digest_may_go, repeated_wall_time
from alertd.policy.escalation import Awaiting, awaiting
from alertd.send.transports import Transport, make_transport
from alertd.service.ackweb import AckWeb
from alertd.service.changes import cut_refusal, describe, drops
from alertd.service.clock import utcnow
from alertd.service.clockwatch import (
    LOOK_INTERVAL_SECONDS,
    ClockStep,
    ClockWatch,
    SteadyScheduler,
    SuccessAges,
    replan_after_step,
    replan_outbox,
    slot_gap,
)
from alertd.service.engine import Engine
from alertd.service.flush import FlushReport
from alertd.service.httpapi import HealthServer, HealthSnapshot
from alertd.service.logs import get_logger
from alertd.service.metrics import Metrics
from alertd.service.notify import Notifier
from alertd.service.outboxwatch import OutboxWatch
from alertd.service.poll import PollReport, poll_delay, stale_feeds
from alertd.service.progress import LoopProgress, in_flight_limit
from alertd.service.setup import keep_index_later, prepare
from alertd.service.signals import STOPS, EarlySignals
from alertd.service.vitals import FeedVital
from alertd.store import STORE_FAILURES, backup, loaded
from alertd.store.acks import AckBook, unanswered
from alertd.store.escalations import escalations_by_severity
from alertd.store.records import FeedState, digest_key
from alertd.store.sqlite import Store

log = get_logger("alertd")
AWAITING_EVERY_S = 60.0  # how often /metrics' count of unanswered warnings is made again

OUTBOX_INTERVAL_SECONDS = 30
HEALTH_INTERVAL_SECONDS = 300
ESCALATION_INTERVAL_SECONDS = 60  # deadlines are hours away: a reminder a minute late is on time
PRUNE_INTERVAL_SECONDS = 3600
STOP_GRACE_SECONDS = 20.0  # the least a stop waits for the sends in flight; an SMTP send's timeout may raise it
STOP_MARGIN_SECONDS = 5.0  # past a send's own timeout: recording its outcome, closing the store
STOP_CUT_SECONDS = 5.0  # for the work the grace cut short to unwind before the store closes
STORE_PROBE_SECONDS = 5.0  # while the store cannot be written, how often a small write tries it again
PROBE_KEY = "store-probe"  # the meta row the probe writes
FORGOTTEN_AFTER = timedelta(days=7)  # a feed polled since, and no longer configured, is warned of at start
DISPATCH_DELAY = 2.0
DISPATCH_MAX_WAIT = 30.0
WORKER_PREFIX = "alertd-worker"


class WorkerPool(ThreadPoolExecutor):
    """The daemon's worker threads (parsing, matching, rendering): a stop does not wait for them.

    A thread cannot be interrupted, and one reading a hostile feed may take minutes: asyncio would wait for it when
    the loop closes, and systemd would kill the daemon at its stop timeout. What a worker does is pure reading, or a
    store transaction that SQLite rolls back if it is cut, so the stop leaves it behind (see :func:`workers_busy`).
    """

    def __init__(self) -> None:
        super().__init__(thread_name_prefix=WORKER_PREFIX)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking work, cancel what has not started, never wait for what has."""
        super().shutdown(wait=False, cancel_futures=True)


class JobExecutor(AsyncIOExecutor):  # type: ignore[misc]  # APScheduler ships no types
    """APScheduler's asyncio executor, but its shutdown leaves the jobs running to end: the daemon's stop decides
    what is waited for and what is cut (the stock one cancels them all, a send mid-DATA included, which the relay
    may have accepted: sent again after restart). :meth:`running` gives the job of each task still running."""

    def __init__(self) -> None:
        super().__init__()
        self._jobs: dict[asyncio.Future[Any], str] = {}

    def shutdown(self, wait: bool = True) -> None:
        """Take no job any more; cancel none of those running."""
        self._pending_futures.clear()

    def _do_submit_job(self, job: object, run_times: object) -> None:
        before = set(self._pending_futures)
        super()._do_submit_job(job, run_times)
        for future in set(self._pending_futures) - before:
            self._jobs[future] = str(getattr(job, "id", ""))
            future.add_done_callback(self._jobs.pop)

    def running(self) -> dict[asyncio.Future[Any], str]:
        """The tasks of the jobs running now, with their job id (``poll:cisa-kev``, ``outbox`` …)."""
        return {future: job for future, job in self._jobs.items() if not future.done()}


def stop_grace(settings: Settings) -> float:
    """How long a stop waits for the sends in flight: long enough for an SMTP send to end by its own timeout
    (connecting included) and its outcome to be recorded, and never less than ``STOP_GRACE_SECONDS``."""
    if settings.delivery_method is DeliveryMethod.SMTP and settings.smtp is not None:
        return max(STOP_GRACE_SECONDS, settings.smtp.timeout + STOP_MARGIN_SECONDS)
    return STOP_GRACE_SECONDS


def workers_busy() -> bool:
    """Whether a worker thread is still running after the daemon stopped (the process must then exit without
    joining it)."""
    return any(t.name.startswith(WORKER_PREFIX) and t.is_alive() for t in threading.enumerate())


@dataclass(slots=True)
class CycleReport:
    polls: list[PollReport] = field(default_factory=list)
    emails: int = 0
    inventories: int = 0  # of the emails, the inventories (backlog found on first contact)
    flush: FlushReport = field(default_factory=FlushReport)
    transport: str = ""
    backup: Path | None = None  # the backup taken at the end of the cycle, when one was due
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (reference, establishment, personal link)

    @property
    def failed(self) -> bool:
        return any(not p.ok for p in self.polls) or self.flush.failed > 0 or self.flush.retrying > 0


def warn_unconfigured(states: Sequence[FeedState], configured: set[str], now: datetime) -> None:
    """At start: warn once of the feeds the store polled lately that the configuration no longer has. A reload
    says what it drops; a start cannot tell a feed removed on purpose from a feeds file cut short after a line
    break (valid YAML, one feed fewer), so it says which."""
    gone = sorted(
        s.feed
        for s in states
        if s.feed not in configured and s.last_attempt is not None and now - s.last_attempt <= FORGOTTEN_AFTER
    )
    if gone:
        log.warning(
            "feeds polled lately are no longer in the configuration: removed on purpose, or a feeds file cut short?",
            feeds=gone,
        )


def user_agent(config: Config) -> str:
    contact = config.settings.reply_to or ""
    return f"alertd/{__version__}" + (f" (+mailto:{contact})" if contact else "")


def due_digests(subs: Sequence[Subscription], store: Store, config: Config, now: datetime) -> list[str]:
    """Digest subscriptions whose schedule fired since their last dispatch (the first run only starts the clock)."""
    due: list[str] = []
    for sub in subs:
        if sub.digest is None:
            continue
        key = digest_key(sub.name)
        last = store.meta(key)
        if last is None:
            store.set_meta(key, now.isoformat())
            continue
        trigger = CronTrigger.from_crontab(sub.digest, timezone=config.settings.timezone)
        fire = trigger.get_next_fire_time(None, datetime.fromisoformat(last))
        if fire is not None and fire <= now and digest_may_go(sub, now.astimezone(config.settings.timezone)):
            due.append(sub.name)
    return due


async def run_cycle(config: Config, *, new_state: bool = False) -> CycleReport:
    """``alertd run --once``: poll every feed, match, dispatch what is due, flush the outbox, back the store up
    when a backup is due (the store checked first, and the sender's lock held from its opening, so no restore runs
    under the cycle; ``new_state`` accepts a store that is not the one state_dir had: README, "Recovering
    state")."""
    store = open_checked(config, new_state, sender=True)
    engine = Engine(config, store)
    report = CycleReport()

    def link_made(reference: str, establishment: str, url: str) -> None:
        report.links.append((reference, establishment, url))

    engine.dispatcher.on_link = link_made
    try:
        # Vulnerability catalogues first: an advisory naming a CVE is matched through the products they give it.
        catalogues = [f for f in config.feeds if f.kind is FeedKind.VULNERABILITY]
        others = [f for f in config.feeds if f.kind is not FeedKind.VULNERABILITY]
        async with Fetcher(user_agent=user_agent(config)) as fetcher:
            first = await asyncio.gather(*(engine.poll(f, fetcher) for f in catalogues))
            then = await asyncio.gather(*(engine.poll(f, fetcher) for f in others))
        by_id = {p.feed: p for p in (*first, *then)}
        report.polls = [by_id[f.id] for f in config.feeds]
        now = utcnow()
        digests = due_digests(config.subscriptions, store, config, now)
        await _dispatch_and_flush(engine, store, report, now, digests)
        await engine.prune(now)  # run from cron, --once is the only housekeeping there is
        report.backup = backup_if_due(store, config.settings)  # nothing else runs now: no worker thread needed
    finally:
        store.close()
    return report


FUTURE_BACKUP = "a backup is dated in the future (the clock was ahead when it was taken); the next is not held back"


def backup_if_due(store: Store, settings: Settings) -> Path | None:
    """The backup ``run --once`` takes when the store's newest is older than ``backups.every`` (a deployment run
    from cron has no daemon to take them); None when none was due, or a daemon holds the state (it takes them), or
    it failed (logged: the older backups are kept)."""
    every = settings.backups.every
    if every is None or not store.claim_sender():
        return None
    now = utcnow()
    due, ahead = backup.next_due(settings.backup_folder, store.store_id, every, now)
    if ahead is not None:
        log.warning(FUTURE_BACKUP, backup=str(ahead))
    if due > now:
        return None
    try:
        made, removed = backup.take(store.path, settings.backup_folder, settings.backups.keep, now)
    except Exception as exc:
        log.error("state backup failed; the older backups are kept", error=str(exc))
        return None
    log.info("state backed up", backup=str(made), removed=[str(p) for p in removed])
    return made


async def run_digests(config: Config, names: Sequence[str]) -> CycleReport:
    """``alertd digest --now``: dispatch these digests out of schedule, then flush the outbox."""
    store = Store.for_settings(config.settings)
    report = CycleReport()
    try:
        await _dispatch_and_flush(Engine(config, store), store, report, utcnow(), names, immediate=False)
    finally:
        store.close()
    return report


async def _dispatch_and_flush(
    engine: Engine, store: Store, report: CycleReport, now: datetime, digests: Sequence[str], immediate: bool = True
) -> None:
    """The due emails put in the outbox and sent: each batch goes while the next renders (Engine.flush_while)."""
    # A delivery problem (a missing password file, say) must not stop the dispatch: whatever was dispatched waits
    # in the outbox until delivery works.
    unavailable = ""
    try:
        transport: Transport | None = make_transport(engine.config.settings)
    except DeliveryError as exc:
        log.error("delivery unavailable", error=str(exc))
        report.transport, unavailable, transport = f"nothing: {exc}", str(exc), None
    try:
        if transport is None:
            dispatched = await engine.dispatch_off_loop(now, immediate=immediate, subscriptions=digests)
        else:
            report.transport = transport.describe()
            dispatching = engine.dispatch_off_loop(now, immediate=immediate, subscriptions=digests)
            dispatched, report.flush = await engine.flush_while(transport, dispatching)
        report.emails = len(dispatched)
        # The backlog goes last, in one inventory email per establishment, never mixed with news.
        report.inventories = len(await engine.dispatch_inventories_off_loop(now))
        report.emails += report.inventories
        if immediate:  # run --once: the warnings unanswered past their deadline are escalated (contract §4)
            report.emails += len(await engine.escalate_off_loop(utcnow()))
        for name in digests:
            store.set_meta(digest_key(name), now.isoformat())
        if transport is None:
            report.flush.retrying = len(store.due_deliveries(utcnow()))
            report.flush.errors.append(unavailable)
            return
        report.flush.add(await engine.flush(transport))
        # What failed now (a feed, a delivery) is told to the operators at once, at most once a day each.
        if engine.notify_operators(utcnow()) is not None:
            notice = await engine.flush(transport)
            report.flush.sent += notice.sent
    finally:
        if transport is not None:
            await transport.close()


def open_checked(config: Config, new_state: bool = False, *, sender: bool = False) -> Store:
    """The store as a daemon or a cycle opens it: quick-checked, and refused when it is not the one state_dir had
    (unless ``new_state``); ``sender`` takes the sender's lock first (:meth:`Store.for_settings`)."""
    store = Store.for_settings(config.settings, new_state=new_state, check=True, sender=sender)
    if store.settled:
        log.warning(
            "sends journalled but not recorded (a crash between): marked sent, not sent again", emails=store.settled
        )
    return store


class Daemon:
    """``alertd run``: poll jobs per feed, digest jobs per subscription, an outbox job; SIGHUP reloads."""

    # The signals caught before the loop ran (set by the command, see alertd.service.signals), and when the
    # configuration began to be read (time.monotonic()): a SIGHUP since then asks for a reload once ready.
    early: EarlySignals | None = None
    loaded_at = 0.0
    reload_when_ready = False
    reload_note = ""  # what the last reload dropped, shown in STATUS= until the next reload
    # What the start's load read, kept in state_dir once the daemon serves (``alertd check --against-running``).
    recorded: Recording | None = None

    def __init__(
        self, config_path: Path, config: Config, registry_cache: RegistryCache | None = None, *, new_state: bool = False
    ) -> None:
        self.config_path = config_path
        self.registry_cache = registry_cache or RegistryCache()
        self.config = config
        self.store = open_checked(config, new_state)
        self.engine = Engine(config, self.store, keep=False)
        self.index_to_keep = True  # a newly built index is kept in state_dir after the first poll, not before
        self.transport: Transport = make_transport(config.settings)
        self.notifier = Notifier()
        self.clock = ClockWatch()
        self.jobs = JobExecutor()
        self.scheduler = SteadyScheduler(
            self.check_clock,  # before each planning round: a wall-clock step is re-planned first
            timezone=config.settings.timezone,
            # A poll that could not start on time runs as soon as it can, once (coalesce), never twice at once.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            executors={"default": self.jobs},
        )
        self.stop = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.fetcher: Fetcher | None = None
        self.polls_in_flight = 0
        self.dispatch_timer: asyncio.TimerHandle | None = None
        self.dispatch_started = 0.0
        self.background: set[asyncio.Task[Any]] = set()
        self.stale: set[str] = set()
        self.reloading: asyncio.Task[None] | None = None
        self.reload_again = False
        self.stopping = False  # SIGTERM came: no new delivery, nothing new written (see wind_down)
        self.store_closed = False
        self.store_was_writable = True  # as the last health refresh saw it: a change is a recovery
        self.status_shown: str | None = None  # the last STATUS= the health of the jobs put (see publish_health)
        self.health = HealthSnapshot()
        self.metrics = Metrics(
            self.health.last_success,
            self.health.outbox,
            store_state=self.health.store,
            feed_failures=self.health.failures,
        )
        self.metrics.set_feeds(f.id for f in config.feeds)
        self.engine.flusher.on_send = self.send_done
        self.engine.dispatcher.on_progress = self.progress_made
        # Time on the monotonic clock (contract §6): staleness, and whether polls and flushes go on.
        self.success_ages = SuccessAges()
        self.engine.notices.success_ages = self.success_ages.ages
        self.progress = LoopProgress()
        self.poll_gaps: dict[str, float] = {}  # feed -> seconds planned until its next poll (interval or back-off)
        self.work_overdue: frozenset[str] = frozenset()  # the kinds of work STATUS last said were overdue
        self.metrics.watch_work(self.progress.ages, lambda: bool(self.progress.overdue()))
        self.outbox_watch = OutboxWatch(config.settings.delivery_failing_after)
        self.metrics.watch_delivery(self.outbox_watch.oldest_age, lambda: self.outbox_watch.failing() is not None)
        self.awaiting = Awaiting(0, 0)  # unanswered warnings (contract §4), counted by refresh_health
        self.awaiting_counted: float | None = None  # when, on the monotonic clock
        self.metrics.watch_acks(lambda: self.awaiting)
        self.escalated: dict[Severity, int] = {}  # warnings escalated, by severity (read from the store)
        self.metrics.watch_escalations(lambda: self.escalated)
        # Steps of the wall clock seen while a dispatch or a flush writes the outbox with a wall time read before
        # them (None when none runs): the outbox is re-planned for them once that work is done.
        self.held_steps: list[ClockStep] | None = None
        self.monotonic: Callable[[], float] = time.monotonic
        self.digests_sent: dict[str, float] = {}  # subscription -> when this process last sent its digest
        listen = config.settings.http_listen
        self.http = (
            HealthServer(listen, self.health, self.metrics, work=self.progress, delivery=self.outbox_watch)
            if listen
            else None
        )
        web = config.settings.web
        self.web = AckWeb(web, AckBook(self.store.path), self.engine.current) if web is not None else None

    # -- jobs -------------------------------------------------------------------------------------------

    async def poll_job(self, feed_id: str) -> None:
        try:
            feed = self.engine.config.feed(feed_id)
        except KeyError:
            return
        assert self.fetcher is not None
        self.polls_in_flight += 1
        self.progress.poll_started(feed.id, in_flight_limit(feed.deadline.total_seconds()))
        crashed = False
        try:
            report = await self.engine.poll(feed, self.fetcher)
        except Exception as exc:  # a failed poll, told as such: the next one is planned with its back-off
            crashed = True
            report = self.poll_crashed(feed.id, feed.failures_alert, exc)
        finally:
            self.polls_in_flight -= 1
            self.progress.poll_finished(feed.id, crashed=crashed)
        try:
            self.success_ages.saw(feed.id, self.store.feed_state(feed.id).last_success, just_now=report.ok)
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, f"reading the state of {feed.id}")
        self.metrics.poll_done(
            feed.id,
            ok=report.ok,
            not_modified=report.not_modified,
            observations=report.observations,
            findings=report.findings,
            suppressed_by_list=report.suppressed_by_list,
            alerts_by_severity=report.alerts_by_severity,
        )
        self.refresh_health()
        self.judge_staleness()
        if self.index_to_keep:
            self.index_to_keep = False
            keep_index_later(self.engine.prepared)
            self.keep_registry_later()
        self.poll_gaps[feed.id] = feed.interval.total_seconds()
        if not report.ok:
            # Back off: the next poll of a failing feed waits longer each time, never less than its interval.
            delay = poll_delay(feed.interval, report.consecutive_failures)
            self.check_clock()  # planned on the wall clock in force, not on one about to be found stepped
            job = self.scheduler.get_job(f"poll:{feed.id}")
            if job is not None:
                job.modify(next_run_time=utcnow() + delay)
            self.poll_gaps[feed.id] = delay.total_seconds()
            log.info("feed poll deferred", feed=feed.id, retry_in=str(delay))
        self.expect_work()
        self.dispatch_soon()

    def poll_crashed(self, feed: str, failures_alert: int, exc: Exception) -> PollReport:
        """A poll job that raised (a store that cannot be read, a bug): a failed poll in memory and in health,
        its store failure told as such (damage: ``/healthz`` 503 ``store_damaged``)."""
        vitals = self.engine.vitals
        if isinstance(exc, STORE_FAILURES):
            why = f"the state store cannot be read: {vitals.store_failed(exc, f'polling {feed}')}"
        else:
            log.exception("feed poll crashed", feed=feed)
            why = f"internal error while polling the feed: {type(exc).__name__} (see the log)"
        failures = vitals.poll_failed(feed, why, recorded=None, stored=0, store_fault=isinstance(exc, STORE_FAILURES))
        log.warning("feed failed", feed=feed, error=why, consecutive_failures=failures)
        if failures == failures_alert:
            log.error("feed unhealthy", feed=feed, error=why, consecutive_failures=failures)
        return PollReport(feed, ok=False, error=why, consecutive_failures=failures)

    async def health_job(self) -> None:
        """Every few minutes: judge staleness (as after each poll) and queue the operators' notice."""
        self.judge_staleness()
        try:
            notice = self.engine.notify_operators(utcnow())
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, "queueing the operators' notice")
            self.refresh_health()
            return
        if notice is not None:
            await self.deliver(immediate=True)

    async def escalation_job(self) -> None:
        """Once a minute: escalate the warnings unanswered past their deadline, and send what that queued."""
        try:
            async with self.send_lock:  # the store's connection: never inside a dispatch's transaction
                queued = [] if self.stopping else await self.engine.escalate_off_loop(utcnow())
            if queued:
                self.escalated = escalations_by_severity(self.store.db)
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, "escalating the unanswered warnings")
            self.refresh_health()
            return
        if queued:
            await self.deliver(immediate=True)

    def judge_staleness(self) -> None:
        """Warn once about each feed gone stale, and again once it recovers; judged on the monotonic age of its
        last success (contract §6), so a wall-clock step makes no feed stale nor fresh."""
        try:
            states = self.store.feed_states()
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, "reading the feeds' states")
            return
        self.success_ages.saw_all(states)
        stale = dict(stale_feeds(self.engine.config, states, utcnow(), self.success_ages.ages()))
        for feed_id, why in stale.items():
            if feed_id not in self.stale:
                log.error("feed stale", feed=feed_id, why=why)
        for feed_id in self.stale - stale.keys():
            log.info("feed fresh again", feed=feed_id)
        self.stale = set(stale)

    def dispatch_soon(self) -> None:
        """Dispatch immediate alerts shortly, once the polls running now are done.

        Feeds polled together (at start-up, or on the same minute) then give one email per establishment, not
        one per feed; an imminent warning waits at most ``DISPATCH_MAX_WAIT`` seconds for that.
        """
        if self.dispatch_timer is None and not self.stopping:
            self.dispatch_started = asyncio.get_running_loop().time()
            self.dispatch_timer = asyncio.get_running_loop().call_later(DISPATCH_DELAY, self._dispatch_due)

    def _dispatch_due(self) -> None:
        loop = asyncio.get_running_loop()
        if self.polls_in_flight and loop.time() - self.dispatch_started < DISPATCH_MAX_WAIT:
            self.dispatch_timer = loop.call_later(DISPATCH_DELAY, self._dispatch_due)
            return
        self.dispatch_timer = None
        task = loop.create_task(self.deliver(immediate=True))
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def digest_job(self, name: str) -> None:
        sub = next((s for s in self.engine.config.subscriptions if s.name == name), None)
        now = utcnow()
        tz = self.engine.config.settings.timezone
        try:
            last = self.store.meta(digest_key(name))
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, f"reading when the digest of {name} last went")
            self.refresh_health()
            return  # its alerts stay queued for the next slot
        sent = self.digests_sent.get(name)
        if sent is not None and sub is not None and sub.digest:
            # Sent by this process: judged on the real time since, so that no wall-clock step (a DST night, a
            # step back of days) sends a slot twice or skips the next one.
            if self.monotonic() - sent < slot_gap(sub.digest, tz, now).total_seconds() / 2:
                log.info("digest skipped: its last one went less than half a period ago", subscription=name)
                return
        elif repeated_wall_time(datetime.fromisoformat(last) if last else None, now, tz):
            log.info("digest skipped: this local time already had its digest (clocks went back)", subscription=name)
            return
        elif last and now < datetime.fromisoformat(last):
            # The wall clock was stepped back past the last digest: this slot, or an earlier one, was sent.
            log.info("digest skipped: the wall clock is before the last digest (stepped back)", subscription=name)
            return
        if sub is None or not digest_may_go(sub, now.astimezone(tz)):
            log.info("digest skipped: not a business day, a holiday or quiet hours", subscription=name)
            return  # its alerts stay queued for the next run that may go
        if not await self.deliver(immediate=False, subscriptions=(name,)):
            return  # a stop or a store that cannot be written: the digest is not noted done, its alerts stay queued
        self.digests_sent[name] = self.monotonic()
        try:
            self.store.set_meta(digest_key(name), now.isoformat())
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, f"noting the digest of {name}")

    async def deliver(self, *, immediate: bool = True, subscriptions: Sequence[str] = ()) -> bool:
        """Dispatch queued alerts into the outbox, flushing it as their batches commit; one at a time so nothing goes
        twice. False when the alerts could not all be dispatched: the daemon is stopping, or the store cannot be
        written.

        With the immediate alerts go the inventories that have settled: an establishment's backlog waits until
        its newest inventory alert is ``INVENTORY_SETTLE`` old, so the feeds polled at start-up land in one."""
        async with self.send_lock:
            if self.stopping:
                return False  # what is queued stays queued: the next start dispatches it
            self.progress.outbox_worked()

            async def dispatching(now: datetime) -> bool:
                await self.engine.dispatch_off_loop(now, immediate=immediate, subscriptions=subscriptions)
                if immediate:
                    await self.engine.dispatch_inventories_off_loop(now, INVENTORY_SETTLE)
                return not self.stopping and self.engine.vitals.writable

            try:
                # Each batch of emails goes while the next renders; the flush reads its own wall time (its retries
                # are planned on it), and a clock step seen meanwhile moves what either wrote.
                with self.outbox_clock():
                    dispatched, _ = await self.engine.flush_while(self.transport, dispatching(utcnow()))
                # A step seen meanwhile re-planned what the dispatch stamped when the clock context closed: it goes
                # now, not after the step's length.
                with self.outbox_clock():
                    await self.engine.flush(self.transport)
            except STORE_FAILURES as exc:  # a read outside the guarded writes (damage included): told, not raised
                self.engine.vitals.store_failed(exc, "working the outbox")
                dispatched = False
            self.progress.outbox_worked()
        self.refresh_health()
        return dispatched

    @contextlib.contextmanager
    def outbox_clock(self) -> Iterator[None]:
        """Around work that writes the outbox with a wall time read as it starts (a dispatch's new emails, a
        flush's retries): a wall-clock step seen meanwhile moves what it wrote too, once it is done, so no email
        waits the length of the step (contract §6)."""
        self.check_clock()  # a step already taken is re-planned before the wall time is read
        self.held_steps = []
        try:
            yield
        finally:
            held, self.held_steps = self.held_steps, None
            for step in held:
                self.write_to_store(
                    "re-planning the outbox after a clock step", partial(replan_outbox, step, self.store)
                )

    def progress_made(self) -> None:
        """An email of a dispatch was made: the outbox at work (a mass event's dispatch is not a stall)."""
        self.progress.outbox_worked()

    def send_done(self, outcome: SendOutcome, seconds: float) -> None:
        """One send attempt ended: counted, and taken as the outbox at work (a long flush is not a stall)."""
        self.metrics.send_done(outcome, seconds)
        self.progress.outbox_worked()
        if outcome is SendOutcome.SENT:
            self.outbox_watch.accepted()

    def refresh_health(self) -> None:
        """Hand the HTTP thread a fresh snapshot of feed and outbox states (it never touches SQLite itself), with
        what the jobs saw fail in memory; tell systemd (STATUS=) when that changes."""
        if self.store_closed:
            return
        if self.engine.vitals.writable and not self.store_was_writable:
            self.recovered()
        self.store_was_writable = self.engine.vitals.writable
        configured = [f.id for f in self.engine.config.feeds]
        try:
            states, outbox = self.store.feed_states(), self.store.outbox_counts()
            self.outbox_watch.saw_oldest(self.store.oldest_waiting(), utcnow())
            # Deadlines are hours away: a count a minute old is exact enough, and a count reads every alert of the
            # emails still answerable, on the loop (86 ms of CPU for 2,000 emails of 33,200 alerts: bench/ack.py).
            if self.awaiting_counted is None or self.monotonic() - self.awaiting_counted >= AWAITING_EVERY_S:
                self.awaiting = self.count_awaiting(utcnow())
                self.escalated = escalations_by_severity(self.store.db)
                self.awaiting_counted = self.monotonic()
        except STORE_FAILURES as exc:
            # A store that cannot even be read: what the process holds in memory is all /healthz can tell, the
            # read's failure included (damage met by a read is damage: 503 store_damaged).
            log.warning("state store cannot be read; health told from memory", error=str(exc))
            self.engine.vitals.store_failed(exc, "reading the store for the health snapshot")
            states, outbox = [], None
        self.health.update(states, outbox, configured=configured, vitals=self.engine.vitals)
        self.publish_health()

    def count_awaiting(self, now: datetime) -> Awaiting:
        """The warnings still answerable (sent within ``web.link_ttl``) that nobody answered, by the escalation
        settings; none without ``web`` (no link, so no response to wait for)."""
        settings = self.engine.config.settings
        if settings.web is None:
            return Awaiting(0, 0)
        sent = unanswered(self.store.db, now - settings.web.link_ttl)
        return awaiting(((u.sent, u.severity) for u in sent), settings.escalation, settings.timezone, now)

    def health_problems(self) -> str | None:
        """What is wrong now, for STATUS=: a store that cannot be written, feeds failing (``failures_alert``
        polls in a row or more, as this process saw them); None when all is well."""
        vitals = self.engine.vitals
        problems: list[str] = []
        if vitals.damaged is not None:
            problems.append(vitals.damaged)
        elif vitals.store_fault is not None:
            problems.append(vitals.store_fault.describe())
        failing = sum(
            vitals.feeds.get(f.id, FeedVital()).consecutive_failures >= f.failures_alert
            for f in self.engine.config.feeds
        )
        if failing:
            problems.append(f"{failing} feed{'s' if failing > 1 else ''} failing")
        if (delivery := self.outbox_watch.failing()) is not None:
            problems.append(delivery)
        return "; ".join(problems) or None

    def publish_health(self) -> None:
        """Put the problems in STATUS= when they change, and the usual line back once they are gone."""
        problems = self.health_problems()
        if problems == self.status_shown:
            return
        if problems is not None or self.status_shown is not None:
            self.notifier.status(problems or self.status_line())
        self.status_shown = problems

    def write_to_store(self, doing: str, write: Callable[[], object]) -> bool:
        """One small write to the store (a probe, say), its failure counted; True when it was written."""
        try:
            write()
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, doing)
            return False
        return True

    async def probe_store_forever(self) -> None:
        """While the store cannot be written, try a small write every few seconds: once one succeeds, the daemon
        recovers by itself (health back to normal, the feeds that failed on the store polled again at once,
        the queued alerts dispatched), without waiting for a feed's back-off or a restart."""
        while True:
            await asyncio.sleep(STORE_PROBE_SECONDS)
            vitals = self.engine.vitals
            if vitals.writable or self.stopping:
                continue
            if self.write_to_store("probing the store", lambda: self.store.set_meta(PROBE_KEY, utcnow().isoformat())):
                vitals.store_written()
            self.refresh_health()

    def recovered(self) -> None:
        """The store can be written again: poll at once the feeds whose poll it failed, dispatch what waits."""
        if self.stopping:
            return
        now = utcnow()
        for feed in self.engine.vitals.failed_on_store():
            job = self.scheduler.get_job(f"poll:{feed}")
            if job is not None:
                job.modify(next_run_time=now)
        self.dispatch_soon()

    async def prune_job(self) -> None:
        """Every hour: delete what left the feeds more than the retention period ago (in the store's writer
        thread, off the loop); a failure is logged and tried again next hour."""
        try:
            await self.engine.prune(utcnow())
        except Exception:
            log.exception("pruning failed; tried again next hour")

    async def outbox_job(self) -> None:
        """Every 30 s: immediate alerts left queued (by a stop, say) are dispatched; due retries are sent."""
        try:
            await self.deliver(immediate=True)
        except STORE_FAILURES as exc:  # damage included: the daemon stays up, unhealthy, and the operator restores
            self.engine.vitals.store_failed(exc, "working the outbox")
            self.refresh_health()

    async def backup_job(self) -> None:
        """Every ``backups.every``: an online backup of the store in a worker thread (the loop keeps serving),
        checked before the oldest is removed; a failure keeps the older backups and is tried next time."""
        settings = self.engine.config.settings
        try:
            made, removed = await asyncio.to_thread(
                backup.take, self.store.path, settings.backup_folder, settings.backups.keep, utcnow()
            )
        except Exception as exc:
            if isinstance(exc, STORE_FAILURES):
                self.engine.vitals.store_failed(exc, "backing the store up")  # damage is told by /healthz too
                self.refresh_health()
            log.error("state backup failed; the older backups are kept", error=str(exc))
            return
        log.info("state backed up", backup=str(made), removed=[str(p) for p in removed])

    def schedule(self, previous: Config | None = None) -> None:
        """(Re)create every job from the current configuration.

        After a reload, a feed whose settings did not change keeps its next poll time (and so its back-off);
        a new or changed feed is polled at once.
        """
        kept: dict[str, datetime] = {}
        if previous is not None:
            before = {f.id: f for f in previous.feeds}
            for feed in self.engine.config.feeds:
                job = self.scheduler.get_job(f"poll:{feed.id}")
                if job is not None and job.next_run_time is not None and before.get(feed.id) == feed:
                    kept[feed.id] = job.next_run_time
        for job in self.scheduler.get_jobs():
            job.remove()
        now = utcnow()
        for feed in self.engine.config.feeds:
            self.scheduler.add_job(
                self.poll_job,
                IntervalTrigger(seconds=feed.interval.total_seconds()),
                args=(feed.id,),
                id=f"poll:{feed.id}",
                next_run_time=kept.get(feed.id, now),
            )
        for sub in self.engine.config.subscriptions:
            if sub.digest:
                self.scheduler.add_job(
                    self.digest_job,
                    CronTrigger.from_crontab(sub.digest, timezone=self.engine.config.settings.timezone),
                    args=(sub.name,),
                    id=f"digest:{sub.name}",
                )
        self.scheduler.add_job(self.outbox_job, IntervalTrigger(seconds=OUTBOX_INTERVAL_SECONDS), id="outbox")
        self.scheduler.add_job(self.health_job, IntervalTrigger(seconds=HEALTH_INTERVAL_SECONDS), id="health")
        self.scheduler.add_job(self.prune_job, IntervalTrigger(seconds=PRUNE_INTERVAL_SECONDS), id="prune")
        self.scheduler.add_job(
            self.escalation_job, IntervalTrigger(seconds=ESCALATION_INTERVAL_SECONDS), id="escalation"
        )
        every = self.engine.config.settings.backups.every
        if every is not None:
            # The first backup when the newest one is due (at once when there is none): restarts do not delay it.
            first, ahead = backup.next_due(self.engine.config.settings.backup_folder, self.store.store_id, every, now)
            if ahead is not None:
                log.warning(FUTURE_BACKUP, backup=str(ahead))
            self.scheduler.add_job(
                self.backup_job, IntervalTrigger(seconds=every.total_seconds()), id="backup", next_run_time=first
            )
        # A kept feed keeps its back-off; a new or changed one starts at its interval.
        intervals = {f.id: f.interval.total_seconds() for f in self.engine.config.feeds}
        self.poll_gaps = {f: self.poll_gaps.get(f, i) if f in kept else i for f, i in intervals.items()}
        self.expect_work()

    # -- time and work (contract §6) ---------------------------------------------------------------------

    def check_clock(self) -> None:
        """Look for a wall-clock step since the last look; re-plan if there was one."""
        step = self.clock.look()
        if step is not None:
            self.clock_stepped(step)

    def clock_stepped(self, step: ClockStep) -> None:
        """Move every plan made on the wall clock by the step (see :func:`replan_after_step`); the outbox's once
        the dispatch or flush writing it now is done (see :meth:`outbox_clock`)."""
        if self.held_steps is not None:
            replan_after_step(step, self.scheduler, None)
            self.held_steps.append(step)
            return
        try:
            replan_after_step(step, self.scheduler, self.store)
        except STORE_FAILURES as exc:
            self.engine.vitals.store_failed(exc, "re-planning the outbox after a clock step")

    def expect_work(self) -> None:
        """Tell the progress judge what the schedule now promises: a poll at least every shortest planned gap,
        an outbox flush every ``OUTBOX_INTERVAL_SECONDS`` (a send taking up to the transport's timeout more)."""
        smtp = self.engine.config.settings.smtp
        self.progress.expect(
            poll_every=min(self.poll_gaps.values(), default=None),
            flush_every=OUTBOX_INTERVAL_SECONDS,
            flush_margin=smtp.timeout if smtp is not None else 0.0,
        )

    async def watch_clock(self) -> None:
        """Every second: look for a wall-clock step, and tell (log, STATUS) when the work stops or resumes."""
        while True:
            await asyncio.sleep(LOOK_INTERVAL_SECONDS)
            try:
                self.check_clock()
                self.tell_work()
            except Exception:  # the next look may succeed (a store busy, say); this task must go on looking
                log.exception("watching the clock and the work failed")

    def tell_work(self) -> None:
        """Log and put in STATUS the polls or flushes overdue (once per change), and their return."""
        overdue = self.progress.overdue()
        kinds = frozenset(o.work for o in overdue)
        if kinds == self.work_overdue or self.stop.is_set():  # stopping: the polls end on purpose
            return
        self.work_overdue = kinds
        if overdue:
            why = "; ".join(o.text for o in overdue)
            log.error("work overdue", why=why)
            self.notifier.status(f"work overdue: {why}")
        else:
            log.info("work resumed")
            self.notifier.status(self.status_line())

    # -- lifecycle --------------------------------------------------------------------------------------

    def take_over_early_signals(self) -> None:
        """Act on the signals caught before the loop's own handlers: a stop stops (before anything runs); a
        SIGHUP that came once the files were being read asks for a reload as soon as the daemon is ready; one
        that came before is ignored, the configuration read being already the newest."""
        early = self.early
        if early is None:
            return
        if early.stop is not None:
            log.info("stop requested before ready", signal=early.stop.name)
            self.stop.set()
        elif early.hangup_since(self.loaded_at):
            log.info("SIGHUP before ready: reloading once ready", hangups=early.hangups)
            self.reload_when_ready = True
        elif early.hangups:
            log.info("SIGHUP before ready ignored: the configuration was read after it", hangups=early.hangups)

    def request_reload(self) -> None:
        """SIGHUP: start a reload; one arriving during a reload runs another once that one ends."""
        if self.stopping:
            return  # the next start reads the files anyway
        if self.reloading is None or self.reloading.done():
            self.reloading = asyncio.get_running_loop().create_task(self.reload())
            self.reloading.add_done_callback(self._reloaded)
        else:
            self.reload_again = True

    def _reloaded(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("reload crashed", error=repr(task.exception()))
        if self.reload_again:
            self.reload_again = False
            self.request_reload()

    async def reload(self) -> None:
        """Validate every file again and build the new index in a worker thread, so the loop keeps serving
        (polls, sends, /healthz, the watchdog); swap everything in at once; keep the running configuration on
        any error."""
        self.notifier.reloading()
        try:
            config, recorded = await asyncio.to_thread(load_recorded, self.config_path, self.registry_cache)
            dropped = drops(self.engine.config, config)
            if dropped and (cut := await asyncio.to_thread(cut_refusal, dropped)):
                log.error("reload refused", problem=cut)
                self.notifier.ready(f"reload refused: {cut}; old config running")
                return
            # Kept once it serves, below; the parts of the running index whose inputs did not change serve again.
            running = self.engine.prepared.index
            prepared = await asyncio.to_thread(prepare, config, keep=False, previous=running)
            transport = make_transport(config.settings)  # a delivery change (host, password) applies too
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("reload refused", problem=str(problem))
            self.notifier.ready(f"reload refused: {exc.problems[0] if exc.problems else exc}; old config running")
            return
        except Exception as exc:  # never leave systemd waiting in "reloading"
            log.exception("reload failed")
            self.notifier.ready(f"reload failed: {exc}; old config running")
            return
        previous = self.engine.config
        async with self.send_lock:  # never swap the transport under a send
            self.engine.adopt(prepared)
            old_transport, self.transport = self.transport, transport
        await old_transport.close()
        self.config = config
        self.metrics.set_feeds(f.id for f in config.feeds)
        self.outbox_watch.limit = config.settings.delivery_failing_after.total_seconds()
        self.schedule(previous)
        if await self.engine.rematch(utcnow()):
            self.dispatch_soon()
        self.refresh_health()
        self.reload_note = f"reload: {describe(dropped)}" if dropped else ""
        if dropped:  # applied, and said: an operator may remove entries on purpose, a slip must not pass unseen
            log.warning("reload drops entries", **{d.what: str(d) for d in dropped})
        log.info(
            "configuration reloaded",
            feeds=len(config.feeds),
            establishments=len(config.registry.establishments),
            subscriptions=len(config.subscriptions),
        )
        self.notifier.ready(self.status_line())
        self.engine.settle()  # the collector's pass over what the reload thawed, now rather than in the next one
        keep_index_later(prepared)  # for the next start: seconds of work that need not delay the reload
        self.keep_registry_later()
        self.keep_loaded_later(recorded)

    def keep_loaded_later(self, recorded: Recording) -> None:
        """What the load now serving read, kept in state_dir (:mod:`alertd.store.loaded`) by a thread of its own:
        the manifest and the bytes of the files not kept yet (all of them at the first start, one file after a
        one-file edit)."""
        manifest = recorded.manifest(self.config_path)
        state_dir, now = self.config.settings.state_dir, utcnow()

        def keep() -> None:
            started = time.perf_counter()
            try:
                written = loaded.keep(state_dir, manifest, recorded.fresh, now)
            except OSError as exc:  # what-if against the running configuration is lost, nothing else: said
                log.error("running configuration not kept", error=str(exc), state_dir=str(state_dir))
                return
            seconds = round(time.perf_counter() - started, 2)
            log.info("running configuration kept", files=len(manifest.files), written=written, seconds=seconds)

        threading.Thread(target=keep, name="keep-loaded", daemon=True).start()

    def keep_registry_later(self) -> None:
        """The registry files parsed since the last time, kept in state_dir for the next start by a thread of their
        own (:meth:`RegistryCache.keep_parsed`), as the index is."""
        if self.registry_cache.unkept:
            threading.Thread(target=self._keep_registry, name="keep-registry", daemon=True).start()

    def _keep_registry(self) -> None:
        started, files = time.perf_counter(), self.registry_cache.unkept
        self.registry_cache.keep_parsed()
        log.info("registry files kept", files=files, seconds=round(time.perf_counter() - started, 2))

    def status_line(self) -> str:
        """STATUS=: what is watched, and what the last reload dropped (until the next one)."""
        cfg = self.engine.config
        line = f"watching {len(cfg.feeds)} feeds for {len(cfg.registry.establishments)} establishments"
        return f"{line}; {self.reload_note}" if self.reload_note else line

    async def watchdog(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    async def run(self) -> int:
        if not self.store.claim_sender():
            raise StoreError(
                f"another alertd daemon is running on {self.store.path.parent}; stop it first (one per state_dir)"
            )
        loop = asyncio.get_running_loop()
        loop.set_default_executor(WorkerPool())
        for sig in STOPS:
            loop.add_signal_handler(sig, self.stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        self.take_over_early_signals()
        tasks = []
        if self.notifier.watchdog_interval:
            tasks.append(asyncio.create_task(self.watchdog(self.notifier.watchdog_interval)))
        self.refresh_health()
        states = self.store.feed_states()
        self.success_ages.saw_all(states)  # dated once from the wall clock, then monotonic
        warn_unconfigured(states, {f.id for f in self.config.feeds}, utcnow())
        if self.http is not None:
            self.http.start()  # HttpListenError (an AlertdError) when the port is taken: the CLI reports it
            tasks.append(asyncio.create_task(self.http.beat_forever()))
            log.info("http endpoint listening", url=self.http.url)
        if self.web is not None:
            self.web.start()  # HttpListenError too
        async with Fetcher(user_agent=user_agent(self.config)) as fetcher:
            self.fetcher = fetcher
            self.schedule()
            self.scheduler.start()
            tasks.append(asyncio.create_task(self.watch_clock()))
            log.info("alertd started", version=__version__, feeds=len(self.config.feeds))
            self.notifier.ready(self.status_line())
            if self.recorded is not None:
                self.keep_loaded_later(self.recorded)
                self.recorded = None
            probe = asyncio.create_task(self.probe_store_forever())
            if self.reload_when_ready:
                self.request_reload()
            await self.stop.wait()
            probe.cancel()
            await self.wind_down()
        for task in tasks:
            task.cancel()
        if self.http is not None:
            self.http.stop()
        if self.web is not None:
            self.web.stop()
            self.web.book.close()
        await self.transport.close()
        self.store_closed = True
        self.store.close()  # nothing runs that could touch it: wind_down waited for every task that does
        log.info("alertd stopped")
        # On its way out: a second SIGTERM (systemd's, an impatient operator's) or a SIGHUP must not kill the
        # process now, nor turn its exit 0 into death by a signal. Closing the loop would give these signals
        # their default action back, so they leave the loop's hands here and are ignored until the process ends.
        for sig in (*STOPS, signal.SIGHUP):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
        return 0

    async def wind_down(self) -> None:
        """SIGTERM: take no new delivery, let the sends in flight end within the grace and record their outcome,
        so that the caller may close the store (contract §6, "Stop").

        Polls and a reload in progress are cut at once (a poll's entries not recorded are read again at the next
        start); the jobs that deliver (the outbox, a digest, the operators' notice, a dispatch) are waited for:
        with the flusher held, they end as soon as their sends in flight do, each within the SMTP timeout. What
        still runs when the grace is over is cut: a send then cut may have been accepted by the relay, and is sent
        again at the next start (at most one email, since the DATA of the pool's sends complete one at a time).
        """
        grace = stop_grace(self.engine.config.settings)
        # systemd waits TimeoutStopSec; this stretches it to the grace and the margin, should the unit say less.
        self.notifier.stopping(extend_seconds=grace + STOP_CUT_SECONDS + STOP_MARGIN_SECONDS)
        log.info("alertd stopping", grace_seconds=grace, sends_in_flight=self.engine.flusher.in_flight)
        self.stopping = True
        self.engine.flusher.hold()
        self.engine.dispatcher.holding = True
        self.scheduler.shutdown(wait=False)  # JobExecutor: the jobs running now are not cancelled
        if self.dispatch_timer is not None:
            self.dispatch_timer.cancel()  # queued alerts stay queued: the next start dispatches them
            self.dispatch_timer = None
        running = self.jobs.running()
        cut: list[asyncio.Future[Any]] = [task for task, job in running.items() if job.startswith("poll:")]
        if self.reloading is not None and not self.reloading.done():
            cut.append(self.reloading)
        for task in cut:
            task.cancel()
        work = {*running, *self.background, *cut}
        late: set[asyncio.Future[Any]] = set()
        if work:
            _, late = await asyncio.wait(work, timeout=grace)
        if late:
            log.warning(
                "stop grace over: the work still running is cut; a send cut now may have reached the relay and is "
                "sent again at the next start",
                grace_seconds=grace,
                sends_in_flight=self.engine.flusher.in_flight,
                tasks=len(late),
            )
            for task in late:
                task.cancel()
            await asyncio.wait(late, timeout=STOP_CUT_SECONDS)
        self.engine.flusher.record_pending()  # a last try at outcomes the store could not take
        self.log_left()

    def log_left(self) -> None:
        """Say what the stop leaves in the outbox for the next start."""
        unrecorded = len(self.engine.flusher.unrecorded)
        try:
            counts = self.store.outbox_counts()
        except STORE_FAILURES as exc:
            log.warning("outbox left for the next start: cannot be counted", error=str(exc), unrecorded=unrecorded)
            return
        log.info(
            "outbox left for the next start",
            queued=counts.get(DeliveryState.PENDING, 0),
            sending=counts.get(DeliveryState.SENDING, 0),
            unrecorded=unrecorded,
        )
        if unrecorded:
            log.warning(
                "deliveries accepted by the relay could not be recorded (the store cannot be written): they are sent "
                "again at the next start",
                deliveries=sorted(self.engine.flusher.unrecorded),
            )
