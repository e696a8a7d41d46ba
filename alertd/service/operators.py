"""Telling the operators: failing or stale feeds and deliveries failed for good, in one notice a day at most.

The notice itself is rendered by :mod:`alertd.render.notices`; here the problems are gathered from the store and
the notice is queued in the outbox, which delivers it like any email.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

from alertd.config.files import Config
from alertd.domain.delivery import OPERATORS, DeliveryState
from alertd.domain.settings import Settings
from alertd.domain.tlp import Tlp
from alertd.policy.decide import TLP_RED, withheld
from alertd.render.notices import Problem, compose_notice
from alertd.service.dispatch import CUT_PREFIX, make_message_id
from alertd.service.logs import get_logger
from alertd.service.poll import cut_key, cut_text, stale_feeds
from alertd.service.setup import Prepared
from alertd.store.records import notice_key
from alertd.store.sqlite import Store

log = get_logger("alertd")


def queue_for_operators(store: Store, settings: Settings, msg: EmailMessage, now: datetime) -> int:
    """Put an email to the ``operators`` in the outbox (a notice, a "to call" list); its delivery id."""
    return store.enqueue_email(
        establishment=OPERATORS,
        alert_ids=[],
        finding_keys=[],
        message_id=str(msg["Message-ID"]),
        sender=parseaddr(settings.sender_from)[1],
        recipients=list(settings.operators),
        subject=str(msg["Subject"]),
        message=msg.as_bytes(),
        now=now,
    )


class OperatorNotices:
    """Gathers what needs a person and queues the day's notice, under the configuration in force."""

    def __init__(self, store: Store, current: Callable[[], Prepared]) -> None:
        self.store = store
        self.current = current
        # The daemon's ages of each feed's last success, on the monotonic clock (contract §6): a wall-clock step
        # must not make a feed look stale. Without them (run --once), the stored wall-clock times are used.
        self.success_ages: Callable[[], Mapping[str, timedelta]] | None = None

    @property
    def config(self) -> Config:
        """The configuration in force now."""
        return self.current().config

    def problems(self, now: datetime) -> list[Problem]:
        """Failing or stale feeds and deliveries failed for good, as the operators' notice lists them."""
        problems: list[Problem] = []
        feeds = {f.id: f for f in self.config.feeds}
        for state in self.store.feed_states():
            feed = feeds.get(state.feed)
            if feed is not None and state.consecutive_failures >= feed.failures_alert:
                problems.append(
                    Problem(
                        f"feed-failing:{feed.id}",
                        f"feed {feed.id} failing",
                        f"{state.consecutive_failures} polls in a row failed; last error: {state.last_error}",
                    )
                )
        problems += self.cut_feeds()
        ages = self.success_ages() if self.success_ages is not None else None
        for feed_id, why in stale_feeds(self.config, self.store.feed_states(), now, ages):
            problems.append(Problem(f"feed-stale:{feed_id}", f"feed {feed_id} stale", why))
        problems += self.red_findings()
        problems += self.cut_emails()
        for d in self.store.deliveries(DeliveryState.FAILED):
            problems.append(
                Problem(
                    f"delivery-failed:{d.id}",
                    f"delivery {d.id} failed",
                    f"to {', '.join(d.recipients)} ({d.establishment}), {d.subject!r}: {d.last_error}",
                )
            )
        return problems

    def cut_feeds(self) -> list[Problem]:
        """The feeds whose last read stopped at their ``max_entries`` (contract §2): told once per cap."""
        problems: list[Problem] = []
        for feed in self.config.feeds:
            cap = self.store.meta(cut_key(feed.id))
            if cap:
                problems.append(
                    Problem(
                        f"{cut_key(feed.id)}:{cap}",
                        f"feed {feed.id} {cut_text(int(cap))}",
                        f"its document lists more than {cap} entries: the first {cap} are stored and matched, the "
                        "rest is not read and nothing is delisted or resolved; raise the feed's 'max_entries' if "
                        "the source is trusted to list that many",
                        once=True,
                    )
                )
        return problems

    def red_findings(self) -> list[Problem]:
        """The findings marked TLP:RED (by their source or their feed), which no establishment is emailed: one line
        each, for the operators to handle by hand (contract §4)."""
        feeds = {f.id: f for f in self.config.feeds}
        red_feeds = [f.id for f in self.config.feeds if f.tlp is Tlp.RED]
        problems: list[Problem] = []
        for f in self.store.red_findings(red_feeds):
            feed = feeds.get(f.feed)
            if feed is None or not withheld(f, feed):
                continue
            problems.append(
                Problem(
                    f"{TLP_RED}:{f.key}",
                    f"TLP:RED finding for {f.establishment} not emailed",
                    f"{f.indicator} ({f.reason}, asset {f.asset}) from feed {f.feed}, entry {f.entry}: {f.title}",
                    once=True,
                    red=True,
                )
            )
        return problems

    def cut_emails(self) -> list[Problem]:
        """Mass emails whose attachments could not carry every alert (the message size limit): the alerts left out
        are in the store, for the operators to send if the establishment asks (contract §4)."""
        problems: list[Problem] = []
        for key, note in self.store.metas(CUT_PREFIX).items():
            est, reference, missing, total = note.split(" ")
            problems.append(
                Problem(
                    key,
                    f"mass email {reference} to {est} cut: {missing} of {total} alerts left out",
                    f"the message size limit let its attachments carry {int(total) - int(missing)} alerts; the "
                    f"{missing} least severe are in the store ('alertd history --establishment {est}' lists them "
                    "all), for you to send if the establishment asks",
                    once=True,
                )
            )
        return problems

    def notify(self, now: datetime) -> int | None:
        """Queue one notice with the problems not yet told today; its delivery id, or None when none is due."""
        settings = self.config.settings
        if not settings.operators:
            return None
        today = now.astimezone(settings.timezone).date().isoformat()
        fresh = [p for p in self.problems(now) if self._untold(p, today)]
        if not fresh:
            return None
        stamp = int(now.timestamp())
        keys = [int(hashlib.sha256(p.key.encode()).hexdigest()[:8], 16) for p in fresh]
        message_id = make_message_id("operators", [*keys, stamp], settings.sender_from)
        msg = compose_notice(
            fresh,
            sender=settings.sender_from,
            operators=settings.operators,
            organisation=settings.organisation,
            now=now,
            message_id=message_id,
        )
        delivery = queue_for_operators(self.store, settings, msg, now)
        for p in fresh:
            self.store.set_meta(notice_key(p.key), today)
        log.warning("operator notice queued", delivery=delivery, problems=[p.summary for p in fresh])
        return delivery

    def _untold(self, problem: Problem, today: str) -> bool:
        told = self.store.meta(notice_key(problem.key))
        return told is None if problem.once else told != today
