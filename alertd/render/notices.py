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
    msg = EmailMessage(policy=SMTP)
    msg["From"] = clean_address(sender)
    msg["To"] = ", ".join(operators)
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    # A mail client shows the subject first: the marking must be seen before the notice is forwarded anywhere.
    red = "[TLP:RED] " if any(p.red for p in problems) else ""
    msg["Subject"] = clean_header(f"{red}[alertd] {count}: " + "; ".join(p.summary for p in problems))
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
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
