"""TLP from the source wins, and TLP:RED is never emailed (issue #13 point 3), through the real engine and store.

Real MISP, STIX and CSAF samples, re-marked in memory and served from files; the emails are read from the outbox.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from configs import MAILDIR_SETTINGS, alertd
from paths import DATA

from alertd.config.files import load_config
from alertd.domain.delivery import OPERATORS
from alertd.intake.fetch import Fetcher
from alertd.service.engine import Engine
from alertd.service.poll import PollReport
from alertd.store.sqlite import Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REDDRIVER = DATA / "misp" / "talos_2023-07_reddriver.json"
INTERLOCK = DATA / "stix" / "talos_stix20_2024-11_emerging-interlock-ransomware.json"
CERBERUS = DATA / "csaf" / "icsa-24-074-09.json"
TLP2_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"

ESTABLISHMENTS = """\
establishments:
  - id: e-misp
    name: CH Domaines
    contacts: [{email: rssi@ch-domaines.example}]
    domains: [itosha.top]
  - id: e-stix
    name: CH Réseaux
    contacts: [{email: rssi@ch-reseaux.example}]
    networks: [23.95.182.0/24, 195.201.21.0/24]
  - id: e-csaf
    name: CH Incendie
    contacts: [{email: rssi@ch-incendie.example}]
    software: [{vendor: Siemens, product: Cerberus PRO EN Engineering Tool}]
"""


class Setup:
    """A configuration of three feeds, all marked ``clear`` by the operator, read from files the test writes."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        (tmp / "establishments.yaml").write_text(ESTABLISHMENTS)
        (tmp / "subscriptions.yaml").write_text(
            "subscriptions:\n  - {name: all, establishments: all, min_severity: info, delivery: immediate}\n"
        )
        feeds = [("misp", "misp", "compromise"), ("stix", "stix", "compromise"), ("csaf", "csaf", "vulnerability")]
        (tmp / "feeds.yaml").write_text(
            "feeds:\n"
            + "".join(
                f"  - {{id: {i}, url: 'file://{tmp / (i + '.json')}', format: {fmt}, kind: {kind}, tlp: clear, "
                "interval: 1h, backlog_after: never}\n"
                for i, fmt, kind in feeds
            )
        )
        self.config_file = tmp / "alertd.yaml"
        self.config_file.write_text(MAILDIR_SETTINGS)

    def write(self, feed: str, data: dict[str, Any]) -> None:
        (self.tmp / f"{feed}.json").write_text(json.dumps(data))

    def engine(self) -> tuple[Engine, Store]:
        config = load_config(self.config_file)
        store = Store.in_state_dir(config.settings.state_dir)
        return Engine(config, store), store

    def poll(self, feed_id: str) -> tuple[PollReport, list[EmailMessage], Store, Engine]:
        engine, store = self.engine()
        feed = next(f for f in engine.config.feeds if f.id == feed_id)

        async def run() -> PollReport:
            async with Fetcher(trust_env=False) as fetcher:
                return await engine.poll(feed, fetcher, NOW)

        report = asyncio.run(run())
        ids = engine.dispatch(NOW)
        return report, [email(store, i) for i in ids], store, engine


