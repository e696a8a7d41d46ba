"""Time that survives wall-clock steps (contract §6): the step detector, the re-planning of jobs and retries, the
monotonic ages of feed successes, and the judge of whether polls and flushes go on."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from configs import copy_example
from prometheus_client.parser import text_string_to_metric_families

from alertd.config.files import load_config
from alertd.domain.delivery import DeliveryState
from alertd.domain.feeds import Validators
from alertd.service.clockwatch import ClockStep, ClockWatch, SuccessAges, replan
from alertd.service.daemon import Daemon
from alertd.service.httpapi import HealthServer, HealthSnapshot
from alertd.service.metrics import Metrics
from alertd.service.poll import stale_feeds
from alertd.service.progress import LoopProgress
from alertd.store.records import digest_key
from alertd.store.sqlite import Store

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


class Clocks:
    """A wall and a monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.wall_s = NOW.timestamp()
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


def test_a_step_is_told_with_its_size_and_direction() -> None:
    c = Clocks()
    watch = ClockWatch(wall=c.wall, monotonic=c.mono)
    c.tick(1)
    assert watch.look() is None
    c.tick(1, wall=1 - 7200)
    back = watch.look()
    assert back is not None and back.direction == "back" and back.seconds == -7200
    assert back.before == c.now() + timedelta(hours=2)  # the wall time had it not jumped
    c.tick(1, wall=1 + 7200)
    forward = watch.look()
    assert forward is not None and forward.direction == "forward" and forward.delta == timedelta(hours=2)


def test_slewing_and_a_late_look_are_no_step() -> None:
    c = Clocks()
    watch = ClockWatch(wall=c.wall, monotonic=c.mono)
    c.tick(1, wall=1.08)  # chrony's fastest slew
    assert watch.look() is None
    c.tick(30, wall=31.5)  # a loop held up 30 s while the clock was slewed
    assert watch.look() is None
    c.tick(1, wall=0)  # a stopped wall clock moves by one second per look: no step, the work judge tells it
    assert watch.look() is None
    c.tick(1, wall=3.5)
    assert watch.look() is not None


def test_success_ages_are_monotonic_once_seen() -> None:
    c = Clocks()
    ages = SuccessAges(monotonic=c.mono, now=c.now)
    ages.saw("kev", c.now() - timedelta(minutes=10))  # found in the store at start: dated from the wall clock
    c.tick(60)
    ages.saw("feodo", c.now() - timedelta(seconds=5), just_now=True)  # this process's poll, just recorded
    assert ages.ages() == {"kev": timedelta(minutes=11), "feodo": timedelta(0)}
    c.tick(60, wall=60 + 7200)  # a step forward changes no age
    ages.saw("kev", c.now() - timedelta(hours=2, minutes=12))  # the same stored value: not dated again
    assert ages.ages() == {"kev": timedelta(minutes=12), "feodo": timedelta(minutes=1)}
    ages.saw("kev", None)
    assert "kev" not in ages.ages()


def test_stale_is_judged_on_the_ages_given(tmp_path: Path) -> None:
    config = load_config(copy_example(tmp_path / "config"))
    store = Store(tmp_path / "s.sqlite3")
    for feed in ("feodo", "cisa-kev"):
        store.record_fetch(feed, NOW - timedelta(hours=3), Validators(None, None), 10)
    # Three hours by the wall clock (a step forward, say); minutes by the monotonic clock for feodo.
    ages = {"feodo": timedelta(minutes=5)}
    assert [f for f, _ in stale_feeds(config, store.feed_states(), NOW)] == ["feodo"]
    assert stale_feeds(config, store.feed_states(), NOW, ages) == []
    assert [f for f, _ in stale_feeds(config, store.feed_states(), NOW, {"feodo": timedelta(hours=3)})] == ["feodo"]
    store.close()


