"""The pipeline wired to the world: one configuration's jobs over one store.

Each job lives in a module of its own — :mod:`~alertd.service.poll` (fetch → parse → match → record),
:mod:`~alertd.service.dispatch` (queued alerts → emails in the outbox), :mod:`~alertd.service.flush` (the
outbox through a transport) and :mod:`~alertd.service.operators` (what the operators are told). The engine holds
the configuration in force, swaps it whole on a reload, and is what the scheduler (``daemon``) and the CLI call.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TypeVar

from alertd.config.files import Config
from alertd.domain.establishments import Establishment
from alertd.domain.feeds import FeedConfig
from alertd.domain.knowledge import NO_KNOWLEDGE, Knowledge
from alertd.domain.values import Alert, Finding, Observation
from alertd.intake.fetch import Fetcher
from alertd.match.index import MatchResult
from alertd.policy.inhibitions import Inhibited
from alertd.send.transports import Transport
from alertd.service.dispatch import Dispatcher
from alertd.service.escalate import Escalator
from alertd.service.flush import Flusher, FlushReport
from alertd.service.logs import get_logger
from alertd.service.operators import OperatorNotices
from alertd.service.poll import Poller, PollReport
from alertd.service.setup import Prepared, prepare
from alertd.service.vitals import Vitals
from alertd.store.prune import Pruned
from alertd.store.records import QueuedAlert
from alertd.store.sqlite import Store

log = get_logger("alertd")

T = TypeVar("T")
# While a dispatch renders, how long a flush that found nothing committed yet waits before it looks again (a batch
# of emails is committed every BATCH_SECONDS at the latest).
FLUSH_WHILE_DISPATCHING = 0.05


class Engine:
    """One configuration's pipeline. ``reload`` swaps the configuration and the match index whole."""

    def __init__(self, config: Config, store: Store, *, keep: bool = True) -> None:
        self.store = store
        self.prepared = prepare(config, keep=keep)  # keep=False: the daemon keeps a new index once it serves
        # What the jobs saw fail (feeds, store writes), in memory: /healthz tells it when the store cannot.
        self.vitals = Vitals(store.path)
        self.polls = Poller(store, self.current, self.vitals)
        self.dispatcher = Dispatcher(store, self.current, self.vitals)
        self.flusher = Flusher(store, self.vitals)
        self.notices = OperatorNotices(store, self.current)
        self.escalator = Escalator(store, self.current, self.dispatcher)
        self.drop_orphans()

    def current(self) -> Prepared:
        """The configuration in force, with its index, templates and signer (each job reads it when it needs it)."""
        return self.prepared

    @property
    def config(self) -> Config:
        """The configuration in force."""
        return self.prepared.config

    def reload(self, config: Config) -> None:
        """Adopt a new, already validated configuration (index and templates built before the swap)."""
        self.adopt(prepare(config))

    def adopt(self, prepared: Prepared) -> None:
        """Swap in what :func:`prepare` built, all at once (from the event loop: no poll sees half of it)."""
        # The objects frozen at start (index_cache.kept_for_good) are thawed: what the old configuration leaves is
        # collected as usual from now on.
        gc.unfreeze()
        before = self.prepared.config
        self.prepared = prepared
        # Queued alerts name only establishments and subscriptions of the configuration before (those of an
        # older one were dropped when it was replaced): only a removal can leave some orphaned, and a walk over
        # the ids is cheaper than the store's query with 100,000 of them.
        if _removed(before.registry.establishments, prepared.config.registry.establishments) or _removed(
            {s.name: s for s in before.subscriptions}, {s.name: s for s in prepared.config.subscriptions}
        ):
            self.drop_orphans()

    @staticmethod
    def settle() -> None:
        """Once a reload has answered: collect what the configuration before left, then freeze what lives on, as
        a start does. Thawed by :meth:`adopt`, the objects of the index (millions) would otherwise be walked by
        the collector's next full pass wherever it falls, as within the next reload (a fifth of a second or more
        at national scale)."""
        gc.collect()
        gc.freeze()

    def drop_orphans(self) -> None:
        """Forget queued alerts whose subscription or establishment the configuration no longer has
        (:meth:`Poller.drop_orphans`)."""
        self.polls.drop_orphans()

    # -- the jobs, as the daemon and the CLI call them --------------------------------------------------

    async def poll(self, feed: FeedConfig, fetcher: Fetcher, now: datetime | None = None) -> PollReport:
        """Fetch, parse, record and match one feed, and queue the alerts policy decides on."""
        return await self.polls.poll(feed, fetcher, now)

    async def rematch(self, now: datetime, feed: str | None = None) -> int:
        """Match what the feeds (or one feed) list now against the current registry; the number of new alerts."""
        return await self.polls.rematch(now, feed)

    def match(self, observations: Sequence[Observation], extra: Knowledge = NO_KNOWLEDGE) -> MatchResult:
        """Match observations, each CVE judged by what the sources said of it so far (and ``extra``)."""
        return self.polls.match(observations, extra)

    def inhibit(self, matched: MatchResult, now: datetime) -> Inhibited:
        """``matched`` split by the inhibitions in force: what is kept, and what is held back with its rule."""
        return self.polls.inhibit(matched, now)

    def decide(self, matched: MatchResult, now: datetime) -> list[Alert]:
        """The alerts policy decides on for these findings."""
        return self.polls.decide(matched, now)

    def dispatch(self, now: datetime, *, immediate: bool = True, subscriptions: Sequence[str] = ()) -> list[int]:
        """Render one email per establishment for its queued alerts into the outbox; the new deliveries' ids."""
        return self.dispatcher.dispatch(now, immediate=immediate, subscriptions=subscriptions)

    async def dispatch_off_loop(
        self, now: datetime, *, immediate: bool = True, subscriptions: Sequence[str] = ()
    ) -> list[int]:
        """:meth:`dispatch` with each email rendered in a worker thread, so the event loop keeps serving."""
        return await self.dispatcher.dispatch_off_loop(now, immediate=immediate, subscriptions=subscriptions)

    async def dispatch_inventories_off_loop(self, now: datetime, settle: timedelta | None = None) -> list[int]:
        """:meth:`dispatch_inventories` with each email rendered in a worker thread."""
        return await self.dispatcher.dispatch_inventories_off_loop(now, settle)

    async def prune(self, now: datetime) -> Pruned | None:
        """Delete what left the feeds more than the retention period ago and is resolved and told (contract §1),
        in the store's writer thread; None when the configuration keeps everything (``retention: never``)."""
        retention = self.config.settings.retention
        if retention is None:
            return None
        pruned = await self.store.prune_off_loop(now - retention)
        if pruned.total:
            log.info(
                "state pruned",
                observations=pruned.observations,
                findings=pruned.findings,
                alerts=pruned.alerts,
                emails=pruned.emails,
            )
        return pruned

    def dispatch_inventories(self, now: datetime, settle: timedelta | None = None) -> list[int]:
        """Render one inventory email per establishment for its backlog alerts into the outbox (with ``settle``,
        only those whose newest alert has waited that long, out of quiet hours); the new deliveries' ids."""
        return self.dispatcher.dispatch_inventories(now, settle)

    def compose(
        self, est: Establishment, items: Sequence[QueuedAlert], now: datetime, resolved: Sequence[Finding] = ()
    ) -> tuple[EmailMessage, list[str]] | None:
        """The email for some queued alerts of one establishment, and its recipients; None if nobody is to get it.
        A preview: no reference is allocated."""
        return self.dispatcher.compose(est, items, now, resolved)

    def notify_operators(self, now: datetime) -> int | None:
        """Queue the operators' notice of the problems not yet told today; its delivery id, or None."""
        return self.notices.notify(now)

    async def escalate_off_loop(self, now: datetime) -> list[int]:
        """Queue a reminder of each warning unanswered past its deadline, and the operators' "to call" email; the
        new deliveries' ids (contract §4). The reminders render in worker threads: the event loop keeps turning."""
        return await self.escalator.escalate_off_loop(now)

    async def flush(self, transport: Transport, now: datetime | None = None) -> FlushReport:
        """Try every due delivery once, as many at a time as the transport allows (contract §4)."""
        return await self.flusher.flush(transport, now)

    async def flush_while(self, transport: Transport, dispatching: Awaitable[T]) -> tuple[T, FlushReport]:
        """``dispatching``'s result, with the outbox flushed while it runs and once after it: the emails a
        dispatch puts in the outbox batch by batch go out while the next batches render, instead of after the last
        (one flush at a time, as ever; each takes the deliveries committed when it starts)."""
        task = asyncio.ensure_future(dispatching)
        report = FlushReport()
        try:
            while not task.done():
                part = await self.flush(transport)
                report.add(part)
                if part.left_to_other or part.held:
                    break  # another process sends, or this one holds its sends (a stop, a store it cannot write)
                if part.sent or part.failed or part.retrying:
                    await asyncio.sleep(0)  # the dispatch's turn, whatever the transport awaited
                else:  # nothing committed yet: wait for the next batch, or the end
                    await asyncio.wait({task}, timeout=FLUSH_WHILE_DISPATCHING)
        finally:
            if not task.done():  # the flush raised, or holds: the dispatch still ends (its batches commit or not)
                await asyncio.wait({task})
        result = task.result()
        if not report.left_to_other:
            report.add(await self.flush(transport))  # what the last batches committed
        return result, report


def _removed(before: Mapping[str, object], after: Mapping[str, object]) -> bool:
    """Whether some key of ``before`` is not in ``after``."""
    return not before.keys() <= after.keys()
