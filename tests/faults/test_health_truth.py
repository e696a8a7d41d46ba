"""``/healthz`` that never says "ok" while nothing works (contract §6), under the real daemon: a relay that refuses
every email for good, and a store whose pages a read finds damaged while the daemon runs.

An outbox job that runs is not an outbox that empties: each failed attempt used to count as work done, so a dead
relay left ``/healthz`` at 200 indefinitely. And damage met by a read (the first one each poll makes) crashed every
poll job into the scheduler's log while ``/healthz`` said 200 with no failure counted.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from configs import write_config
from http_server import FeedServer, unused_port
from running import RunningDaemon, http_get, wait_for, with_http
from smtp_server import SmtpServerFactory, SmtpTestServer

INTERVAL = 2  # seconds between polls
FAILING_AFTER = 6  # seconds: delivery.failing_after, shortened from its 30 min
HEADER = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
CHU_IP, CLINIC_IP = "84.247.157.112", "154.12.230.17"
BUSY = "451 4.3.0 relay busy, try later"


def blocklist(*ips: str) -> bytes:
    """A Feodo-style CSV listing these C2 addresses."""
    rows = "".join(f'"2024-04-01 10:00:00","{ip}","443","online","2024-04-04","Pikabot"\n' for ip in ips)
    return (HEADER + rows).encode()


@dataclass
class World:
    config: Path
    feeds: FeedServer
    smtp: SmtpTestServer
    port: int

    def healthz(self) -> tuple[int, dict[str, object]]:
        status, body = http_get(f"http://127.0.0.1:{self.port}/healthz")
        assert isinstance(body, dict)
        return status, body

    def failures(self, feed: str) -> int:
        """The feed's failed polls in a row, as ``/healthz`` tells them."""
        feeds = self.healthz()[1]["feeds"]
        assert isinstance(feeds, dict)
        return int(feeds[feed]["consecutive_failures"])

    def metric(self, name: str) -> float:
        _, text = http_get(f"http://127.0.0.1:{self.port}/metrics")
        [line] = [line for line in str(text).splitlines() if line.startswith(name + " ")]
        return float(line.split()[1])


@pytest.fixture
def world(tmp_path: Path, smtp_server: SmtpServerFactory) -> Iterator[World]:
    feeds = FeedServer()
    feeds.route("/a.csv", blocklist(CHU_IP), etag='"a1"')
    feeds_yaml = (
        f"feeds:\n  - {{id: a, url: '{feeds.url('/a.csv')}', format: csv, kind: compromise, severity: high,"
        f" interval: {INTERVAL}s, columns: {{ip: dst_ip, port: dst_port, first_seen: first_seen_utc}}}}\n"
    )
    smtp = smtp_server(tls="starttls")
    config = write_config(tmp_path, feeds_yaml, smtp)
    text = config.read_text()
    config.write_text(text.replace("  method: smtp\n", f"  method: smtp\n  failing_after: {FAILING_AFTER}s\n"))
    port = unused_port()
    with_http(config, port)
    with feeds:
        yield World(config, feeds, smtp, port)


@pytest.mark.slow  # about 20 s: the limit must pass, then a new warning must go
def test_a_relay_refusing_everything_makes_healthz_fail_until_a_send_is_accepted(world: World) -> None:
    world.smtp.script_data(*[BUSY] * 500)  # every DATA answered "try later": nothing can be sent
    with RunningDaemon(world.config) as daemon:
        daemon.wait_ready()
        daemon.wait_log("delivery deferred", 90)
        assert world.healthz()[0] == 200  # a deferral is no failure yet: the limit has not passed
        wait_for(lambda: world.healthz()[0] == 503, FAILING_AFTER + 20, "/healthz telling delivery failing")
        _, body = world.healthz()
        assert body["status"] == "delivery failing"
        assert str(body["reason"]).startswith("delivery failing: an email has waited over 6 s")
        delivery = body["delivery"]
        assert isinstance(delivery, dict) and delivery["oldest_waiting_seconds"] >= FAILING_AFTER
        assert world.metric("alertd_outbox_oldest_due_age_seconds") >= FAILING_AFTER
        assert world.metric("alertd_delivery_failing") == 1
        wait_for(lambda: any(s.startswith("delivery failing") for s in daemon.statuses()), 90, "STATUS= telling it")

        # The relay takes mail again; the next send accepted (a new warning, at once) ends it, with no restart.
        world.smtp.clear_scripts()
        world.feeds.route("/a.csv", blocklist(CHU_IP, CLINIC_IP), etag='"a2"')
        wait_for(lambda: world.healthz()[0] == 200, 90, "/healthz back to ok at the first accepted send")
        assert world.metric("alertd_delivery_failing") == 0
        wait_for(lambda: daemon.statuses()[-1].startswith("watching 1 feeds"), 90, "STATUS= back to normal")
        assert daemon.stop() == 0


def damage_feed_state(db: Path) -> None:
    """Overwrite the root page of ``feed_state`` with noise from another connection, then commit a write elsewhere
    so that the daemon's connection drops its page cache and reads the page again."""
    ext = sqlite3.connect(db, isolation_level=None)
    try:
        ext.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = ext.execute("SELECT rootpage FROM sqlite_master WHERE name = 'feed_state'").fetchone()[0]
        size = ext.execute("PRAGMA page_size").fetchone()[0]
        with db.open("r+b") as f:
            f.seek((root - 1) * size)
            f.write(os.urandom(size))
            f.flush()
            os.fsync(f.fileno())
        ext.execute("INSERT OR REPLACE INTO meta VALUES ('poke', '1')")
    finally:
        ext.close()


def test_damage_met_by_a_read_is_told_and_counts_as_failed_polls(world: World) -> None:
    with RunningDaemon(world.config) as daemon:
        daemon.wait_ready()
        daemon.wait_log("feed polled", 90)
        wait_for(lambda: world.healthz()[0] == 200, 60, "a healthy start")
        damage_feed_state(world.config.parent / "state" / "alertd.sqlite3")
        wait_for(lambda: world.healthz()[0] == 503, 60, "/healthz telling the damage")
        _, body = world.healthz()
        assert body["status"] == "store_damaged"
        assert "is damaged" in str(body["reason"]) and "alertd state restore" in str(body["reason"])
        wait_for(lambda: world.failures("a") >= 2, 60, "the polls counted failed")
        assert any("is damaged" in s for s in daemon.statuses())
        assert "raised an exception" not in daemon.log_path.read_text()  # no job crashed into the scheduler
        daemon.kill()
