"""A full disk is seen and survived: with ``state_dir`` on a small tmpfs filled to the last byte, every poll fails
to record, and so does recording the failure; ``/healthz`` says 503 with the store's error and the feed's
failures (held in memory), ``/metrics`` and STATUS= say it too. Once the filler goes, the daemon recovers
without a restart and the warning the feed brought meanwhile is sent exactly once (contract §6, "Health").
The disk may also fill while the outbox drains: the sends in flight end, what they cannot record (the send journal
first) is held in memory and nothing more is sent; ``/healthz`` says 503 until the outcomes are recorded, and every
warning reaches the relay exactly once."""

from __future__ import annotations

import collections
import contextlib
import email
import subprocess
import time
from collections.abc import Iterator
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from configs import alertd, numbered_world, write_config
from http_server import FeedServer, unused_port
from prometheus_client.parser import text_string_to_metric_families
from running import RunningDaemon, http_get, wait_for, with_http
from smtp_server import SmtpServerFactory, SmtpTestServer

QUIET = "ip,malware\n192.0.2.10,QakBot\n"  # no establishment owns 192.0.2.0/24
NAMING_CLINIC = QUIET + "154.12.230.7,QakBot\n"  # in Test Clinic's 154.12.224.0/19
TMPFS_SIZE = "8m"
DRAINED = 80  # establishments warned at once, each of one C2 address: the outbox the disk fills under


@contextlib.contextmanager
def tmpfs(state: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``state``, unmounted afterwards."""
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(state)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.fail(
            "this test mounts a small tmpfs as state_dir to fill it, which needs root (CAP_SYS_ADMIN): "
            f"mount said {mounted.stderr.strip()!r}"
        )
    try:
        yield state
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of ``TMPFS_SIZE`` mounted on ``tmp_path/state``."""
    with tmpfs(tmp_path / "state", TMPFS_SIZE) as state:
        yield state


@pytest.fixture
def roomy_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs on ``tmp_path/state`` with room for a mass dispatch (its outbox holds every email)."""
    with tmpfs(tmp_path / "state", "96m") as state:
        yield state


def fill(disk: Path) -> Path:
    """Write zeros into ``disk`` until it is full; the filler file."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError:
            pass
        try:  # the last few bytes
            while True:
                out.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"no sample {name}{labels}")


def test_full_disk_is_told_and_survived(tmp_path: Path, small_disk: Path, smtp_server: SmtpServerFactory) -> None:
    smtp = smtp_server()
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    with FeedServer() as feeds:
        feeds.route("/c2.csv", QUIET.encode(), etag='"v1"')
        config = write_config(
            tmp_path,
            f"feeds:\n  - {{id: c2, url: '{feeds.url('/c2.csv')}', format: csv, interval: 2s, failures_alert: 2,\n"
            "     kind: compromise, columns: {ip: ip, malware: malware}}\n",
            smtp,
        )
        with_http(config, port)
        with RunningDaemon(config) as daemon:
            daemon.wait_ready()
            daemon.wait_log("feed polled")
            assert http_get(base + "/healthz")[0] == 200
            # The caches for the next start are written by threads of their own after the first poll: a disk
            # filled meanwhile would see them fail and free their temporary files, room the store then writes in.
            daemon.wait_log("match index kept")
            daemon.wait_log("registry files kept")

            filler = fill(small_disk)
            feeds.route("/c2.csv", NAMING_CLINIC.encode(), etag='"v2"')
            health: dict[str, Any] = {}

            def unhealthy() -> bool:
                nonlocal health
                daemon.receive()
                status, health = http_get(base + "/healthz")
                return status == 503 and health["feeds"]["c2"]["consecutive_failures"] >= 2

            wait_for(unhealthy, 60, "/healthz 503 with the feed's failures counted")
            assert health["status"] == "store_unwritable"
            assert health["store"]["writable"] is False
            assert "database or disk is full" in health["store"]["error"], health
            assert "database or disk is full" in health["reason"] and str(small_disk) in health["reason"]
            assert "cannot be written" in health["feeds"]["c2"]["last_error"]
            text = http_get(base + "/metrics")[1]
            assert sample(text, "alertd_store_writable") == 0
            assert sample(text, "alertd_store_write_errors_total") >= 2
            assert sample(text, "alertd_feed_polls_total", feed="c2", outcome="failed") >= 2
            assert sample(text, "alertd_feed_consecutive_failures", feed="c2") >= 2
            wait_for(
                lambda: any("database or disk is full" in s and "1 feed failing" in s for s in daemon.statuses()),
                30,
                "STATUS= naming the full disk and the failing feed",
            )
            assert smtp.messages == []

            filler.unlink()  # the operator makes room: no restart
            wait_for(lambda: bool(daemon.receive()) and len(smtp.messages) >= 1, 60, "the clinic's warning sent")
            status, health = http_get(base + "/healthz")
            assert status == 200 and health["status"] == "ok", health
            assert health["store"]["writable"] is True
            assert health["feeds"]["c2"]["consecutive_failures"] == 0
            assert daemon.statuses()[-1].startswith("watching 1 feeds")
            assert daemon.events("state store writable again")
            time.sleep(3)  # more polls and outbox runs: nothing goes twice
            assert daemon.stop() == 0
    received = smtp.messages
    assert [m.rcpt_tos for m in received] == [("security@clinic-test.example",)]
    ids = collections.Counter(str(email.message_from_bytes(m.content, policy=default)["Message-ID"]) for m in received)
    assert list(ids.values()) == [1]


