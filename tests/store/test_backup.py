"""Online backups and restores of the store (contract §1, "Recovering state"): SQLite's backup API while the store
is open, checked before the oldest backup goes; a restore keeps the replaced file aside and carries in, from the
send journal, what was sent since the backup."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import DOMAIN, IPV4, NOW, make_alert, make_settings
from sent_mail import copy_of, tell

from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import DamagedState, LostState, StateRefused
from alertd.domain.settings import BackupSettings
from alertd.store import backup
from alertd.store.sqlite import Store


def test_a_backup_of_the_open_store_is_one_checked_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    tell(store, make_alert(IPV4))
    made, removed = backup.take(store.path, tmp_path / "backups", 7, NOW)
    # Named after its store and counted: the order of a store's backups never hangs on the wall clock.
    assert made == tmp_path / "backups" / f"alertd-{store.store_id}-000001-20250312T130500Z.sqlite3"
    assert removed == [] and backup.store_of(made) == store.store_id
    assert sorted(p.name for p in made.parent.iterdir()) == [made.name]  # no -wal beside it
    assert made.stat().st_mode & 0o777 == 0o600
    assert backup.is_good(made)
    store.close()


def test_only_the_newest_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    folder = tmp_path / "backups"
    for hours in range(4):
        backup.take(store.path, folder, 2, NOW + timedelta(hours=hours))
    names = [f"alertd-{store.store_id}-{n:06d}-20250312T{h}0500Z.sqlite3" for n, h in ((4, 16), (3, 15))]
    assert [p.name for p in backup.backups(folder)] == names
    store.close()


def test_a_damaged_store_is_never_a_backup_and_the_older_ones_stay(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    store = Store(tmp_path / "alertd.sqlite3")
    for minutes in range(40):
        tell(store, make_alert(IPV4, asset=f"147.210.{minutes}.0/24"), minutes=minutes)
    good, _ = backup.take(store.path, folder, 1, NOW)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = store.path.stat().st_size
    with store.path.open("r+b") as f:
        f.seek(size // 2)
        f.write(b"\xa5" * (size // 3))
    with pytest.raises(DamagedState, match="is damaged"):
        backup.take(store.path, folder, 1, NOW + timedelta(hours=6))
    assert backup.backups(folder) == [good]


def test_the_newest_good_backup_skips_a_damaged_one(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    store = Store(tmp_path / "alertd.sqlite3")
    good, _ = backup.take(store.path, folder, 7, NOW)
    store.close()
    (folder / "alertd-20250313T000000Z.sqlite3").write_bytes(b"not a database" * 100)
    assert backup.newest_good(folder) == good


def test_restore_keeps_the_replaced_file_and_carries_in_what_was_sent(tmp_path: Path) -> None:
    path, folder = tmp_path / "alertd.sqlite3", tmp_path / "backups"
    store = Store(path)
    tell(store, make_alert(IPV4))
    # An email queued before the backup and sent after it: the backup has it waiting.
    store.save_findings([make_alert(DOMAIN).finding], [make_alert(DOMAIN)], NOW)
    (queued,) = store.queued_alerts(immediate=True)["330781196"]
    waiting = store.enqueue_email(
        establishment="330781196",
        alert_ids=[queued.id],
        finding_keys=[make_alert(DOMAIN).finding.key],
        message_id="<late@cert.example>",
        sender="alertes@cert.example",
        recipients=["rssi@chu.example"],
        subject="Alerte",
        message=b"Subject: x\r\n\r\nbody\r\n",
        now=NOW,
    )
    made, _ = backup.take(path, folder, 7, NOW)
    store.mark_sending(waiting)
    store.mark_sent(waiting, NOW + timedelta(minutes=1))
    after = make_alert(IPV4, asset="147.210.0.0/17")
    tell(store, after, minutes=2)
    store.close()

    with backup.stopped(path):
        aside = backup.put_back(path, made, NOW + timedelta(hours=1))
        restored = Store(path, new_state=True)
    assert aside is not None and aside.name == "alertd.sqlite3.damaged-20250312T140500Z" and aside.exists()
    assert restored.carried == (2, 2)  # the two sends after the backup
    assert restored.deliveries(DeliveryState.PENDING) == []  # the waiting email went: it is not sent again
    told = restored.finding_states([after.finding.key, make_alert(DOMAIN).finding.key])
    assert all(s.last_alerted is not None for s in told.values()) and len(told) == 2
    assert restored.next_reference("ALE", 2025) == 3
    restored.close()
    Store(path).close()  # the marker follows the restored store


def test_restore_is_refused_while_alertd_holds_the_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    assert store.claim_sender()
    with (
        pytest.raises(StateRefused, match=r"an alertd process is running on .* stop it first"),
        backup.stopped(store.path),
    ):
        pass
    store.close()


def test_two_stores_sharing_a_folder_never_touch_each_others_backups(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    a, b = Store(tmp_path / "a" / "alertd.sqlite3"), Store(tmp_path / "b" / "alertd.sqlite3")
    theirs, _ = backup.take(b.path, folder, 1, NOW + timedelta(days=1))  # the other site's, newer
    for hours in range(3):
        backup.take(a.path, folder, 1, NOW + timedelta(hours=hours))
    assert theirs.exists()  # a's rotation kept one of its own and left b's alone
    assert backup.newest_good(folder, a.store_id) == backup.backups(folder, a.store_id)[0] != theirs
    assert backup.backups(folder, b.store_id) == [theirs]
    a.close()
    b.close()


def test_newest_follows_the_counter_not_a_clock_that_was_ahead(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    store = Store(tmp_path / "alertd.sqlite3")
    future, _ = backup.take(store.path, folder, 7, NOW + timedelta(days=400))  # the clock a year ahead
    os.utime(future, (time.time() + 400 * 86400,) * 2)
    now = datetime.now(UTC)
    real, _ = backup.take(store.path, folder, 7, now)
    assert backup.backups(folder, store.store_id) == [real, future]
    every = timedelta(hours=6)
    os.utime(real, (time.time() + 400 * 86400,) * 2)  # the newest dated ahead too: never holds the next back
    due, ahead = backup.next_due(folder, store.store_id, every, now)
    assert due == now + every and ahead == real
    store.close()


def test_backups_of_the_earlier_name_are_still_read(tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    store = Store(tmp_path / "alertd.sqlite3")
    counted, _ = backup.take(store.path, folder, 7, NOW - timedelta(days=1))
    old = folder / "alertd-20250312T130500Z.sqlite3"  # as an earlier alertd named them: the time only
    shutil.copyfile(counted, old)
    assert backup.backups(folder, store.store_id) == [counted, old]
    counted.unlink()
    assert backup.newest_good(folder, store.store_id) == old
    assert backup.backups(folder, "0123456789abcdef") == []
    store.close()


def test_a_restored_store_of_another_id_carries_in_the_journal_by_message_id(tmp_path: Path) -> None:
    """``run --once --new-state`` on another store's file: that store's send numbers say nothing of this
    state_dir's, so every journalled send it does not hold as sent is carried in."""
    path = tmp_path / "state" / "alertd.sqlite3"
    ours = Store(path)
    tell(ours, make_alert(IPV4))  # send 1 of this state_dir
    ours.close()
    other = Store(tmp_path / "other" / "alertd.sqlite3")
    for minutes in range(3):  # another store, further along: three sends of its own
        tell(other, make_alert(IPV4, asset=f"147.210.{minutes}.0/24"), minutes=minutes + 10)
    foreign = copy_of(other, tmp_path / "foreign.sqlite3")
    other.close()
    with backup.stopped(path):
        backup.put_back(path, foreign, NOW)
        adopted = Store(path, new_state=True)
    assert adopted.carried == (1, 1)  # before: 0, its seq 1 being "older" than the other store's three
    told = adopted.finding_states([make_alert(IPV4).finding.key])
    assert told[make_alert(IPV4).finding.key].last_alerted is not None
    adopted.close()


