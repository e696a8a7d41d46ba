"""Backlog is not news (issue #12, contract §4), on the example configuration, the real KEV catalogue and a real
SQLite file: a first contact sends each establishment at most one inventory email; only what is new goes as
warnings; what is added later (an establishment, an asset, a subscription) gets its own backlog as an inventory.

The cycles run in process with a fixed clock (``run_once``), the way ``alertd run --once`` does them: the
catalogues polled first, then the other feeds; the news dispatched, then the inventories.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import shutil
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from configs import alertd, every_entry_is_news
from paths import DATA, ROOT

from alertd.config.files import load_config
from alertd.config.registry import RegistryCache
from alertd.domain.values import FeedKind
from alertd.intake.fetch import Fetcher
from alertd.policy.backlog import asset_key
from alertd.policy.decide import INVENTORY_SETTLE
from alertd.service.dispatch import Dispatcher
from alertd.service.engine import Engine
from alertd.store.codecs import finding_from_json
from alertd.store.scope import NOTED_KEY
from alertd.store.sqlite import Store

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # a Monday, 11:00 in Paris: no quiet hours
KEV_2026 = DATA / "kev" / "kev_2026-08-07.json"  # the full catalogue, 1,662 entries, the newest added 2026-08-07
CHU, CLINIC, NORTHBRIDGE, VAL_DE_LYS = "000000011", "000000022", "000000033", "000000044"
ONLINE_C2 = "84.247.157.112"  # Feodo marks it online: in the CHU's network


@dataclass(frozen=True)
class Email:
    """One email as ``history`` tells it: whom, which reference, and its alerts."""

    establishment: str
    reference: str
    inventory: tuple[bool, ...]
    feeds: tuple[str, ...]
    indicators: tuple[str, ...]


def example(tmp_path: Path) -> Path:
    """The example configuration, its KEV sample replaced by the full 2026 catalogue; its alertd.yaml."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    shutil.copyfile(KEV_2026, config / "feeds" / "known_exploited_vulnerabilities.json")
    return config / "alertd.yaml"


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Path]:
    yield example(tmp_path)


def open_engine(settings: Path, cache: RegistryCache | None = None) -> Engine:
    config = load_config(settings, cache)
    return Engine(config, Store.in_state_dir(config.settings.state_dir))


def run_once(engine: Engine, now: datetime) -> list[int]:
    """One cycle as ``run --once`` runs it, at ``now``: the new deliveries' ids."""

    async def poll() -> None:
        feeds = engine.config.feeds
        async with Fetcher() as fetcher:
            for feed in [f for f in feeds if f.kind is FeedKind.VULNERABILITY] + [
                f for f in feeds if f.kind is not FeedKind.VULNERABILITY
            ]:
                assert (await engine.poll(feed, fetcher, now)).ok

    asyncio.run(poll())
    return engine.dispatch(now) + engine.dispatch_inventories(now)


def emails(store: Store, deliveries: list[int] | None = None) -> list[Email]:
    """The emails written (those of ``deliveries`` only, if given), oldest first."""
    alerts = defaultdict(list)
    for entry in store.history():
        if deliveries is None or entry.delivery in deliveries:
            alerts[entry.delivery].append(entry)
    result = []
    for _delivery, told in sorted(alerts.items()):
        assert told[0].reference is not None
        result.append(
            Email(
                told[0].alert.finding.establishment,
                told[0].reference,
                tuple(t.alert.inventory for t in told),
                tuple(t.alert.finding.feed for t in told),
                tuple(t.alert.finding.indicator.value for t in told),
            )
        )
    return result


def inventories(sent: list[Email]) -> dict[str, Email]:
    """The inventory emails, by establishment (failing if one establishment got two)."""
    found = [e for e in sent if all(e.inventory)]
    by_est = {e.establishment: e for e in found}
    assert len(by_est) == len(found), [e.establishment for e in found]
    return by_est


