"""A deadline for the whole poll of a feed (issue #13 point 2): an index of many slow documents on loopback.

Through the engine, with a real SQLite store: a MISP feed whose manifest lists 12 event files, each answered
after a delay. With a deadline shorter than reading them all, the poll ends at the deadline; what was read is
stored and matched, the feed is reported failed with the reason, nothing is resolved for the documents not
read, and the next poll reads those first.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

from configs import ESTABLISHMENTS, SUBSCRIPTIONS
from http_server import FeedServer

from alertd.config.files import load_config
from alertd.domain.feeds import FeedConfig
from alertd.intake.fetch import Fetcher
from alertd.service.engine import Engine
from alertd.service.poll import PollReport
from alertd.store.sqlite import Store

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EVENTS = 12
DELAY = 1.0  # seconds each event file takes; 4 are read at a time


def event(n: int, key: str) -> bytes:
    """A MISP event naming one address of e-chu's network (84.247.157.0/24)."""
    attribute = {"uuid": str(uuid.UUID(int=n + 1)), "type": "ip-dst", "value": f"84.247.157.{n + 10}", "to_ids": True}
    return json.dumps(
        {"Event": {"uuid": key, "info": f"C2 {n}", "date": "2026-03-01", "Attribute": [attribute]}}
    ).encode()


class Setup:
    def __init__(self, tmp: Path, server: FeedServer) -> None:
        self.server = server
        self.keys = [str(uuid.UUID(int=1000 + n)) for n in range(EVENTS)]
        manifest = {key: {"timestamp": str(1_772_000_000 - n)} for n, key in enumerate(self.keys)}
        server.route("/misp/manifest.json", json.dumps(manifest).encode())
        self.serve(delay=0.0)
        (tmp / "establishments.yaml").write_text(ESTABLISHMENTS)
        (tmp / "subscriptions.yaml").write_text(SUBSCRIPTIONS)
        (tmp / "feeds.yaml").write_text(
            f"feeds:\n  - {{id: c2, url: '{server.url('/misp/manifest.json')}', format: misp, interval: 1h, "
            "backlog_after: never, deadline: 2.5s}\n"
        )
        (tmp / "alertd.yaml").write_text(
            dedent(
                """\
                state_dir: state
                feeds: feeds.yaml
                registry: establishments.yaml
                subscriptions: subscriptions.yaml
                sender: {from: "CERT Test <alertes@cert-test.example>"}
                delivery: {method: maildir, maildir: maildir}
                """
            )
        )
        config = load_config(tmp / "alertd.yaml")
        self.feed: FeedConfig = config.feeds[0]
        self.store = Store.in_state_dir(config.settings.state_dir)
        self.engine = Engine(config, self.store)
        self.polls = 0

    def serve(self, delay: float) -> None:
        for n, key in enumerate(self.keys):
            self.server.route(f"/misp/{key}.json", event(n, key), delay=delay)

    def poll(self, feed: FeedConfig) -> tuple[PollReport, float]:
        self.polls += 1

        async def run() -> PollReport:
            async with Fetcher(trust_env=False) as fetcher:
                return await self.engine.poll(feed, fetcher, NOW + timedelta(hours=self.polls))

        start = time.monotonic()
        report = asyncio.run(run())
        return report, time.monotonic() - start

    def asked(self) -> set[str]:
        return {key for key in self.keys if self.server.count(f"/misp/{key}.json")}

    def open_findings(self) -> int:
        with sqlite3.connect(self.store.path) as db:
            return int(db.execute("SELECT count(*) FROM findings WHERE resolved_at IS NULL").fetchone()[0])


def test_the_deadline_bounds_the_poll_keeps_what_was_read_and_the_next_poll_goes_on(tmp_path: Path) -> None:
    with FeedServer() as server:
        setup = Setup(tmp_path, server)
        first, _ = setup.poll(replace(setup.feed, deadline=timedelta(minutes=1)))
        assert first.ok and first.observations == EVENTS and setup.open_findings() == EVENTS

        setup.serve(delay=DELAY)
        report, took = setup.poll(setup.feed)
        assert took < 2.5 + 2.0  # the deadline, not 12 documents × 1 s / 4
        assert not report.ok and "deadline (2.5s) passed" in (report.error or "")
        assert 0 < report.unread < EVENTS and report.observations == EVENTS - report.unread
        assert report.delisted == 0 and setup.open_findings() == EVENTS  # nothing resolved for the unread
        state = setup.store.feed_state("c2")
        assert state.consecutive_failures == 1 and "deadline" in (state.last_error or "")
        link = setup.server.url("/misp/{}.json").format
        read_first = set(setup.engine.polls.passes["c2"])
        assert len(read_first) == report.observations
        left = {link(key) for key in setup.keys} - read_first

        # The next poll reads first what this one left: 4 at a time, so those are done before the deadline.
        second, _ = setup.poll(setup.feed)
        assert not second.ok and second.unread < EVENTS
        read_now = set(setup.engine.polls.passes["c2"]) - read_first
        assert left <= read_now or len(read_now) < len(left)  # under heavy load fewer may be read, none skipped
        assert setup.open_findings() == EVENTS

        # With time enough, a whole pass completes and the feed is healthy again.
        setup.serve(delay=0.0)
        third, _ = setup.poll(setup.feed)
        assert third.ok and third.observations == EVENTS and third.unread == 0
        assert setup.store.feed_state("c2").consecutive_failures == 0
