"""Health and time at their edges (contract §6): whether the outbox empties, a dispatch long enough to look like a
stall, a wall-clock step while a dispatch or a send is under way, a digest after a step back of a day, and the
feeds a start finds gone from the configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from builders import IPV4, make_alert
from configs import copy_example

from alertd.config.files import load_config
from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import TemporaryDeliveryError
from alertd.domain.feeds import Validators
from alertd.send.transports import SendResult
from alertd.service import daemon as daemon_module
from alertd.service.clockwatch import ClockWatch, slot_gap
from alertd.service.daemon import Daemon, warn_unconfigured
from alertd.service.dispatch import Dispatcher
from alertd.service.httpapi import HealthServer, HealthSnapshot
from alertd.service.metrics import Metrics
from alertd.service.outboxwatch import OutboxWatch
from alertd.service.progress import LoopProgress
from alertd.store.records import digest_key

T = TypeVar("T")
ESTABLISHMENTS = ("000000011", "000000022", "000000033")
# A Tuesday, 08:00 in Paris (the example's time zone): the example's daily digest slot, on a business day.
DIGEST_SLOT = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)


class Clocks:
    """A wall and a monotonic clock the test moves by hand."""

    def __init__(self, wall: datetime) -> None:
        self.wall_s = wall.timestamp()
        self.mono_s = 1000.0

    def wall(self) -> float:
        return self.wall_s

    def mono(self) -> float:
        return self.mono_s

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall_s, UTC)

    def tick(self, seconds: float, *, wall: float | None = None) -> None:
        """Let ``seconds`` pass; the wall clock moves by ``wall`` seconds instead when given."""
        self.mono_s += seconds
        self.wall_s += seconds if wall is None else wall


@pytest.fixture
def clocks() -> Clocks:
    return Clocks(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def daemon(tmp_path: Path, clocks: Clocks, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """The example's daemon (a Maildir) on the test's clocks, not started."""
    path = copy_example(tmp_path / "config")
    made = Daemon(path, load_config(path))
    for module in ("daemon", "clockwatch", "flush"):
        monkeypatch.setattr(f"alertd.service.{module}.utcnow", clocks.now)
    made.clock = ClockWatch(wall=clocks.wall, monotonic=clocks.mono)
    made.progress = LoopProgress(clock=clocks.mono)
    made.monotonic = clocks.mono
    made.expect_work()
    try:
        yield made
    finally:
        made.store.close()


def queue_alerts(daemon: Daemon, establishments: Sequence[str] = ESTABLISHMENTS) -> None:
    """One imminent alert waiting for each establishment."""
    for est in establishments:
        alert = make_alert(IPV4, est_id=est, asset="84.247.157.0/24")
        daemon.store.save_findings([alert.finding], [alert], datetime.now(UTC))


def run(daemon: Daemon, job: Coroutine[Any, Any, T]) -> T:
    """Run one of the daemon's jobs with its scheduler planned (paused: no job runs by itself); its result."""

    async def scheduled() -> T:
        daemon.schedule()
        daemon.scheduler.start(paused=True)
        try:
            return await job
        finally:
            daemon.scheduler.shutdown(wait=False)

    return asyncio.run(scheduled())


def pending(daemon: Daemon) -> list[datetime]:
    """The next attempts of the deliveries waiting in the outbox."""
    return [d.next_attempt for d in daemon.store.deliveries(DeliveryState.PENDING)]


# -- whether the outbox empties ------------------------------------------------------------------------------


def test_delivery_fails_when_the_oldest_email_waited_too_long_with_no_send_accepted(clocks: Clocks) -> None:
    watch = OutboxWatch(timedelta(minutes=30), monotonic=clocks.mono)
    snapshot = HealthSnapshot()
    metrics = Metrics(snapshot.last_success, snapshot.outbox, process=False)
    metrics.watch_delivery(watch.oldest_age, lambda: watch.failing() is not None)
    server = HealthServer("127.0.0.1:0", snapshot, metrics, delivery=watch)
    watch.saw_oldest((7, clocks.now() - timedelta(minutes=20)), clocks.now())  # found waiting: dated once
    assert server.health()[0] == 200 and watch.oldest_age() == 1200
    clocks.tick(10 * 60 + 1, wall=-7200)  # a wall-clock step back changes no age
    watch.saw_oldest((7, clocks.now() - timedelta(hours=3)), clocks.now())  # the same email: not dated again
    code, body = server.health()
    assert code == 503 and body["status"] == "delivery failing"
    assert body["reason"] == "delivery failing: an email has waited over 30 min and no send was accepted for as long"
    assert body["delivery"]["oldest_waiting_seconds"] == 1801.0
    assert b"alertd_outbox_oldest_due_age_seconds 1801.0" in metrics.render()[0]
    assert b"alertd_delivery_failing 1.0" in metrics.render()[0]
    watch.accepted()  # the relay took one: delivery works, this email alone is refused (and retried)
    assert server.health()[0] == 200
    clocks.tick(30 * 60 + 1)
    assert server.health()[0] == 503  # and nothing accepted for as long since
    watch.saw_oldest(None, clocks.now())  # the outbox emptied
    assert server.health()[0] == 200 and watch.oldest_age() == 0