def test_a_first_poll_of_the_full_kev_catalogue_sends_each_establishment_one_inventory(settings: Path) -> None:
    engine = open_engine(settings)
    sent = emails(engine.store, run_once(engine, NOW))
    # News and backlog never share an email, and each establishment gets one inventory.
    assert all(all(e.inventory) or not any(e.inventory) for e in sent)
    assert set(inventories(sent)) == {CHU, CLINIC, NORTHBRIDGE, VAL_DE_LYS}
    # Nothing of the KEV backlog is a warning: the one news is the C2 server Feodo marks online today.
    news = [e for e in sent if not any(e.inventory)]
    assert [(e.establishment, e.indicators) for e in news] == [(CHU, (ONLINE_C2,))]
    assert not engine.store.queued_alerts(immediate=True) and not engine.store.queued_alerts(inventory=True)
    # References: one series for warnings, one for inventories, each counting from 1 this year.
    assert sorted(e.reference for e in sent) == [
        "CERTSANTE-2026-ALE-0001",
        *(f"CERTSANTE-2026-INV-{n:04d}" for n in range(1, 5)),
    ]
    assert "cisa-kev" in inventories(sent)[CHU].feeds
    # Every email's HTML part, as sent (quoted-printable), stays under the 90 KB budget.
    for (message,) in engine.store.db.execute("SELECT message FROM outbox"):
        html = email.message_from_bytes(message, policy=email.policy.default).get_body(("html",))
        assert html is not None and len(html.as_bytes()) < 90 * 1024
    # The next cycle, the feeds unchanged, sends nothing: the inventory counts as told.
    assert run_once(engine, NOW + timedelta(hours=1)) == []
    # Every finding's asset is among the scope noted (the matcher and the scope name assets alike).
    noted = engine.store.scope_since()
    for (body,) in engine.store.db.execute("SELECT body FROM findings"):
        finding = finding_from_json(body)
        assert asset_key(finding.establishment, finding.asset) in noted, finding.asset
    engine.store.close()


def test_an_entry_added_after_the_first_poll_is_news(settings: Path) -> None:
    engine = open_engine(settings)
    run_once(engine, NOW)
    kev = settings.parent / "feeds" / "known_exploited_vulnerabilities.json"
    catalogue = json.loads(kev.read_text(encoding="utf-8"))
    catalogue["vulnerabilities"].insert(
        0,
        {
            "cveID": "CVE-2026-99999",
            "vendorProject": "Citrix",
            "product": "NetScaler ADC",
            "vulnerabilityName": "Citrix NetScaler ADC test vulnerability",
            "dateAdded": (NOW + timedelta(days=1)).strftime("%Y-%m-%d"),  # its own date: added today
            "shortDescription": "A vulnerability added after the first poll.",
            "requiredAction": "Apply mitigations per vendor instructions.",
            "dueDate": (NOW + timedelta(days=22)).strftime("%Y-%m-%d"),
            "knownRansomwareCampaignUse": "Unknown",
            "notes": "",
        },
    )
    kev.write_text(json.dumps(catalogue), encoding="utf-8")
    later = NOW + timedelta(days=1)
    run_once(engine, later)
    digest = engine.store.queued_alerts(subscriptions=["hospitals-daily"])
    new = [q.alert for queued in digest.values() for q in queued]
    assert [(a.finding.establishment, a.finding.indicator.value, a.inventory) for a in new] == [
        (CHU, "CVE-2026-99999", False)
    ]
    assert engine.store.queued_alerts(inventory=True) == {}
    engine.store.close()


# With the daemon's registry cache, a reload takes the establishments of the files it did not parse again as the
# very objects it had, and notes the scope of the others only.
@pytest.mark.parametrize("cache", [None, RegistryCache()], ids=["each file parsed", "files kept across the reload"])
def test_an_establishment_added_later_gets_its_backlog_as_an_inventory(
    settings: Path, cache: RegistryCache | None
) -> None:
    engine = open_engine(settings, cache)
    first = emails(engine.store, run_once(engine, NOW))
    (settings.parent / "establishments" / "new.yaml").write_text(
        "establishments:\n"
        "  - id: '000000055'\n    name: Clinique des Essais\n    kind: CH\n"
        "    contacts: [{email: rssi@essais.example}]\n"
        "    networks: [154.12.224.0/19]\n"  # the clinic's network too: its offline C2s
        "    software: [{vendor: Microsoft, product: Exchange Server, version: 2019 CU12}]\n"
    )
    later = NOW + timedelta(days=2)  # past the compromises' re-notification interval: inventoried, they stay quiet
    engine.reload(load_config(settings, cache))
    assert asyncio.run(engine.rematch(later)) > 0
    sent = emails(engine.store, engine.dispatch(later) + engine.dispatch_inventories(later))
    # The one warning is the reminder of the C2 server told as news (online); nothing told in an inventory.
    assert [(e.establishment, e.indicators) for e in sent if not any(e.inventory)] == [(CHU, (ONLINE_C2,))]
    sent = [e for e in sent if all(e.inventory)]
    assert [(e.establishment, e.reference) for e in sent] == [("000000055", "CERTSANTE-2026-INV-0005")]
    (inventory,) = sent
    assert all(inventory.inventory) and {"cisa-kev", "feodo"} <= set(inventory.feeds)
    # Its next poll finds nothing new for anyone.
    assert run_once(engine, later + timedelta(hours=1)) == []
    assert len(first) == 5
    engine.store.close()


