"""Dispatching: the alerts queued for an establishment → one rendered (and signed) email into the outbox.

An email enters the outbox in the transaction that marks its alerts dispatched (see the store), so a crash can
neither lose nor double a warning; sending it is the flush's job. News and backlog never share an email: an
establishment's backlog goes in one inventory email of its own (contract §4). Each email gets the CERT's reference,
``<PREFIX>-<YEAR>-ALE-<NNNN>`` (``INV`` for an inventory), its number allocated by the store before rendering.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Generic, TypeVar

from alertd.config.files import Config
from alertd.domain.codes import Evidence
from alertd.domain.errors import StaleAlerts
from alertd.domain.establishments import Establishment
from alertd.domain.values import Finding
from alertd.policy import decide as policy
from alertd.render.email import Rendered, as_message, render_message
from alertd.render.headers import address_parts
from alertd.render.links import source_domains
from alertd.send.signing import SigningError
from alertd.service.logs import get_logger
from alertd.service.setup import Prepared
from alertd.service.vitals import Vitals
from alertd.store import STORE_FAILURES
from alertd.store.records import Outgoing, QueuedAlert
from alertd.store.sqlite import Store

log = get_logger("alertd")

_UNSAFE = re.compile(r"[^A-Za-z0-9.-]")
NEWS_SERIES = "ALE"  # the references of warnings
INVENTORY_SERIES = "INV"  # the references of inventories
CUT_PREFIX = "mass-email-cut:"  # meta keys noting mass emails whose attachments left alerts out


_NEWS_FAILED = "dispatch failed; its alerts stay queued"
_INVENTORY_FAILED = "inventory dispatch failed; its alerts stay queued"
_STORE_FAILED = "dispatch stopped: the state store cannot be written; the alerts stay queued"


@dataclass(frozen=True, slots=True)
class _Planned:
    """An email to make: an establishment's queued alerts, the findings it closes, its series, and what the log
    says when it fails."""

    est: Establishment
    items: list[QueuedAlert]
    closed: list[Finding]
    series: str
    failure: str

    @property
    def attempt(self) -> tuple[str, str, tuple[int, ...]]:
        """The same email tried again: same series, establishment and alerts (it keeps its reference)."""
        return (self.series, self.est.id, tuple(q.id for q in self.items))


@dataclass(frozen=True, slots=True)
class _Made:
    """A planned email rendered (and signed), waiting in a batch for the outbox."""

    email: _Planned
    reference: str
    rendered: Rendered
    to: list[str]


T = TypeVar("T")


class Batch(Generic[T]):
    """Rendered emails gathered for one outbox transaction: up to :data:`BATCH_EMAILS`, and none waits longer
    than :data:`BATCH_SECONDS` for the others (a mass event's email may take seconds to render)."""

    def __init__(self) -> None:
        self._made: list[T] = []
        self._since = 0.0

    def add(self, made: T) -> bool:
        """Add an email; whether the batch is due now."""
        if not self._made:
            self._since = time.monotonic()
        self._made.append(made)
        return len(self._made) >= BATCH_EMAILS or time.monotonic() - self._since >= BATCH_SECONDS

    def take(self) -> list[T]:
        """The emails gathered, the batch emptied."""
        made, self._made = self._made, []
        return made


def cut_key(delivery: int) -> str:
    """The store's note of a mass email whose attachments left alerts out, for the operators' notice."""
    return f"{CUT_PREFIX}{delivery}"


# Reference numbers taken from the store at once: one transaction and one fsynced marker rewrite for up to this
# many emails, instead of one each; a crash skips the block's unused numbers.
REFERENCE_BLOCK = 64
# Emails put in the outbox per transaction (one commit and its fsync for the batch, not one each), and the longest
# the first of a batch waits for the others. A crash loses only what no transaction committed: the alerts of
# those emails stay queued and are rendered again (their references are skipped).
BATCH_EMAILS = 64
BATCH_SECONDS = 0.5
STALE_RETRIES = 3  # plans of an establishment whose alerts polls keep replacing while its email renders


class Dispatcher:
    """Renders queued alerts into emails in the outbox, under the configuration in force."""

    def __init__(self, store: Store, current: Callable[[], Prepared], vitals: Vitals | None = None) -> None:
        self.store = store
        self.current = current
        self.vitals = vitals or Vitals(store.path)
        self.holding = False  # the daemon is stopping: no email is started, the alerts stay queued
        # Told after each email of a dispatch: a mass event's thousands of emails take minutes to render, and the
        # daemon must not judge its outbox stalled meanwhile (progress.LoopProgress).
        self.on_progress: Callable[[], None] | None = None
        # Told of each email put in the outbox with a personal link: its reference, establishment and link
        # (``run --once`` prints them).
        self.on_link: Callable[[str, str, str], None] | None = None
        # The reference given to an email that failed to render or sign, for its next attempt (same alerts).
        self._reserved: dict[tuple[str, str, tuple[int, ...]], str] = {}
        # Reference numbers the store handed out in a block and no email carries yet, by series and year, the
        # next one last.
        self._numbers: dict[tuple[str, int], list[int]] = {}

    @property
    def config(self) -> Config:
        """The configuration in force now."""
        return self.current().config

    def dispatch(self, now: datetime, *, immediate: bool = True, subscriptions: Sequence[str] = ()) -> list[int]:
        """Render one email per establishment for its queued alerts and put them in the outbox.

        ``immediate`` takes the alerts that go out at once (except those waiting for quiet hours to end);
        ``subscriptions`` takes the alerts queued for those digests. Returns the new deliveries' ids.
        """
        return self._each(self._news(now, immediate, subscriptions), now)

    async def dispatch_off_loop(
        self, now: datetime, *, immediate: bool = True, subscriptions: Sequence[str] = ()
    ) -> list[int]:
        """:meth:`dispatch` with each email rendered and signed in a worker thread: a mass event's email takes
        seconds to render, and the watchdog and ``/healthz`` must keep answering meanwhile."""
        return await self._off_loop(lambda: self._news(now, immediate, subscriptions), now)

    def dispatch_inventories(self, now: datetime, settle: timedelta | None = None) -> list[int]:
        """One inventory email per establishment for all its backlog alerts; the new deliveries' ids.

        With ``settle`` (the daemon), an establishment's inventory waits until its newest alert has waited that
        long and none of its subscriptions is in quiet hours; without (``run --once``, ``digest --now``) it goes.
        """
        return self._each(self._inventories(now, settle), now)

    async def dispatch_inventories_off_loop(self, now: datetime, settle: timedelta | None = None) -> list[int]:
        """:meth:`dispatch_inventories` with each email rendered and signed in a worker thread."""
        return await self._off_loop(lambda: self._inventories(now, settle), now)

    def _each(self, planned: list[_Planned], now: datetime) -> list[int]:
        """The planned emails made in turn and put in the outbox in batches (:data:`BATCH_EMAILS`); the new
        deliveries' ids. A batch that the store refuses is logged, its alerts stay queued, the next one is tried."""
        sent: list[int] = []
        batch: Batch[_Made] = Batch()
        for n, email in enumerate(planned):
            try:
                made = self._make(email, now, len(planned) - n)
            except Exception:
                log.exception(email.failure, establishment=email.est.id)
                continue
            if made is not None and batch.add(made):
                sent += self._commit_logged(batch.take(), now)
        return sent + self._commit_logged(batch.take(), now)

    def _commit_logged(self, batch: list[_Made], now: datetime) -> list[int]:
        """:meth:`_commit` with its failures logged, email by email (their alerts stay queued)."""
        if not batch:
            return []
        try:
            done = self._commit(batch, now)
        except Exception:
            for made in batch:
                log.exception(made.email.failure, establishment=made.email.est.id)
            return []
        for made, result in zip(batch, done, strict=True):
            if isinstance(result, StaleAlerts):
                log.warning(made.email.failure, establishment=made.email.est.id, why=str(result))
        return [d for d in done if isinstance(d, int)]

    async def _off_loop(self, plan: Callable[[], list[_Planned]], now: datetime) -> list[int]:
        """The emails ``plan`` gives, each rendered in a worker thread, put in the outbox in batches; an
        establishment whose alerts a poll replaced meanwhile is planned again from the store (a few times at most):
        its digest must not wait for the next slot, nor its warning for the next poll."""
        sent: list[int] = []
        planned = plan()
        for _attempt in range(STALE_RETRIES):
            stale: set[str] = set()
            batch: Batch[_Made] = Batch()
            for n, email in enumerate(planned):
                if self.holding:
                    break  # what is rendered is put in the outbox; nothing more is started
                try:
                    made = await self._make_off_loop(email, now, len(planned) - n)
                except STORE_FAILURES as exc:  # its reference could not be taken: the others would fail alike
                    self.vitals.store_failed(exc, "putting an email in the outbox")
                    log.warning(_STORE_FAILED, establishment=email.est.id, waiting=len(planned) - n)
                    self._commit_off_loop(batch.take(), now, sent, stale)
                    return sent
                except Exception:
                    log.exception(email.failure, establishment=email.est.id)
                    continue
                if self.on_progress is not None:
                    self.on_progress()
                if made is not None and batch.add(made) and not self._commit_off_loop(batch.take(), now, sent, stale):
                    return sent
            if not self._commit_off_loop(batch.take(), now, sent, stale) or self.holding or not stale:
                return sent
            planned = [email for email in plan() if email.est.id in stale]
        return sent

    def _commit_off_loop(self, batch: list[_Made], now: datetime, sent: list[int], stale: set[str]) -> bool:
        """Put a batch in the outbox: its deliveries added to ``sent``, the establishments whose alerts changed
        while they rendered to ``stale``; False when the store cannot be written (the dispatch stops)."""
        if not batch:
            return True
        try:
            done = self._commit(batch, now)
        except STORE_FAILURES as exc:
            # Its transaction rolled back: the batch's alerts stay queued. The others would fail alike (a full
            # disk): they wait for the next dispatch.
            self.vitals.store_failed(exc, "putting an email in the outbox")
            log.warning(_STORE_FAILED, establishment=batch[0].email.est.id, waiting=len(batch))
            return False
        for made, result in zip(batch, done, strict=True):
            if isinstance(result, StaleAlerts):
                log.info("alerts changed while their email rendered; planned again",
                         establishment=made.email.est.id, why=str(result))  # fmt: skip
                stale.add(made.email.est.id)
            else:
                sent.append(result)
                self.vitals.store_written()
        return True

    def _news(self, now: datetime, immediate: bool, subscriptions: Sequence[str]) -> list[_Planned]:
        """The warning emails due: one per establishment with queued alerts that may go now."""
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
        planned: list[_Planned] = []
        for est_id, items in queued.items():
            items = [
                q
                for q in items
                if q.alert.subscription in subscriptions
                or not policy.held(q.alert, subs.get(q.alert.subscription), local)
            ]
            est = self.config.registry.establishments.get(est_id)
            if est is None:
                log.warning("alerts for an establishment no longer in the registry", establishment=est_id)
                continue
            if items:
                planned.append(_Planned(est, items, resolved.get(est_id, []), NEWS_SERIES, _NEWS_FAILED))
        return planned

    def _inventories(self, now: datetime, settle: timedelta | None) -> list[_Planned]:
        """The inventory emails due: one per establishment with backlog alerts (settled, with ``settle``)."""
        subs = {s.name: s for s in self.config.subscriptions}
        local = now.astimezone(self.config.settings.timezone)
        waiting = self.store.inventories_waiting() if settle is not None else {}
        planned: list[_Planned] = []
        for est_id, items in self.store.queued_alerts(inventory=True).items():
            alerts = [q.alert for q in items]
            if settle is not None and not policy.inventory_may_go(alerts, subs, waiting[est_id], now, local, settle):
                continue
            est = self.config.registry.establishments.get(est_id)
            if est is None:
                log.warning("inventory for an establishment no longer in the registry", establishment=est_id)
                continue
            planned.append(_Planned(est, items, [], INVENTORY_SERIES, _INVENTORY_FAILED))
        return planned

    def reference(self, series: str, now: datetime, ahead: int = 1) -> str:
        """A new reference of a series (``CERTSANTE-2026-ALE-0042``): the year is the local one, the number the
        store's next for that series and year, never handed out again (an email that then fails leaves a gap).

        ``ahead`` is how many emails of the series this dispatch still has to make: the store hands out that many
        numbers at once (up to :data:`REFERENCE_BLOCK`), in one transaction and one marker rewrite; numbers
        left unused when the process ends are skipped, never reused."""
        settings = self.config.settings
        year = now.astimezone(settings.timezone).year
        numbers = self._numbers.setdefault((series, year), [])
        if not numbers:
            numbers.extend(reversed(self.store.next_references(series, year, min(max(ahead, 1), REFERENCE_BLOCK))))
        return f"{settings.bulletin.reference_prefix}-{year}-{series}-{numbers.pop():04d}"

    def _make(self, email: _Planned, now: datetime, ahead: int) -> _Made | None:
        """Render and sign one planned email; None when it cannot go now (no contact, signing
        failed). ``ahead``: the emails of the dispatch left, this one included (:meth:`reference`). A failure (a
        broken template, say) raises: the caller logs it and the establishment's alerts stay queued."""
        reference = self._prepare(email, now, ahead)
        if reference is None:
            return None
        rendered = self._render(email, reference, now)
        return None if rendered is None else _Made(email, reference, *rendered)

    async def _make_off_loop(self, email: _Planned, now: datetime, ahead: int) -> _Made | None:
        """:meth:`_make` with the rendering and signing in a worker thread (the store stays on the loop)."""
        reference = self._prepare(email, now, ahead)
        if reference is None:
            return None
        rendered = await asyncio.to_thread(self._render, email, reference, now)
        return None if rendered is None else _Made(email, reference, *rendered)

    def _prepare(self, email: _Planned, now: datetime, ahead: int = 1) -> str | None:
        """The reference of a planned email; None when nobody is to get it."""
        if not policy.recipients(email.est, [q.alert for q in email.items]):
            log.warning("establishment has no contact for these alerts", establishment=email.est.id)
            return None
        # A failure below (rendering, signing) keeps the alerts queued; the next attempt at the same email takes the
        # same reference, so a lasting failure does not spend one number per cycle.
        reference = self._reserved.get(email.attempt) or self.reference(email.series, now, ahead)
        self._reserved[email.attempt] = reference
        return reference

    def _render(self, email: _Planned, reference: str, now: datetime) -> tuple[Rendered, list[str]] | None:
        """The signed email and its recipients; None when signing failed (the alerts stay queued). Pure but for
        the signer: safe in a worker thread."""
        composed = self._rendered(email, now, reference=reference)
        if composed is None:  # pragma: no cover - the recipients were checked by _prepare
            return None
        rendered, to = composed
        signer = self.current().signer
        if signer is not None:
            # Only a signed email becomes a message object: the signer works on one.
            try:
                signed = signer.sign(as_message(rendered.message))
            except SigningError as exc:
                # Never fall back to an unsigned warning: the alerts stay queued until signing works.
                log.error("signing failed; alerts stay queued", establishment=email.est.id, error=str(exc))
                return None
            rendered = replace(rendered, message=signed.as_bytes())
        return rendered, to

    def _commit(self, batch: list[_Made], now: datetime) -> list[int | StaleAlerts]:
        """Put rendered emails in the outbox, their alerts marked dispatched, in one transaction: each email's
        delivery id, or the :class:`StaleAlerts` that kept it out (it is planned again)."""
        sender = address_parts(self.config.settings.sender_from)[1]
        outgoing = [
            Outgoing(
                establishment=m.email.est.id,
                alert_ids=[q.id for q in m.email.items],
                finding_keys=[q.alert.finding.key for q in m.email.items],
                message_id=m.rendered.message_id,
                sender=sender,
                recipients=m.to,
                subject=m.rendered.subject,
                message=m.rendered.message,
                reference=m.reference,
                bodies=[q.body for q in m.email.items],
            )
            for m in batch
        ]
        done = self.store.enqueue_emails(outgoing, now)
        for made, result in zip(batch, done, strict=True):
            if isinstance(result, int):
                try:
                    self._recorded(made, result, now)
                except Exception:  # the email is in the outbox: what follows is bookkeeping
                    log.exception(made.email.failure, establishment=made.email.est.id)
        return done

    def _recorded(self, made: _Made, delivery: int, now: datetime) -> None:
        """What follows an email's entry in the outbox: its reference spent, the findings it closes marked told, a
        mass event's cut noted for the operators, the log."""
        email, reference, msg = made.email, made.reference, made.rendered
        est_id, items = email.est.id, email.items
        self._reserved.pop(email.attempt, None)
        if email.closed:
            self.store.mark_resolved_told([f.key for f in email.closed], now)
        missing = msg.left_out
        if missing:
            # Nothing is lost: the alerts are in the store (``alertd history`` lists them); the operators are told
            # once, and send the rest by hand if the establishment asks.
            self.store.set_meta(cut_key(delivery), f"{est_id} {reference} {missing} {len(items)}")
            log.warning(
                "mass event: the email's attachments could not carry every alert",
                establishment=est_id,
                delivery=delivery,
                left_out=missing,
                alerts=len(items),
            )
        if msg.ack_url is not None and self.on_link is not None:
            self.on_link(reference, est_id, msg.ack_url)
        log.info(
            "email queued",
            establishment=est_id,
            delivery=delivery,
            alerts=len(items),
            recipients=len(made.to),
            reference=reference,
        )

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
        planned = _Planned(est, list(items), list(resolved), NEWS_SERIES, _NEWS_FAILED)
        composed = self._rendered(planned, now, reference=reference)
        return None if composed is None else (as_message(composed[0].message), composed[1])

    def _rendered(self, email: _Planned, now: datetime, *, reference: str | None) -> tuple[Rendered, list[str]] | None:
        """A planned email as rendered bytes (what the outbox stores), and its recipients; None if nobody is to
        get it."""
        est, items = email.est, email.items
        alerts = [q.alert for q in items]
        to = policy.recipients(est, alerts)
        if not to:
            return None
        settings = self.config.settings
        message_id = make_message_id(est.id, [q.id for q in items], settings.sender_from, reference)
        thread = next((q.thread for q in items if q.alert.follow_up and q.thread), None)
        ack = self.current().ack
        ack_url = ack.url(est.id, reference, now) if ack is not None and reference else None
        rendered = render_message(
            self.current().templates,
            est,
            alerts,
            to,
            # The CSAF providers configured as feeds are sources the email may link to (render/links.py).
            settings=replace(settings.render, link_domains=settings.link_domains | source_domains(self.config.feeds)),
            now=now,
            message_id=message_id,
            in_reply_to=thread,
            resolved=email.closed,
            reference=reference,
            ack_url=ack_url,
        )
        return rendered, to


def make_message_id(establishment: str, alert_ids: Sequence[int], sender: str, reference: str | None = None) -> str:
    """A Message-ID fixed when the email enters the outbox (stored with it, so every retry carries the same one),
    and never given to another email, even after a restore (alert ids start again from a backup's): the email's
    reference, never handed out twice, or, for an email without one, a random part. Mail systems drop or merge a
    message whose Message-ID the mailbox already holds. Short enough for one header line: a folded one would not
    serialise back to the bytes a signature covers."""
    domain = address_parts(sender)[1].rpartition("@")[2] or "alertd.invalid"
    if reference:
        unique = _UNSAFE.sub("-", reference)
    else:
        unique = hashlib.sha256(",".join(map(str, alert_ids)).encode()).hexdigest()[:8] + secrets.token_hex(4)
    return f"<alertd.{_UNSAFE.sub('-', establishment)}.{unique}@{_UNSAFE.sub('-', domain)}>"


def _withdrawn(finding: Finding) -> bool:
    """Whether a resolved finding was withdrawn because its version is not affected (not delisted)."""
    version = finding.facts.version
    return version is not None and version.evidence is Evidence.NOT_AFFECTED
