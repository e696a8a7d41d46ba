"""The store keeps an alert's TLP marking, and reads the markings earlier versions queued as text."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from builders import IPV4, make_alert

from alertd.domain.tlp import Tlp
from alertd.store.codecs import alert_from_json, alert_to_json
from alertd.store.sqlite import Store

V1 = Path(__file__).with_name("store_v1.sql")


@pytest.mark.parametrize("marking", list(Tlp))
def test_an_alert_keeps_its_marking(tmp_path: Path, marking: Tlp) -> None:
    alert = make_alert(IPV4, tlp=marking)
    assert json.loads(alert_to_json(alert))["tlp"] == marking.value  # the text earlier versions wrote
    store = Store(tmp_path / "state.sqlite3")
    try:
        store.save_findings([alert.finding], [alert], alert.last_seen)
        [queued] = store.queued_alerts(immediate=True)[alert.finding.establishment]
        assert queued.alert == alert
        assert queued.alert.tlp is marking
    finally:
        store.close()


def test_the_alerts_a_version_1_store_holds_read_with_their_marking() -> None:
    db = sqlite3.connect(":memory:")
    db.executescript(V1.read_text(encoding="utf-8"))
    bodies = [body for (body,) in db.execute("SELECT body FROM alerts")]
    db.close()
    assert len(bodies) == 4
    for body in bodies:
        alert = alert_from_json(body)
        assert alert.tlp is Tlp.AMBER
        assert json.loads(alert_to_json(alert))["tlp"] == json.loads(body)["tlp"]


@pytest.mark.parametrize(
    ("stored", "marking"),
    [
        ("green", Tlp.GREEN),
        ("amber+strict", Tlp.AMBER_STRICT),
        ("white", Tlp.CLEAR),  # render read these aliases before the enum: they still mean what they meant
        ("TLP:AMBER", Tlp.AMBER),
        ("amber-strict", Tlp.AMBER_STRICT),
        ("something-odd", Tlp.RED),  # a hand-edited row: fail closed
    ],
)
def test_an_alert_an_earlier_version_queued_reads_with_its_marking(tmp_path: Path, stored: str, marking: Tlp) -> None:
    store = Store(tmp_path / "state.sqlite3")
    try:
        alert = make_alert(IPV4)
        store.save_findings([alert.finding], [alert], alert.last_seen)
        with store.transaction() as db:
            [body] = db.execute("SELECT body FROM alerts").fetchone()
            db.execute("UPDATE alerts SET body = ?", (json.dumps({**json.loads(body), "tlp": stored}),))
        [queued] = store.queued_alerts(immediate=True)[alert.finding.establishment]
        assert queued.alert.tlp is marking
    finally:
        store.close()
