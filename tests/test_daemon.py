"""The real ``alertd run`` daemon in a subprocess: systemd notifications, polling on schedule, SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
    shutil.copytree(ROOT / "config", tmp_path / "config")
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
        assert any(m.startswith("READY=1\nSTATUS=watching 3 feeds for 4 establishments") for m in messages)
        # Every feed is polled at start-up; the example samples concern all four establishments.
        maildir = tmp_path / "var" / "maildir" / "new"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not maildir.exists() or len(list(maildir.iterdir())) < 4):
            time.sleep(0.2)
        assert len(list(maildir.iterdir())) == 4
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
    feeds.write_text(feeds.read_text().replace("interval: 1h", "interval: hourly"))
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
