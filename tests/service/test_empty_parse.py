"""An empty parse is not truth (issue #13): a feed that suddenly yields nothing fails, its findings stay open.

The real Feodo Tracker sample is polled through the engine (file://, a real SQLite store), then served damaged.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from configs import copy_example
from paths import DATA

from alertd.config.files import Config, load_config
from alertd.intake.fetch import Fetcher
from alertd.service.engine import Engine
from alertd.service.poll import PollReport
from alertd.store.sqlite import Store

FEODO = DATA / "abusech" / "feodotracker_ipblocklist_2024-04-04.csv"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Setup:
    """The example configuration, its Feodo feed read from a file the test rewrites between polls."""

    def __init__(self, tmp_path: Path) -> None:
        config_file = copy_example(tmp_path / "config")
        self.feed_file = tmp_path / "ipblocklist.csv"
        feeds = tmp_path / "config" / "feeds.yaml"
        feeds.write_text(
            feeds.read_text().replace(
                "file://feeds/feodotracker_ipblocklist_2024-04-04.csv", f"file://{self.feed_file}"
            )
        )
        self.config: Config = load_config(config_file)
        self.feodo = next(f for f in self.config.feeds if f.id == "feodo")
        self.store = Store(tmp_path / "state.sqlite3")
        self.engine = Engine(self.config, self.store)
        self.polls = 0

    def poll(self, body: bytes) -> PollReport:
        self.feed_file.write_bytes(body)
        self.polls += 1
        now = NOW + timedelta(hours=self.polls)

        async def run() -> PollReport:
            async with Fetcher(trust_env=False) as fetcher:
                return await self.engine.poll(self.feodo, fetcher, now)

        return asyncio.run(run())

    def open_findings(self) -> int:
        with sqlite3.connect(self.store.path) as db:
            return int(db.execute("SELECT count(*) FROM findings WHERE resolved_at IS NULL").fetchone()[0])


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def data_lines_damaged(body: bytes, damage: bytes) -> bytes:
    """``body`` with ``damage`` appended to every data row (the rows starting with a quoted date)."""
    return b"\n".join(line + damage if line.startswith(b'"20') else line for line in body.split(b"\n"))


def data_lines_removed(body: bytes) -> bytes:
    """``body`` with only its banner and header: a document that parses, and lists nothing."""
    return b"\n".join(line for line in body.split(b"\n") if not line.startswith(b'"20'))


def test_the_sample_finds_something_to_resolve(setup: Setup) -> None:
    report = setup.poll(FEODO.read_bytes())
    assert report.ok and report.observations == 28
    assert setup.open_findings() > 0  # the example registry holds networks the sample lists


def test_every_data_line_unreadable_is_a_failure_and_findings_stay_open(setup: Setup) -> None:
    assert setup.poll(FEODO.read_bytes()).ok
    before = setup.open_findings()

    report = setup.poll(data_lines_damaged(FEODO.read_bytes(), b" " + b"A" * 70_000))

    assert not report.ok and report.delisted == 0
    assert report.error is not None and "none of the 28 data lines could be read" in report.error
    state = setup.store.feed_state("feodo")
    assert state.last_error == report.error and state.consecutive_failures == 1
    assert state.entries_seen == 28  # what the last successful poll listed, kept to judge the next one
    assert setup.open_findings() == before


def test_no_entries_after_a_poll_with_entries_is_a_failure(setup: Setup) -> None:
    assert setup.poll(FEODO.read_bytes()).ok
    before = setup.open_findings()

    report = setup.poll(data_lines_removed(FEODO.read_bytes()))

    assert not report.ok
    assert report.error is not None and "no entries where the previous successful poll had 28" in report.error
    assert setup.store.feed_state("feodo").last_error == report.error
    assert setup.open_findings() == before

    # The feed listing entries again is a success; nothing was resolved in between.
    again = setup.poll(FEODO.read_bytes() + b"\n")
    assert again.ok and again.delisted == 0 and setup.open_findings() == before


def test_an_empty_but_valid_csv_on_a_first_poll_is_ok(setup: Setup) -> None:
    report = setup.poll(data_lines_removed(FEODO.read_bytes()))
    assert report.ok and report.observations == 0 and report.error is None
    # Still empty on the next poll: the feed is empty, not broken.
    assert setup.poll(data_lines_removed(FEODO.read_bytes()) + b"\n").ok
    assert setup.store.feed_state("feodo").consecutive_failures == 0
