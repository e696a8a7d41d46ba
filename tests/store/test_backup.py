"""Online backups and restores of the store (contract §1, "Recovering state"): SQLite's backup API while the store
is open, checked before the oldest backup goes; a restore keeps the replaced file aside and carries in, from the
send journal, what was sent since the backup."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from builders import DOMAIN, IPV4, NOW, make_alert
from sent_mail import tell

from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import DamagedState, StateRefused
from alertd.store import backup
from alertd.store.sqlite import Store


def test_a_backup_of_the_open_store_is_one_checked_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    tell(store, make_alert(IPV4))
    made, removed = backup.take(store.path, tmp_path / "backups", 7, NOW)
    assert made == tmp_path / "backups" / "alertd-20250312T130500Z.sqlite3" and removed == []
    assert sorted(p.name for p in made.parent.iterdir()) == [made.name]  # no -wal beside it
    assert made.stat().st_mode & 0o777 == 0o600
    assert backup.is_good(made)
    store.close()


def test_only_the_newest_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    folder = tmp_path / "backups"
    for hours in range(4):
        backup.take(store.path, folder, 2, NOW + timedelta(hours=hours))
    kept = ["alertd-20250312T160500Z.sqlite3", "alertd-20250312T150500Z.sqlite3"]
    assert [p.name for p in backup.backups(folder)] == kept
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