# -- a long dispatch ------------------------------------------------------------------------------------------


def test_a_dispatch_longer_than_the_flush_limit_is_no_stall(
    daemon: Daemon, clocks: Clocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_alerts(daemon)
    render = Dispatcher._render
    judged: list[list[str]] = []

    def slow_render(self: Dispatcher, *args: object) -> object:
        clocks.tick(60)  # a minute an email: a mass event's thousands of emails, shortened
        judged.append([o.text for o in daemon.progress.overdue()])
        return render(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Dispatcher, "_render", slow_render)
    assert run(daemon, daemon.deliver()) is True
    assert judged == [[], [], []]  # 3 minutes of dispatch, never "no outbox flush" (its limit: 90 s)
    assert pending(daemon) == []


# -- a wall-clock step during a dispatch, during a send -------------------------------------------------------


def test_a_step_back_seen_during_a_dispatch_moves_the_emails_it_made(
    daemon: Daemon, clocks: Clocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_alerts(daemon, ESTABLISHMENTS[:1])
    dispatch = daemon.engine.dispatch_off_loop

    async def across_a_step(now: datetime, **options: object) -> list[int]:
        clocks.tick(1, wall=1 - 7200)  # back two hours, seen while the emails render (deliver read its `now`)
        daemon.check_clock()
        return await dispatch(now, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(daemon.engine, "dispatch_off_loop", across_a_step)
    run(daemon, daemon.deliver())
    # The email went at once: it did not wait two hours for the wall clock to catch up with its stamp.
    assert daemon.store.outbox_counts().get(DeliveryState.SENT) == 1 and pending(daemon) == []


def test_a_step_back_during_a_send_moves_its_retry(
    daemon: Daemon, clocks: Clocks, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue_alerts(daemon, ESTABLISHMENTS[:1])

    async def refused_across_a_step(message: bytes, sender: str, recipients: Sequence[str]) -> SendResult:
        clocks.tick(1, wall=1 - 7200)  # back two hours while the send is in flight
        daemon.check_clock()
        raise TemporaryDeliveryError("451 4.3.0 try later")

    monkeypatch.setattr(daemon.transport, "send", refused_across_a_step)
    run(daemon, daemon.deliver())
    [retry] = pending(daemon)
    assert retry - clocks.now() < timedelta(minutes=1)  # its back-off (30 s ± 25 %), not two hours more


# -- digests --------------------------------------------------------------------------------------------------


def test_a_step_back_of_a_day_skips_no_digest_and_the_dst_hour_sends_none_twice(daemon: Daemon, clocks: Clocks) -> None:
    clocks.wall_s = DIGEST_SLOT.timestamp()
    daemon.clock = ClockWatch(wall=clocks.wall, monotonic=clocks.mono)  # from there on, no step
    key = digest_key("hospitals-daily")
    run(daemon, daemon.digest_job("hospitals-daily"))
    assert daemon.store.meta(key) == DIGEST_SLOT.isoformat()
    # Stepped back 25 h: a day later, the wall clock reads the same minute as the last digest. That is tomorrow's
    # slot, not a repeat: it goes.
    clocks.tick(25 * 3600, wall=20)
    run(daemon, daemon.digest_job("hospitals-daily"))
    assert daemon.store.meta(key) == (DIGEST_SLOT + timedelta(seconds=20)).isoformat()
    # An hour later, the same minute again (the night clocks go back): already sent.
    clocks.tick(3600, wall=10)
    run(daemon, daemon.digest_job("hospitals-daily"))
    assert daemon.store.meta(key) == (DIGEST_SLOT + timedelta(seconds=20)).isoformat()


def test_the_gap_between_slots() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert slot_gap("0 8 * * *", paris, DIGEST_SLOT) == timedelta(days=1)
    assert slot_gap("*/15 * * * *", UTC, DIGEST_SLOT) == timedelta(minutes=15)
    # Over the spring DST night (29 March 2026 in Paris) a daily slot comes 23 h after the one before.
    assert slot_gap("0 8 * * *", paris, datetime(2026, 3, 27, 12, 0, tzinfo=UTC)) == timedelta(hours=23)


# -- feeds gone from the configuration ------------------------------------------------------------------------


def test_a_start_warns_of_feeds_polled_lately_and_no_longer_configured(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime.now(UTC)
    store = daemon.store
    store.record_fetch("feodo", now - timedelta(hours=1), Validators(None, None), 3)
    store.record_fetch("cut-feed", now - timedelta(hours=1), Validators(None, None), 3)  # a feeds file cut short
    store.record_fetch("retired", now - timedelta(days=60), Validators(None, None), 3)  # removed long ago
    said: list[tuple[str, dict[str, object]]] = []
    monkeypatch.setattr(daemon_module.log, "warning", lambda event, **kw: said.append((event, kw)))
    warn_unconfigured(store.feed_states(), {f.id for f in daemon.config.feeds}, now)
    [(event, fields)] = said
    assert event.startswith("feeds polled lately are no longer in the configuration") and fields == {
        "feeds": ["cut-feed"]
    }
