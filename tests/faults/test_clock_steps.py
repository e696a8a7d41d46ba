"""Wall-clock steps under the real daemon (contract §6): libfaketime moves the wall clock of ``alertd run`` while it
runs, the monotonic clock untouched, as a bad NTP server or an operator's ``date -s`` would.

A step back used to stop every poll and send for its length; a step forward made every feed look stale. Here the
work goes on through both, each step is logged, nothing is sent twice; and a wall clock that stops (which no step
detection can see) leaves the loop turning without work, which ``/healthz`` and STATUS must tell.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from configs import write_config
from http_server import FeedServer, unused_port
from running import RunningDaemon, http_get, wait_for, with_http
from smtp_server import SmtpServerFactory, SmtpTestServer

# Debian's libfaketime (package faketime), wherever the architecture puts it.
LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))), Path("libfaketime.so.1"))
INTERVAL = 2  # seconds: feeds may be polled every second at most (feed rules); 2 keeps two shared cores calm
# How long a wait may take: each ends as soon as its condition holds. A store write fsyncs (synchronous=FULL, the
# send journal, the marker), and on a disk still writing back a fresh virtualenv an fsync has taken seconds: the
# daemon then polls and sends slowly, which is not what these tests are about.
SLOW_DISK = 90
HEADER = '"first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
CHU_IP, CLINIC_IP = "84.247.157.112", "154.12.230.17"
CHU, CLINIC = ("rssi@chu-test.example",), ("security@clinic-test.example",)

pytestmark = pytest.mark.skipif(
    not LIBFAKETIME.exists(),
    reason="needs libfaketime (/usr/lib/*/faketime/libfaketime.so.1, from the Debian package faketime, which .ci/run "
    "installs) to step the daemon's wall clock alone",
)


def blocklist(*ips: str) -> bytes:
    """A Feodo-style CSV listing these C2 addresses."""
    rows = "".join(f'"2024-04-01 10:00:00","{ip}","443","online","2024-04-04","Pikabot"\n' for ip in ips)
    return (HEADER + rows).encode()


@dataclass
class Setup:
    config: Path
    feeds: FeedServer
    smtp: SmtpTestServer
    port: int
    clock_file: Path

    def step(self, spec: str) -> None:
        """Set the daemon's wall clock: an offset from the real time (``-2h``, ``+0``) or a stopped clock (an
        absolute UTC time); written whole at once, as libfaketime re-reads the file at every clock read."""
        part = self.clock_file.with_suffix(".part")
        part.write_text(spec + "\n")
        part.replace(self.clock_file)

    def daemon(self) -> RunningDaemon:
        env = {
            "LD_PRELOAD": str(LIBFAKETIME),
            "FAKETIME_TIMESTAMP_FILE": str(self.clock_file),
            "FAKETIME_NO_CACHE": "1",  # read the file at every clock read: the test steps the clock while it runs
            # Only the wall clock steps, as with NTP or date -s. (libfaketime 0.9.10 then breaks Python 3.11's
            # time.sleep, EINVAL: wolfcw/libfaketime#426. The daemon sleeps only through asyncio, which is spared.)
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "TZ": "UTC",  # how libfaketime reads an absolute time
        }
        return RunningDaemon(self.config, env=env)

    def healthz(self) -> tuple[int, dict[str, object]]:
        status, body = http_get(f"http://127.0.0.1:{self.port}/healthz")
        assert isinstance(body, dict)
        return status, body


@pytest.fixture
def setup(tmp_path: Path, smtp_server: SmtpServerFactory) -> Iterator[Setup]:
    feeds = FeedServer()
    feeds.route("/a.csv", blocklist(CHU_IP), etag='"a1"')
    feeds.route("/b.csv", blocklist(), etag='"b1"')
    feeds.route("/c.csv", blocklist(), etag='"c1"')
    feeds_yaml = "feeds:\n" + "".join(
        f"  - {{id: {name}, url: '{feeds.url(f'/{name}.csv')}', format: csv, kind: compromise, severity: high,"
        f" interval: {INTERVAL}s, columns: {{ip: dst_ip, port: dst_port, first_seen: first_seen_utc}}{extra}}}\n"
        for name, extra in (("a", ""), ("b", ""), ("c", ", stale_after: 4s"))
    )
    smtp = smtp_server(tls="starttls")
    config = write_config(tmp_path, feeds_yaml, smtp)
    port = unused_port()
    with_http(config, port)
    clock_file = tmp_path / "faketime.rc"
    clock_file.write_text("+0\n")
    with feeds:
        yield Setup(config, feeds, smtp, port, clock_file)


def emails_to(smtp: SmtpTestServer, rcpt: tuple[str, ...]) -> int:
    return sum(1 for m in smtp.messages if m.rcpt_tos == rcpt)


@pytest.mark.slow  # about 20 s: a daemon's start, two steps, a feed going stale
def test_work_goes_on_through_steps_back_and_forward(setup: Setup) -> None:
    with setup.daemon() as daemon:
        daemon.wait_ready()
        wait_for(lambda: emails_to(setup.smtp, CHU) == 1, SLOW_DISK, "the first warning sent")

        # Back two hours: the step is logged, polls go on at their pace, a new entry is warned at once.
        setup.step("-2h")
        [back] = daemon.wait_log("wall clock stepped", SLOW_DISK)
        assert back["direction"] == "back" and 7190 <= back["seconds"] <= 7210
        polled = setup.feeds.count("/b.csv")
        setup.feeds.route("/a.csv", blocklist(CHU_IP, CLINIC_IP), etag='"a2"')
        wait_for(lambda: emails_to(setup.smtp, CLINIC) == 1, SLOW_DISK, "the warning of a new entry")
        wait_for(lambda: setup.feeds.count("/b.csv") >= polled + 2, SLOW_DISK, "polls going on")
        wait_for(lambda: setup.healthz()[0] == 200, SLOW_DISK, "/healthz 200 through the step back")

        # Feed c fails from now on: stale after its 4 s, on the monotonic clock (a real stale feed still is).
        setup.feeds.route("/c.csv", b"down", status=500)
        # Forward two hours (back to the real time): no poll storm, no feed made stale by the step.
        setup.step("+0")
        stepped = time.monotonic()
        before = {path: setup.feeds.count(path) for path in ("/a.csv", "/b.csv")}
        forward = daemon.wait_log("wall clock stepped", SLOW_DISK, count=2)[1]
        assert forward["direction"] == "forward" and 7190 <= forward["seconds"] <= 7210
        daemon.wait_log("feed stale", SLOW_DISK)
        time.sleep(max(0.0, stepped + 3 * INTERVAL - time.monotonic()))
        window = time.monotonic() - stepped
        for path, count in before.items():
            # About one poll per interval since the step, never the 3,600 the two hours "missed".
            assert setup.feeds.count(path) - count <= window / INTERVAL + 2, path
        assert {e["feed"] for e in daemon.events("feed stale")} == {"c"}
        wait_for(lambda: setup.healthz()[0] == 200, SLOW_DISK, "/healthz 200 through the step forward")
        assert daemon.stop() == 0

    # Each warning once: no duplicate email from either step.
    assert sorted(m.rcpt_tos for m in setup.smtp.messages) == [CHU, CLINIC]
    assert len({m.content.split(b"Message-ID:", 1)[1][:80] for m in setup.smtp.messages}) == 2


@pytest.mark.slow  # about 20 s: the schedule's own slack must pass before the polls count as overdue
def test_a_stopped_wall_clock_is_reported_and_work_resumes_when_it_runs(setup: Setup) -> None:
    with setup.daemon() as daemon:
        daemon.wait_ready()
        wait_for(lambda: setup.healthz()[0] == 200 and setup.feeds.count("/b.csv") >= 2, SLOW_DISK, "polls under way")
        # The wall clock stops (no step: it keeps the time it had): the scheduler, which plans with it, runs no
        # job; the loop turns, the watchdog is sent; /healthz and STATUS must tell the work stopped.
        setup.step(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
        frozen = time.monotonic()
        wait_for(lambda: setup.healthz()[0] == 503, SLOW_DISK, "/healthz reporting the polls overdue")
        status, body = setup.healthz()
        work = body["work"]
        assert isinstance(work, dict)
        assert status == 503 and body["status"] == "work overdue" and work["overdue"][0].startswith("no poll for ")
        assert time.monotonic() - frozen >= 2 * INTERVAL  # not before the schedule's own slack
        assert daemon.wait_log("work overdue")[0]["why"].startswith("no poll for ")
        assert any(s.startswith("work overdue: no poll for ") for s in daemon.statuses())
        daemon.wait_notice("WATCHDOG=1", 5, after=len(daemon.notices))  # the loop itself is alive
        _, metrics = http_get(f"http://127.0.0.1:{setup.port}/metrics")
        assert "alertd_work_overdue 1.0" in metrics

        # The clock runs again (a step forward by the time it stood still): polls resume, health returns.
        polled = setup.feeds.count("/b.csv")
        setup.step("+0")
        daemon.wait_log("work resumed", SLOW_DISK)
        assert setup.feeds.count("/b.csv") > polled
        wait_for(lambda: setup.healthz()[0] == 200, SLOW_DISK, "/healthz 200 once the clock runs")
        assert daemon.statuses()[-1].startswith("watching 3 feeds")
        assert daemon.stop() == 0
