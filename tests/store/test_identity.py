"""The store's identity and high-water mark (contract §1, "Recovering state"): a store that is not the one
state_dir had (missing, empty, another's, an old copy) is refused with the path and the next steps, ``new_state``
accepts it knowingly, and the send journal carries into it what was told."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from builders import DOMAIN, IPV4, NOW, make_alert
from sent_mail import CHU, copy_of, queue, tell

from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import DamagedState, LostState, StateDirError
from alertd.store import journal
from alertd.store.identity import MARKER, read_marker
from alertd.store.sqlite import Store


def test_the_marker_follows_every_send_and_reference(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    marker = read_marker(tmp_path / MARKER)
    assert marker is not None and marker.high.sends == 0
    tell(store, make_alert(IPV4))
    marker = read_marker(tmp_path / MARKER)
    assert marker is not None
    assert (marker.high.sends, dict(marker.high.refs)) == (1, {"ALE-2025": 1})
    assert store.meta("store_id") == marker.store
    (sent,) = journal.read(tmp_path / journal.JOURNAL)
    assert (sent.seq, sent.message_id, sent.reference) == (1, "<m0@cert.example>", "CERT-2025-ALE-0001")
    assert [t.key for t in sent.findings] == [make_alert(IPV4).finding.key]
    store.close()


@pytest.mark.parametrize(("damage", "found"), [("delete", "no file"), ("empty", "an empty file")])
def test_a_lost_store_is_refused_with_the_path_and_the_next_steps(tmp_path: Path, damage: str, found: str) -> None:
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    tell(store, make_alert(IPV4))
    store.close()
    for side in tmp_path.glob("alertd.sqlite3-*"):
        side.unlink()
    path.unlink()
    if damage == "empty":
        path.touch()
    with pytest.raises(LostState) as refused:
        Store(path)
    words = str(refused.value)
    assert f"{path}: {found}" in words and "sent 1 emails" in words
    assert "alertd state restore" in words and "alertd run --once --new-state" in words
    assert path.exists() == (damage == "empty")  # refused before anything was created


def test_backups_alone_say_a_store_existed(tmp_path: Path) -> None:
    (tmp_path / "backups").mkdir()
    (tmp_path / "backups" / "alertd-20250312T130500Z.sqlite3").write_bytes(b"")
    with pytest.raises(LostState, match="backups of it exist in"):
        Store(tmp_path / "alertd.sqlite3")


def test_an_old_copy_put_back_by_hand_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    tell(store, make_alert(IPV4))
    old = copy_of(store, tmp_path / "old.sqlite3")
    tell(store, make_alert(DOMAIN), minutes=5)
    store.close()
    shutil.copyfile(old, path)
    with pytest.raises(LostState, match=r"older than what it sent \(2 emails sent, the store knows of 1; reference"):
        Store(path)


def test_another_stores_file_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "alertd.sqlite3").close()
    other = Store(tmp_path / "other" / "alertd.sqlite3")
    other.close()
    shutil.copyfile(other.path, tmp_path / "alertd.sqlite3")
    with pytest.raises(LostState, match="this is another store's file"):
        Store(tmp_path / "alertd.sqlite3")


def test_new_state_carries_in_what_was_told_and_keeps_the_references(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    tell(store, make_alert(IPV4))
    tell(store, make_alert(DOMAIN), minutes=5)
    store.close()
    path.unlink()
    store = Store(path, new_state=True)
    assert store.carried == (2, 2)
    states = store.finding_states([make_alert(IPV4).finding.key, make_alert(DOMAIN).finding.key])
    assert {s.last_alerted for s in states.values()} == {NOW, NOW + timedelta(minutes=5)}
    assert store.next_reference("ALE", 2025) == 3  # never a number handed out before
    tell(store, make_alert(IPV4, est_id=CHU, asset="147.210.0.0/17"), minutes=10)
    marker = json.loads((tmp_path / MARKER).read_text())
    assert marker["sends"] == 3 and marker["store"] == store.meta("store_id")
    store.close()
    Store(path).close()  # the new store is the marker's now


def test_a_damaged_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    store = Store(path)
    for minutes in range(40):
        tell(store, make_alert(IPV4, asset=f"147.210.{minutes}.0/24"), minutes=minutes)
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2)
        f.write(b"\x5a" * min(65536, size // 3))
    with pytest.raises(DamagedState, match=f"{path} is damaged .*alertd state restore"):
        Store(path, check=True)


def test_a_file_where_state_dir_should_be_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(StateDirError, match=f"state_dir {tmp_path / 'state'} is a file, not a folder"):
        Store.in_state_dir(tmp_path / "state")
    with pytest.raises(StateDirError, match="a file stands where one of its folders should be"):
        Store.in_state_dir(tmp_path / "state" / "deeper")


def test_a_send_journalled_but_not_recorded_is_marked_sent_at_the_next_start(tmp_path: Path) -> None:
    # A crash between the journal's fsync and the store's commit: the relay took the email, the store still says
    # `sending`. The next start reads it in the journal and marks it sent instead of sending it again.
    store = Store(tmp_path / "alertd.sqlite3")
    tell(store, make_alert(IPV4))  # one email sent and recorded: the journal's first line
    delivery = queue(store, make_alert(DOMAIN), minutes=1, reference=False)
    store.mark_sending(delivery)
    store._journal_send(delivery, NOW)  # journalled, then the process died before the commit
    store.close()

    again = Store(tmp_path / "alertd.sqlite3")
    assert again.settled == 1
    assert again.due_deliveries(NOW + timedelta(days=1)) == []
    assert [d.id for d in again.deliveries(DeliveryState.SENT)] == [1, delivery]
    # The numbering goes on after the journalled send: the next send is the third, not a second "second".
    tell(again, make_alert(IPV4), minutes=5)
    assert [s.seq for s in journal.read(tmp_path / journal.JOURNAL)] == [1, 2, 3]
    again.close()
    assert Store(tmp_path / "alertd.sqlite3").settled == 0  # recorded now: nothing more to settle
