"""The engine's scheduling rules and its resilience: back-off, staleness, a crashing parser."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from configs import copy_example
from paths import ROOT

from alertd.config.files import load_config
from alertd.domain.feeds import FeedFormat, Validators
from alertd.domain.values import Alert, Finding, Observation
from alertd.intake import formats as parse
from alertd.intake.fetch import Fetcher
from alertd.service.engine import Engine
from alertd.service.poll import poll_delay, stale_feeds
from alertd.store.sqlite import Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def poll_all(engine: Engine) -> None:
    """Every feed of the engine's configuration polled once, at ``NOW``."""

    async def run() -> None:
        async with Fetcher() as fetcher:
            for feed in engine.config.feeds:
                await engine.poll(feed, fetcher, NOW)

    asyncio.run(run())


def test_poll_delay_backs_off_and_never_polls_faster_than_the_interval() -> None:
    interval = timedelta(minutes=15)
    assert poll_delay(interval, 0) == interval
    delays = [poll_delay(interval, n) for n in range(1, 8)]
    assert all(d >= interval for d in delays)
    assert delays[1] >= 2 * interval and delays[2] >= 4 * interval
    assert max(delays) <= timedelta(hours=6) * 1.2  # capped
    daily = timedelta(days=1)
    assert poll_delay(daily, 5) >= daily  # the cap never brings a slow feed's pace up


def test_stale_feeds(tmp_path: Path) -> None:
    config = load_config(ROOT / "config" / "alertd.yaml")
    store = Store(tmp_path / "s.sqlite3")
    store.record_fetch("feodo", NOW - timedelta(hours=3), Validators(None, None), 10)  # 30m interval: 2h limit
    store.record_fetch("cisa-kev", NOW - timedelta(hours=3), Validators(None, None), 10)  # 1h: 4h limit
    assert stale_feeds(config, store.feed_states(), NOW) == [
        ("feodo", "no successful poll since " + (NOW - timedelta(hours=3)).isoformat(timespec="seconds"))
    ]
    store.close()


def test_a_crashing_parser_fails_its_feed_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    config = load_config(tmp_path / "config" / "alertd.yaml")
    store = Store(tmp_path / "s.sqlite3")
    engine = Engine(config, store)

    def broken(feed: object, body: bytes) -> list[Observation]:
        raise KeyError("a bug")

    monkeypatch.setitem(parse.FORMATS, FeedFormat.CISA_KEV, replace(parse.FORMATS[FeedFormat.CISA_KEV], parse=broken))

    async def cycle() -> list[bool]:
        async with Fetcher() as fetcher:
            return [(await engine.poll(f, fetcher, NOW)).ok for f in config.feeds]

    assert asyncio.run(cycle()) == [True, False, True, True]  # feodo, cisa-kev (broken), cisco-csaf, certfr
    state = store.feed_state("cisa-kev")
    assert state.consecutive_failures == 1 and state.last_error and "internal error" in state.last_error
    store.close()


def test_a_renamed_digest_does_not_strand_its_queued_alerts(tmp_path: Path) -> None:
    copy_example(tmp_path / "config")
    subs = tmp_path / "config" / "subscriptions.yaml"
    store = Store(tmp_path / "s.sqlite3")
    engine = Engine(load_config(tmp_path / "config" / "alertd.yaml"), store)

    poll_all(engine)
    waiting = store.queued_alerts(subscriptions=["hospitals-daily"])
    assert waiting and all(q.alert.subscription == "hospitals-daily" for qs in waiting.values() for q in qs)
    subs.write_text(subs.read_text().replace("hospitals-daily", "hospitals-morning"))
    engine.reload(load_config(tmp_path / "config" / "alertd.yaml"))
    assert store.queued_alerts(subscriptions=["hospitals-daily"]) == {}
    assert asyncio.run(engine.rematch(NOW)) == sum(len(qs) for qs in waiting.values())
    again = store.queued_alerts(subscriptions=["hospitals-morning"])
    assert {k: len(v) for k, v in again.items()} == {k: len(v) for k, v in waiting.items()}
    store.close()


def test_only_one_process_sends_the_outbox(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "s.sqlite3"), Store(tmp_path / "s.sqlite3")
    assert first.claim_sender() and first.claim_sender()
    assert not second.claim_sender()
    first.close()
    assert second.claim_sender()  # the holder is gone (or dead): the next one takes over
    second.close()


def test_a_reload_drops_the_queued_alerts_of_a_removed_establishment_only(tmp_path: Path) -> None:
    copy_example(tmp_path / "config")
    registry = tmp_path / "config" / "establishments" / "example.yaml"
    store = Store(tmp_path / "s.sqlite3")
    engine = Engine(load_config(tmp_path / "config" / "alertd.yaml"), store)

    poll_all(engine)
    waiting = {k: len(v) for k, v in store.queued_alerts(subscriptions=["hospitals-daily"]).items()}
    assert len(waiting) >= 2
    # A reload that removes nobody (an establishment renamed) keeps every queued alert.
    text = registry.read_text()
    registry.write_text(text.replace("    name: ", "    name: Renamed ", 1))
    engine.reload(load_config(tmp_path / "config" / "alertd.yaml"))
    assert {k: len(v) for k, v in store.queued_alerts(subscriptions=["hospitals-daily"]).items()} == waiting
    # One that removes an establishment drops its queued alerts, and only those.
    head, *items = text.split('\n  - id: "')
    gone = sorted(waiting)[0]
    registry.write_text('\n  - id: "'.join([head, *(item for item in items if not item.startswith(f'{gone}"'))]))
    engine.reload(load_config(tmp_path / "config" / "alertd.yaml"))
    left = {k: len(v) for k, v in store.queued_alerts(subscriptions=["hospitals-daily"]).items()}
    assert gone not in engine.config.registry.establishments
    assert left == {k: n for k, n in waiting.items() if k != gone}
    store.close()


def test_a_reload_that_removes_an_establishment_while_a_poll_writes_its_alerts_leaves_none_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reload's own check of the queue (Engine.adopt) runs before the poll's alerts are committed: the poll,
    finding the configuration replaced once they are written, checks again."""
    copy_example(tmp_path / "config")
    registry = tmp_path / "config" / "establishments" / "example.yaml"
    text = registry.read_text()
    store = Store(tmp_path / "s.sqlite3")
    engine = Engine(load_config(tmp_path / "config" / "alertd.yaml"), store)
    gone = "000000011"  # the example's establishment with queued alerts of its own
    head, *items = text.split('\n  - id: "')
    assert any(item.startswith(f'{gone}"') for item in items)
    real = store.save_findings_off_loop
    fired: list[str] = []

    async def racing(findings: list[Finding], alerts: list[Alert], now: datetime) -> None:
        if not fired and any(alert.finding.establishment == gone for alert in alerts):
            fired.append(gone)  # the removing reload lands while the alerts are being written
            registry.write_text('\n  - id: "'.join([head, *(i for i in items if not i.startswith(f'{gone}"'))]))
            engine.reload(load_config(tmp_path / "config" / "alertd.yaml"))
        await real(findings, alerts, now)

    monkeypatch.setattr(store, "save_findings_off_loop", racing)

    poll_all(engine)
    assert fired
    queued = store.db.execute(
        "SELECT count(*) FROM alerts WHERE delivery IS NULL AND establishment = ?",
        (gone,),
    ).fetchone()[0]
    assert queued == 0
    store.close()