def test_a_command_that_only_reads_never_makes_a_store(tmp_path: Path) -> None:
    settings = make_settings(state_dir=tmp_path / "state", backups=BackupSettings(folder=tmp_path / "elsewhere"))
    empty = Store.for_settings(settings, create=False)  # nothing ever made: an empty store in memory answers
    assert empty.history() == [] and empty.deliveries() == []
    empty.close()
    assert not (tmp_path / "state").exists()
    store = Store.for_settings(settings)
    tell(store, make_alert(IPV4))
    backup.take(store.path, settings.backup_folder, 7, NOW)
    store.close()
    for file in (tmp_path / "state").iterdir():  # the store lost, marker and all; its backups are elsewhere
        if file.is_file():
            file.unlink()
    with pytest.raises(LostState, match=f"backups of it exist in {tmp_path / 'elsewhere'}"):
        Store.for_settings(settings, create=False)
    assert not (tmp_path / "state" / "alertd.sqlite3").exists()


def test_a_cycle_holds_the_senders_lock_from_its_opening(tmp_path: Path) -> None:
    """``run --once`` opens the store with the sender's lock: no restore can replace the state under its poll."""
    settings = make_settings(state_dir=tmp_path / "state")
    cycle = Store.for_settings(settings, sender=True)
    with pytest.raises(StateRefused, match="stop it first"), backup.stopped(cycle.path):
        pass
    cycle.close()
    with backup.stopped(cycle.path):  # released with the store
        pass