def test_a_cycle_on_a_full_disk_fails_with_the_cause_not_a_traceback(
    tmp_path: Path, small_disk: Path, smtp_server: SmtpServerFactory
) -> None:
    smtp = smtp_server()
    with FeedServer() as feeds:
        feeds.route("/c2.csv", QUIET.encode(), etag='"v1"')
        config = write_config(
            tmp_path,
            f"feeds:\n  - {{id: c2, url: '{feeds.url('/c2.csv')}', format: csv, interval: 1h,\n"
            "     kind: compromise, columns: {ip: ip, malware: malware}}\n",
            smtp,
        )
        assert alertd(config, "run", "--once").returncode == 0
        fill(small_disk)
        feeds.route("/c2.csv", NAMING_CLINIC.encode(), etag='"v2"')
        full = alertd(config, "run", "--once")
    assert full.returncode == 3, full.stderr
    assert "Traceback" not in full.stderr and '"alertd failed"' not in full.stderr, full.stderr
    # SQLite says "database or disk is full", or "disk I/O error" of a write to its shared-memory file: the file
    # system being full is said either way.
    assert "alertd: the state store cannot be used: " in full.stderr
    assert f"({small_disk / 'alertd.sqlite3'}); its file system is full" in full.stderr
    assert smtp.messages == []  # what it could not record, it did not send


def message_ids(smtp: SmtpTestServer) -> collections.Counter[str]:
    return collections.Counter(
        str(email.message_from_bytes(m.content, policy=default)["Message-ID"]) for m in smtp.messages
    )


@pytest.mark.slow
def test_a_disk_filling_while_the_outbox_drains_sends_each_warning_once_and_is_told(
    tmp_path: Path, roomy_disk: Path, smtp_server: SmtpServerFactory
) -> None:
    smtp = smtp_server(tls="none")
    smtp.slow_data(0.1)  # a slow relay: the outbox drains for seconds
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    rows = ["dst_ip,dst_port,c2_status,malware"]
    rows += [f"81.{i // 250}.{i % 250}.7,443,online,QakBot" for i in range(DRAINED)]
    with FeedServer() as feeds:
        feeds.route("/c2.csv", ("\n".join(rows) + "\n").encode(), etag='"v1"')
        config = numbered_world(
            tmp_path,
            DRAINED,
            "feeds:\n  - {id: c2, url: '" + feeds.url("/c2.csv") + "', format: csv, interval: 1h, "
            "backlog_after: never,\n     columns: {ip: dst_ip, port: dst_port, malware: malware, status: c2_status}}\n",
            smtp.port,
        )
        with_http(config, port)
        with RunningDaemon(config) as daemon:
            daemon.wait_ready()
            try:
                wait_for(lambda: bool(daemon.receive()) and len(smtp.messages) >= 10, 60, "10 warnings at the relay")
            except AssertionError:
                print(daemon.tail(6000))
                raise
            filler = fill(roomy_disk)
            at_fill = len(smtp.messages)
            health: dict[str, Any] = {}

            def unhealthy() -> bool:
                nonlocal health
                daemon.receive()
                status, health = http_get(base + "/healthz")
                return status == 503

            wait_for(unhealthy, 90, "/healthz 503 while the disk is full")
            assert health["status"] == "store_unwritable", health
            assert "No space left on device" in health["reason"] or "disk is full" in health["reason"], health
            time.sleep(3)  # SQLite may still commit meanwhile (it reuses its WAL pages): health stays 503
            assert http_get(base + "/healthz")[0] == 503
            # Only the sends in flight when it filled (the SMTP pool's) went on.
            while_full = len(smtp.messages)
            assert while_full - at_fill <= 8, (at_fill, while_full)
            assert len(smtp.messages) == while_full and while_full < DRAINED

            filler.unlink()  # room again: no restart
            wait_for(lambda: bool(daemon.receive()) and len(smtp.messages) >= DRAINED, 120, "every warning sent")
            wait_for(lambda: http_get(base + "/healthz")[0] == 200, 90, "/healthz 200 again")
            time.sleep(2)  # more outbox runs: nothing goes twice
            assert daemon.stop() == 0
            assert not daemon.events("Task exception was never retrieved")
    ids = message_ids(smtp)
    assert len(ids) == DRAINED and set(ids.values()) == {1}, ids.most_common(3)
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == sorted(
        f"rssi{i}@est{i}.example" for i in range(DRAINED)
    )
