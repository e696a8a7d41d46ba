"""When a warning left unanswered is due for escalation (contract §4, "Acknowledgements"). Pure: the time it was
sent and the rules are passed in; nothing here reads the clock.

The delay is counted in business time when the rules set some: only the hours inside ``business_hours`` (the
whole day without them) of the days that are ``business_days`` (every day without them) and not ``holidays``,
in the CERT's timezone. Elapsed time is real time (UTC): the night of a clock change is an hour longer or shorter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from alertd.domain.settings import EscalationSettings
from alertd.domain.values import Severity

# Rules that leave no business time for a year (every day a holiday) escalate nothing: a date far past this is
# not a deadline anyone waits for.
MAX_DAYS = 370


def escalation_due(sent: datetime, severity: Severity, rules: EscalationSettings, tz: ZoneInfo) -> datetime | None:
    """The moment (UTC) a warning of ``severity`` sent at ``sent`` is escalated if nobody answered it; None when
    that severity is not escalated, or the rules leave no business time within a year."""
    delay = rules.delays.get(severity)
    if delay is None:
        return None
    sent = sent.astimezone(UTC)
    if rules.business_hours is None and rules.business_days is None and not rules.holidays:
        return sent + delay
    left = delay
    day = sent.astimezone(tz).date()
    for _ in range(MAX_DAYS):
        if _is_business_day(day, rules):
            start, end = _window(day, rules, tz)
            begin = max(start, sent)
            if end > begin:
                if end - begin >= left:
                    return begin + left
                left -= end - begin
        day += timedelta(days=1)
    return None


def _is_business_day(day: date, rules: EscalationSettings) -> bool:
    if day in rules.holidays:
        return False
    return rules.business_days is None or day.isoweekday() in rules.business_days


def _window(day: date, rules: EscalationSettings, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The business hours of ``day``, in UTC (a whole local day without ``business_hours``)."""
    if rules.business_hours is None:
        first, after = datetime.combine(day, time(0), tz), datetime.combine(day + timedelta(days=1), time(0), tz)
    else:
        opens, closes = rules.business_hours
        first, after = datetime.combine(day, opens, tz), datetime.combine(day, closes, tz)
    return first.astimezone(UTC), after.astimezone(UTC)


class Awaiting(NamedTuple):
    """Warnings sent and unanswered whose severity is escalated: how many in all, and how many past their
    deadline (``/metrics``)."""

    waiting: int
    due: int


def awaiting(
    sent: Iterable[tuple[datetime, Severity]], rules: EscalationSettings, tz: ZoneInfo, now: datetime
) -> Awaiting:
    """Count the unanswered warnings (each its sending time and most severe alert) that escalation concerns."""
    waiting = due = 0
    for when, severity in sent:
        deadline = escalation_due(when, severity, rules, tz)
        if deadline is None:
            continue
        waiting += 1
        due += deadline <= now
    return Awaiting(waiting, due)
