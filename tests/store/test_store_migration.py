"""A state database written by an earlier alertd opens and keeps working (contract §1: upgrades keep the state).

``store_v1.sql`` was written at schema version 1 through that version's own store methods, then dumped as SQL.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from builders import CVE, IPV4, make_alert

from alertd.domain.codes import MatchReason
from alertd.domain.delivery import DeliveryState
from alertd.domain.errors import StoreError
from alertd.domain.knowledge import Statement
from alertd.domain.values import Product, VersionRange
from alertd.store.codecs import observation_from_json
from alertd.store.schema import SCHEMA_VERSION
from alertd.store.sqlite import Store

DUMP = Path(__file__).with_name("store_v1.sql")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHU = "330781196"


def open_v1(tmp_path: Path) -> Store:
    path = tmp_path / "alertd.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(DUMP.read_text(encoding="utf-8"))
    db.close()
    return Store(path)


def test_a_version_1_database_reads_as_it_was_written(tmp_path: Path) -> None:
    store = open_v1(tmp_path)
    assert store.meta("schema_version") == str(SCHEMA_VERSION)
    assert store.meta("digest:hospitals-daily") == "2026-11-27T12:00:00+00:00"
    # Every stored entry saying something of a CVE became knowledge, the delisted one too (knowledge outlives a
    # delisting); the advisory citing the CVE without saying anything of it did not.
    assert store.knowledge() == {
        "CVE-2020-0001": [Statement("nvd", "CVE-2020-0001", (Product("acme", "widget", (VersionRange("1.0"),)),))],
        "CVE-2023-4966": [
            Statement(
                "nvd",
                "CVE-2023-4966",
                (
                    Product(
                        "citrix",
                        "netscaler_adc",
                        (
                            VersionRange(None, "13.1", None, None, "13.1-49.15"),
                            VersionRange("14.1-8.50", None, None, None, None),
                        ),
                    ),
                    Product("citrix", "netscaler_gateway", ()),
                ),
                exploited=True,
                cvss="9.4",
            )
        ],
    }
    listed = store.listed_bodies()
    assert {feed: len(bodies) for feed, bodies in listed.items()} == {"certfr": 1, "feodo": 1, "nvd": 1}
    assert observation_from_json(listed["nvd"][0]).exploited
    assert store.queued_alerts(immediate=True) == {}
    (digest,) = store.queued_alerts(subscriptions=["hospitals-daily"])[CHU]
    assert digest.alert.finding.indicator.value == "147.210.9.9" and not digest.alert.immediate
    assert [(d.id, d.state, d.attempts) for d in store.deliveries()] == [
        (1, DeliveryState.SENT, 1),
        (2, DeliveryState.FAILED, 1),
        (3, DeliveryState.PENDING, 1),
    ]
    assert [d.id for d in store.due_deliveries(NOW)] == [3]
    assert store.outbox_counts() == {DeliveryState.SENT: 1, DeliveryState.FAILED: 1, DeliveryState.PENDING: 1}
    history = store.history(CHU)
    assert [(h.alert.finding.indicator.value, h.state) for h in history] == [
        ("vpn.chu-bordeaux.example", DeliveryState.PENDING),
        ("147.210.1.5", DeliveryState.SENT),
        ("CVE-2023-4966", DeliveryState.SENT),
    ]
    assert history[0].when == NOW - timedelta(minutes=30)  # queued, not sent yet
    assert history[1].when == NOW - timedelta(hours=2) + timedelta(seconds=3)  # sent
    assert store.feed_state("nvd").validators.etag == '"v7"'
    assert store.feed_state("certfr").consecutive_failures == 1
    store.close()


def test_a_version_1_database_keeps_working(tmp_path: Path) -> None:
    store = open_v1(tmp_path)
    # The same entries polled again are unchanged: an entry is stored as the earlier version stored it.
    observations = [observation_from_json(body) for body in store.listed_bodies("nvd")["nvd"]]
    delta = store.save_observations("nvd", observations, NOW)
    assert (delta.new, delta.changed, delta.unchanged, delta.delisted) == (0, 0, 1, 0)
    assert delta.knowledge_changed == frozenset()  # the upgrade stored what it says already
    assert store.requeue(2, NOW)
    alert = make_alert(IPV4)
    states = store.finding_states([alert.finding.key])
    assert states[alert.finding.key].last_alerted is not None  # the earlier version's email counts
    store.save_findings([alert.finding], [alert], NOW)
    (queued,) = store.queued_alerts(immediate=True)[CHU]
    delivery = store.enqueue_email(
        establishment=CHU,
        alert_ids=[queued.id],
        finding_keys=[alert.finding.key],
        message_id="<alertd.330781196.new@cert-sante.example>",
        sender="alertes@cert-sante.example",
        recipients=["rssi@chu-bordeaux.example"],
        subject="[CERT Santé] 1 alerte",
        message=b"Subject: 1 alerte\r\n\r\nagain\r\n",
        now=NOW,
    )
    assert queued.thread == "<alertd.330781196.0123456789abcdef@cert-sante.example>"  # follow-ups keep the thread
    store.mark_sending(delivery)
    store.mark_sent(delivery, NOW + timedelta(seconds=1))
    assert store.outbox_counts() == {DeliveryState.SENT: 2, DeliveryState.PENDING: 2}
    store.close()
    again = Store(store.path)  # opening twice migrates nothing twice
    assert again.meta("schema_version") == str(SCHEMA_VERSION)
    assert [d.id for d in again.due_deliveries(NOW)] == [2, 3]
    again.close()


CITRIX_ADC = "Citrix NetScaler ADC 13.1-49.13"
V1_KEY = "d0e5510fa8059a514ac29e1a1c981b14"  # the software finding's key in the dump: no asset in it


def test_a_software_finding_told_before_the_upgrade_is_not_told_again(tmp_path: Path) -> None:
    store = open_v1(tmp_path)
    # The same finding as the earlier version told it, found again by this version: keyed by its asset now.
    finding = make_alert(CVE, reason=MatchReason.KEV_PRODUCT, asset=CITRIX_ADC, feed="nvd").finding
    assert finding.key != V1_KEY
    (state,) = store.finding_states([finding.key]).values()
    assert state.last_alerted == NOW - timedelta(hours=2)
    assert list(store.told_software_findings("nvd", [finding.entry])) == [finding.key]
    # A second asset hit by the same CVE is a finding of its own, never told.
    other = make_alert(CVE, reason=MatchReason.KEV_PRODUCT, asset="Citrix NetScaler Gateway 13.1", feed="nvd")
    assert store.finding_states([other.finding.key]) == {}
    # Its alert follows it, and the other findings keep their keys.
    assert [row[0] for row in store.db.execute("SELECT finding FROM alerts WHERE id = 3")] == [finding.key]
    assert store.finding_states([make_alert(IPV4).finding.key])
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert [h.alert.finding.indicator for h in store.history(CHU)][-1] == CVE
    store.close()


def test_a_failed_upgrade_leaves_the_version_1_database_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(DUMP.read_text(encoding="utf-8"))
    with db:  # a software finding this version cannot read: the upgrade stops on it
        db.execute("UPDATE findings SET body = json_set(body, '$.indicator[0]', 'bogus') WHERE key = ?", (V1_KEY,))
    db.close()
    with pytest.raises(ValueError, match="bogus"):
        Store(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'knowledge'").fetchall() == []
    assert "resolution" not in [row[1] for row in db.execute("PRAGMA table_info(findings)")]
    db.close()


def test_a_database_of_a_later_version_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "alertd.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);")
    with db:
        db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION + 1),))
    db.close()
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this alertd"):
        Store(path)
    db = sqlite3.connect(path)
    assert [name for (name,) in db.execute("SELECT name FROM sqlite_master")] == ["meta", "sqlite_autoindex_meta_1"]
    db.close()


def test_a_new_database_has_this_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    assert store.meta("schema_version") == str(SCHEMA_VERSION) == "4"
    assert store.knowledge() == {}
    store.close()
