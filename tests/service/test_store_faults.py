"""A store that cannot be written (a full disk) costs nothing and is told: polls fail and are counted in memory,
an accepted email whose outcome cannot be recorded is not sent again, and ``/healthz`` and ``/metrics`` say it.
The store here refuses writes on demand (the real full disk is ``tests/faults/test_full_disk.py``)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from configs import copy_example
from prometheus_client.parser import text_string_to_metric_families

from alertd.config.files import load_config
from alertd.domain.delivery import DeliveryState
from alertd.domain.feeds import Validators
from alertd.intake.fetch import Fetcher
from alertd.send.transports import MaildirTransport, SendResult
from alertd.service.engine import Engine
from alertd.service.flush import Flusher
from alertd.service.httpapi import HealthServer, HealthSnapshot
from alertd.service.metrics import Metrics
from alertd.service.vitals import Vitals, store_reason
from alertd.store import journal
from alertd.store.records import FeedState
from alertd.store.sqlite import Store

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FULL = "database or disk is full"


class FullStore(Store):
    """A real store whose outcome and feed writes fail while ``full`` is set, as SQLite fails on a full disk."""

    full = False

    def _refuse(self) -> None:
        if self.full:
            raise sqlite3.OperationalError(FULL)

    def mark_sent(self, delivery_id: int, now: datetime) -> None:
        self._refuse()
        super().mark_sent(delivery_id, now)

    async def mark_sent_off_loop(self, sends: Sequence[tuple[int, datetime]]) -> None:
        self._refuse()
        await super().mark_sent_off_loop(sends)

    def record_fetch(self, feed: str, now: datetime, validators: Validators, entries: int | None) -> None:
        self._refuse()
        super().record_fetch(feed, now, validators, entries)

    def record_failure(self, feed: str, now: datetime, error: str) -> int:
        self._refuse()
        return super().record_failure(feed, now, error)


def queue(store: Store, n: int) -> list[int]:
    return [
        store.enqueue_email(
            establishment="e-chu",
            alert_ids=[],
            finding_keys=[],
            message_id=f"<m{i}@cert-test.example>",
            sender="alertes@cert-test.example",
            recipients=["rssi@chu-test.example"],
            subject="alerte",
            message=b"Subject: alerte\r\n\r\nbody\r\n",
            now=NOW,
        )
        for i in range(n)
    ]


def written(maildir: Path) -> int:
    return len(list((maildir / "new").iterdir())) if (maildir / "new").exists() else 0


def test_an_accepted_email_whose_outcome_cannot_be_recorded_is_not_sent_again(tmp_path: Path) -> None:
    store = FullStore(tmp_path / "state.sqlite3")
    ids = queue(store, 3)
    flusher = Flusher(store)
    transport = MaildirTransport(tmp_path / "maildir")
    store.full = True
    report = asyncio.run(flusher.flush(transport, NOW))
    assert report.sent == 3 and written(tmp_path / "maildir") == 3
    assert sorted(flusher.unrecorded) == ids and not flusher.vitals.writable
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENDING}
    # Still full: they read "sending" in the store, yet nothing goes twice, and nothing else starts.
    again = asyncio.run(flusher.flush(transport, NOW))
    assert again.sent == 0 and written(tmp_path / "maildir") == 3
    store.full = False
    asyncio.run(flusher.flush(transport, NOW))
    assert written(tmp_path / "maildir") == 3 and flusher.unrecorded == {}
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENT} and flusher.vitals.writable


def test_a_held_flusher_starts_no_send_and_leaves_the_outbox_untouched(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite3")
    queue(store, 4)
    flusher = Flusher(store)
    flusher.hold()
    report = asyncio.run(flusher.flush(MaildirTransport(tmp_path / "maildir"), NOW))
    assert (report.sent, report.held) == (0, 4) and written(tmp_path / "maildir") == 0
    assert [(d.state, d.attempts) for d in store.deliveries()] == [(DeliveryState.PENDING, 0)] * 4


def test_a_poll_that_cannot_be_recorded_fails_and_is_counted_in_memory(tmp_path: Path) -> None:
    config = load_config(copy_example(tmp_path / "config"))
    store = FullStore(tmp_path / "state.sqlite3")
    engine = Engine(config, store)
    feed = config.feed("feodo")

    async def poll() -> tuple[bool, int]:
        async with Fetcher() as fetcher:
            report = await engine.poll(feed, fetcher, NOW)
        return report.ok, report.consecutive_failures

    store.full = True
    assert [asyncio.run(poll()) for _ in range(3)] == [(False, 1), (False, 2), (False, 3)]
    seen = engine.vitals.feeds["feodo"]
    assert seen.store_fault and FULL in (seen.last_error or "")
    assert engine.vitals.store_fault is not None and engine.vitals.store_fault.error == FULL
    assert store.feed_state("feodo").consecutive_failures == 0  # the store could record none of it
    assert engine.vitals.failed_on_store() == ["feodo"]
    store.full = False
    assert asyncio.run(poll()) == (True, 0)
    assert engine.vitals.writable and engine.vitals.feeds["feodo"].consecutive_failures == 0
    # Nothing was lost: the entries the failed polls read are recorded, and their alerts queued, now.
    assert store.queued_alerts(immediate=True)


def test_healthz_is_503_with_the_reason_and_metrics_tell_it(tmp_path: Path) -> None:
    vitals = Vitals(tmp_path / "alertd.sqlite3")
    snapshot = HealthSnapshot()
    metrics = Metrics(
        snapshot.last_success, snapshot.outbox, store_state=snapshot.store, feed_failures=snapshot.failures
    )
    server = HealthServer("127.0.0.1:0", snapshot, metrics)
    stored = [FeedState("c2", Validators(None, None), NOW, NOW, 4, "HTTP 503", 10)]
    try:
        raise sqlite3.OperationalError(FULL)
    except sqlite3.OperationalError as exc:
        vitals.store_failed(exc, "a test")
    vitals.poll_failed("c2", "the state store cannot be written", recorded=None, stored=4, store_fault=True)
    snapshot.update(stored, {}, configured=["c2"], vitals=vitals)
    code, body = server.health()
    assert code == 503 and body["status"] == "store_unwritable"
    assert body["reason"] == f"store cannot be written: {FULL} ({tmp_path / 'alertd.sqlite3'})"
    # What the store held (4 in a row before) and what it could not record (one more), told together.
    assert body["feeds"]["c2"]["consecutive_failures"] == 5
    assert body["feeds"]["c2"]["last_success"] == NOW
    samples = {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(metrics.render()[0].decode())
        for s in family.samples
    }
    assert samples[("alertd_store_writable", ())] == 0
    assert samples[("alertd_store_write_errors_total", ())] == 1
    assert samples[("alertd_feed_consecutive_failures", ("c2",))] == 5
    vitals.store_written()
    snapshot.update(stored, {}, configured=["c2"], vitals=vitals)
    assert server.health()[0] == 200


def test_the_reason_is_the_first_store_error_of_the_chain() -> None:
    try:
        try:
            raise sqlite3.OperationalError(FULL)
        except sqlite3.OperationalError:
            raise sqlite3.OperationalError("cannot rollback - no transaction is active") from None
    except sqlite3.OperationalError as exc:
        assert store_reason(exc) == FULL


def test_damage_met_at_run_time_is_told_with_the_path_and_stays_until_restored(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    vitals = Vitals(path)
    snapshot = HealthSnapshot()
    server = HealthServer("127.0.0.1:0", snapshot, Metrics(snapshot.last_success, snapshot.outbox))
    vitals.store_failed(sqlite3.OperationalError("database is locked"), "a test")
    assert vitals.damaged is None  # busy is not damaged
    vitals.store_written()
    vitals.store_failed(sqlite3.DatabaseError("database disk image is malformed"), "a test")
    assert vitals.damaged is not None
    assert vitals.damaged.startswith(f"{path} is damaged (SQLite: database disk image is malformed)")
    assert "alertd state restore" in vitals.damaged
    # A small write elsewhere in the file may succeed: the damage stays told, for what its pages held is lost.
    vitals.store_written()
    assert not vitals.writable
    snapshot.update([], {}, configured=[], vitals=vitals)
    code, body = server.health()
    assert (code, body["status"], body["reason"]) == (503, "store_damaged", vitals.damaged)


class BrokenFirst(MaildirTransport):
    """A real Maildir whose first send raises what no transport should (a bug), while the others take a while."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.calls = 0

    async def send(self, message: bytes, sender: str, recipients: Sequence[str]) -> SendResult:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("a bug in the transport")
        await asyncio.sleep(0.05)
        return await super().send(message, sender, recipients)


