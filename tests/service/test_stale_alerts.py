"""An alert replaced while its email renders off the event loop: the old email is not queued, and the establishment
is planned again at once, its new alert sent once (never the old one and the new one both); on a real SQLite file."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from builders import DOMAIN, IPV4, make_alert
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.errors import StaleAlerts
from alertd.domain.values import Severity
from alertd.service.dispatch import Dispatcher
from alertd.service.engine import Engine
from alertd.store.records import Outgoing, QueuedAlert
from alertd.store.sqlite import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CHU = "330781196"
GARONNE = "000000011"  # of the example configuration


def enqueue(store: Store, queued: list[QueuedAlert]) -> int:
    return store.enqueue_email(
        establishment=CHU,
        alert_ids=[q.id for q in queued],
        bodies=[q.body for q in queued],
        finding_keys=[],
        message_id="<alertd.330781196.1@cert-sante.example>",
        sender="alertes@cert-sante.example",
        recipients=["rssi@chu-bordeaux.example"],
        subject="alertes",
        message=b"Subject: alertes\r\n\r\nbody\r\n",
        now=NOW,
    )


def test_an_email_whose_alert_was_replaced_is_not_queued(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    first = make_alert(IPV4, severity=Severity.HIGH)
    store.save_findings([first.finding], [first], NOW)
    (old,) = store.queued_alerts(immediate=True)[CHU]
    second = replace(first, severity=Severity.IMMINENT)  # a newer decision on the same finding
    store.save_findings([second.finding], [second], NOW)
    with pytest.raises(StaleAlerts):
        enqueue(store, [old])
    assert store.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0  # nothing written
    (new,) = store.queued_alerts(immediate=True)[CHU]
    assert new.body != old.body and enqueue(store, [new]) > 0
    store.close()


def test_a_batch_puts_its_emails_in_the_outbox_in_one_transaction_and_leaves_a_stale_one_out(tmp_path: Path) -> None:
    store = Store(tmp_path / "alertd.sqlite3")
    kept, replaced = make_alert(IPV4, severity=Severity.HIGH), make_alert(DOMAIN, severity=Severity.HIGH)
    store.save_findings([kept.finding, replaced.finding], [kept, replaced], NOW)
    queued = {q.alert.finding.key: q for q in store.queued_alerts(immediate=True)[CHU]}
    newer = replace(replaced, severity=Severity.IMMINENT)
    store.save_findings([newer.finding], [newer], NOW)

    def outgoing(q: QueuedAlert, n: int) -> Outgoing:
        return Outgoing(
            establishment=CHU,
            alert_ids=[q.id],
            finding_keys=[q.alert.finding.key],
            message_id=f"<alertd.{n}@cert-sante.example>",
            sender="alertes@cert-sante.example",
            recipients=["rssi@chu-bordeaux.example"],
            subject="alertes",
            message=b"Subject: alertes\r\n\r\nbody\r\n",
            bodies=[q.body],
        )

    done = store.enqueue_emails([outgoing(queued[kept.finding.key], 1), outgoing(queued[replaced.finding.key], 2)], NOW)
    assert isinstance(done[0], int) and isinstance(done[1], StaleAlerts)
    # The first email is in the outbox with its alert marked; nothing of the second was written.
    assert [d.id for d in store.deliveries()] == [done[0]]
    assert [q.alert.severity for q in store.queued_alerts(immediate=True)[CHU]] == [Severity.IMMINENT]
    store.close()


def test_a_poll_replacing_an_alert_while_its_email_renders_gives_one_email(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    config = load_config(tmp_path / "config" / "alertd.yaml")
    store = Store(tmp_path / "alertd.sqlite3")
    engine = Engine(config, store)
    first = make_alert(IPV4, est_id=GARONNE, asset="84.247.157.0/24", severity=Severity.HIGH)
    store.save_findings([first.finding], [first], NOW)
    render = Dispatcher._render
    polls: list[int] = []

    def render_while_a_poll_lands(self: Dispatcher, *args: object) -> object:
        if not polls:  # the first render: a poll replaces the alert meanwhile (the render runs in a worker)
            polls.append(1)
            second = replace(first, severity=Severity.IMMINENT)
            writer = Store(tmp_path / "alertd.sqlite3")  # the poll's own connection, as the writer thread's
            writer.save_findings([second.finding], [second], NOW)
            writer.close()
        return render(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Dispatcher, "_render", render_while_a_poll_lands)
    # The stale email is not queued; the establishment is planned again at once (a digest must not wait for its
    # next slot): one email, carrying the newer decision.
    sent = asyncio.run(engine.dispatch_off_loop(NOW))
    assert len(sent) == 1 and polls == [1]
    dispatched = store.db.execute("SELECT severity FROM alerts WHERE delivery IS NOT NULL").fetchall()
    assert [row[0] for row in dispatched] == [int(Severity.IMMINENT)]
    assert asyncio.run(engine.dispatch_off_loop(NOW)) == []  # nothing left to send again
    rows = store.db.execute("SELECT COUNT(*) FROM outbox WHERE establishment = ?", (GARONNE,)).fetchone()[0]
    assert rows == 1
    assert store.queued_alerts(immediate=True).get(GARONNE, []) == []  # nothing left to send again
    store.close()
