"""Escalation (contract §4, "Acknowledgements"): a warning nobody answered by its deadline
(:mod:`~alertd.policy.escalation`) is sent again, once, to the establishment's escalation contacts, and the
operators get one "to call" email per round listing those warnings with the registry's phone numbers.

The reminder is a warning of its own (its reference, its personal link, the same alerts), put in the outbox in the
transaction that records the escalation (:mod:`~alertd.store.escalations`): sent once, across restarts. A
response through the reminder's link answers the warning too (:mod:`~alertd.store.acks`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr

from alertd.domain.establishments import ESCALATION_ROLE, Establishment
from alertd.domain.values import Alert
from alertd.policy import decide as policy
from alertd.policy.escalation import escalation_due
from alertd.render.email import Rendered, as_message, render_message
from alertd.render.links import source_domains
from alertd.render.notices import ToCall, compose_to_call, waited
from alertd.send.signing import SigningError
from alertd.service.dispatch import NEWS_SERIES, Dispatcher, make_message_id
from alertd.service.logs import get_logger
from alertd.service.operators import OPERATORS, queue_for_operators
from alertd.service.setup import Prepared
from alertd.store.acks import Unanswered, alerts_of, unanswered
from alertd.store.codecs import encode_time
from alertd.store.escalations import Escalation, record_escalation, warning_of
from alertd.store.records import Outgoing
from alertd.store.sqlite import Store, _enqueue

log = get_logger("alertd")


def escalation_recipients(est: Establishment, alerts: list[Alert]) -> list[str]:
    """Who gets a reminder: the establishment's ``role: escalation`` contacts, or its usual recipients for these
    alerts when it has none."""
    chosen = [c.email for c in est.contacts if c.role == ESCALATION_ROLE]
    return list(dict.fromkeys(chosen)) or policy.recipients(est, alerts)


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

    def escalate(self, now: datetime) -> list[int]:
        """One escalation round: a reminder queued for each warning due, then the operators' "to call" email; the
        new deliveries' ids."""
        prepared = self.current()
        if prepared.ack is None:
            return []
        queued: list[int] = []
        calls: list[ToCall] = []
        for warning in self.due(now):
            done = self._remind(prepared, warning, now)
            if done is not None:
                queued.append(done[0])
                calls.append(done[1])
        settings = prepared.config.settings
        if calls and settings.operators:
            message_id = make_message_id(OPERATORS, [], settings.sender_from)
            msg = compose_to_call(
                calls, sender=settings.sender_from, operators=settings.operators, now=now, message_id=message_id
            )
            queued.append(queue_for_operators(self.store, settings, msg, now))
            log.warning("escalation: operators' list to call queued", warnings=len(calls))
        return queued

    def _remind(self, prepared: Prepared, warning: Unanswered, now: datetime) -> tuple[int, ToCall] | None:
        """Queue one warning's reminder and record its escalation in one transaction: its delivery id and its line
        of the "to call" email; None when it cannot be made (logged; tried again next round)."""
        config = prepared.config
        settings = config.settings
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
        message_id = make_message_id(est.id, [], settings.sender_from, reference)
        try:
            rendered = self._signed(
                prepared,
                render_message(
                    prepared.templates,
                    est,
                    alerts,
                    to,
                    settings=replace(
                        settings.render, link_domains=settings.link_domains | source_domains(config.feeds)
                    ),
                    now=now,
                    message_id=message_id,
                    reference=reference,
                    ack_url=prepared.ack.url(est.id, reference, now),
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
            to,
            rendered.subject,
            rendered.message,
            reference,
        )
        with self.store.transaction() as db:
            delivery = _enqueue(db, outgoing, encode_time(now))
            record_escalation(db, Escalation(warning.reference, est.id, warning.severity, reference, now))
        log.info(
            "warning escalated",
            establishment=est.id,
            reference=warning.reference,
            reminder=reference,
            delivery=delivery,
        )
        phones = [f"{c.phone} ({c.email}, {c.role})" for c in est.contacts if c.phone]
        return delivery, ToCall(
            f"{est.name} ({est.id})", warning.reference, found[1], waited(warning.sent, now), phones
        )

    def _signed(self, prepared: Prepared, rendered: Rendered) -> Rendered:
        """The reminder signed when the configuration signs its emails (never sent unsigned then)."""
        if prepared.signer is None:
            return rendered
        return replace(rendered, message=prepared.signer.sign(as_message(rendered.message)).as_bytes())
