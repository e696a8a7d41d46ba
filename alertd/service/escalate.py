"""Escalation (contract §4, "Acknowledgements"): a warning nobody answered by its deadline
(:mod:`~alertd.policy.escalation`) is sent again, once, to the establishment's escalation contacts, and the
operators get one "to call" email per round listing those warnings with the registry's phone numbers.

The reminder is a warning of its own (its reference, its personal link, the same alerts), put in the outbox in the
transaction that records the escalation (:mod:`~alertd.store.escalations`): sent once, across restarts. A
response through the reminder's link answers the warning too (:mod:`~alertd.store.acks`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import parseaddr

from alertd.domain.delivery import OPERATORS
from alertd.domain.establishments import ESCALATION_ROLE, Establishment
from alertd.domain.values import Alert
from alertd.policy import decide as policy
from alertd.policy.escalation import escalation_due
from alertd.render.email import Rendered, as_message, render_message
from alertd.render.links import source_domains
from alertd.render.notices import ToCall, compose_to_call, waited
from alertd.send.signing import SigningError
from alertd.service.dispatch import NEWS_SERIES, Batch, Dispatcher, make_message_id
from alertd.service.logs import get_logger
from alertd.service.operators import queue_for_operators
from alertd.service.setup import Prepared
from alertd.store.acks import Unanswered, alerts_of, unanswered
from alertd.store.escalations import Escalation, warning_of
from alertd.store.records import Outgoing
from alertd.store.sqlite import Store

log = get_logger("alertd")


def escalation_recipients(est: Establishment, alerts: list[Alert]) -> list[str]:
    """Who gets a reminder: the establishment's ``role: escalation`` contacts, or its usual recipients for these
    alerts when it has none."""
    chosen = [c.email for c in est.contacts if c.role == ESCALATION_ROLE]
    return list(dict.fromkeys(chosen)) or policy.recipients(est, alerts)


@dataclass(frozen=True, slots=True)
class _Planned:
    """A warning's reminder as read from the store, its reference taken, waiting to be rendered."""

    warning: Unanswered
    est: Establishment
    alerts: list[Alert]
    to: list[str]
    subject: str  # the warning's, for the "to call" email
    reference: str
    link: str
    now: datetime


@dataclass(frozen=True, slots=True)
class _Reminder:
    """A reminder rendered (and signed), with its escalation's row and its line of the "to call" email."""

    outgoing: Outgoing
    escalation: Escalation
    call: ToCall