def test_a_flush_never_returns_while_its_own_sends_are_in_flight(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    ids = queue(store, 5)
    flusher = Flusher(store)
    transport = BrokenFirst(tmp_path / "maildir")
    report = asyncio.run(flusher.flush(transport, NOW))
    assert flusher.in_flight == 0 and report.sent == 4 and written(tmp_path / "maildir") == 4
    assert report.errors == ["a bug in the transport"]
    # Its outcome unknown (the relay may have taken it): not sent again by this process; the next start retries it.
    assert [d.id for d in store.deliveries(DeliveryState.SENDING)] == ids[:1]
    assert asyncio.run(flusher.flush(transport, NOW)).sent == 0 and transport.calls == 5
    store.close()
    again = Store(tmp_path / "alertd.sqlite3")
    assert [d.id for d in again.due_deliveries(NOW)] == ids[:1]
    again.close()


def test_a_send_journal_that_cannot_be_written_keeps_the_store_unwritable_until_it_can(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    ids = queue(store, 2)
    flusher = Flusher(store)
    transport = MaildirTransport(tmp_path / "maildir")
    in_the_way = tmp_path / journal.JOURNAL
    assert store.claim_sender()
    in_the_way.mkdir()  # opening the journal fails, as appending to it does on a full disk
    report = asyncio.run(flusher.flush(transport, NOW))
    # Both were in flight at once: taken, and neither can be recorded.
    assert (report.sent, written(tmp_path / "maildir")) == (2, 2)
    assert sorted(flusher.unrecorded) == ids and not flusher.vitals.writable
    assert flusher.vitals.store_fault is not None
    assert flusher.vitals.store_fault.error.startswith(f"cannot write {in_the_way}: ")
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENDING}
    # SQLite commits meanwhile (a poll, a new email): that does not end the fault while the sends cannot be
    # journalled, and nothing is sent.
    queue(store, 1)
    assert not flusher.vitals.store_written() and not flusher.vitals.writable
    assert asyncio.run(flusher.flush(transport, NOW)).sent == 0 and written(tmp_path / "maildir") == 2
    in_the_way.rmdir()
    assert flusher.vitals.store_written() and flusher.vitals.writable  # the sends recorded on the way
    assert flusher.unrecorded == {} and [s.seq for s in journal.read(in_the_way)] == [1, 2]
    asyncio.run(flusher.flush(transport, NOW))
    assert written(tmp_path / "maildir") == 3
    assert [d.state for d in store.deliveries()] == [DeliveryState.SENT] * 3
    assert [s.seq for s in journal.read(in_the_way)] == [1, 2, 3]
    store.close()
