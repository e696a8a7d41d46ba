"""The real ``alertd run`` daemon in a subprocess: systemd notifications, polling on schedule, SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from configs import copy_example
from http_server import unused_port
from paths import ROOT
from prometheus_client.parser import text_string_to_metric_families

ALERTD = str(Path(sys.executable).parent / "alertd")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.5)
    yield sock, path
    sock.close()


def receive_until(sock: socket.socket, wanted: str, deadline: float) -> list[str]:
    """Datagrams received until one carries ``wanted`` (or the deadline passes)."""
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            seen.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
        if wanted in seen[-1].splitlines():
            return seen
    raise AssertionError(f"no {wanted} within the deadline; got {seen}")


def test_ready_polls_and_exits_zero_on_sigterm(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    sock, address = notify_socket
    copy_example(tmp_path / "config")
    env = {**os.environ, "NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000"}
    proc = subprocess.Popen(
        [ALERTD, "-c", str(tmp_path / "config" / "alertd.yaml"), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        messages = receive_until(sock, "READY=1", time.monotonic() + 30)
        assert any(m.startswith("READY=1\nSTATUS=watching 4 feeds for 4 establishments") for m in messages)
        # Every feed is polled at start-up; three example establishments have an immediate warning (the fourth,
        # whose Ivanti item declares no version, gets its unverified KEV warnings in its daily digest).
        maildir = tmp_path / "var" / "maildir" / "new"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not maildir.exists() or len(list(maildir.iterdir())) < 3):
            time.sleep(0.2)
        assert len(list(maildir.iterdir())) == 3
        # The watchdog is pinged from the event loop at half of WATCHDOG_USEC.
        receive_until(sock, "WATCHDOG=1", time.monotonic() + 5)
        proc.send_signal(signal.SIGTERM)
        receive_until(sock, "STOPPING=1", time.monotonic() + 10)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    events = [line for line in stderr.splitlines() if '"event"' in line]
    assert any('"alertd stopped"' in e for e in events), stderr[-2000:]


def test_invalid_config_exits_one_with_positions(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    feeds = tmp_path / "config" / "feeds.yaml"
    feeds.write_text(feeds.read_text().replace("interval: 1h", "interval: hourly", 1))
    result = subprocess.run(
        [ALERTD, "-c", str(tmp_path / "config" / "alertd.yaml"), "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"{feeds}:15:15: 'hourly' is not a duration")
    assert len(result.stderr.strip().splitlines()) == 1  # no cascade: the subscriptions still know the feed


def test_usage_error_exits_two() -> None:
    result = subprocess.run([ALERTD, "frobnicate"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def metric(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    raise AssertionError(f"no sample {name}{labels}")


def test_health_metrics_and_reloads(tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    sock, address = notify_socket
    config_dir = tmp_path / "config"
    copy_example(config_dir)
    port = unused_port()
    settings = config_dir / "alertd.yaml"
    settings.write_text(settings.read_text() + f"http:\n  listen: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(
        [ALERTD, "-c", str(settings), "run"],
        env={**os.environ, "NOTIFY_SOCKET": address},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    maildir = tmp_path / "var" / "maildir" / "new"
    base = f"http://127.0.0.1:{port}"
    try:
        receive_until(sock, "READY=1", time.monotonic() + 30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not maildir.exists() or len(list(maildir.iterdir())) < 3):
            time.sleep(0.2)
        time.sleep(0.5)
        status, body = http_get(base + "/healthz")
        health = json.loads(body)
        assert status == 200 and health["status"] == "ok"
        assert set(health["feeds"]) == {"feodo", "cisa-kev", "cisco-csaf", "certfr-alertes"}
        assert all(f["last_success"] and f["consecutive_failures"] == 0 for f in health["feeds"].values())
        assert health["outbox"]["sent"] == 3
        status, body = http_get(base + "/metrics")
        text = body.decode()
        assert status == 200
        assert metric(text, "alertd_feed_polls_total", feed="feodo", outcome="ok") == 1
        assert metric(text, "alertd_deliveries", state="sent") == 3
        assert metric(text, "alertd_alerts_total", severity="imminent") >= 5
        assert metric(text, "alertd_up") == 1

        # A good reload: a new establishment owning one more Feodo C2 address is warned without a new poll.
        registry = config_dir / "establishments" / "new.yaml"
        registry.write_text(
            "establishments:\n  - id: '000000055'\n    name: Clinique des Essais\n"
            "    contacts: [{email: rssi@essais.example}]\n    networks: [192.9.135.0/24]\n"
        )
        proc.send_signal(signal.SIGHUP)
        seen = receive_until(sock, "READY=1", time.monotonic() + 30)
        assert any("RELOADING=1" in m and "MONOTONIC_USEC=" in m for m in seen)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(list(maildir.iterdir())) < 5:
            time.sleep(0.2)
        newest = max(maildir.iterdir(), key=lambda p: p.stat().st_mtime).read_text()
        assert "rssi@essais.example" in newest and "192[.]9[.]135[.]73" in newest

        # A bad reload: the old configuration keeps running; the error names file:line:col, in logs and STATUS.
        feeds = config_dir / "feeds.yaml"
        feeds.write_text(feeds.read_text().replace("interval: 30m", "interval: often"))
        proc.send_signal(signal.SIGHUP)
        seen = receive_until(sock, "READY=1", time.monotonic() + 30)
        status_line = next(m for m in reversed(seen) if "READY=1" in m)
        assert f"STATUS=reload refused: {feeds}:" in status_line and "'often' is not a duration" in status_line
        assert http_get(base + "/healthz")[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    refused = [json.loads(line) for line in stderr.splitlines() if '"reload refused"' in line]
    assert refused and refused[0]["problem"].startswith(f"{config_dir / 'feeds.yaml'}:")
