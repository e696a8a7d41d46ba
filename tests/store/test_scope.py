"""The store's part of backlog and bulletins (schema version 3), on a real SQLite file: the scope of first contact,
inventory alerts queued apart from news, the references' counters, and the upgrade from version 2.

``store_v2.sql`` was written at schema version 2 (store_v1.sql opened by that version's store), then dumped as SQL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import DOMAIN, IPV4, make_alert

from alertd.domain.delivery import DeliveryState
from alertd.store.identity import MARKER
from alertd.store.schema import SCHEMA_VERSION
from alertd.store.scope import EPOCH
from alertd.store.sqlite import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHU = "330781196"
V2 = Path(__file__).with_name("store_v2.sql")
V1 = Path(__file__).with_name("store_v1.sql")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "alertd.sqlite3")
    yield store
    store.close()


def open_dump(tmp_path: Path, dump: Path) -> Store:
    path = tmp_path / "alertd.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(dump.read_text(encoding="utf-8"))
    db.close()
    return Store(path)


def test_a_fresh_database_has_no_scope_and_notes_it_once(store: Store) -> None:
    assert store.scope_since() == {}
    assert store.note_scope(["est:a", "sub:s"], NOW) == 2
    assert store.note_scope(["est:a", "sub:s", "est:b"], NOW + timedelta(hours=1)) == 1  # what was known stays
    assert store.scope_since() == {"est:a": NOW, "sub:s": NOW, "est:b": NOW + timedelta(hours=1)}
    assert store.scope_since(["est:b", "sub:s", "est:c"]) == {"sub:s": NOW, "est:b": NOW + timedelta(hours=1)}


def test_scope_keys_are_noted_as_they_are_written(store: Store) -> None:
    # Keys go to SQLite as one JSON array: accents, quotes, backslashes and a generator come back unchanged.
    keys = ['asset:e1:Hôpital "Saint-Jean"', "asset:e1:C:\\partage", "est:ÉTAB-ß", "sub:a,b", "est:\u2028x"]
    assert store.note_scope((key for key in keys), NOW) == len(keys)
    assert store.scope_since() == dict.fromkeys(keys, NOW)
    assert store.note_scope(keys[:2], NOW + timedelta(hours=1)) == 0


@pytest.mark.parametrize("dump", [V2, V1], ids=["version 2", "version 1"])
def test_an_upgraded_database_that_polled_knows_its_first_scope_since_ever(tmp_path: Path, dump: Path) -> None:
    store = open_dump(tmp_path, dump)
    assert store.meta("schema_version") == str(SCHEMA_VERSION) == "4"
    assert store.note_scope(["est:330781196", "sub:imminent-everyone"], NOW) == 2
    assert set(store.scope_since().values()) == {EPOCH}  # not first contact for any feed polled before
    # The seed is used once: what is added later is added since then.
    store.note_scope(["est:new"], NOW)
    assert store.scope_since()["est:new"] == NOW
    store.close()


def test_a_version_2_database_keeps_its_queue_and_history(tmp_path: Path) -> None:
    store = open_dump(tmp_path, V2)
    (digest,) = store.queued_alerts(subscriptions=["hospitals-daily"])[CHU]
    assert not digest.alert.inventory  # no alert was an inventory before
    assert store.queued_alerts(inventory=True) == {}
    history = store.history(CHU)
    assert history and all(h.reference is None for h in history)  # emails sent before references existed
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    store.close()


def test_a_failed_upgrade_from_version_2_leaves_it_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V2.read_text(encoding="utf-8"))
    db.executescript("ALTER TABLE outbox ADD COLUMN reference TEXT;")  # the upgrade stops on it: one transaction
    db.close()
    with pytest.raises(sqlite3.OperationalError, match="duplicate column"):
        Store(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    assert db.execute("SELECT name FROM sqlite_master WHERE name IN ('scope', 'refs')").fetchall() == []
    assert "inventory" not in [row[1] for row in db.execute("PRAGMA table_info(alerts)")]
    db.close()


def test_inventory_alerts_wait_apart_from_news(store: Store) -> None:
    news = make_alert(IPV4)
    backlog = replace(make_alert(DOMAIN), inventory=True, immediate=False)
    store.save_findings([news.finding], [news], NOW)
    store.save_findings([backlog.finding], [backlog], NOW + timedelta(minutes=1))
    assert [q.alert for q in store.queued_alerts(immediate=True)[CHU]] == [news]
    assert store.queued_alerts(subscriptions=["imminent-everyone"]) == {CHU: store.queued_alerts(immediate=True)[CHU]}
    (waiting,) = store.queued_alerts(inventory=True)[CHU]
    assert waiting.alert == backlog
    assert store.inventories_waiting() == {CHU: NOW + timedelta(minutes=1)}
    keys = [news.finding.key, backlog.finding.key]
    assert store.queued_inventory(keys) == {backlog.finding.key}
    delivery = store.enqueue_email(
        establishment=CHU,
        alert_ids=[waiting.id],
        finding_keys=[backlog.finding.key],
        message_id="<alertd.330781196.inv@cert-sante.example>",
        sender="alertes@cert-sante.example",
        recipients=["rssi@chu-bordeaux.example"],
        subject="État des lieux",
        message=b"Subject: inventaire\r\n\r\nbody\r\n",
        now=NOW + timedelta(minutes=6),
        reference="ALERTD-2026-INV-0001",
    )
    assert store.inventories_waiting() == {} and store.queued_inventory(keys) == frozenset()
    # Told once dispatched: the re-notification interval applies from the inventory.
    assert store.finding_states([backlog.finding.key])[backlog.finding.key].last_alerted == NOW + timedelta(minutes=6)
    (told,) = store.history(CHU)
    assert told.alert.inventory and told.reference == "ALERTD-2026-INV-0001" and told.delivery == delivery


def test_a_partly_sent_email_keeps_its_reference(store: Store) -> None:
    alert = make_alert(IPV4)
    store.save_findings([alert.finding], [alert], NOW)
    (queued,) = store.queued_alerts(immediate=True)[CHU]
    delivery = store.enqueue_email(
        establishment=CHU,
        alert_ids=[queued.id],
        finding_keys=[alert.finding.key],
        message_id="<alertd.330781196.1@cert-sante.example>",
        sender="alertes@cert-sante.example",
        recipients=["a@chu.example", "b@chu.example"],
        subject="alerte",
        message=b"Subject: alerte\r\n\r\nbody\r\n",
        now=NOW,
        reference="ALERTD-2026-ALE-0007",
    )
    later, _ = store.mark_partly_sent(delivery, NOW, ["b@chu.example"], [], "450 busy", NOW + timedelta(minutes=1))
    assert later is not None
    refs = dict(store.db.execute("SELECT id, reference FROM outbox").fetchall())
    assert refs == {delivery: "ALERTD-2026-ALE-0007", later: "ALERTD-2026-ALE-0007"}
    assert {d.state for d in store.deliveries()} == {DeliveryState.SENT, DeliveryState.PENDING}


def test_references_increase_per_series_and_year_and_survive_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    assert [store.next_reference("ALE", 2026) for _ in range(3)] == [1, 2, 3]
    assert store.next_reference("INV", 2026) == 1  # a series of its own
    assert store.next_reference("ALE", 2027) == 1  # and a year of its own
    store.close()
    again = Store(tmp_path / "alertd.sqlite3")
    assert again.next_reference("ALE", 2026) == 4  # never handed out twice
    assert again.next_reference("INV", 2026) == 2
    again.close()


def test_a_block_of_references_is_taken_whole_and_its_unused_numbers_are_never_handed_out(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    assert list(store.next_references("ALE", 2026, 5)) == [1, 2, 3, 4, 5]
    assert json.loads((tmp_path / MARKER).read_text())["refs"] == {"ALE-2026": 5}  # the marker knows the block
    with pytest.raises(ValueError, match="at least 1"):
        store.next_references("ALE", 2026, 0)
    store.close()
    # A process that ended with numbers of its block unused (a crash): they are skipped, never reused.
    again = Store(tmp_path / "alertd.sqlite3")
    assert again.next_reference("ALE", 2026) == 6
    assert list(again.next_references("ALE", 2026, 2)) == [7, 8]
    again.close()