def email(store: Store, delivery: int) -> EmailMessage:
    msg = message_from_bytes(store.message(delivery), policy=policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def misp_retagged(tag: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(REDDRIVER.read_bytes())
    for t in data["response"][0]["Event"]["Tag"]:
        if t["name"].strip().lower().startswith("tlp:"):
            t["name"] = tag
    return data


def test_a_misp_event_retagged_red_is_emailed_to_nobody_and_told_to_the_operators_once(setup: Setup) -> None:
    setup.write("misp", misp_retagged("tlp:red"))
    report, emails, store, engine = setup.poll("misp")
    assert report.ok and report.findings > 0
    assert report.alerts == 0 and emails == []
    assert store.queued_alerts() == {}

    notice_id = engine.notify_operators(NOW)
    assert notice_id is not None
    notice = email(store, notice_id)
    assert notice["To"] == "soc@cert-test.example"
    body = text_of(notice)
    red_lines = [line for line in body.splitlines() if line.startswith("- TLP:RED finding")]
    assert red_lines == ["- TLP:RED finding for e-misp not emailed"] * report.findings
    assert "itosha.top" in body and "share it by hand" in body
    assert {d.establishment for d in store.deliveries()} == {OPERATORS}
    # Told once, not every day it lasts; a second poll still emails nobody.
    later = engine.notify_operators(NOW.replace(day=3))  # the feed is stale by then: that alone is told
    assert later is None or "TLP:RED" not in text_of(email(store, later))
    report, emails, _, _ = setup.poll("misp")
    assert report.alerts == 0 and emails == []


def test_the_same_event_tagged_amber_is_emailed_amber(setup: Setup) -> None:
    setup.write("misp", misp_retagged("tlp:amber"))
    report, emails, _, _ = setup.poll("misp")
    assert report.alerts > 0 and len(emails) == 1
    assert emails[0]["Subject"].startswith("[TLP:AMBER] ")  # the feed says clear: the source wins


def test_csaf_amber_strict_wins_over_a_clear_feed(setup: Setup) -> None:
    data = json.loads(CERBERUS.read_bytes())
    data["document"]["distribution"]["tlp"]["label"] = "AMBER+STRICT"
    setup.write("csaf", data)
    report, emails, _, _ = setup.poll("csaf")
    assert report.alerts > 0 and len(emails) == 1
    assert emails[0]["Subject"].startswith("[TLP:AMBER+STRICT] ")
    assert "TLP:AMBER+STRICT" in text_of(emails[0])


def test_csaf_as_published_keeps_the_feeds_clear(setup: Setup) -> None:
    setup.write("csaf", json.loads(CERBERUS.read_bytes()))  # WHITE: no stricter than the feed
    _, emails, _, _ = setup.poll("csaf")
    assert len(emails) == 1 and emails[0]["Subject"].startswith("[TLP:CLEAR] ")


def test_a_stix_indicator_marked_tlp_2_red_is_not_emailed(setup: Setup) -> None:
    data = json.loads(INTERLOCK.read_bytes())
    red = next(o for o in data["objects"] if o["type"] == "indicator" and "23.95.182.59" in o["pattern"])
    red["object_marking_refs"] = [TLP2_RED]
    setup.write("stix", data)
    report, emails, store, _ = setup.poll("stix")
    assert report.alerts > 0 and len(emails) == 1
    assert "195[.]201[.]21[.]34" in text_of(emails[0])
    # The red indicator is no alert (URLs on the same host, in other indicators marked white, still are).
    assert report.alerts == report.findings - 1
    assert [str(f.indicator) for f in store.red_findings()] == ["ipv4:23.95.182.59"]


def test_poll_dry_run_shows_the_red_finding_as_suppressed(setup: Setup) -> None:
    setup.write("misp", misp_retagged("tlp:red"))
    done = alertd(setup.config_file, "poll", "--dry-run", "--feed", "misp")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines and all(line["suppressed"] == "tlp-red" for line in lines)
    assert {line["establishment"] for line in lines} == {"e-misp"}


def test_the_poll_report_counts_red_findings_and_the_notice_subject_is_marked(setup: Setup) -> None:
    setup.write("misp", misp_retagged("tlp:red"))
    report, _, store, engine = setup.poll("misp")
    assert report.red == report.findings > 0
    notice_id = engine.notify_operators(NOW)
    assert notice_id is not None
    assert email(store, notice_id)["Subject"].startswith("[TLP:RED] [alertd] ")


def test_a_red_stix_indicator_is_counted_red_alone(setup: Setup) -> None:
    data = json.loads(INTERLOCK.read_bytes())
    red = next(o for o in data["objects"] if o["type"] == "indicator" and "23.95.182.59" in o["pattern"])
    red["object_marking_refs"] = [TLP2_RED]
    setup.write("stix", data)
    report, _, _, _ = setup.poll("stix")
    assert report.red == 1 and report.findings > 1


def test_run_once_says_how_many_red_findings_are_held(setup: Setup) -> None:
    setup.write("misp", misp_retagged("tlp:red"))
    setup.write("stix", json.loads(INTERLOCK.read_bytes()))
    setup.write("csaf", json.loads(CERBERUS.read_bytes()))
    done = alertd(setup.config_file, "run", "--once")
    assert done.returncode == 0, done.stdout + done.stderr
    (misp,) = [line for line in done.stdout.splitlines() if line.strip().startswith("misp ")]
    findings = int(misp.split(" findings")[0].rsplit(" ", 1)[1])
    noun = "finding" if findings == 1 else "findings"
    assert misp.endswith(f"; {findings} TLP:RED {noun} held for manual handling")
    assert "TLP:RED" not in "".join(line for line in done.stdout.splitlines() if line.strip().startswith("stix "))