# A restart reads the files again; the store remembers which files its scope was noted for, and notes it again
# only when they changed (here: an asset added while alertd was stopped).
@pytest.mark.parametrize("restart", [False, True], ids=["reload", "restart"])
def test_an_asset_added_later_gets_its_backlog_as_an_inventory(settings: Path, restart: bool) -> None:
    engine = open_engine(settings, RegistryCache(persist=True) if restart else None)
    run_once(engine, NOW)
    if restart:
        noted = engine.store.meta(NOTED_KEY)
        engine.store.close()
        engine = open_engine(settings, RegistryCache(persist=True))
        assert run_once(engine, NOW + timedelta(hours=1)) == []  # the same files: nothing new, nothing noted
        assert engine.store.meta(NOTED_KEY) == noted
    registry = settings.parent / "establishments" / "example.yaml"
    registry.write_text(
        registry.read_text().replace(
            "      - {vendor: Ivanti, product: Connect Secure}",
            "      - {vendor: Ivanti, product: Connect Secure}\n"
            "      - {vendor: Microsoft, product: Exchange Server, version: 2019 CU12}",
        )
    )
    later = NOW + timedelta(days=2)  # past the compromises' re-notification interval: inventoried, they stay quiet
    if restart:
        engine.store.close()
        engine = open_engine(settings, RegistryCache(persist=True))
        assert engine.store.meta(NOTED_KEY) == noted
    else:
        engine.reload(load_config(settings))
    asyncio.run(engine.rematch(later))
    if restart:
        assert engine.store.meta(NOTED_KEY) not in (None, noted)
    waiting = engine.store.queued_alerts(inventory=True)
    assert set(waiting) == {VAL_DE_LYS}
    assets = {q.alert.finding.asset for q in waiting[VAL_DE_LYS]}
    assert assets == {"Microsoft Exchange Server 2019 CU12"}
    # Queued at once: only the reminder of the C2 server told as news (online); nothing told in an inventory.
    immediate = engine.store.queued_alerts(immediate=True)
    assert {est: [q.alert.finding.indicator.value for q in qs] for est, qs in immediate.items()} == {CHU: [ONLINE_C2]}
    sent = emails(engine.store, engine.dispatch(later) + engine.dispatch_inventories(later))
    assert [(e.establishment, all(e.inventory)) for e in sent] == [(CHU, False), (VAL_DE_LYS, True)]
    engine.store.close()


def test_a_subscription_added_later_gets_its_backlog_as_an_inventory(settings: Path) -> None:
    engine = open_engine(settings)
    run_once(engine, NOW)
    subs = settings.parent / "subscriptions.yaml"
    # The clinic is in no subscription for high findings (its KEV findings whose version is not checked).
    subs.write_text(
        subs.read_text()
        + "  - name: clinics-daily\n    establishments: {kind: [clinique]}\n    min_severity: high\n"
        + '    delivery: {digest: "0 8 * * *"}\n'
    )
    later = NOW + timedelta(days=2)  # past the compromises' re-notification interval: inventoried, they stay quiet
    engine.reload(load_config(settings))
    asyncio.run(engine.rematch(later))
    waiting = engine.store.queued_alerts(inventory=True)
    assert set(waiting) == {CLINIC}
    assert {q.alert.subscription for q in waiting[CLINIC]} == {"clinics-daily"}
    assert engine.store.queued_alerts(subscriptions=["clinics-daily"]) == {}  # not in its digest: in the inventory
    sent = emails(engine.store, engine.dispatch_inventories(later))
    assert [(e.establishment, all(e.inventory)) for e in sent] == [(CLINIC, True)]
    engine.store.close()


def test_the_daemon_lets_an_inventory_settle_and_wait_for_quiet_hours_to_end(settings: Path) -> None:
    engine = open_engine(settings)

    async def poll() -> None:
        async with Fetcher() as fetcher:
            for feed in engine.config.feeds:
                await engine.poll(feed, fetcher, NOW)

    asyncio.run(poll())
    assert engine.dispatch_inventories(NOW + timedelta(minutes=4), INVENTORY_SETTLE) == []
    night = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)  # 22:00 in Paris: hospitals-daily's quiet hours
    held = engine.dispatch_inventories(night, INVENTORY_SETTLE)
    # The CHU's and Val de Lys's inventories hold alerts of hospitals-daily: they wait for the morning.
    assert {e.establishment for e in emails(engine.store, held)} == {CLINIC, NORTHBRIDGE}
    morning = datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert {e.establishment for e in emails(engine.store, engine.dispatch_inventories(morning, INVENTORY_SETTLE))} == {
        CHU,
        VAL_DE_LYS,
    }
    engine.store.close()


