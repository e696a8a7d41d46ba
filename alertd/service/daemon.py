"""The service shell: one cycle for ``run --once``, and the daemon for ``run`` (APScheduler, signals, systemd)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alertd import __version__
from alertd.config.files import Config, load_config
from alertd.config.registry import RegistryCache
from alertd.domain.errors import ConfigError, DeliveryError, StoreError
from alertd.domain.routing import Subscription
from alertd.domain.values import FeedKind
from alertd.intake.fetch import Fetcher
from alertd.policy.decide import INVENTORY_SETTLE, digest_may_go, repeated_wall_time
from alertd.send.transports import Transport, make_transport
from alertd.service.changes import cut_refusal, describe, drops
from alertd.service.clock import utcnow
from alertd.service.engine import Engine
from alertd.service.flush import FlushReport
from alertd.service.httpapi import HealthServer, HealthSnapshot
from alertd.service.logs import get_logger
from alertd.service.metrics import Metrics
from alertd.service.notify import Notifier
from alertd.service.poll import PollReport, poll_delay, stale_feeds
from alertd.service.setup import keep_index_later, prepare
from alertd.service.signals import STOPS, EarlySignals
from alertd.store.records import digest_key
from alertd.store.sqlite import Store

log = get_logger("alertd")

OUTBOX_INTERVAL_SECONDS = 30
HEALTH_INTERVAL_SECONDS = 300
PRUNE_INTERVAL_SECONDS = 3600
STOP_GRACE_SECONDS = 20.0
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

    @property
    def failed(self) -> bool:
        return any(not p.ok for p in self.polls) or self.flush.failed > 0 or self.flush.retrying > 0


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


async def run_cycle(config: Config) -> CycleReport:
    """``alertd run --once``: poll every feed, match, dispatch what is due, flush the outbox."""
    store = Store.in_state_dir(config.settings.state_dir)
    engine = Engine(config, store)
    report = CycleReport()
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
    finally:
        store.close()
    return report


async def run_digests(config: Config, names: Sequence[str]) -> CycleReport:
    """``alertd digest --now``: dispatch these digests out of schedule, then flush the outbox."""
    store = Store.in_state_dir(config.settings.state_dir)
    report = CycleReport()
    try:
        await _dispatch_and_flush(Engine(config, store), store, report, utcnow(), names, immediate=False)
    finally:
        store.close()
    return report


async def _dispatch_and_flush(
    engine: Engine, store: Store, report: CycleReport, now: datetime, digests: Sequence[str], immediate: bool = True
) -> None:
    report.emails = len(await engine.dispatch_off_loop(now, immediate=immediate, subscriptions=digests))
    # The backlog goes last, in one inventory email per establishment, never mixed with news.
    report.inventories = len(await engine.dispatch_inventories_off_loop(now))
    report.emails += report.inventories
    for name in digests:
        store.set_meta(digest_key(name), now.isoformat())
    # The transport comes last: a delivery problem (a missing password file, say) must not stop the polling,
    # and whatever was dispatched waits in the outbox until delivery works.
    try:
        transport = make_transport(engine.config.settings)
    except DeliveryError as exc:
        log.error("delivery unavailable", error=str(exc))
        report.transport = f"nothing: {exc}"
        report.flush.retrying = len(store.due_deliveries(utcnow()))
        report.flush.errors.append(str(exc))
        return
    report.transport = transport.describe()
    try:
        report.flush = await engine.flush(transport)
        # What failed now (a feed, a delivery) is told to the operators at once, at most once a day each.
        if engine.notify_operators(utcnow()) is not None:
            notice = await engine.flush(transport)
            report.flush.sent += notice.sent
    finally:
        await transport.close()


class Daemon:
    """``alertd run``: poll jobs per feed, digest jobs per subscription, an outbox job; SIGHUP reloads."""

    # The signals caught before the loop ran (set by the command, see alertd.service.signals), and when the
    # configuration began to be read (time.monotonic()): a SIGHUP since then asks for a reload once ready.
    early: EarlySignals | None = None
    loaded_at = 0.0
    reload_when_ready = False
    reload_note = ""  # what the last reload dropped, shown in STATUS= until the next reload

    def __init__(self, config_path: Path, config: Config, registry_cache: RegistryCache | None = None) -> None:
        self.config_path = config_path
        self.registry_cache = registry_cache or RegistryCache()
        self.config = config
        self.store = Store.in_state_dir(config.settings.state_dir)
        self.engine = Engine(config, self.store, keep=False)
        self.index_to_keep = True  # a newly built index is kept in state_dir after the first poll, not before
        self.transport: Transport = make_transport(config.settings)
        self.notifier = Notifier()
        self.scheduler = AsyncIOScheduler(
            timezone=config.settings.timezone,
            # A poll that could not start on time runs as soon as it can, once (coalesce), never twice at once.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.stop = asyncio.Event()
        self.send_lock = asyncio.Lock()
        self.fetcher: Fetcher | None = None
        self.polls_in_flight = 0
        self.dispatch_timer: asyncio.TimerHandle | None = None
        self.dispatch_started = 0.0
        self.background: set[asyncio.Task[None]] = set()
        self.stale: set[str] = set()
        self.reloading: asyncio.Task[None] | None = None
        self.reload_again = False
        self.health = HealthSnapshot()
        self.metrics = Metrics(self.health.last_success, self.health.outbox)
        self.metrics.set_feeds(f.id for f in config.feeds)
        self.engine.flusher.on_send = self.metrics.send_done
        listen = config.settings.http_listen
        self.http = HealthServer(listen, self.health, self.metrics) if listen else None

    # -- jobs -------------------------------------------------------------------------------------------

    async def poll_job(self, feed_id: str) -> None:
        try:
            feed = self.engine.config.feed(feed_id)
        except KeyError:
            return
        assert self.fetcher is not None
        self.polls_in_flight += 1
        try:
            report = await self.engine.poll(feed, self.fetcher)
        finally:
            self.polls_in_flight -= 1
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
        if self.index_to_keep:
            self.index_to_keep = False
            keep_index_later(self.engine.prepared)
        if not report.ok:
            # Back off: the next poll of a failing feed waits longer each time, never less than its interval.
            delay = poll_delay(feed.interval, report.consecutive_failures)
            job = self.scheduler.get_job(f"poll:{feed.id}")
            if job is not None:
                job.modify(next_run_time=utcnow() + delay)
            log.info("feed poll deferred", feed=feed.id, retry_in=str(delay))
        self.dispatch_soon()

    async def health_job(self) -> None:
        """Every few minutes: warn once about each feed gone stale, and again once it recovers."""
        stale = dict(stale_feeds(self.engine.config, self.store.feed_states(), utcnow()))
        for feed_id, why in stale.items():
            if feed_id not in self.stale:
                log.error("feed stale", feed=feed_id, why=why)
        for feed_id in self.stale - stale.keys():
            log.info("feed fresh again", feed=feed_id)
        self.stale = set(stale)
        if self.engine.notify_operators(utcnow()) is not None:
            await self.deliver(immediate=True)

    def dispatch_soon(self) -> None:
        """Dispatch immediate alerts shortly, once the polls running now are done.

        Feeds polled together (at start-up, or on the same minute) then give one email per establishment, not
        one per feed; an imminent warning waits at most ``DISPATCH_MAX_WAIT`` seconds for that.
        """
        if self.dispatch_timer is None:
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
        last = self.store.meta(digest_key(name))
        if repeated_wall_time(datetime.fromisoformat(last) if last else None, now, tz):
            log.info("digest skipped: this local time already had its digest (clocks went back)", subscription=name)
            return
        if sub is None or not digest_may_go(sub, now.astimezone(tz)):
            log.info("digest skipped: not a business day, a holiday or quiet hours", subscription=name)
            return  # its alerts stay queued for the next run that may go
        await self.deliver(immediate=False, subscriptions=(name,))
        self.store.set_meta(digest_key(name), now.isoformat())

    async def deliver(self, *, immediate: bool = True, subscriptions: Sequence[str] = ()) -> None:
        """Dispatch queued alerts into the outbox, then flush it; one at a time so nothing goes twice.

        With the immediate alerts go the inventories that have settled: an establishment's backlog waits until
        its newest inventory alert is ``INVENTORY_SETTLE`` old, so the feeds polled at start-up land in one."""
        async with self.send_lock:
            now = utcnow()
            await self.engine.dispatch_off_loop(now, immediate=immediate, subscriptions=subscriptions)
            if immediate:
                await self.engine.dispatch_inventories_off_loop(now, INVENTORY_SETTLE)
            await self.engine.flush(self.transport)
        self.refresh_health()

    def refresh_health(self) -> None:
        """Hand the HTTP thread a fresh snapshot of feed and outbox states (it never touches SQLite itself)."""
        self.health.update(
            self.store.feed_states(), self.store.outbox_counts(), configured=[f.id for f in self.engine.config.feeds]
        )

    async def prune_job(self) -> None:
        """Every hour: delete what left the feeds more than the retention period ago (in the store's writer
        thread, off the loop); a failure is logged and tried again next hour."""
        try:
            await self.engine.prune(utcnow())
        except Exception:
            log.exception("pruning failed; tried again next hour")

    async def outbox_job(self) -> None:
        """Every 30 s: immediate alerts left queued (by a stop, say) are dispatched; due retries are sent."""
        await self.deliver(immediate=True)

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
            config = await asyncio.to_thread(load_config, self.config_path, self.registry_cache, warnings=False)
            dropped = drops(self.engine.config, config)
            if dropped and (cut := await asyncio.to_thread(cut_refusal, dropped)):
                log.error("reload refused", problem=cut)
                self.notifier.ready(f"reload refused: {cut}; old config running")
                return
            prepared = await asyncio.to_thread(prepare, config, keep=False)  # kept once it serves, below
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
        keep_index_later(prepared)  # for the next start: seconds of work that need not delay the reload

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
        if self.http is not None:
            self.http.start()  # HttpListenError (an AlertdError) when the port is taken: the CLI reports it
            tasks.append(asyncio.create_task(self.http.beat_forever()))
            log.info("http endpoint listening", url=self.http.url)
        async with Fetcher(user_agent=user_agent(self.config)) as fetcher:
            self.fetcher = fetcher
            self.schedule()
            self.scheduler.start()
            log.info("alertd started", version=__version__, feeds=len(self.config.feeds))
            self.notifier.ready(self.status_line())
            if self.reload_when_ready:
                self.request_reload()
            await self.stop.wait()
            self.notifier.stopping()
            log.info("alertd stopping")
            self.scheduler.shutdown(wait=False)
            if self.dispatch_timer is not None:
                self.dispatch_timer.cancel()  # queued alerts stay queued: the next start dispatches them
            # Sends in flight get a bounded grace; whatever is left stays in the outbox for next time.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await self.send_lock.acquire()
        for task in tasks:
            task.cancel()
        if self.http is not None:
            self.http.stop()
        await self.transport.close()
        self.store.close()
        log.info("alertd stopped")
        return 0
