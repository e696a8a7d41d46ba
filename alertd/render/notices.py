"""Operator notices: a plain email to the ``operators`` list about what needs a person (pure: values in, email out).

Failing and stale feeds and deliveries that failed for good are each told at most once a day; a finding marked
TLP:RED, which no email to an establishment may carry, is told once, for the operators to handle by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from alertd.render.headers import clean_address, clean_header


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the operator should look at; ``key`` identifies it across days (e.g. ``feed-failing:feodo``)."""

    key: str
    summary: str
    detail: str
    once: bool = False  # told once while it lasts, not every day (a TLP:RED finding: the operators act on it once)
    red: bool = False  # about a finding marked TLP:RED: the notice's subject says so first


def _to_operators(sender: str, operators: Sequence[str], subject: str, now: datetime, message_id: str) -> EmailMessage:
    """An email to the operators, its headers set and its body left to fill."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = clean_address(sender)
    msg["To"] = ", ".join(operators)
    msg["Subject"] = clean_header(subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    return msg


def compose_notice(
    problems: Sequence[Problem],
    *,
    sender: str,
    operators: Sequence[str],
    organisation: str,
    now: datetime,
    message_id: str,
) -> EmailMessage:
    """The notice listing ``problems`` (at least one), addressed to the operators."""
    if not problems or not operators:
        raise ValueError("a notice needs at least one problem and one operator address")
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    # A mail client shows the subject first: the marking must be seen before the notice is forwarded anywhere.
    red = "[TLP:RED] " if any(p.red for p in problems) else ""
    subject = f"{red}[alertd] {count}: " + "; ".join(p.summary for p in problems)
    msg = _to_operators(sender, operators, subject, now, message_id)
    lines = [f"alertd{' at ' + organisation if organisation else ''} needs attention ({count}):", ""]
    for p in problems:
        lines += [f"- {p.summary}", f"  {p.detail}", ""]
    if red:
        lines += [
            "A finding marked TLP:RED is emailed to no establishment: share it by hand, only with those the source "
            "allows, and do not forward this notice. It is listed here once.",
            "",
        ]
    lines += [
        "Each problem is reported at most once a day while it lasts.",
        "See `alertd outbox --state failed` and the feed states in `/healthz`; `alertd outbox retry ID` re-queues.",
    ]
    msg.set_content("\n".join(lines))
    return msg


@dataclass(frozen=True, slots=True)
class ToCall:
    """One warning escalated, as the operators' "to call" email lists it: the establishment, the warning, how
    long it has waited, and the phone numbers of the establishment's contacts."""

    establishment: str  # its name and id, as the registry gives them
    reference: str
    subject: str
    waited: str  # "5 h 12 min"
    phones: Sequence[str]  # "+33 1 23 45 67 89 (soc@ch-exemple.fr, escalation)"


def waited(since: datetime, now: datetime) -> str:
    """How long since ``since``, in whole minutes: "2 d 5 h 12 min", "45 min"."""
    minutes = max(0, int((now - since).total_seconds()) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if days or hours else "", f"{minutes} min"]
    return " ".join(p for p in parts if p)


def compose_to_call(
    calls: Sequence[ToCall], *, sender: str, operators: Sequence[str], now: datetime, message_id: str
) -> EmailMessage:
    """The operators' "to call" email of one escalation round: each warning escalated, with the phones to call."""
    if not calls or not operators:
        raise ValueError("a 'to call' email needs at least one warning and one operator address")
    count = f"{len(calls)} warning{'s' if len(calls) > 1 else ''}"
    msg = _to_operators(sender, operators, f"[alertd] to call: {count} unanswered", now, message_id)
    lines = [
        f"{count} past the escalation delay without a response; each was sent again to its establishment's",
        "escalation contacts. Please call:",
        "",
    ]
    for c in calls:
        lines += [f"- {c.establishment}", f"  {c.reference}, sent {c.waited} ago: {c.subject}"]
        lines += [f"  phone {p}" for p in c.phones] or ["  no phone in the registry"]
        lines.append("")
    lines.append("A response through the warning's link or its reminder's is listed by `alertd history`.")
    msg.set_content("\n".join(lines))
    return msg