class Escalator:
    """Escalates the warnings past their deadline, under the configuration in force."""

    def __init__(self, store: Store, current: Callable[[], Prepared], dispatcher: Dispatcher) -> None:
        self.store = store
        self.current = current
        self.dispatcher = dispatcher  # for the reminders' references

    def due(self, now: datetime) -> list[Unanswered]:
        """The warnings still answerable (sent within ``web.link_ttl``), unanswered, not escalated yet, and past
        their deadline."""
        settings = self.current().config.settings
        if settings.web is None:
            return []
        rules, tz = settings.escalation, settings.timezone
        return [
            u
            for u in unanswered(self.store.db, now - settings.web.link_ttl)
            if (deadline := escalation_due(u.sent, u.severity, rules, tz)) is not None and deadline <= now
        ]

    async def escalate_off_loop(self, now: datetime) -> list[int]:
        """One escalation round: a reminder queued for each warning due, then the operators' "to call" email; the
        new deliveries' ids. Each reminder is rendered and signed in a worker thread and put in the outbox in
        batches (:class:`~alertd.service.dispatch.Batch`), as a dispatch does: the daemon's loop keeps turning
        through a round of hundreds of warnings (its heartbeat, the health check)."""
        prepared = self.current()
        queued: list[int] = []
        calls: list[ToCall] = []
        batch: Batch[_Reminder] = Batch()
        for warning in self.due(now):
            if self.dispatcher.holding:
                break  # the daemon is stopping: what is rendered is put in the outbox, the rest waits a round
            planned = self._plan(prepared, warning, now)
            made = None if planned is None else await asyncio.to_thread(self._render, prepared, planned)
            if self.dispatcher.on_progress is not None:
                self.dispatcher.on_progress()
            if made is not None:
                calls.append(made.call)
                if batch.add(made):
                    queued += self._commit(batch.take(), now)
        return queued + self._commit(batch.take(), now) + self._to_call(prepared, calls, now)

    def _to_call(self, prepared: Prepared, calls: list[ToCall], now: datetime) -> list[int]:
        """The operators' "to call" email of a round queued (when there are warnings to call about and
        operators): its delivery id."""
        settings = prepared.config.settings
        if not calls or not settings.operators:
            return []
        message_id = make_message_id(OPERATORS, [], settings.sender_from)
        msg = compose_to_call(
            calls, sender=settings.sender_from, operators=settings.operators, now=now, message_id=message_id
        )
        queued = queue_for_operators(self.store, settings, msg, now)
        log.warning("escalation: operators' list to call queued", warnings=len(calls))
        return [queued]

    def _plan(self, prepared: Prepared, warning: Unanswered, now: datetime) -> _Planned | None:
        """What one warning's reminder needs, read from the store on the loop, with its reference taken; None when
        it cannot be made (logged; tried again next round)."""
        config = prepared.config
        found = warning_of(self.store.db, warning.reference)
        est = config.registry.establishments.get(found[0]) if found is not None else None
        alerts = list(alerts_of(self.store.db, warning.reference))
        if found is None or est is None or not alerts or prepared.ack is None:
            log.warning("warning to escalate no longer in the store or the registry", reference=warning.reference)
            return None
        to = escalation_recipients(est, alerts)
        if not to:
            log.warning("establishment has no contact to escalate to", establishment=est.id)
            return None
        reference = self.dispatcher.reference(NEWS_SERIES, now)
        link = prepared.ack.url(est.id, reference, now)
        return _Planned(warning, est, alerts, to, found[1], reference, link, now)

    def _render(self, prepared: Prepared, planned: _Planned) -> _Reminder | None:
        """One reminder rendered and signed (no store, no loop: run in a worker thread by the daemon); None when
        it cannot be made (logged; tried again next round)."""
        settings = prepared.config.settings
        est, warning, now = planned.est, planned.warning, planned.now
        try:
            rendered = self._signed(
                prepared,
                render_message(
                    prepared.templates,
                    est,
                    planned.alerts,
                    planned.to,
                    settings=replace(
                        settings.render, link_domains=settings.link_domains | source_domains(prepared.config.feeds)
                    ),
                    now=now,
                    message_id=make_message_id(est.id, [], settings.sender_from, planned.reference),
                    reference=planned.reference,
                    ack_url=planned.link,
                    escalated=(warning.reference, warning.sent),
                ),
            )
        except (ValueError, SigningError) as exc:
            log.error("escalation reminder not made", establishment=est.id, reference=warning.reference, error=str(exc))
            return None
        outgoing = Outgoing(
            est.id,
            [],
            [],
            rendered.message_id,
            parseaddr(settings.sender_from)[1],
            planned.to,
            rendered.subject,
            rendered.message,
            planned.reference,
        )
        phones = [f"{c.phone} ({c.email}, {c.role})" for c in est.contacts if c.phone]
        call = ToCall(f"{est.name} ({est.id})", warning.reference, planned.subject, waited(warning.sent, now), phones)
        escalation = Escalation(warning.reference, est.id, warning.severity, planned.reference, now)
        return _Reminder(outgoing, escalation, call)

    def _commit(self, made: list[_Reminder], now: datetime) -> list[int]:
        """Reminders put in the outbox, each with its escalation recorded, in one transaction; their ids."""
        if not made:
            return []
        done = self.store.enqueue_reminders([(m.outgoing, m.escalation) for m in made], now)
        for m, delivery in zip(made, done, strict=True):
            log.info(
                "warning escalated",
                establishment=m.escalation.establishment,
                reference=m.escalation.reference,
                reminder=m.escalation.reminder,
                delivery=delivery,
            )
        return done

    def _signed(self, prepared: Prepared, rendered: Rendered) -> Rendered:
        """The reminder signed when the configuration signs its emails (never sent unsigned then)."""
        if prepared.signer is None:
            return rendered
        return replace(rendered, message=prepared.signer.sign(as_message(rendered.message)).as_bytes())
