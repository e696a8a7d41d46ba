"""When an unanswered warning is escalated (contract §4): after its severity's delay, counted in business time
when the rules set some; real elapsed time across clock changes. Pure: values in, a moment out."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from zoneinfo import ZoneInfo

import pytest

from alertd.domain.settings import DEFAULT_ESCALATION, EscalationSettings
from alertd.domain.values import Severity
from alertd.policy.escalation import Awaiting, awaiting, escalation_due

PARIS = ZoneInfo("Europe/Paris")
OFFICE = EscalationSettings(
    MappingProxyType({Severity.IMMINENT: timedelta(hours=4), Severity.CRITICAL: timedelta(hours=12)}),
    business_hours=(time(8), time(18)),
    business_days=frozenset({1, 2, 3, 4, 5}),
    holidays=frozenset({date(2026, 12, 25)}),
)


def paris(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS).astimezone(UTC)


def test_by_default_only_imminent_warnings_are_escalated_four_hours_later() -> None:
    sent = datetime(2026, 12, 5, 23, 0, tzinfo=UTC)  # a Saturday night: without business time, every hour counts
    assert escalation_due(sent, Severity.IMMINENT, DEFAULT_ESCALATION, PARIS) == sent + timedelta(hours=4)
    for severity in (Severity.CRITICAL, Severity.HIGH, Severity.INFO):
        assert escalation_due(sent, severity, DEFAULT_ESCALATION, PARIS) is None


@pytest.mark.parametrize(
    ("sent", "due"),
    [
        (paris(2026, 12, 1, 9, 0), paris(2026, 12, 1, 13, 0)),  # a Tuesday morning: the same day
        (paris(2026, 12, 1, 16, 0), paris(2026, 12, 2, 10, 0)),  # 2 h that day, 2 h the next morning
        (paris(2026, 12, 1, 6, 30), paris(2026, 12, 1, 12, 0)),  # before opening: counted from 08:00
        (paris(2026, 12, 4, 17, 0), paris(2026, 12, 7, 11, 0)),  # a Friday afternoon: Monday morning
        (paris(2026, 12, 5, 10, 0), paris(2026, 12, 7, 12, 0)),  # a Saturday: Monday, from opening
        (paris(2026, 12, 24, 16, 0), paris(2026, 12, 28, 10, 0)),  # Christmas Eve: Christmas and the weekend skipped
        (paris(2026, 12, 1, 14, 0), paris(2026, 12, 1, 18, 0)),  # exactly at closing time
    ],
)
def test_the_delay_counts_business_hours_only(sent: datetime, due: datetime) -> None:
    assert escalation_due(sent, Severity.IMMINENT, OFFICE, PARIS) == due


def test_a_longer_delay_runs_over_several_days() -> None:
    assert escalation_due(paris(2026, 12, 3, 12, 0), Severity.CRITICAL, OFFICE, PARIS) == paris(2026, 12, 4, 14, 0)


def test_the_night_of_a_clock_change_is_counted_in_real_hours() -> None:
    every_day = EscalationSettings(MappingProxyType({Severity.IMMINENT: timedelta(hours=4)}), holidays=frozenset())
    sent = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 in Paris, half an hour before the clocks go forward
    assert escalation_due(sent, Severity.IMMINENT, every_day, PARIS) == sent + timedelta(hours=4)
    days_only = EscalationSettings(
        MappingProxyType({Severity.IMMINENT: timedelta(hours=24)}), business_days=frozenset({7})
    )  # Sundays only: 29 March 2026 has 23 hours, so 1 more hour is due on the next Sunday
    due = escalation_due(paris(2026, 3, 29, 0, 0), Severity.IMMINENT, days_only, PARIS)
    assert due == paris(2026, 4, 5, 1, 0)


def test_rules_that_leave_no_business_time_escalate_nothing() -> None:
    holidays = frozenset(date(2026, 12, 5) + timedelta(weeks=w) for w in range(60))  # every Saturday a holiday
    delays = MappingProxyType({Severity.IMMINENT: timedelta(hours=1)})
    never = EscalationSettings(delays, business_days=frozenset({6}), holidays=holidays)
    assert escalation_due(paris(2026, 12, 1, 9, 0), Severity.IMMINENT, never, PARIS) is None


def test_only_escalated_severities_are_awaited_and_due_once_their_deadline_passed() -> None:
    now = paris(2026, 12, 1, 14, 0)
    sent = [
        (paris(2026, 12, 1, 9, 0), Severity.IMMINENT),  # due at 13:00: past
        (paris(2026, 12, 1, 11, 0), Severity.IMMINENT),  # due at 15:00
        (paris(2026, 12, 1, 9, 0), Severity.HIGH),  # not escalated
        (paris(2026, 11, 30, 9, 0), Severity.CRITICAL),  # 12 business hours: due on 1 December at 11:00
    ]
    assert awaiting(sent, OFFICE, PARIS, now) == Awaiting(waiting=3, due=2)
    assert awaiting(sent, DEFAULT_ESCALATION, PARIS, now) == Awaiting(waiting=2, due=1)