def test_backlog_after_never_makes_every_entry_news(settings: Path) -> None:
    feeds = settings.parent / "feeds.yaml"
    feeds.write_text(every_entry_is_news(feeds.read_text()))
    engine = open_engine(settings)
    sent = emails(engine.store, run_once(engine, NOW))
    assert sent and not any(any(e.inventory) for e in sent)
    assert any("cisa-kev" in e.feeds for e in sent)  # the KEV backlog warned of at once, as before
    engine.store.close()


def test_a_database_upgraded_from_version_2_does_not_turn_its_next_poll_into_backlog(settings: Path) -> None:
    config = load_config(settings)
    state = config.settings.state_dir
    state.mkdir(parents=True)
    db = sqlite3.connect(state / "alertd.sqlite3")
    db.executescript((ROOT / "tests" / "store" / "store_v2.sql").read_text(encoding="utf-8"))  # feodo polled
    db.close()
    engine = Engine(config, Store.in_state_dir(state))
    run_once(engine, NOW)
    by_feed: dict[str, set[bool]] = defaultdict(set)
    for entry in engine.store.history():
        by_feed[entry.alert.finding.feed].add(entry.alert.inventory)
    assert by_feed["feodo"] == {False}  # polled before the upgrade: its old entries are news
    assert by_feed["cisa-kev"] == {True}  # never polled: its first contact
    engine.store.close()


def test_the_alertd_command_tells_the_inventory(tmp_path: Path) -> None:
    settings = example(tmp_path)
    first = alertd(settings, "run", "--once", log_level="warning")
    assert first.returncode == 0, first.stderr
    assert "emails: 5 written to the outbox (4 inventory)" in first.stdout
    assert "backlog, for the inventory" in first.stdout
    rows = [json.loads(line) for line in alertd(settings, "history", "--json").stdout.splitlines()]
    inventory = {r["establishment"]: r["reference"] for r in rows if r["inventory"]}
    assert sorted(inventory.values()) == [f"CERTSANTE-2026-INV-{n:04d}" for n in range(1, 5)]
    text = alertd(settings, "history").stdout
    assert "(inventory)" in text and "-INV-0001" in text
    again = alertd(settings, "run", "--once", log_level="warning")
    assert "emails: 0 written to the outbox" in again.stdout


def test_an_email_that_fails_to_render_keeps_its_reference_for_the_next_attempt(
    settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_engine(settings)
    compose, attempts = Dispatcher._rendered, []  # what dispatch renders with

    def failing_twice(self: Dispatcher, *args: Any, **kwargs: Any) -> Any:
        attempts.append(kwargs["reference"])
        if len(attempts) <= 2:
            raise RuntimeError("a broken template")  # the alerts stay queued
        return compose(self, *args, **kwargs)

    monkeypatch.setattr(Dispatcher, "_rendered", failing_twice)
    first = run_once(engine, NOW)
    again = engine.dispatch(NOW + timedelta(minutes=1)) + engine.dispatch_inventories(NOW + timedelta(minutes=1))
    assert len(first) == 3 and len(again) == 2
    # The two failed emails went out under the numbers they were first given: no gap, no number spent twice.
    sent = sorted(e.reference for e in emails(engine.store))
    assert sent == ["CERTSANTE-2026-ALE-0001", *(f"CERTSANTE-2026-INV-{n:04d}" for n in range(1, 5))]
    assert len(attempts) == 7 and set(attempts[:2]) <= set(attempts[2:])  # retried under their first numbers
    engine.store.close()


def test_a_dispatch_takes_its_references_in_one_block_and_a_new_process_skips_what_it_left(
    settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_engine(settings)
    blocks: list[tuple[str, int]] = []
    take = Store.next_references

    def counted(self: Store, series: str, year: int, count: int) -> range:
        blocks.append((series, count))
        return take(self, series, year, count)

    monkeypatch.setattr(Store, "next_references", counted)
    assert len(run_once(engine, NOW)) == 5
    # The 4 inventories took their numbers in one transaction (one marker rewrite), the warning one of its own.
    assert sorted(blocks) == [("ALE", 1), ("INV", 4)]
    assert [e.reference for e in emails(engine.store)][-1] == "CERTSANTE-2026-INV-0004"
    # A dispatch that leaves numbers of its block unused (the process ends): the next process skips them.
    engine.dispatcher.reference("INV", NOW, ahead=10)
    engine.store.close()
    again = open_engine(settings)
    assert again.dispatcher.reference("INV", NOW) == "CERTSANTE-2026-INV-0015"
    again.store.close()