def test_waiting_deliveries_keep_their_wait_across_a_step(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite3")

    def queue(created: datetime, name: str) -> int:
        return store.enqueue_email(
            establishment="e-chu",
            alert_ids=[],
            finding_keys=[],
            message_id=f"<{name}@test>",
            sender="a@b.example",
            recipients=["c@d.example"],
            subject=name,
            message=b"x",
            now=created,
        )

    retry = queue(NOW - timedelta(minutes=5), "retry")
    store.mark_retry(retry, "451 try later", NOW + timedelta(seconds=30))
    due = queue(NOW - timedelta(seconds=1), "due")
    # Forward two hours at NOW; one more email queued on the stepped clock before the step was seen.
    after = queue(NOW + timedelta(hours=2), "queued after the step")
    assert store.shift_waiting(timedelta(hours=2), created_by=NOW) == 2
    by_id = {d.id: d for d in store.deliveries(DeliveryState.PENDING)}
    assert by_id[retry].next_attempt == NOW + timedelta(hours=2, seconds=30)
    assert by_id[due].next_attempt == NOW + timedelta(hours=2) - timedelta(seconds=1)
    assert by_id[after].next_attempt == NOW + timedelta(hours=2)  # planned on the new clock already
    # Each is due when it was, counted on the new wall clock: the due ones now, the retry after its back-off.
    assert {d.id for d in store.due_deliveries(NOW + timedelta(hours=2))} == {due, after}
    store.close()


def test_replan_keeps_interval_jobs_time_left_and_digests_on_the_wall_clock() -> None:
    async def scenario() -> None:
        scheduler = AsyncIOScheduler(timezone=UTC)
        scheduler.start(paused=True)

        async def job() -> None:
            pass

        scheduler.add_job(job, IntervalTrigger(seconds=60), id="poll", next_run_time=NOW + timedelta(seconds=30))
        digest = scheduler.add_job(job, CronTrigger.from_crontab("0 8 * * *", timezone=UTC), id="digest")
        digest.modify(next_run_time=datetime(2026, 3, 11, 8, 0, tzinfo=UTC))  # today's 08:00 sent
        # Back two hours at 09:00: the poll still waits 30 s; the digest's next slot, 08:00 today, was sent
        # (the digest job refuses it), so planning it sooner changes nothing that goes out.
        after = NOW - timedelta(hours=2)
        replan(scheduler.get_jobs(), ClockStep(-7200, NOW), after)
        assert scheduler.get_job("poll").next_run_time == after + timedelta(seconds=30)
        assert scheduler.get_job("digest").next_run_time == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
        # Forward three hours from 07:00 (over 08:00): the poll still waits 30 s; the digest slot jumped over
        # stays due, and runs once, late.
        replan(scheduler.get_jobs(), ClockStep(3 * 3600, after), after + timedelta(hours=3))
        assert scheduler.get_job("poll").next_run_time == after + timedelta(hours=3, seconds=30)
        assert scheduler.get_job("digest").next_run_time == datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
        scheduler.shutdown(wait=False)

    asyncio.run(scenario())


def test_the_daemon_replans_its_jobs_and_outbox_and_refuses_a_digest_sent(tmp_path: Path) -> None:
    path = copy_example(tmp_path / "config")
    daemon = Daemon(path, load_config(path))

    async def scenario() -> None:
        daemon.schedule()
        daemon.scheduler.start(paused=True)
        before = {job.id: job.next_run_time for job in daemon.scheduler.get_jobs()}
        daemon.clock_stepped(ClockStep(-7200, datetime.now(UTC) + timedelta(hours=2)))
        for job in daemon.scheduler.get_jobs():
            if job.id.startswith("poll:") or job.id in ("outbox", "health", "prune"):
                assert job.next_run_time == before[job.id] - timedelta(hours=2), job.id
        # The digest was sent at a wall time later than now (before the step back): its slot is not sent twice.
        key = digest_key("hospitals-daily")
        sent = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
        daemon.store.set_meta(key, sent)
        await daemon.digest_job("hospitals-daily")
        assert daemon.store.meta(key) == sent
        daemon.scheduler.shutdown(wait=False)

    try:
        asyncio.run(scenario())
    finally:
        daemon.store.close()


def test_polls_overdue_whatever_the_wall_clock() -> None:
    c = Clocks()
    progress = LoopProgress(clock=c.mono)
    assert progress.overdue() == []  # nothing expected yet
    progress.expect(poll_every=60, flush_every=30, flush_margin=30)
    progress.poll_started("kev", limit=100)
    c.tick(50)
    assert progress.overdue() == []  # in flight, within its limit
    progress.poll_finished("kev")
    c.tick(100)
    progress.outbox_worked()
    c.tick(25)  # 2 × 60 s + 5 s of slack since the poll: on time
    assert progress.overdue() == []
    c.tick(1)
    [late] = progress.overdue()
    assert late.work == "poll" and late.text == "no poll for 126 s (one expected every 60 s)"
    progress.poll_started("kev", limit=100)
    c.tick(101)  # the outbox: 2 × 30 s + the 30 s timeout + 30 s of slack passed too
    texts = [o.text for o in progress.overdue()]
    assert texts == ["the poll of kev has run for 101 s", "no outbox flush for 127 s (one expected every 30 s)"]
    report = progress.report()
    assert report["polls_in_flight"] == 1 and report["poll_started_seconds_ago"] == 101.0
    assert report["poll_expected_within_seconds"] == 125 and report["overdue"] == texts


def test_healthz_and_metrics_tell_overdue_work() -> None:
    c = Clocks()
    progress = LoopProgress(clock=c.mono)
    progress.expect(poll_every=2, flush_every=30, flush_margin=0)
    snapshot = HealthSnapshot()
    metrics = Metrics(snapshot.last_success, snapshot.outbox, process=False)
    metrics.watch_work(progress.ages, lambda: bool(progress.overdue()))
    server = HealthServer("127.0.0.1:0", snapshot, metrics, work=progress)
    progress.poll_finished("kev")
    assert server.health()[0] == 200
    c.tick(10)
    code, body = server.health()
    assert code == 503 and body["status"] == "work overdue"
    assert body["work"]["overdue"] == ["no poll for 10 s (one expected every 2 s)"]
    exposition = metrics.render()[0].decode()
    samples = {
        (s.name, s.labels.get("work", "")): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
        if s.name.startswith("alertd_work")
    }
    assert samples[("alertd_work_overdue", "")] == 1
    assert samples[("alertd_work_age_seconds", "poll_finished")] == 10
    assert samples[("alertd_work_age_seconds", "outbox")] == float("inf")
