"""The send journal holds what the relay took, whatever fails around it (contract §1, "Recovering state"): a file
that cannot be written is a store failure, a short write is continued, a cut line never swallows the next one,
numbers are never shared, a partial send names the recipients it missed, and the journal witnesses the sends when
the marker is gone. All on real files and a real SQLite store."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from builders import DOMAIN, IPV4, NOW, URL, make_alert
from sent_mail import CHU, copy_of, queue, tell

from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import LostState
from alertd.store import STORE_FAILURES, StateFileError, journal
from alertd.store.backup import read_only
from alertd.store.codecs import encode_time
from alertd.store.identity import MARKER, read_marker, verify_read_only
from alertd.store.sqlite import Store

LATER = ["soc@chu.example"]


def sent(seq: int) -> journal.Sent:
    return journal.Sent(seq, f"2025-03-12T13:0{seq}:00+00:00", CHU, f"<m{seq}@cert.example>", None, '["a@x"]', ())


def seqs(folder: Path) -> list[int]:
    return [s.seq for s in journal.read(folder / journal.JOURNAL)]


@contextmanager
def in_the_way(path: Path) -> Iterator[None]:
    """A folder (not empty) where a state file should be: opening or replacing it fails, as on a full disk."""
    path.mkdir()
    (path / "x").write_text("")
    try:
        yield
    finally:
        shutil.rmtree(path)


def test_a_cut_last_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / journal.JOURNAL
    journal.append(path, sent(1))
    with path.open("a") as f:
        f.write(sent(2).to_json()[:40])  # a crash, or a full disk, mid-line
    journal.append(path, sent(3))
    assert seqs(tmp_path) == [1, 3]


def test_a_short_write_is_continued(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # os.write may write part of a line (a disk filling up) and say so only by its count; forced here.
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data[:7])))
    journal.append(tmp_path / journal.JOURNAL, sent(1))
    monkeypatch.undo()
    assert seqs(tmp_path) == [1]


def test_a_journal_that_cannot_be_written_is_a_store_failure_and_the_send_keeps_its_number(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    delivery = queue(store, make_alert(IPV4))
    store.mark_sending(delivery)
    with in_the_way(tmp_path / journal.JOURNAL), pytest.raises(StateFileError) as failed:
        store.mark_sent(delivery, NOW)
    assert isinstance(failed.value, STORE_FAILURES)
    assert str(failed.value).startswith(f"cannot write {tmp_path / journal.JOURNAL}: ")
    assert store.deliveries()[0].state == DeliveryState.SENDING  # not recorded: the journal comes first
    store.mark_sent(delivery, NOW + timedelta(minutes=1))  # recorded at last, as the flusher does
    ((one, at),) = [(s.seq, s.at) for s in journal.read(tmp_path / journal.JOURNAL)]
    assert (one, at) == (1, encode_time(NOW))  # the first attempt's number and time
    assert store.deliveries()[0].sent_at == NOW
    store.close()


def test_a_marker_that_cannot_be_rewritten_does_not_fail_a_recorded_send(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    delivery = queue(store, make_alert(IPV4))
    store.mark_sending(delivery)
    marker = tmp_path / MARKER
    before = marker.read_text()
    marker.unlink()
    with in_the_way(marker):
        store.mark_sent(delivery, NOW)  # recorded: the journal and the store hold it
        assert isinstance(store.marker_behind, StateFileError)
        assert [d.state for d in store.deliveries()] == [DeliveryState.SENT]
        with pytest.raises(StateFileError):
            store.rewrite_marker()
    assert not list(tmp_path.glob(".alertd.marker.json.*.tmp"))  # what the failed writes took is given back
    store.rewrite_marker()
    assert store.marker_behind is None
    now = read_marker(marker)
    assert now is not None and now.high.sends == 1 and now.to_json() != before
    store.close()


def test_a_send_whose_store_write_failed_shares_its_number_with_no_other(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    first = queue(store, make_alert(IPV4))
    second = queue(store, make_alert(DOMAIN), minutes=1)
    store.mark_sending(first)
    store.mark_sending(second)
    store.db.execute("PRAGMA busy_timeout = 0")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer: the store's commit fails after the journal's append
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.mark_sent(first, NOW)
    other.execute("ROLLBACK")
    other.close()
    store.mark_sent(second, NOW + timedelta(minutes=1))  # sent meanwhile, recorded
    assert seqs(tmp_path) == [1, 2]
    store.close()  # the process ends before the first send is recorded

    again = Store(path)  # the next start: the journal says the relay took it, the store still says `sending`
    assert again.settled == 1
    assert [d.state for d in again.deliveries()] == [DeliveryState.SENT, DeliveryState.SENT]
    assert again.due_deliveries(NOW + timedelta(days=1)) == []
    tell(again, make_alert(IPV4, est_id=CHU, asset="147.210.0.0/17"), minutes=5)
    assert seqs(tmp_path) == [1, 2, 3]
    again.close()


def test_this_processs_sending_deliveries_are_not_picked_again_by_it(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    delivery = queue(store, make_alert(IPV4))
    store.mark_sending(delivery)
    assert store.due_deliveries(NOW) == []  # in flight here: never handed out twice
    other = Store(path)  # another process: what this one left in `sending` is a crash's to retry
    assert [d.id for d in other.due_deliveries(NOW)] == [delivery]
    other.close()
    store.release(delivery)
    assert [d.id for d in store.due_deliveries(NOW)] == [delivery]
    store.close()


def partly_sent_then(tmp_path: Path, crash: bool) -> Store:
    """An email to two recipients of the CHU, the second refused for now by the relay: recorded (then the store
    put back from a backup taken while it waited) or journalled only (a crash before the store's commit)."""
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    delivery = queue(store, make_alert(IPV4))
    store.db.execute("UPDATE outbox SET recipients = ? WHERE id = ?", ('["rssi@chu.example", "soc@chu.example"]', 1))
    backup = copy_of(store, tmp_path / "backup.sqlite3")
    store.mark_sending(delivery)
    if crash:
        store._journal_send(delivery, NOW, LATER, [], "450 mailbox full")
        store.close()
        return Store(path)
    store.mark_partly_sent(delivery, NOW, LATER, [], "450 mailbox full", NOW + timedelta(minutes=1))
    store.close()
    for side in tmp_path.glob("alertd.sqlite3-*"):
        side.unlink()
    shutil.copyfile(backup, path)  # `state restore`: the backup, then the journal carried in
    return Store(path, new_state=True)


@pytest.mark.parametrize("crash", [False, True], ids=["restored", "crash-before-commit"])
def test_a_partial_send_leaves_the_recipients_it_missed_their_copy(tmp_path: Path, crash: bool) -> None:
    store = partly_sent_then(tmp_path, crash)
    rows = [(d.state, d.recipients) for d in store.deliveries()]
    assert rows == [
        (DeliveryState.SENT, ("rssi@chu.example", "soc@chu.example")),
        (DeliveryState.PENDING, ("soc@chu.example",)),
    ]
    (due,) = store.due_deliveries(NOW + timedelta(minutes=1))
    assert due.recipients == ("soc@chu.example",) and store.deliveries()[0].message_id == "<m0@cert.example>"
    store.close()


def test_a_partial_send_the_store_never_held_is_warned_of_again(tmp_path: Path) -> None:
    # The email was queued after the backup: no copy can be made for the recipient it missed, so its findings are
    # not carried in (warned of again, to all the contacts) rather than never told to that recipient.
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    tell(store, make_alert(DOMAIN))
    backup = copy_of(store, tmp_path / "backup.sqlite3")
    delivery = queue(store, make_alert(IPV4), minutes=1, reference=False)
    store.mark_sending(delivery)
    store.mark_partly_sent(delivery, NOW, LATER, [], "450 mailbox full", NOW + timedelta(minutes=1))
    store.close()
    for side in tmp_path.glob("alertd.sqlite3-*"):
        side.unlink()
    shutil.copyfile(backup, path)
    restored = Store(path, new_state=True)
    states = restored.finding_states([make_alert(IPV4).finding.key, make_alert(DOMAIN).finding.key])
    assert make_alert(IPV4).finding.key not in states or states[make_alert(IPV4).finding.key].last_alerted is None
    assert restored.carried[0] == 1  # the whole send journalled after the backup is carried in
    restored.close()


@pytest.fixture
def old_copy_back(tmp_path: Path) -> Path:
    """Two emails sent, then the store put back as it was after the first (a copy taken by hand)."""
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    tell(store, make_alert(IPV4))
    old = copy_of(store, tmp_path / "old.sqlite3")
    tell(store, make_alert(DOMAIN), minutes=5)
    store.close()
    for side in tmp_path.glob("alertd.sqlite3-*"):
        side.unlink()
    shutil.copyfile(old, path)
    return path


def test_without_its_marker_an_old_copy_is_refused_on_the_journals_word(old_copy_back: Path) -> None:
    (old_copy_back.parent / MARKER).unlink()
    with pytest.raises(LostState) as refused:
        Store(old_copy_back)
    words = str(refused.value)
    assert f"the send journal {old_copy_back.parent / journal.JOURNAL} says 2 emails were sent" in words
    assert "the store knows of 1" in words and "alertd state restore" in words
    db = read_only(old_copy_back)
    try:
        assert verify_read_only(db, old_copy_back, None) == words  # `alertd check` says the same
    finally:
        db.close()


def test_a_torn_marker_is_refused_without_advising_its_removal_and_new_state_gets_past_it(
    old_copy_back: Path,
) -> None:
    (old_copy_back.parent / MARKER).write_text('{"store": "abc"')
    with pytest.raises(LostState) as refused:
        Store(old_copy_back)
    words = str(refused.value)
    assert "remove" not in words and "alertd state restore" in words and "--new-state" in words
    store = Store(old_copy_back, new_state=True)  # the journal carried in, the marker written again
    assert store.carried == (1, 1)
    store.close()
    Store(old_copy_back).close()


def test_a_journal_alone_says_a_store_existed(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    tell(store, make_alert(IPV4))
    store.close()
    for file in tmp_path.glob("alertd.sqlite3*"):
        file.unlink()
    (tmp_path / MARKER).unlink()
    with pytest.raises(LostState, match=r"the send journal .* says it sent emails"):
        Store(tmp_path / "alertd.sqlite3")
    assert not (tmp_path / "alertd.sqlite3").exists()


def test_a_commit_is_on_disk_before_the_marker_says_so(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    # 2 is FULL: a power cut cannot take back a commit the marker (fsynced after it) already counts.
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert asyncio.run(store.writer.run(lambda db: db.execute("PRAGMA synchronous").fetchone()[0])) == 2
    store.close()


def test_a_line_cut_mid_character_is_skipped_alone(tmp_path: Path) -> None:
    path = tmp_path / journal.JOURNAL
    journal.append(path, sent(1))
    with path.open("ab") as f:
        f.write("Santé".encode()[:-1])  # cut inside the é
    journal.append(path, sent(2))
    assert seqs(tmp_path) == [1, 2]


def three_sending(store: Store) -> list[int]:
    """Three deliveries handed to the transport, as a flush marks them."""
    ids = [queue(store, make_alert(i), minutes=n) for n, i in enumerate((IPV4, DOMAIN, URL))]
    for delivery in ids:
        store.mark_sending(delivery)
    return ids


def test_sends_recorded_together_take_one_journal_write_and_a_number_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    ids = three_sending(store)
    writes: list[int] = []
    real = journal.write_whole

    def counted(fd: int, data: bytes) -> None:
        writes.append(len(data))
        real(fd, data)

    monkeypatch.setattr(journal, "write_whole", counted)
    asyncio.run(store.mark_sent_off_loop([(d, NOW + timedelta(minutes=n)) for n, d in enumerate(ids)]))
    assert len(writes) == 2  # the journal's three lines in one write, and the marker once
    assert seqs(tmp_path) == [1, 2, 3]
    assert [(d.state, d.sent_at) for d in store.deliveries()] == [
        (DeliveryState.SENT, NOW + timedelta(minutes=n)) for n in range(3)
    ]
    marker = read_marker(tmp_path / MARKER)
    assert marker is not None and marker.high.sends == 3 and store.marker_behind is None
    store.close()


def test_a_batch_the_journal_refuses_records_none_and_each_send_keeps_its_number(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    ids = three_sending(store)
    with in_the_way(tmp_path / journal.JOURNAL), pytest.raises(StateFileError):
        asyncio.run(store.mark_sent_off_loop([(d, NOW) for d in ids]))
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENDING}
    assert store.due_deliveries(NOW + timedelta(days=1)) == []  # not sent again by this process
    store.mark_sent_many([(d, NOW + timedelta(hours=1)) for d in reversed(ids)])  # recorded at last
    assert [(s.seq, s.at) for s in journal.sends(tmp_path / journal.JOURNAL)] == [
        (n, encode_time(NOW)) for n in (1, 2, 3)
    ]
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENT}
    store.close()
