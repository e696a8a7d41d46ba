"""When things go out: quiet hours, business days, holidays, and cron digests across DST changes.

Pure: every instant is fixed; the next fire times come from APScheduler's own CronTrigger.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from alertd.domain.routing import Selector, Subscription
from alertd.domain.values import Severity
from alertd.policy.decide import digest_may_go, in_quiet_hours, repeated_wall_time

PARIS = ZoneInfo("Europe/Paris")


def fires(cron: str, start: datetime, count: int) -> list[datetime]:
    trigger = CronTrigger.from_crontab(cron, timezone=PARIS)
    out: list[datetime] = []
    prev, now = None, start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(prev, now)
        assert nxt is not None
        out.append(nxt)
        prev, now = nxt, nxt.astimezone(UTC) + timedelta(seconds=1)
    return out


def test_weekday_digest_skips_the_weekend_and_keeps_local_time_across_spring_forward() -> None:
    times = fires("0 8 * * mon-fri", datetime(2027, 3, 26, 9, tzinfo=PARIS), 3)  # Friday after 08:00
    assert [t.strftime("%a %H:%M %z") for t in times] == ["Mon 08:00 +0200", "Tue 08:00 +0200", "Wed 08:00 +0200"]


def test_autumn_night_fires_twice_and_the_second_run_is_recognised() -> None:
    first, second, third = fires("30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=PARIS), 3)
    assert second.astimezone(UTC) - first.astimezone(UTC) == timedelta(hours=1)  # 02:30 CEST, then CET
    assert repeated_wall_time(first, second, PARIS)
    assert not repeated_wall_time(second, third, PARIS)
    assert not repeated_wall_time(None, first, PARIS)


def test_spring_night_fires_once() -> None:
    times = fires("30 2 * * *", datetime(2027, 3, 27, 12, tzinfo=PARIS), 3)
    days = [t.astimezone(PARIS).date() for t in times]
    assert days == [date(2027, 3, 28), date(2027, 3, 29), date(2027, 3, 30)]


def test_quiet_hours_wrap_past_midnight() -> None:
    quiet = (time(20, 0), time(7, 30))
    assert in_quiet_hours(quiet, datetime(2026, 11, 28, 23, 0, tzinfo=PARIS))
    assert in_quiet_hours(quiet, datetime(2026, 11, 28, 7, 29, tzinfo=PARIS))
    assert not in_quiet_hours(quiet, datetime(2026, 11, 28, 7, 30, tzinfo=PARIS))
    assert not in_quiet_hours(quiet, datetime(2026, 11, 28, 12, 0, tzinfo=PARIS))
    assert in_quiet_hours((time(12, 0), time(14, 0)), datetime(2026, 11, 28, 13, 0, tzinfo=PARIS))
    assert not in_quiet_hours(None, datetime(2026, 11, 28, 13, 0, tzinfo=PARIS))


def test_digest_may_go_on_business_days_only_and_never_on_holidays() -> None:
    sub = Subscription(
        "daily",
        Selector(everyone=True),
        Severity.HIGH,
        digest="0 8 * * *",
        business_days=frozenset({1, 2, 3, 4, 5}),
        holidays=frozenset({date(2026, 12, 25)}),
    )
    assert digest_may_go(sub, datetime(2026, 12, 24, 8, tzinfo=PARIS))  # Thursday
    assert not digest_may_go(sub, datetime(2026, 12, 25, 8, tzinfo=PARIS))  # Friday, Christmas
    assert not digest_may_go(sub, datetime(2026, 12, 26, 8, tzinfo=PARIS))  # Saturday
