"""Dispatching: the alerts queued for an establishment → one rendered (and signed) email into the outbox.

An email enters the outbox in the transaction that marks its alerts dispatched (see the store), so a crash can
neither lose nor double a warning; sending it is the flush's job. News and backlog never share an email: an
establishment's backlog goes in one inventory email of its own (contract §4). Each email gets the CERT's reference,
``<PREFIX>-<YEAR>-ALE-<NNNN>`` (``INV`` for an inventory), its number allocated by the store before rendering.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

from alertd.config.files import Config
from alertd.domain.codes import Evidence
from alertd.domain.establishments import Establishment
from alertd.domain.routing import Subscription
from alertd.domain.values import Finding
from alertd.policy import decide as policy
from alertd.render.email import render_email
from alertd.render.links import source_domains
from alertd.send.signing import SigningError
from alertd.service.logs import get_logger
from alertd.service.setup import Prepared
from alertd.store.records import QueuedAlert
from alertd.store.sqlite import Store

log = get_logger("alertd")

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
NEWS_SERIES = "ALE"  # the references of warnings
INVENTORY_SERIES = "INV"  # the references of inventories


class Dispatcher:
    """Renders queued alerts into emails in the outbox, under the configuration in force."""

    def __init__(self, store: Store, current: Callable[[], Prepared]) -> None:
        self.store = store
        self.current = current
        # The reference given to an email that failed to render or sign, for its next attempt (same alerts).
        self._reserved: dict[tuple[str, str, tuple[int, ...]], str] = {}

    @property
    def config(self) -> Config:
        """The configuration in force now."""
        return self.current().config

    def dispatch(self, now: datetime, *, immediate: bool = True, subscriptions: Sequence[str] = ()) -> list[int]:
        """Render one email per establishment for its queued alerts and put them in the outbox.

        ``immediate`` takes the alerts that go out at once (except those waiting for quiet hours to end);
        ``subscriptions`` takes the alerts queued for those digests. Returns the new deliveries' ids.
        """
        if not immediate and not subscriptions:
            return []
        settings = self.config.settings
        subs = {s.name: s for s in self.config.subscriptions}
        local = now.astimezone(settings.timezone)
        queued = self.store.queued_alerts(immediate=immediate, subscriptions=subscriptions)
        # A digest also says, once, which findings of earlier emails their feed no longer lists; any email says,
        # once, which were withdrawn because their version turned out not affected (a correction waits for no
        # digest).
        resolved = self.store.resolved_untold()
        if not subscriptions:
            resolved = {est: [f for f in found if _withdrawn(f)] for est, found in resolved.items()}
        created: list[int] = []
        for est_id, items in queued.items():
            try:
                delivery = self._dispatch_one(est_id, items, subs, subscriptions, resolved, local, now)
            except Exception:  # one establishment's failure (a broken template, say) must not stop the others
                log.exception("dispatch failed; its alerts stay queued", establishment=est_id)
                continue
            if delivery is not None:
                created.append(delivery)
        return created

    def _dispatch_one(
        self,
        est_id: str,
        items: list[QueuedAlert],
        subs: Mapping[str, Subscription],
        subscriptions: Sequence[str],
        resolved: Mapping[str, list[Finding]],
        local: datetime,
        now: datetime,
    ) -> int | None:
        """One establishment's email for its queued alerts into the outbox; None when nothing is to go."""
        items = [
            q
            for q in items
            if q.alert.subscription in subscriptions or not policy.held(q.alert, subs.get(q.alert.subscription), local)
        ]
        est = self.config.registry.establishments.get(est_id)
        if est is None:
            log.warning("alerts for an establishment no longer in the registry", establishment=est_id)
            return None
        if not items:
            return None
        return self._enqueue(est, items, resolved.get(est_id, []), now, NEWS_SERIES)

    def dispatch_inventories(self, now: datetime, settle: timedelta | None = None) -> list[int]:
        """One inventory email per establishment for all its backlog alerts; the new deliveries' ids.

        With ``settle`` (the daemon), an establishment's inventory waits until its newest alert has waited that
        long and none of its subscriptions is in quiet hours; without (``run --once``, ``digest --now``) it goes.
        """
        subs = {s.name: s for s in self.config.subscriptions}
        local = now.astimezone(self.config.settings.timezone)
        waiting = self.store.inventories_waiting() if settle is not None else {}
        created: list[int] = []
        for est_id, items in self.store.queued_alerts(inventory=True).items():
            alerts = [q.alert for q in items]
            if settle is not None and not policy.inventory_may_go(alerts, subs, waiting[est_id], now, local, settle):
                continue
            est = self.config.registry.establishments.get(est_id)
            if est is None:
                log.warning("inventory for an establishment no longer in the registry", establishment=est_id)
                continue
            try:
                delivery = self._enqueue(est, items, [], now, INVENTORY_SERIES)
            except Exception:  # one establishment's failure must not stop the others
                log.exception("inventory dispatch failed; its alerts stay queued", establishment=est_id)
                continue
            if delivery is not None:
                created.append(delivery)
        return created

    def reference(self, series: str, now: datetime) -> str:
        """A new reference of a series (``CERTSANTE-2026-ALE-0042``): the year is the local one, the number the
        store's next for that series and year, never handed out again (an email that then fails leaves a gap)."""
        settings = self.config.settings
        year = now.astimezone(settings.timezone).year
        number = self.store.next_reference(series, year)
        return f"{settings.bulletin.reference_prefix}-{year}-{series}-{number:04d}"

    def _enqueue(
        self, est: Establishment, items: Sequence[QueuedAlert], closed: Sequence[Finding], now: datetime, series: str
    ) -> int | None:
        """Render, sign and put in the outbox one email of an establishment; None when it cannot go now."""
        est_id, settings = est.id, self.config.settings
        if not policy.recipients(est, [q.alert for q in items]):
            log.warning("establishment has no contact for these alerts", establishment=est_id)
            return None
        # A failure below (rendering, signing) keeps the alerts queued; the next attempt at the same email takes the
        # same reference, so a lasting failure does not spend one number per cycle.
        attempt = (series, est_id, tuple(q.id for q in items))
        reference = self._reserved.get(attempt) or self.reference(series, now)
        self._reserved[attempt] = reference
        email = self.compose(est, items, now, closed, reference=reference)
        if email is None:  # pragma: no cover - the recipients were checked above
            return None
        msg, to = email
        signer = self.current().signer
        if signer is not None:
            try:
                msg = signer.sign(msg)
            except SigningError as exc:
                # Never fall back to an unsigned warning: the alerts stay queued until signing works.
                log.error("signing failed; alerts stay queued", establishment=est_id, error=str(exc))
                return None
        delivery = self.store.enqueue_email(
            establishment=est_id,
            alert_ids=[q.id for q in items],
            finding_keys=[q.alert.finding.key for q in items],
            message_id=str(msg["Message-ID"]),
            sender=parseaddr(settings.sender_from)[1],
            recipients=to,
            subject=str(msg["Subject"]),
            message=msg.as_bytes(),
            now=now,
            reference=reference,
        )
        self._reserved.pop(attempt, None)
        if closed:
            self.store.mark_resolved_told([f.key for f in closed], now)
        log.info(
            "email queued",
            establishment=est_id,
            delivery=delivery,
            alerts=len(items),
            recipients=len(to),
            reference=reference,
        )
        return delivery

    def compose(
        self,
        est: Establishment,
        items: Sequence[QueuedAlert],
        now: datetime,
        resolved: Sequence[Finding] = (),
        reference: str | None = None,
    ) -> tuple[EmailMessage, list[str]] | None:
        """The email for some queued alerts of one establishment, and its recipients; None if nobody is to get it.
        ``reference`` is the email's, None for a preview (nothing is allocated)."""
        alerts = [q.alert for q in items]
        to = policy.recipients(est, alerts)
        if not to:
            return None
        settings = self.config.settings
        message_id = make_message_id(est.id, [q.id for q in items], settings.sender_from)
        thread = next((q.thread for q in items if q.alert.follow_up and q.thread), None)
        msg = render_email(
            self.current().templates,
            est,
            alerts,
            to,
            # The CSAF providers configured as feeds are sources the email may link to (render/links.py).
            settings=replace(settings.render, link_domains=settings.link_domains | source_domains(self.config.feeds)),
            now=now,
            message_id=message_id,
            in_reply_to=thread,
            resolved=resolved,
            reference=reference,
        )
        return msg, to


def make_message_id(establishment: str, alert_ids: Sequence[int], sender: str) -> str:
    """A Message-ID fixed when the email enters the outbox, so every retry carries the same one."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "alertd.invalid"
    digest = hashlib.sha256(",".join(map(str, alert_ids)).encode()).hexdigest()[:16]
    return f"<alertd.{_UNSAFE.sub('-', establishment)}.{digest}@{_UNSAFE.sub('-', domain)}>"


def _withdrawn(finding: Finding) -> bool:
    """Whether a resolved finding was withdrawn because its version is not affected (not delisted)."""
    version = finding.facts.version
    return version is not None and version.evidence is Evidence.NOT_AFFECTED
