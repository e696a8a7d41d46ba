"""A poll cut at the feed's ``max_entries`` (issue #13: findings per poll bounded) is partial: what was read is
stored and matched, nothing is delisted or resolved, the run's line and the operators' notice say so.

The real Feodo Tracker sample (28 rows) is polled through the engine (file://, a real SQLite store).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from configs import copy_example
from paths import DATA

from alertd.config.files import Config, load_config
from alertd.domain.feeds import FeedConfig
from alertd.intake.fetch import Fetcher
from alertd.service.cli import format_cycle
from alertd.service.daemon import CycleReport
from alertd.service.engine import Engine
from alertd.service.operators import OperatorNotices
from alertd.service.poll import PollReport
from alertd.store.sqlite import Store

FEODO = DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Setup:
    """The example configuration, its Feodo feed read from a copy of the sample."""

    def __init__(self, tmp_path: Path) -> None:
        config_file = copy_example(tmp_path / "config")
        self.feed_file = feed_file = tmp_path / "ipblocklist.csv"
        feed_file.write_bytes(FEODO.read_bytes())
        feeds = tmp_path / "config" / "feeds.yaml"
        feeds.write_text(
            feeds.read_text().replace("file://feeds/feodotracker_ipblocklist_2024-04-04.csv", f"file://{feed_file}")
        )
        self.config: Config = load_config(config_file)
        self.feodo = next(f for f in self.config.feeds if f.id == "feodo")
        self.store = Store(tmp_path / "state.sqlite3")
        self.engine = Engine(self.config, self.store)
        self.polls = 0

    def poll(self, max_entries: int | None = None) -> PollReport:
        feed: FeedConfig = self.feodo
        if max_entries is not None:
            feed = dataclasses.replace(feed, max_entries=max_entries)
        self.polls += 1
        stamp = NOW.timestamp() + self.polls  # a new modification time: no poll is answered "not modified"
        os.utime(self.feed_file, (stamp, stamp))

        async def run() -> PollReport:
            async with Fetcher(trust_env=False) as fetcher:
                return await self.engine.poll(feed, fetcher, NOW + timedelta(hours=self.polls))

        return asyncio.run(run())

    def open_findings(self) -> int:
        with sqlite3.connect(self.store.path) as db:
            return int(db.execute("SELECT count(*) FROM findings WHERE resolved_at IS NULL").fetchone()[0])

    def listed(self) -> int:
        with sqlite3.connect(self.store.path) as db:
            return int(db.execute("SELECT count(*) FROM observations WHERE delisted_at IS NULL").fetchone()[0])

    def cut_problems(self) -> list[str]:
        notices = OperatorNotices(self.store, self.engine.current)
        return [f"{p.key} {p.summary}" for p in notices.problems(NOW) if p.key.startswith("feed-cut:") and p.once]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_a_cut_first_poll_matches_what_it_read(setup: Setup) -> None:
    report = setup.poll(max_entries=10)
    assert report.ok and report.cut == 10 and report.observations == 10
    assert report.findings > 0  # rows among the first ten are in the example's networks: they are told
    line = format_cycle(setup.config, CycleReport(polls=[report]))
    assert "cut at 10 entries (max_entries): nothing delisted" in line
    assert setup.cut_problems() == ["feed-cut:feodo:10 feed feodo cut at 10 entries (max_entries)"]


def test_a_cut_poll_delists_and_resolves_nothing(setup: Setup) -> None:
    whole = setup.poll()
    assert whole.ok and whole.cut == 0 and whole.observations == 28
    before, listed = setup.open_findings(), setup.listed()
    assert before > 0 and listed == 28

    cut = setup.poll(max_entries=5)

    assert cut.ok and cut.cut == 5 and cut.observations == 5 and cut.delisted == 0
    assert setup.open_findings() == before and setup.listed() == listed
    assert setup.store.feed_state("feodo").consecutive_failures == 0
    # Told once per cap: a raised cap cut again is another problem; a whole read again clears it.
    assert setup.cut_problems() == ["feed-cut:feodo:5 feed feodo cut at 5 entries (max_entries)"]
    assert setup.poll(max_entries=20).cut == 20
    assert setup.cut_problems() == ["feed-cut:feodo:20 feed feodo cut at 20 entries (max_entries)"]
    assert setup.poll().cut == 0 and setup.cut_problems() == []
